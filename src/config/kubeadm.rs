//! kubeadm's own configuration as user-data: InitConfiguration, ClusterConfiguration and
//! JoinConfiguration in `kubeadm.k8s.io/v1beta4` and `v1beta3` (map-style extraArgs),
//! with KubeletConfiguration and KubeProxyConfiguration passed through — mapped onto the
//! same NodeConfig, so an operator can drop in the kubeadm.yaml they already have.
//!
//! The types are generic over the extraArgs shape: `Vec<Arg>` (v1beta4) or a map (v1beta3).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::duration::GoDuration;
use super::types::*;
use super::yaml::{Node, Pos};
use super::{Findings, check_against_schema, strict, validate};

pub const V1BETA4: &str = "kubeadm.k8s.io/v1beta4";
pub const V1BETA3: &str = "kubeadm.k8s.io/v1beta3";

/// v1beta4 lists `{name, value}`; v1beta3 uses a map. Both become a list of `Arg`.
pub trait ExtraArgs: DeserializeOwned + JsonSchema + Default {
    fn into_args(self) -> Vec<Arg>;
}
impl ExtraArgs for Vec<Arg> {
    fn into_args(self) -> Vec<Arg> {
        self
    }
}
impl ExtraArgs for BTreeMap<String, String> {
    fn into_args(self) -> Vec<Arg> {
        self.into_iter().map(|(name, value)| Arg { name, value }).collect()
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct InitConfiguration<A> {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub bootstrap_tokens: Vec<KBootstrapToken>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistration<A>,
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub certificate_key: Option<String>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<super::types::Patches>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct NodeRegistration<A> {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub cri_socket: Option<String>,
    #[serde(default)]
    pub taints: Option<Vec<KTaint>>,
    #[serde(default)]
    pub kubelet_extra_args: A,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KTaint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
    #[serde(default)]
    pub time_added: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    #[serde(default)]
    pub advertise_address: Option<String>,
    #[serde(default)]
    pub bind_port: Option<u16>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KBootstrapToken {
    pub token: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub ttl: Option<GoDuration>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub usages: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct ClusterConfiguration<A> {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub etcd: KEtcd<A>,
    #[serde(default)]
    pub networking: Option<KNetworking>,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub control_plane_endpoint: Option<String>,
    #[serde(default)]
    pub api_server: KApiServer<A>,
    #[serde(default)]
    pub controller_manager: KComponent<A>,
    #[serde(default)]
    pub scheduler: KComponent<A>,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default)]
    pub certificates_dir: Option<String>,
    #[serde(default)]
    pub image_repository: Option<String>,
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub encryption_algorithm: Option<EncryptionAlgorithm>,
    #[serde(default)]
    pub certificate_validity_period: Option<GoDuration>,
    #[serde(default)]
    pub ca_certificate_validity_period: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KNetworking {
    #[serde(default)]
    pub service_subnet: Option<String>,
    #[serde(default)]
    pub pod_subnet: Option<String>,
    #[serde(default)]
    pub dns_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct KApiServer<A> {
    #[serde(default)]
    pub extra_args: A,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, rename = "certSANs")]
    pub cert_sans: Vec<String>,
    /// v1beta3 only; v1beta4 has timeouts.controlPlaneComponentHealthCheck.
    #[serde(default)]
    pub timeout_for_control_plane: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct KComponent<A> {
    #[serde(default)]
    pub extra_args: A,
    #[serde(default)]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct KEtcd<A> {
    #[serde(default)]
    pub local: Option<KLocalEtcd<A>>,
    #[serde(default)]
    pub external: Option<ExternalEtcd>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct KLocalEtcd<A> {
    #[serde(default)]
    pub image_repository: Option<String>,
    #[serde(default)]
    pub image_tag: Option<String>,
    #[serde(default)]
    pub data_dir: Option<String>,
    #[serde(default)]
    pub extra_args: A,
    #[serde(default)]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, rename = "serverCertSANs")]
    pub server_cert_sans: Vec<String>,
    #[serde(default, rename = "peerCertSANs")]
    pub peer_cert_sans: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "A: ExtraArgs"))]
#[schemars(bound = "A: ExtraArgs")]
pub struct JoinConfiguration<A> {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub node_registration: NodeRegistration<A>,
    #[serde(default)]
    pub ca_cert_path: Option<String>,
    pub discovery: KDiscovery,
    #[serde(default)]
    pub control_plane: Option<KJoinControlPlane>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<super::types::Patches>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KDiscovery {
    #[serde(default)]
    pub bootstrap_token: Option<KBootstrapTokenDiscovery>,
    #[serde(default)]
    pub file: Option<KFileDiscovery>,
    #[serde(default)]
    pub tls_bootstrap_token: Option<String>,
    /// v1beta3 only; v1beta4 has timeouts.discovery.
    #[serde(default)]
    pub timeout: Option<GoDuration>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KBootstrapTokenDiscovery {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub api_server_endpoint: Option<String>,
    #[serde(default)]
    pub ca_cert_hashes: Vec<String>,
    #[serde(default, rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KFileDiscovery {
    pub kube_config_path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KJoinControlPlane {
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default)]
    pub certificate_key: Option<String>,
}

/// v1beta4 `ResetConfiguration`: used by `kubeadm reset` only. Checked like every document,
/// then left out of init/join (kubeadm init/join ignore it the same way).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfiguration {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub cleanup_tmp_dir: bool,
    #[serde(default)]
    pub certificates_dir: Option<String>,
    #[serde(default)]
    pub cri_socket: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub unmount_flags: Vec<String>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

/// v1beta4 `UpgradeConfiguration`: used by `kubeadm upgrade` only; checked, then left out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeConfiguration {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub apply: Option<UpgradeApply>,
    #[serde(default)]
    pub diff: Option<UpgradeDiff>,
    #[serde(default)]
    pub node: Option<UpgradeNode>,
    #[serde(default)]
    pub plan: Option<UpgradePlan>,
    #[serde(default)]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeApply {
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(default, rename = "allowRCUpgrades")]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default)]
    pub certificate_renewal: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub etcd_upgrade: Option<bool>,
    #[serde(default)]
    pub force_upgrade: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub patches: Option<super::types::Patches>,
    #[serde(default)]
    pub print_config: Option<bool>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeDiff {
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub context_lines: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeNode {
    #[serde(default)]
    pub certificate_renewal: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub etcd_upgrade: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub skip_phases: Vec<String>,
    #[serde(default)]
    pub patches: Option<super::types::Patches>,
    #[serde(default)]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default)]
    pub image_pull_serial: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradePlan {
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(default, rename = "allowRCUpgrades")]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    #[serde(default)]
    pub print_config: Option<bool>,
}

/// Documents of one kubeadm config file, each already structurally valid.
#[derive(Default)]
struct Docs<A> {
    init: Option<(usize, InitConfiguration<A>)>,
    cluster: Option<(usize, ClusterConfiguration<A>)>,
    join: Option<(usize, JoinConfiguration<A>)>,
}

/// Where a NodeConfig path came from, so a semantic problem points at the user's own line.
struct Origin {
    native: &'static str,
    doc: usize,
    kubeadm: &'static str,
}

pub fn import(docs: &[Node]) -> Result<NodeConfig, Findings> {
    let version = docs.iter().find_map(|d| {
        d.get("apiVersion").and_then(Node::as_str).filter(|v| v.starts_with("kubeadm.k8s.io/")).map(str::to_string)
    });
    match version.as_deref() {
        Some(V1BETA4) => import_as::<Vec<Arg>>(docs, V1BETA4),
        Some(V1BETA3) => import_as::<BTreeMap<String, String>>(docs, V1BETA3),
        Some(other) => {
            let pos = docs.iter().find_map(|d| d.get("apiVersion")).map_or(Pos::default(), |n| n.pos);
            Err(vec![(pos, "apiVersion".into(), format!("{other} is not supported; use {V1BETA4} (or {V1BETA3})"))])
        }
        None => Err(vec![(
            docs[0].pos,
            "apiVersion".into(),
            format!(
                "several YAML documents but no kubeadm configuration; a NodeConfig ({API_VERSION}) is a single document"
            ),
        )]),
    }
}

fn import_as<A: ExtraArgs>(nodes: &[Node], expected_version: &str) -> Result<NodeConfig, Findings> {
    let mut findings: Findings = vec![];
    let mut docs = Docs::<A> { init: None, cluster: None, join: None };
    let mut kubelet = None;
    let mut proxy = None;
    for (i, node) in nodes.iter().enumerate() {
        let api = node.get("apiVersion").and_then(Node::as_str).unwrap_or_default();
        let kind = node.get("kind").and_then(Node::as_str).unwrap_or_default();
        let here = |path: &str| node.locate(path);
        if api.starts_with("kubeadm.k8s.io/") && api != expected_version {
            findings.push((
                here("apiVersion"),
                "apiVersion".into(),
                format!("mixes {api} with {expected_version}; use one version"),
            ));
            continue;
        }
        match (api, kind) {
            (_, "InitConfiguration") if api == expected_version => {
                docs.init = parse_doc(node, &mut findings).map(|d| (i, d));
            }
            (_, "ClusterConfiguration") if api == expected_version => {
                docs.cluster = parse_doc(node, &mut findings).map(|d| (i, d));
            }
            (_, "JoinConfiguration") if api == expected_version => {
                docs.join = parse_doc(node, &mut findings).map(|d| (i, d));
            }
            (V1BETA4, "ResetConfiguration") => {
                if parse_doc::<ResetConfiguration>(node, &mut findings).is_some() {
                    tracing::warn!(
                        "ResetConfiguration (document {}) is for `kubeadm reset`; kubeboot init/join do not use it \
                         (nor does kubeadm init/join); `kubeboot reset` takes its options as flags",
                        i + 1
                    );
                }
            }
            (V1BETA4, "UpgradeConfiguration") => {
                if parse_doc::<UpgradeConfiguration>(node, &mut findings).is_some() {
                    tracing::warn!(
                        "UpgradeConfiguration (document {}) is for `kubeadm upgrade`; kubeboot does not upgrade \
                         clusters, so it is not used",
                        i + 1
                    );
                }
            }
            ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration") => kubelet = Some(strict::core_value(node)),
            ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration") => proxy = Some(strict::core_value(node)),
            _ => findings.push((
                node.pos,
                "kind".into(),
                format!("unexpected document {api}/{kind}; expected InitConfiguration, ClusterConfiguration, JoinConfiguration, KubeletConfiguration or KubeProxyConfiguration"),
            )),
        }
    }
    if !findings.is_empty() {
        return Err(findings);
    }
    let (cfg, origins) = to_node_config(docs, kubelet, proxy, nodes)?;
    let problems = validate::validate(&cfg);
    if problems.is_empty() {
        return Ok(cfg);
    }
    Err(problems
        .into_iter()
        .map(|p| {
            let origin = origins.iter().filter(|o| p.path.starts_with(o.native)).max_by_key(|o| o.native.len());
            match origin {
                Some(o) => {
                    let rest = p.path[o.native.len()..].trim_start_matches('.');
                    let kpath =
                        [o.kubeadm, rest].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(".");
                    (nodes[o.doc].locate(&kpath), kpath, p.message)
                }
                None => (nodes[0].pos, p.path, p.message),
            }
        })
        .collect())
}

fn parse_doc<T: DeserializeOwned + JsonSchema>(node: &Node, findings: &mut Findings) -> Option<T> {
    match check_against_schema::<T>(node, "") {
        Ok(v) => match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                findings.push((node.pos, String::new(), e.to_string()));
                None
            }
        },
        Err(f) => {
            findings.extend(f);
            None
        }
    }
}

