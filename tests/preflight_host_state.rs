//! Preflight against rooted machine state: swap versus the kubelet config, leftovers of an
//! earlier node, a read-only target, the ignore list, and every problem reported in one run.

mod preflight_support;

use preflight_support::*;

fn s(name: &str, severity: &str, ignored: bool) -> (String, String, bool) {
    (name.into(), severity.into(), ignored)
}

#[test]
fn healthy_fixture_has_no_rooted_problems() {
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(r.rooted_problems(), vec![], "{}", r.stdout);
    // The dead CRI socket is the only error left, so the exit code is the preflight one.
    assert!(r.message("CRI").contains("container runtime is not running"), "{}", r.stdout);
    assert_eq!(r.code, 3);
}

#[test]
fn swap_is_judged_against_the_kubelet_configuration() {
    let f = Fixture::healthy();
    f.write(
        "/proc/swaps",
        "Filename\tType\tSize\tUsed\tPriority\n/swapfile                               file\t\t2097148\t\t0\t\t-2\n",
    );
    let sock = f.dead_socket();
    let port = free_port();
    let swap = |extra: &str| {
        let r = preflight(&f, &f.control_plane(&sock, port, extra), &[]);
        let found: Vec<_> = r.rooted_problems().into_iter().filter(|(n, _, _)| n == "Swap").collect();
        (found, r.message("Swap"))
    };

    // The kubelet's default failSwapOn: true would refuse to start: an error.
    let (found, msg) = swap("");
    assert_eq!(found, vec![s("Swap", "error", false)]);
    assert!(msg.contains("/swapfile (2047 MiB)") && msg.contains("failSwapOn is true"), "{msg}");

    // failSwapOn: false without a swap behaviour: kubeadm's warning.
    let (found, msg) = swap("kubeletConfiguration:\n  failSwapOn: false\n");
    assert_eq!(found, vec![s("Swap", "warning", false)]);
    assert!(msg.contains("memorySwap.swapBehavior is not set"), "{msg}");

    // failSwapOn: false + memorySwap on cgroup v2: a supported setup.
    let (found, _) = swap("kubeletConfiguration:\n  failSwapOn: false\n  memorySwap:\n    swapBehavior: LimitedSwap\n");
    assert_eq!(found, vec![]);

    // The same on a cgroup v1 machine: swap support needs v2.
    f.write("/proc/mounts", "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n");
    f.write(
        "/proc/cgroups",
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t1\t1\t1\ncpu\t2\t1\t1\ncpuacct\t2\t1\t1\nmemory\t3\t1\t1\ndevices\t4\t1\t1\nfreezer\t5\t1\t1\npids\t6\t1\t1\nhugetlb\t7\t1\t1\n",
    );
    let (found, msg) =
        swap("kubeletConfiguration:\n  failSwapOn: false\n  memorySwap:\n    swapBehavior: LimitedSwap\n");
    assert_eq!(found, vec![s("Swap", "warning", false)]);
    assert!(msg.contains("cgroup v2 only"), "{msg}");
}

#[test]
fn leftovers_of_an_earlier_node_are_errors() {
    let f = Fixture::healthy();
    f.write("/etc/kubernetes/manifests/kube-apiserver.yaml", "apiVersion: v1\nkind: Pod\n");
    f.write("/var/lib/etcd/member/snap/db", "etcd data");
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), ""), &[]);
    assert_eq!(
        r.rooted_problems(),
        vec![
            s("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml", "error", false),
            s("DirAvailable--var-lib-etcd", "error", false),
        ],
        "{}",
        r.stdout
    );
    assert!(r.message("DirAvailable--var-lib-etcd").starts_with("/var/lib/etcd is not empty — "));
    assert!(r.message("FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml").contains("already exists"));
    // An empty etcd dir is fine (kubeadm's DirAvailable).
    std::fs::remove_dir_all(f.path("/var/lib/etcd/member")).unwrap();
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), ""), &[]);
    assert!(!r.rooted_problems().iter().any(|(n, _, _)| n.starts_with("DirAvailable")), "{}", r.stdout);
}

