//! `systemd-analyze verify` of the project's units in a temporary root holding the machine's
//! system units, the units under test in /etc/systemd/system and, optionally, the binary.

use std::process::Command;

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
