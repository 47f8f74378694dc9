//! A minimal CRI client: the runtime service's `Version` and `Status` calls (k8s.io/cri-api
//! `runtime.v1`) over the runtime's Unix socket. The messages are written out by hand with
//! prost derives, so building kubeboot needs no protoc; fields kubeboot does not read are
//! simply skipped by the decoder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Endpoint, Uri};

/// The CRI endpoints kubeadm knows, in its detection order.
pub const KNOWN_ENDPOINTS: &[&str] = &[
    "unix:///var/run/containerd/containerd.sock",
    "unix:///var/run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
];

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(string, tag = "1")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    #[prost(string, tag = "3")]
    pub runtime_version: String,
    #[prost(string, tag = "4")]
    pub runtime_api_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    #[prost(bool, tag = "1")]
    pub verbose: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RuntimeStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeStatus {
    #[prost(message, repeated, tag = "1")]
    pub conditions: Vec<RuntimeCondition>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeCondition {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(bool, tag = "2")]
    pub status: bool,
    #[prost(string, tag = "3")]
    pub reason: String,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// What the runtime said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub runtime_name: String,
    pub runtime_version: String,
    pub runtime_api_version: String,
    /// The `RuntimeReady` condition: `Ok` when true, else its reason and message.
    pub ready: Result<(), String>,
}

/// kubeadm's auto-detection for a config that names no CRI socket: the one known runtime
/// socket present under the root. `Ok(None)` when none is present; more than one is an error
/// (kubeadm refuses to guess).
pub fn detect_endpoint(host: &super::Host) -> Result<Option<&'static str>, String> {
    let found: Vec<&'static str> = KNOWN_ENDPOINTS
        .iter()
        .copied()
        .filter(|e| e.strip_prefix("unix://").is_some_and(|p| super::facts::is_socket(host, p)))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(format!("found multiple CRI endpoints on the host: {}", many.join(", "))),
    }
}

/// The socket path of a `unix://` endpoint (a bare absolute path is accepted too, as kubeadm does).
pub fn socket_path(endpoint: &str) -> Result<PathBuf> {
    match endpoint.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        None if endpoint.starts_with('/') => Ok(PathBuf::from(endpoint)),
        _ => bail!("CRI endpoint `{endpoint}` is not a unix:// socket; kubeboot talks to local runtimes only"),
    }
}

/// Calls `Version` and `Status` on the runtime at `socket`, each bounded by `timeout`.
pub async fn probe(socket: &Path, timeout: Duration) -> Result<RuntimeInfo> {
    let path = socket.to_path_buf();
    // The URI is required by tonic but unused: every connection goes to the socket.
    let channel = Endpoint::from_static("http://cri.invalid")
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { tokio::net::UnixStream::connect(path).await.map(hyper_util::rt::TokioIo::new) }
        }))
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {}: {}", socket.display(), root_cause(&e)))?;
    let mut grpc = tonic::client::Grpc::new(channel);

    grpc.ready().await.context("the CRI connection is not ready")?;
    let version: VersionResponse = grpc
        .unary(
            tonic::Request::new(VersionRequest { version: "v1".into() }),
            PathAndQuery::from_static("/runtime.v1.RuntimeService/Version"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map_err(grpc_error)
        .context("RuntimeService/Version")?
        .into_inner();

    grpc.ready().await.context("the CRI connection is not ready")?;
    let status: StatusResponse = grpc
        .unary(
            tonic::Request::new(StatusRequest { verbose: false }),
            PathAndQuery::from_static("/runtime.v1.RuntimeService/Status"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map_err(grpc_error)
        .context("RuntimeService/Status")?
        .into_inner();

    let conditions = status.status.map(|s| s.conditions).unwrap_or_default();
    let ready = match conditions.iter().find(|c| c.r#type == "RuntimeReady") {
        Some(c) if c.status => Ok(()),
        Some(c) => Err(format!("RuntimeReady is false: {} {}", c.reason, c.message).trim_end().to_string()),
        None => Err("the runtime reports no RuntimeReady condition".into()),
    };
    Ok(RuntimeInfo {
        runtime_name: version.runtime_name,
        runtime_version: version.runtime_version,
        runtime_api_version: version.runtime_api_version,
        ready,
    })
}

/// The innermost error: transport errors nest the useful part (`No such file or directory`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn grpc_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn endpoints_must_be_unix_sockets() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            Path::new("/run/containerd/containerd.sock")
        );
        assert_eq!(socket_path("/run/crio/crio.sock").unwrap(), Path::new("/run/crio/crio.sock"));
        assert!(socket_path("tcp://10.0.0.1:1234").is_err());
        assert!(socket_path("unix://relative.sock").is_err());
    }

    #[test]
    fn messages_use_the_cri_field_numbers() {
        // StatusResponse{status: {conditions: [{type: "RuntimeReady", status: true}]}, info: {"k": "v"}}
        // encoded by hand: unknown field 2 (info) must be skipped.
        let cond = RuntimeCondition { r#type: "RuntimeReady".into(), status: true, ..Default::default() };
        let mut bytes =
            StatusResponse { status: Some(RuntimeStatus { conditions: vec![cond.clone()] }) }.encode_to_vec();
        bytes.extend_from_slice(&[0x12, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v']);
        let decoded = StatusResponse::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.status.unwrap().conditions, vec![cond]);
        assert_eq!(VersionRequest { version: "v1".into() }.encode_to_vec(), [0x0a, 0x02, b'v', b'1']);
    }
}