/// Five problems in the root: swap, a leftover manifest, a non-empty etcd dir, forwarding off
/// and a missing `nsenter`.
fn five_problems() -> Fixture {
    let f = Fixture::healthy();
    f.write("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/vda3 partition 1048572 0 -2\n");
    f.write("/etc/kubernetes/manifests/kube-apiserver.yaml", "leftover");
    f.write("/var/lib/etcd/member/wal/0.wal", "wal");
    f.write("/proc/sys/net/ipv4/ip_forward", "0\n");
    f.remove("/usr/bin/nsenter");
    f
}

/// In run order: kubeadm's init checks, then the common checks, then the etcd ones.
const FIVE: [&str; 5] = [
    "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
    "Swap",
    "FileExisting-nsenter",
    "FileContent--proc-sys-net-ipv4-ip_forward",
    "DirAvailable--var-lib-etcd",
];

#[test]
fn five_problems_yield_five_findings_in_one_run() {
    let f = five_problems();
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), ""), &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let problems = r.rooted_problems();
    assert_eq!(problems, FIVE.iter().map(|n| s(n, "error", false)).collect::<Vec<_>>(), "{}", r.stdout);
    let json = r.json();
    assert!(json["errors"].as_u64().unwrap() >= 5);

    // The human report lists the same five, errors first, kubeadm style.
    let mut c = kubeboot();
    c.arg("--root").arg(f.root()).args(["preflight", "--config"]).arg(f.control_plane(
        &f.dead_socket(),
        free_port(),
        "",
    ));
    let human = run(c);
    assert_eq!(human.code, 3);
    for name in FIVE {
        assert!(human.stdout.contains(&format!("\t[ERROR {name}]: ")), "{name} missing:\n{}", human.stdout);
    }
    assert!(human.stdout.contains(" — "), "every line says how to fix it:\n{}", human.stdout);
    let first_warning = human.stdout.find("[WARNING").unwrap_or(usize::MAX);
    assert!(human.stdout.rfind("[ERROR").unwrap() < first_warning, "errors come first:\n{}", human.stdout);
}

