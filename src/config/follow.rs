//! A join follows the cluster (kubeadm `FetchInitConfigurationFromCluster` on join): the
//! cluster-wide settings come from the cluster's ClusterConfiguration (ConfigMap
//! kube-system/kubeadm-config); the node's own settings (node name, advertise address, CRI
//! socket, taints, kubelet flags, certificate key, join section) stay the user-data's.
//!
//! kubeadm's JoinConfiguration has no cluster fields at all. A NodeConfig may still carry a
//! `cluster` section; a setting it writes must then equal the cluster's, or the join stops
//! before touching the host with an error naming both values.

use serde_json::Value;

use super::types::{ClusterSpec, NodeConfig};
use super::versions::KubeVersion;

/// Where the cluster's configuration is read from, as error messages name it.
pub const CLUSTER_SOURCE: &str = "the cluster's ConfigMap kube-system/kubeadm-config";

/// One setting written in the user-data that the cluster has otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    /// NodeConfig path, `cluster.networking.podSubnet`.
    pub path: String,
    pub user_data: String,
    pub cluster: String,
}

/// The node's config with the cluster's settings in place of its own `cluster` section, or
/// every contradiction between the two. `cluster.ca` (never uploaded) is left as it was.
pub fn follow_cluster(user: &NodeConfig, cluster: ClusterSpec) -> Result<NodeConfig, Vec<Contradiction>> {
    let found = contradictions(user, &cluster);
    if !found.is_empty() {
        return Err(found);
    }
    let mut cfg = user.clone();
    cfg.cluster = ClusterSpec { ca: user.cluster.ca.clone(), ..cluster };
    Ok(cfg)
}

/// The settings the user-data wrote under `cluster` whose value differs from the cluster's.
pub fn contradictions(user: &NodeConfig, cluster: &ClusterSpec) -> Vec<Contradiction> {
    let Some(Value::Object(written)) = &user.written_cluster.0 else { return vec![] };
    let mine = serde_json::to_value(&user.cluster).unwrap_or(Value::Null);
    let theirs = serde_json::to_value(cluster).unwrap_or(Value::Null);
    let mut out = vec![];
    for (key, shape) in written {
        if key == "ca" {
            continue;
        }
        walk(shape, mine.get(key), theirs.get(key), &format!("cluster.{key}"), &mut out);
    }
    out
}

/// Compares at the written leaves: a mapping written in the user-data is compared key by key,
/// anything else (a scalar, a list, a map-style extraArgs) as a whole.
fn walk(shape: &Value, mine: Option<&Value>, theirs: Option<&Value>, path: &str, out: &mut Vec<Contradiction>) {
    if let (Value::Object(keys), Some(Value::Object(_))) = (shape, mine) {
        for (k, sub) in keys {
            walk(sub, mine.and_then(|m| m.get(k)), theirs.and_then(|t| t.get(k)), &format!("{path}.{k}"), out);
        }
        return;
    }
    let (mine, theirs) = (mine.cloned().unwrap_or(Value::Null), theirs.cloned().unwrap_or(Value::Null));
    if same(path, &mine, &theirs) {
        return;
    }
    out.push(Contradiction { path: path.to_string(), user_data: show(&mine), cluster: show(&theirs) });
}

