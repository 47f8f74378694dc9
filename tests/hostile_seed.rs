//! Issue 16 item 2: a crafted seed cannot hang the boot. Real FAT32 images from mkfs.vfat,
//! patched so the root directory's cluster chain loops (fatfs follows it forever) or points at
//! reserved cluster 1 (`cluster - 2` underflows); each must be refused within seconds. And a
//! run shows `datasource` in status.json while it probes, before any user-data is found.

mod firstboot_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use firstboot_common::*;
use kubeboot::source::volume;

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

fn le16(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}

fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// A FAT32 image labelled cidata whose root directory cluster is filled with deleted entries
/// (so a reader never meets the end marker) and whose FAT says the next cluster is `next`.
fn crafted_fat32(dir: &Path, next: u32) -> PathBuf {
    let img = dir.join("crafted.img");
    let _ = std::fs::remove_file(&img);
    let out = Command::new("mkfs.vfat")
        .args(["-F", "32", "-s", "1", "-n", "cidata", "-C"])
        .arg(&img)
        .arg("40000")
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.vfat: {}", String::from_utf8_lossy(&out.stderr));
    let mut b = std::fs::read(&img).unwrap();
    let (bps, spc, reserved, fats, fat_size, root) =
        (le16(&b, 11), b[13] as u64, le16(&b, 14), b[16] as u64, le32(&b, 36), le32(&b, 44));
    let data = (reserved + fats * fat_size) * bps;
    let root_at = (data + (root - 2) * spc * bps) as usize;
    for entry in b[root_at..root_at + (spc * bps) as usize].chunks_mut(32) {
        if entry[0] == 0 {
            entry.fill(b'A');
            entry[0] = 0xE5; // deleted: skipped, and not the end of the directory
            entry[11] = 0x20;
        }
    }
    for f in 0..fats {
        let at = ((reserved + f * fat_size) * bps + root * 4) as usize;
        b[at..at + 4].copy_from_slice(&next.to_le_bytes());
    }
    std::fs::write(&img, &b).unwrap();
    img
}

/// Opens and reads the seed on another thread; `None` if it did not finish within `limit`.
fn open_and_read(img: PathBuf, limit: Duration) -> Option<Result<(), String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = volume::open_seed(&img).and_then(|mut v| v.read("user-data", 1 << 20).map(|_| ()));
        let _ = tx.send(r.map_err(|e| format!("{e:#}")));
    });
    rx.recv_timeout(limit).ok()
}

#[test]
fn a_looping_root_directory_is_refused_not_followed_forever() {
    if !have("mkfs.vfat") {
        eprintln!("mkfs.vfat not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let b = std::fs::read(crafted_fat32(dir.path(), 0x0FFF_FFFF)).unwrap();
        le32(&b, 44) as u32
    };
    // The chain loops onto itself: root -> root -> root ...
    let img = crafted_fat32(dir.path(), root);
    let t = Instant::now();
    let r = open_and_read(img, Duration::from_secs(60)).expect("the crafted FAT volume hung the reader");
    let err = r.expect_err("a looping root directory is an error");
    assert!(err.contains("crafted.img"), "the error names the volume: {err}");
    assert!(err.contains("loops") || err.contains("deadline"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
}

#[test]
fn a_chain_into_a_reserved_cluster_is_refused() {
    if !have("mkfs.vfat") {
        eprintln!("mkfs.vfat not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = crafted_fat32(dir.path(), 1);
    let r = open_and_read(img, Duration::from_secs(60)).expect("the crafted FAT volume hung the reader");
    // Whatever the reader makes of cluster 1, it stays within the device and the budget.
    if let Err(e) = r {
        assert!(e.contains("crafted.img"), "{e}");
    }
}

/// While the datasources are being probed (here a NoCloud seed URL that accepts and never
/// answers), status.json already exists and says so.
#[test]
fn status_says_datasource_while_probing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = Root::new();
    root.file("/proc/cmdline", &format!("ro ds=nocloud;s=http://127.0.0.1:{port}/\n"));
    let mut run = root
        .kubeboot()
        .args(["run", "--datasource", "cmdline"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut seen = None;
    while start.elapsed() < Duration::from_secs(4) {
        if let Some(b) = root.read("/run/kubeboot/status.json") {
            seen = serde_json::from_slice::<serde_json::Value>(&b).ok();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = root.status(&["--json"]);
    let _ = run.kill();
    let _ = run.wait();
    let seen = seen.expect("status.json must exist while the datasources are probed");
    assert_eq!(
        (seen["state"].as_str(), seen["currentPhase"].as_str()),
        (Some("running"), Some("datasource")),
        "{seen}"
    );
    assert!(String::from_utf8_lossy(&st.stdout).contains("\"currentPhase\": \"datasource\""), "{}", text(&st));
    drop(listener);
}
