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
    assert!(text(&out).contains("run `kubeboot join phase discovery` first"), "{}", text(&out));
    assert!(node.run(&["join", "phase", "discovery"]).status.success());
    let out = node.run(&["join", "phase", "control-plane-prepare", "certs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("takes the shared CAs from the cluster"), "{}", text(&out));
    let kept = |f: &String| f == "/etc/hostname" || f.starts_with("/var/lib/kubeboot/join/");
    assert!(node.files().iter().all(kept), "{:?}", node.files());
}

/// Cluster-wide settings of the first control-plane node that a joining one must carry too.
const CLUSTER_SETTINGS: &str = "  controlPlaneEndpoint: lb.k8s.example.internal:6443
  imageRepository: mirror.example.internal:5000/k8s
  networking:
    podSubnet: 10.244.0.0/16
  apiServer:
    certSANs:
    - lb.k8s.example.internal
    - 192.168.56.100
    extraArgs:
    - name: audit-log-maxage
      value: \"30\"
    extraVolumes:
    - name: audit-log
      hostPath: /var/log/kubernetes/audit
      mountPath: /var/log/kubernetes/audit
      pathType: DirectoryOrCreate
  controllerManager:
    extraEnvs:
    - name: GODEBUG
      value: x509sha1=1
  etcd:
    local:
      serverCertSANs:
      - etcd.example.internal
  featureGates:
    ControlPlaneKubeletLocalMode: false
";

/// Join user-data with only what a control-plane join needs: no cluster section at all.
fn slim_joiner(c: &StandInCluster, cluster: &str) -> Node {
    let node = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane-join
node:
  name: cp-2
  advertiseAddress: 127.0.0.2
{cluster}join:
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

fn openssl_text(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new("openssl").args(args).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn a_control_plane_join_renders_from_the_clusters_configuration_not_its_user_data() {
    let c = StandInCluster::start_with(TOKEN, CERT_KEY, "v1.33.5", CLUSTER_SETTINGS);
    let node = slim_joiner(&c, "");
    for phase in ["discovery", "control-plane-prepare"] {
        let out = node.run(&["join", "phase", phase]);
        assert!(out.status.success(), "{phase}: {}", text(&out));
    }
    let kept = node.path("/var/lib/kubeboot/join/cluster-configuration.yaml");
    assert_eq!(mode(&kept), 0o600);

    // Certificates: the cluster's certSANs (and etcd serverCertSANs) besides this node's own
    // names, with the cluster's key type (ECDSA-P256; the user-data's default is RSA-2048).
    let sans = openssl_text(&["x509", "-noout", "-ext", "subjectAltName", "-in"], &node.pki("apiserver.crt"));
    for want in ["DNS:lb.k8s.example.internal", "IP Address:192.168.56.100", "IP Address:127.0.0.2", "DNS:cp-2"] {
        assert!(sans.contains(want), "apiserver.crt lacks {want}: {sans}");
    }
    let sans = openssl_text(&["x509", "-noout", "-ext", "subjectAltName", "-in"], &node.pki("etcd/server.crt"));
    assert!(sans.contains("DNS:etcd.example.internal"), "{sans}");
    let key = openssl_text(&["pkey", "-noout", "-text", "-in"], &node.pki("apiserver.key"));
    assert!(key.contains("prime256v1"), "{key}");

    // Manifests: extra args, volumes, envs, image repository, pod subnet.
    let manifest =
        |m: &str| std::fs::read_to_string(node.path(&format!("/etc/kubernetes/manifests/{m}.yaml"))).unwrap();
    let apiserver = manifest("kube-apiserver");
    for want in [
        "- --audit-log-maxage=30",
        "mountPath: /var/log/kubernetes/audit",
        "path: /var/log/kubernetes/audit",
        "image: mirror.example.internal:5000/k8s/kube-apiserver:v1.33.5",
        "- --advertise-address=127.0.0.2",
    ] {
        assert!(apiserver.contains(want), "kube-apiserver.yaml lacks {want:?}:\n{apiserver}");
    }
    let kcm = manifest("kube-controller-manager");
    for want in ["name: GODEBUG", "value: x509sha1=1", "- --cluster-cidr=10.244.0.0/16"] {
        assert!(kcm.contains(want), "kube-controller-manager.yaml lacks {want:?}:\n{kcm}");
    }
    // Kubeconfigs: the cluster's controlPlaneEndpoint.
    let admin = std::fs::read_to_string(node.path("/etc/kubernetes/admin.conf")).unwrap();
    assert!(admin.contains("server: https://lb.k8s.example.internal:6443"), "{admin}");

    // Renewal on this node follows the kept cluster configuration too: the renewed key is
    // the cluster's ECDSA-P256, not the RSA-2048 the slim user-data would default to.
    let before = std::fs::read(node.pki("apiserver.key")).unwrap();
    let out = node.run(&["certs", "renew", "apiserver"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(std::fs::read(node.pki("apiserver.key")).unwrap(), before, "not renewed");
    let key = openssl_text(&["pkey", "-noout", "-text", "-in"], &node.pki("apiserver.key"));
    assert!(key.contains("prime256v1"), "renewal changed the key type: {key}");

    // Feature gates: ControlPlaneKubeletLocalMode (on by default in 1.33) is off in this
    // cluster, so the kubelet bootstraps against the cluster, not this node's API server.
    let run = join_with_kubelet_stand_in(&node, "cp-2", &c, &["phase", "kubelet-start"]);
    assert!(run.output.status.success(), "{}", text(&run.output));
    let (boot, _) = run.bootstrap_kubeconfig.expect("kubelet-start started the kubelet");
    assert!(boot.contains(&format!("server: https://{}", c.api.endpoint())), "{boot}");
}

#[test]
fn user_data_that_contradicts_the_cluster_stops_the_join_naming_both_values() {
    let c = StandInCluster::start_with(TOKEN, CERT_KEY, "v1.33.5", CLUSTER_SETTINGS);
    // Equal values are fine: the join goes on.
    let agrees =
        slim_joiner(&c, "cluster:\n  kubernetesVersion: v1.33.5\n  networking:\n    podSubnet: 10.244.0.0/16\n");
    let out = agrees.run(&["join", "phase", "discovery"]);
    assert!(out.status.success(), "{}", text(&out));

    let node = slim_joiner(
        &c,
        "cluster:\n  kubernetesVersion: v1.34.1\n  controlPlaneEndpoint: 127.0.0.2:6443\n  networking:\n    \
         podSubnet: 192.168.0.0/16\n",
    );
    let out = node.run(&["join", "phase", "discovery"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for want in [
        "cluster.kubernetesVersion: \"v1.34.1\" in the user-data, but \"v1.33.5\" in the cluster's ConfigMap kube-system/kubeadm-config",
        "cluster.controlPlaneEndpoint: \"127.0.0.2:6443\" in the user-data, but \"lb.k8s.example.internal:6443\"",
        "cluster.networking.podSubnet: \"192.168.0.0/16\" in the user-data, but \"10.244.0.0/16\"",
    ] {
        assert!(said.contains(want), "missing {want:?}:\n{said}");
    }
    assert_eq!(node.files(), ["/etc/hostname"], "a refused join wrote to the host");
    let out = node.run(&["join", "--skip-phases", "preflight"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(node.files(), ["/etc/hostname"], "a refused join wrote to the host");
}
