//! A validated NodeConfig with everything derived that renderers and phases need:
//! parsed version, node name, advertise address, CIDRs, feature gates, endpoints, images.
//! Construct it only from a config that passed `validate` (parsing here cannot fail then).

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow};
use ipnet::IpNet;

use super::types::*;
use super::versions::{ComponentVersions, FeatureGates, KubeVersion};
use crate::host::Host;

pub const DEFAULT_CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
pub const KUBELET_DIR: &str = "/var/lib/kubelet";

#[derive(Debug, Clone)]
pub struct Resolved {
    pub cfg: NodeConfig,
    pub version: KubeVersion,
    pub node_name: String,
    /// The API server's advertise address: set for every control-plane role (resolution fails
    /// without one). A worker has none unless configured — kubeadm needs no address to join a
    /// worker, and a host on an isolated network may have no default route to guess it from.
    advertise_address: Option<IpAddr>,
    pub service_cidrs: Vec<IpNet>,
    pub pod_cidrs: Vec<IpNet>,
    pub cri_socket: String,
    pub gates: FeatureGates,
}

/// A node name must be a DNS-1123 subdomain, as kubeadm requires: it becomes a kubelet flag,
/// a certificate name and an API object name. `source` says where the name came from.
pub fn check_node_name(name: &str, source: &str) -> Result<()> {
    super::validate::dns1123_subdomain(name).map_err(|e| {
        anyhow!(
            "the node name `{}` from {source} is not a valid node name: it {e}; set node.name in the \
             user-data to a DNS-1123 name such as `worker-1`",
            name.escape_debug()
        )
    })
}

/// Facts about the machine that fill in defaults (kubeadm does the same lookups).
#[derive(Debug, Clone, Default)]
pub struct HostIdentity {
    pub hostname: String,
    pub default_address: Option<IpAddr>,
    /// The one container runtime socket found on the host (kubeadm's auto-detection).
    pub cri_socket: Option<String>,
}

impl HostIdentity {
    /// Host name from the rooted /proc (or /etc/hostname), default address from the live kernel.
    pub fn detect(host: &Host) -> Self {
        let hostname = host
            .read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| host.read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_lowercase())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).map(|s| s.to_lowercase()))
            .unwrap_or_default();
        // Several runtimes is an error that preflight's CRI check reports; here it just means "no guess".
        let cri_socket = crate::host::cri::detect_endpoint(host).ok().flatten().map(str::to_string);
        HostIdentity { hostname, default_address: crate::host::net::default_route_address(), cri_socket }
    }
}

impl Resolved {
    pub fn new(cfg: NodeConfig, id: &HostIdentity) -> Result<Self> {
        let version = KubeVersion::parse(&cfg.cluster.kubernetes_version).map_err(|e| anyhow!(e))?;
        let node_name = match &cfg.node.name {
            Some(n) => n.clone(),
            None if !id.hostname.is_empty() => {
                check_node_name(&id.hostname, "the host name (/proc/sys/kernel/hostname)")?;
                id.hostname.clone()
            }
            None => anyhow::bail!("node.name is not set and the host name could not be read; set node.name"),
        };
        // node.name passed `validate`; checked again because it lands in kubelet flags and certificates.
        check_node_name(&node_name, "node.name")?;
        let advertise_address = match &cfg.node.advertise_address {
            Some(a) => Some(a.parse().with_context(|| format!("node.advertiseAddress `{a}`"))?),
            None if cfg.role.is_control_plane() => Some(id.default_address.context(
                "node.advertiseAddress is not set and no default-route address was found; set node.advertiseAddress",
            )?),
            None => id.default_address,
        };
        let service_cidrs = parse_cidrs(&cfg.cluster.networking.service_subnet)?;
        let pod_cidrs = match &cfg.cluster.networking.pod_subnet {
            Some(p) => parse_cidrs(p)?,
            None => vec![],
        };
        let cri_socket = cfg
            .node
            .cri_socket
            .clone()
            .or_else(|| id.cri_socket.clone())
            .unwrap_or_else(|| DEFAULT_CRI_SOCKET.to_string());
        let gates = FeatureGates::resolve(&version, &cfg.cluster.feature_gates);
        Ok(Resolved { cfg, version, node_name, advertise_address, service_cidrs, pod_cidrs, cri_socket, gates })
    }

