//! TEST STAND-IN for kube-apiserver (no real kube-apiserver binary is reachable from this machine).
//!
//! An in-process HTTPS server that behaves like the API server for what kubeboot does:
//! objects stored per group/version/resource/namespace/name with `resourceVersion`, `uid` and
//! `creationTimestamp`; GET, LIST, POST, PUT, PATCH (strategic-merge and JSON merge patch), DELETE
//! answering 200/201/404/409 with real `metav1.Status` bodies (AlreadyExists, Conflict, NotFound,
//! Forbidden, Unauthorized); /livez /readyz /healthz /version. Authentication: client certificates
//! verified against the cluster CA (user = CN, groups = O), bearer bootstrap tokens checked against
//! their Secrets, otherwise `system:anonymous`. Authorization: RBAC evaluated from the stored
//! (Cluster)Roles and (Cluster)RoleBindings, `system:masters` allowed everything, with the built-in
//! `cluster-admin` ClusterRole seeded. Faults can be injected: refuse connections for a while,
//! 503, 429 with Retry-After, 401, unhealthy health endpoints.
#![allow(dead_code)] // each test binary uses a different part of the stand-in

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::api_semantics as sem;

/// (group/version, resource, namespace or "", name).
pub type Key = (String, String, String, String);

/// Who made a request, as the authenticator decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub user: String,
}

#[derive(Default)]
struct Faults {
    refuse_until: Option<Instant>,
    unavailable: u32,
    throttled: u32,
    retry_after_secs: u64,
    unauthorized: bool,
    unhealthy: bool,
    conflicts: u32,
}

struct State {
    objects: Mutex<BTreeMap<Key, Value>>,
    resource_version: Mutex<u64>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<Logged>>,
    refuse: Notify,
}

/// A running stand-in. Dropping it stops the server.
pub struct ApiServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl ApiServer {
    /// Starts on 127.0.0.1 with a serving certificate signed by the cluster CA (`ca_cert_pem`,
    /// `ca_key_pem`); client certificates are verified against the same CA.
    pub fn start(ca_cert_pem: &str, ca_key_pem: &str) -> ApiServer {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let state = Arc::new(State {
            objects: Mutex::new(BTreeMap::new()),
            resource_version: Mutex::new(100),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Vec::new()),
            refuse: Notify::new(),
        });
        state.seed();
        let tls = tls_config(ca_cert_pem, ca_key_pem);
        let listener = runtime.block_on(async { bind(0) });
        let addr = listener.local_addr().unwrap();
        runtime.spawn(accept_loop(state.clone(), listener, tokio_rustls::TlsAcceptor::from(Arc::new(tls))));
        ApiServer { addr, state, runtime: Some(runtime) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    // ---- fault injection ----

    /// Closes the listening socket (connections are refused) and drops open connections for `d`.
    pub fn refuse_for(&self, d: Duration) {
        self.state.faults.lock().unwrap().refuse_until = Some(Instant::now() + d);
        self.state.refuse.notify_waiters();
    }

    /// The next `n` API requests get 503 Service Unavailable.
    pub fn unavailable_next(&self, n: u32) {
        self.state.faults.lock().unwrap().unavailable = n;
    }

    /// The next `n` API requests get 429 Too Many Requests with `Retry-After: secs`.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        let mut f = self.state.faults.lock().unwrap();
        f.throttled = n;
        f.retry_after_secs = retry_after_secs;
    }

    /// Every API request gets 401 Unauthorized (as with credentials from another cluster's CA).
    pub fn set_unauthorized(&self, on: bool) {
        self.state.faults.lock().unwrap().unauthorized = on;
    }

    /// The next `n` updates (PUT) get 409 Conflict, as when another writer got there first.
    pub fn conflict_next_updates(&self, n: u32) {
        self.state.faults.lock().unwrap().conflicts = n;
    }

    /// /livez, /readyz and /healthz answer 500 while set.
    pub fn set_unhealthy(&self, on: bool) {
        self.state.faults.lock().unwrap().unhealthy = on;
    }

