//! CgroupDriver (kubeboot's own check): the kubelet and the container runtime must put Pods in
//! cgroups the same way. kubeadm configures the kubelet with `cgroupDriver: systemd`, while
//! containerd 1.x ships with `SystemdCgroup = false` (cgroupfs) and does not tell the kubelet
//! (no CRI `RuntimeConfig`): the mismatch starts a node whose control-plane Pods restart in a
//! loop — the most common failure of a fresh kubeadm node. Runtimes that answer RuntimeConfig
//! are followed by the kubelet (KubeletCgroupDriverFromCRI), so there is nothing to check.

use std::time::Duration;

use super::{Check, Problem};
use crate::host::cri::CriClient;
use crate::workflow::block_on;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn cgroup_driver() -> Check {
    Check::new("CgroupDriver", |env| {
        let configured = env
            .node
            .cfg
            .kubelet_configuration
            .as_ref()
            .and_then(|k| k.get("cgroupDriver"))
            .and_then(|d| d.as_str())
            .map(str::to_string);
        // A joining node's kubelet takes the cluster's kubelet-config, which preflight cannot
        // see yet: unless the user-data says, kubeadm's systemd is only the likely value.
        let certain = configured.is_some() || !env.node.role().is_join();
        let kubelet = configured.unwrap_or_else(|| "systemd".into());
        let Ok((endpoint, socket)) = super::cri::endpoint(env) else { return vec![] };
        let found = block_on(async {
            let mut cri = CriClient::connect(&socket, TIMEOUT).await?;
            if let Some(reported) = cri.reported_cgroup_driver().await? {
                return Ok::<_, anyhow::Error>(Some((reported, true)));
            }
            Ok(cri.configured_cgroup_driver().await?.map(|d| (d, false)))
        });
        match found {
            // An unreachable runtime is the CRI check's finding; a runtime that does not say
            // leaves nothing to compare.
            Err(_) | Ok(None) => vec![],
            Ok(Some((runtime, true))) => {
                vec![Problem::info(format!(
                    "the runtime reports the {runtime} cgroup driver, which the kubelet follows"
                ))]
            }
            Ok(Some((runtime, false))) if runtime == kubelet => {
                vec![Problem::info(format!(
                    "the kubelet and the runtime at {endpoint} both use the {runtime} cgroup driver"
                ))]
            }
            Ok(Some((runtime, false))) => vec![(if certain { Problem::error } else { Problem::warning })(
                format!(
                    "the container runtime at {endpoint} uses the {runtime} cgroup driver but the kubelet {}, and the runtime cannot tell the kubelet (no CRI RuntimeConfig): Pods would be created in the wrong cgroups and restart in a loop",
                    if certain {
                        format!("is configured for {kubelet}")
                    } else {
                        format!(
                            "will most likely use {kubelet} (kubeadm's default; the cluster's kubelet-config decides)"
                        )
                    }
                ),
                if runtime == "cgroupfs" {
                    "set SystemdCgroup = true under [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options] in /etc/containerd/config.toml and restart containerd (or set kubeletConfiguration.cgroupDriver: cgroupfs)"
                } else {
                    "set kubeletConfiguration.cgroupDriver: systemd, or SystemdCgroup = false in the runtime's configuration"
                },
            )],
        }
    })
}
