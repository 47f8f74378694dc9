//! Shared by the preflight integration tests: a rooted fixture machine that passes every
//! rooted check, and helpers to run `kubeboot preflight` against it and read its JSON.
#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Checks that probe the live machine rather than the fixture root; rooted tests leave them
/// out of exact comparisons (another process may hold a port, no runtime is running, and
/// DiskSpace measures the real filesystem the fixture dir lives on).
pub const LIVE_CHECKS: &[&str] = &["CRI", "CgroupDriver", "ImagePull", "JoinEndpoint", "DiskSpace"];

pub fn is_live(name: &str) -> bool {
    LIVE_CHECKS.contains(&name) || name.starts_with("Port-")
}

/// Kernel options system-validators requires, all built in.
const KERNEL_CONFIG: &str = "CONFIG_NAMESPACES=y\nCONFIG_NET_NS=y\nCONFIG_PID_NS=y\nCONFIG_IPC_NS=y\nCONFIG_UTS_NS=y\n\
CONFIG_CGROUPS=y\nCONFIG_CGROUP_CPUACCT=y\nCONFIG_CGROUP_DEVICE=y\nCONFIG_CGROUP_FREEZER=y\nCONFIG_CGROUP_SCHED=y\n\
CONFIG_CPUSETS=y\nCONFIG_MEMCG=y\nCONFIG_INET=y\nCONFIG_EXT4_FS=y\nCONFIG_PROC_FS=y\n\
CONFIG_NETFILTER_XT_TARGET_REDIRECT=m\nCONFIG_NETFILTER_XT_MATCH_COMMENT=m\nCONFIG_FAIR_GROUP_SCHED=y\n\
CONFIG_OVERLAY_FS=m\nCONFIG_BRIDGE_NETFILTER=m\n";