fn to_node_config<A: ExtraArgs>(
    docs: Docs<A>,
    kubelet: Option<serde_json::Value>,
    proxy: Option<serde_json::Value>,
    nodes: &[Node],
) -> Result<(NodeConfig, Vec<Origin>), Findings> {
    let mut origins = vec![];
    let mut cfg = NodeConfig {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        role: Role::ControlPlane,
        node: NodeSpec::default(),
        cluster: ClusterSpec::default(),
        bootstrap_tokens: vec![],
        upload_certs: false,
        certificate_key: None,
        join: None,
        kubelet_configuration: kubelet,
        kube_proxy_configuration: proxy,
        preflight: PreflightSpec::default(),
        report: None,
        timeouts: Timeouts::default(),
        skip_phases: vec![],
        certificate_renewal: Default::default(),
        written_cluster: WrittenCluster::default(),
        patches: None,
    };
    let unsupported =
        |doc: usize, path: &str, msg: &str| vec![(nodes[doc].locate(path), path.to_string(), msg.to_string())];

    if let (Some(_), Some((ji, _))) = (&docs.init, &docs.join) {
        return Err(unsupported(*ji, "kind", "a file holds either InitConfiguration or JoinConfiguration, not both"));
    }
    if docs.init.is_none() && docs.cluster.is_none() && docs.join.is_none() {
        return Err(vec![(
            nodes[0].pos,
            "kind".into(),
            "no InitConfiguration, ClusterConfiguration or JoinConfiguration found".into(),
        )]);
    }

    if let Some((i, init)) = docs.init {
        if init.dry_run {
            return Err(unsupported(
                i,
                "dryRun",
                "dryRun in the config is not supported; run `kubeboot init --dry-run`",
            ));
        }
        cfg.patches = init.patches;
        apply_registration(&mut cfg, init.node_registration);
        cfg.node.advertise_address = init.local_api_endpoint.advertise_address;
        if let Some(p) = init.local_api_endpoint.bind_port {
            cfg.node.bind_port = p;
        }
        cfg.bootstrap_tokens = init
            .bootstrap_tokens
            .into_iter()
            .map(|t| {
                let d = BootstrapToken::default();
                BootstrapToken {
                    token: t.token,
                    description: t.description,
                    ttl: t.ttl.unwrap_or(d.ttl),
                    expires: t.expires,
                    usages: t.usages.unwrap_or(d.usages),
                    groups: t.groups.unwrap_or(d.groups),
                }
            })
            .collect();
        cfg.certificate_key = init.certificate_key;
        cfg.skip_phases = init.skip_phases;
        if let Some(t) = init.timeouts {
            cfg.timeouts = t;
        }
        origins.extend([
            Origin { native: "node.name", doc: i, kubeadm: "nodeRegistration.name" },
            Origin { native: "node.criSocket", doc: i, kubeadm: "nodeRegistration.criSocket" },
            Origin { native: "node.taints", doc: i, kubeadm: "nodeRegistration.taints" },
            Origin { native: "node.kubeletExtraArgs", doc: i, kubeadm: "nodeRegistration.kubeletExtraArgs" },
            Origin { native: "node.advertiseAddress", doc: i, kubeadm: "localAPIEndpoint.advertiseAddress" },
            Origin { native: "node.bindPort", doc: i, kubeadm: "localAPIEndpoint.bindPort" },
            Origin { native: "preflight.ignoreErrors", doc: i, kubeadm: "nodeRegistration.ignorePreflightErrors" },
            Origin { native: "bootstrapTokens", doc: i, kubeadm: "bootstrapTokens" },
            Origin { native: "certificateKey", doc: i, kubeadm: "certificateKey" },
            Origin { native: "skipPhases", doc: i, kubeadm: "skipPhases" },
            Origin { native: "timeouts", doc: i, kubeadm: "timeouts" },
            Origin { native: "patches", doc: i, kubeadm: "patches" },
        ]);
    }

    if let Some((i, c)) = docs.cluster {
        apply_cluster(&mut cfg, c);
        cfg.written_cluster = WrittenCluster(Some(written_shape(&nodes[i])));
        origins.extend([
            Origin { native: "cluster", doc: i, kubeadm: "" },
            Origin { native: "cluster.name", doc: i, kubeadm: "clusterName" },
        ]);
    }

    if let Some((i, join)) = docs.join {
        if join.dry_run {
            return Err(unsupported(
                i,
                "dryRun",
                "dryRun in the config is not supported; run `kubeboot join --dry-run`",
            ));
        }
        cfg.patches = join.patches;
        if join.ca_cert_path.as_deref().is_some_and(|p| p != "/etc/kubernetes/pki/ca.crt") {
            return Err(unsupported(i, "caCertPath", "only the default /etc/kubernetes/pki/ca.crt is supported"));
        }
        apply_registration(&mut cfg, join.node_registration);
        let d = join.discovery;
        let bt = d.bootstrap_token;
        let token = bt.as_ref().and_then(|b| b.token.clone());
        cfg.join = Some(JoinSpec {
            api_server_endpoint: bt.as_ref().and_then(|b| b.api_server_endpoint.clone()),
            token: token.clone().or_else(|| d.tls_bootstrap_token.clone()),
            ca_cert_hashes: bt.as_ref().map(|b| b.ca_cert_hashes.clone()).unwrap_or_default(),
            unsafe_skip_ca_verification: bt.as_ref().is_some_and(|b| b.unsafe_skip_ca_verification),
            tls_bootstrap_token: d.tls_bootstrap_token.filter(|t| Some(t) != token.as_ref()),
            discovery_file: d.file.map(|f| f.kube_config_path),
            etcd_endpoints: vec![],
        });
        if let Some(t) = d.timeout {
            cfg.timeouts.discovery = t;
        }
        cfg.role = Role::Worker;
        if let Some(cp) = join.control_plane {
            cfg.role = Role::ControlPlaneJoin;
            cfg.node.advertise_address = cp.local_api_endpoint.advertise_address;
            if let Some(p) = cp.local_api_endpoint.bind_port {
                cfg.node.bind_port = p;
            }
            cfg.certificate_key = cp.certificate_key;
            origins.extend([
                Origin {
                    native: "node.advertiseAddress",
                    doc: i,
                    kubeadm: "controlPlane.localAPIEndpoint.advertiseAddress",
                },
                Origin { native: "certificateKey", doc: i, kubeadm: "controlPlane.certificateKey" },
            ]);
        }
        cfg.skip_phases = join.skip_phases;
        if let Some(t) = join.timeouts {
            cfg.timeouts = t;
        }
        origins.extend([
            Origin { native: "node.name", doc: i, kubeadm: "nodeRegistration.name" },
            Origin { native: "node.taints", doc: i, kubeadm: "nodeRegistration.taints" },
            Origin { native: "node.kubeletExtraArgs", doc: i, kubeadm: "nodeRegistration.kubeletExtraArgs" },
            Origin { native: "preflight.ignoreErrors", doc: i, kubeadm: "nodeRegistration.ignorePreflightErrors" },
            Origin { native: "join", doc: i, kubeadm: "discovery.bootstrapToken" },
            Origin { native: "join.discoveryFile", doc: i, kubeadm: "discovery.file.kubeConfigPath" },
            Origin { native: "join.tlsBootstrapToken", doc: i, kubeadm: "discovery.tlsBootstrapToken" },
            Origin { native: "skipPhases", doc: i, kubeadm: "skipPhases" },
            Origin { native: "timeouts", doc: i, kubeadm: "timeouts" },
            Origin { native: "patches", doc: i, kubeadm: "patches" },
        ]);
    }
    Ok((cfg, origins))
}

