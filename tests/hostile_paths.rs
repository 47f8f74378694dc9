//! Issue 16 item 5: a symlink at any directory kubeboot creates or writes below is refused,
//! never followed; nothing lands at the link's target. Real commands on a throw-away root.

mod firstboot_common;

use std::os::unix::fs::symlink;
use std::path::Path;

use firstboot_common::*;

fn cp_config() -> String {
    format!("{}/examples/control-plane.yaml", env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (empty when `dir` holds none).
fn files_under(dir: &Path) -> Vec<String> {
    all_files(dir).into_iter().map(|(p, _)| p.display().to_string()).collect()
}

fn assert_refused_through(root: &Root, args: &[&str], link: &str) {
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let at = root.path().join(link.trim_start_matches('/'));
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    symlink(&elsewhere, &at).unwrap();
    let out = root.kubeboot().args(args).output().unwrap();
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "`{}` with {link} a symlink must fail\n{t}", args.join(" "));
    assert!(t.contains("symlink"), "the error says why\n{t}");
    assert!(t.contains(link), "the error names the link\n{t}");
    assert_eq!(files_under(&elsewhere), Vec::<String>::new(), "written through the symlink {link}\n{t}");
}

#[test]
fn a_symlinked_manifests_dir_is_not_written_through() {
    let root = Root::new();
    let cp = cp_config();
    assert_refused_through(&root, &["init", "phase", "control-plane", "--config", &cp], "/etc/kubernetes/manifests");
}

#[test]
fn a_symlinked_ancestor_is_not_written_through() {
    let root = Root::new();
    let cp = cp_config();
    assert_refused_through(&root, &["init", "phase", "certs", "--config", &cp], "/etc/kubernetes");
}

#[test]
fn a_symlinked_kubelet_dir_is_not_written_through() {
    let root = Root::new();
    let cp = cp_config();
    assert_refused_through(&root, &["init", "phase", "kubelet-start", "--config", &cp], "/var/lib/kubelet");
}

#[test]
fn a_symlinked_state_dir_stops_the_run_before_it_writes_there() {
    let root = Root::new();
    root.seed(&std::fs::read_to_string(cp_config()).unwrap(), "instance-id: iid-paths\n");
    assert_refused_through(&root, &["run", "--datasource", "nocloud-dir"], "/var/lib/kubeboot");
}

/// New directories are made durable: each new directory's parent is fsynced after the mkdir.
#[test]
fn new_directories_have_their_parents_synced() {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace not installed: skipped");
        return;
    }
    let root = Root::new();
    let log = root.path().join("strace.log");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=mkdir,mkdirat,openat,fsync", "-o"])
        .arg(&log)
        .arg(bin())
        .arg("--root")
        .arg(root.path())
        .args(["init", "phase", "certs", "--config", &cp_config()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let trace = std::fs::read_to_string(&log).unwrap();
    // /etc/kubernetes is made by kubeboot (the root has only /etc): /etc must be opened and fsynced after.
    let etc = format!("\"{}/etc\"", root.path().display());
    let made = format!("{}/etc/kubernetes\"", root.path().display());
    let mkdir = trace.lines().position(|l| l.contains("mkdir") && l.contains(&made));
    let mkdir = mkdir.unwrap_or_else(|| panic!("no mkdir of etc/kubernetes:\n{trace}"));
    let after: Vec<&str> = trace.lines().skip(mkdir).collect();
    let open_etc = after.iter().position(|l| l.contains("openat") && l.contains(&etc));
    let open_etc =
        open_etc.unwrap_or_else(|| panic!("/etc not opened to sync after creating /etc/kubernetes:\n{trace}"));
    assert!(after[open_etc..].iter().take(6).any(|l| l.contains("fsync")), "no fsync of /etc:\n{trace}");
}
