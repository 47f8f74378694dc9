//! Network-facing checks: the join endpoint is reachable (a listener held by the test), the
//! advertise address is local, proxies from the environment are flagged, and an unresolvable
//! node name is a warning.

mod preflight_support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use preflight_support::*;

const PIN: &str = "sha256:2f0c4fb1b3e7bd1e0d1c0e6b59e3c4a8e1f4d6a2b7c9d0e1f2a3b4c5d6e7f809";

fn worker(f: &Fixture, endpoint: &str) -> std::path::PathBuf {
    f.config(
        "worker",
        &format!(
            "node:\n  name: node-1\n  criSocket: unix://{}\ncluster:\n  kubernetesVersion: v1.33.5\njoin:\n  apiServerEndpoint: \"{endpoint}\"\n  token: abcdef.0123456789abcdef\n  caCertHashes: [\"{PIN}\"]\n",
            f.dead_socket()
        ),
    )
}

/// `openssl s_server` with a throwaway self-signed certificate: a real TLS endpoint.
struct TlsServer(std::process::Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl_server(dir: &std::path::Path, port: u16) -> Option<TlsServer> {
    let (cert, key) = (dir.join("srv.crt"), dir.join("srv.key"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=kube-apiserver", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("SKIP: openssl is not installed (scripts/install-test-deps.sh installs it)");
        return None;
    }
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let server = TlsServer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

fn join_findings(f: &Fixture, cfg: &std::path::Path) -> (Vec<(String, String, bool)>, String) {
    let r = preflight(f, cfg, &[]);
    (r.findings().into_iter().filter(|(n, _, _)| n == "JoinEndpoint").collect(), r.message("JoinEndpoint"))
}

#[test]
fn join_endpoint_must_answer_tls_and_is_a_warning_when_not() {
    let f = Fixture::healthy();
    let port = free_port();
    let endpoint = format!("127.0.0.1:{port}");
    let cfg = worker(&f, &endpoint);
    let warning = vec![("JoinEndpoint".to_string(), "warning".to_string(), false)];

    // A real TLS server: reachable. Worker joins run no control-plane checks.
    let Some(server) = openssl_server(f.dir.path(), port) else { return };
    let r = preflight(&f, &cfg, &[]);
    assert!(!r.findings().iter().any(|(n, _, _)| n == "JoinEndpoint"), "{}", r.stdout);
    assert_eq!(r.rooted_problems(), vec![], "{}", r.stdout);
    assert!(!r.findings().iter().any(|(n, _, _)| n == "NumCPU" || n == "AdvertiseAddress"));
    drop(server);

    // Something that accepts TCP but is no TLS server (a transparent proxy, a wrong service).
    let plain = TcpListener::bind(&endpoint).unwrap();
    let acceptor = std::thread::spawn(move || drop(plain.accept()));
    let (found, msg) = join_findings(&f, &cfg);
    acceptor.join().unwrap();
    assert_eq!(found, warning);
    assert!(msg.contains("connected, but it does not answer TLS like an API server"), "{msg}");

    // Nothing listening.
    let (found, msg) = join_findings(&f, &cfg);
    assert_eq!(found, warning);
    assert!(
        msg.contains(&format!("cannot reach the cluster at {endpoint}")) && msg.contains("Connection refused"),
        "{msg}"
    );
}

#[test]
fn an_advertise_address_that_is_not_ours_is_an_error() {
    let f = Fixture::healthy();
    let cfg = f.config(
        "control-plane",
        &format!(
            "node:\n  name: node-1\n  advertiseAddress: 192.0.2.123\n  bindPort: {}\n  criSocket: unix://{}\n",
            free_port(),
            f.dead_socket()
        ),
    );
    let r = preflight(&f, &cfg, &[]);
    assert!(r.rooted_problems().contains(&("AdvertiseAddress".into(), "error".into(), false)), "{}", r.stdout);
    assert!(r.message("AdvertiseAddress").contains("192.0.2.123 is not configured on any interface of this host"));
}

#[test]
fn proxies_from_the_environment_are_flagged_unless_excluded() {
    let f = Fixture::healthy();
    let cfg = f.control_plane(&f.dead_socket(), free_port(), "  networking:\n    podSubnet: 10.244.0.0/16\n");
    let proxied = |no_proxy: &str| {
        let mut c = kubeboot();
        c.env("HTTPS_PROXY", "http://proxy.example:3128").env("NO_PROXY", no_proxy);
        c.arg("--root").arg(f.root()).args(["preflight", "--json", "--config"]).arg(&cfg);
        let r = run(c);
        r.rooted_problems().into_iter().filter(|(n, _, _)| n.starts_with("HTTPProxy")).collect::<Vec<_>>()
    };
    // The advertise address is loopback (never proxied); both cluster CIDRs would be.
    let w = |n: &str| (n.to_string(), "warning".to_string(), false);
    assert_eq!(proxied(""), vec![w("HTTPProxyCIDR"), w("HTTPProxyCIDR")]);
    assert_eq!(proxied("10.96.0.0/12"), vec![w("HTTPProxyCIDR")]);
    assert_eq!(proxied("10.96.0.0/12,10.244.0.0/16"), vec![]);

    // A non-loopback advertise address is proxied too (AdvertiseAddress then fails, which is fine here).
    let cfg = f.config(
        "control-plane",
        &format!("node:\n  name: node-1\n  advertiseAddress: 192.0.2.10\n  criSocket: unix://{}\n", f.dead_socket()),
    );
    let mut c = kubeboot();
    c.env("https_proxy", "proxy.example:3128").env("no_proxy", "10.96.0.0/12");
    c.arg("--root").arg(f.root()).args(["preflight", "--json", "--config"]).arg(&cfg);
    let r = run(c);
    assert!(
        r.message("HTTPProxy")
            .contains("Connection to \"https://192.0.2.10\" uses proxy \"http://proxy.example:3128\""),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unresolvable_node_name_is_a_warning() {
    let f = Fixture::healthy();
    let cfg = f.config(
        "control-plane",
        &format!(
            "node:\n  name: kubeboot-preflight-test.invalid\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\n  criSocket: unix://{}\n",
            free_port(),
            f.dead_socket()
        ),
    );
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(r.rooted_problems(), vec![("Hostname".to_string(), "warning".to_string(), false)], "{}", r.stdout);
    assert!(r.message("Hostname").starts_with("hostname \"kubeboot-preflight-test.invalid\" could not be reached"));
}
