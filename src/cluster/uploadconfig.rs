//! upload-config (reference §7): the `kubeadm-config` ConfigMap (ClusterConfiguration as
//! kubeadm v1beta4 YAML), the `kubelet-config` ConfigMap with its component-config hash, their
//! Roles and RoleBindings, and the CRI-socket Node annotation where the version still uses it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Map, Value, json};

use super::client::{ApiClient, meta};
use super::rbac::{group, role, role_binding, rule};
use super::{KUBE_SYSTEM, NODE_BOOTSTRAP_GROUP, NODES_GROUP, report};
use crate::config::resolve::KUBELET_DIR;
use crate::config::{Arg, ControlPlaneComponent, EnvVar, HostPathMount, Resolved};
use crate::workflow::Ctx;

pub const KUBEADM_CONFIG: &str = "kubeadm-config";
pub const KUBELET_CONFIG: &str = "kubelet-config";
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
pub const KUBELET_CONFIG_KEY: &str = "kubelet";
pub const COMPONENT_CONFIG_HASH: &str = "kubeadm.kubernetes.io/component-config.hash";
pub const CRI_SOCKET_ANNOTATION: &str = "kubeadm.alpha.kubernetes.io/cri-socket";

pub async fn upload_kubeadm_config(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    ctx.say(
        "upload-config",
        format_args!(
            "Storing the configuration used in ConfigMap \"{KUBEADM_CONFIG}\" in the \"{KUBE_SYSTEM}\" Namespace"
        ),
    );
    let yaml = cluster_configuration_yaml(&ctx.node);
    let desired = ConfigMap {
        metadata: meta(KUBE_SYSTEM, KUBEADM_CONFIG),
        data: Some(BTreeMap::from([(CLUSTER_CONFIGURATION_KEY.to_string(), yaml.clone())])),
        ..Default::default()
    };
    // kubeadm CreateOrMutateConfigMap: only the ClusterConfiguration key is ours.
    let outcome = client
        .create_or_mutate(&desired, |cm| {
            cm.data.get_or_insert_default().insert(CLUSTER_CONFIGURATION_KEY.into(), yaml.clone());
        })
        .await?;
    report(ctx, "upload-config", "ConfigMap kube-system/kubeadm-config", outcome);
    let name = "kubeadm:nodes-kubeadm-config";
    let r = role(KUBE_SYSTEM, name, vec![rule(&["get"], &[""], &["configmaps"], &[KUBEADM_CONFIG])]);
    report(ctx, "upload-config", &format!("Role kube-system/{name}"), client.create_or_update(&r).await?);
    let rb = role_binding(KUBE_SYSTEM, name, name, vec![group(NODE_BOOTSTRAP_GROUP), group(NODES_GROUP)]);
    report(ctx, "upload-config", &format!("RoleBinding kube-system/{name}"), client.create_or_update(&rb).await?);
    Ok(())
}

pub async fn upload_kubelet_config(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    ctx.say(
        "kubelet",
        format_args!(
            "Creating a ConfigMap \"{KUBELET_CONFIG}\" in namespace {KUBE_SYSTEM} with the configuration for the kubelets in the cluster"
        ),
    );
    let cm = kubelet_config_map(ctx)?;
    report(ctx, "kubelet", "ConfigMap kube-system/kubelet-config", client.create_or_update(&cm).await?);
    let name = "kubeadm:kubelet-config";
    let r = role(KUBE_SYSTEM, name, vec![rule(&["get"], &[""], &["configmaps"], &[KUBELET_CONFIG])]);
    report(ctx, "kubelet", &format!("Role kube-system/{name}"), client.create_or_update(&r).await?);
    let rb = role_binding(KUBE_SYSTEM, name, name, vec![group(NODES_GROUP), group(NODE_BOOTSTRAP_GROUP)]);
    report(ctx, "kubelet", &format!("RoleBinding kube-system/{name}"), client.create_or_update(&rb).await?);

    annotate_cri_socket(ctx, client, "upload-config").await
}

