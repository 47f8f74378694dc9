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
            let conf_path = node.path(&format!("/etc/kubernetes/{name}"));
            let conf_before = std::fs::read_to_string(&conf_path).unwrap_or_default();
            let out = renew(&node, &[name]);
            assert!(out.status.success(), "renew {name}:\n{}", text(&out));
            assert!(text(&out).contains(" renewed"), "{name}: {}", text(&out));
            assert!(!text(&out).contains("rotateCertificates"), "kubeadm's kubelet config rotates: {}", text(&out));
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
                assert_eq!(mode(&conf_path), 0o600, "{name}");
                // Everything but the embedded client certificate and key is kept, line for line.
                let conf_after = std::fs::read_to_string(&conf_path).unwrap();
                let changed: Vec<&str> = conf_before
                    .lines()
                    .zip(conf_after.lines())
                    .filter(|(a, b)| a != b)
                    .map(|(a, _)| a.trim_start().split(':').next().unwrap())
                    .collect();
                assert_eq!(conf_before.lines().count(), conf_after.lines().count(), "{name}");
                assert_eq!(changed, ["client-certificate-data", "client-key-data"], "{name}");
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
    let state = snapshot(&node.path("/var/lib/kubeboot"));
    let out = renew(&node, &["all", "--expiring-within", "720h"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&node), renewed, "a second run with nothing due changed /etc/kubernetes");
    assert_eq!(snapshot(&node.path("/var/lib/kubeboot")), state, "a run with nothing due rewrote its status");

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
    // Another kubeboot holds the node (first boot, the timer): busy, exit 75, nothing written.
    if have("flock") {
        // The host lock is a flock on the root directory itself.
        let lock = node.path("/");
        let mut holder =
            std::process::Command::new("flock").arg("--no-fork").arg(&lock).args(["sleep", "10"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = renew(&node, &["all"]);
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert_eq!(out.status.code(), Some(75), "{}", text(&out));
        assert_eq!(files(&node), start);
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
    // The kubelet renews its own client certificate only with rotateCertificates: true.
    let kubelet = node.path("/var/lib/kubelet/config.yaml");
    let kubelet_config = std::fs::read_to_string(&kubelet).unwrap();
    assert!(kubelet_config.contains("rotateCertificates: true"));
    std::fs::write(&kubelet, kubelet_config.replace("rotateCertificates: true", "rotateCertificates: false")).unwrap();
    let out = renew(&node, &["apiserver", "scheduler.conf"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("does not set rotateCertificates: true"), "{}", text(&out));
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

/// A rendered node made to look provisioned by `kubeboot run`: /etc/machine-id, and the
/// instance's finished journal with its kept user-data (`user_data`).
fn provisioned(user_data: &str) -> Node {
    let node = rendered("ECDSA-P256");
    let id = "renew-test-1";
    std::fs::write(node.path("/etc/machine-id"), format!("{id}\n")).unwrap();
    let dir = node.path(&format!("/var/lib/kubeboot/instances/{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("user-data"), user_data).unwrap();
    std::fs::write(&node.config, user_data).unwrap();
    let sha = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user_data.as_bytes());
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let journal = serde_json::json!({
        "instanceId": id, "userDataSha256": sha, "origin": "test", "createdAt": "2026-01-01T00:00:00Z",
        "doneAt": "2026-01-01T00:01:00Z", "runs": 1, "phases": []
    });
    std::fs::write(dir.join("journal.json"), journal.to_string()).unwrap();
    node
}

fn boot(node: &Node) -> std::process::Output {
    kubeboot().args(["run", "--user-data"]).arg(&node.config).arg("--root").arg(node.root()).output().unwrap()
}

#[test]
fn boot_renews_what_is_due_then_is_a_no_op_and_a_failure_is_loud() {
    // The certificates were issued for 8760h; this node's config renews 8770h before expiry,
    // so all of them are due at the first boot after provisioning (a node that was off through
    // the renewal window), and none once renewed for 9000h.
    let user_data = config(
        "v1.33.5",
        "ECDSA-P256",
        ADVERTISE,
        "  certificateValidityPeriod: 9000h\ncertificateRenewal:\n  before: 8770h\n",
    );
    let node = provisioned(&user_data);
    let out = boot(&node);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(t.lines().filter(|l| l.ends_with(" renewed")).count(), 11, "{t}");
    assert!(t.contains("no container runtime to restart etcd, kube-apiserver"), "{t}");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path("/run/kubeboot/status.json")).unwrap()).unwrap();
    let renewal = &status["certificateRenewal"];
    assert_eq!(renewal["state"], "done", "{status}");
    assert_eq!(renewal["trigger"], "boot");
    assert_eq!(renewal["renewed"].as_array().unwrap().len(), 11, "{renewal}");
    assert!(renewal["nextExpiry"]["notAfter"].as_str().unwrap().starts_with("2027-12-1"), "{renewal}");
    let st = kubeboot().args(["status", "--json", "--root"]).arg(node.root()).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(doc["certificateRenewal"]["renewed"], renewal["renewed"]);
    let st = kubeboot().args(["status", "--root"]).arg(node.root()).output().unwrap();
    let st = String::from_utf8_lossy(&st.stdout);
    assert!(st.contains("certificate renewal: done at") && st.contains("renewed admin.conf, apiserver"), "{st}");
    assert!(st.contains("next certificate expiry: 2027-12-1"), "{st}");

    // The next boot: nothing due; nothing under /etc/kubernetes or /var/lib/kubeboot changes.
    let etc = files(&node);
    let state = snapshot(&node.path("/var/lib/kubeboot"));
    let start = std::time::Instant::now();
    let out = boot(&node);
    let took = start.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no certificate due for renewal; next expiry"), "{}", text(&out));
    assert_eq!(files(&node), etc);
    assert_eq!(snapshot(&node.path("/var/lib/kubeboot")), state);
    eprintln!("boot with nothing due: {} ms (whole process)", took.as_millis());

    // A renewal that cannot work (the CA key is damaged) fails loudly and changes no certificate.
    let user_data = config(
        "v1.33.5",
        "ECDSA-P256",
        ADVERTISE,
        "  certificateValidityPeriod: 9000h\ncertificateRenewal:\n  before: 8770h\n",
    );
    let node = provisioned(&user_data);
    let good_key = std::fs::read(node.pki("ca.key")).unwrap();
    std::fs::write(node.pki("ca.key"), "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").unwrap();
    let etc = files(&node);
    let out = boot(&node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CERTIFICATE RENEWAL FAILED"), "{}", text(&out));
    assert!(node.path("/run/kubeboot/cert-renewal-failed").exists());
    assert_eq!(files(&node), etc, "a failed renewal changed files");
    let renewal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path("/var/lib/kubeboot/cert-renewal.json")).unwrap()).unwrap();
    assert_eq!(renewal["state"], "failed", "{renewal}");
    assert!(renewal["error"].as_str().unwrap().contains("ca.key"), "{renewal}");
    // Repaired: the next boot renews, and the failure marks are cleared.
    std::fs::write(node.pki("ca.key"), good_key).unwrap();
    let out = boot(&node);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!node.path("/run/kubeboot/cert-renewal-failed").exists());
    let renewal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path("/var/lib/kubeboot/cert-renewal.json")).unwrap()).unwrap();
    assert_eq!(renewal["state"], "done", "{renewal}");

    // Turned off: nothing renewed even though everything is due.
    let user_data =
        config("v1.33.5", "ECDSA-P256", ADVERTISE, "certificateRenewal:\n  enabled: false\n  before: 8770h\n");
    let node = provisioned(&user_data);
    let etc = files(&node);
    let out = boot(&node);
    assert!(out.status.success() && text(&out).contains("automatic renewal is disabled"), "{}", text(&out));
    assert_eq!(files(&node), etc);
}

