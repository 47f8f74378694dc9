//! Preflight probes of the live machine: privileges (run as an unprivileged user) and ports
//! (held by this test, then released).

mod preflight_support;

use std::net::TcpListener;
use std::process::Command;

use preflight_support::*;

/// `setpriv` to nobody/nogroup with no supplementary groups, as the brief asks.
fn as_nobody(args: &[&std::ffi::OsStr]) -> Option<Run> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: switching to an unprivileged user needs root");
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(env!("CARGO_BIN_EXE_kubeboot")).args(args);
    c.env("PATH", "/usr/bin");
    Some(run(c))
}

#[test]
fn unprivileged_user_is_stopped_by_the_first_check() {
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let root = f.root();
    let Some(r) = as_nobody(&[
        "--root".as_ref(),
        root.as_os_str(),
        "preflight".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        "--json".as_ref(),
    ]) else {
        return;
    };
    assert_eq!(r.code, 3, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    // Fail-fast: nothing after IsPrivilegedUser ran (the dead CRI socket would have reported).
    assert_eq!(r.findings(), vec![("IsPrivilegedUser".to_string(), "error".to_string(), false)]);
    assert!(r.message("IsPrivilegedUser").contains("user is not running as root (effective uid 65534)"));

    // init as nobody stops in preflight and writes nothing.
    let before = f.snapshot();
    let r = as_nobody(&["--root".as_ref(), root.as_os_str(), "init".as_ref(), "--config".as_ref(), cfg.as_os_str()])
        .unwrap();
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("\t[ERROR IsPrivilegedUser]: user is not running as root"), "{}", r.stderr);
    assert!(!r.stderr.contains("[ERROR CRI]"), "no other check ran:\n{}", r.stderr);
    assert_eq!(f.snapshot(), before);
}

/// Every preflight run briefly listens on the ports it checks; the port tests take turns so one
/// run's probe never looks like the other test's listener.
static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn port_findings(f: &Fixture, cfg: &std::path::Path, port: u16) -> Vec<(String, String, bool)> {
    preflight(f, cfg, &[]).findings().into_iter().filter(|(n, _, _)| *n == format!("Port-{port}")).collect()
}

#[test]
fn a_held_api_server_port_is_an_error_until_released() {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let f = Fixture::healthy();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = f.control_plane(&f.dead_socket(), port, "");

    let r = preflight(&f, &cfg, &[]);
    let msg = r.message(&format!("Port-{port}"));
    assert!(msg.starts_with(&format!("Port {port} is in use")), "{}", r.stdout);
    assert!(msg.contains("kube-apiserver needs it"), "{msg}");
    assert_eq!(port_findings(&f, &cfg, port), vec![(format!("Port-{port}"), "error".into(), false)]);

    drop(listener);
    assert_eq!(port_findings(&f, &cfg, port), vec![], "released port still reported");
}

#[test]
fn a_held_kubelet_port_is_an_error_until_released() {
    let _turn = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(listener) = TcpListener::bind("127.0.0.1:10250") else {
        eprintln!("SKIP a_held_kubelet_port_is_an_error_until_released: port 10250 is in use by another process");
        return;
    };
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "");
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(port_findings(&f, &cfg, 10250), vec![("Port-10250".to_string(), "error".to_string(), false)]);
    assert!(r.message("Port-10250").contains("the kubelet needs it"), "{}", r.stdout);
    drop(listener);
    assert_eq!(port_findings(&f, &cfg, 10250), vec![]);
}
