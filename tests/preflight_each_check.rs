//! One problem at a time: each change to an otherwise healthy rooted machine is reported by
//! exactly the check kubeadm (or kubeboot) names for it, with its severity.

mod preflight_support;

use preflight_support::*;

type Mutation = fn(&Fixture);

struct Case {
    what: &'static str,
    mutate: Mutation,
    /// Extra YAML under `cluster:` (the fixture config ends inside it).
    cluster_extra: &'static str,
    version: &'static str,
    expect: &'static [(&'static str, &'static str)],
    /// A fragment of the first message.
    says: &'static str,
}

const CASES: &[Case] = &[
    Case {
        what: "one CPU",
        mutate: |f| f.write("/sys/devices/system/cpu/online", "0\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("NumCPU", "error")],
        says: "the number of available CPUs 1 is less than the required 2",
    },
    Case {
        what: "1 GB of RAM",
        mutate: |f| f.write("/proc/meminfo", "MemTotal:        1000000 kB\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("Mem", "error")],
        says: "the system RAM (976 MB) is less than the minimum 1700 MB",
    },
    Case {
        what: "a 4.18 kernel on 1.33",
        mutate: |f| f.write("/proc/sys/kernel/osrelease", "4.18.0-553.el8\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("SystemVerification", "error"), ("SystemVerification", "error")],
        says: "unsupported kernel release: 4.18.0-553.el8",
    },
    Case {
        what: "a 4.18 kernel on 1.34 (a warning since system-validators 1.10.1)",
        mutate: |f| {
            f.write("/proc/sys/kernel/osrelease", "4.18.0-553.el8\n");
            f.write(
                "/boot/config-4.18.0-553.el8",
                &std::fs::read_to_string(f.path("/boot/config-6.1.0-28-amd64")).unwrap(),
            );
        },
        cluster_extra: "",
        version: "v1.34.1",
        expect: &[("SystemVerification", "warning")],
        says: "unsupported kernel release: 4.18.0-553.el8 (Kubernetes v1.34.1 needs 4.19 or newer)",
    },
    Case {
        what: "a kernel without CONFIG_MEMCG",
        mutate: |f| {
            let cfg = std::fs::read_to_string(f.path("/boot/config-6.1.0-28-amd64")).unwrap();
            f.write("/boot/config-6.1.0-28-amd64", &cfg.replace("CONFIG_MEMCG=y", "# CONFIG_MEMCG is not set"));
        },
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("SystemVerification", "error")],
        says: "CONFIG_MEMCG not set",
    },
    Case {
        what: "no pids controller",
        mutate: |f| f.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("SystemVerification", "error")],
        says: "missing required cgroups: pids",
    },
    Case {
        what: "a kubelet newer than the control plane",
        mutate: |f| f.executable("/usr/bin/kubelet", "#!/bin/sh\necho 'Kubernetes v1.34.0'\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("KubeletVersion", "error")],
        says: "the kubelet version is higher than the control plane version",
    },
    Case {
        what: "a kubelet four minors older",
        mutate: |f| f.executable("/usr/bin/kubelet", "#!/bin/sh\necho 'Kubernetes v1.29.9'\n"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("KubeletVersion", "error")],
        says: "Kubelet version \"v1.29.9\" is lower than kubeboot can support for v1.33.5 (minimum v1.30.0)",
    },
    Case {
        what: "no kubelet unit",
        mutate: |f| f.remove("/lib/systemd/system/kubelet.service"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("Service-Kubelet", "warning")],
        says: "kubelet service does not exist",
    },
    Case {
        what: "no touch (a warning) on 1.33",
        mutate: |f| f.remove("/usr/bin/touch"),
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("FileExisting-touch", "warning")],
        says: "touch not found in system path",
    },
    Case {
        what: "no iptables: only 1.31/1.32 require it",
        mutate: |f| {
            f.remove("/usr/bin/iptables");
            f.executable("/usr/bin/kubelet", "#!/bin/sh\necho 'Kubernetes v1.32.4'\n");
        },
        cluster_extra: "",
        version: "v1.32.4",
        expect: &[("FileExisting-iptables", "error")],
        says: "apt-get install iptables",
    },
    Case {
        what: "firewalld running",
        mutate: |f| {
            f.write("/usr/lib/systemd/system/firewalld.service", "[Service]\n");
            f.write("/proc/812/comm", "firewalld\n");
        },
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[("Firewalld", "warning")],
        says: "firewalld is active, please ensure ports [",
    },
    Case {
        what: "br_netfilter not loaded",
        mutate: |f| {
            f.write("/proc/modules", "overlay 151552 0 - Live 0x0\n");
            std::fs::remove_dir_all(f.path("/proc/sys/net/bridge")).unwrap();
        },
        cluster_extra: "",
        version: "v1.33.5",
        expect: &[
            ("KernelModules", "warning"),
            ("FileContent--proc-sys-net-bridge-bridge-nf-call-iptables", "warning"),
        ],
        says: "kernel modules not loaded: br_netfilter",
    },
    Case {
        what: "IPv6 service network without IPv6 forwarding",
        mutate: |f| f.write("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1\n"),
        cluster_extra: "  networking:\n    serviceSubnet: 10.96.0.0/12,fd00:10:96::/112\n",
        version: "v1.33.5",
        expect: &[("FileContent--proc-sys-net-ipv6-conf-default-forwarding", "error")],
        says: "/proc/sys/net/ipv6/conf/default/forwarding does not exist",
    },
];

#[test]
fn each_problem_is_reported_by_its_check() {
    let mut failures = vec![];
    for case in CASES {
        let f = Fixture::healthy();
        (case.mutate)(&f);
        let cfg = f.config(
            "control-plane",
            &format!(
                "node:\n  name: node-1\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\n  criSocket: unix://{}\ncluster:\n  kubernetesVersion: {}\n{}",
                free_port(),
                f.dead_socket(),
                case.version,
                case.cluster_extra
            ),
        );
        let r = preflight(&f, &cfg, &[]);
        let got: Vec<(String, String)> = r.rooted_problems().into_iter().map(|(n, s, _)| (n, s)).collect();
        let want: Vec<(String, String)> = case.expect.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
        let msg = r.message(case.expect[0].0);
        if got != want || !msg.contains(case.says) {
            failures.push(format!("{}: got {got:?}, want {want:?}\n  message: {msg}", case.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