#[test]
fn kubeconfig_user_is_signed_by_the_cluster_ca_for_the_endpoint() {
    if !have("openssl") {
        return;
    }
    let node = rendered("ECDSA-P256");
    let start = files(&node);
    let out = node.run(&[
        "kubeconfig",
        "user",
        "--client-name",
        "alice",
        "--org",
        "devs",
        "--org",
        "ops",
        "--validity-period",
        "48h",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&node), start, "kubeconfig user wrote to the node");
    let scratch = tempfile::tempdir().unwrap();
    let conf = scratch.path().join("alice.conf");
    std::fs::write(&conf, &out.stdout).unwrap();
    let text_conf = String::from_utf8(out.stdout.clone()).unwrap();
    let field = |key: &str| {
        let line = text_conf.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
        base64::engine::general_purpose::STANDARD.decode(line.split_once(':').unwrap().1.trim()).unwrap()
    };
    let crt = scratch.path().join("alice.crt");
    let key = scratch.path().join("alice.key");
    std::fs::write(&crt, field("client-certificate-data:")).unwrap();
    std::fs::write(&key, field("client-key-data:")).unwrap();
    let c = crt.to_str().unwrap();
    let verify = openssl(&["verify", "-CAfile", node.pki("ca.crt").to_str().unwrap(), c]);
    assert!(verify.trim().ends_with(": OK"), "{verify}");
    let subject = openssl(&["x509", "-in", c, "-noout", "-subject", "-ext", "extendedKeyUsage", "-nameopt", "RFC2253"]);
    assert!(subject.contains("CN=alice") && subject.contains("O=devs") && subject.contains("O=ops"), "{subject}");
    assert!(subject.contains("TLS Web Client Authentication") && !subject.contains("Server"), "{subject}");
    assert!(openssl(&["x509", "-in", c, "-noout", "-checkend", &(47 * 3600).to_string()]).contains("will not expire"));
    let later = std::process::Command::new("openssl")
        .args(["x509", "-in", c, "-noout", "-checkend", &(49 * 3600).to_string()])
        .output()
        .unwrap();
    assert!(!later.status.success(), "valid for more than 48h");
    assert_eq!(
        openssl(&["x509", "-in", c, "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"])
    );
    if have("kubectl") {
        let view = run_ok(std::process::Command::new("kubectl").args(["config", "view", "--kubeconfig"]).arg(&conf));
        assert!(
            view.contains("current-context: alice@kubernetes")
                && view.contains("server: https://lb.example.internal:6443"),
            "{view}"
        );
    }
    // Bad input: nothing printed on stdout, exit 2.
    for args in [
        vec!["kubeconfig", "user", "--client-name", "bob", "--validity-period", "0s"],
        vec!["kubeconfig", "user", "--client-name", "bob", "--validity-period", "soon"],
        vec!["kubeconfig", "user", "--client-name", ""],
        vec!["kubeconfig", "user", "--client-name", "bob", "--org", "a", "--org", "b", "--org", "c"],
    ] {
        let out = node.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn generate_csr_writes_a_key_and_csr_for_every_certificate_and_kubeconfig() {
    if !have("openssl") {
        return;
    }
    let node = Node::new(&config("v1.33.5", "ECDSA-P256", ADVERTISE, ""));
    let out = node.run(&["certs", "generate-csr"]);
    assert!(out.status.success(), "{}", text(&out));
    let leaves = [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ];
    let check = |csr: &Path, key: &Path| -> String {
        let (c, k) = (csr.to_str().unwrap(), key.to_str().unwrap());
        let verified =
            std::process::Command::new("openssl").args(["req", "-in", c, "-noout", "-verify"]).output().unwrap();
        assert!(verified.status.success(), "{c}: {}", text(&verified));
        assert_eq!(mode(csr), 0o600, "{c}");
        assert_eq!(openssl(&["req", "-in", c, "-noout", "-pubkey"]), openssl(&["pkey", "-in", k, "-pubout"]), "{c}");
        openssl(&["req", "-in", c, "-noout", "-subject", "-text", "-nameopt", "RFC2253"])
    };
    for base in leaves {
        let (csr, key) = (node.pki(&format!("{base}.csr")), node.pki(&format!("{base}.key")));
        assert_eq!(mode(&key), 0o600, "{base}");
        let text = check(&csr, &key);
        if base == "apiserver" {
            assert!(
                text.contains("CN=kube-apiserver") && text.contains("DNS:kubernetes.default.svc.cluster.local"),
                "{text}"
            );
            assert!(text.contains("IP Address:10.96.0.1") && text.contains("IP Address:192.168.56.10"), "{text}");
        }
        if base == "apiserver-kubelet-client" {
            assert!(text.contains("O=kubeadm:cluster-admins"), "{text}");
        }
    }
    for (file, cn) in [
        ("admin.conf", "kubernetes-admin"),
        ("super-admin.conf", "kubernetes-super-admin"),
        ("kubelet.conf", "system:node:cp-1"),
        ("controller-manager.conf", "system:kube-controller-manager"),
        ("scheduler.conf", "system:kube-scheduler"),
    ] {
        let conf = node.path(&format!("/etc/kubernetes/{file}"));
        assert_eq!(mode(&conf), 0o600);
        let text_conf = std::fs::read_to_string(&conf).unwrap();
        assert!(!text_conf.contains("client-certificate-data") && !text_conf.contains("certificate-authority-data"));
        let line = text_conf.lines().find(|l| l.trim_start().starts_with("client-key-data:")).unwrap();
        let key = node.dir.path().join(format!("{file}.key"));
        std::fs::write(
            &key,
            base64::engine::general_purpose::STANDARD.decode(line.split_once(':').unwrap().1.trim()).unwrap(),
        )
        .unwrap();
        let text = check(&node.path(&format!("/etc/kubernetes/{file}.csr")), &key);
        assert!(text.contains(&format!("CN={cn}")), "{file}: {text}");
    }
    assert!(!node.pki("ca.crt").exists() && !node.pki("ca.key").exists(), "generate-csr made a CA");
    // A second run refuses (kubeadm's "already exists") and changes nothing.
    let before = files(&node);
    let out = node.run(&["certs", "generate-csr"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(files(&node), before);
}

#[test]
fn certificate_renewal_settings_are_validated() {
    for (extra, want) in [
        ("certificateRenewal:\n  before: 0s\n", "certificateRenewal.before: must be longer than 0s"),
        ("certificateRenewal:\n  before: 8760h\n", "is not shorter than cluster.certificateValidityPeriod"),
        ("certificateRenewal:\n  befor: 10h\n", "certificateRenewal.befor"),
        ("certificateRenewal:\n  enabled: yes\n", "certificateRenewal.enabled"),
    ] {
        let node = Node::new(&format!("{}{extra}", config("v1.33.5", "ECDSA-P256", ADVERTISE, "")));
        let out = kubeboot().args(["config", "validate"]).arg(&node.config).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", text(&out));
        assert!(text(&out).contains(want), "{extra}: {}", text(&out));
    }
    let node = Node::new(&format!(
        "{}certificateRenewal:\n  enabled: false\n",
        config("v1.33.5", "ECDSA-P256", ADVERTISE, "")
    ));
    let out = kubeboot().args(["config", "validate"]).arg(&node.config).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
