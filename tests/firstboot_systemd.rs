//! systemd/kubeboot.service passes `systemd-analyze verify` in a root that holds the distro's
//! system units and the binary at its ExecStart path, and fails it when the binary is missing
//! (so the check is real). The ordering and service type the first boot relies on are asserted.

mod support;

use std::path::Path;

const UNIT: &str = include_str!("../systemd/kubeboot.service");

fn verify_root(with_binary: bool) -> (bool, String) {
    support::unit_verify::verify_units(&[("kubeboot.service", UNIT)], with_binary)
}

#[test]
fn systemd_analyze_verify_passes() {
    if !Path::new("/usr/bin/systemd-analyze").exists() || !Path::new("/usr/lib/systemd/system/sysinit.target").exists()
    {
        eprintln!("SKIP: systemd-analyze or the system units are missing (Debian package `systemd`)");
        return;
    }
    let (ok, out) = verify_root(true);
    assert!(ok && out.trim().is_empty(), "systemd-analyze verify:\n{out}");
    let (ok, out) = verify_root(false);
    assert!(!ok && out.contains("/usr/local/bin/kubeboot"), "verify must notice the missing binary:\n{out}");
}

#[test]
fn unit_is_a_oneshot_after_network_and_runtime() {
    let lines: Vec<&str> = UNIT.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    for want in [
        "Type=oneshot",
        "RemainAfterExit=yes",
        "Wants=network-online.target",
        "ExecStart=/usr/local/bin/kubeboot run",
        "WantedBy=multi-user.target",
    ] {
        assert!(lines.contains(&want), "missing `{want}`");
    }
    let after = lines.iter().find(|l| l.starts_with("After=")).expect("After=");
    assert!(after.contains("network-online.target") && after.contains("containerd.service"), "{after}");
    // kubeboot starts the kubelet and waits for it: ordering the kubelet after us would deadlock.
    assert!(!lines.iter().any(|l| l.starts_with("Before=") && l.contains("kubelet.service")));
}
