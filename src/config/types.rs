//! The native user-data format, `kubeboot.io/v1alpha1` `NodeConfig`.
//!
//! Field names and defaults follow kubeadm's `v1beta4` API so an operator who knows
//! kubeadm can read a NodeConfig without a manual. Every struct rejects unknown keys;
//! the JSON Schema (`kubeboot config schema`) is generated from these types and is the
//! single description of the format used by the strict validator in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

pub const API_VERSION: &str = "kubeboot.io/v1alpha1";
pub const KIND: &str = "NodeConfig";

/// One machine's complete description: what it becomes and how it reaches the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "kubeboot NodeConfig")]
pub struct NodeConfig {
    /// Must be `kubeboot.io/v1alpha1`.
    pub api_version: String,
    /// Must be `NodeConfig`.
    pub kind: String,
    /// What this machine becomes.
    pub role: Role,
    #[serde(default)]
    pub node: NodeSpec,
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Bootstrap tokens created by the first control-plane node (kubeadm `bootstrapTokens`).
    /// When empty on `control-plane`, one token is generated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// Upload the shared CA files as Secret kube-system/kubeadm-certs (kubeadm `--upload-certs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upload_certs: bool,
    /// 64 hex characters: the AES-256 key for kubeadm-certs. Generated when absent. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// How a joining node finds and trusts the cluster (`worker` and `control-plane-join`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinSpec>,
    /// A KubeletConfiguration (kubelet.config.k8s.io/v1beta1) merged over kubeadm's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub kubelet_configuration: Option<serde_json::Value>,
    /// A KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) merged over kubeadm's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub kube_proxy_configuration: Option<serde_json::Value>,
    #[serde(default)]
    pub preflight: PreflightSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportSpec>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Phases to skip, by kubeadm name (`addon/kube-proxy`, `upload-certs`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    /// Automatic renewal of the leaf certificates and kubeconfig client certificates
    /// (`kubeboot-cert-renew.timer` and `kubeboot run` at boot).
    #[serde(default)]
    pub certificate_renewal: CertificateRenewal,
    /// What the user-data itself wrote under `cluster` (defaults left out): a join compares
    /// exactly these settings with the cluster's own configuration. Not part of the format.
    #[serde(skip)]
    #[schemars(skip)]
    pub written_cluster: WrittenCluster,
    /// kubeadm patches: a directory of `target[suffix][+patchtype].json|yaml` files laid over
    /// the rendered static Pods, KubeletConfiguration and CoreDNS Deployment (kubeadm `patches`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
}

/// The `cluster` keys as written in the user-data (a JSON tree of what was there, before
/// defaulting), or `None` when the user-data had no cluster section. Provenance, not value:
/// two configs that differ only here are equal.
#[derive(Debug, Clone, Default)]
pub struct WrittenCluster(pub Option<serde_json::Value>);

impl PartialEq for WrittenCluster {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// kubeadm v1beta4 `patches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patches {
    /// A directory on the node (for example written by cloud-init `write_files`) holding files
    /// named `target[suffix][+patchtype].json|yaml`: target `etcd`, `kube-apiserver`,
    /// `kube-controller-manager`, `kube-scheduler`, `kubeletconfiguration` or
    /// `corednsdeployment`; patch type `strategic` (default), `merge` or `json`.
    pub directory: String,
}

/// When kubeboot renews certificates by itself (no kubeadm equivalent: kubeadm renews only
/// on `kubeadm upgrade` or `kubeadm certs renew` by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateRenewal {
    /// `false` turns automatic renewal off (the timer and the check at boot do nothing;
    /// `kubeboot certs renew` by hand still works).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Renew a certificate when it expires within this duration (Go duration, default `720h`, 30 days).
    #[serde(default = "default_renew_before")]
    pub before: GoDuration,
}

impl Default for CertificateRenewal {
    fn default() -> Self {
        CertificateRenewal { enabled: true, before: default_renew_before() }
    }
}