    /// This node with another config for the same machine (a join's config once it follows
    /// the cluster): the node-local facts resolved from the host stay, the rest is derived anew.
    pub fn with_config(&self, cfg: NodeConfig) -> Result<Self> {
        let version = KubeVersion::parse(&cfg.cluster.kubernetes_version).map_err(|e| anyhow!(e))?;
        let service_cidrs = parse_cidrs(&cfg.cluster.networking.service_subnet)?;
        let pod_cidrs = match &cfg.cluster.networking.pod_subnet {
            Some(p) => parse_cidrs(p)?,
            None => vec![],
        };
        let gates = FeatureGates::resolve(&version, &cfg.cluster.feature_gates);
        Ok(Resolved { cfg, version, service_cidrs, pod_cidrs, gates, ..self.clone() })
    }

    pub fn role(&self) -> Role {
        self.cfg.role
    }

    pub fn pki_dir(&self) -> &str {
        &self.cfg.cluster.certificates_dir
    }

    /// `<pki>/<rel>` as a node path.
    pub fn pki(&self, rel: &str) -> String {
        format!("{}/{}", self.pki_dir().trim_end_matches('/'), rel)
    }

    pub fn local_etcd(&self) -> Option<LocalEtcd> {
        if self.cfg.cluster.etcd.external.is_some() {
            None
        } else {
            Some(self.cfg.cluster.etcd.local.clone().unwrap_or_default())
        }
    }

    pub fn external_etcd(&self) -> Option<&ExternalEtcd> {
        self.cfg.cluster.etcd.external.as_ref()
    }

    /// 1st address of the first service CIDR: the `kubernetes` Service ClusterIP.
    pub fn api_service_ip(&self) -> IpAddr {
        indexed_ip(&self.service_cidrs[0], 1)
    }

    /// 10th address of the first service CIDR: the kube-dns Service ClusterIP.
    pub fn dns_service_ip(&self) -> IpAddr {
        indexed_ip(&self.service_cidrs[0], 10)
    }

    /// The API server's advertise address. Control-plane roles only: `new` refused a
    /// control-plane config without one, so this cannot fail for them.
    pub fn advertise_address(&self) -> IpAddr {
        self.advertise_address.expect("the advertise address of a control-plane node (a worker has none)")
    }

    /// The node's own address when one is known (always for a control plane).
    pub fn node_address(&self) -> Option<IpAddr> {
        self.advertise_address
    }

    /// Whether the node's primary family is IPv6: the advertise address, else the service CIDR.
    pub fn is_ipv6(&self) -> bool {
        match self.advertise_address {
            Some(a) => a.is_ipv6(),
            None => self.service_cidrs.first().is_some_and(|c| c.addr().is_ipv6()),
        }
    }

    /// `https://<controlPlaneEndpoint>` (bindPort added when it has none), else the local endpoint.
    pub fn control_plane_endpoint_url(&self) -> String {
        match &self.cfg.cluster.control_plane_endpoint {
            Some(ep) => {
                let (host, port) = split_host_port(ep);
                format!("https://{}:{}", bracket(&host), port.unwrap_or(self.cfg.node.bind_port))
            }
            None => self.local_endpoint_url(),
        }
    }

    /// The host part of controlPlaneEndpoint, if one is set.
    pub fn control_plane_endpoint_host(&self) -> Option<String> {
        self.cfg.cluster.control_plane_endpoint.as_deref().map(|ep| split_host_port(ep).0)
    }

