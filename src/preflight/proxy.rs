//! HTTPProxy and HTTPProxyCIDR: warn when traffic to the API server or to Service/Pod IPs
//! would go through an HTTP proxy from the environment. The decision follows Go's
//! `httpproxy.FromEnvironment` (what kubeadm and the control plane use): `HTTPS_PROXY`, then
//! `NO_PROXY` with IPs, CIDRs and domain suffixes; loopback is never proxied.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{Check, Problem};
use crate::config::resolve::{bracket, indexed_ip};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    pub https_proxy: Option<String>,
    pub no_proxy: String,
}

impl ProxyEnv {
    pub fn from_process() -> Self {
        let any = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
        ProxyEnv {
            https_proxy: any(&["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(&["NO_PROXY", "no_proxy"]).unwrap_or_default(),
        }
    }

    /// The proxy an `https://host:port` request would use, if any.
    pub fn proxy_for(&self, host: &str, port: u16) -> Option<String> {
        let proxy = self.https_proxy.as_ref()?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        for entry in self.no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                return None;
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                if ip.is_some_and(|ip| net.contains(&ip)) {
                    return None;
                }
                continue;
            }
            let (name, entry_port) = split_port(&entry);
            if entry_port.is_some_and(|p| p != port) {
                continue;
            }
            if let Ok(entry_ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                if ip == Some(entry_ip) {
                    return None;
                }
                continue;
            }
            let suffix = name.trim_start_matches('*');
            let matches = if suffix.starts_with('.') {
                host.ends_with(suffix)
            } else {
                host == suffix || host.ends_with(&format!(".{suffix}"))
            };
            if matches {
                return None;
            }
        }
        Some(if proxy.contains("://") { proxy.clone() } else { format!("http://{proxy}") })
    }
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// `https://<host>` (IPv6 literals get kubeadm's placeholder port 1234).
pub fn http_proxy(host: String) -> Check {
    Check::new("HTTPProxy", move |env| {
        let port = if host.contains(':') { 1234 } else { 443 };
        let url = if port == 1234 { format!("https://{}:{port}", bracket(&host)) } else { format!("https://{host}") };
        // A proxy URL's user:password never reaches a message (console, status.json, report).
        match env.proxy.proxy_for(&host, port).map(|p| crate::report::redact::redact(&p)) {
            None => vec![],
            Some(proxy) => vec![Problem::warning(
                format!(
                    "Connection to \"{url}\" uses proxy \"{proxy}\". If that is not intended, adjust your proxy settings"
                ),
                format!("add {host} to NO_PROXY"),
            )],
        }
    })
}

/// The first IP of `cidr` as the API server would reach a Service or Pod.
pub fn http_proxy_cidr(cidr: IpNet) -> Check {
    Check::new("HTTPProxyCIDR", move |env| {
        let ip = indexed_ip(&cidr, 1);
        match env.proxy.proxy_for(&ip.to_string(), 1234).map(|p| crate::report::redact::redact(&p)) {
            None => vec![],
            Some(proxy) => vec![Problem::warning(
                format!(
                    "connection to \"{cidr}\" uses proxy \"{proxy}\". This may lead to malfunctional cluster setup"
                ),
                format!(
                    "make sure the Pod and Service IP ranges are exceptions in the proxy configuration: add {cidr} to NO_PROXY"
                ),
            )],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_proxy: &str) -> ProxyEnv {
        ProxyEnv { https_proxy: Some("proxy.example:3128".into()), no_proxy: no_proxy.into() }
    }

    #[test]
    fn no_proxy_rules_like_go() {
        assert_eq!(env("").proxy_for("10.0.0.5", 443).as_deref(), Some("http://proxy.example:3128"));
        assert_eq!(env("").proxy_for("127.0.0.1", 443), None);
        assert_eq!(env("").proxy_for("localhost", 443), None);
        assert_eq!(env("*").proxy_for("10.0.0.5", 443), None);
        assert_eq!(env("10.96.0.0/12").proxy_for("10.96.0.1", 1234), None);
        assert!(env("10.96.0.0/12").proxy_for("10.244.0.1", 1234).is_some());
        assert_eq!(env("10.0.0.5").proxy_for("10.0.0.5", 443), None);
        assert!(env("10.0.0.5:6443").proxy_for("10.0.0.5", 443).is_some());
        assert_eq!(env("example.com").proxy_for("lb.example.com", 443), None);
        assert!(env(".example.com").proxy_for("example.com", 443).is_some());
        assert_eq!(env("fd00::/8").proxy_for("[fd00::1]", 1234), None);
        assert_eq!(ProxyEnv::default().proxy_for("10.0.0.5", 443), None);
    }
}
