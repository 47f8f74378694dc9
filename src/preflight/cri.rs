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

/// The endpoint to talk to and its socket path. A configured endpoint is used as given on the
/// live machine; an auto-detected one is a file found under the root.
pub(super) fn endpoint(env: &Env) -> Result<(String, PathBuf), Problem> {
    let configured = env.node.cfg.node.cri_socket.clone();
    let (endpoint, rooted) = match configured {
        Some(e) => (e, false),
        None => match cri::detect_endpoint(env.host) {
            Ok(found) => (found.unwrap_or(cri::KNOWN_ENDPOINTS[0]).to_string(), true),
            Err(many) => {
                return Err(Problem::error(many, "set node.criSocket to the runtime this node should use"));
            }
        },
    };
    let path = cri::socket_path(&endpoint)
        .map_err(|e| Problem::error(format!("{e:#}"), "set node.criSocket to a unix:///path socket"))?;
    let path = if rooted { env.host.path(&path) } else { path };
    Ok((endpoint, path))
}
