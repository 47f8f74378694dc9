//! KernelModules and the bridge-netfilter sysctls: what pod networking needs from the kernel
//! and kubeadm no longer checks (warnings; a CNI plugin may load the modules itself).

use super::{Check, Problem, files};
use crate::host::facts;

pub fn kernel_modules() -> Check {
    Check::new("KernelModules", |env| {
        let config = facts::kernel_release(env.host).and_then(|r| facts::kernel_config(env.host, &r)).map(|(_, c)| c);
        let mut missing = vec![];
        if !facts::module_available(env.host, "br_netfilter", config.as_ref(), "CONFIG_BRIDGE_NETFILTER")
            && !env.host.exists("/proc/sys/net/bridge")
        {
            missing.push("br_netfilter");
        }
        if !facts::filesystems(env.host).iter().any(|f| f == "overlay")
            && !facts::module_available(env.host, "overlay", config.as_ref(), "CONFIG_OVERLAY_FS")
        {
            missing.push("overlay");
        }
        if missing.is_empty() {
            return vec![];
        }
        vec![Problem::warning(
            format!("kernel modules not loaded: {}", missing.join(", ")),
            format!(
                "load them now (modprobe {}) and at boot (list them in /etc/modules-load.d/k8s.conf)",
                missing.join(" ")
            ),
        )]
    })
}

/// Bridged pod traffic must pass iptables (kube-proxy); the names are kubeadm's former checks.
pub fn bridge_nf_call_iptables() -> Check {
    files::file_content(
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
        "1",
        "net.bridge.bridge-nf-call-iptables",
        false,
    )
}

pub fn bridge_nf_call_ip6tables() -> Check {
    files::file_content(
        "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
        "1",
        "net.bridge.bridge-nf-call-ip6tables",
        false,
    )
}
