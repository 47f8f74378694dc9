//! Worker join end to end against the stand-in API server and the kubelet TLS-bootstrap stand-in
//! (see join_support): discovery, kubelet-start, the wait for kubelet.conf, removal of the
//! bootstrap credential. The cluster is a control-plane node rendered by kubeboot; its kubelet
//! config.yaml is what the stand-in serves as the kubelet-config ConfigMap (kubeadm uploads the
//! same KubeletConfiguration).

mod join_support;

use std::os::unix::fs::PermissionsExt;

use join_support::*;
use serde_json::{Value, json};

const TOKEN: &str = "abcdef.0123456789abcdef";

fn cluster() -> StandInCluster {
    StandInCluster::start(TOKEN, &"ab".repeat(32))
}

fn worker(c: &StandInCluster) -> Node {
    let node = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: worker
node:
  name: worker-1
  advertiseAddress: 127.0.0.1
  criSocket: unix:///run/containerd/containerd.sock
  taints:
  - key: dedicated
    value: gpu
    effect: NoSchedule
cluster:
  kubernetesVersion: v1.33.5
join:
  apiServerEndpoint: {}
  token: {TOKEN}
  caCertHashes:
  - {}
",
        c.api.endpoint(),
        c.pin
    ));
    node.write("/etc/hostname", b"worker-1\n");
    node
}

fn join(node: &Node) -> std::process::Output {
    node.run(&["join", "--skip-phases", "preflight"])
}

fn mode(node: &Node, path: &str) -> u32 {
    std::fs::metadata(node.path(path)).unwrap().permissions().mode() & 0o7777
}

/// The whole join with the kubelet stand-in; it must succeed.
fn join_to_the_end(c: &StandInCluster, node: &Node) -> JoinRun {
    let run = join_with_kubelet_stand_in(node, "worker-1", c, &["--skip-phases", "preflight"]);
    let said = text(&run.output);
    assert!(run.output.status.success(), "{said}");
    for step in [
        "[kubelet-start] Starting the kubelet",
        "[systemd] --root is not /: not running `systemctl restart kubelet.service`",
        "[kubelet-wait-bootstrap] The kubelet wrote /etc/kubernetes/kubelet.conf",
        "[kubelet-wait-bootstrap] Removed /etc/kubernetes/bootstrap-kubelet.conf",
    ] {
        assert!(said.contains(step), "missing {step:?}:\n{said}");
    }
    assert!(!node.path("/etc/kubernetes/bootstrap-kubelet.conf").exists(), "the bootstrap credential was kept");
    run
}

