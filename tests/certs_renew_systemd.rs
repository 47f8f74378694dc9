//! systemd/kubeboot-cert-renew.{timer,service} pass the real `systemd-analyze verify` in a root
//! holding the distro's units and the binary at its ExecStart path, and fail it when the binary
//! is missing (so the check is real). The schedule and the command the timer runs are asserted,
//! and that command parses with the real binary.

mod support;

use std::process::Command;

const SERVICE: &str = include_str!("../systemd/kubeboot-cert-renew.service");
const TIMER: &str = include_str!("../systemd/kubeboot-cert-renew.timer");

#[test]
fn systemd_analyze_verify_passes_for_timer_and_service() {
    support::unit_verify::assert_units_verify(&[
        ("kubeboot-cert-renew.timer", TIMER),
        ("kubeboot-cert-renew.service", SERVICE),
    ]);
}

fn lines(unit: &str) -> Vec<&str> {
    unit.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
}

#[test]
fn timer_is_daily_randomised_and_persistent() {
    let l = lines(TIMER);
    for want in ["OnCalendar=daily", "Persistent=true", "WantedBy=timers.target"] {
        assert!(l.contains(&want), "timer lacks `{want}`");
    }
    assert!(l.iter().any(|x| x.starts_with("RandomizedDelaySec=") && !x.ends_with("=0")), "timer not randomised");
}

#[test]
fn service_runs_renew_with_the_configured_window_and_restart() {
    let l = lines(SERVICE);
    assert!(l.contains(&"Type=oneshot"));
    let exec = l.iter().find(|x| x.starts_with("ExecStart=")).expect("ExecStart");
    let argv: Vec<&str> = exec.trim_start_matches("ExecStart=").split_whitespace().collect();
    assert_eq!(argv[0], "/usr/local/bin/kubeboot");
    assert_eq!(&argv[1..4], ["certs", "renew", "all"]);
    assert!(argv.contains(&"--expiring-within") && argv.contains(&"--restart"), "{exec}");
    // The real binary accepts exactly these arguments: on an empty root it finds nothing and
    // says so (exit 0) instead of failing on its command line.
    let root = tempfile::tempdir().unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_kubeboot")).args(&argv[1..]).arg("--root").arg(root.path()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("nothing due within 720h0m0s"), "{text}");
}
