//! `kubeboot certs renew` on a rendered control-plane root, checked with the real openssl:
//! every name renews with a new serial, key and notAfter (from the config's
//! certificateValidityPeriod) and the same subject, SANs and usages; the CAs are untouched and
//! still verify what was renewed; file modes are kept; a run with nothing due writes nothing;
//! bad input and an external CA change nothing; check-expiration shows what renew did.

mod render_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use render_common::*;

const ADVERTISE: &str = "192.168.56.10";
const NAMES: &[&str] = &[
    "apiserver",
    "apiserver-kubelet-client",
    "apiserver-etcd-client",
    "front-proxy-client",
    "etcd-server",
    "etcd-peer",
    "etcd-healthcheck-client",
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

fn rendered(algorithm: &str) -> Node {
    let node = Node::new(&config("v1.33.5", algorithm, ADVERTISE, ""));
    node.render();
    node
}

/// The certificate file and its key file for a name (a kubeconfig's are extracted to `scratch`).
fn cert_and_key(node: &Node, name: &str, scratch: &Path) -> (PathBuf, PathBuf) {
    if let Some(file) = name.strip_suffix(".conf") {
        let text = std::fs::read_to_string(node.path(&format!("/etc/kubernetes/{file}.conf"))).unwrap();
        let field = |key: &str| {
            let line = text.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
            let b64 = line.split_once(':').unwrap().1.trim();
            base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
        };
        let (crt, key) = (scratch.join(format!("{name}.crt")), scratch.join(format!("{name}.key")));
        std::fs::write(&crt, field("client-certificate-data:")).unwrap();
        std::fs::write(&key, field("client-key-data:")).unwrap();
        return (crt, key);
    }
    let base = match name {
        "etcd-server" => "etcd/server".to_string(),
        "etcd-peer" => "etcd/peer".to_string(),
        "etcd-healthcheck-client" => "etcd/healthcheck-client".to_string(),
        n => n.to_string(),
    };
    (node.pki(&format!("{base}.crt")), node.pki(&format!("{base}.key")))
}

fn ca_of(node: &Node, name: &str) -> PathBuf {
    match name {
        n if n.starts_with("etcd-") || n == "apiserver-etcd-client" => node.pki("etcd/ca.crt"),
        "front-proxy-client" => node.pki("front-proxy-ca.crt"),
        _ => node.pki("ca.crt"),
    }
}

/// What must not change (subject, SANs, usages, issuer) and what must (serial, notAfter, key).
#[derive(Debug, PartialEq)]
struct Fields {
    identity: String,
    serial: String,
    not_after: String,
    public_key: String,
}

fn fields(crt: &Path, key: &Path) -> Fields {
    let c = crt.to_str().unwrap();
    let identity = openssl(&[
        "x509",
        "-in",
        c,
        "-noout",
        "-subject",
        "-issuer",
        "-ext",
        "subjectAltName,extendedKeyUsage,keyUsage,basicConstraints",
        "-nameopt",
        "RFC2253",
    ]);
    let public_key = openssl(&["x509", "-in", c, "-noout", "-pubkey"]);
    let key_public = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    assert_eq!(public_key, key_public, "{c} does not belong to its key");
    Fields {
        identity,
        serial: openssl(&["x509", "-in", c, "-noout", "-serial"]),
        not_after: openssl(&["x509", "-in", c, "-noout", "-enddate"]),
        public_key,
    }
}

/// (bytes, mtime, inode) of every CA file.
fn cas(node: &Node) -> Vec<(Vec<u8>, i64, u64)> {
    ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key"]
        .iter()
        .map(|f| {
            let p = node.pki(f);
            let m = std::fs::metadata(&p).unwrap();
            (std::fs::read(&p).unwrap(), m.mtime_nsec() + m.mtime() * 1_000_000_000, m.ino())
        })
        .collect()
}

fn renew(node: &Node, args: &[&str]) -> std::process::Output {
    let mut all = vec!["certs", "renew"];
    all.extend_from_slice(args);
    node.run(&all)
}

#[test]
fn every_name_renews_in_place_keeping_identity_and_modes() {
    if !have("openssl") {
        return;
    }
    for algorithm in ["RSA-2048", "ECDSA-P256"] {
        let node = rendered(algorithm);
        let scratch = tempfile::tempdir().unwrap();
        let cas_before = cas(&node);
        // An operator's own mode on a certificate survives renewal.
        std::fs::set_permissions(node.pki("apiserver.crt"), std::fs::Permissions::from_mode(0o640)).unwrap();
        // Renewal takes the validity period from the config (here 4000h instead of a year).
        node.set_config(&config("v1.33.5", algorithm, ADVERTISE, "  certificateValidityPeriod: 4000h\n"));
        for name in NAMES {
            let before_dir = scratch.path().join("before");
            std::fs::create_dir_all(&before_dir).unwrap();
            let (crt, key) = cert_and_key(&node, name, &before_dir);
            let before = fields(&crt, &key);
            let modes_before = (mode(&crt), mode(&key));
            let out = renew(&node, &[name]);
            assert!(out.status.success(), "renew {name}:\n{}", text(&out));
            assert!(text(&out).contains(" renewed"), "{name}: {}", text(&out));
            let after_dir = scratch.path().join("after");
            std::fs::create_dir_all(&after_dir).unwrap();
            let (crt, key) = cert_and_key(&node, name, &after_dir);
            let after = fields(&crt, &key);
            assert_eq!(before.identity, after.identity, "{name} ({algorithm}): subject/SANs/usages changed");
            assert_ne!(before.serial, after.serial, "{name}: same serial");
            assert_ne!(before.not_after, after.not_after, "{name}: same notAfter");
            assert_ne!(before.public_key, after.public_key, "{name}: the key was not replaced");
            if !name.ends_with(".conf") {
                assert_eq!((mode(&crt), mode(&key)), modes_before, "{name}: modes changed");
            } else {
                let conf = node.path(&format!("/etc/kubernetes/{name}"));
                assert_eq!(mode(&conf), 0o600, "{name}");
            }
            // ~4000h from now: 166 days.
            let days =
                openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-checkend", &(165 * 86400).to_string()]);
            assert!(days.contains("will not expire"), "{name}: {days}");
            let out = std::process::Command::new("openssl")
                .args(["x509", "-in", crt.to_str().unwrap(), "-noout", "-checkend", &(167 * 86400).to_string()])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{name}: valid for more than 4000h");
            let verify = openssl(&["verify", "-CAfile", ca_of(&node, name).to_str().unwrap(), crt.to_str().unwrap()]);
            assert!(verify.trim().ends_with(": OK"), "{name}: {verify}");
        }
        assert_eq!(mode(&node.pki("apiserver.crt")), 0o640);
        assert_eq!(cas(&node), cas_before, "a CA file changed");
        // The renewed kubeconfig still works for a client: kubectl reads it (when installed).
        if have("kubectl") {
            let conf = node.path("/etc/kubernetes/admin.conf");
            let view =
                run_ok(std::process::Command::new("kubectl").arg("config").arg("view").arg("--kubeconfig").arg(&conf));
            assert!(
                view.contains("kubernetes-admin@kubernetes") && view.contains("https://lb.example.internal:6443"),
                "{view}"
            );
        }
        // No temp files left anywhere.
        for (path, ..) in snapshot(&node.root()) {
            assert!(!Path::new(&path).file_name().unwrap().to_string_lossy().starts_with('.'), "left behind: {path}");
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// (path, inode, mtime, bytes) of every file under /etc/kubernetes.
fn files(node: &Node) -> Vec<(String, u64, i64, Vec<u8>)> {
    let root = node.path("/etc/kubernetes");
    snapshot(&root)
        .into_iter()
        .map(|(rel, ..)| {
            let p = root.join(&rel);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let bytes = if m.is_file() { std::fs::read(&p).unwrap() } else { vec![] };
            (rel, m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec(), bytes)
        })
        .collect()
}

#[test]
fn nothing_due_writes_nothing_and_a_window_renews_everything_once() {
    let node = rendered("ECDSA-P256");
    let start = files(&node);
    let out = renew(&node, &["all", "--expiring-within", "720h"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing due within 720h"), "{}", text(&out));
    assert_eq!(files(&node), start, "a run with nothing due changed /etc/kubernetes");

    // A window longer than the remaining life renews all 11, then the same window is empty.
    let out = renew(&node, &["all", "--expiring-within", "9000h"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert_eq!(t.lines().filter(|l| l.ends_with(" renewed")).count(), 11, "{t}");
    let renewed = files(&node);
    assert_ne!(renewed, start);
    let out = renew(&node, &["all", "--expiring-within", "720h"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&node), renewed, "a second run with nothing due changed /etc/kubernetes");

    // The renewal status records what happened and the next expiry.
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path("/var/lib/kubeboot/cert-renewal.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "done", "{status}");
    assert!(status["nextExpiry"]["notAfter"].is_string(), "{status}");
}

#[test]
fn dry_run_lists_and_writes_nothing() {
    let node = rendered("ECDSA-P256");
    let start = files(&node);
    let out = node.run(&["certs", "renew", "all", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("would be renewed").count(), 11, "{}", text(&out));
    assert_eq!(files(&node), start);
    assert!(!node.path("/var/lib/kubeboot/cert-renewal.json").exists());
}

#[test]
fn bad_input_and_external_ca_change_nothing() {
    let node = rendered("ECDSA-P256");
    let start = files(&node);
    for args in [
        vec!["apiserver", "no-such-cert"],
        vec!["kubelet.conf"],
        vec!["all", "--expiring-within", "soon"],
        vec!["all", "apiserver"],
    ] {
        let out = renew(&node, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("error:"), "{}", text(&out));
        assert_eq!(files(&node), start, "{args:?} changed files");
    }
    let t = text(&renew(&node, &["bogus"]));
    assert!(t.contains("bogus is not a valid certificate for this cluster") && t.contains("admin.conf"), "{t}");

    // External CA mode: ca.key gone. kubeadm's message, nothing renewed, nothing written.
    std::fs::rename(node.pki("ca.key"), node.dir.path().join("ca.key")).unwrap();
    let start = files(&node);
    let out = renew(&node, &["apiserver", "admin.conf", "front-proxy-client"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("Detected external ca, certificate for serving the Kubernetes API can't be renewed"), "{t}");
    assert!(t.contains("Detected external ca, certificate embedded in the kubeconfig file for the admin"), "{t}");
    assert!(t.contains("certificate for the front proxy client renewed"), "{t}");
    let after = files(&node);
    let changed: Vec<&str> =
        after.iter().zip(&start).filter(|(a, b)| a != b && !a.3.is_empty()).map(|(a, _)| a.0.as_str()).collect();
    assert_eq!(changed, ["pki/front-proxy-client.crt", "pki/front-proxy-client.key"]);
}

#[test]
fn check_expiration_agrees_with_renew() {
    let node = rendered("ECDSA-P256");
    node.set_config(&config("v1.33.5", "ECDSA-P256", ADVERTISE, "  certificateValidityPeriod: 2390h\n"));
    assert!(renew(&node, &["apiserver", "scheduler.conf"]).status.success());
    let out = run_ok(kubeboot().args(["certs", "check-expiration", "--root"]).arg(node.root()));
    let row = |name: &str| out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_string();
    assert!(row("apiserver").contains(" 99d ") && row("apiserver").contains(" ca "), "{out}");
    assert!(row("scheduler.conf").contains(" 99d "), "{out}");
    assert!(row("admin.conf").contains(" 364d ") || row("admin.conf").contains(" 1y "), "{out}");
    assert!(row("etcd-peer").contains(" etcd-ca "), "{out}");
    // Every name check-expiration lists is one renew accepts.
    for line in out.lines().skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split_whitespace().next().unwrap();
        assert!(NAMES.contains(&name), "check-expiration lists {name}, which renew does not know");
    }
}
