//! Static Pod manifests for etcd and the control plane (reference §4), built from k8s-openapi
//! types and serialized like kubeadm (keys alphabetical, `status: {}`), mode 0600 in a 0700
//! manifests directory.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar as KubeEnvVar, HTTPGetAction, HostPathVolumeSource, Pod, PodSecurityContext,
    PodSpec, PodStatus, Probe, ResourceRequirements, SeccompProfile, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::yaml::to_yaml;
use crate::config::resolve::{KUBERNETES_DIR, MANIFESTS_DIR, bracket};
use crate::config::{Arg, EnvVar, HostPathMount, Resolved};
use crate::plan::File;
use crate::workflow::Ctx;

pub const MANIFEST_MODE: u32 = 0o600;
pub const MANIFESTS_DIR_MODE: u32 = 0o700;
/// kubeadm creates the etcd data directory 0700.
pub const ETCD_DATA_DIR_MODE: u32 = 0o700;

/// CA certificate directories mounted into the API server and controller-manager only when
/// they exist on the host (`/etc/ssl/certs` is always mounted as `ca-certs`).
pub const OPTIONAL_CA_DIRS: &[&str] = &[
    "/etc/pki/ca-trust",
    "/etc/pki/tls/certs",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
];

/// The few facts about the host a manifest depends on, gathered by the phase so rendering stays pure.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// Entries of `OPTIONAL_CA_DIRS` present on the host.
    pub ca_dirs: Vec<String>,
    /// HTTP(S)_PROXY / NO_PROXY variables (either case) of kubeboot's environment, as kubeadm passes its own.
    pub proxy_env: Vec<(String, String)>,
    /// `ca.crt` without `ca.key`: the controller-manager gets empty signing flags.
    pub external_ca: bool,
}

impl HostFacts {
    pub fn gather(ctx: &Ctx) -> Result<Self> {
        let ca_dirs = OPTIONAL_CA_DIRS.iter().filter(|d| ctx.host.path(d).is_dir()).map(|d| d.to_string()).collect();
        let proxy_env = std::env::vars()
            .filter(|(k, _)| matches!(k.to_uppercase().as_str(), "HTTP_PROXY" | "HTTPS_PROXY" | "NO_PROXY"))
            .collect();
        Ok(HostFacts { ca_dirs, proxy_env, external_ca: crate::pki::is_external_ca(ctx, "ca")? })
    }
}

/// How the local etcd member starts: a new single-member cluster, or joining existing members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdCluster {
    New,
    /// `name=peerURL` of every member including this one.
    Existing(Vec<(String, String)>),
}

/// One line of a command: `--name=value`.
fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg { name: name.into(), value: value.into() }
}

/// The binary followed by its sorted flags (kubeadm `ArgumentsToCommand`).
pub fn command(binary: &str, defaults: Vec<Arg>, extra: &[Arg]) -> Vec<String> {
    std::iter::once(binary.to_string()).chain(super::flags(defaults, extra)).collect()
}

fn extra_value<'a>(extra: &'a [Arg], name: &str) -> Option<&'a str> {
    extra.iter().rev().find(|a| a.name == name).map(|a| a.value.as_str())
}

/// A hostPath volume and its mount at the same or another path.
#[derive(Debug, Clone)]
struct Mount {
    name: String,
    host_path: String,
    mount_path: String,
    read_only: bool,
    path_type: Option<String>,
}

impl Mount {
    fn dir(name: &str, path: &str, read_only: bool) -> Self {
        Mount {
            name: name.into(),
            host_path: path.into(),
            mount_path: path.into(),
            read_only,
            path_type: Some("DirectoryOrCreate".into()),
        }
    }

    fn file(name: &str, path: &str) -> Self {
        Mount { path_type: Some("FileOrCreate".into()), ..Mount::dir(name, path, true) }
    }