/// Before NodeLocalCRISocket (default off before 1.34) kubeadm records the CRI socket on the
/// Node as an annotation: on init in upload-config, on join after TLS bootstrap.
pub async fn annotate_cri_socket(ctx: &Ctx, client: &ApiClient, phase: &str) -> Result<()> {
    if ctx.node.gates.node_local_cri_socket {
        return Ok(());
    }
    let socket = ctx.node.cri_socket.clone();
    ctx.say(
        phase,
        format_args!(
            "Saving the CRI socket information \"{socket}\" to the Node API object \"{}\" as an annotation",
            ctx.node.node_name
        ),
    );
    super::markcontrolplane::patch_node(ctx, client, |node| {
        let current = node.metadata.annotations.as_ref().and_then(|a| a.get(CRI_SOCKET_ANNOTATION));
        (current != Some(&socket)).then(|| json!({ "metadata": { "annotations": { CRI_SOCKET_ANNOTATION: socket } } }))
    })
    .await
}

/// kube-system/kubelet-config: the cluster-wide KubeletConfiguration. It is the file the
/// kubelet-start phase wrote, minus the instance-specific `containerRuntimeEndpoint` that
/// instance-config.yaml merges in (NodeLocalCRISocket). A generated config is signed with the
/// component-config hash; a user-supplied one is not (kubeadm `SignConfigMap`).
pub fn kubelet_config_map(ctx: &Ctx) -> Result<ConfigMap> {
    let path = format!("{KUBELET_DIR}/config.yaml");
    let text = ctx
        .host
        .read_to_string(&path)
        .with_context(|| format!("reading {path}; it is written by `kubeboot init phase kubelet-start`"))?;
    let mut config: Value = serde_saphyr::from_str(&text).with_context(|| format!("parsing {path}"))?;
    if ctx.node.gates.node_local_cri_socket
        && let Some(obj) = config.as_object_mut()
    {
        obj.remove("containerRuntimeEndpoint");
    }
    let yaml = to_yaml(&config);
    let mut cm = ConfigMap {
        metadata: meta(KUBE_SYSTEM, KUBELET_CONFIG),
        data: Some(BTreeMap::from([(KUBELET_CONFIG_KEY.to_string(), yaml)])),
        ..Default::default()
    };
    if ctx.node.cfg.kubelet_configuration.is_none() {
        sign_config_map(&mut cm);
    }
    Ok(cm)
}

/// kubeadm `SignConfigMap`: `sha256:<hex>` over the values in key order (data, then binaryData).
pub fn sign_config_map(cm: &mut ConfigMap) {
    use aws_lc_rs::digest;
    let mut ctx = digest::Context::new(&digest::SHA256);
    for v in cm.data.iter().flat_map(|d| d.values()) {
        ctx.update(v.as_bytes());
    }
    for v in cm.binary_data.iter().flat_map(|d| d.values()) {
        ctx.update(&v.0);
    }
    let hex: String = ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    cm.metadata.annotations.get_or_insert_default().insert(COMPONENT_CONFIG_HASH.into(), format!("sha256:{hex}"));
}

