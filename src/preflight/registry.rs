//! Which checks run for which node, in kubeadm's order: `InitNodeChecks` for the first
//! control-plane node, `JoinNodeChecks` for a worker, both (without repeating the common
//! checks) for a control-plane join — then the checks a first boot adds.

use std::net::IpAddr;

use ipnet::IpNet;

use super::*;
use crate::config::resolve::{KUBERNETES_DIR, MANIFESTS_DIR, split_host_port};
use crate::config::{Resolved, Role};

pub const KUBELET_PORT: u16 = 10250;
pub const KUBE_SCHEDULER_PORT: u16 = 10259;
pub const KUBE_CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;

const IPV4_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const IPV6_DEFAULT_FORWARDING: &str = "/proc/sys/net/ipv6/conf/default/forwarding";

/// Every check for `node`; IsPrivilegedUser comes first and stops the run when it fails.
pub fn checks_for(node: &Resolved) -> Vec<Check> {
    let mut checks = vec![privileges::is_privileged_user()];
    match node.role() {
        Role::ControlPlane => checks.extend(init_checks(node, false)),
        Role::Worker => checks.extend(join_checks(node)),
        Role::ControlPlaneJoin => {
            checks.extend(join_checks(node));
            checks.extend(init_checks(node, true));
        }
    }
    checks.extend(first_boot_checks(node));
    checks
}

/// kubeadm `InitNodeChecks`. `secondary` is a control-plane join: the common, forwarding and
/// external-etcd-version checks already ran as join checks.
fn init_checks(node: &Resolved, secondary: bool) -> Vec<Check> {
    let bind_port = node.cfg.node.bind_port;
    let mut checks = vec![
        resources::num_cpu(),
        resources::mem(),
        kubelet::kubernetes_version(),
        ports::firewalld(vec![bind_port, KUBELET_PORT]),
        ports::port_open(bind_port),
        ports::port_open(KUBE_SCHEDULER_PORT),
        ports::port_open(KUBE_CONTROLLER_MANAGER_PORT),
    ];
    for component in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"] {
        checks.push(files::file_available(format!("{MANIFESTS_DIR}/{component}.yaml")));
    }
    checks.push(proxy::http_proxy(node.advertise_address().to_string()));
    let cidrs: Vec<IpNet> = node.service_cidrs.iter().chain(&node.pod_cidrs).copied().collect();
    checks.extend(cidrs.iter().map(|c| proxy::http_proxy_cidr(*c)));

    if !secondary {
        checks.extend(common_checks(node, true));
        let ips: Vec<IpAddr> = cidrs.iter().map(|c| c.addr()).chain([node.advertise_address()]).collect();
        checks.extend(forwarding_checks(&ips));
        if node.external_etcd().is_some() {
            checks.push(etcd::external_etcd_version());
        }
    }
    if let Some(local) = node.local_etcd() {
        checks.extend([
            ports::port_open(ETCD_CLIENT_PORT),
            ports::port_open(ETCD_PEER_PORT),
            files::dir_available(local.data_dir),
        ]);
    }
    // A control-plane join that downloads the certificates brings the etcd client files along.
    let downloads_certs = secondary && node.cfg.certificate_key.is_some();
    if let Some(ext) = node.external_etcd()
        && !downloads_certs
    {
        for f in [&ext.ca_file, &ext.cert_file, &ext.key_file].into_iter().filter(|f| !f.is_empty()) {
            checks.push(files::external_etcd_client_certificate(f.clone()));
        }
    }
    // kubeadm's RunPullImagesCheck, for init and control-plane join alike.
    checks.push(images::image_pull());
    checks
}

/// kubeadm `JoinNodeChecks`.
fn join_checks(node: &Resolved) -> Vec<Check> {
    let mut checks = vec![
        files::file_available(format!("{KUBERNETES_DIR}/kubelet.conf")),
        files::file_available(format!("{KUBERNETES_DIR}/bootstrap-kubelet.conf")),
    ];
    checks.extend(common_checks(node, false));
    if node.role() == Role::Worker {
        checks.push(files::file_available(node.pki("ca.crt")));
    }
    if let Some(ep) = node.cfg.join.as_ref().and_then(|j| j.api_server_endpoint.as_deref()) {
        let (host, _) = split_host_port(ep);
        if let Ok(ip) = host.parse::<IpAddr>() {
            checks.extend(forwarding_checks(&[ip]));
        }
        checks.push(proxy::http_proxy(host));
    }
    checks
}

/// kubeadm `addCommonChecks`. `check_newer_kubelet` is off for joins, as in kubeadm. kubeadm's
/// join passes no Kubernetes version to the executable list; kubeboot uses the configured one,
/// which is what the node's kube-proxy will run.
fn common_checks(node: &Resolved, check_newer_kubelet: bool) -> Vec<Check> {
    let mut checks = vec![cri::cri(), swap::swap()];
    checks.extend(
        executables::required_tools(&node.version)
            .into_iter()
            .map(|(exe, required, pkg)| executables::file_existing(exe, required, pkg)),
    );
    checks.extend([
        system::system_verification(),
        network::hostname(),
        kubelet::kubelet_version(check_newer_kubelet),
        kubelet::service_kubelet(),
        ports::port_open(KUBELET_PORT),
    ]);
    checks
}