    fn from_user(m: &HostPathMount) -> Self {
        Mount {
            name: m.name.clone(),
            host_path: m.host_path.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only,
            path_type: m.path_type.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// The CA certificate mounts shared by the API server and controller-manager.
fn ca_mounts(node: &Resolved, facts: &HostFacts) -> Vec<Mount> {
    let mut mounts =
        vec![Mount::dir("k8s-certs", node.pki_dir(), true), Mount::dir("ca-certs", "/etc/ssl/certs", true)];
    for dir in &facts.ca_dirs {
        mounts.push(Mount::dir(dir.trim_start_matches('/').replace('/', "-").as_str(), dir, true));
    }
    mounts
}

/// Where and how the kubelet probes a component.
struct Probes {
    host: String,
    port: i32,
    scheme: &'static str,
    liveness: &'static str,
    readiness: Option<&'static str>,
    startup: &'static str,
}

struct Component<'a> {
    name: &'static str,
    image: String,
    command: Vec<String>,
    mounts: Vec<Mount>,
    requests: &'a [(&'static str, &'static str)],
    probes: Probes,
    annotations: BTreeMap<String, String>,
    extra_envs: &'a [EnvVar],
}

impl Component<'_> {
    fn pod(self, node: &Resolved, facts: &HostFacts) -> Pod {
        // 1.34+ (PR #132776): probes refer to a named container port.
        let named_port = node.version.at_least(34);
        let port =
            if named_port { IntOrString::String("probe-port".into()) } else { IntOrString::Int(self.probes.port) };
        let host = Some(self.probes.host.clone()).filter(|h| !h.is_empty());
        let probe = |path: &str, initial_delay: Option<i32>, period: i32, failure: i32| Probe {
            http_get: Some(HTTPGetAction {
                host: host.clone(),
                path: Some(path.into()),
                port: port.clone(),
                scheme: Some(self.probes.scheme.into()),
                ..Default::default()
            }),
            initial_delay_seconds: initial_delay,
            timeout_seconds: Some(15),
            period_seconds: Some(period),
            failure_threshold: Some(failure),
            ..Default::default()
        };
        let startup_failures = startup_failure_threshold(node);

        let mut mounts = self.mounts;
        mounts.sort_by(|a, b| a.name.cmp(&b.name));
        let volumes = mounts
            .iter()
            .map(|m| Volume {
                name: m.name.clone(),
                host_path: Some(HostPathVolumeSource { path: m.host_path.clone(), type_: m.path_type.clone() }),
                ..Default::default()
            })
            .collect();
        let volume_mounts = mounts
            .iter()
            .map(|m| VolumeMount {
                name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                read_only: m.read_only.then_some(true),
                ..Default::default()
            })
            .collect();

        let mut env: BTreeMap<String, String> = facts.proxy_env.iter().cloned().collect();
        env.extend(self.extra_envs.iter().map(|e| (e.name.clone(), e.value.clone())));
        let env: Vec<KubeEnvVar> = env
            .into_iter()
            .map(|(name, value)| KubeEnvVar { name, value: Some(value), ..Default::default() })
            .collect();

        let requests = self.requests.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect();
        let container = Container {
            name: self.name.into(),
            image: Some(self.image),
            image_pull_policy: Some(pull_policy(node).into()),
            command: Some(self.command),
            env: (!env.is_empty()).then_some(env),
            ports: named_port.then(|| {
                vec![ContainerPort {
                    container_port: self.probes.port,
                    name: Some("probe-port".into()),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]
            }),
            liveness_probe: Some(probe(self.probes.liveness, Some(10), 10, 8)),
            readiness_probe: self.probes.readiness.map(|path| probe(path, None, 1, 3)),
            startup_probe: Some(probe(self.probes.startup, Some(10), 10, startup_failures)),
            resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
            volume_mounts: Some(volume_mounts),
            ..Default::default()
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(self.name.into()),
                namespace: Some("kube-system".into()),
                labels: Some(BTreeMap::from([
                    ("component".to_string(), self.name.to_string()),
                    ("tier".to_string(), "control-plane".to_string()),
                ])),
                annotations: (!self.annotations.is_empty()).then_some(self.annotations),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![container],
                host_network: Some(true),
                priority: Some(2000001000),
                priority_class_name: Some("system-node-critical".into()),
                security_context: Some(PodSecurityContext {
                    seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
                    ..Default::default()
                }),
                volumes: Some(volumes),
                ..Default::default()
            }),
            status: Some(PodStatus::default()),
        }
    }
}

