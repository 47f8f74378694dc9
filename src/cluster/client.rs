//! The API client the cluster phases use: a kube-rs `Client` built from a kubeconfig under the
//! root, with a hickory-backed connector (never libc `getaddrinfo`, see rust-notes §5.5), and the
//! few idempotent verbs kubeadm's `apiclient` package offers: create-or-update, create-or-mutate,
//! create-if-absent, strategic-merge patch. Every call is retried on transient failures
//! (connection refused, 5xx, 429 honouring Retry-After) for at most `timeouts.kubernetesAPICall`,
//! and fails at once on 401/403, naming the identity that was refused.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::StatusCode;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::core::{ObjectMeta, Request};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::host::Host;

/// kubeadm's `KubernetesAPICallRetryInterval`.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// One attempt may not hang longer than this; the overall budget is `kubernetesAPICall`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest Retry-After we honour in one step (the budget still bounds the total).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why an API call failed. Callers match on `Forbidden` where kubeadm expects it
/// (the `kubeadm:cluster-admins` dance) and on `NotFound`-like outcomes through `Option`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "the API server at {server} rejected the credentials of {identity} (401 Unauthorized) while trying to {action}; \
         the kubeconfig does not match this cluster's CA or the client certificate expired: check it with \
         `openssl x509 -noout -subject -issuer -enddate` and regenerate it (`kubeboot init phase kubeconfig`)"
    )]
    Unauthorized { identity: String, server: String, action: String },
    #[error("{identity} is not allowed to {action} (403 Forbidden): {message}")]
    Forbidden { identity: String, action: String, message: String },
    #[error("{action}: the API server answered {code} {reason}: {message}")]
    Status { action: String, code: u16, reason: String, message: String },
    #[error(
        "{action}: no success within {budget:?} (timeouts.kubernetesAPICall) against {server}; last error: {last}. \
         Is the API server running? Look at `crictl ps -a | grep kube-apiserver` and `journalctl -u kubelet`"
    )]
    GaveUp { action: String, budget: Duration, server: String, last: String },
    #[error("{action}: {message}")]
    Invalid { action: String, message: String },
}

/// What a POST found.
enum Posted<K> {
    Created(K),
    Exists,
    /// 422 that a real API server gives before it checks existence (see `post`).
    MaybeExists(ApiError),
}

/// What a write did, so a re-run can prove it changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn verb(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// A kube-rs client plus who it is (for error messages) and how long a call may keep retrying.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    server: String,
    identity: String,
    budget: Duration,
}

/// Resolves host names with hickory (pure Rust) so the static binary never reaches glibc NSS.
#[derive(Clone)]
struct HickoryResolver(Arc<std::result::Result<hickory_resolver::TokioResolver, String>>);

impl tower::Service<Name> for HickoryResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let resolver = resolver.as_ref().as_ref().map_err(|e| format!("DNS resolver unavailable: {e}"))?;
            let ips = resolver.lookup_ip(name.as_str()).await?;
            Ok(ips.iter().map(|ip| SocketAddr::new(ip, 0)).collect::<Vec<_>>().into_iter())
        })
    }
}

/// File references in a kubeconfig are node paths (the kubelet's kubelet.conf names
/// `/var/lib/kubelet/pki/kubelet-client-current.pem`); they are read under the root.
fn root_file_references(host: &Host, kc: &mut kube::config::Kubeconfig) {
    let rooted = |p: &mut Option<String>| {
        if let Some(path) = p.as_mut().filter(|p| p.starts_with('/')) {
            *path = host.path(&*path).display().to_string();
        }
    };
    for auth in kc.auth_infos.iter_mut().filter_map(|a| a.auth_info.as_mut()) {
        rooted(&mut auth.client_certificate);
        rooted(&mut auth.client_key);
    }
    for cluster in kc.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
        rooted(&mut cluster.certificate_authority);
    }
}