fn same(path: &str, a: &Value, b: &Value) -> bool {
    let empty = |v: &Value| {
        v.is_null() || v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(|m| m.is_empty())
    };
    if empty(a) && empty(b) {
        return true;
    }
    if path == "cluster.kubernetesVersion"
        && let (Some(a), Some(b)) = (a.as_str(), b.as_str())
        && let (Ok(a), Ok(b)) = (KubeVersion::parse(a), KubeVersion::parse(b))
    {
        return a.to_string() == b.to_string();
    }
    a == b
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(not set)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One error for all contradictions, each naming both values and where they came from.
pub fn describe(found: &[Contradiction]) -> String {
    let mut s = format!(
        "the user-data contradicts the cluster it joins; a join takes the cluster-wide settings from {CLUSTER_SOURCE}:"
    );
    for c in found {
        s.push_str(&format!(
            "\n  {}: {:?} in the user-data, but {:?} in {CLUSTER_SOURCE}",
            c.path, c.user_data, c.cluster
        ));
    }
    s.push_str(
        "\nRemove these settings from the user-data (a join needs only join.*, certificateKey and the node's own \
         settings) or make them match the cluster",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> NodeConfig {
        crate::config::load("u.yaml", yaml.as_bytes()).unwrap_or_else(|d| panic!("{d}"))
    }

    const JOIN: &str = "join:\n  apiServerEndpoint: 10.0.0.1:6443\n  token: abcdef.0123456789abcdef\n  \
                        unsafeSkipCAVerification: true\n";

    fn cluster(yaml: &str) -> ClusterSpec {
        crate::config::kubeadm::cluster_spec_from_kubeadm_config(yaml).unwrap()
    }

    const CLUSTER: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n\
                           kubernetesVersion: v1.34.1\ncontrolPlaneEndpoint: lb:6443\n\
                           networking:\n  serviceSubnet: 10.96.0.0/12\n  podSubnet: 10.244.0.0/16\n\
                           apiServer:\n  certSANs: [lb, 10.0.0.100]\n  extraArgs:\n  - name: audit-log-maxage\n    value: \"30\"\n";

    #[test]
    fn a_join_without_cluster_settings_takes_the_clusters() {
        let user = load(&format!("apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\n{JOIN}"));
        let cfg = follow_cluster(&user, cluster(CLUSTER)).unwrap();
        assert_eq!(cfg.cluster.kubernetes_version, "v1.34.1");
        assert_eq!(cfg.cluster.control_plane_endpoint.as_deref(), Some("lb:6443"));
        assert_eq!(cfg.cluster.api_server.cert_sans, ["lb", "10.0.0.100"]);
        assert_eq!(cfg.join, user.join);
    }

    #[test]
    fn equal_settings_are_fine_and_different_ones_name_both_values() {
        let same = load(&format!(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\ncluster:\n  kubernetesVersion: 1.34.1\n  \
             networking:\n    podSubnet: 10.244.0.0/16\n{JOIN}"
        ));
        assert!(follow_cluster(&same, cluster(CLUSTER)).is_ok());
        // The user-data's defaults (v1.33.5, cluster.local) are not contradictions: not written.
        let other = load(&format!(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\ncluster:\n  kubernetesVersion: v1.33.5\n  \
             networking:\n    podSubnet: 192.168.0.0/16\n{JOIN}"
        ));
        let found = follow_cluster(&other, cluster(CLUSTER)).unwrap_err();
        assert_eq!(
            found,
            [
                Contradiction {
                    path: "cluster.kubernetesVersion".into(),
                    user_data: "v1.33.5".into(),
                    cluster: "v1.34.1".into()
                },
                Contradiction {
                    path: "cluster.networking.podSubnet".into(),
                    user_data: "192.168.0.0/16".into(),
                    cluster: "10.244.0.0/16".into()
                },
            ]
        );
        let msg = describe(&found);
        assert!(msg.contains("\"v1.33.5\" in the user-data, but \"v1.34.1\" in the cluster's ConfigMap"), "{msg}");
    }

    #[test]
    fn kubeadm_cluster_configuration_in_join_user_data_is_compared_too() {
        let user = load(
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    \
             apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n\
             ---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: prod\n\
             apiServer:\n  extraArgs:\n    audit-log-maxage: \"30\"\n",
        );
        let found = contradictions(&user, &cluster(CLUSTER));
        let paths: Vec<&str> = found.iter().map(|c| c.path.as_str()).collect();
        // The same audit flag in v1beta3 map form is no contradiction; another cluster name is.
        assert_eq!(paths, ["cluster.name"], "{found:?}");
    }
}
