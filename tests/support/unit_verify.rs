//! `systemd-analyze verify` of the project's units in a temporary root holding the machine's
//! system units, the units under test in /etc/systemd/system and, optionally, the binary.

use std::path::Path;
use std::process::Command;

/// The check both unit tests make: `units` pass verify with the binary at its ExecStart path and
/// fail it, naming the path, without (so the check is real). Skips, saying why, without systemd.
pub fn assert_units_verify(units: &[(&str, &str)]) {
    if !Path::new("/usr/bin/systemd-analyze").exists() || !Path::new("/usr/lib/systemd/system/sysinit.target").exists()
    {
        eprintln!("SKIP: systemd-analyze or the system units are missing (Debian package `systemd`)");
        return;
    }
    let (ok, out) = verify_units(units, true);
    assert!(ok && out.trim().is_empty(), "systemd-analyze verify:\n{out}");
    let (ok, out) = verify_units(units, false);
    assert!(!ok && out.contains("/usr/local/bin/kubeboot"), "verify must notice the missing binary:\n{out}");
}

/// `units`: (file name, contents). Returns whether verify passed, and what it printed.
pub fn verify_units(units: &[(&str, &str)], with_binary: bool) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    let out =
        Command::new("cp").arg("-r").arg("/usr/lib/systemd/system").arg(r.join("usr/lib/systemd/")).output().unwrap();
    assert!(out.status.success(), "copying the system units: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    for (name, text) in units {
        std::fs::write(r.join("etc/systemd/system").join(name), text).unwrap();
    }
    if with_binary {
        std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_kubeboot"), r.join("usr/local/bin/kubeboot")).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", r.display()))
        .args(units.iter().map(|(name, _)| format!("/etc/systemd/system/{name}")))
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}
