//! Issue 16 item 6: every command that changes the host takes the one host lock, and `reset`
//! cannot remove it. The test holds the lock the way a running `kubeboot run` does (an
//! exclusive flock on the root directory) and runs each command for real against a throw-away
//! root.

mod firstboot_common;

use firstboot_common::*;
use nix::fcntl::{Flock, FlockArg};

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A root with something every command would change: a node's files and kubeboot's state.
fn provisioned_root() -> Root {
    let root = Root::new();
    root.file("/etc/kubernetes/manifests/etcd.yaml.keep", "x\n");
    root.file("/etc/kubernetes/admin.conf", "apiVersion: v1\nkind: Config\n");
    root.file("/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\n");
    root.file("/var/lib/kubeboot/status.json", "{}\n");
    root.file("/run/kubeboot/status.json", "{}\n");
    root.seed(&std::fs::read_to_string(example("control-plane.yaml")).unwrap(), "instance-id: iid-lock\n");
    root
}

fn hold_lock(root: &Root) -> Flock<std::fs::File> {
    let f = std::fs::File::open(root.path()).unwrap();
    Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e).unwrap()
}

#[test]
fn every_host_changing_command_waits_for_the_lock_and_changes_nothing() {
    let root = provisioned_root();
    let cp = example("control-plane.yaml");
    let worker = example("worker.yaml");
    let commands: Vec<Vec<&str>> = vec![
        vec!["run", "--datasource", "nocloud-dir"],
        vec!["init", "--config", &cp, "--ignore-preflight-errors", "all"],
        vec!["init", "phase", "certs", "--config", &cp],
        vec!["init", "phase", "kubelet-start", "--config", &cp],
        vec!["join", "--config", &worker, "--ignore-preflight-errors", "all"],
        vec!["join", "phase", "kubelet-start", "--config", &worker],
        vec!["reset", "--force"],
        vec!["config", "images", "pull", "--config", &cp],
    ];
    let _held = hold_lock(&root);
    let before = snapshot(root.path());
    for args in &commands {
        let out = root.kubeboot().args(args).output().unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(75), "`kubeboot {}` must exit busy\n{t}", args.join(" "));
        assert!(t.contains("another kubeboot run or command holds"), "{t}");
        assert_eq!(before, snapshot(root.path()), "`kubeboot {}` changed the host while locked", args.join(" "));
    }
}

/// Reset removes kubeboot's state but not the lock: a second reset while one is held is busy,
/// and taking the lock creates no file (a refused command changes nothing at all).
#[test]
fn reset_cannot_remove_the_lock_and_the_lock_creates_no_file() {
    let root = provisioned_root();
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(root.read("/var/lib/kubeboot/status.json").is_none(), "reset removed kubeboot's state");
    let _held = hold_lock(&root);
    let before = snapshot(root.path());
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(before, snapshot(root.path()));
    let empty = Root::new();
    let before = snapshot(empty.path());
    let cp = example("control-plane.yaml");
    // A refused init (preflight fails on a bare root) takes the lock and leaves no trace of it.
    let _ = empty.kubeboot().args(["init", "--config", &cp]).output().unwrap();
    assert_eq!(before, snapshot(empty.path()), "init created or changed files although preflight refused");
}