impl ApiClient {
    /// Builds a client from a kubeconfig on the node (`/etc/kubernetes/admin.conf`), read under the root.
    pub async fn from_kubeconfig(host: &Host, node_path: &str, budget: Duration) -> Result<Self> {
        let text = host
            .read_to_string(node_path)
            .with_context(|| format!("reading {node_path}; it is written by the kubeconfig phase"))?;
        let mut kc = kube::config::Kubeconfig::from_yaml(&text).with_context(|| format!("parsing {node_path}"))?;
        root_file_references(host, &mut kc);
        let identity = format!("{} from {node_path}", describe_identity(&kc));
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .with_context(|| format!("loading {node_path}"))?;
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();

        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map_err(|e| format!("reading /etc/resolv.conf: {e}"));
        let mut http = HttpConnector::new_with_resolver(HickoryResolver(Arc::new(resolver)));
        http.enforce_http(false);
        http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        let https = config.rustls_https_connector_with_connector(http).context("TLS setup for the API client")?;
        let service = tower::ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .option_layer(config.auth_layer().context("client credentials")?)
            .map_err(tower::BoxError::from)
            .service(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https));
        let client = kube::Client::new(service, config.default_namespace);
        Ok(ApiClient { client, server, identity, budget })
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends one request, retrying transient failures until the budget is spent.
    async fn call(&self, action: &str, req: http::Request<Vec<u8>>) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let (parts, body) = req.into_parts();
        let started = Instant::now();
        loop {
            let mut attempt = http::Request::builder().method(parts.method.clone()).uri(parts.uri.clone());
            for (k, v) in &parts.headers {
                attempt = attempt.header(k, v);
            }
            let attempt = attempt.body(kube::client::Body::from(body.clone())).expect("request parts are valid");
            let remaining = self.budget.saturating_sub(started.elapsed());
            let mut wait = RETRY_INTERVAL;
            let last = match tokio::time::timeout(remaining.min(ATTEMPT_TIMEOUT), self.client.send(attempt)).await {
                Err(_) => "the request timed out".to_string(),
                Ok(Err(e)) => error_chain(&e),
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match resp.into_body().collect_bytes().await {
                        Err(e) => format!("reading the response: {}", error_chain(&e)),
                        Ok(bytes) => match status {
                            StatusCode::UNAUTHORIZED => {
                                return Err(ApiError::Unauthorized {
                                    identity: self.identity.clone(),
                                    server: self.server.clone(),
                                    action: action.into(),
                                });
                            }
                            StatusCode::FORBIDDEN => {
                                return Err(ApiError::Forbidden {
                                    identity: self.identity.clone(),
                                    action: action.into(),
                                    message: status_message(&bytes),
                                });
                            }
                            StatusCode::TOO_MANY_REQUESTS => {
                                wait = retry_after.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER);
                                format!("429 Too Many Requests (Retry-After {}s)", wait.as_secs())
                            }
                            s if s.is_server_error() => {
                                if let Some(ra) = retry_after {
                                    wait = ra.min(MAX_RETRY_AFTER);
                                }
                                format!("{} {}", s.as_u16(), status_message(&bytes))
                            }
                            s => return Ok((s, bytes.to_vec())),
                        },
                    }
                }
            };
            let elapsed = started.elapsed();
            if elapsed >= self.budget {
                return Err(ApiError::GaveUp {
                    action: action.into(),
                    budget: self.budget,
                    server: self.server.clone(),
                    last,
                });
            }
            // The last attempt lands on the deadline rather than giving up early.
            let wait = wait.min(self.budget - elapsed);
            tracing::debug!("{action}: {last}; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }

    /// GET; `None` when the object does not exist.
    pub async fn get<K: Kind>(&self, namespace: Option<&str>, name: &str) -> Result<Option<K>, ApiError> {
        let action = format!("get {}", describe::<K>(namespace, name));
        let req = request::<K>(namespace).get(name, &Default::default());
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        match status {
            StatusCode::OK => decode(&action, &body).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(&action, status, &body)),
        }
    }

    pub async fn list<K: Kind>(&self, namespace: Option<&str>) -> Result<Vec<K>, ApiError> {
        let action = format!("list {} in {}", K::kind(&()), namespace.unwrap_or("the cluster"));
        let req = request::<K>(namespace).list(&Default::default());
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        if status != StatusCode::OK {
            return Err(status_error(&action, status, &body));
        }
        let list: kube::core::ObjectList<K> = decode(&action, &body)?;
        Ok(list.items)
    }

    /// POST; `Ok(None)` when it already exists (409 AlreadyExists).
    pub async fn create<K: Kind>(&self, obj: &K) -> Result<Option<K>, ApiError> {
        match self.post(obj).await? {
            Posted::Created(k) => Ok(Some(k)),
            Posted::Exists => Ok(None),
            Posted::MaybeExists(e) => Err(e),
        }
    }

    async fn post<K: Kind>(&self, obj: &K) -> Result<Posted<K>, ApiError> {
        let ns = obj.meta().namespace.as_deref();
        let action = format!("create {}", describe::<K>(ns, &obj.name_any()));
        let req = request::<K>(ns).create(&Default::default(), encode(&action, obj)?);
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        match status {
            StatusCode::CREATED | StatusCode::OK | StatusCode::ACCEPTED => decode(&action, &body).map(Posted::Created),
            StatusCode::CONFLICT if status_reason(&body) == "AlreadyExists" => Ok(Posted::Exists),
            // A real API server allocates a Service's fixed ClusterIP before it looks for an
            // existing object, so re-creating kube-dns answers 422 "provided IP is already
            // allocated". kubeadm's createDNSService tolerates Invalid and updates; so do we,
            // but only once a read shows the Service really is there.
            StatusCode::UNPROCESSABLE_ENTITY if K::kind(&()) == "Service" => {
                Ok(Posted::MaybeExists(status_error(&action, status, &body)))
            }
            _ => Err(status_error(&action, status, &body)),
        }
    }

    /// PUT; `Ok(None)` on a 409 Conflict (someone else wrote first: re-read and retry).
    async fn replace<K: Kind>(&self, obj: &K) -> Result<Option<K>, ApiError> {
        let ns = obj.meta().namespace.as_deref();
        let name = obj.name_any();
        let action = format!("update {}", describe::<K>(ns, &name));
        let req = request::<K>(ns).replace(&name, &Default::default(), encode(&action, obj)?);
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        match status {
            StatusCode::OK | StatusCode::CREATED => decode(&action, &body).map(Some),
            StatusCode::CONFLICT => Ok(None),
            _ => Err(status_error(&action, status, &body)),
        }
    }

    /// kubeadm `CreateOrUpdate*`: create, or replace when what exists differs from `desired`.
    /// "Differs" means some field of `desired` is absent or different on the server; fields the
    /// server or controllers added are not a difference, so a re-run writes nothing.
    pub async fn create_or_update<K: Kind>(&self, desired: &K) -> Result<Outcome, ApiError> {
        let want = serde_json::to_value(desired).expect("API objects serialize");
        self.create_or_mutate(desired, |existing| {
            let have = serde_json::to_value(&*existing).expect("API objects serialize");
            if !json_contains(&have, &want) {
                let rv = existing.meta().resource_version.clone();
                *existing = desired.clone();
                existing.meta_mut().resource_version = rv;
            }
        })
        .await
    }

    /// kubeadm `CreateOrMutate*`: create `desired`, or apply `mutate` to what exists and write it
    /// back only when that changed something. Conflicts are retried from a fresh read.
    pub async fn create_or_mutate<K: Kind>(&self, desired: &K, mutate: impl Fn(&mut K)) -> Result<Outcome, ApiError> {
        let mut posted = self.post(desired).await?;
        let ns = desired.meta().namespace.as_deref();
        let name = desired.name_any();
        let started = Instant::now();
        loop {
            if let Posted::Created(_) = posted {
                return Ok(Outcome::Created);
            }
            let Some(existing) = self.get::<K>(ns, &name).await? else {
                if let Posted::MaybeExists(invalid) = posted {
                    // Nothing there: the 422 was about the object itself.
                    return Err(invalid);
                }
                // Deleted between our create and get: create again.
                posted = self.post(desired).await?;
                continue;
            };
            let mut updated = existing.clone();
            mutate(&mut updated);
            if serde_json::to_value(&updated).ok() == serde_json::to_value(&existing).ok() {
                return Ok(Outcome::Unchanged);
            }
            if self.replace(&updated).await?.is_some() {
                return Ok(Outcome::Updated);
            }
            if started.elapsed() > self.budget {
                return Err(ApiError::GaveUp {
                    action: format!("update {}", describe::<K>(ns, &name)),
                    budget: self.budget,
                    server: self.server.clone(),
                    last: "409 Conflict on every attempt".into(),
                });
            }
        }
    }

    /// kubeadm `Create*IfNotExists`: an existing object is left exactly as it is.
    pub async fn create_if_absent<K: Kind>(&self, desired: &K) -> Result<Outcome, ApiError> {
        Ok(if self.create(desired).await?.is_some() { Outcome::Created } else { Outcome::Unchanged })
    }

    /// PATCH with `application/strategic-merge-patch+json`; `None` when the object does not exist.
    pub async fn patch_strategic<K: Kind>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Option<K>, ApiError> {
        let action = format!("patch {}", describe::<K>(namespace, name));
        let req = request::<K>(namespace).patch(name, &Default::default(), &kube::api::Patch::Strategic(patch));
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        match status {
            StatusCode::OK => decode(&action, &body).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(&action, status, &body)),
        }
    }

    /// DELETE; `false` when it did not exist.
    pub async fn delete<K: Kind>(&self, namespace: Option<&str>, name: &str) -> Result<bool, ApiError> {
        let action = format!("delete {}", describe::<K>(namespace, name));
        let req = request::<K>(namespace).delete(name, &Default::default());
        let (status, body) = self.call(&action, built(&action, req)?).await?;
        match status {
            StatusCode::OK | StatusCode::ACCEPTED => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(&action, status, &body)),
        }
    }

    /// GET of a plain path (`/healthz`), returning the status code.
    pub async fn get_path(&self, path: &str) -> Result<StatusCode, ApiError> {
        let action = format!("GET {path}");
        let req = http::Request::get(path).body(Vec::new()).map_err(|e| invalid(&action, e))?;
        Ok(self.call(&action, req).await?.0)
    }
}

