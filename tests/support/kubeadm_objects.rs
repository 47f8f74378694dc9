//! The objects of reference §14 that a default `kubeadm init` (with `--upload-certs`) creates, as
//! (group/version, resource, namespace, name, fields that must match): one table, checked against
//! the API server stand-in (`cluster_init`) and against a real API server (`real_parity`, run by
//! scripts/test-real.sh), so the two cannot drift apart.

use serde_json::{Value, json};

pub const RBAC: &str = "rbac.authorization.k8s.io/v1";
pub const BOOTSTRAPPERS: &str = "system:bootstrappers:kubeadm:default-node-token";

/// True when every field of `want` is in `have` with the same value (lists element by element).
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| contains(hv, v))),
        (Value::Array(h), Value::Array(w)) => h.len() == w.len() && h.iter().zip(w).all(|(a, b)| contains(a, b)),
        _ => have == want,
    }
}

fn group(name: &str) -> Value {
    json!({"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"})
}

fn crb(role: &str, subjects: Vec<Value>) -> Value {
    json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects})
}

fn rb(role: &str, subjects: Vec<Value>) -> Value {
    json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}, "subjects": subjects})
}

fn get_rule(resource: &str, name: &str) -> Value {
    json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": [resource], "resourceNames": [name]}]})
}

fn data_keys(keys: &[&str]) -> Value {
    json!({"data": keys.iter().map(|k| (k.to_string(), Value::Null)).collect::<serde_json::Map<_, _>>()})
}

