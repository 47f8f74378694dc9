//! Control-plane join's `control-plane-prepare` against the stand-in API server (see
//! join_support): Secret kube-system/kubeadm-certs is built by the test from the spec (reference
//! §12.5) out of a kubeboot-rendered first control-plane node's files; the joining node
//! downloads and decrypts them, then makes its own leaf certificates (checked with openssl),
//! kubeconfigs and manifests.

mod join_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use join_support::*;
use serde_json::json;

const TOKEN: &str = "abcdef.0123456789abcdef";
const CERT_KEY: &str = "6d3f6c1a7a3e4f0b9c2d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b";

fn cluster(upload_key: &str) -> StandInCluster {
    StandInCluster::start(TOKEN, upload_key)
}

fn joiner(c: &StandInCluster) -> Node {
    let node = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane-join
node:
  name: cp-2
  advertiseAddress: 127.0.0.2
cluster:
  kubernetesVersion: v1.33.5
  encryptionAlgorithm: ECDSA-P256
join:
  apiServerEndpoint: {}
  token: {TOKEN}
  caCertHashes:
  - {}
certificateKey: {CERT_KEY}
",
        c.api.endpoint(),
        c.pin
    ));
    node.write("/etc/hostname", b"cp-2\n");
    node
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn control_plane_prepare_downloads_the_shared_cas_and_makes_this_nodes_files() {
    let c = cluster(CERT_KEY);
    let node = joiner(&c);
    let out = node.run(&["join", "phase", "discovery"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = node.run(&["join", "phase", "control-plane-prepare"]);
    assert!(out.status.success(), "{}", text(&out));

    for (_, f) in SHARED_CERTS {
        assert_eq!(std::fs::read(node.pki(f)).unwrap(), std::fs::read(c.cp.pki(f)).unwrap(), "{f} differs");
        let want = if f.ends_with(".crt") { 0o644 } else { 0o600 };
        assert_eq!(mode(&node.pki(f)), want, "{f}");
    }
    // This node's own leaf certificates, signed by the downloaded CAs, naming this node.
    for (leaf, ca) in [
        ("apiserver", "ca"),
        ("apiserver-kubelet-client", "ca"),
        ("front-proxy-client", "front-proxy-ca"),
        ("etcd/server", "etcd/ca"),
        ("etcd/peer", "etcd/ca"),
        ("etcd/healthcheck-client", "etcd/ca"),
        ("apiserver-etcd-client", "etcd/ca"),
    ] {
        let verify = Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(node.pki(&format!("{ca}.crt")))
            .arg(node.pki(&format!("{leaf}.crt")))
            .output()
            .unwrap();
        assert!(verify.status.success(), "{leaf}: {}", text(&verify));
        assert_ne!(
            std::fs::read(node.pki(&format!("{leaf}.crt"))).unwrap(),
            std::fs::read(c.cp.pki(&format!("{leaf}.crt"))).unwrap()
        );
    }
    let sans = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(node.pki("apiserver.crt"))
        .output()
        .unwrap();
    assert!(text(&sans).contains("IP Address:127.0.0.2") && text(&sans).contains("DNS:cp-2"), "{}", text(&sans));

    for conf in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        assert_eq!(mode(&node.path(&format!("/etc/kubernetes/{conf}"))), 0o600, "{conf}");
    }
    for absent in ["super-admin.conf", "kubelet.conf"] {
        assert!(!node.path(&format!("/etc/kubernetes/{absent}")).exists(), "a joining node has no {absent}");
    }
    for m in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        assert!(node.path(&format!("/etc/kubernetes/manifests/{m}.yaml")).exists(), "{m}");
    }

    // A second run downloads nothing and changes nothing.
    c.api.put("/api/v1/namespaces/kube-system/secrets/kubeadm-certs", json!({"kind": "Secret", "data": {}}));
    let before: Vec<_> = node.files().iter().map(|f| (f.clone(), std::fs::read(node.path(f)).unwrap())).collect();
    let out = node.run(&["join", "phase", "control-plane-prepare"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not downloading kubeadm-certs"), "{}", text(&out));
    let after: Vec<_> = node.files().iter().map(|f| (f.clone(), std::fs::read(node.path(f)).unwrap())).collect();
    assert!(before == after, "the re-run changed files");
}

#[test]
fn a_wrong_certificate_key_writes_no_shared_file() {
    let c = cluster(&"ab".repeat(32));
    let node = joiner(&c);
    assert!(node.run(&["join", "phase", "discovery"]).status.success());
    let out = node.run(&["join", "phase", "control-plane-prepare"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("wrong certificate key"), "{}", text(&out));
    assert!(!text(&out).contains(CERT_KEY), "the certificate key leaked into the output");
    assert!(!node.path("/etc/kubernetes/pki").exists(), "{:?}", node.files());
}

#[test]
fn certs_refuse_to_invent_cluster_cas() {
    let c = cluster(CERT_KEY);
    let node = joiner(&c);
    let out = node.run(&["join", "phase", "control-plane-prepare", "certs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("takes the shared CAs from the cluster"), "{}", text(&out));
    assert!(node.files().iter().all(|f| f == "/etc/hostname"), "{:?}", node.files());
}
