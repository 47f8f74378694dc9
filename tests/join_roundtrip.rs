//! kubeadm-certs round trip through the cluster module's full API server stand-in (RBAC,
//! bootstrap-token authentication, Secrets): kubeboot's init uploads the certificates
//! (`upload-certs`) and creates the token, its RBAC and cluster-info (`bootstrap-token`); the KCM
//! bootstrapsigner's JWS is added as that controller would; then a control-plane join
//! discovers the cluster and downloads and decrypts the shared CA files, which must be
//! byte-identical to the first node's, and renders with the ClusterConfiguration init uploaded
//! (kubeadm-config). The join uses nothing but the anonymous and bootstrap identities the
//! stand-in's RBAC allows.

mod join_support;
mod support;

use serde_json::Value;

const TOKEN: &str = "abcdef.0123456789abcdef";
const CERT_KEY: &str = "6d3f6c1a7a3e4f0b9c2d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b";

#[test]
fn init_uploads_and_a_control_plane_join_downloads_identical_cas() {
    let init = support::Node::rendered(
        "v1.33.5",
        &format!("uploadCerts: true\ncertificateKey: {CERT_KEY}\nbootstrapTokens:\n- token: {TOKEN}\n"),
    );
    for phase in ["upload-config kubeadm", "upload-certs", "bootstrap-token"] {
        let args: Vec<&str> = ["init", "phase"].into_iter().chain(phase.split(' ')).collect();
        let out = init.kubeboot(&args);
        assert!(out.status.success(), "init phase {phase} failed");
    }
    // The bootstrapsigner controller signs cluster-info for every signing token.
    let mut info = init.server.get("v1", "configmaps", "kube-public", "cluster-info").expect("cluster-info");
    let kubeconfig = info["data"]["kubeconfig"].as_str().unwrap().to_string();
    info["data"]["jws-kubeconfig-abcdef"] =
        Value::from(join_support::python_jws(&kubeconfig, "abcdef", "0123456789abcdef"));
    init.server.insert("v1", "configmaps", "kube-public", info);

    let pin = join_support::openssl_pin(&init.path("/etc/kubernetes/pki/ca.crt"));
    let join = join_support::Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane-join
node:
  name: cp-2
  advertiseAddress: 127.0.0.2
join:
  apiServerEndpoint: 127.0.0.1:{}
  token: {TOKEN}
  caCertHashes:
  - {pin}
certificateKey: {CERT_KEY}
",
        init.server.port()
    ));
    join.write("/etc/hostname", b"cp-2\n");
    for phase in ["discovery", "control-plane-prepare"] {
        let out = join.run(&["join", "phase", phase]);
        assert!(out.status.success(), "join phase {phase}:\n{}", join_support::text(&out));
    }
    for (_, f) in join_support::SHARED_CERTS {
        let path = format!("/etc/kubernetes/pki/{f}");
        assert_eq!(std::fs::read(join.path(&path)).unwrap(), std::fs::read(init.path(&path)).unwrap(), "{f} differs");
    }
    // What the stand-in authenticated: anonymous cluster-info reads, then the bootstrap identity.
    let users: Vec<(String, String)> = init
        .server
        .requests()
        .into_iter()
        .filter(|r| ["cluster-info", "kubeadm-config", "kubeadm-certs"].iter().any(|o| r.path.contains(o)))
        .filter(|r| r.method == "GET")
        .map(|r| (r.user, r.path))
        .collect();
    assert!(users.iter().any(|(u, p)| u == "system:anonymous" && p.contains("cluster-info")), "{users:?}");
    assert!(users.iter().any(|(u, p)| u == "system:bootstrap:abcdef" && p.contains("kubeadm-certs")), "{users:?}");
    // The bootstrap identity may read kubeadm-config (kubeadm:nodes-kubeadm-config, made by
    // init's upload-config), and the join followed it: the first node's key type and subnets.
    assert!(users.iter().any(|(u, p)| u == "system:bootstrap:abcdef" && p.contains("kubeadm-config")), "{users:?}");
    let key = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(join.path("/etc/kubernetes/pki/apiserver.key"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&key.stdout).contains("prime256v1"), "not the cluster's ECDSA-P256");
    let kcm = std::fs::read_to_string(join.path("/etc/kubernetes/manifests/kube-controller-manager.yaml")).unwrap();
    assert!(kcm.contains("--cluster-cidr=10.244.0.0/16"), "{kcm}");
}
