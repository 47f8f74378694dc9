//! Hostname, AdvertiseAddress and JoinEndpoint: the node's name resolves, its advertise address
//! belongs to this machine, and a joining node can reach the cluster. Names are resolved through
//! /etc/hosts under the root, then DNS with hickory — never libc (static binary, see rust-notes §0).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Check, Env, Problem};
use crate::config::resolve::split_host_port;
use crate::host::{facts, net};
use crate::workflow::block_on;

const DNS_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// kubeadm resolves the node name with `net.LookupHost` and warns when it cannot.
pub fn hostname() -> Check {
    Check::new("Hostname", |env| {
        let name = &env.node.node_name;
        match resolve(env, name) {
            Ok(addrs) if !addrs.is_empty() => vec![],
            Ok(_) => vec![unreachable_name(name, "no address")],
            Err(e) => vec![unreachable_name(name, &e)],
        }
    })
}

fn unreachable_name(name: &str, why: &str) -> Problem {
    Problem::warning(
        format!("hostname \"{name}\" could not be reached ({why})"),
        format!("add \"{name}\" to /etc/hosts or DNS"),
    )
}

/// The API server and etcd advertise (and etcd binds) this address: it must be one of ours.
pub fn advertise_address() -> Check {
    Check::new("AdvertiseAddress", |env| {
        let ip = env.node.advertise_address();
        let local = net::local_addresses();
        if local.iter().any(|(_, a)| *a == ip) {
            return vec![];
        }
        let have: Vec<String> =
            local.iter().filter(|(_, a)| !a.is_loopback()).map(|(n, a)| format!("{a} ({n})")).collect();
        vec![Problem::error(
            format!(
                "advertise address {ip} is not configured on any interface of this host (it has: {})",
                if have.is_empty() { "no non-loopback address".to_string() } else { have.join(", ") }
            ),
            "set node.advertiseAddress to one of this machine's addresses, or configure the address first",
        )]
    })
}

/// The cluster endpoints a joining node talks to answer TLS. A warning: at first boot the
/// network may still be coming up, and discovery keeps retrying.
pub fn join_endpoint() -> Check {
    Check::new("JoinEndpoint", |env| {
        endpoints(env)
            .into_iter()
            .filter_map(|(host, port)| {
                let err = reach(env, &host, port).err()?;
                Some(Problem::warning(
                    format!("cannot reach the cluster at {}:{port}: {err}", crate::config::resolve::bracket(&host)),
                    "check the address, routing and firewalls; discovery will keep retrying until timeouts.discovery",
                ))
            })
            .collect()
    })
}

/// join.apiServerEndpoint (or the host of an https discovery file) and controlPlaneEndpoint.
fn endpoints(env: &Env) -> Vec<(String, u16)> {
    let cfg = &env.node.cfg;
    let mut eps = vec![];
    if let Some(j) = &cfg.join {
        if let Some(ep) = &j.api_server_endpoint {
            let (h, p) = split_host_port(ep);
            eps.push((h, p.unwrap_or(6443)));
        } else if let Some(url) = j.discovery_file.as_deref().and_then(|f| reqwest::Url::parse(f).ok())
            && url.scheme() == "https"
            && let Some(h) = url.host_str()
        {
            eps.push((h.trim_start_matches('[').trim_end_matches(']').to_string(), url.port().unwrap_or(443)));
        }
    }
    if let Some(ep) = &cfg.cluster.control_plane_endpoint {
        let (h, p) = split_host_port(ep);
        eps.push((h, p.unwrap_or(cfg.node.bind_port)));
    }
    eps.dedup();
    eps
}

fn reach(env: &Env, host: &str, port: u16) -> Result<(), String> {
    let addrs = resolve(env, host)?;
    let mut last = format!("{host} has no address");
    for ip in addrs {
        match std::net::TcpStream::connect_timeout(&SocketAddr::new(ip, port), CONNECT_TIMEOUT) {
            Ok(stream) => return presents_certificate(stream, host).map_err(|e| format!("{ip}: {e}")),
            Err(e) => last = format!("{ip}: {e}"),
        }
    }
    Err(last)
}

/// A TCP connect alone proves little (a transparent proxy or a wrong service accepts it too);
/// an API server answers a TLS ClientHello with its certificate. The handshake trusts no CA,
/// so it ends right there with "unknown issuer" — which is the proof; nothing is sent or
/// trusted, and the CA pin is checked later by discovery.
fn presents_certificate(mut stream: std::net::TcpStream, host: &str) -> Result<(), String> {
    use std::sync::Arc;
    stream
        .set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut stream) {
            let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
            return match tls {
                Some(rustls::Error::InvalidCertificate(_)) => Ok(()),
                _ => Err(format!("connected, but it does not answer TLS like an API server ({e})")),
            };
        }
    }
    Ok(())
}

/// An IP literal, /etc/hosts under the root, then DNS (hickory, the live resolv.conf).
fn resolve(env: &Env, name: &str) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let from_hosts = facts::hosts_file_lookup(env.host, name);
    if !from_hosts.is_empty() {
        return Ok(from_hosts);
    }
    block_on(async {
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| format!("no DNS configuration: {e}"))?
            .build()
            .map_err(|e| format!("no DNS configuration: {e}"))?;
        match tokio::time::timeout(DNS_TIMEOUT, resolver.lookup_ip(name)).await {
            Ok(Ok(found)) => Ok(found.iter().collect()),
            Ok(Err(e)) if e.is_no_records_found() => Err("not in /etc/hosts, and DNS has no record".into()),
            Ok(Err(e)) => Err(format!("not in /etc/hosts, and DNS failed: {e}")),
            Err(_) => Err(format!("DNS lookup timed out after {}s", DNS_TIMEOUT.as_secs())),
        }
    })
}
