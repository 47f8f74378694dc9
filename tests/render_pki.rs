//! The PKI as openssl sees it: every certificate verifies against its CA and carries the
//! fields of kubeadm's certificate table. The expected values below are transcribed from
//! reference/kubeadm.md §2.1–§2.6, not from kubeboot's code.

mod render_common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use render_common::*;

const ADVERTISE: &str = "192.168.56.10";

struct Expect {
    file: &'static str,
    issuer: &'static str,
    subject: &'static str,
    eku: Option<&'static str>,
    san: Option<&'static str>,
}

const APISERVER_SAN: &str = "DNS:cp-1, DNS:cp-1.example.internal, DNS:kubernetes, DNS:kubernetes.default, \
    DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:lb.example.internal, \
    IP Address:10.96.0.1, IP Address:192.168.56.10, IP Address:192.168.56.100";
const ETCD_SAN: &str =
    "DNS:cp-1, DNS:localhost, IP Address:192.168.56.10, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1";

#[rustfmt::skip]
const TABLE: &[Expect] = &[
    Expect { file: "ca", issuer: "ca", subject: "CN = kubernetes", eku: None, san: Some("DNS:kubernetes") },
    Expect { file: "apiserver", issuer: "ca", subject: "CN = kube-apiserver", eku: Some("TLS Web Server Authentication"), san: Some(APISERVER_SAN) },
    Expect { file: "apiserver-kubelet-client", issuer: "ca", subject: "O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client", eku: Some("TLS Web Client Authentication"), san: None },
    Expect { file: "front-proxy-ca", issuer: "front-proxy-ca", subject: "CN = front-proxy-ca", eku: None, san: Some("DNS:front-proxy-ca") },
    Expect { file: "front-proxy-client", issuer: "front-proxy-ca", subject: "CN = front-proxy-client", eku: Some("TLS Web Client Authentication"), san: None },
    Expect { file: "etcd/ca", issuer: "etcd/ca", subject: "CN = etcd-ca", eku: None, san: Some("DNS:etcd-ca") },
    Expect { file: "etcd/server", issuer: "etcd/ca", subject: "CN = cp-1", eku: Some("TLS Web Server Authentication, TLS Web Client Authentication"), san: Some(ETCD_SAN) },
    Expect { file: "etcd/peer", issuer: "etcd/ca", subject: "CN = cp-1", eku: Some("TLS Web Server Authentication, TLS Web Client Authentication"), san: Some(ETCD_SAN) },
    Expect { file: "etcd/healthcheck-client", issuer: "etcd/ca", subject: "CN = kube-etcd-healthcheck-client", eku: Some("TLS Web Client Authentication"), san: None },
    Expect { file: "apiserver-etcd-client", issuer: "etcd/ca", subject: "CN = kube-apiserver-etcd-client", eku: Some("TLS Web Client Authentication"), san: None },
];

/// The value line under an extension header in `openssl x509 -text`, and whether it is critical.
fn ext(text: &str, header: &str) -> Option<(String, bool)> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with(header) {
            return Some((lines.next().unwrap_or_default().trim().to_string(), l.contains("critical")));
        }
    }
    None
}

fn epoch(openssl_date: &str) -> i64 {
    run_ok(Command::new("date").args(["-u", "-d", openssl_date, "+%s"])).trim().parse().unwrap()
}