#[test]
fn stand_in_worker_join_runs_to_the_end_and_removes_the_bootstrap_credential() {
    let c = cluster();
    let node = worker(&c);
    let run = join_to_the_end(&c, &node);
    assert!(text(&run.output).contains("[control-plane-prepare] Not a control-plane node"), "{}", text(&run.output));

    // bootstrap-kubelet.conf (reference §12.3) as the kubelet found it; kubeboot deleted it since.
    let (boot, boot_mode) = run.bootstrap_kubeconfig.expect("the kubelet saw bootstrap-kubelet.conf");
    assert_eq!(boot_mode, 0o600);
    let boot: Value = serde_saphyr::from_str(&boot).unwrap();
    assert_eq!(boot["current-context"], "tls-bootstrap-token-user@kubernetes");
    assert_eq!(boot["contexts"][0]["context"], json!({"cluster": "kubernetes", "user": "tls-bootstrap-token-user"}));
    assert_eq!(boot["users"][0], json!({"name": "tls-bootstrap-token-user", "user": {"token": TOKEN}}));
    assert_eq!(boot["clusters"][0]["name"], "kubernetes");
    assert_eq!(boot["clusters"][0]["cluster"]["server"], format!("https://{}", c.api.endpoint()));
    use base64::Engine;
    let ca = std::fs::read(c.cp.pki("ca.crt")).unwrap();
    let embedded = base64::engine::general_purpose::STANDARD
        .decode(boot["clusters"][0]["cluster"]["certificate-authority-data"].as_str().unwrap())
        .unwrap();
    assert_eq!(embedded, ca);

    // ca.crt 0644, the kubelet files, register-with-taints for a worker.
    assert_eq!(std::fs::read(node.pki("ca.crt")).unwrap(), ca);
    assert_eq!(mode(&node, "/etc/kubernetes/pki/ca.crt"), 0o644);
    let flags = std::fs::read_to_string(node.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(flags.contains("--register-with-taints=dedicated=gpu:NoSchedule"), "{flags}");
    assert!(flags.contains("--container-runtime-endpoint=unix:///run/containerd/containerd.sock"), "{flags}");
    let config: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(node.path("/var/lib/kubelet/config.yaml")).unwrap()).unwrap();
    let cluster_config: Value = serde_saphyr::from_str(&c.kubelet_config).unwrap();
    assert_eq!(
        config, cluster_config,
        "1.33 (no NodeLocalCRISocket): config.yaml is the cluster's KubeletConfiguration"
    );
    assert_eq!(mode(&node, "/var/lib/kubelet"), 0o700);

    // The token went only to the verified server, for the Node check and the ConfigMap.
    let authed: Vec<String> = c
        .api
        .seen()
        .into_iter()
        .filter(|r| r.headers.iter().any(|(k, v)| k == "authorization" && v == &format!("Bearer {TOKEN}")))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        authed,
        [
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
            "/api/v1/nodes/worker-1",
            "/api/v1/namespaces/kube-system/configmaps/kubelet-config"
        ]
    );

    // 1.33 (no NodeLocalCRISocket): the CRI socket is recorded on the Node, with the kubelet's
    // own client certificate from TLS bootstrap, never with the bootstrap token.
    let patches: Vec<_> = c.api.seen().into_iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].path.split('?').next(), Some("/api/v1/nodes/worker-1"));
    assert!(patches[0].client_cert, "the annotation must be made with the kubelet's credentials");
    assert!(!patches[0].headers.iter().any(|(k, _)| k == "authorization"), "{:?}", patches[0]);
    let node_object = c.api.get("/api/v1/nodes/worker-1").expect("the kubelet stand-in registered the Node");
    assert_eq!(
        node_object["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        "unix:///run/containerd/containerd.sock"
    );
}

#[test]
fn a_ready_node_with_the_same_name_is_refused_before_credentials_are_written() {
    let c = cluster();
    let node_object = |ready: &str| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"},
               "status": {"conditions": [{"type": "Ready", "status": ready}]}})
    };
    c.api.put("/api/v1/nodes/worker-1", node_object("True"));
    let node = worker(&c);
    let out = join(&node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("a Node named \"worker-1\" already exists in the cluster and is Ready"),
        "{}",
        text(&out)
    );
    assert!(!node.path("/etc/kubernetes/bootstrap-kubelet.conf").exists());

    // A NotReady leftover of the same machine does not block the join.
    c.api.put("/api/v1/nodes/worker-1", node_object("False"));
    join_to_the_end(&c, &node);
}

#[test]
fn an_expired_token_is_reported_as_such() {
    let c = cluster();
    c.api.accept_token("zzzzzz.0123456789abcdef");
    let node = worker(&c);
    let out = join(&node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("bootstrap token was rejected (401 Unauthorized): it is unknown or expired"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("0123456789abcdef"), "the secret leaked into the output");
    assert!(!node.path("/etc/kubernetes/bootstrap-kubelet.conf").exists());
}

/// Worker user-data as `kubeboot init` prints it: endpoint, token, pin; `cluster` optional.
fn slim_worker(c: &StandInCluster, cluster: &str) -> Node {
    let node = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: worker
node:
  name: worker-1
{cluster}join:
  apiServerEndpoint: {}
  token: {TOKEN}
  caCertHashes:
  - {}
",
        c.api.endpoint(),
        c.pin
    ));
    node.write("/etc/hostname", b"worker-1\n");
    node
}

