//! A full disk (reliability matrix FS-01), for real: /etc/kubernetes under the root is a tmpfs
//! too small for the kubeadm file set. The run fails with the file and "No space left on
//! device", leaves no temp file and no partial file behind, and once the filesystem has room a
//! re-run converges on the complete file set, reusing whatever was already written.

mod render_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use render_common::*;

/// A tmpfs mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(ok.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Every regular file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(files(&e.path()));
        } else if t.is_file() {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
    out.sort();
    out
}

/// A file kubeboot wrote is whole: a PEM file ends with its END line, YAML parses.
fn assert_whole(path: &Path, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!bytes.is_empty(), "{} is empty", path.display());
    let name = path.file_name().unwrap().to_string_lossy();
    if name.ends_with(".crt") || name.ends_with(".key") || name.ends_with(".pub") {
        assert!(text.trim_end().ends_with("-----"), "{} is cut short", path.display());
    } else {
        assert!(text.contains("apiVersion:"), "{} is cut short", path.display());
    }
}

/// One full-disk run with /etc/kubernetes limited to `size`; returns how many whole files the
/// failed run left (those of the phases that finished).
fn full_disk_then_room(size: &str) -> Option<usize> {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", "192.168.56.10", ""));
    let etc = node.path("/etc/kubernetes");
    let fs = Tmpfs::mount(&etc, size)?;

    let out = node.run(&["render"]);
    let msg = text(&out);
    assert!(!out.status.success(), "render succeeded with {size}:\n{msg}");
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains("/etc/kubernetes/"), "the error does not name the file: {msg}");
    let left = files(&etc);
    eprintln!("{size}: {} whole files left; {}", left.len(), msg.lines().last().unwrap_or(""));
    for (path, bytes) in &left {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!name.starts_with('.'), "temp file left behind: {}", path.display());
        assert_whole(path, bytes);
    }

    // Room again: the re-run completes and keeps every file the first run finished.
    fs.resize("8m");
    let out = node.run(&["render"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = files(&etc);
    for (path, bytes) in &left {
        let now = after.iter().find(|(p, _)| p == path).map(|(_, b)| b);
        assert_eq!(now, Some(bytes), "{} changed on the re-run", path.display());
    }
    for want in ["pki/ca.key", "pki/apiserver.crt", "pki/sa.pub", "admin.conf", "manifests/etcd.yaml"] {
        assert!(etc.join(want).is_file(), "{want} missing after the re-run");
    }
    for (path, bytes) in &after {
        assert_whole(path, bytes);
    }
    Some(left.len())
}

#[test]
fn a_full_disk_fails_cleanly_and_a_rerun_converges() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: mounting a tmpfs needs root");
        return;
    }
    // tmpfs charges at least a page per file, and the set is ~30 files: 64k fills up in the
    // certs phase, 96k in a later phase, after the PKI was written.
    let mut left = vec![];
    for size in ["64k", "96k"] {
        match full_disk_then_room(size) {
            Some(n) => left.push(n),
            None => {
                eprintln!("SKIP: cannot mount a tmpfs here");
                return;
            }
        }
    }
    assert!(left.iter().any(|&n| n > 0), "no size let a phase finish before the disk was full: {left:?}");
}
