//! Crash consistency over the phases that talk to the kubelet and the API server (kubelet-start
//! through addon), run by `kubeboot run` against the kube-apiserver TEST STAND-IN and the kubelet
//! healthz TEST STAND-IN of tests/support (no kube-apiserver or kubelet binary is reachable here).
//! SIGKILL at every boundary of those phases through the failpoint, then resume: the run must
//! finish, the cluster must hold exactly the objects of an uninterrupted run (no extra
//! bootstrap token, no duplicated taint), keys and the generated certificate key must be reused,
//! and a run after success must send no write to the API server.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::apiserver::Key;
use support::{NODE_NAME, Node};

const CLUSTER_PHASES: [&str; 8] = [
    "kubelet-start",
    "wait-control-plane",
    "upload-config",
    "upload-certs",
    "mark-control-plane",
    "bootstrap-token",
    "kubelet-finalize",
    "addon",
];

fn node() -> Node {
    let node = Node::new("v1.34.1", "uploadCerts: true\n");
    node.write("/etc/machine-id", b"0123456789abcdef0123456789abcdef\n");
    node.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"rotated");
    node.server.register_node_after(NODE_NAME, Duration::ZERO);
    node
}

/// `kubeboot run` with the node's config as user-data; preflight inspects the real machine.
fn run(node: &Node, failpoint: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubeboot"));
    cmd.args(["run", "--skip-phases", "preflight", "--user-data"])
        .arg(&node.config)
        .arg("--root")
        .arg(node.root())
        .env("NO_PROXY", "*")
        .env_remove("KUBEBOOT_FAILPOINT");
    if let Some(fp) = failpoint {
        cmd.env("KUBEBOOT_FAILPOINT", fp);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Object keys, with bootstrap-token Secrets counted by type rather than by their random names.
fn object_set(node: &Node) -> BTreeSet<Key> {
    node.server
        .objects()
        .into_keys()
        .map(|(gv, res, ns, name)| {
            let name = if name.starts_with("bootstrap-token-") { "bootstrap-token-<id>".into() } else { name };
            (gv, res, ns, name)
        })
        .collect()
}

fn bootstrap_tokens(node: &Node) -> usize {
    node.server
        .objects()
        .keys()
        .filter(|(_, res, ns, name)| res == "secrets" && ns == "kube-system" && name.starts_with("bootstrap-token-"))
        .count()
}

fn taints(node: &Node) -> serde_json::Value {
    node.server.get("v1", "nodes", "", NODE_NAME).expect("Node registered")["spec"]["taints"].clone()
}

fn files_named(root: &Path, ext: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, ext, &mut out);
    out.sort();
    out
}

/// The secrets kubeboot generates and keeps for a resume: certificate key and bootstrap token.
fn generated_secrets(node: &Node) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(node.path("/var/lib/kubeboot"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name == "certificate-key" || name.starts_with("bootstrap-token-")
        })
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn writes(node: &Node) -> Vec<String> {
    node.server
        .requests()
        .into_iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn crash_at_every_cluster_phase_boundary_resumes_to_the_same_cluster() {
    let clean = node();
    let out = run(&clean, None);
    assert!(out.status.success(), "clean run: {}", text(&out));
    let reference = object_set(&clean);
    // The default token and upload-certs' short-lived token that owns kubeadm-certs.
    assert_eq!(bootstrap_tokens(&clean), 2);
    let reference_taints = taints(&clean);
    assert!(reference.iter().any(|k| k.3 == "kubeadm-certs"), "uploadCerts: the clean run made no kubeadm-certs");
    assert_eq!(generated_secrets(&clean).len(), 2, "certificate key and bootstrap token kept for a resume");

    for phase in CLUSTER_PHASES {
        for when in ["before", "after"] {
            let fp = format!("{phase}:{when}");
            let node = node();
            let out = run(&node, Some(&fp));
            assert_eq!(out.status.signal(), Some(9), "{fp} did not fire: {}", text(&out));
            let keys_at_crash = files_named(node.root(), "key");
            let secrets_at_crash = generated_secrets(&node);

            let out = run(&node, None);
            assert!(out.status.success(), "{fp}: resumed run failed: {}", text(&out));
            assert_eq!(object_set(&node), reference, "{fp}: the cluster differs from an uninterrupted run's");
            assert_eq!(bootstrap_tokens(&node), 2, "{fp}: an extra bootstrap token was created");
            assert_eq!(taints(&node), reference_taints, "{fp}: taints differ");
            let keys_after = files_named(node.root(), "key");
            for (path, bytes) in &keys_at_crash {
                let now = keys_after.iter().find(|(p, _)| p == path).map(|(_, b)| b);
                assert_eq!(now, Some(bytes), "{fp}: {} was regenerated", path.display());
            }
            let secrets_after = generated_secrets(&node);
            for (path, bytes) in &secrets_at_crash {
                let now = secrets_after.iter().find(|(p, _)| p == path).map(|(_, b)| b);
                assert_eq!(now, Some(bytes), "{fp}: the generated {} changed", path.display());
            }

            node.server.clear_requests();
            let out = run(&node, None);
            assert!(out.status.success(), "{fp}: run after success: {}", text(&out));
            assert_eq!(writes(&node), Vec::<String>::new(), "{fp}: a run after success wrote to the API server");
        }
    }
}