    // ---- inspection and fixtures ----

    pub fn requests(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.state.log.lock().unwrap().clear();
    }

    pub fn objects(&self) -> BTreeMap<Key, Value> {
        self.state.objects.lock().unwrap().clone()
    }

    pub fn get(&self, gv: &str, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.state.objects.lock().unwrap().get(&key(gv, resource, namespace, name)).cloned()
    }

    /// Stores an object directly, as another component (the kubelet, a controller) would.
    pub fn insert(&self, gv: &str, resource: &str, namespace: &str, mut obj: Value) {
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        self.state.stamp(&mut obj, None);
        self.state.objects.lock().unwrap().insert(key(gv, resource, namespace, &name), obj);
    }

    /// Registers Node `name` after `delay`, as the kubelet does once it reaches the API server.
    pub fn register_node_after(&self, name: &str, delay: Duration) {
        let state = self.state.clone();
        let name = name.to_string();
        self.runtime.as_ref().unwrap().spawn(async move {
            tokio::time::sleep(delay).await;
            let mut node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
                "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}}, "spec": {}});
            state.stamp(&mut node, None);
            state.objects.lock().unwrap().insert(key("v1", "nodes", "", &name), node);
        });
    }
}

fn key(gv: &str, resource: &str, namespace: &str, name: &str) -> Key {
    (gv.into(), resource.into(), namespace.into(), name.into())
}

fn bind(port: u16) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    socket.listen(128).unwrap()
}

async fn accept_loop(state: Arc<State>, first: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) {
    let port = first.local_addr().unwrap().port();
    let mut listener = Some(first);
    loop {
        let l = match listener.take() {
            Some(l) => l,
            None => bind(port),
        };
        loop {
            tokio::select! {
                accepted = l.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    tokio::spawn(serve_connection(state.clone(), acceptor.clone(), tcp));
                }
                _ = state.refuse.notified() => break,
            }
        }
        drop(l); // connections are now refused by the kernel
        let until = state.faults.lock().unwrap().refuse_until;
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

async fn serve_connection(state: Arc<State>, acceptor: tokio_rustls::TlsAcceptor, tcp: tokio::net::TcpStream) {
    let Ok(tls) = acceptor.accept(tcp).await else { return };
    let cert_identity = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| identity_of(c.as_ref()));
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        let cert_identity = cert_identity.clone();
        async move { state.handle(req, cert_identity).await }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await;
}

fn identity_of(der: &[u8]) -> Identity {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let user = cert.subject().iter_common_name().filter_map(|a| a.as_str().ok()).next().unwrap_or("").to_string();
    let mut groups: Vec<String> =
        cert.subject().iter_organization().filter_map(|a| a.as_str().ok()).map(str::to_string).collect();
    groups.push("system:authenticated".into());
    Identity { user, groups }
}

fn tls_config(ca_cert_pem: &str, ca_key_pem: &str) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem).unwrap();
    let ca = rcgen::Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["kubernetes".into(), "localhost".into()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(rcgen::DnType::CommonName, "kube-apiserver");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let ca_der = pem::parse(ca_cert_pem).unwrap().into_contents();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.into()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap()
}

/// A `metav1.Status` failure body.
fn status(code: StatusCode, reason: &str, message: String, details: Value) -> Reply {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    if !details.is_null() {
        body["details"] = details;
    }
    reply(code, &body)
}

/// What the path names.
struct Target {
    group: String,
    gv: String,
    resource: String,
    namespace: String,
    name: Option<String>,
    /// `status` for `…/<name>/status`.
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, resource, name, sub) = match rest {
        ["namespaces", ns, res] => (*ns, *res, None, None),
        ["namespaces", ns, res, name] => (*ns, *res, Some(*name), None),
        ["namespaces", ns, res, name, "status"] => (*ns, *res, Some(*name), Some("status")),
        [res] => ("", *res, None, None),
        [res, name] => ("", *res, Some(*name), None),
        [res, name, "status"] => ("", *res, Some(*name), Some("status")),
        _ => return None,
    };
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(Target {
        group: group.into(),
        gv,
        resource: resource.into(),
        namespace: namespace.into(),
        name: name.map(str::to_string),
        subresource: sub.map(str::to_string),
    })
}