fn pull_policy(node: &Resolved) -> &'static str {
    match node.cfg.node.image_pull_policy {
        crate::config::PullPolicy::Always => "Always",
        crate::config::PullPolicy::IfNotPresent => "IfNotPresent",
        crate::config::PullPolicy::Never => "Never",
    }
}

/// Startup probe failures allowed: the control-plane health-check timeout over the 10 s period.
fn startup_failure_threshold(node: &Resolved) -> i32 {
    let secs = node.cfg.timeouts.control_plane_component_health_check.as_duration().as_secs();
    secs.div_ceil(10).max(1) as i32
}

/// Loopback for the advertise address family.
fn loopback(node: &Resolved) -> &'static str {
    if node.is_ipv6() { "::1" } else { "127.0.0.1" }
}

/// Host for a KCM/scheduler probe: `bind-address` if given (an unspecified address → no host).
fn bind_probe_host(extra: &[Arg]) -> String {
    match extra_value(extra, "bind-address") {
        Some("0.0.0.0") | Some("::") => String::new(),
        Some(addr) => addr.to_string(),
        None => "127.0.0.1".into(),
    }
}

fn port_arg(extra: &[Arg], default: i32) -> i32 {
    extra_value(extra, "secure-port").and_then(|p| p.parse().ok()).unwrap_or(default)
}