fn default_renew_before() -> GoDuration {
    GoDuration::from_hours(720)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The first control-plane node: what `kubeadm init` does.
    ControlPlane,
    /// An additional control-plane node: `kubeadm join --control-plane`.
    ControlPlaneJoin,
    /// A worker: `kubeadm join`.
    Worker,
}

impl Role {
    pub fn is_control_plane(self) -> bool {
        matches!(self, Role::ControlPlane | Role::ControlPlaneJoin)
    }
    pub fn is_join(self) -> bool {
        matches!(self, Role::ControlPlaneJoin | Role::Worker)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::ControlPlaneJoin => "control-plane-join",
            Role::Worker => "worker",
        }
    }
}

/// kubeadm's `nodeRegistration` plus `localAPIEndpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name; defaults to the lower-cased host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IP the API server (and etcd) advertise; defaults to the address of the default-route interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
    /// The API server's secure port.
    #[serde(default = "default_bind_port")]
    pub bind_port: u16,
    /// CRI endpoint; when absent the one runtime found on the host is used (more than one is an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    /// Extra labels for the Node (applied with `--node-labels`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Taints. Absent on a control-plane node means kubeadm's default
    /// `node-role.kubernetes.io/control-plane:NoSchedule`; `[]` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// Extra kubelet flags, kubeadm v1beta4 style (`- name: x, value: y`); they override kubeadm's by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubelet_extra_args: Vec<Arg>,
    #[serde(default)]
    pub image_pull_policy: PullPolicy,
    #[serde(default = "default_true")]
    pub image_pull_serial: bool,
    /// At first boot (`kubeboot run`), set the system host name to the node name (meta-data
    /// `local-hostname` when no name is given), as cloud-init and Afterburn do. `false`, or an
    /// image file `/etc/kubeboot/preserve-hostname`, leaves the host name alone.
    #[serde(default = "default_true")]
    pub set_hostname: bool,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            name: None,
            advertise_address: None,
            bind_port: default_bind_port(),
            cri_socket: None,
            labels: BTreeMap::new(),
            taints: None,
            kubelet_extra_args: vec![],
            image_pull_policy: PullPolicy::default(),
            image_pull_serial: true,
            set_hostname: true,
        }
    }
}

fn default_bind_port() -> u16 {
    6443
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
    /// When the taint was added (RFC 3339); set on the Node by mark-control-plane. Not on
    /// workers, whose taints the kubelet registers without a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A command-line flag as kubeadm v1beta4 writes it: `--name=value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// kubeadm's ClusterConfiguration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Cluster name (kubeconfig cluster name, controller-manager `--cluster-name`).
    #[serde(default = "default_cluster_name")]
    pub name: String,
    /// `v1.31.x` to `v1.34.x`.
    #[serde(default = "default_kubernetes_version")]
    pub kubernetes_version: String,
    /// `host[:port]` of a stable endpoint (load balancer or DNS name) for all control-plane nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    #[serde(default)]
    pub networking: Networking,
    #[serde(default = "default_image_repository")]
    pub image_repository: String,
    #[serde(default)]
    pub encryption_algorithm: EncryptionAlgorithm,
    #[serde(default = "default_cert_validity")]
    pub certificate_validity_period: GoDuration,
    #[serde(default = "default_ca_validity")]
    pub ca_certificate_validity_period: GoDuration,
    #[serde(default = "default_certificates_dir")]
    pub certificates_dir: String,
    #[serde(default)]
    pub api_server: ApiServer,
    #[serde(default)]
    pub controller_manager: ControlPlaneComponent,
    #[serde(default)]
    pub scheduler: ControlPlaneComponent,
    #[serde(default)]
    pub etcd: Etcd,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub proxy: Proxy,
    /// kubeadm feature gates (ControlPlaneKubeletLocalMode, NodeLocalCRISocket,
    /// WaitForAllControlPlaneComponents, ...); unset gates take the version's default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    /// A cluster CA supplied in user-data instead of generated. Its key is a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<SuppliedCa>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: default_cluster_name(),
            kubernetes_version: default_kubernetes_version(),
            control_plane_endpoint: None,
            networking: Networking::default(),
            image_repository: default_image_repository(),
            encryption_algorithm: EncryptionAlgorithm::default(),
            certificate_validity_period: default_cert_validity(),
            ca_certificate_validity_period: default_ca_validity(),
            certificates_dir: default_certificates_dir(),
            api_server: ApiServer::default(),
            controller_manager: ControlPlaneComponent::default(),
            scheduler: ControlPlaneComponent::default(),
            etcd: Etcd::default(),
            dns: Dns::default(),
            proxy: Proxy::default(),
            feature_gates: BTreeMap::new(),
            ca: None,
        }
    }
}

pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.33.5";

fn default_cluster_name() -> String {
    "kubernetes".into()
}
fn default_kubernetes_version() -> String {
    DEFAULT_KUBERNETES_VERSION.into()
}
fn default_image_repository() -> String {
    "registry.k8s.io".into()
}
fn default_cert_validity() -> GoDuration {
    GoDuration::from_hours(8760)
}
fn default_ca_validity() -> GoDuration {
    GoDuration::from_hours(87600)
}
fn default_certificates_dir() -> String {
    "/etc/kubernetes/pki".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// Comma-separated for dual-stack; the first CIDR gives the API (1st) and DNS (10th) service IPs.
    #[serde(default = "default_service_subnet")]
    pub service_subnet: String,
    /// Comma-separated for dual-stack; enables node CIDR allocation in the controller-manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    #[serde(default = "default_dns_domain")]
    pub dns_domain: String,
}

impl Default for Networking {
    fn default() -> Self {
        Networking { service_subnet: default_service_subnet(), pod_subnet: None, dns_domain: default_dns_domain() }
    }
}

fn default_service_subnet() -> String {
    "10.96.0.0/12".into()
}
fn default_dns_domain() -> String {
    "cluster.local".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum EncryptionAlgorithm {
    #[default]
    #[serde(rename = "RSA-2048")]
    Rsa2048,
    #[serde(rename = "RSA-3072")]
    Rsa3072,
    #[serde(rename = "RSA-4096")]
    Rsa4096,
    #[serde(rename = "ECDSA-P256")]
    EcdsaP256,
    /// Kubernetes 1.34+.
    #[serde(rename = "ECDSA-P384")]
    EcdsaP384,
}

impl EncryptionAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptionAlgorithm::Rsa2048 => "RSA-2048",
            EncryptionAlgorithm::Rsa3072 => "RSA-3072",
            EncryptionAlgorithm::Rsa4096 => "RSA-4096",
            EncryptionAlgorithm::EcdsaP256 => "ECDSA-P256",
            EncryptionAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    /// Extra Subject Alternative Names for apiserver.crt: IPs become IP SANs, DNS names DNS SANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "certSANs")]
    pub cert_sans: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlaneComponent {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_volumes: Vec<HostPathMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathMount {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// A v1 HostPathType (`DirectoryOrCreate`, `File`, ...); empty means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Etcd {
    /// Stacked etcd on this node (the default when `external` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalEtcd>,
    /// An etcd cluster run elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalEtcd>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalEtcd {
    #[serde(default = "default_etcd_data_dir")]
    pub data_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_envs: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "serverCertSANs")]
    pub server_cert_sans: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "peerCertSANs")]
    pub peer_cert_sans: Vec<String>,
}

impl Default for LocalEtcd {
    fn default() -> Self {
        LocalEtcd {
            data_dir: default_etcd_data_dir(),
            image_repository: None,
            image_tag: None,
            extra_args: vec![],
            extra_envs: vec![],
            server_cert_sans: vec![],
            peer_cert_sans: vec![],
        }
    }
}