impl State {
    fn seed(&self) {
        let mut admin = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "cluster-admin"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]});
        self.stamp(&mut admin, None);
        self.objects
            .lock()
            .unwrap()
            .insert(key("rbac.authorization.k8s.io/v1", "clusterroles", "", "cluster-admin"), admin);
    }

    /// Sets server-side metadata: a fresh resourceVersion, and uid/creationTimestamp kept from
    /// `previous` or minted.
    fn stamp(&self, obj: &mut Value, previous: Option<&Value>) {
        let mut rv = self.resource_version.lock().unwrap();
        *rv += 1;
        let meta = &mut obj["metadata"];
        meta["resourceVersion"] = json!(rv.to_string());
        match previous {
            Some(p) => {
                meta["uid"] = p["metadata"]["uid"].clone();
                meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
            }
            None => {
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", *rv));
                meta["creationTimestamp"] = json!(jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>, cert: Option<Identity>) -> Result<Reply, std::io::Error> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        {
            let f = self.faults.lock().unwrap();
            if f.refuse_until.is_some_and(|t| Instant::now() < t) {
                // The server is "down": drop the connection without an answer.
                return Err(std::io::Error::other("stand-in is refusing connections"));
            }
        }
        let (resp, user) = self.respond(req, cert).await;
        self.log.lock().unwrap().push(Logged { method, path, status: resp.status().as_u16(), user });
        Ok(resp)
    }

    async fn respond(&self, req: Request<Incoming>, cert: Option<Identity>) -> (Reply, String) {
        let path = req.uri().path().to_string();
        if matches!(path.as_str(), "/livez" | "/readyz" | "/healthz") {
            let ok = !self.faults.lock().unwrap().unhealthy;
            let code = if ok { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
            let body = Full::new(Bytes::from(if ok { "ok" } else { "[-]etcd failed: reason withheld" }));
            return (Response::builder().status(code).body(body).unwrap(), String::new());
        }
        if path == "/version" {
            return (
                reply(StatusCode::OK, &json!({"major": "1", "minor": "34", "gitVersion": "v1.34.1"})),
                String::new(),
            );
        }
        {
            let mut f = self.faults.lock().unwrap();
            if f.unauthorized {
                return (
                    status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized".into(), Value::Null),
                    String::new(),
                );
            }
            if f.unavailable > 0 {
                f.unavailable -= 1;
                return (
                    status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ServiceUnavailable",
                        "the server is currently unable to handle the request".into(),
                        Value::Null,
                    ),
                    String::new(),
                );
            }
            if f.throttled > 0 {
                f.throttled -= 1;
                let mut r =
                    status(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "too many requests".into(), Value::Null);
                r.headers_mut().insert("retry-after", f.retry_after_secs.to_string().parse().unwrap());
                return (r, String::new());
            }
        }
        let who = match self.authenticate(&req, cert) {
            Some(who) => who,
            None => {
                return (
                    status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized".into(), Value::Null),
                    String::new(),
                );
            }
        };
        let user = who.user.clone();
        let Some(t) = parse_path(&path) else {
            return (
                status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                    Value::Null,
                ),
                user,
            );
        };
        let verb = match (req.method().as_str(), &t.name) {
            ("GET", Some(_)) => "get",
            ("GET", None) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", _) => "delete",
            _ => {
                return (
                    status(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "MethodNotAllowed",
                        "method not allowed".into(),
                        Value::Null,
                    ),
                    user,
                );
            }
        };
        if !self.authorized(&who, verb, &t) {
            let name = t.name.clone().unwrap_or_default();
            let scope = if t.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace \"{}\"", t.namespace)
            };
            let msg = format!(
                "{} \"{name}\" is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                t.resource, who.user, t.resource, t.group
            );
            return (
                status(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    msg,
                    json!({"name": name, "group": t.group, "kind": t.resource}),
                ),
                user,
            );
        }
        let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let strict = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == "fieldValidation=Strict"));
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (self.execute(verb, &t, &content_type, &body, strict), user)
    }

    fn authenticate(&self, req: &Request<Incoming>, cert: Option<Identity>) -> Option<Identity> {
        if let Some(auth) = req.headers().get("authorization").and_then(|v| v.to_str().ok()) {
            let token = auth.strip_prefix("Bearer ")?;
            return self.bootstrap_token_identity(token);
        }
        Some(
            cert.unwrap_or(Identity { user: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }),
        )
    }

    /// The bootstrap token authenticator (`--enable-bootstrap-token-auth`).
    fn bootstrap_token_identity(&self, token: &str) -> Option<Identity> {
        let (id, secret) = token.split_once('.')?;
        let objects = self.objects.lock().unwrap();
        let s = objects.get(&key("v1", "secrets", "kube-system", &format!("bootstrap-token-{id}")))?;
        let field = |k: &str| {
            s["data"][k]
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
        };
        if s["type"] != "bootstrap.kubernetes.io/token"
            || field("token-secret").as_deref() != Some(secret)
            || field("usage-bootstrap-authentication").as_deref() != Some("true")
        {
            return None;
        }
        if let Some(exp) = field("expiration")
            && exp.parse::<jiff::Timestamp>().ok()? <= jiff::Timestamp::now()
        {
            return None;
        }
        let mut groups = vec!["system:bootstrappers".to_string()];
        groups.extend(
            field("auth-extra-groups").unwrap_or_default().split(',').filter(|g| !g.is_empty()).map(str::to_string),
        );
        groups.push("system:authenticated".into());
        Some(Identity { user: format!("system:bootstrap:{id}"), groups })
    }

    /// RBAC: does any binding that names this identity grant `verb` on the target?
    fn authorized(&self, who: &Identity, verb: &str, t: &Target) -> bool {
        if who.groups.iter().any(|g| g == "system:masters") {
            return true;
        }
        let objects = self.objects.lock().unwrap();
        let rbac = "rbac.authorization.k8s.io/v1";
        let subject_matches = |s: &Value| match s["kind"].as_str() {
            Some("User") => s["name"] == who.user.as_str(),
            Some("Group") => who.groups.iter().any(|g| s["name"] == g.as_str()),
            Some("ServiceAccount") => {
                who.user
                    == format!(
                        "system:serviceaccount:{}:{}",
                        s["namespace"].as_str().unwrap_or(""),
                        s["name"].as_str().unwrap_or("")
                    )
            }
            _ => false,
        };
        let rule_allows = |r: &Value| {
            let has =
                |field: &str, want: &str| r[field].as_array().is_some_and(|a| a.iter().any(|v| v == want || v == "*"));
            let names_ok = match r["resourceNames"].as_array() {
                None => true,
                Some(a) if a.is_empty() => true,
                Some(a) => t.name.as_ref().is_some_and(|n| a.iter().any(|v| v == n.as_str())),
            };
            let resource = match &t.subresource {
                Some(sub) => format!("{}/{sub}", t.resource),
                None => t.resource.clone(),
            };
            has("verbs", verb) && has("apiGroups", &t.group) && has("resources", &resource) && names_ok
        };
        let role_allows = |kind: &str, name: &str, ns: &str| {
            let (res, ns) = if kind == "ClusterRole" { ("clusterroles", "") } else { ("roles", ns) };
            objects
                .get(&key(rbac, res, ns, name))
                .and_then(|r| r["rules"].as_array().cloned())
                .is_some_and(|rules| rules.iter().any(rule_allows))
        };
        objects.iter().any(|((gv, res, ns, _), b)| {
            let applies = gv == rbac && (res == "clusterrolebindings" || (res == "rolebindings" && *ns == t.namespace));
            applies
                && b["subjects"].as_array().is_some_and(|s| s.iter().any(subject_matches))
                && role_allows(
                    b["roleRef"]["kind"].as_str().unwrap_or(""),
                    b["roleRef"]["name"].as_str().unwrap_or(""),
                    ns,
                )
        })
    }

    fn execute(&self, verb: &str, t: &Target, content_type: &str, body: &[u8], strict: bool) -> Reply {
        let not_found = |name: &str| {
            status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{} \"{name}\" not found", t.resource),
                json!({"name": name, "kind": t.resource}),
            )
        };
        let mut objects = self.objects.lock().unwrap();
        match verb {
            "list" => {
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|((gv, res, ns, _), _)| {
                        *gv == t.gv && *res == t.resource && (t.namespace.is_empty() || *ns == t.namespace)
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                let kind = items
                    .first()
                    .and_then(|i| i["kind"].as_str())
                    .map(|k| format!("{k}List"))
                    .unwrap_or_else(|| "List".into());
                let rv = self.resource_version.lock().unwrap().to_string();
                reply(
                    StatusCode::OK,
                    &json!({"apiVersion": t.gv, "kind": kind, "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            "get" => {
                let name = t.name.clone().unwrap();
                match objects.get(&key(&t.gv, &t.resource, &t.namespace, &name)) {
                    Some(o) => reply(StatusCode::OK, o),
                    None => not_found(&name),
                }
            }
            "delete" => {
                let name = t.name.clone().unwrap();
                match objects.remove(&key(&t.gv, &t.resource, &t.namespace, &name)) {
                    Some(_) => reply(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "kind": t.resource}}),
                    ),
                    None => not_found(&name),
                }
            }
            "create" => {
                let Ok(mut obj) = serde_json::from_slice::<Value>(body) else {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON".into(), Value::Null);
                };
                let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "metadata.name: Required value".into(),
                        Value::Null,
                    );
                };
                if obj["metadata"]["resourceVersion"].as_str().is_some_and(|rv| !rv.is_empty()) {
                    return status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "resourceVersion should not be set on objects to be created".into(),
                        Value::Null,
                    );
                }
                let warnings = match self.admit(t, &mut obj, strict) {
                    Ok(w) => w,
                    Err(r) => return refused(r),
                };
                if sem::has_status_subresource(&t.resource) {
                    obj.as_object_mut().unwrap().remove("status");
                }
                if t.resource == "services" {
                    // Allocation comes before the existence check, as in the real registry.
                    let taken: Vec<String> = objects
                        .iter()
                        .filter(|((gv, res, _, _), _)| gv == "v1" && res == "services")
                        .filter_map(|(_, s)| s["spec"]["clusterIP"].as_str().map(str::to_string))
                        .collect();
                    if let Err(r) = sem::allocate_cluster_ip(&mut obj, &taken) {
                        return refused(r);
                    }
                }
                let k = key(&t.gv, &t.resource, &t.namespace, &name);
                if objects.contains_key(&k) {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        format!("{} \"{name}\" already exists", t.resource),
                        json!({"name": name, "group": t.group, "kind": t.resource}),
                    );
                }
                if !t.namespace.is_empty() {
                    obj["metadata"]["namespace"] = json!(t.namespace);
                }
                self.stamp(&mut obj, None);
                objects.insert(k, obj.clone());
                with_warnings(reply(StatusCode::CREATED, &obj), &warnings)
            }
            "update" | "patch" => {
                let name = t.name.clone().unwrap();
                let k = key(&t.gv, &t.resource, &t.namespace, &name);
                let Some(current) = objects.get(&k).cloned() else { return not_found(&name) };
                let Ok(input) = serde_json::from_slice::<Value>(body) else {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", "the body is not JSON".into(), Value::Null);
                };
                let mut next = if verb == "update" {
                    let sent_rv = input["metadata"]["resourceVersion"].as_str().unwrap_or("");
                    let injected = {
                        let mut f = self.faults.lock().unwrap();
                        let hit = f.conflicts > 0;
                        f.conflicts = f.conflicts.saturating_sub(1);
                        hit
                    };
                    if injected || (!sent_rv.is_empty() && current["metadata"]["resourceVersion"] != sent_rv) {
                        return status(
                            StatusCode::CONFLICT,
                            "Conflict",
                            format!(
                                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                                t.resource
                            ),
                            json!({"name": name, "group": t.group, "kind": t.resource}),
                        );
                    }
                    if input["metadata"]["name"] != name.as_str() {
                        return status(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "the name of the object does not match the name on the URL".into(),
                            Value::Null,
                        );
                    }
                    input
                } else {
                    let mut merged = current.clone();
                    match content_type {
                        "application/strategic-merge-patch+json" => sem::strategic_merge(&mut merged, &input),
                        "application/merge-patch+json" => sem::merge_patch(&mut merged, &input),
                        other => {
                            return status(
                                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                                "UnsupportedMediaType",
                                format!(
                                    "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"
                                ),
                                Value::Null,
                            );
                        }
                    }
                    merged
                };
                if !t.namespace.is_empty() {
                    next["metadata"]["namespace"] = json!(t.namespace);
                }
                let warnings = match self.admit(t, &mut next, strict) {
                    Ok(w) => w,
                    Err(r) => return refused(r),
                };
                if t.resource == "services"
                    && let Err(r) = sem::keep_cluster_ip(&mut next, &current)
                {
                    return refused(r);
                }
                if sem::has_status_subresource(&t.resource) {
                    // The main resource cannot change status; `…/status` changes nothing else.
                    let (keep_from, slot) = if t.subresource.is_some() {
                        let status = next["status"].clone();
                        next = current.clone();
                        (status, "status")
                    } else {
                        (current["status"].clone(), "status")
                    };
                    let m = next.as_object_mut().unwrap();
                    if keep_from.is_null() {
                        m.remove(slot)
                    } else {
                        m.insert(slot.into(), keep_from)
                    };
                }
                if next == current {
                    return reply(StatusCode::OK, &current); // a no-op write does not bump resourceVersion
                }
                self.stamp(&mut next, Some(&current));
                objects.insert(k, next.clone());
                with_warnings(reply(StatusCode::OK, &next), &warnings)
            }
            _ => unreachable!(),
        }
    }
}