fn check_pki(algorithm: &str, version: &str, key_header: &str, sig: &str) {
    if !have("openssl") {
        return;
    }
    let node = Node::new(&config(version, algorithm, ADVERTISE, ""));
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // The render's clock lies between these two readings (RSA keygen on a loaded machine can take
    // several seconds, so a fixed tolerance around `started` alone is flaky).
    let started = now();
    node.render();
    let finished = now();
    let within = |value: i64, offset: i64| (started + offset - 1..=finished + offset + 1).contains(&value);
    for e in TABLE {
        let crt = node.pki(&format!("{}.crt", e.file));
        let ca = node.pki(&format!("{}.crt", e.issuer));
        let (crt, ca) = (crt.to_str().unwrap(), ca.to_str().unwrap());
        let verified = openssl(&["verify", "-CAfile", ca, crt]);
        assert_eq!(verified.trim(), format!("{crt}: OK"), "{}", e.file);

        let text = openssl(&["x509", "-in", crt, "-noout", "-text"]);
        let subject = openssl(&["x509", "-in", crt, "-noout", "-subject"]);
        assert_eq!(subject.trim(), format!("subject={}", e.subject), "{}", e.file);
        let is_ca = e.file == e.issuer;
        let (bc, bc_critical) = ext(&text, "X509v3 Basic Constraints").expect("BasicConstraints");
        assert_eq!(bc, if is_ca { "CA:TRUE" } else { "CA:FALSE" }, "{}", e.file);
        assert!(bc_critical, "{}: BasicConstraints must be critical", e.file);
        let (ku, ku_critical) = ext(&text, "X509v3 Key Usage").expect("KeyUsage");
        let want_ku = if is_ca {
            "Digital Signature, Key Encipherment, Certificate Sign"
        } else {
            "Digital Signature, Key Encipherment"
        };
        assert_eq!(ku, want_ku, "{}", e.file);
        assert!(ku_critical, "{}: KeyUsage must be critical", e.file);
        assert_eq!(ext(&text, "X509v3 Extended Key Usage").map(|x| x.0).as_deref(), e.eku, "{}", e.file);
        assert_eq!(ext(&text, "X509v3 Subject Alternative Name").map(|x| x.0).as_deref(), e.san, "{}", e.file);
        // Go: CAs get an SKI and no AKI; leaves get an AKI naming the CA's SKI.
        let ski = ext(&text, "X509v3 Subject Key Identifier");
        let aki = ext(&text, "X509v3 Authority Key Identifier");
        if is_ca {
            assert!(ski.is_some() && aki.is_none(), "{}: CA key identifiers", e.file);
        } else {
            let ca_text = openssl(&["x509", "-in", ca, "-noout", "-text"]);
            let ca_ski = ext(&ca_text, "X509v3 Subject Key Identifier").unwrap().0;
            assert_eq!(aki.map(|a| a.0.trim_start_matches("keyid:").to_string()), Some(ca_ski), "{}", e.file);
        }
        assert!(text.contains(&format!("Signature Algorithm: {sig}")), "{}: {sig}", e.file);

        // Serial: a positive 63-bit integer.
        let serial = openssl(&["x509", "-in", crt, "-noout", "-serial"]);
        let serial = u64::from_str_radix(serial.trim().trim_start_matches("serial="), 16).unwrap();
        assert!((1..(1u64 << 63)).contains(&serial), "{}: serial {serial}", e.file);

        // Validity: notBefore = start − 5 min; leaves 1 year, CAs 10 years.
        let start = openssl(&["x509", "-in", crt, "-noout", "-startdate"]);
        let end = openssl(&["x509", "-in", crt, "-noout", "-enddate"]);
        let not_before = epoch(start.trim().trim_start_matches("notBefore="));
        let not_after = epoch(end.trim().trim_start_matches("notAfter="));
        assert!(within(not_before, -300), "{}: notBefore {not_before} vs render {started}..{finished}", e.file);
        let days = if is_ca { 3650 } else { 365 };
        assert!(within(not_after, days * 86400), "{}: notAfter {not_after}", e.file);

        let key = node.pki(&format!("{}.key", e.file));
        let key_text = std::fs::read_to_string(&key).unwrap();
        assert!(key_text.starts_with(key_header), "{}: key PEM starts {:?}", e.file, &key_text[..40]);
        // The key belongs to the certificate.
        let cert_pub = openssl(&["x509", "-in", crt, "-noout", "-pubkey"]);
        let key_pub = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        assert_eq!(cert_pub, key_pub, "{}", e.file);
    }
    // sa.key / sa.pub: same key format, PKIX public key matching the private one.
    let sa_key = node.pki("sa.key");
    assert!(std::fs::read_to_string(&sa_key).unwrap().starts_with(key_header));
    let sa_pub = std::fs::read_to_string(node.pki("sa.pub")).unwrap();
    assert!(sa_pub.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(openssl(&["pkey", "-in", sa_key.to_str().unwrap(), "-pubout"]), sa_pub);
}

#[test]
fn openssl_verifies_rsa_2048_pki_with_reference_fields() {
    check_pki("RSA-2048", "v1.33.5", "-----BEGIN RSA PRIVATE KEY-----\n", "sha256WithRSAEncryption");
    // PKCS#1 RSA of 2048 bits, as kubeadm writes it.
}

#[test]
fn openssl_verifies_ecdsa_p256_pki_with_reference_fields() {
    check_pki("ECDSA-P256", "v1.34.1", "-----BEGIN EC PRIVATE KEY-----\n", "ecdsa-with-SHA256");
}

#[test]
fn key_files_are_kubeadm_formats_and_sizes() {
    if !have("openssl") {
        return;
    }
    for (alg, version, check) in [
        ("RSA-3072", "v1.33.5", "Private-Key: (3072 bit, 2 primes)"),
        ("ECDSA-P256", "v1.33.5", "ASN1 OID: prime256v1"),
        ("ECDSA-P384", "v1.34.1", "ASN1 OID: secp384r1"),
    ] {
        let node = Node::new(&config(version, alg, ADVERTISE, ""));
        assert!(node.run(&["init", "phase", "certs", "ca"]).status.success());
        let key = node.pki("ca.key");
        let text = if alg.starts_with("RSA") {
            openssl(&["rsa", "-in", key.to_str().unwrap(), "-check", "-text", "-noout"])
        } else {
            // SEC1 with named-curve parameters: openssl prints the curve from the key itself.
            openssl(&["ec", "-in", key.to_str().unwrap(), "-text", "-noout"])
        };
        assert!(text.contains(check), "{alg}: {check} not in\n{}", &text[..200.min(text.len())]);
    }
}

#[test]
fn ca_hash_equals_the_openssl_pipeline() {
    if !have("openssl") || !have("sha256sum") {
        return;
    }
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    assert!(node.run(&["init", "phase", "certs", "ca"]).status.success());
    let ca = node.pki("ca.crt");
    let pipeline =
        format!("openssl x509 -pubkey -in {} | openssl pkey -pubin -outform der | sha256sum", ca.to_str().unwrap());
    let want = run_ok(Command::new("sh").args(["-c", &pipeline]));
    let want = format!("sha256:{}", want.split_whitespace().next().unwrap());
    let got = run_ok(kubeboot().args(["certs", "ca-hash", "--root"]).arg(node.root()));
    assert_eq!(got.trim(), want);
}

#[test]
fn every_file_has_kubeadms_mode() {
    let node = Node::new(&config("v1.34.1", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    let mut modes: Vec<(String, u32)> = snapshot(&node.root())
        .into_iter()
        .map(|(p, mode, ..)| (p, mode))
        .filter(|(p, _)| p != "etc/hostname")
        .collect();
    modes.sort();
    let mut want: Vec<(String, u32)> = [
        ("etc", 0o755),
        ("etc/kubernetes", 0o755),
        ("etc/kubernetes/admin.conf", 0o600),
        ("etc/kubernetes/controller-manager.conf", 0o600),
        ("etc/kubernetes/kubelet.conf", 0o600),
        ("etc/kubernetes/manifests", 0o700),
        ("etc/kubernetes/manifests/etcd.yaml", 0o600),
        ("etc/kubernetes/manifests/kube-apiserver.yaml", 0o600),
        ("etc/kubernetes/manifests/kube-controller-manager.yaml", 0o600),
        ("etc/kubernetes/manifests/kube-scheduler.yaml", 0o600),
        ("etc/kubernetes/pki", 0o755),
        ("etc/kubernetes/pki/etcd", 0o755),
        ("etc/kubernetes/pki/sa.key", 0o600),
        ("etc/kubernetes/pki/sa.pub", 0o600),
        ("etc/kubernetes/scheduler.conf", 0o600),
        ("etc/kubernetes/super-admin.conf", 0o600),
        ("etc/systemd", 0o755),
        ("etc/systemd/system", 0o755),
        ("etc/systemd/system/kubelet.service.d", 0o755),
        ("etc/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644),
        ("var", 0o755),
        ("var/lib", 0o755),
        ("var/lib/etcd", 0o700),
        ("var/lib/kubelet", 0o700),
        ("var/lib/kubelet/config.yaml", 0o644),
        ("var/lib/kubelet/instance-config.yaml", 0o644),
        ("var/lib/kubelet/kubeadm-flags.env", 0o644),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), *m))
    .collect();
    for e in TABLE {
        want.push((format!("etc/kubernetes/pki/{}.crt", e.file), 0o644));
        want.push((format!("etc/kubernetes/pki/{}.key", e.file), 0o600));
    }
    want.sort();
    let fmt = |v: &[(String, u32)]| v.iter().map(|(p, m)| format!("{m:04o} {p}\n")).collect::<String>();
    assert_eq!(fmt(&modes), fmt(&want));
}

#[test]
fn second_run_writes_nothing() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    let before = snapshot(&node.root());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = node.render();
    assert!(!text(&out).contains("wrote "), "second run wrote files:\n{}", text(&out));
    assert_eq!(snapshot(&node.root()), before, "bytes, modes or mtimes changed");
}

#[test]
fn a_bare_relative_root_is_taken_from_the_current_directory() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    let out = kubeboot()
        .current_dir(node.dir.path())
        .args(["render", "--config"])
        .arg(&node.config)
        .args(["--root", "node-root"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(node.dir.path().join("node-root/etc/kubernetes/pki/ca.key").is_file());
}

#[test]
fn a_key_left_group_readable_is_tightened_without_changing_it() {
    // reliability.md PF-02: an existing valid key with mode 0644 is reused, never left 0644 —
    // a CA's, a leaf's and the service-account pair.
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    let keys = ["ca.key", "apiserver.key", "sa.key", "sa.pub"].map(|k| node.pki(k));
    let before: Vec<Vec<u8>> = keys.iter().map(|k| std::fs::read(k).unwrap()).collect();
    for key in &keys {
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = node.render();
    assert!(out.status.success(), "{}", text(&out));
    for (key, bytes) in keys.iter().zip(&before) {
        assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600, "{}", key.display());
        assert_eq!(&std::fs::read(key).unwrap(), bytes, "{} was regenerated", key.display());
    }
}

#[test]
fn dry_run_writes_nothing_and_lists_every_file() {
    let node = Node::new(&config("v1.34.1", "ECDSA-P256", ADVERTISE, ""));
    let before = snapshot(&node.root());
    let out = kubeboot()
        .args(["--dry-run", "render", "--config"])
        .arg(&node.config)
        .arg("--root")
        .arg(node.root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(snapshot(&node.root()), before, "dry run touched the root");
    let listing = text(&out);
    for (path, mode) in [
        ("/etc/kubernetes/pki/ca.key", "0600"),
        ("/etc/kubernetes/pki/etcd/peer.crt", "0644"),
        ("/etc/kubernetes/super-admin.conf", "0600"),
        ("/etc/kubernetes/manifests/kube-apiserver.yaml", "0600"),
        ("/var/lib/kubelet/instance-config.yaml", "0644"),
    ] {
        assert!(listing.contains(&format!("would write {path} (mode {mode}")), "{path} not listed:\n{listing}");
    }
    assert_eq!(listing.matches("would write ").count(), 20 + 2 + 5 + 4 + 4, "{listing}");
    assert!(!listing.contains("PRIVATE KEY"), "dry run printed key material");
}

#[test]
fn a_planted_symlink_is_refused_and_not_followed() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    let victim = node.dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::create_dir_all(node.path("/etc/kubernetes/manifests")).unwrap();
    std::os::unix::fs::symlink(&victim, node.path("/etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    let out = node.run(&["render"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("symlink"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

#[test]
fn an_existing_certificate_that_does_not_match_is_an_error_naming_it() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    // A new certSAN: apiserver.crt no longer matches.
    node.set_config(&config("v1.33.5", "ECDSA-P256", ADVERTISE, "").replace("- 192.168.56.100", "- 192.168.56.200"));
    let out = node.run(&["init", "phase", "certs", "apiserver"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("/etc/kubernetes/pki/apiserver.crt") && msg.contains("192.168.56.200"), "{msg}");

    // A certificate signed by another CA.
    let other = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    other.render();
    for f in ["front-proxy-client.crt", "front-proxy-client.key"] {
        std::fs::copy(other.pki(f), node.pki(f)).unwrap();
    }
    let out = node.run(&["init", "phase", "certs", "front-proxy-client"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("front-proxy-client.crt is not signed by the CA in front-proxy-ca.crt"), "{msg}");
}

#[test]
fn external_ca_mode_uses_existing_leaves_and_blanks_signing_flags() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    std::fs::remove_file(node.pki("ca.key")).unwrap();
    std::fs::remove_file(node.path("/etc/kubernetes/manifests/kube-controller-manager.yaml")).unwrap();
    let out = node.render();
    assert!(text(&out).contains("Using existing ca keyless certificate authority"), "{}", text(&out));
    let kcm = std::fs::read_to_string(node.path("/etc/kubernetes/manifests/kube-controller-manager.yaml")).unwrap();
    assert!(
        kcm.contains("- --cluster-signing-cert-file=\n") && kcm.contains("- --cluster-signing-key-file=\n"),
        "{kcm}"
    );

    std::fs::remove_file(node.pki("apiserver.crt")).unwrap();
    std::fs::remove_file(node.pki("apiserver.key")).unwrap();
    let out = node.run(&["render"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("external CA mode"), "{}", text(&out));
    assert!(!node.pki("apiserver.crt").exists());
}

#[test]
fn a_ca_supplied_in_the_config_signs_the_cluster() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, crt) = (dir.path().join("ca.key"), dir.path().join("ca.crt"));
    // An operator's CA made with openssl: RSA key in PKCS#8, as `openssl req` writes it.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=corp-kubernetes-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,digitalSignature",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        crt.to_str().unwrap(),
    ]);
    let indent = |s: String| s.lines().map(|l| format!("      {l}\n")).collect::<String>();
    let extra = format!(
        "  ca:\n    cert: |\n{}    key: |\n{}",
        indent(std::fs::read_to_string(&crt).unwrap()),
        indent(std::fs::read_to_string(&key).unwrap())
    );
    let node = Node::new(&config("v1.33.5", "RSA-2048", ADVERTISE, &extra));
    node.render();
    assert_eq!(
        openssl(&["x509", "-in", node.pki("ca.crt").to_str().unwrap(), "-noout", "-fingerprint"]),
        openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-fingerprint"])
    );
    let verified = openssl(&["verify", "-CAfile", crt.to_str().unwrap(), node.pki("apiserver.crt").to_str().unwrap()]);
    assert!(verified.trim().ends_with(": OK"));
    let mode = std::fs::metadata(node.pki("ca.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn check_expiration_lists_every_certificate() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    node.render();
    let out = run_ok(kubeboot().args(["certs", "check-expiration", "--root"]).arg(node.root()));
    for name in [
        "admin.conf",
        "super-admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "apiserver ",
        "apiserver-etcd-client",
        "apiserver-kubelet-client",
        "etcd-healthcheck-client",
        "etcd-peer",
        "etcd-server",
        "front-proxy-client",
    ] {
        let line = out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing:\n{out}"));
        // One year less the seconds since issue; exactly a year shows as `1y`, as in kubeadm.
        assert!((line.contains(" 364d ") || line.contains(" 1y ")) && line.ends_with(" no"), "{line}");
    }
    for ca in ["ca ", "front-proxy-ca", "etcd-ca"] {
        let line = out.lines().find(|l| l.starts_with(ca)).unwrap_or_else(|| panic!("{ca} missing:\n{out}"));
        assert!(line.contains(" 9y ") || line.contains(" 10y "), "{line}");
    }
}

#[test]
fn init_with_later_phases_skipped_writes_the_kubeadm_file_set_phase_by_phase() {
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    let skip = "preflight,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,\
                bootstrap-token,kubelet-finalize,addon";
    let out = node.run(&["init", "--skip-phases", skip]);
    assert!(out.status.success(), "{}", text(&out));
    for phase in ["certs", "kubeconfig", "etcd", "control-plane"] {
        assert!(text(&out).contains(&format!("[{phase}] done in ")), "no duration line for {phase}");
    }
    let files: Vec<String> =
        snapshot(&node.root()).into_iter().filter(|f| f.2 > 0 || f.1 & 0o111 == 0).map(|f| f.0).collect();
    for f in [
        "etc/kubernetes/admin.conf",
        "etc/kubernetes/super-admin.conf",
        "etc/kubernetes/kubelet.conf",
        "etc/kubernetes/controller-manager.conf",
        "etc/kubernetes/scheduler.conf",
        "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        "etc/kubernetes/pki/sa.pub",
        "etc/kubernetes/pki/etcd/peer.key",
    ] {
        assert!(files.iter().any(|p| p == f), "{f} missing");
    }
    assert!(!node.path("/var/lib/kubelet/config.yaml").exists(), "kubelet-start was skipped");
}

#[test]
fn phases_run_one_at_a_time_in_kubeadms_order() {
    let node = Node::new(&config("v1.34.1", "ECDSA-P256", ADVERTISE, ""));
    // A leaf before its CA is a clear error.
    let out = node.run(&["init", "phase", "certs", "apiserver"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("run `kubeboot init phase certs ca` first"), "{}", text(&out));
    for (phase, sub) in [("certs", "all"), ("kubeconfig", "admin"), ("kubeconfig", "all"), ("etcd", "local")] {
        let out = node.run(&["init", "phase", phase, sub]);
        assert!(out.status.success(), "{phase} {sub}: {}", text(&out));
    }
    let out = node.run(&["init", "phase", "control-plane", "scheduler"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(node.path("/etc/kubernetes/manifests/kube-scheduler.yaml").exists());
    assert!(!node.path("/etc/kubernetes/manifests/kube-apiserver.yaml").exists());
}

#[test]
fn certificate_key_is_64_random_hex_characters() {
    let a = run_ok(kubeboot().args(["certs", "certificate-key"]));
    let b = run_ok(kubeboot().args(["certs", "certificate-key"]));
    for k in [&a, &b] {
        let k = k.trim();
        assert!(k.len() == 64 && k.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{k}");
    }
    assert_ne!(a, b);
}
