//! kubeadm's certificate list (reference §2.3), in `kubeadm init phase certs` order.
//! Paths are relative to `certificatesDir`. The service-account key pair (`sa`) is not a
//! certificate and is handled beside this table.

use std::net::IpAddr;

use crate::config::Resolved;

/// Who the certificate names in CN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    Fixed(&'static str),
    /// `nodeRegistration.name`.
    NodeName,
}

/// Which Subject Alternative Names a certificate carries (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AltNames {
    None,
    /// CAs carry DNS = their own CN.
    OwnName,
    ApiServer,
    EtcdServer,
    EtcdPeer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    ServerAuth,
    ClientAuth,
}

#[derive(Debug, Clone, Copy)]
pub struct CertSpec {
    /// Sub-phase name (`kubeadm init phase certs <name>`).
    pub name: &'static str,
    /// File base name under the PKI dir: `<base>.crt` and `<base>.key`.
    pub base: &'static str,
    /// Base name of the signing CA; `None` for a self-signed CA.
    pub ca: Option<&'static str>,
    pub cn: CommonName,
    pub org: Option<&'static str>,
    pub usages: &'static [Usage],
    pub sans: AltNames,
    /// Only generated with local (stacked) etcd.
    pub etcd: bool,
}

impl CertSpec {
    pub fn is_ca(&self) -> bool {
        self.ca.is_none()
    }

    /// kubeadm's `LongName` (certlist.go), as `kubeadm certs renew` prints it.
    pub fn long_name(&self) -> &'static str {
        match self.name {
            "ca" => "self-signed Kubernetes CA to provision identities for other Kubernetes components",
            "apiserver" => "certificate for serving the Kubernetes API",
            "apiserver-kubelet-client" => "certificate for the API server to connect to kubelet",
            "front-proxy-ca" => "self-signed CA to provision identities for front proxy",
            "front-proxy-client" => "certificate for the front proxy client",
            "etcd-ca" => "self-signed CA to provision identities for etcd",
            "etcd-server" => "certificate for serving etcd",
            "etcd-peer" => "certificate for etcd nodes to communicate with each other",
            "etcd-healthcheck-client" => "certificate for liveness probes to healthcheck etcd",
            "apiserver-etcd-client" => "certificate the apiserver uses to access etcd",
            other => other,
        }
    }
}

use AltNames as San;
use CommonName::{Fixed, NodeName};
use Usage::{ClientAuth, ServerAuth};

#[allow(clippy::too_many_arguments)] // one argument per column of the table below
const fn cert(
    name: &'static str,
    base: &'static str,
    ca: Option<&'static str>,
    cn: CommonName,
    org: Option<&'static str>,
    usages: &'static [Usage],
    sans: AltNames,
    etcd: bool,
) -> CertSpec {
    CertSpec { name, base, ca, cn, org, usages, sans, etcd }
}

const CLUSTER_ADMINS: Option<&str> = Some("kubeadm:cluster-admins");

#[rustfmt::skip]
pub const CERTS: &[CertSpec] = &[
    //    sub-phase                  file                      signed by            CN                                     O               ExtKeyUsage                SANs          etcd
    cert("ca",                       "ca",                     None,                Fixed("kubernetes"),                   None,           &[],                       San::OwnName,    false),
    cert("apiserver",                "apiserver",              Some("ca"),          Fixed("kube-apiserver"),               None,           &[ServerAuth],             San::ApiServer,  false),
    cert("apiserver-kubelet-client", "apiserver-kubelet-client", Some("ca"),        Fixed("kube-apiserver-kubelet-client"), CLUSTER_ADMINS, &[ClientAuth],            San::None,       false),
    cert("front-proxy-ca",           "front-proxy-ca",         None,                Fixed("front-proxy-ca"),               None,           &[],                       San::OwnName,    false),
    cert("front-proxy-client",       "front-proxy-client",     Some("front-proxy-ca"), Fixed("front-proxy-client"),        None,           &[ClientAuth],             San::None,       false),
    cert("etcd-ca",                  "etcd/ca",                None,                Fixed("etcd-ca"),                      None,           &[],                       San::OwnName,    true),
    cert("etcd-server",              "etcd/server",            Some("etcd/ca"),     NodeName,                              None,           &[ServerAuth, ClientAuth], San::EtcdServer, true),
    cert("etcd-peer",                "etcd/peer",              Some("etcd/ca"),     NodeName,                              None,           &[ServerAuth, ClientAuth], San::EtcdPeer,   true),
    cert("etcd-healthcheck-client",  "etcd/healthcheck-client", Some("etcd/ca"),    Fixed("kube-etcd-healthcheck-client"), None,           &[ClientAuth],             San::None,       true),
    cert("apiserver-etcd-client",    "apiserver-etcd-client",  Some("etcd/ca"),     Fixed("kube-apiserver-etcd-client"),   None,           &[ClientAuth],             San::None,       true),
];