fn default_etcd_data_dir() -> String {
    "/var/lib/etcd".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalEtcd {
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub ca_file: String,
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proxy {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// A CA provided by the operator (PEM). The key never leaves this file and the PKI dir.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuppliedCa {
    /// PEM certificate.
    pub cert: String,
    /// PEM private key (PKCS#1, SEC1 or PKCS#8). Secret.
    pub key: String,
}

/// kubeadm's BootstrapToken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapToken {
    /// `[a-z0-9]{6}.[a-z0-9]{16}`; generated when absent. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Time to live; `0s` never expires.
    #[serde(default = "default_token_ttl")]
    pub ttl: GoDuration,
    /// When the token expires (RFC 3339, e.g. `2030-01-02T03:04:05Z`); wins over `ttl`, as in kubeadm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default = "default_token_usages")]
    pub usages: Vec<String>,
    #[serde(default = "default_token_groups")]
    pub groups: Vec<String>,
}

pub const DEFAULT_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

fn default_token_ttl() -> GoDuration {
    GoDuration::from_hours(24)
}
fn default_token_usages() -> Vec<String> {
    vec!["signing".into(), "authentication".into()]
}
fn default_token_groups() -> Vec<String> {
    vec![DEFAULT_TOKEN_GROUP.into()]
}

impl Default for BootstrapToken {
    fn default() -> Self {
        BootstrapToken {
            token: None,
            description: None,
            ttl: default_token_ttl(),
            expires: None,
            usages: default_token_usages(),
            groups: default_token_groups(),
        }
    }
}

/// kubeadm's JoinConfiguration.discovery (+ controlPlane.certificateKey).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinSpec {
    /// `host:port` of the cluster's API server (token discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_endpoint: Option<String>,
    /// Bootstrap token `abcdef.0123456789abcdef` used for discovery and TLS bootstrap. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Pins on the cluster CA: `sha256:<64 hex>` of its SubjectPublicKeyInfo.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_hashes: Vec<String>,
    /// Accept the cluster CA without a pin. Unsafe: anyone on the path can impersonate the cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not", rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: bool,
    /// Token for TLS bootstrap when it differs from the discovery token. Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap_token: Option<String>,
    /// File discovery instead of token discovery: a kubeconfig path, `file://` or `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_file: Option<String>,
    /// Client URLs (`https://host:2379`) of existing etcd members, for a control-plane join with
    /// stacked etcd. When empty they are read, as kubeadm does, from the etcd static Pods'
    /// `kubeadm.kubernetes.io/etcd.advertise-client-urls` annotation through admin.conf.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etcd_endpoints: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreflightSpec {
    /// Check names to demote from error to warning, as kubeadm `--ignore-preflight-errors`
    /// (case-insensitive); `all` ignores every check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_errors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportSpec {
    /// Where to POST the JSON completion report (http or https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Extra request headers (e.g. an authorization header; values are never logged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// PEM CA certificate(s) of a private collector: an https `url` is then verified against
    /// these only, instead of the system trust store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    /// Include the generated certificate key in the console output and report (off by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_certificate_key: bool,
}

/// kubeadm v1beta4 `timeouts`, same names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "t_4m")]
    pub control_plane_component_health_check: GoDuration,
    #[serde(default = "t_4m")]
    pub kubelet_health_check: GoDuration,
    #[serde(default = "t_1m")]
    #[serde(rename = "kubernetesAPICall")]
    pub kubernetes_api_call: GoDuration,
    #[serde(default = "t_2m")]
    #[serde(rename = "etcdAPICall")]
    pub etcd_api_call: GoDuration,
    #[serde(default = "t_5m")]
    pub tls_bootstrap: GoDuration,
    #[serde(default = "t_5m")]
    pub discovery: GoDuration,
    #[serde(default = "t_5m")]
    pub upgrade_manifests: GoDuration,
}

fn t_1m() -> GoDuration {
    GoDuration::from_secs(60)
}
fn t_2m() -> GoDuration {
    GoDuration::from_secs(120)
}
fn t_4m() -> GoDuration {
    GoDuration::from_secs(240)
}
fn t_5m() -> GoDuration {
    GoDuration::from_secs(300)
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            control_plane_component_health_check: t_4m(),
            kubelet_health_check: t_4m(),
            kubernetes_api_call: t_1m(),
            etcd_api_call: t_2m(),
            tls_bootstrap: t_5m(),
            discovery: t_5m(),
            upgrade_manifests: t_5m(),
        }
    }
}
