//! systemd/kubeboot.service passes `systemd-analyze verify` in a root that holds the distro's
//! system units and the binary at its ExecStart path, and fails it when the binary is missing
//! (so the check is real). The ordering and service type the first boot relies on are asserted.

mod support;

const UNIT: &str = include_str!("../systemd/kubeboot.service");

#[test]
fn systemd_analyze_verify_passes() {
    support::unit_verify::assert_units_verify(&[("kubeboot.service", UNIT)]);
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