/// Reference §14 for a default 1.34 init with upload-certs: (group/version, resource, namespace,
/// name, fields that must match). `data` entries given as null only require the key to exist.
pub fn expected_objects(node_name: &str) -> Vec<(&'static str, &'static str, &'static str, String, Value)> {
    let sa = |name: &str| json!({"kind": "ServiceAccount", "name": name, "namespace": "kube-system"});
    let table: Vec<(&str, &str, &str, &str, Value)> = vec![
        (
            RBAC,
            "clusterrolebindings",
            "",
            "kubeadm:cluster-admins",
            crb("cluster-admin", vec![group("kubeadm:cluster-admins")]),
        ),
        (RBAC, "clusterrolebindings", "", "kubeadm:get-nodes", crb("kubeadm:get-nodes", vec![group(BOOTSTRAPPERS)])),
        (
            RBAC,
            "clusterrolebindings",
            "",
            "kubeadm:kubelet-bootstrap",
            crb("system:node-bootstrapper", vec![group(BOOTSTRAPPERS)]),
        ),
        (
            RBAC,
            "clusterrolebindings",
            "",
            "kubeadm:node-autoapprove-bootstrap",
            crb("system:certificates.k8s.io:certificatesigningrequests:nodeclient", vec![group(BOOTSTRAPPERS)]),
        ),
        (
            RBAC,
            "clusterrolebindings",
            "",
            "kubeadm:node-autoapprove-certificate-rotation",
            crb("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", vec![group("system:nodes")]),
        ),
        (RBAC, "clusterrolebindings", "", "kubeadm:node-proxier", crb("system:node-proxier", vec![sa("kube-proxy")])),
        (RBAC, "clusterrolebindings", "", "system:coredns", crb("system:coredns", vec![sa("coredns")])),
        (
            RBAC,
            "clusterroles",
            "",
            "kubeadm:get-nodes",
            json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]}),
        ),
        (
            RBAC,
            "clusterroles",
            "",
            "system:coredns",
            json!({"rules": [
                {"verbs": ["list", "watch"], "apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"]},
                {"verbs": ["list", "watch"], "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]}
            ]}),
        ),
        ("v1", "configmaps", "kube-system", "kubeadm-config", data_keys(&["ClusterConfiguration"])),
        ("v1", "configmaps", "kube-system", "kubelet-config", data_keys(&["kubelet"])),
        ("v1", "configmaps", "kube-system", "coredns", data_keys(&["Corefile"])),
        (
            "v1",
            "configmaps",
            "kube-system",
            "kube-proxy",
            json!({"metadata": {"labels": {"app": "kube-proxy"}}, "data": {"config.conf": null, "kubeconfig.conf": null}}),
        ),
        (RBAC, "roles", "kube-system", "kubeadm:nodes-kubeadm-config", get_rule("configmaps", "kubeadm-config")),
        (
            RBAC,
            "rolebindings",
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            rb("kubeadm:nodes-kubeadm-config", vec![group(BOOTSTRAPPERS), group("system:nodes")]),
        ),
        (RBAC, "roles", "kube-system", "kubeadm:kubelet-config", get_rule("configmaps", "kubelet-config")),
        (
            RBAC,
            "rolebindings",
            "kube-system",
            "kubeadm:kubelet-config",
            rb("kubeadm:kubelet-config", vec![group("system:nodes"), group(BOOTSTRAPPERS)]),
        ),
        (RBAC, "roles", "kube-system", "kube-proxy", get_rule("configmaps", "kube-proxy")),
        (RBAC, "rolebindings", "kube-system", "kube-proxy", rb("kube-proxy", vec![group(BOOTSTRAPPERS)])),
        (RBAC, "roles", "kube-system", "kubeadm:kubeadm-certs", get_rule("secrets", "kubeadm-certs")),
        (
            RBAC,
            "rolebindings",
            "kube-system",
            "kubeadm:kubeadm-certs",
            rb("kubeadm:kubeadm-certs", vec![group(BOOTSTRAPPERS)]),
        ),
        (
            "v1",
            "secrets",
            "kube-system",
            "kubeadm-certs",
            json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "controller": true, "blockOwnerDeletion": true}]},
                   "data": {"ca.crt": null, "ca.key": null, "etcd-ca.crt": null, "etcd-ca.key": null, "front-proxy-ca.crt": null,
                            "front-proxy-ca.key": null, "sa.key": null, "sa.pub": null}}),
        ),
        ("v1", "configmaps", "kube-public", "cluster-info", data_keys(&["kubeconfig"])),
        (RBAC, "roles", "kube-public", "kubeadm:bootstrap-signer-clusterinfo", get_rule("configmaps", "cluster-info")),
        (
            RBAC,
            "rolebindings",
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            rb("kubeadm:bootstrap-signer-clusterinfo", vec![json!({"kind": "User", "name": "system:anonymous"})]),
        ),
        ("v1", "serviceaccounts", "kube-system", "coredns", json!({})),
        (
            "apps/v1",
            "deployments",
            "kube-system",
            "coredns",
            json!({"metadata": {"labels": {"k8s-app": "kube-dns"}}, "spec": {"replicas": 2}}),
        ),
        (
            "v1",
            "services",
            "kube-system",
            "kube-dns",
            json!({"metadata": {"labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
                                "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
                   "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"}}}),
        ),
        ("v1", "serviceaccounts", "kube-system", "kube-proxy", json!({})),
        (
            "apps/v1",
            "daemonsets",
            "kube-system",
            "kube-proxy",
            json!({"metadata": {"labels": {"k8s-app": "kube-proxy"}}}),
        ),
        (
            "v1",
            "nodes",
            "",
            node_name,
            json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
                   "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
        ),
    ];
    table.into_iter().map(|(gv, res, ns, name, want)| (gv, res, ns, name.to_string(), want)).collect()
}

/// `data` values given as null in an expectation only require the key.
pub fn keys_only(want: &Value, have: &Value) -> Value {
    let mut want = want.clone();
    if let (Some(w), Some(h)) = (want.get_mut("data").and_then(Value::as_object_mut), have.get("data")) {
        for (k, v) in w.iter_mut() {
            if v.is_null() {
                *v = h.get(k).cloned().unwrap_or(json!("<missing>"));
            }
        }
    }
    want
}
