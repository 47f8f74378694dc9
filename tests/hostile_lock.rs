//! Issue 16 item 6: every command that changes the host takes the one host lock, and `reset`
//! never removes it. The test holds the lock the way a running `kubeboot run` does (an
//! exclusive flock on the same file) and runs each command for real against a throw-away root.

mod firstboot_common;

use std::fs::OpenOptions;

use firstboot_common::*;
use nix::fcntl::{Flock, FlockArg};

const LOCK: &str = "/run/lock/kubeboot.lock";

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
    let path = root.path().join(LOCK.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
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

#[test]
fn reset_keeps_the_lock_file_and_a_held_lock_stays_exclusive() {
    let root = provisioned_root();
    let lock_path = root.path().join(LOCK.trim_start_matches('/'));
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(root.read("/var/lib/kubeboot/status.json").is_none(), "reset removed kubeboot's state");
    assert!(lock_path.exists(), "reset must not remove the lock file");

    // A second reset while the lock is held: busy, and the lock file is the same inode afterwards.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&lock_path).unwrap());
    let _held = hold_lock(&root);
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&lock_path).unwrap()), ino);
}

#[test]
fn a_symlink_in_place_of_the_lock_file_is_refused() {
    let root = Root::new();
    let victim = root.path().join("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    std::fs::create_dir_all(root.path().join("run/lock")).unwrap();
    std::os::unix::fs::symlink(&victim, root.path().join("run/lock/kubeboot.lock")).unwrap();
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("symlink"), "{t}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep\n");
}