/// The ClusterConfiguration kubeadm stores (v1beta4, keys alphabetical, empty structs as `{}`,
/// InitConfiguration-only fields left out).
pub fn cluster_configuration_yaml(node: &Resolved) -> String {
    let c = &node.cfg.cluster;
    let mut cfg = Map::new();
    let mut api_server = component(&ControlPlaneComponent {
        extra_args: c.api_server.extra_args.clone(),
        extra_volumes: c.api_server.extra_volumes.clone(),
        extra_envs: c.api_server.extra_envs.clone(),
    });
    if !c.api_server.cert_sans.is_empty() {
        api_server.insert("certSANs".into(), json!(c.api_server.cert_sans));
    }
    cfg.insert("apiServer".into(), Value::Object(api_server));
    cfg.insert("apiVersion".into(), json!("kubeadm.k8s.io/v1beta4"));
    cfg.insert("caCertificateValidityPeriod".into(), json!(c.ca_certificate_validity_period.to_string()));
    cfg.insert("certificateValidityPeriod".into(), json!(c.certificate_validity_period.to_string()));
    cfg.insert("certificatesDir".into(), json!(c.certificates_dir));
    cfg.insert("clusterName".into(), json!(c.name));
    if let Some(ep) = &c.control_plane_endpoint {
        cfg.insert("controlPlaneEndpoint".into(), json!(ep));
    }
    cfg.insert("controllerManager".into(), Value::Object(component(&c.controller_manager)));
    let mut dns = Map::new();
    if c.dns.disabled {
        dns.insert("disabled".into(), json!(true));
    }
    insert_opt(&mut dns, "imageRepository", &c.dns.image_repository);
    insert_opt(&mut dns, "imageTag", &c.dns.image_tag);
    cfg.insert("dns".into(), Value::Object(dns));
    cfg.insert("encryptionAlgorithm".into(), json!(c.encryption_algorithm.as_str()));
    cfg.insert("etcd".into(), etcd(node));
    if !c.feature_gates.is_empty() {
        cfg.insert("featureGates".into(), json!(c.feature_gates));
    }
    cfg.insert("imageRepository".into(), json!(c.image_repository));
    cfg.insert("kind".into(), json!("ClusterConfiguration"));
    cfg.insert("kubernetesVersion".into(), json!(node.version.to_string()));
    let mut networking = Map::new();
    networking.insert("dnsDomain".into(), json!(c.networking.dns_domain));
    insert_opt(&mut networking, "podSubnet", &c.networking.pod_subnet);
    networking.insert("serviceSubnet".into(), json!(c.networking.service_subnet));
    cfg.insert("networking".into(), Value::Object(networking));
    let mut proxy = Map::new();
    if c.proxy.disabled {
        proxy.insert("disabled".into(), json!(true));
    }
    cfg.insert("proxy".into(), Value::Object(proxy));
    cfg.insert("scheduler".into(), Value::Object(component(&c.scheduler)));
    to_yaml(&Value::Object(cfg))
}

fn etcd(node: &Resolved) -> Value {
    if let Some(ext) = node.external_etcd() {
        return json!({ "external": {
            "caFile": ext.ca_file, "certFile": ext.cert_file, "endpoints": ext.endpoints, "keyFile": ext.key_file,
        }});
    }
    let local = node.local_etcd().unwrap_or_default();
    let mut m = Map::new();
    m.insert("dataDir".into(), json!(local.data_dir));
    if !local.extra_args.is_empty() {
        m.insert("extraArgs".into(), args(&local.extra_args));
    }
    if !local.extra_envs.is_empty() {
        m.insert("extraEnvs".into(), envs(&local.extra_envs));
    }
    insert_opt(&mut m, "imageRepository", &local.image_repository);
    insert_opt(&mut m, "imageTag", &local.image_tag);
    if !local.peer_cert_sans.is_empty() {
        m.insert("peerCertSANs".into(), json!(local.peer_cert_sans));
    }
    if !local.server_cert_sans.is_empty() {
        m.insert("serverCertSANs".into(), json!(local.server_cert_sans));
    }
    json!({ "local": m })
}

fn component(c: &ControlPlaneComponent) -> Map<String, Value> {
    let mut m = Map::new();
    if !c.extra_args.is_empty() {
        m.insert("extraArgs".into(), args(&c.extra_args));
    }
    if !c.extra_envs.is_empty() {
        m.insert("extraEnvs".into(), envs(&c.extra_envs));
    }
    if !c.extra_volumes.is_empty() {
        m.insert("extraVolumes".into(), Value::Array(c.extra_volumes.iter().map(volume).collect()));
    }
    m
}

fn args(a: &[Arg]) -> Value {
    Value::Array(a.iter().map(|a| json!({ "name": a.name, "value": a.value })).collect())
}

fn envs(e: &[EnvVar]) -> Value {
    Value::Array(e.iter().map(|e| json!({ "name": e.name, "value": e.value })).collect())
}