/// IP forwarding for each address family in use.
fn forwarding_checks(ips: &[IpAddr]) -> Vec<Check> {
    let mut checks = vec![];
    if ips.iter().any(IpAddr::is_ipv4) {
        checks.push(files::file_content(IPV4_FORWARD, "1", "net.ipv4.ip_forward", true));
    }
    if ips.iter().any(IpAddr::is_ipv6) {
        checks.push(files::file_content(IPV6_DEFAULT_FORWARDING, "1", "net.ipv6.conf.default.forwarding", true));
    }
    checks
}

/// What kubeadm does not check but a machine booting unattended needs.
fn first_boot_checks(node: &Resolved) -> Vec<Check> {
    let mut checks = vec![writable::dir_writable(), cgroups::cgroup_driver(), kernel::kernel_modules()];
    let ips: Vec<IpAddr> =
        node.service_cidrs.iter().chain(&node.pod_cidrs).map(|c| c.addr()).chain(node.node_address()).collect();
    if ips.iter().any(IpAddr::is_ipv4) {
        checks.push(kernel::bridge_nf_call_iptables());
    }
    if ips.iter().any(IpAddr::is_ipv6) {
        checks.push(kernel::bridge_nf_call_ip6tables());
    }
    checks.push(clock::clock());
    let etcd_dir = node.role().is_control_plane().then(|| node.local_etcd()).flatten().map(|e| e.data_dir);
    checks.push(disk::disk_space(etcd_dir));
    if node.role().is_control_plane() {
        checks.push(network::advertise_address());
    }
    if node.role().is_join() {
        checks.push(network::join_endpoint());
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> Resolved {
        Resolved::for_tests(yaml)
    }

    fn names(n: &Resolved) -> Vec<String> {
        checks_for(n).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn init_runs_kubeadm_init_and_common_checks() {
        let n = node(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  advertiseAddress: 10.0.0.5\ncluster:\n  kubernetesVersion: v1.33.5\n  networking:\n    podSubnet: 10.244.0.0/16\n",
        );
        let names = names(&n);
        assert_eq!(names[0], "IsPrivilegedUser");
        for want in [
            "NumCPU",
            "Mem",
            "KubernetesVersion",
            "Firewalld",
            "Port-6443",
            "Port-10259",
            "Port-10257",
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
            "FileAvailable--etc-kubernetes-manifests-etcd.yaml",
            "HTTPProxy",
            "HTTPProxyCIDR",
            "CRI",
            "Swap",
            "FileExisting-mount",
            "FileExisting-nsenter",
            "FileExisting-touch",
            "SystemVerification",
            "Hostname",
            "KubeletVersion",
            "Service-Kubelet",
            "Port-10250",
            "FileContent--proc-sys-net-ipv4-ip_forward",
            "Port-2379",
            "Port-2380",
            "DirAvailable--var-lib-etcd",
            "DirWritable",
            "CgroupDriver",
            "AdvertiseAddress",
            "ImagePull",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want} in {names:?}");
        }
        assert_eq!(names.iter().filter(|n| *n == "HTTPProxyCIDR").count(), 2);
        assert!(!names.iter().any(|n| n.contains("ipv6") || n == "JoinEndpoint" || n == "FileExisting-iptables"));
        assert!(names.iter().all(|n| is_known_check(n)), "{names:?}");
    }

    #[test]
    fn worker_runs_join_checks_only() {
        let n = node(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\ncluster:\n  kubernetesVersion: v1.31.2\njoin:\n  apiServerEndpoint: \"[fd00::10]:6443\"\n  token: abcdef.0123456789abcdef\n  caCertHashes: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\n",
        );
        let names = names(&n);
        for want in [
            "FileAvailable--etc-kubernetes-kubelet.conf",
            "FileAvailable--etc-kubernetes-bootstrap-kubelet.conf",
            "FileAvailable--etc-kubernetes-pki-ca.crt",
            "FileContent--proc-sys-net-ipv6-conf-default-forwarding",
            "FileExisting-conntrack",
            "FileExisting-iptables",
            "Port-10250",
            "JoinEndpoint",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want} in {names:?}");
        }
        for absent in [
            "NumCPU",
            "Port-6443",
            "DirAvailable--var-lib-etcd",
            "AdvertiseAddress",
            "FileContent--proc-sys-net-ipv4-ip_forward",
            "ImagePull",
        ] {
            assert!(!names.iter().any(|n| n == absent), "unexpected {absent}");
        }
    }

    #[test]
    fn control_plane_join_does_not_repeat_common_checks() {
        let n = node(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane-join\nnode:\n  advertiseAddress: 10.0.0.6\ncertificateKey: \"0000000000000000000000000000000000000000000000000000000000000000\"\njoin:\n  apiServerEndpoint: 10.0.0.5:6443\n  token: abcdef.0123456789abcdef\n  caCertHashes: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\n",
        );
        let names = names(&n);
        assert_eq!(names.iter().filter(|n| *n == "CRI").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "ImagePull").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "Port-10250").count(), 1);
        assert_eq!(names.iter().filter(|n| *n == "FileContent--proc-sys-net-ipv4-ip_forward").count(), 1);
        assert!(names.iter().any(|n| n == "NumCPU") && names.iter().any(|n| n == "DirAvailable--var-lib-etcd"));
        assert!(!names.iter().any(|n| n == "FileAvailable--etc-kubernetes-pki-ca.crt"));
    }
}
