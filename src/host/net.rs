//! Network facts from the live kernel (never through --root: addresses belong to the machine).

use std::net::IpAddr;

/// All addresses configured on this machine's interfaces.
pub fn local_addresses() -> Vec<(String, IpAddr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return vec![];
    };
    addrs
        .filter_map(|a| {
            let sa = a.address?;
            let ip = if let Some(v4) = sa.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                return None;
            };
            Some((a.interface_name, ip))
        })
        .collect()
}

/// The first IPv4 address of the interface that holds the IPv4 default route, as kubeadm's
/// `ChooseHostInterface` does (falling back to the first global IPv6 default route).
pub fn default_route_address() -> Option<IpAddr> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    let iface = routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    })?;
    local_addresses().into_iter().find(|(n, ip)| *n == iface && ip.is_ipv4()).map(|(_, ip)| ip)
}
