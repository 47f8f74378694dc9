//! A minimal CRI client (k8s.io/cri-api `runtime.v1`) over the runtime's Unix socket: the
//! runtime service's `Version`, `Status` and `RuntimeConfig`, the image service's
//! `ImageStatus` and `PullImage`. The messages are written out by hand with prost derives, so
//! building kubeboot needs no protoc; fields kubeboot does not read are simply skipped by the
//! decoder.

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
    /// Verbose details; containerd puts its CRI configuration as JSON under `config`.
    #[prost(map = "string, string", tag = "2")]
    pub info: std::collections::HashMap<String, String>,
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

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    #[prost(string, tag = "1")]
    pub image: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
    #[prost(bool, tag = "2")]
    pub verbose: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageStatusResponse {
    /// Absent when the runtime does not have the image.
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// Pulls anonymously: registry credentials belong in the runtime's own configuration.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PullImageRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<ImageSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PullImageResponse {
    #[prost(string, tag = "1")]
    pub image_ref: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeConfigRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeConfigResponse {
    #[prost(message, optional, tag = "1")]
    pub linux: Option<LinuxRuntimeConfiguration>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LinuxRuntimeConfiguration {
    /// cri-api `CgroupDriver`: 0 SYSTEMD, 1 CGROUPFS.
    #[prost(int32, tag = "1")]
    pub cgroup_driver: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxMetadata {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
}

/// `StopPodSandboxRequest` and `RemovePodSandboxRequest` (both carry only the sandbox id).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxIdRequest {
    #[prost(string, tag = "1")]
    pub pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

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

/// The endpoint a node uses and its socket path: a configured endpoint as given, on the live
/// machine; else the one runtime found under the root (kubeadm's detection; none found means
/// containerd's default). The error says what is wrong (several runtimes, not a unix socket).
pub fn node_endpoint(host: &super::Host, configured: Option<&str>) -> Result<(String, PathBuf), String> {
    let (endpoint, rooted) = match configured {
        Some(e) => (e.to_string(), false),
        None => (detect_endpoint(host)?.unwrap_or(KNOWN_ENDPOINTS[0]).to_string(), true),
    };
    let path = socket_path(&endpoint).map_err(|e| format!("{e:#}"))?;
    let path = if rooted { host.path(&path) } else { path };
    Ok((endpoint, path))
}

/// The socket path of a `unix://` endpoint (a bare absolute path is accepted too, as kubeadm does).
pub fn socket_path(endpoint: &str) -> Result<PathBuf> {
    match endpoint.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        None if endpoint.starts_with('/') => Ok(PathBuf::from(endpoint)),
        _ => bail!("CRI endpoint `{endpoint}` is not a unix:// socket; kubeboot talks to local runtimes only"),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    pub filter: Option<PodSandboxFilter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxFilter {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub state: Option<PodSandboxStateValue>,
    #[prost(map = "string, string", tag = "3")]
    pub label_selector: std::collections::HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStateValue {
    /// 0 SANDBOX_READY, 1 SANDBOX_NOTREADY.
    #[prost(int32, tag = "1")]
    pub state: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxResponse {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<PodSandbox>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandbox {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<PodSandboxMetadata>,
    #[prost(int32, tag = "3")]
    pub state: i32,
    #[prost(int64, tag = "4")]
    pub created_at: i64,
}

/// A connection to the runtime's CRI socket. Every call is bounded by its own deadline
/// because a pull legitimately takes minutes while a status call should take milliseconds.
pub struct CriClient {
    grpc: tonic::client::Grpc<tonic::transport::Channel>,
    timeout: Duration,
}

impl CriClient {
    /// Connects to `socket`; `timeout` bounds the connection and every call but pulls.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let path = socket.to_path_buf();
        // The URI is required by tonic but unused: every connection goes to the socket.
        let channel = Endpoint::from_static("http://cri.invalid")
            .connect_timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { tokio::net::UnixStream::connect(path).await.map(hyper_util::rt::TokioIo::new) }
            }))
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to {}: {}", socket.display(), root_cause(&e)))?;
        Ok(CriClient { grpc: tonic::client::Grpc::new(channel), timeout })
    }

    async fn call<Req, Resp>(&mut self, method: &'static str, req: Req, timeout: Duration) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let call = async {
            self.grpc.ready().await.context("the CRI connection is not ready")?;
            let mut request = tonic::Request::new(req);
            request.set_timeout(timeout);
            let response = self
                .grpc
                .unary(request, PathAndQuery::from_static(method), tonic_prost::ProstCodec::default())
                .await
                .map_err(grpc_error)?;
            Ok::<Resp, anyhow::Error>(response.into_inner())
        };
        let short = method.trim_start_matches("/runtime.v1.");
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.context(short),
            Err(_) => bail!("{short}: no answer within {}s", timeout.as_secs_f32()),
        }
    }

    pub async fn version(&mut self) -> Result<VersionResponse> {
        let t = self.timeout;
        self.call("/runtime.v1.RuntimeService/Version", VersionRequest { version: "v1".into() }, t).await
    }

    /// The ids of the READY pod sandboxes carrying every label of `labels`, newest first.
    pub async fn ready_pod_sandboxes(&mut self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        let t = self.timeout;
        let filter = PodSandboxFilter {
            id: String::new(),
            state: Some(PodSandboxStateValue { state: 0 }),
            label_selector: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let req = ListPodSandboxRequest { filter: Some(filter) };
        let resp: ListPodSandboxResponse = self.call("/runtime.v1.RuntimeService/ListPodSandbox", req, t).await?;
        let mut items: Vec<PodSandbox> = resp.items.into_iter().filter(|p| p.state == 0).collect();
        items.sort_by_key(|p| std::cmp::Reverse(p.created_at));
        Ok(items.into_iter().map(|p| p.id).collect())
    }

    pub async fn status(&mut self, verbose: bool) -> Result<StatusResponse> {
        let t = self.timeout;
        self.call("/runtime.v1.RuntimeService/Status", StatusRequest { verbose }, t).await
    }

    /// Whether the runtime has `image` (by tag or digest), as `crictl inspecti` would say.
    pub async fn image_exists(&mut self, image: &str) -> Result<bool> {
        let t = self.timeout;
        let req = ImageStatusRequest { image: Some(ImageSpec { image: image.into() }), verbose: false };
        let resp: ImageStatusResponse = self.call("/runtime.v1.ImageService/ImageStatus", req, t).await?;
        Ok(resp.image.is_some_and(|i| !i.id.is_empty()))
    }

    /// Pulls `image` through the runtime (its registry configuration and mirrors apply);
    /// returns the image reference the runtime resolved.
    pub async fn pull_image(&mut self, image: &str, timeout: Duration) -> Result<String> {
        let req = PullImageRequest { image: Some(ImageSpec { image: image.into() }) };
        let resp: PullImageResponse = self.call("/runtime.v1.ImageService/PullImage", req, timeout).await?;
        Ok(resp.image_ref)
    }

    /// The cgroup driver the runtime reports through `RuntimeConfig` (`systemd` or `cgroupfs`),
    /// which the kubelet then follows (KubeletCgroupDriverFromCRI); `None` when the runtime
    /// predates the call (containerd 1.x answers Unimplemented), so the kubelet uses its own
    /// `cgroupDriver` setting.
    pub async fn reported_cgroup_driver(&mut self) -> Result<Option<&'static str>> {
        let t = self.timeout;
        match self
            .call::<_, RuntimeConfigResponse>("/runtime.v1.RuntimeService/RuntimeConfig", RuntimeConfigRequest {}, t)
            .await
        {
            Ok(r) => Ok(Some(if r.linux.map(|l| l.cgroup_driver).unwrap_or(0) == 1 { "cgroupfs" } else { "systemd" })),
            Err(e) if e.downcast_ref::<GrpcStatus>().is_some_and(|s| s.code == tonic::Code::Unimplemented) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The cgroup driver of the runtime's default runtime handler per its CRI configuration
    /// (containerd: `runtimes.<default>.options.SystemdCgroup`); `None` when it does not say.
    pub async fn configured_cgroup_driver(&mut self) -> Result<Option<&'static str>> {
        let Some(config) = self.cri_config().await? else { return Ok(None) };
        let containerd = &config["containerd"];
        let default = containerd["defaultRuntimeName"].as_str().unwrap_or("runc");
        Ok(containerd["runtimes"][default]["options"]["SystemdCgroup"]
            .as_bool()
            .map(|systemd| if systemd { "systemd" } else { "cgroupfs" }))
    }

    /// The pause image the runtime will use for pod sandboxes (containerd's `sandboxImage`),
    /// as kubeadm reads it. `None` when the runtime does not say.
    pub async fn sandbox_image(&mut self) -> Result<Option<String>> {
        Ok(self
            .cri_config()
            .await?
            .and_then(|c| c.get("sandboxImage").and_then(|s| s.as_str()).map(str::to_string))
            .filter(|s| !s.is_empty()))
    }

    /// Every Pod sandbox the runtime has (`crictl pods -q`, what kubeadm reset removes).
    pub async fn list_pod_sandboxes(&mut self) -> Result<Vec<PodSandbox>> {
        let t = self.timeout;
        let resp: ListPodSandboxResponse =
            self.call("/runtime.v1.RuntimeService/ListPodSandbox", ListPodSandboxRequest::default(), t).await?;
        Ok(resp.items)
    }

    /// Stops a sandbox and its containers (`crictl stopp`): the runtime tears down its network
    /// and kills the processes that hold the Pod's volumes.
    pub async fn stop_pod_sandbox(&mut self, id: &str, timeout: Duration) -> Result<()> {
        let req = PodSandboxIdRequest { pod_sandbox_id: id.into() };
        let _: Empty = self.call("/runtime.v1.RuntimeService/StopPodSandbox", req, timeout).await?;
        Ok(())
    }

    /// Removes a stopped sandbox and its containers (`crictl rmp`).
    pub async fn remove_pod_sandbox(&mut self, id: &str, timeout: Duration) -> Result<()> {
        let req = PodSandboxIdRequest { pod_sandbox_id: id.into() };
        let _: Empty = self.call("/runtime.v1.RuntimeService/RemovePodSandbox", req, timeout).await?;
        Ok(())
    }

    /// The runtime's CRI configuration: the JSON under `config` in a verbose Status (containerd
    /// puts it there); `None` when absent or not JSON.
    async fn cri_config(&mut self) -> Result<Option<serde_json::Value>> {
        let status = self.status(true).await?;
        Ok(status.info.get("config").and_then(|c| serde_json::from_str(c).ok()))
    }
}

/// Calls `Version` and `Status` on the runtime at `socket`, each bounded by `timeout`.
pub async fn probe(socket: &Path, timeout: Duration) -> Result<RuntimeInfo> {
    let mut cri = CriClient::connect(socket, timeout).await?;
    let version = cri.version().await?;
    let status = cri.status(false).await?;
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

/// A gRPC status as an error: its code stays inspectable (`downcast_ref`) and it reads
/// `Unimplemented: unknown method ...`, without tonic's metadata dump.
#[derive(Debug)]
pub struct GrpcStatus {
    pub code: tonic::Code,
    pub message: String,
}

impl std::fmt::Display for GrpcStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for GrpcStatus {}

fn grpc_error(s: tonic::Status) -> anyhow::Error {
    GrpcStatus { code: s.code(), message: s.message().to_string() }.into()
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
        // with the info map entry (field 2) encoded by hand, as cri-api's generated code does.
        let cond = RuntimeCondition { r#type: "RuntimeReady".into(), status: true, ..Default::default() };
        let mut bytes =
            StatusResponse { status: Some(RuntimeStatus { conditions: vec![cond.clone()] }), info: Default::default() }
                .encode_to_vec();
        bytes.extend_from_slice(&[0x12, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v']);
        let decoded = StatusResponse::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.status.unwrap().conditions, vec![cond]);
        assert_eq!(decoded.info.get("k").map(String::as_str), Some("v"));
        // ImageStatusRequest{image: {image: "a"}}: field 1 holds the ImageSpec, whose field 1 is the name.
        let req = ImageStatusRequest { image: Some(ImageSpec { image: "a".into() }), verbose: false };
        assert_eq!(req.encode_to_vec(), [0x0a, 0x03, 0x0a, 0x01, b'a']);
        // An empty ImageStatusResponse is cri-api's "no such image".
        assert!(ImageStatusResponse::decode(&[][..]).unwrap().image.is_none());
        assert_eq!(VersionRequest { version: "v1".into() }.encode_to_vec(), [0x0a, 0x02, b'v', b'1']);
    }
}