/// The service-account signing key pair: `sa.key` / `sa.pub`.
pub const SERVICE_ACCOUNT: &str = "sa";

/// The certificates this node gets: without local etcd, the etcd CA and its leaves are skipped.
pub fn certs_for(node: &Resolved) -> impl Iterator<Item = &'static CertSpec> {
    let local_etcd = node.local_etcd().is_some();
    CERTS.iter().filter(move |c| local_etcd || !c.etcd)
}

pub fn find(name: &str) -> Option<&'static CertSpec> {
    CERTS.iter().find(|c| c.name == name)
}

pub fn spec_for_base(base: &str) -> Option<&'static CertSpec> {
    CERTS.iter().find(|c| c.base == base)
}

/// DNS names (sorted, de-duplicated) and IPs (de-duplicated, in kubeadm's order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SanList {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl SanList {
    fn push_dns(&mut self, name: impl Into<String>) {
        self.dns.push(name.into());
    }

    fn push_ip(&mut self, ip: IpAddr) {
        if !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// User SANs: an IP becomes an IP SAN, an RFC 1123 (wildcard) subdomain a DNS SAN,
    /// anything else is dropped with a warning (kubeadm `appendSANsToAltNames`).
    fn push_user(&mut self, entries: &[String], cert: &str) {
        for entry in entries {
            if let Ok(ip) = entry.parse::<IpAddr>() {
                self.push_ip(ip);
            } else if is_dns_subdomain(entry.strip_prefix("*.").unwrap_or(entry)) {
                self.push_dns(entry.clone());
            } else {
                tracing::warn!("'{entry}' was not added to the '{cert}' SAN: not a valid IP or RFC-1123 DNS name");
            }
        }
    }

    fn finish(mut self) -> Self {
        self.dns.sort();
        self.dns.dedup();
        self
    }
}

impl CertSpec {
    pub fn common_name(&self, node: &Resolved) -> String {
        match self.cn {
            Fixed(cn) => cn.to_string(),
            NodeName => node.node_name.clone(),
        }
    }