fn apply_registration<A: ExtraArgs>(cfg: &mut NodeConfig, r: NodeRegistration<A>) {
    cfg.node.name = r.name;
    cfg.node.cri_socket = r.cri_socket;
    cfg.node.taints = r.taints.map(|ts| {
        ts.into_iter()
            .map(|t| Taint {
                key: t.key,
                value: t.value.filter(|v| !v.is_empty()),
                effect: t.effect,
                time_added: t.time_added.filter(|v| !v.is_empty()),
            })
            .collect()
    });
    cfg.node.kubelet_extra_args = r.kubelet_extra_args.into_args();
    if let Some(p) = r.image_pull_policy {
        cfg.node.image_pull_policy = p;
    }
    if let Some(s) = r.image_pull_serial {
        cfg.node.image_pull_serial = s;
    }
    cfg.preflight.ignore_errors = r.ignore_preflight_errors;
}

fn apply_cluster<A: ExtraArgs>(cfg: &mut NodeConfig, c: ClusterConfiguration<A>) {
    let d = ClusterSpec::default();
    let net = c.networking.unwrap_or_default();
    cfg.cluster = ClusterSpec {
        name: c.cluster_name.unwrap_or(d.name),
        kubernetes_version: c.kubernetes_version.unwrap_or(d.kubernetes_version),
        control_plane_endpoint: c.control_plane_endpoint.filter(|e| !e.is_empty()),
        networking: Networking {
            service_subnet: net.service_subnet.unwrap_or(d.networking.service_subnet),
            pod_subnet: net.pod_subnet.filter(|p| !p.is_empty()),
            dns_domain: net.dns_domain.unwrap_or(d.networking.dns_domain),
        },
        image_repository: c.image_repository.unwrap_or(d.image_repository),
        encryption_algorithm: c.encryption_algorithm.unwrap_or_default(),
        certificate_validity_period: c.certificate_validity_period.unwrap_or(d.certificate_validity_period),
        ca_certificate_validity_period: c.ca_certificate_validity_period.unwrap_or(d.ca_certificate_validity_period),
        certificates_dir: c.certificates_dir.unwrap_or(d.certificates_dir),
        api_server: ApiServer {
            extra_args: c.api_server.extra_args.into_args(),
            extra_volumes: c.api_server.extra_volumes,
            extra_envs: c.api_server.extra_envs,
            cert_sans: c.api_server.cert_sans,
        },
        controller_manager: component(c.controller_manager),
        scheduler: component(c.scheduler),
        etcd: Etcd {
            local: c.etcd.local.map(|l| LocalEtcd {
                data_dir: l.data_dir.unwrap_or_else(|| LocalEtcd::default().data_dir),
                image_repository: l.image_repository,
                image_tag: l.image_tag,
                extra_args: l.extra_args.into_args(),
                extra_envs: l.extra_envs,
                server_cert_sans: l.server_cert_sans,
                peer_cert_sans: l.peer_cert_sans,
            }),
            external: c.etcd.external,
        },
        dns: c.dns,
        proxy: c.proxy,
        feature_gates: c.feature_gates,
        ca: None,
    };
    if let Some(t) = c.api_server.timeout_for_control_plane {
        cfg.timeouts.control_plane_component_health_check = t;
    }
}