    /// `https://<advertiseAddress>:<bindPort>`.
    pub fn local_endpoint_url(&self) -> String {
        format!("https://{}:{}", bracket(&self.advertise_address().to_string()), self.cfg.node.bind_port)
    }

    /// `<advertiseAddress>:<bindPort>`, bracketed for IPv6.
    pub fn local_endpoint(&self) -> String {
        format!("{}:{}", bracket(&self.advertise_address().to_string()), self.cfg.node.bind_port)
    }

    pub fn components(&self) -> ComponentVersions {
        self.version.components()
    }

    pub fn image(&self, name: &str) -> String {
        format!("{}/{}:{}", self.cfg.cluster.image_repository, name, self.version.image_tag())
    }

    pub fn etcd_image(&self) -> String {
        let local = self.local_etcd().unwrap_or_default();
        let repo = local.image_repository.unwrap_or_else(|| self.cfg.cluster.image_repository.clone());
        let tag = local.image_tag.unwrap_or_else(|| self.components().etcd.to_string());
        format!("{repo}/etcd:{tag}")
    }

    pub fn pause_image(&self) -> String {
        format!("{}/pause:{}", self.cfg.cluster.image_repository, self.components().pause)
    }

    /// A node from NodeConfig YAML (validated) on a host named cp-1 whose default route is
    /// 10.0.0.5: the fixture the unit tests share.
    #[cfg(test)]
    pub fn for_tests(yaml: &str) -> Resolved {
        let cfg = crate::config::load("test.yaml", yaml.as_bytes()).unwrap();
        let id =
            HostIdentity { hostname: "cp-1".into(), default_address: Some([10, 0, 0, 5].into()), cri_socket: None };
        Resolved::new(cfg, &id).unwrap()
    }

    /// The images a control-plane node runs, in kubeadm's order (`GetControlPlaneImages`):
    /// what `kubeadm config images list` prints and the ImagePull preflight check pulls.
    pub fn control_plane_images(&self) -> Vec<String> {
        let c = &self.cfg.cluster;
        let mut images: Vec<String> =
            ["kube-apiserver", "kube-controller-manager", "kube-scheduler"].iter().map(|n| self.image(n)).collect();
        if !c.proxy.disabled {
            images.push(self.image("kube-proxy"));
        }
        if !c.dns.disabled {
            images.push(self.coredns_image());
        }
        images.push(self.pause_image());
        if self.local_etcd().is_some() {
            images.push(self.etcd_image());
        }
        images
    }

    /// CoreDNS lives under `coredns/` only in the default registry.k8s.io repository.
    pub fn coredns_image(&self) -> String {
        let dns = &self.cfg.cluster.dns;
        let tag = dns.image_tag.clone().unwrap_or_else(|| self.components().coredns.to_string());
        match &dns.image_repository {
            Some(repo) => format!("{repo}/coredns:{tag}"),
            None if self.cfg.cluster.image_repository == "registry.k8s.io" => {
                format!("registry.k8s.io/coredns/coredns:{tag}")
            }
            None => format!("{}/coredns:{tag}", self.cfg.cluster.image_repository),
        }
    }

    /// Taints with kubeadm's defaulting: absent on a control-plane node means the
    /// control-plane NoSchedule taint; `[]` means none.
    pub fn taints(&self) -> Vec<Taint> {
        match &self.cfg.node.taints {
            Some(t) => t.clone(),
            None if self.role().is_control_plane() => vec![Taint {
                key: "node-role.kubernetes.io/control-plane".into(),
                value: None,
                effect: TaintEffect::NoSchedule,
                time_added: None,
            }],
            None => vec![],
        }
    }
}

pub fn parse_cidrs(s: &str) -> Result<Vec<IpNet>> {
    s.split(',').map(|c| c.trim().parse::<IpNet>().map_err(|e| anyhow!("`{c}` is not a CIDR: {e}"))).collect()
}

