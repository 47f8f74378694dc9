//! ExternalEtcdVersion against a real etcd (Debian's etcd-server, 3.4 — older than kubeadm
//! 1.31+ accepts), the external-etcd client files, and the Clock check.

mod preflight_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use preflight_support::*;

struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts etcd on free loopback ports; `tls` is (server cert, server key, client CA) files for
/// an https client URL with client-certificate authentication.
fn start_etcd(dir: &std::path::Path, tls: Option<[&std::path::Path; 3]>) -> Option<(Etcd, String, String)> {
    let Ok(out) = Command::new("etcd").arg("--version").output() else {
        eprintln!("SKIP: etcd is not installed (scripts/install-test-deps.sh installs it)");
        return None;
    };
    let version = String::from_utf8_lossy(&out.stdout).lines().next()?.rsplit(' ').next()?.to_string();
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("{}://127.0.0.1:{client}", if tls.is_some() { "https" } else { "http" });
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut cmd = Command::new("etcd");
    if let Some([cert, key, ca]) = tls {
        cmd.arg("--cert-file").arg(cert).arg("--key-file").arg(key).arg("--trusted-ca-file").arg(ca);
        cmd.arg("--client-cert-auth");
    }
    let child = cmd
        .arg("--data-dir")
        .arg(dir.join("etcd-data"))
        .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("default={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd");
    let etcd = Etcd(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
        assert!(Instant::now() < deadline, "etcd did not listen on {client_url}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((etcd, client_url, version))
}

#[test]
fn external_etcd_version_is_read_from_a_real_etcd() {
    let f = Fixture::healthy();
    let Some((_etcd, url, version)) = start_etcd(f.dir.path(), None) else { return };
    let cfg = f.control_plane(
        &f.dead_socket(),
        free_port(),
        &format!("  etcd:\n    external:\n      endpoints: [\"{url}\"]\n"),
    );
    let r = preflight(&f, &cfg, &[]);
    let msg = r.message("ExternalEtcdVersion");
    assert!(
        msg.contains(&format!(
            "only supports external etcd version >= 3.5.16-0 for Kubernetes v1.33.5. Current version: {version} ({url})"
        )),
        "etcd {version}: {}",
        r.stdout
    );
    // With external etcd, the local etcd checks are gone.
    assert!(!r.findings().iter().any(|(n, _, _)| n == "DirAvailable--var-lib-etcd"));

    // Unreachable endpoint: an error naming it.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cfg = f.control_plane(
        &f.dead_socket(),
        free_port(),
        &format!("  etcd:\n    external:\n      endpoints: [\"{dead}\"]\n"),
    );
    let r = preflight(&f, &cfg, &[]);
    assert!(
        r.message("ExternalEtcdVersion").starts_with(&format!("{dead}/version: Connection refused")),
        "{}",
        r.stdout
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in the root.
fn etcd_pki(f: &Fixture) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(vec![]).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "etcd-ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    f.write("/etc/etcd/ca.crt", &ca.pem());
    for (name, usage, sans) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth, vec!["127.0.0.1".to_string(), "localhost".to_string()]),
        ("client", ExtendedKeyUsagePurpose::ClientAuth, vec![]),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &ca).unwrap();
        f.write(&format!("/etc/etcd/{name}.crt"), &cert.pem());
        f.write(&format!("/etc/etcd/{name}.key"), &key.serialize_pem());
    }
}

#[test]
fn external_etcd_version_over_mutual_tls() {
    let f = Fixture::healthy();
    etcd_pki(&f);
    let files = [f.path("/etc/etcd/server.crt"), f.path("/etc/etcd/server.key"), f.path("/etc/etcd/ca.crt")];
    let Some((_etcd, url, version)) = start_etcd(f.dir.path(), Some([&files[0], &files[1], &files[2]])) else { return };
    let external = |key: &str| {
        format!(
            "  etcd:\n    external:\n      endpoints: [\"{url}\"]\n      caFile: /etc/etcd/ca.crt\n      certFile: /etc/etcd/client.crt\n      keyFile: /etc/etcd/{key}\n"
        )
    };
    // The client certificate is accepted: the version comes back (3.4 is too old for 1.33).
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), &external("client.key")), &[]);
    assert!(r.message("ExternalEtcdVersion").contains(&format!("Current version: {version} ({url})")), "{}", r.stdout);
    assert!(!r.findings().iter().any(|(n, _, _)| n == "ExternalEtcdClientCertificates"));

    // The wrong key for the client certificate: the pair does not load.
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), &external("server.key")), &[]);
    assert!(
        r.message("ExternalEtcdVersion").contains("couldn't load external etcd's certificate and key pair"),
        "{}",
        r.stdout
    );
}

#[test]
fn external_etcd_client_files_must_exist() {
    let f = Fixture::healthy();
    f.write("/etc/etcd/ca.crt", "present");
    let cfg = f.control_plane(
        &f.dead_socket(),
        free_port(),
        "  etcd:\n    external:\n      endpoints: [\"https://127.0.0.1:1\"]\n      caFile: /etc/etcd/ca.crt\n      certFile: /etc/etcd/client.crt\n      keyFile: /etc/etcd/client.key\n",
    );
    let r = preflight(&f, &cfg, &[]);
    let msg = r.message("ExternalEtcdClientCertificates");
    assert!(
        msg.contains("/etc/etcd/client.crt doesn't exist") && msg.contains("/etc/etcd/client.key doesn't exist"),
        "{msg}"
    );
    assert!(!msg.contains("ca.crt"), "{msg}");
}

#[test]
fn clock_is_checked_against_the_hardware_clock_and_a_supplied_ca() {
    let f = Fixture::healthy();
    // A hardware clock at 1970 next to a correct system clock.
    f.write("/sys/class/rtc/rtc0/since_epoch", "0\n");
    // A supplied CA that only becomes valid in 2090: nothing signed now would verify.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "kubernetes");
    params.not_before = rcgen::date_time_ymd(2090, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let indent = |pem: String| pem.lines().map(|l| format!("      {l}\n")).collect::<String>();
    let extra = format!("  ca:\n    cert: |\n{}    key: |\n{}", indent(cert.pem()), indent(key.serialize_pem()));
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), &extra), &[]);
    let clock: Vec<_> = r.rooted_problems().into_iter().filter(|(n, _, _)| n == "Clock").collect();
    assert_eq!(
        clock,
        vec![("Clock".into(), "error".into(), false), ("Clock".into(), "warning".into(), false)],
        "{}",
        r.stdout
    );
    let msg = r.message("Clock");
    assert!(msg.contains("outside the supplied CA's validity (2090-01-01T00:00:00Z to 2100-01-01T00:00:00Z)"), "{msg}");
    assert!(msg.contains("hardware clock (1970-01-01T00:00:00Z) differ by more than a day"), "{msg}");
}