/// What the typed helpers need of an object type (every k8s-openapi resource qualifies).
pub trait Kind: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<K> Kind for K where K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

/// `ObjectMeta` for a namespaced object, the way every phase spells it.
pub fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() }
}

/// `ObjectMeta` for a cluster-scoped object.
pub fn cluster_meta(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), ..Default::default() }
}

/// True when every field of `want` is present with the same value in `have`. Objects may have
/// extra keys; lists must have the same length and match element by element.
pub fn json_contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => {
            w.iter().all(|(k, wv)| h.get(k).is_some_and(|hv| json_contains(hv, wv)) || wv.is_null())
        }
        (Value::Array(h), Value::Array(w)) => h.len() == w.len() && h.iter().zip(w).all(|(a, b)| json_contains(a, b)),
        _ => have == want,
    }
}

fn request<K: Kind>(namespace: Option<&str>) -> Request {
    Request::new(K::url_path(&(), namespace))
}

fn describe<K: Kind>(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{} {ns}/{name}", K::kind(&())),
        None => format!("{} {name}", K::kind(&())),
    }
}

fn built(
    action: &str,
    r: std::result::Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<http::Request<Vec<u8>>, ApiError> {
    r.map_err(|e| invalid(action, e))
}

fn invalid(action: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid { action: action.into(), message: e.to_string() }
}

fn encode<K: Serialize>(action: &str, obj: &K) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(obj).map_err(|e| invalid(action, e))
}

