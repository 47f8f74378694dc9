//! The shipped examples/worker.yaml and examples/control-plane-join.yaml run through `kubeboot
//! join` against the stand-in API server (see join_support), with only the cluster-specific
//! join fields pointed at it: endpoint, pin and token, with the kubelet TLS-bootstrap stand-in.
//! The stand-in cluster's first node has the `cluster` section of the example each joins
//! (control-plane.yaml, ha-control-plane.yaml), which the joining node must follow.
//! The worker joins completely. The control-plane join skips the steps that need its load
//! balancer name (lb.k8s.example.internal) to resolve: etcd-join (proven against real etcd in
//! join_etcd.rs), mark-control-plane and wait-control-plane.

mod join_support;

use join_support::*;
use serde_json::Value;

/// The example with `join` (and the certificate key) aimed at a stand-in cluster whose first
/// control-plane node has the `cluster` section of `first_node` (the example it joins).
fn example(file: &str, first_node: &str) -> (StandInCluster, Node) {
    let read = |f: &str| {
        let path = format!("{}/examples/{f}", env!("CARGO_MANIFEST_DIR"));
        serde_saphyr::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut cfg = read(file);
    let mut cluster = read(first_node)["cluster"].clone();
    let version = cluster["kubernetesVersion"].as_str().unwrap().to_string();
    let settings = cluster.as_object_mut().unwrap();
    settings.remove("kubernetesVersion");
    settings.remove("encryptionAlgorithm"); // the stand-in cluster's is ECDSA-P256 already
    let extra: String = serde_saphyr::to_string(&cluster).unwrap().lines().map(|l| format!("  {l}\n")).collect();
    let token = cfg["join"]["token"].as_str().unwrap().to_string();
    let key = cfg["certificateKey"].as_str().map(str::to_string).unwrap_or_else(|| "ab".repeat(32));
    let cluster = StandInCluster::start_with(&token, &key, &version, &extra);
    cfg["join"]["apiServerEndpoint"] = cluster.api.endpoint().into();
    cfg["join"]["caCertHashes"] = vec![cluster.pin.clone()].into();
    let node = Node::new(&serde_saphyr::to_string(&cfg).unwrap());
    node.write("/etc/hostname", format!("{}\n", cfg["node"]["name"].as_str().unwrap()).as_bytes());
    (cluster, node)
}

fn join(c: &StandInCluster, node: &Node, name: &str, skip: &str) -> String {
    let run = join_with_kubelet_stand_in(node, name, c, &["--skip-phases", skip]);
    let said = text(&run.output);
    assert!(run.output.status.success(), "{said}");
    assert!(said.contains("[kubelet-wait-bootstrap] Removed /etc/kubernetes/bootstrap-kubelet.conf"), "{said}");
    said
}

#[test]
fn the_worker_example_joins() {
    let (c, node) = example("worker.yaml", "control-plane.yaml");
    let said = join(&c, &node, "worker-1", "preflight");
    assert!(said.contains(&c.pin), "{said}");
    // The example names no version: the cluster's (control-plane.yaml's v1.33.5) is used.
    assert!(said.contains("Following the cluster's configuration: Kubernetes v1.33.5"), "{said}");
    let flags = std::fs::read_to_string(node.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(
        flags.contains("--node-ip=192.168.56.21") && flags.contains("--node-labels=node.kubernetes.io/pool=general")
    );
}

#[test]
fn the_control_plane_join_example_joins() {
    let (c, node) = example("control-plane-join.yaml", "ha-control-plane.yaml");
    let said = join(&c, &node, "cp-2", "preflight,etcd-join,mark-control-plane,wait-control-plane");
    assert!(said.contains("[control-plane-prepare]"), "{said}");
    for (_, f) in SHARED_CERTS {
        assert_eq!(std::fs::read(node.pki(f)).unwrap(), std::fs::read(c.cp.pki(f)).unwrap(), "{f}");
    }
    // The first node's VIP SAN and audit flag, though the join example names neither.
    let sans = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(node.pki("apiserver.crt"))
        .output()
        .unwrap();
    let sans = text(&sans);
    assert!(sans.contains("DNS:lb.k8s.example.internal") && sans.contains("IP Address:192.168.56.100"), "{sans}");
    let apiserver = std::fs::read_to_string(node.path("/etc/kubernetes/manifests/kube-apiserver.yaml")).unwrap();
    assert!(apiserver.contains("- --audit-log-maxage=30"), "{apiserver}");
    assert!(apiserver.contains("image: registry.k8s.io/kube-apiserver:v1.34.1"), "{apiserver}");
    // 1.34: ControlPlaneKubeletLocalMode points the kubelet at this node's own API server, and
    // NodeLocalCRISocket moves the CRI socket into the kubelet configuration.
    let run = join_with_kubelet_stand_in(&node, "cp-2", &c, &["phase", "kubelet-start"]);
    let (boot, _) = run.bootstrap_kubeconfig.expect("kubelet-start ran again and restarted the kubelet");
    let boot: Value = serde_saphyr::from_str(&boot).unwrap();
    assert_eq!(boot["clusters"][0]["cluster"]["server"], "https://192.168.56.12:6443");
    assert!(node.path("/var/lib/kubelet/instance-config.yaml").exists());
    let config: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(node.path("/var/lib/kubelet/config.yaml")).unwrap()).unwrap();
    assert!(config["containerRuntimeEndpoint"].as_str().is_some_and(|s| !s.is_empty()), "{config}");
}
