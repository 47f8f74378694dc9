//! Swap, judged against the kubelet configuration this node will run with. kubeadm only warns;
//! but with the kubelet's default `failSwapOn: true` an active swap area means the kubelet
//! refuses to start, so that case is an error here. `failSwapOn: false` plus a
//! `memorySwap.swapBehavior` on cgroup v2 is a supported setup and passes.

use super::{Check, Env, Problem};
use crate::host::facts::{self, Cgroups};

pub fn swap() -> Check {
    Check::new("Swap", |env| {
        let areas = facts::swap_areas(env.host);
        if areas.is_empty() {
            return vec![];
        }
        let list =
            areas.iter().map(|a| format!("{} ({} MiB)", a.name, a.size_kib / 1024)).collect::<Vec<_>>().join(", ");
        let (fail_swap_on, behavior) = kubelet_swap_settings(env);
        if fail_swap_on {
            return vec![Problem::error(
                format!("swap is on ({list}) and the kubelet's failSwapOn is true: the kubelet would refuse to start"),
                "turn swap off (swapoff -a, and remove it from /etc/fstab), or set kubeletConfiguration.failSwapOn: false with memorySwap.swapBehavior: LimitedSwap",
            )];
        }
        if !matches!(facts::cgroups(env.host), Ok(Cgroups::V2 { .. })) {
            return vec![Problem::warning(
                format!("swap is on ({list}); swap is supported for cgroup v2 only"),
                "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) or disable swap",
            )];
        }
        match behavior {
            Some(_) => vec![],
            None => vec![Problem::warning(
                format!("swap is on ({list}) and failSwapOn is false, but memorySwap.swapBehavior is not set"),
                "set kubeletConfiguration.memorySwap.swapBehavior (LimitedSwap or NoSwap) so the kubelet's use of swap is explicit; see https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory",
            )],
        }
    })
}

/// `failSwapOn` (default true) and `memorySwap.swapBehavior` from the config's KubeletConfiguration.
fn kubelet_swap_settings(env: &Env) -> (bool, Option<String>) {
    let kc = env.node.cfg.kubelet_configuration.as_ref();
    let fail = kc.and_then(|k| k.get("failSwapOn")).and_then(|v| v.as_bool()).unwrap_or(true);
    let behavior = kc
        .and_then(|k| k.pointer("/memorySwap/swapBehavior"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(String::from);
    (fail, behavior)
}