fn decode<T: DeserializeOwned>(action: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| invalid(action, format!("unexpected response body: {e}")))
}

fn status_reason(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

fn status_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

fn status_error(action: &str, status: StatusCode, body: &[u8]) -> ApiError {
    ApiError::Status {
        action: action.into(),
        code: status.as_u16(),
        reason: status_reason(body),
        message: status_message(body),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// `kubernetes-admin (groups kubeadm:cluster-admins)` from the client certificate of the current
/// context, or `bootstrap token <id>` — never the token secret.
fn describe_identity(kc: &kube::config::Kubeconfig) -> String {
    let user = kc
        .current_context
        .as_ref()
        .and_then(|cur| kc.contexts.iter().find(|c| &c.name == cur))
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone());
    let Some(auth) =
        user.as_ref().and_then(|u| kc.auth_infos.iter().find(|a| &a.name == u)).and_then(|a| a.auth_info.as_ref())
    else {
        return "an anonymous client".into();
    };
    if let Some(cert) = auth.client_certificate_data.as_deref().and_then(cert_subject) {
        return cert;
    }
    if let Some(token) = &auth.token {
        use secrecy::ExposeSecret;
        let id = token.expose_secret().split('.').next().unwrap_or("").to_string();
        return format!("bootstrap token {id}");
    }
    format!("user {}", user.unwrap_or_default())
}

fn cert_subject(b64_pem: &str) -> Option<String> {
    use base64::Engine;
    let pem_bytes = base64::engine::general_purpose::STANDARD.decode(b64_pem.trim()).ok()?;
    let der = pem::parse(pem_bytes).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.contents()).ok()?;
    let subject = cert.subject();
    let cn = subject.iter_common_name().filter_map(|a| a.as_str().ok()).next().unwrap_or("").to_string();
    let orgs: Vec<&str> = subject.iter_organization().filter_map(|a| a.as_str().ok()).collect();
    Some(if orgs.is_empty() { cn } else { format!("{cn} (groups {})", orgs.join(",")) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_ignores_server_additions_but_not_changes() {
        let have = json!({"metadata": {"name": "x", "uid": "u", "resourceVersion": "5"},
                          "data": {"a": "1", "b": "2"}, "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}});
        assert!(json_contains(&have, &json!({"metadata": {"name": "x"}, "data": {"a": "1"}})));
        assert!(json_contains(&have, &json!({"spec": {"ports": [{"port": 53}]}})));
        assert!(!json_contains(&have, &json!({"data": {"a": "2"}})));
        assert!(!json_contains(&have, &json!({"data": {"c": "3"}})));
        assert!(!json_contains(&have, &json!({"spec": {"ports": [{"port": 53}, {"port": 54}]}})));
    }
}
