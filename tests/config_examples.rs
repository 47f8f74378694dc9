//! Every example validates, the kubeadm passthrough examples map onto the same model as the
//! native format, and the committed JSON Schema matches the types.

use std::path::Path;
use std::process::Command;

use kubeboot::config::{self, Role};

fn example(name: &str) -> config::NodeConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
    config::load_file(&path).unwrap_or_else(|d| panic!("{name}: {d}"))
}

#[test]
fn every_example_validates_through_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 6, "examples/ should hold at least 6 user-data files");
    let out = Command::new(env!("CARGO_BIN_EXE_kubeboot")).args(["config", "validate"]).args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches(": valid").count(), files.len());
}

#[test]
fn roles_of_the_examples() {
    assert_eq!(example("control-plane.yaml").role, Role::ControlPlane);
    assert_eq!(example("ha-control-plane.yaml").role, Role::ControlPlane);
    assert_eq!(example("control-plane-join.yaml").role, Role::ControlPlaneJoin);
    assert_eq!(example("worker.yaml").role, Role::Worker);
    assert_eq!(example("cloud-config.yaml").role, Role::ControlPlane);
}

#[test]
fn kubeadm_v1beta4_maps_onto_nodeconfig() {
    let c = example("kubeadm-v1beta4.yaml");
    assert_eq!(c.role, Role::ControlPlane);
    assert_eq!(c.node.name.as_deref(), Some("cp-1"));
    assert_eq!(c.node.advertise_address.as_deref(), Some("192.168.56.10"));
    assert_eq!(c.node.kubelet_extra_args[0].name, "node-ip");
    assert_eq!(c.cluster.kubernetes_version, "v1.32.3");
    assert_eq!(c.cluster.networking.pod_subnet.as_deref(), Some("10.244.0.0/16"));
    assert_eq!(c.cluster.api_server.extra_args[0].value, "Node,RBAC");
    assert_eq!(c.cluster.controller_manager.extra_args[0].value, "24");
    assert_eq!(c.bootstrap_tokens[0].token.as_deref(), Some("abcdef.0123456789abcdef"));
    assert_eq!(c.kubelet_configuration.as_ref().unwrap()["maxPods"], 150);
    assert_eq!(c.kube_proxy_configuration.as_ref().unwrap()["mode"], "ipvs");
}

#[test]
fn kubeadm_v1beta3_join_maps_map_style_args_and_timeout() {
    let c = example("kubeadm-v1beta3.yaml");
    assert_eq!(c.role, Role::Worker);
    assert_eq!(c.node.kubelet_extra_args, vec![config::Arg { name: "node-ip".into(), value: "192.168.56.22".into() }]);
    let j = c.join.unwrap();
    assert_eq!(j.api_server_endpoint.as_deref(), Some("192.168.56.10:6443"));
    assert_eq!(j.ca_cert_hashes.len(), 1);
    assert_eq!(c.timeouts.discovery.to_string(), "3m0s");
}

#[test]
fn kubeadm_semantic_errors_point_at_the_kubeadm_document() {
    let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: Bad_Name\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.0.0.0/8\n";
    let d = config::load("kubeadm.yaml", text.as_bytes()).unwrap_err().to_string();
    assert!(d.contains("kubeadm.yaml:4:9: nodeRegistration.name:"), "{d}");
    assert!(d.contains("kubeadm.yaml:9:18: networking.serviceSubnet:"), "{d}");
}

#[test]
fn committed_schema_matches_the_types() {
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/nodeconfig.json")).unwrap();
    assert_eq!(
        committed.trim_end(),
        config::schema_json(),
        "schema/nodeconfig.json is stale: run `kubeboot config schema > schema/nodeconfig.json`"
    );
}