pub fn render_apiserver(node: &Resolved, facts: &HostFacts) -> Result<String> {
    let c = &node.cfg.cluster;
    let extra = &c.api_server.extra_args;
    let pki = |f: &str| node.pki(f);
    let adv = node.advertise_address().to_string();
    let port = node.cfg.node.bind_port;
    let mut defaults = vec![
        arg("advertise-address", &adv),
        arg("allow-privileged", "true"),
        arg("client-ca-file", pki("ca.crt")),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg("enable-bootstrap-token-auth", "true"),
        arg("kubelet-client-certificate", pki("apiserver-kubelet-client.crt")),
        arg("kubelet-client-key", pki("apiserver-kubelet-client.key")),
        arg("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"),
        arg("proxy-client-cert-file", pki("front-proxy-client.crt")),
        arg("proxy-client-key-file", pki("front-proxy-client.key")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("secure-port", port.to_string()),
        arg("service-account-issuer", format!("https://kubernetes.default.svc.{}", c.networking.dns_domain)),
        arg("service-account-key-file", pki("sa.pub")),
        arg("service-account-signing-key-file", pki("sa.key")),
        arg("service-cluster-ip-range", &c.networking.service_subnet),
        arg("tls-cert-file", pki("apiserver.crt")),
        arg("tls-private-key-file", pki("apiserver.key")),
    ];
    if extra_value(extra, "authorization-config").is_none() {
        defaults.push(arg("authorization-mode", "Node,RBAC"));
    }
    let mut mounts = ca_mounts(node, facts);
    match node.external_etcd() {
        None => {
            let local = node.local_etcd().unwrap_or_default();
            let servers = extra_value(&local.extra_args, "advertise-client-urls")
                .map(str::to_string)
                .unwrap_or_else(|| format!("https://{}:2379", bracket(loopback(node))));
            defaults.extend([
                arg("etcd-cafile", pki("etcd/ca.crt")),
                arg("etcd-certfile", pki("apiserver-etcd-client.crt")),
                arg("etcd-keyfile", pki("apiserver-etcd-client.key")),
                arg("etcd-servers", servers),
            ]);
        }
        Some(ext) => {
            defaults.push(arg("etcd-servers", ext.endpoints.join(",")));
            let mut dirs: Vec<String> = Vec::new();
            // kubeadm passes the client pair only when both halves are set.
            let pair = !ext.cert_file.is_empty() && !ext.key_file.is_empty();
            for (flag, file, wanted) in [
                ("etcd-cafile", &ext.ca_file, !ext.ca_file.is_empty()),
                ("etcd-certfile", &ext.cert_file, pair),
                ("etcd-keyfile", &ext.key_file, pair),
            ] {
                if !wanted {
                    continue;
                }
                defaults.push(arg(flag, file));
                let dir = std::path::Path::new(file).parent().map(|p| p.display().to_string()).unwrap_or_default();
                let covered = mounts.iter().any(|m| dir.starts_with(&m.host_path));
                if !dir.is_empty() && !covered && !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            for (i, dir) in dirs.iter().enumerate() {
                mounts.push(Mount::dir(&format!("etcd-certs-{i}"), dir, true));
            }
        }
    }
    mounts.extend(c.api_server.extra_volumes.iter().map(Mount::from_user));
    let probe_host = match node.advertise_address() {
        a if a.is_unspecified() => loopback(node).to_string(),
        a => a.to_string(),
    };
    let component = Component {
        name: "kube-apiserver",
        image: node.image("kube-apiserver"),
        command: command("kube-apiserver", defaults, extra),
        mounts,
        requests: &[("cpu", "250m")],
        probes: Probes {
            host: probe_host,
            port: port.into(),
            scheme: "HTTPS",
            liveness: "/livez",
            readiness: Some("/readyz"),
            startup: "/livez",
        },
        annotations: BTreeMap::from([(
            "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint".to_string(),
            node.local_endpoint(),
        )]),
        extra_envs: &c.api_server.extra_envs,
    };
    to_yaml(&component.pod(node, facts))
}

pub fn render_controller_manager(node: &Resolved, facts: &HostFacts) -> Result<String> {
    let c = &node.cfg.cluster;
    let extra = &c.controller_manager.extra_args;
    let pki = |f: &str| node.pki(f);
    let kubeconfig = format!("{KUBERNETES_DIR}/controller-manager.conf");
    let (signing_cert, signing_key) =
        if facts.external_ca { (String::new(), String::new()) } else { (pki("ca.crt"), pki("ca.key")) };
    let mut defaults = vec![
        arg("authentication-kubeconfig", &kubeconfig),
        arg("authorization-kubeconfig", &kubeconfig),
        arg("bind-address", "127.0.0.1"),
        arg("client-ca-file", pki("ca.crt")),
        arg("cluster-name", &c.name),
        arg("cluster-signing-cert-file", signing_cert),
        arg("cluster-signing-key-file", signing_key),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
        arg("kubeconfig", &kubeconfig),
        arg("leader-elect", "true"),
        arg("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        arg("root-ca-file", pki("ca.crt")),
        arg("service-account-private-key-file", pki("sa.key")),
        arg("use-service-account-credentials", "true"),
    ];
    if let Some(pod_subnet) = &c.networking.pod_subnet {
        defaults.extend([
            arg("allocate-node-cidrs", "true"),
            arg("cluster-cidr", pod_subnet),
            arg("service-cluster-ip-range", &c.networking.service_subnet),
        ]);
    }
    let flex_dir =
        extra_value(extra, "flex-volume-plugin-dir").unwrap_or("/usr/libexec/kubernetes/kubelet-plugins/volume/exec");
    let mut mounts = ca_mounts(node, facts);
    mounts.push(Mount::file("kubeconfig", &kubeconfig));
    mounts.push(Mount::dir("flexvolume-dir", flex_dir, false));
    mounts.extend(c.controller_manager.extra_volumes.iter().map(Mount::from_user));
    let component = Component {
        name: "kube-controller-manager",
        image: node.image("kube-controller-manager"),
        command: command("kube-controller-manager", defaults, extra),
        mounts,
        requests: &[("cpu", "200m")],
        probes: Probes {
            host: bind_probe_host(extra),
            port: port_arg(extra, 10257),
            scheme: "HTTPS",
            liveness: "/healthz",
            readiness: None,
            startup: "/healthz",
        },
        annotations: BTreeMap::new(),
        extra_envs: &c.controller_manager.extra_envs,
    };
    to_yaml(&component.pod(node, facts))
}

pub fn render_scheduler(node: &Resolved, facts: &HostFacts) -> Result<String> {
    let c = &node.cfg.cluster;
    let extra = &c.scheduler.extra_args;
    let kubeconfig = format!("{KUBERNETES_DIR}/scheduler.conf");
    let defaults = vec![
        arg("authentication-kubeconfig", &kubeconfig),
        arg("authorization-kubeconfig", &kubeconfig),
        arg("bind-address", "127.0.0.1"),
        arg("kubeconfig", &kubeconfig),
        arg("leader-elect", "true"),
    ];
    let mut mounts = vec![Mount::file("kubeconfig", &kubeconfig)];
    mounts.extend(c.scheduler.extra_volumes.iter().map(Mount::from_user));
    // 1.32+ (PR #126945): /livez and /readyz; 1.31: /healthz and no readiness probe.
    let (liveness, readiness) =
        if node.version.at_least(32) { ("/livez", Some("/readyz")) } else { ("/healthz", None) };
    let component = Component {
        name: "kube-scheduler",
        image: node.image("kube-scheduler"),
        command: command("kube-scheduler", defaults, extra),
        mounts,
        requests: &[("cpu", "100m")],
        probes: Probes {
            host: bind_probe_host(extra),
            port: port_arg(extra, 10259),
            scheme: "HTTPS",
            liveness,
            readiness,
            startup: liveness,
        },
        annotations: BTreeMap::new(),
        extra_envs: &c.scheduler.extra_envs,
    };
    to_yaml(&component.pod(node, facts))
}

/// True when the etcd image is 3.6 or later, whose flags left the `experimental-` prefix.
pub fn etcd_is_3_6(node: &Resolved) -> bool {
    let image = node.etcd_image();
    let tag = image.rsplit(':').next().unwrap_or_default();
    let mut parts = tag.trim_start_matches('v').split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 6),
        _ => node.version.at_least(34),
    }
}

pub fn render_etcd(node: &Resolved, facts: &HostFacts, cluster: &EtcdCluster) -> Result<String> {
    let local = node.local_etcd().context("etcd.external is set: there is no local etcd to render")?;
    let pki = |f: &str| node.pki(f);
    let a = bracket(&node.advertise_address().to_string());
    let l = bracket(loopback(node));
    let peer_url = format!("https://{a}:2380");
    let mut defaults = vec![
        arg("advertise-client-urls", format!("https://{a}:2379")),
        arg("cert-file", pki("etcd/server.crt")),
        arg("client-cert-auth", "true"),
        arg("data-dir", &local.data_dir),
        arg("initial-advertise-peer-urls", &peer_url),
        arg("key-file", pki("etcd/server.key")),
        arg("listen-client-urls", format!("https://{l}:2379,https://{a}:2379")),
        arg("listen-metrics-urls", format!("http://{l}:2381")),
        arg("listen-peer-urls", &peer_url),
        arg("name", &node.node_name),
        arg("peer-cert-file", pki("etcd/peer.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("peer-key-file", pki("etcd/peer.key")),
        arg("peer-trusted-ca-file", pki("etcd/ca.crt")),
        arg("snapshot-count", "10000"),
        arg("trusted-ca-file", pki("etcd/ca.crt")),
    ];
    match cluster {
        EtcdCluster::New => defaults.push(arg("initial-cluster", format!("{}={peer_url}", node.node_name))),
        EtcdCluster::Existing(members) => {
            let list: Vec<String> = members.iter().map(|(n, u)| format!("{n}={u}")).collect();
            defaults.push(arg("initial-cluster", list.join(",")));
            defaults.push(arg("initial-cluster-state", "existing"));
        }
    }
    if etcd_is_3_6(node) {
        defaults.push(arg("feature-gates", "InitialCorruptCheck=true"));
        defaults.push(arg("watch-progress-notify-interval", "5s"));
    } else {
        defaults.push(arg("experimental-initial-corrupt-check", "true"));
        defaults.push(arg("experimental-watch-progress-notify-interval", "5s"));
    }
    let (probe_host, probe_port, scheme) = etcd_probe_endpoint(node, &local.extra_args);
    let component = Component {
        name: "etcd",
        image: node.etcd_image(),
        command: command("etcd", defaults, &local.extra_args),
        mounts: vec![Mount::dir("etcd-data", &local.data_dir, false), Mount::dir("etcd-certs", &pki("etcd"), false)],
        requests: &[("cpu", "100m"), ("memory", "100Mi")],
        probes: Probes {
            host: probe_host,
            port: probe_port,
            scheme,
            liveness: "/livez",
            readiness: Some("/readyz"),
            startup: "/readyz",
        },
        annotations: BTreeMap::from([(
            "kubeadm.kubernetes.io/etcd.advertise-client-urls".to_string(),
            format!("https://{a}:2379"),
        )]),
        extra_envs: &local.extra_envs,
    };
    // Unlike the control-plane components, etcd gets only its extraEnvs, not kubeadm's proxy variables.
    let facts = HostFacts { proxy_env: vec![], ..facts.clone() };
    to_yaml(&component.pod(node, &facts))
}

/// kubeadm `GetEtcdProbeEndpoint`: the first `listen-metrics-urls` entry if given, else http on loopback:2381.
fn etcd_probe_endpoint(node: &Resolved, extra: &[Arg]) -> (String, i32, &'static str) {
    if let Some(first) = extra_value(extra, "listen-metrics-urls").and_then(|v| v.split(',').next()) {
        let (scheme, rest) = match first.split_once("://") {
            Some(("https", rest)) => ("HTTPS", rest),
            Some((_, rest)) => ("HTTP", rest),
            None => ("HTTP", first),
        };
        let (host, port) = crate::config::resolve::split_host_port(rest.trim_end_matches('/'));
        let host = match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => String::new(),
            _ => host,
        };
        return (host, port.map(i32::from).unwrap_or(2381), scheme);
    }
    (loopback(node).to_string(), 2381, "HTTP")
}

fn manifest_file(component: &str, yaml: String) -> File {
    File::new(format!("{MANIFESTS_DIR}/{component}.yaml"), MANIFEST_MODE, yaml, format!("static Pod for {component}"))
}

/// `kubeadm init phase etcd local`.
pub fn phase_etcd(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    let Some(local) = ctx.node.local_etcd() else {
        ctx.say("etcd", "External etcd mode: skipping the local etcd static Pod");
        return Ok(());
    };
    super::ensure_private_dir(ctx, &local.data_dir, ETCD_DATA_DIR_MODE)?;
    super::ensure_private_dir(ctx, MANIFESTS_DIR, MANIFESTS_DIR_MODE)?;
    let facts = HostFacts::gather(ctx)?;
    ctx.say("etcd", format_args!("Creating static Pod manifest for local etcd in \"{MANIFESTS_DIR}\""));
    let yaml = render_etcd(&ctx.node, &facts, &EtcdCluster::New)?;
    let yaml = crate::patches::patch_pod(ctx, "etcd", crate::patches::ETCD, yaml)?;
    ctx.emit("etcd", vec![manifest_file("etcd", yaml)])
}

/// `kubeadm init phase control-plane [apiserver|controller-manager|scheduler|all]`.
pub fn phase_control_plane(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    super::ensure_private_dir(ctx, MANIFESTS_DIR, MANIFESTS_DIR_MODE)?;
    let facts = HostFacts::gather(ctx)?;
    type Render = fn(&Resolved, &HostFacts) -> Result<String>;
    let components: [(&str, &str, Render); 3] = [
        ("apiserver", "kube-apiserver", render_apiserver),
        ("controller-manager", "kube-controller-manager", render_controller_manager),
        ("scheduler", "kube-scheduler", render_scheduler),
    ];
    let mut files = Vec::new();
    for (sub_name, component, render) in components {
        if sub.is_some_and(|s| s != sub_name) {
            continue;
        }
        if sub.is_none() && ctx.skipped(&format!("control-plane/{sub_name}")) {
            ctx.say("control-plane", format_args!("Skipping \"{component}\" (skipPhases control-plane/{sub_name})"));
            continue;
        }
        ctx.say("control-plane", format_args!("Creating static Pod manifest for \"{component}\""));
        let yaml = crate::patches::patch_pod(ctx, "control-plane", component, render(&ctx.node, &facts)?)?;
        files.push(manifest_file(component, yaml));
    }
    ctx.emit("control-plane", files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_etcd_uses_bracketed_loopback_and_probe_host() {
        let node = crate::render::test_node("v1.33.5", "fd00::5", "");
        let yaml = render_etcd(&node, &HostFacts::default(), &EtcdCluster::New).unwrap();
        assert!(yaml.contains("- --listen-client-urls=https://[::1]:2379,https://[fd00::5]:2379\n"), "{yaml}");
        assert!(yaml.contains("host: \"::1\""), "{yaml}");
        let api = render_apiserver(&node, &HostFacts::default()).unwrap();
        assert!(api.contains("- --etcd-servers=https://[::1]:2379\n"), "{api}");
        assert!(api.contains("advertise-address.endpoint: \"[fd00::5]:6443\""), "{api}");
    }

    #[test]
    fn external_etcd_flags_and_cert_volume() {
        let node = crate::render::test_node(
            "v1.33.5",
            "10.0.0.5",
            "  etcd:\n    external:\n      endpoints: [\"https://10.0.0.9:2379\", \"https://10.0.0.10:2379\"]\n      \
             caFile: /etc/etcd/ca.crt\n      certFile: /etc/etcd/client.crt\n      keyFile: /etc/etcd/client.key\n",
        );
        let api = render_apiserver(&node, &HostFacts::default()).unwrap();
        assert!(api.contains("- --etcd-servers=https://10.0.0.9:2379,https://10.0.0.10:2379\n"), "{api}");
        assert!(api.contains("- --etcd-cafile=/etc/etcd/ca.crt\n"), "{api}");
        assert!(api.contains("path: /etc/etcd\n      type: DirectoryOrCreate\n    name: etcd-certs-0\n"), "{api}");
        assert!(render_etcd(&node, &HostFacts::default(), &EtcdCluster::New).is_err());
    }

    #[test]
    fn proxy_variables_reach_the_control_plane_but_not_etcd() {
        let node = crate::render::test_node("v1.33.5", "10.0.0.5", "");
        let facts =
            HostFacts { proxy_env: vec![("HTTPS_PROXY".into(), "http://proxy:3128".into())], ..Default::default() };
        let api = render_apiserver(&node, &facts).unwrap();
        assert!(api.contains("- name: HTTPS_PROXY\n      value: http://proxy:3128\n"), "{api}");
        let etcd = render_etcd(&node, &facts, &EtcdCluster::New).unwrap();
        assert!(!etcd.contains("HTTPS_PROXY"), "{etcd}");
    }

    #[test]
    fn joining_etcd_member_lists_the_cluster() {
        let node = crate::render::test_node("v1.34.1", "10.0.0.6", "");
        let members = vec![
            ("cp-0".to_string(), "https://10.0.0.5:2380".to_string()),
            ("cp-1".to_string(), "https://10.0.0.6:2380".to_string()),
        ];
        let yaml = render_etcd(&node, &HostFacts::default(), &EtcdCluster::Existing(members)).unwrap();
        assert!(yaml.contains("- --initial-cluster=cp-0=https://10.0.0.5:2380,cp-1=https://10.0.0.6:2380\n"), "{yaml}");
        assert!(yaml.contains("- --initial-cluster-state=existing\n"), "{yaml}");
    }

    #[test]
    fn extra_args_replace_defaults_by_name_and_sort() {
        let defaults = vec![arg("b", "1"), arg("a", "1"), arg("c", "1")];
        let extra = vec![arg("b", "2"), arg("b", "0"), arg("d", "x")];
        assert_eq!(command("bin", defaults, &extra), ["bin", "--a=1", "--b=0", "--b=2", "--c=1", "--d=x"]);
    }
}