fn refused(r: sem::Refusal) -> Reply {
    status(StatusCode::from_u16(r.code).unwrap(), r.reason, r.message, Value::Null)
}

/// The `Warning: 299 - "unknown field …"` headers of `fieldValidation=Warn`.
fn with_warnings(mut r: Reply, warnings: &[String]) -> Reply {
    for w in warnings {
        r.headers_mut().append("warning", format!("299 - \"unknown field \\\"{w}\\\"\"").parse().unwrap());
    }
    r
}

impl State {
    /// Decode (typed), validate and default an object about to be stored, as the real server's
    /// registry does. Unknown fields are dropped and returned as warnings, or refused when strict.
    fn admit(&self, t: &Target, obj: &mut Value, strict: bool) -> Result<Vec<String>, sem::Refusal> {
        let unknown = sem::decode(&t.gv, &t.resource, obj)?;
        if strict && !unknown.is_empty() {
            let kind = obj["kind"].as_str().unwrap_or(&t.resource).to_string();
            let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{}\"", &f[1..])).collect();
            return Err(sem::Refusal {
                code: 400,
                reason: "BadRequest",
                message: format!(
                    "{kind} in version \"{}\" cannot be handled as a {kind}: strict decoding error: {}",
                    t.gv,
                    fields.join(", ")
                ),
            });
        }
        sem::validate(&t.resource, obj)?;
        sem::apply_defaults(&t.resource, obj);
        Ok(unknown.into_iter().map(|f| f[1..].to_string()).collect())
    }
}
