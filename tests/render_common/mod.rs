//! Shared helpers for the render_* integration tests: run the real binary against a temp root.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kubeboot binary with a clean environment (no proxy variables leak into manifests).
pub fn kubeboot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubeboot"));
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "KUBEBOOT_ROOT"] {
        c.env_remove(v);
    }
    c
}

/// A control-plane NodeConfig; `extra_cluster` is indented YAML added under `cluster:`.
pub fn config(version: &str, algorithm: &str, advertise: &str, extra_cluster: &str) -> String {
    format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
node:
  name: cp-1
  advertiseAddress: {advertise}
  criSocket: unix:///var/run/containerd/containerd.sock
cluster:
  kubernetesVersion: {version}
  encryptionAlgorithm: {algorithm}
  controlPlaneEndpoint: lb.example.internal
  networking:
    serviceSubnet: 10.96.0.0/12
    podSubnet: 10.244.0.0/16
  apiServer:
    certSANs:
    - cp-1.example.internal
    - 192.168.56.100
{extra_cluster}"
    )
}

pub struct Node {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Node {
    pub fn new(config_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/etc")).unwrap();
        // The node name is the host name, so no --hostname-override appears.
        std::fs::write(dir.path().join("root/etc/hostname"), "cp-1\n").unwrap();
        let config = dir.path().join("node.yaml");
        std::fs::write(&config, config_text).unwrap();
        Node { dir, config }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A node path under the root.
    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root().join(node_path.trim_start_matches('/'))
    }

    pub fn pki(&self, rel: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/pki/{rel}"))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        kubeboot().args(args).arg("--config").arg(&self.config).arg("--root").arg(self.root()).output().unwrap()
    }

    /// `kubeboot render`: every file `kubeadm init` writes, nothing started.
    pub fn render(&self) -> Output {
        let out = self.run(&["render"]);
        assert!(out.status.success(), "render failed:\n{}", text(&out));
        out
    }

    pub fn set_config(&self, config_text: &str) {
        std::fs::write(&self.config, config_text).unwrap();
    }
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// True when `tool` is on PATH; otherwise prints why the test is skipped.
pub fn have(tool: &str) -> bool {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    if !found {
        eprintln!("SKIP: `{tool}` is not installed (run scripts/install-test-deps.sh)");
    }
    found
}

/// Runs a command, asserting success, returning stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

pub fn openssl(args: &[&str]) -> String {
    run_ok(Command::new("openssl").args(args))
}

/// Every regular file and directory under `root`, relative, with mode, size and mtime.
pub fn snapshot(root: &Path) -> Vec<(String, u32, u64, std::time::SystemTime, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let contents = if m.is_file() { std::fs::read(&p).unwrap() } else { vec![] };
            out.push((rel, m.permissions().mode() & 0o7777, m.len(), m.modified().unwrap(), contents));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Looks up a free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