#[test]
fn a_worker_takes_the_clusters_kubernetes_version() {
    // A 1.34 cluster; the user-data names no version (the default would be v1.33.5).
    let c = StandInCluster::start_with(TOKEN, &"ab".repeat(32), "v1.34.1", "");
    let node = slim_worker(&c, "");
    let run = join_to_the_end(&c, &node);
    assert!(text(&run.output).contains("Following the cluster's configuration: Kubernetes v1.34.1"));
    // What 1.34 renders: the cluster's pause image, and (NodeLocalCRISocket, on in 1.34) the
    // CRI socket in the kubelet configuration, not as a flag nor as a Node annotation.
    let flags = std::fs::read_to_string(node.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    let cp_flags = std::fs::read_to_string(c.cp.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    let pause = |f: &str| f.split_whitespace().find(|a| a.contains("--pod-infra-container-image=")).map(str::to_string);
    assert_eq!(pause(&flags), pause(&cp_flags), "{flags}");
    assert!(flags.contains("pause:3.10.1"), "{flags}");
    assert!(!flags.contains("--container-runtime-endpoint"), "{flags}");
    assert!(node.path("/var/lib/kubelet/instance-config.yaml").exists());
    assert!(c.api.seen().iter().all(|r| r.method != "PATCH"), "1.34 records no CRI-socket annotation");
}

#[test]
fn worker_user_data_that_contradicts_the_cluster_is_refused_before_anything_is_written() {
    let c =
        StandInCluster::start_with(TOKEN, &"ab".repeat(32), "v1.34.1", "  networking:\n    podSubnet: 10.244.0.0/16\n");
    let node =
        slim_worker(&c, "cluster:\n  kubernetesVersion: v1.33.5\n  networking:\n    podSubnet: 192.168.0.0/16\n");
    let out = join(&node);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for want in [
        "cluster.kubernetesVersion: \"v1.33.5\" in the user-data, but \"v1.34.1\" in the cluster's ConfigMap kube-system/kubeadm-config",
        "cluster.networking.podSubnet: \"192.168.0.0/16\" in the user-data, but \"10.244.0.0/16\" in the cluster's",
    ] {
        assert!(said.contains(want), "missing {want:?}:\n{said}");
    }
    assert_eq!(node.files(), ["/etc/hostname"], "a refused join wrote to the host");
    // No credential was used past reading the cluster's configuration.
    let authed: Vec<String> = c
        .api
        .seen()
        .into_iter()
        .filter(|r| r.headers.iter().any(|(k, _)| k == "authorization"))
        .map(|r| r.path)
        .collect();
    assert_eq!(authed, ["/api/v1/namespaces/kube-system/configmaps/kubeadm-config"]);
}

#[test]
fn a_cluster_without_kubeadm_config_is_a_clear_error() {
    let c = cluster();
    c.api.remove(KUBEADM_CONFIG);
    let node = slim_worker(&c, "");
    let out = join(&node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ConfigMap kube-system/kubeadm-config does not exist")
            && text(&out).contains("upload-config kubeadm"),
        "{}",
        text(&out)
    );
    assert_eq!(node.files(), ["/etc/hostname"]);
}

#[test]
fn a_kubeadm_join_configuration_follows_the_cluster_too() {
    // kubeadm-format user-data: a JoinConfiguration has no cluster settings at all.
    let c = StandInCluster::start_with(TOKEN, &"ab".repeat(32), "v1.34.1", "");
    let node = Node::new(&format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: worker-1
discovery:
  bootstrapToken:
    apiServerEndpoint: {}
    token: {TOKEN}
    caCertHashes:
    - {}
",
        c.api.endpoint(),
        c.pin
    ));
    node.write("/etc/hostname", b"worker-1\n");
    let run = join_to_the_end(&c, &node);
    assert!(text(&run.output).contains("Following the cluster's configuration: Kubernetes v1.34.1"));
    let flags = std::fs::read_to_string(node.path("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(flags.contains("pause:3.10.1") && !flags.contains("--container-runtime-endpoint"), "{flags}");
}