#[test]
fn ignored_checks_are_demoted_to_warnings() {
    let f = five_problems();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");

    // Each named check (any case) is demoted; the others stay errors.
    let r = preflight(&f, &cfg, &["--ignore-preflight-errors=swap,FILEEXISTING-NSENTER"]);
    let problems = r.rooted_problems();
    assert!(problems.contains(&s("Swap", "warning", true)), "{problems:?}");
    assert!(problems.contains(&s("FileExisting-nsenter", "warning", true)), "{problems:?}");
    assert!(problems.contains(&s("DirAvailable--var-lib-etcd", "error", false)), "{problems:?}");
    assert_eq!(r.code, 3);

    // Naming all five (and the dead CRI) leaves no error: exit 0.
    let all_names = format!("--ignore-preflight-errors={},CRI", FIVE.join(","));
    let r = preflight(&f, &cfg, &[&all_names]);
    assert_eq!(r.rooted_problems(), FIVE.iter().map(|n| s(n, "warning", true)).collect::<Vec<_>>());

    // The config's preflight.ignoreErrors works the same way.
    let cfg_ignore = f.control_plane(&f.dead_socket(), free_port(), "preflight:\n  ignoreErrors: [Swap]\n");
    let r = preflight(&f, &cfg_ignore, &[]);
    assert!(r.rooted_problems().contains(&s("Swap", "warning", true)));

    // `all` ignores everything, live checks included.
    let r = preflight(&f, &cfg, &["--ignore-preflight-errors=all"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["errors"], 0);
    assert_eq!(r.rooted_problems(), FIVE.iter().map(|n| s(n, "warning", true)).collect::<Vec<_>>());
    assert!(r.findings().contains(&s("CRI", "warning", true)), "{}", r.stdout);
}

#[test]
fn unknown_ignore_names_are_a_usage_error() {
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let r = preflight(&f, &cfg, &["--ignore-preflight-errors=Swap,NoSuchCheck"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`NoSuchCheck` is not a preflight check name"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn init_stops_at_preflight_and_writes_nothing() {
    let f = five_problems();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let before = f.snapshot();
    let mut c = kubeboot();
    c.arg("--root").arg(f.root()).args(["init", "--config"]).arg(&cfg);
    let r = run(c);
    assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for name in FIVE {
        assert!(r.stderr.contains(&format!("[ERROR {name}]")), "{name}:\n{}", r.stderr);
    }
    assert!(!r.stdout.contains("[certs]"), "no later phase ran:\n{}", r.stdout);
    assert_eq!(f.snapshot(), before, "init changed files under the root");
}

#[test]
fn read_only_target_is_caught_before_any_change() {
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let root = f.root();
    // A read-only bind mount of the root onto itself (we are root in the test environment).
    let mounted = std::process::Command::new("mount").arg("--bind").arg(&root).arg(&root).status().map(|s| s.success());
    if !mounted.unwrap_or(false) {
        eprintln!(
            "SKIP read_only_target_is_caught_before_any_change: cannot bind-mount (needs root and CAP_SYS_ADMIN)"
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(root.clone());
    let ro =
        std::process::Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&root).arg(&root).status().unwrap();
    assert!(ro.success(), "remount read-only failed");

    let before = f.snapshot();
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(r.code, 3);
    assert!(r.rooted_problems().contains(&s("DirWritable", "error", false)), "{}", r.stdout);
    let msg = r.message("DirWritable");
    assert!(msg.contains("/etc is not writable") && msg.contains("Read-only file system"), "{msg}");
    assert!(msg.contains("/etc/kubernetes/manifests") && msg.contains("/var/lib/etcd"), "{msg}");

    let mut c = kubeboot();
    c.arg("--root").arg(&root).args(["init", "--config"]).arg(&cfg);
    let init = run(c);
    assert_eq!(init.code, 3, "{}", init.stderr);
    assert!(init.stderr.contains("[ERROR DirWritable]"), "{}", init.stderr);
    assert_eq!(f.snapshot(), before, "files changed under a read-only root");
}

#[test]
fn a_small_or_full_filesystem_gets_disk_space_warnings() {
    let f = Fixture::healthy();
    let var_lib = f.path("/var/lib");
    std::fs::create_dir_all(&var_lib).unwrap();
    // A 4 MiB tmpfs as the root's /var/lib (we are root in the test environment).
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&var_lib)
        .status()
        .map(|s| s.success());
    if !mounted.unwrap_or(false) {
        eprintln!("SKIP a_small_or_full_filesystem_gets_disk_space_warnings: cannot mount a tmpfs (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(var_lib.clone());
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let disk = |r: &Run| r.findings().into_iter().filter(|(n, _, _)| n == "DiskSpace").collect::<Vec<_>>();

    // Room for neither etcd's 2 GiB nor much else, but less than 85% used: only the etcd warning.
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(disk(&r), vec![("DiskSpace".to_string(), "warning".to_string(), false)], "{}", r.stdout);
    assert!(r.message("DiskSpace").contains("free for /var/lib/etcd; etcd's database may grow to 2 GiB"));

    // Fill it past the kubelet's 15% eviction threshold.
    std::fs::write(var_lib.join("filler"), vec![0u8; 3584 * 1024]).unwrap();
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(disk(&r).len(), 2, "{}", r.stdout);
    assert!(
        r.message("DiskSpace").contains("free for /var/lib/kubelet: below 15% the kubelet starts evicting"),
        "{}",
        r.stdout
    );
}