fn volume(v: &HostPathMount) -> Value {
    let mut m = Map::new();
    m.insert("hostPath".into(), json!(v.host_path));
    m.insert("mountPath".into(), json!(v.mount_path));
    m.insert("name".into(), json!(v.name));
    insert_opt(&mut m, "pathType", &v.path_type);
    if v.read_only {
        m.insert("readOnly".into(), json!(true));
    }
    Value::Object(m)
}

fn insert_opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), json!(v));
    }
}

/// YAML with every mapping's keys sorted, as Go's sigs.k8s.io/yaml prints structs and maps.
pub fn to_yaml(v: &Value) -> String {
    crate::render::yaml::to_yaml(v).expect("JSON values serialize to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(yaml: &str) -> Resolved {
        Resolved::for_tests(yaml)
    }

    #[test]
    fn default_cluster_configuration_matches_kubeadm() {
        let node = resolved(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  kubernetesVersion: v1.34.1\n  networking:\n    podSubnet: 10.244.0.0/16\n",
        );
        assert_eq!(
            cluster_configuration_yaml(&node),
            "apiServer: {}\n\
             apiVersion: kubeadm.k8s.io/v1beta4\n\
             caCertificateValidityPeriod: 87600h0m0s\n\
             certificateValidityPeriod: 8760h0m0s\n\
             certificatesDir: /etc/kubernetes/pki\n\
             clusterName: kubernetes\n\
             controllerManager: {}\n\
             dns: {}\n\
             encryptionAlgorithm: RSA-2048\n\
             etcd:\n  local:\n    dataDir: /var/lib/etcd\n\
             imageRepository: registry.k8s.io\n\
             kind: ClusterConfiguration\n\
             kubernetesVersion: v1.34.1\n\
             networking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n\
             proxy: {}\n\
             scheduler: {}\n"
        );
    }

    /// What init uploads is what a join reads back (`join` follows kubeadm-config).
    #[test]
    fn a_join_reads_back_exactly_the_uploaded_cluster_configuration() {
        let node = resolved(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  name: prod\n  \
             kubernetesVersion: v1.34.1\n  controlPlaneEndpoint: lb:6443\n  imageRepository: mirror.local/k8s\n  \
             encryptionAlgorithm: ECDSA-P384\n  certificateValidityPeriod: 2000h\n  networking:\n    \
             podSubnet: 10.244.0.0/16\n    dnsDomain: corp.local\n  apiServer:\n    certSANs: [lb, 10.0.0.100]\n    \
             extraArgs:\n    - name: audit-log-maxage\n      value: \"30\"\n    extraVolumes:\n    - name: audit\n      \
             hostPath: /var/log/audit\n      mountPath: /var/log/audit\n      pathType: DirectoryOrCreate\n      \
             readOnly: true\n    extraEnvs:\n    - name: A\n      value: b\n  scheduler:\n    extraArgs:\n    \
             - name: v\n      value: \"2\"\n  etcd:\n    local:\n      dataDir: /data/etcd\n      imageTag: 3.6.5-0\n      \
             serverCertSANs: [etcd.local]\n      extraArgs:\n      - name: quota-backend-bytes\n        value: \"1\"\n  \
             dns:\n    imageTag: v1.12.2\n  proxy:\n    disabled: true\n  featureGates:\n    NodeLocalCRISocket: false\n",
        );
        let back =
            crate::config::kubeadm::cluster_spec_from_kubeadm_config(&cluster_configuration_yaml(&node)).unwrap();
        assert_eq!(back, node.cfg.cluster);
    }

    #[test]
    fn component_config_hash_is_over_values_in_key_order() {
        let mut cm = ConfigMap {
            data: Some(BTreeMap::from([("kubelet".to_string(), "abc".to_string())])),
            ..Default::default()
        };
        sign_config_map(&mut cm);
        // sha256("abc")
        assert_eq!(
            cm.metadata.annotations.unwrap()[COMPONENT_CONFIG_HASH],
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