    /// The SANs kubeadm puts in this certificate for this node (reference §2.4).
    pub fn alt_names(&self, node: &Resolved) -> SanList {
        let mut s = SanList::default();
        let loopbacks: [IpAddr; 2] = [[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
        match self.sans {
            San::None => {}
            San::OwnName => s.push_dns(self.common_name(node)),
            San::ApiServer => {
                let domain = &node.cfg.cluster.networking.dns_domain;
                for name in [
                    node.node_name.clone(),
                    "kubernetes".into(),
                    "kubernetes.default".into(),
                    "kubernetes.default.svc".into(),
                    format!("kubernetes.default.svc.{domain}"),
                ] {
                    s.push_dns(name);
                }
                s.push_ip(node.api_service_ip());
                s.push_ip(node.advertise_address());
                if let Some(host) = node.control_plane_endpoint_host() {
                    match host.parse::<IpAddr>() {
                        Ok(ip) => s.push_ip(ip),
                        Err(_) => s.push_dns(host),
                    }
                }
                s.push_user(&node.cfg.cluster.api_server.cert_sans, self.name);
            }
            San::EtcdServer | San::EtcdPeer => {
                s.push_dns(node.node_name.clone());
                s.push_dns("localhost");
                s.push_ip(node.advertise_address());
                loopbacks.into_iter().for_each(|ip| s.push_ip(ip));
                let local = node.local_etcd().unwrap_or_default();
                let extra = if self.sans == San::EtcdServer { &local.server_cert_sans } else { &local.peer_cert_sans };
                s.push_user(extra, self.name);
            }
        }
        s.finish()
    }
}

/// RFC 1123 subdomain: dot-separated lower-case alphanumeric labels with inner dashes, ≤ 253.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_is_kubeadms_phase_order() {
        let names: Vec<_> = CERTS.iter().map(|c| c.name).collect();
        let phases = crate::workflow::phases::find(crate::workflow::phases::INIT, "certs").unwrap().subs;
        assert_eq!(&names[..], &phases[..phases.len() - 1]);
        assert_eq!(phases.last(), Some(&SERVICE_ACCOUNT));
        for c in CERTS {
            if let Some(ca) = c.ca {
                assert!(spec_for_base(ca).is_some_and(|s| s.is_ca()), "{} signed by unknown CA {ca}", c.name);
            }
        }
    }

    fn sans(spec: &str, node: &Resolved) -> (Vec<String>, Vec<String>) {
        let s = find(spec).unwrap().alt_names(node);
        (s.dns, s.ips.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn apiserver_sans_follow_kubeadm_order() {
        let node = crate::render::test_node(
            "v1.33.5",
            "10.0.0.5",
            "  controlPlaneEndpoint: 10.0.0.100:6443\n  networking:\n    serviceSubnet: 10.112.0.0/12,fd00::/108\n  \
             apiServer:\n    certSANs: [zz.example, 10.0.0.5, 2001:db8::1, \"*.apps.example\", kubernetes]\n",
        );
        let (dns, ips) = sans("apiserver", &node);
        assert_eq!(
            dns,
            [
                "*.apps.example",
                "cp-1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "zz.example"
            ]
        );
        // VIP of the first service CIDR, advertise address, endpoint IP, then user IPs (deduplicated).
        assert_eq!(ips, ["10.112.0.1", "10.0.0.5", "10.0.0.100", "2001:db8::1"]);
    }

    #[test]
    fn etcd_sans_and_external_etcd() {
        let node = crate::render::test_node(
            "v1.34.1",
            "fd00::5",
            "  etcd:\n    local:\n      serverCertSANs: [etcd.example]\n      peerCertSANs: [192.0.2.7]\n",
        );
        assert_eq!(
            sans("etcd-server", &node),
            (
                vec!["cp-1".into(), "etcd.example".into(), "localhost".into()],
                vec!["fd00::5".into(), "127.0.0.1".into(), "::1".into()]
            )
        );
        assert_eq!(sans("etcd-peer", &node).1, ["fd00::5", "127.0.0.1", "::1", "192.0.2.7"]);
        assert_eq!(sans("etcd-ca", &node).0, ["etcd-ca"]);
        assert_eq!(certs_for(&node).count(), CERTS.len());

        let external = crate::render::test_node(
            "v1.34.1",
            "10.0.0.5",
            "  etcd:\n    external:\n      endpoints: [\"https://10.0.0.9:2379\"]\n      caFile: /etc/etcd/ca.crt\n      \
             certFile: /etc/etcd/client.crt\n      keyFile: /etc/etcd/client.key\n",
        );
        let names: Vec<_> = certs_for(&external).map(|c| c.name).collect();
        assert_eq!(names, ["ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client"]);
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_subdomain("cp-1.example.internal"));
        assert!(!is_dns_subdomain("Bad_Name"));
        assert!(!is_dns_subdomain("-x.example"));
    }
}
