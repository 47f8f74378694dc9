//! The kubelet drop-in that kubelet-start installs, checked by the real `systemd-analyze verify`
//! against a unit tree under the node root; and the systemctl sequence kubelet-start asks for.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::Node;

const DROPIN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";

fn verify(node: &Node) -> std::process::Output {
    Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", node.root().display()))
        .arg("kubelet.service")
        .output()
        .unwrap()
}

#[test]
fn kubelet_start_installs_a_drop_in_that_systemd_analyze_verify_accepts() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("SKIP: systemd-analyze is not installed (scripts/install-test-deps.sh installs systemd)");
        return;
    }
    let node = Node::new("v1.34.1", "");
    // The unit the kubelet package ships, minus default dependencies (a temp root has no sysinit.target).
    node.write(
        "/lib/systemd/system/kubelet.service",
        b"[Unit]\nDescription=kubelet\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
    );
    std::fs::set_permissions(node.path("/usr/bin/kubelet"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = node.kubeboot(&["init", "phase", "kubelet-start"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let calls: Vec<&str> =
        stdout.lines().filter_map(|l| l.strip_prefix("[systemd] --root is not /: not running `systemctl ")).collect();
    assert_eq!(calls, ["daemon-reload`", "enable kubelet.service`", "restart kubelet.service`"]);

    let v = verify(&node);
    assert!(
        v.status.success() && v.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );

    // The check can fail: a drop-in that adds a second ExecStart without resetting it is refused.
    let dropin = std::fs::read_to_string(node.path(DROPIN)).unwrap();
    node.write(DROPIN, dropin.replace("ExecStart=\n", "").as_bytes());
    let v = verify(&node);
    assert!(!v.status.success(), "a broken drop-in passed verification");
    assert!(String::from_utf8_lossy(&v.stderr).contains("more than one ExecStart"));
}