/// kubeadm `GetIndexedIP`: the network address plus `index`.
pub fn indexed_ip(net: &IpNet, index: u128) -> IpAddr {
    match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(index as u32)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(index)).into()),
    }
}

/// Splits `host[:port]`, understanding `[v6]:port` and bare IPv6.
pub fn split_host_port(ep: &str) -> (String, Option<u16>) {
    if let Some(rest) = ep.strip_prefix('[')
        && let Some((h, tail)) = rest.split_once(']')
    {
        return (h.to_string(), tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    if ep.matches(':').count() == 1 {
        let (h, p) = ep.split_once(':').unwrap();
        return (h.to_string(), p.parse().ok());
    }
    (ep.to_string(), None)
}

/// Brackets an IPv6 literal for use in a URL or host:port.
pub fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_ips_like_kubeadm() {
        let n: IpNet = "10.96.0.0/12".parse().unwrap();
        assert_eq!(indexed_ip(&n, 1).to_string(), "10.96.0.1");
        assert_eq!(indexed_ip(&n, 10).to_string(), "10.96.0.10");
        let n: IpNet = "fd00:10:96::/108".parse().unwrap();
        assert_eq!(indexed_ip(&n, 10).to_string(), "fd00:10:96::a");
    }

    #[test]
    fn control_plane_images_follow_kubeadm_images_list() {
        // `kubeadm config images list --kubernetes-version v1.33.0` (kubeadm v1.33.0).
        let n = Resolved::for_tests(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  kubernetesVersion: v1.33.0\n",
        );
        assert_eq!(
            n.control_plane_images(),
            [
                "registry.k8s.io/kube-apiserver:v1.33.0",
                "registry.k8s.io/kube-controller-manager:v1.33.0",
                "registry.k8s.io/kube-scheduler:v1.33.0",
                "registry.k8s.io/kube-proxy:v1.33.0",
                "registry.k8s.io/coredns/coredns:v1.12.0",
                "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.21-0",
            ]
        );
        // Disabled addons and external etcd drop their images; a private repository moves all.
        let n = Resolved::for_tests(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  kubernetesVersion: v1.31.4\n  imageRepository: mirror.local:5000/k8s\n  dns:\n    disabled: true\n  proxy:\n    disabled: true\n  etcd:\n    external:\n      endpoints: [\"http://10.0.0.9:2379\"]\n",
        );
        assert_eq!(
            n.control_plane_images(),
            [
                "mirror.local:5000/k8s/kube-apiserver:v1.31.4",
                "mirror.local:5000/k8s/kube-controller-manager:v1.31.4",
                "mirror.local:5000/k8s/kube-scheduler:v1.31.4",
                "mirror.local:5000/k8s/pause:3.10",
            ]
        );
    }

    #[test]
    fn a_worker_needs_no_address_but_a_control_plane_does() {
        // An isolated on-prem network: no default route to guess an address from.
        let no_route = HostIdentity { hostname: "n1".into(), default_address: None, cri_socket: None };
        let load = |f: &str| crate::config::load(f, &std::fs::read(f).unwrap()).unwrap();
        let worker = Resolved::new(load("examples/worker.yaml"), &no_route).expect("a worker joins without one");
        assert_eq!(worker.node_address(), None);
        assert!(!worker.is_ipv6(), "the family follows the service CIDR");
        let cp = "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\n";
        let cp = crate::config::load("cp.yaml", cp.as_bytes()).unwrap();
        let err = Resolved::new(cp, &no_route).map(|_| ()).unwrap_err();
        assert!(format!("{err:#}").contains("set node.advertiseAddress"), "{err:#}");
    }

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("lb.example.com:6443"), ("lb.example.com".into(), Some(6443)));
        assert_eq!(split_host_port("lb.example.com"), ("lb.example.com".into(), None));
        assert_eq!(split_host_port("[fd00::1]:6443"), ("fd00::1".into(), Some(6443)));
        assert_eq!(split_host_port("fd00::1"), ("fd00::1".into(), None));
    }
}