fn component<A: ExtraArgs>(c: KComponent<A>) -> ControlPlaneComponent {
    ControlPlaneComponent {
        extra_args: c.extra_args.into_args(),
        extra_volumes: c.extra_volumes,
        extra_envs: c.extra_envs,
    }
}

/// The settings a ClusterConfiguration document writes, under NodeConfig's `cluster` names.
fn written_shape(doc: &Node) -> serde_json::Value {
    let mut v = strict::core_value(doc);
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(name) = m.remove("clusterName") {
            m.insert("name".into(), name);
        }
        if let Some(api) = m.get_mut("apiServer").and_then(|a| a.as_object_mut()) {
            api.remove("timeoutForControlPlane");
        }
    }
    v
}

/// The ClusterConfiguration a cluster keeps in ConfigMap kube-system/kubeadm-config (what
/// kubeadm's `FetchInitConfigurationFromCluster` reads on join), as NodeConfig's `cluster`.
/// v1beta4 and v1beta3 are understood; an unknown key is an error naming it.
pub fn cluster_spec_from_kubeadm_config(text: &str) -> Result<ClusterSpec, String> {
    let docs = super::yaml::parse(text).map_err(|e| format!("line {}: {}", e.pos.line, e.message))?;
    let [doc] = docs.as_slice() else {
        return Err(format!("expected one YAML document, found {}", docs.len()));
    };
    let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or_default();
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or_default();
    if kind != "ClusterConfiguration" {
        return Err(format!("expected kind ClusterConfiguration, found {kind:?}"));
    }
    match api {
        V1BETA4 => cluster_spec_as::<Vec<Arg>>(doc),
        V1BETA3 => cluster_spec_as::<BTreeMap<String, String>>(doc),
        other => Err(format!("apiVersion {other:?} is not one kubeboot reads ({V1BETA4} or {V1BETA3})")),
    }
}

fn cluster_spec_as<A: ExtraArgs>(doc: &Node) -> Result<ClusterSpec, String> {
    let mut findings = vec![];
    let Some(c) = parse_doc::<ClusterConfiguration<A>>(doc, &mut findings) else {
        let each: Vec<String> =
            findings.iter().map(|(pos, path, msg)| format!("line {} {path}: {msg}", pos.line)).collect();
        return Err(each.join("; "));
    };
    let mut cfg = super::defaults(Role::ControlPlane);
    apply_cluster(&mut cfg, c);
    Ok(cfg.cluster)
}
