//! CRI: the container runtime answers on its CRI socket and reports itself ready. kubeadm
//! calls the runtime service's Status; kubeboot calls Version and Status over gRPC.

use std::path::PathBuf;
use std::time::Duration;

use super::{Check, Env, Problem};
use crate::host::cri;
use crate::workflow::block_on;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn cri() -> Check {
    Check::new("CRI", |env| {
        let (endpoint, socket) = match endpoint(env) {
            Ok(e) => e,
            Err(p) => return vec![p],
        };
        match block_on(cri::probe(&socket, TIMEOUT)) {
            Ok(info) => {
                let what = format!(
                    "{} {} (CRI {}) at {endpoint}",
                    info.runtime_name, info.runtime_version, info.runtime_api_version
                );
                match info.ready {
                    Ok(()) => vec![Problem::info(format!("{what} is ready"))],
                    Err(why) => vec![Problem::error(
                        format!("container runtime is not ready: {what}: {why}"),
                        "check the runtime's logs (journalctl -u containerd) and its CNI/CRI configuration",
                    )],
                }
            }
            Err(e) => vec![Problem::error(
                format!("container runtime is not running: {endpoint}: {e:#}"),
                "start the container runtime (systemctl enable --now containerd) or point node.criSocket at the right socket",
            )],
        }
    })
}

/// The endpoint to talk to and its socket path (see `cri::node_endpoint`).
pub(super) fn endpoint(env: &Env) -> Result<(String, PathBuf), Problem> {
    cri::node_endpoint(env.host, env.node.cfg.node.cri_socket.as_deref()).map_err(|e| {
        Problem::error(e, "set node.criSocket to the unix:///path socket of the runtime this node should use")
    })
}