/// A temp dir holding `root/` (the machine) and the config files.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// A machine that passes every rooted check for a v1.33 control plane named node-1:
    /// Linux 6.1 with the required kernel options, cgroup v2 with all controllers, 4 CPUs,
    /// 8 GiB, no swap, forwarding and bridge-netfilter on, the tools in /usr/bin, and a
    /// stand-in kubelet (a script printing `Kubernetes v1.33.5`; no real kubelet exists here).
    pub fn healthy() -> Self {
        let dir = tempfile::Builder::new().prefix("kb-pf").tempdir().unwrap();
        // Readable by an unprivileged user too (the privileges test runs as nobody).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = Fixture { dir };
        std::fs::create_dir(f.root()).unwrap();
        f.write("/proc/sys/kernel/osrelease", "6.1.0-28-amd64\n");
        f.write("/proc/sys/kernel/ostype", "Linux\n");
        f.write("/proc/sys/kernel/hostname", "node-1\n");
        f.write("/boot/config-6.1.0-28-amd64", KERNEL_CONFIG);
        f.write("/proc/mounts", "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n");
        f.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
        f.write("/sys/fs/cgroup/system.slice/cgroup.freeze", "0\n");
        f.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        f.write("/sys/devices/system/cpu/online", "0-3\n");
        f.write("/proc/meminfo", "MemTotal:        8152812 kB\nMemFree:         7000000 kB\n");
        f.write("/proc/sys/net/ipv4/ip_forward", "1\n");
        f.write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
        f.write("/proc/modules", "br_netfilter 32768 0 - Live 0x0000000000000000\noverlay 151552 0 - Live 0x0\n");
        f.write("/proc/filesystems", "nodev\tsysfs\nnodev\toverlay\n\text4\n");
        f.write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 node-1\n");
        f.write("/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n");
        for tool in ["mount", "nsenter", "touch", "conntrack", "ip", "iptables", "ethtool", "tc"] {
            f.executable(&format!("/usr/bin/{tool}"), "#!/bin/sh\nexit 0\n");
        }
        f.executable("/usr/bin/kubelet", "#!/bin/sh\necho 'Kubernetes v1.33.5'\n");
        f
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root().join(node_path.trim_start_matches('/'))
    }

    pub fn write(&self, node_path: &str, contents: &str) {
        let p = self.path(node_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn executable(&self, node_path: &str, script: &str) {
        self.write(node_path, script);
        std::fs::set_permissions(self.path(node_path), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn remove(&self, node_path: &str) {
        std::fs::remove_file(self.path(node_path)).unwrap();
    }

    /// Writes a NodeConfig: `role` plus YAML lines appended at the top level.
    pub fn config(&self, role: &str, extra: &str) -> PathBuf {
        let p = self.dir.path().join(format!("{role}.yaml"));
        let text = format!("apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: {role}\n{extra}");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    /// A control plane advertising 127.0.0.1 with its CRI socket at `cri` and API port `bind_port`.
    /// Its images come from a loopback port where nothing listens, so that no test can pull
    /// from a real registry.
    pub fn control_plane(&self, cri: &str, bind_port: u16, extra: &str) -> PathBuf {
        self.config(
            "control-plane",
            &format!(
                "node:\n  name: node-1\n  advertiseAddress: 127.0.0.1\n  bindPort: {bind_port}\n  criSocket: unix://{cri}\ncluster:\n  kubernetesVersion: v1.33.5\n  imageRepository: {NO_REGISTRY}/k8s\n{extra}"
            ),
        )
    }

    /// A socket path under the fixture dir where nothing listens.
    pub fn dead_socket(&self) -> String {
        self.dir.path().join("nothing.sock").display().to_string()
    }

    /// Every file and directory under the root with size, mode and mtime: equal before and
    /// after means nothing changed.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u64, u32, i64, i64)> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, u32, i64, i64)>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let m = std::fs::symlink_metadata(e.path()).unwrap();
                out.insert(e.path(), (m.len(), m.mode(), m.mtime(), m.mtime_nsec()));
                if m.is_dir() {
                    walk(&e.path(), out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root(), &mut out);
        out
    }
}

/// A registry address where nothing listens (the discard port on loopback).
pub const NO_REGISTRY: &str = "127.0.0.1:9";

/// A containerd process owned by the test; killed (by its pid) when dropped.
pub struct Containerd {
    child: Child,
    pub socket: PathBuf,
}

impl Containerd {
    /// Starts containerd with everything under `dir` and its gRPC socket at `socket`.
    pub fn start(dir: &Path, socket: &Path) -> Option<Containerd> {
        Self::start_with(dir, socket, "")
    }

    /// As `start`, with `cri_extra` added to the CRI plugin's section of the config
    /// (e.g. `sandbox_image = "..."`).
    pub fn start_with(dir: &Path, socket: &Path, cri_extra: &str) -> Option<Containerd> {
        Self::start_config(dir, socket, cri_extra, true)
    }

    /// As `start_with`; `systemd_cgroup` is runc's `SystemdCgroup` (true on a kubeadm node,
    /// false in containerd 1.x's own defaults).
    pub fn start_config(dir: &Path, socket: &Path, cri_extra: &str, systemd_cgroup: bool) -> Option<Containerd> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: running containerd needs root");
            return None;
        }
        if Command::new("containerd").arg("--version").output().is_err() {
            eprintln!("SKIP: containerd is not installed (scripts/install-test-deps.sh installs it)");
            return None;
        }
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let config = dir.join("containerd.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/ctr-root\"\nstate = \"{d}/ctr-state\"\n[grpc]\n  address = \"{s}\"\n[ttrpc]\n  address = \"{s}.ttrpc\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n{cri_extra}\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = {systemd_cgroup}\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"{d}/cni-bin\"\n  conf_dir = \"{d}/cni-conf\"\n",
                d = dir.display(),
                s = socket.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let ctr = Containerd { child, socket: socket.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ctr.serving() {
            assert!(Instant::now() < deadline, "containerd did not serve {} within 20s", socket.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(ctr)
    }

    pub fn serving(&self) -> bool {
        std::os::unix::net::UnixStream::connect(&self.socket).is_ok()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn kubeboot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubeboot"));
    // PATH is looked up under --root; no proxies from the developer's shell.
    c.env("PATH", "/usr/bin").env_remove("HTTPS_PROXY").env_remove("https_proxy");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// (name, severity, ignored) of every finding.
    pub fn findings(&self) -> Vec<(String, String, bool)> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().into(),
                    f["severity"].as_str().unwrap().into(),
                    f["ignored"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// Problems (errors and warnings) from rooted checks only.
    pub fn rooted_problems(&self) -> Vec<(String, String, bool)> {
        self.findings().into_iter().filter(|(n, s, _)| s != "info" && !is_live(n)).collect()
    }

    pub fn message(&self, name: &str) -> String {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"] == name)
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn run(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run kubeboot");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `kubeboot --root <fixture root> preflight --config <config> --json <extra...>`.
pub fn preflight(f: &Fixture, config: &Path, extra: &[&str]) -> Run {
    let mut c = kubeboot();
    c.arg("--root").arg(f.root()).arg("preflight").arg("--config").arg(config).arg("--json").args(extra);
    run(c)
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
