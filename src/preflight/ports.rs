//! Port-<n>: the ports the node's components listen on are free on the live machine, and
//! Firewalld: a running firewalld may block them.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};

use super::{Check, Problem};
use crate::host::facts;

/// Which component needs a port, for the message.
fn owner(port: u16, bind_port: u16) -> &'static str {
    match port {
        p if p == bind_port => "kube-apiserver",
        10250 => "the kubelet",
        10257 => "kube-controller-manager",
        10259 => "kube-scheduler",
        2379 | 2380 => "etcd",
        _ => "a control-plane component",
    }
}

/// Like kubeadm's `net.Listen("tcp", ":<port>")`: a listen on every address, IPv4 and IPv6.
pub fn port_open(port: u16) -> Check {
    Check::new(format!("Port-{port}"), move |env| match listen_everywhere(port) {
        Ok(()) => vec![],
        Err(e) => vec![Problem::error(
            format!("Port {port} is in use ({e}); {} needs it", owner(port, env.node.cfg.node.bind_port)),
            format!(
                "stop whatever listens on it (ss -ltnp 'sport = :{port}'), or run `kubeboot reset` if this machine was a node before"
            ),
        )],
    })
}

fn listen_everywhere(port: u16) -> std::io::Result<()> {
    match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)) {
        Ok(_) => Ok(()),
        // No IPv6 on this machine: the IPv4 wildcard is everything there is.
        Err(e)
            if matches!(e.kind(), ErrorKind::AddrNotAvailable | ErrorKind::Unsupported)
                || e.raw_os_error() == Some(97) =>
        {
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

pub fn firewalld(ports: Vec<u16>) -> Check {
    Check::new("Firewalld", move |env| {
        if facts::unit_file(env.host, "firewalld.service").is_none() || !facts::process_running(env.host, "firewalld") {
            return vec![];
        }
        let list = ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ");
        vec![Problem::warning(
            format!(
                "firewalld is active, please ensure ports [{list}] are open or your cluster may not function correctly"
            ),
            format!(
                "open them: {}",
                ports
                    .iter()
                    .map(|p| format!("firewall-cmd --permanent --add-port={p}/tcp"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )]
    })
}
