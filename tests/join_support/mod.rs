//! Shared helpers for the join_* tests.
//!
//! `StandInApiServer` is a TEST STAND-IN for kube-apiserver (no kube-apiserver binary exists on
//! this machine): an in-process HTTPS server with a given serving certificate that answers GETs
//! (and merge-PATCHes) for the objects it holds by path, query ignored (404 otherwise), like the API server: `cluster-info` to anyone,
//! everything else only to `Authorization: Bearer <accepted token>` (401 for an unknown token,
//! 403 for anonymous) or, when started with a client CA, to a client certificate it signed. It records every request with all its headers, so a test can prove what
//! a client did or did not send. The same server with an attacker's certificate is the capturing
//! MITM endpoint.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

pub const CLUSTER_INFO: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// One request as the server saw it, after TLS.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The client presented a certificate signed by the server's client CA.
    pub client_cert: bool,
}

#[derive(Default)]
struct State {
    objects: Mutex<BTreeMap<String, Value>>,
    accepted_token: Mutex<Option<String>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct StandInApiServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for StandInApiServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl StandInApiServer {
    /// Serves TLS with `cert_pem` (leaf first) and `key_pem` on `ip`, a free port.
    pub fn start(ip: &str, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self::start_with_client_ca(ip, cert_pem, key_pem, None)
    }

    /// As `start`; a client certificate signed by `client_ca_pem` is then authorized for everything.
    pub fn start_with_client_ca(ip: &str, cert_pem: &[u8], key_pem: &[u8], client_ca_pem: Option<&[u8]>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let certs: Vec<_> = pem::parse_many(cert_pem)
            .unwrap()
            .into_iter()
            .map(|p| rustls::pki_types::CertificateDer::from(p.into_contents()))
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca_pem {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(pem::parse(ca).unwrap().into_contents().into()).unwrap();
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .allow_unauthenticated()
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut tls = builder.with_single_cert(certs, key).unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = runtime.block_on(tokio::net::TcpListener::bind(format!("{ip}:0"))).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (st, acceptor) = (st.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let has_client_cert = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        async move { Ok::<_, std::convert::Infallible>(st.handle(req, has_client_cert).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        StandInApiServer { addr, state, runtime: Some(runtime) }
    }

    /// `host:port`, as `join.apiServerEndpoint` takes it.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn put(&self, path: &str, object: Value) {
        self.state.objects.lock().unwrap().insert(path.to_string(), object);
    }

    pub fn remove(&self, path: &str) -> Option<Value> {
        self.state.objects.lock().unwrap().remove(path)
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.objects.lock().unwrap().get(path).cloned()
    }

    /// The bootstrap token (`id.secret`) this server accepts as a bearer token.
    pub fn accept_token(&self, token: &str) {
        *self.state.accepted_token.lock().unwrap() = Some(token.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl State {
    async fn handle(&self, req: Request<Incoming>, has_client_cert: bool) -> Response<Full<Bytes>> {
        use http_body_util::BodyExt;
        let full = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let headers =
            req.headers().iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())).collect();
        let method = req.method().clone();
        self.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: full,
            headers,
            client_cert: has_client_cert,
        });
        let path = req.uri().path().to_string();
        if path != CLUSTER_INFO && !has_client_cert {
            let bearer = req.headers().get("authorization").and_then(|v| v.to_str().ok());
            let accepted = self.accepted_token.lock().unwrap().clone();
            match (bearer, accepted) {
                (None, _) => return reply(StatusCode::FORBIDDEN, json!({"kind": "Status", "reason": "Forbidden"})),
                (Some(b), Some(t)) if b == format!("Bearer {t}") => {}
                _ => return reply(StatusCode::UNAUTHORIZED, json!({"kind": "Status", "reason": "Unauthorized"})),
            }
        }
        if method == hyper::Method::PATCH {
            // Merge patch of maps (what a strategic-merge patch of annotations amounts to).
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return reply(StatusCode::BAD_REQUEST, json!({"kind": "Status", "reason": "BadRequest"}));
            };
            let mut objects = self.objects.lock().unwrap();
            return match objects.get_mut(&path) {
                Some(obj) => {
                    merge_patch(obj, &patch);
                    reply(StatusCode::OK, obj.clone())
                }
                None => reply(StatusCode::NOT_FOUND, json!({"kind": "Status", "reason": "NotFound"})),
            };
        }
        match self.objects.lock().unwrap().get(&path) {
            // `{"__redirect": url}` stands for a hostile server (or a path) answering 302.
            Some(obj) if obj.get("__redirect").is_some() => Response::builder()
                .status(StatusCode::FOUND)
                .header("location", obj["__redirect"].as_str().unwrap_or(""))
                .body(Full::new(Bytes::new()))
                .unwrap(),
            Some(obj) => reply(StatusCode::OK, obj.clone()),
            None => reply(StatusCode::NOT_FOUND, json!({"kind": "Status", "reason": "NotFound"})),
        }
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().unwrap();
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap()
}

/// The kubeboot binary with a clean environment.
pub fn kubeboot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubeboot"));
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "KUBEBOOT_ROOT"] {
        c.env_remove(v);
    }
    c
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A temp dir holding a root (`root/`) and the node's config.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Node {
    pub fn new(config_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        let config = dir.path().join("node.yaml");
        std::fs::write(&config, config_text).unwrap();
        Node { dir, config }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root().join(node_path.trim_start_matches('/'))
    }

    pub fn pki(&self, rel: &str) -> PathBuf {
        self.path(&format!("/etc/kubernetes/pki/{rel}"))
    }

    pub fn write(&self, node_path: &str, contents: &[u8]) {
        let p = self.path(node_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Output {
        kubeboot().args(args).arg("--config").arg(&self.config).arg("--root").arg(self.root()).output().unwrap()
    }

    /// Every file under the root, as node paths.
    pub fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(format!("/{}", p.strip_prefix(base).unwrap().display()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root(), &self.root(), &mut out);
        out.sort();
        out
    }
}

/// A cluster's PKI made by kubeboot itself: `init phase certs` for a control-plane node whose
/// API server answers on `advertise` (the stand-in serves with that apiserver certificate).
pub fn cluster_pki(advertise: &str) -> Node {
    cluster_pki_with(advertise, "v1.33.5", "")
}

/// As `cluster_pki`, for Kubernetes `version` with more `cluster:` settings (`cluster_extra`,
/// YAML indented by two spaces).
pub fn cluster_pki_with(advertise: &str, version: &str, cluster_extra: &str) -> Node {
    let cp = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
node:
  name: cp-1
  advertiseAddress: {advertise}
cluster:
  kubernetesVersion: {version}
  encryptionAlgorithm: ECDSA-P256
{cluster_extra}"
    ));
    cp.write("/etc/hostname", b"cp-1\n");
    let out = cp.run(&["init", "phase", "certs", "all"]);
    assert!(out.status.success(), "making the cluster PKI failed:\n{}", text(&out));
    cp
}

/// The ClusterConfiguration kubeboot's init uploads to kube-system/kubeadm-config for the
/// control-plane node configured in `cp` (`cluster::uploadconfig`, the upload-config phase).
pub fn uploaded_cluster_configuration(cp: &Node) -> String {
    let cfg = kubeboot::config::load_file(&cp.config).unwrap();
    let id = kubeboot::config::HostIdentity { hostname: "cp-1".into(), ..Default::default() };
    let node = kubeboot::config::Resolved::new(cfg, &id).unwrap();
    kubeboot::cluster::uploadconfig::cluster_configuration_yaml(&node)
}

/// ConfigMap kube-system/kubeadm-config holding `cluster_configuration`.
pub fn kubeadm_config(cluster_configuration: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
           "data": {"ClusterConfiguration": cluster_configuration}})
}

pub const KUBEADM_CONFIG: &str = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config";

/// The CA pin computed by openssl, independently of kubeboot (reference §2.6).
pub fn openssl_pin(ca_crt: &Path) -> String {
    let script =
        format!("openssl x509 -pubkey -noout -in {} | openssl pkey -pubin -outform der | sha256sum", ca_crt.display());
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "openssl: {}", text(&out));
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap())
}

/// The detached JWS computed by python3's hmac/base64, independently of kubeboot.
pub fn python_jws(content: &str, token_id: &str, secret: &str) -> String {
    let script = r#"
import base64, hmac, hashlib, sys
content, kid, secret = sys.argv[1], sys.argv[2], sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(('{"alg":"HS256","kid":"%s"}' % kid).encode())
sig = hmac.new(secret.encode(), (header + "." + b64(content.encode())).encode(), hashlib.sha256).digest()
print(header + ".." + b64(sig))
"#;
    let out = Command::new("python3").arg("-c").arg(script).args([content, token_id, secret]).output().unwrap();
    assert!(out.status.success(), "python3: {}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// cluster-info's kubeconfig, as kubeadm writes it (§9.3): one cluster named "".
pub fn cluster_info_kubeconfig(server: &str, ca_pem: &[u8]) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: \"\"\n\
         contexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n"
    )
}

/// The cluster-info ConfigMap with `data`.
pub fn cluster_info(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data})
}

/// A data key of Secret kubeadm-certs and the file under the PKI dir it holds (local etcd).
pub const SHARED_CERTS: &[(&str, &str)] = &[
    ("ca.crt", "ca.crt"),
    ("ca.key", "ca.key"),
    ("front-proxy-ca.crt", "front-proxy-ca.crt"),
    ("front-proxy-ca.key", "front-proxy-ca.key"),
    ("sa.key", "sa.key"),
    ("sa.pub", "sa.pub"),
    ("etcd-ca.crt", "etcd/ca.crt"),
    ("etcd-ca.key", "etcd/ca.key"),
];

/// kubeadm `EncryptBytes` written from the spec (reference §12.5): AES-256-GCM, key = the
/// hex-decoded certificate key, 12-byte random nonce first, tag last, no AAD.
pub fn kubeadm_encrypt(key_hex: &str, plain: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key: Vec<u8> = (0..64).step_by(2).map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap()).collect();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
    let mut nonce = [0u8; 12];
    aws_lc_rs::rand::fill(&mut nonce).unwrap();
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed).unwrap();
    [nonce.as_slice(), &sealed].concat()
}

/// A first control-plane node rendered by kubeboot (`render`) and the stand-in API server
/// serving what a kubeadm cluster serves a joining node: cluster-info signed for `token`, the
/// kubeadm-config ConfigMap (the ClusterConfiguration kubeboot's init uploads for this node), the
/// kubelet-config ConfigMap (this node's config.yaml) and kubeadm-certs under `certificate_key`.
pub struct StandInCluster {
    pub cp: Node,
    pub api: StandInApiServer,
    /// The CA pin, computed by openssl.
    pub pin: String,
    pub kubelet_config: String,
}

impl StandInCluster {
    pub fn start(token: &str, certificate_key: &str) -> Self {
        Self::start_with(token, certificate_key, "v1.33.5", "")
    }

    /// A cluster of Kubernetes `version` whose first node has more `cluster:` settings.
    pub fn start_with(token: &str, certificate_key: &str, version: &str, cluster_extra: &str) -> Self {
        let cp = cluster_pki_with("127.0.0.1", version, cluster_extra);
        let out = cp.run(&["render"]);
        assert!(out.status.success(), "{}", text(&out));
        let api = StandInApiServer::start_with_client_ca(
            "127.0.0.1",
            &std::fs::read(cp.pki("apiserver.crt")).unwrap(),
            &std::fs::read(cp.pki("apiserver.key")).unwrap(),
            Some(&std::fs::read(cp.pki("ca.crt")).unwrap()),
        );
        api.accept_token(token);
        let (id, secret) = token.split_once('.').unwrap();
        let kubeconfig =
            cluster_info_kubeconfig(&format!("https://{}", api.endpoint()), &std::fs::read(cp.pki("ca.crt")).unwrap());
        let jws = python_jws(&kubeconfig, id, secret);
        api.put(CLUSTER_INFO, cluster_info(json!({"kubeconfig": kubeconfig, format!("jws-kubeconfig-{id}"): jws})));
        api.put(KUBEADM_CONFIG, kubeadm_config(&uploaded_cluster_configuration(&cp)));
        let kubelet_config = std::fs::read_to_string(cp.path("/var/lib/kubelet/config.yaml")).unwrap();
        api.put(
            "/api/v1/namespaces/kube-system/configmaps/kubelet-config",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "kubelet-config", "namespace": "kube-system"},
                   "data": {"kubelet": kubelet_config}}),
        );
        use base64::Engine;
        let data: BTreeMap<&str, String> = SHARED_CERTS
            .iter()
            .map(|(k, f)| {
                let sealed = kubeadm_encrypt(certificate_key, &std::fs::read(cp.pki(f)).unwrap());
                (*k, base64::engine::general_purpose::STANDARD.encode(sealed))
            })
            .collect();
        api.put(
            "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "kubeadm-certs", "namespace": "kube-system"},
                   "type": "Opaque", "data": data}),
        );
        let pin = openssl_pin(&cp.pki("ca.crt"));
        StandInCluster { cp, api, pin, kubelet_config }
    }
}

/// What `kubeboot join` printed and what the kubelet stand-in saw.
pub struct JoinRun {
    pub output: Output,
    /// bootstrap-kubelet.conf (text and mode) as the kubelet found it when it was started.
    pub bootstrap_kubeconfig: Option<(String, u32)>,
}

/// Runs `kubeboot join <args>` for `node` while a TEST STAND-IN for the kubelet's TLS bootstrap
/// watches its output: when kubeboot restarts kubelet.service (printed, since the root is not
/// `/`), it reads bootstrap-kubelet.conf and, as the kubelet does after its CSR is approved,
/// writes `/var/lib/kubelet/pki/kubelet-client-current.pem` (a certificate for
/// `system:node:<name>` from the cluster CA) and a kubelet.conf for the server named in
/// bootstrap-kubelet.conf, and registers its Node (NotReady) in the stand-in API server. The fake
/// kubelet binary and unit that kubelet-start requires are installed under the root first.
pub fn join_with_kubelet_stand_in(node: &Node, node_name: &str, cluster: &StandInCluster, args: &[&str]) -> JoinRun {
    let cluster_ca = &cluster.cp;
    use std::io::{BufRead, Read};
    use std::process::Stdio;
    node.write("/usr/bin/kubelet", b"#!/bin/sh\n");
    node.write("/lib/systemd/system/kubelet.service", b"[Service]\nExecStart=/usr/bin/kubelet\n");
    let mut child = kubeboot()
        .arg("join")
        .args(args)
        .arg("--config")
        .arg(&node.config)
        .arg("--root")
        .arg(node.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = Vec::new();
    let mut bootstrap_kubeconfig = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("not running `systemctl restart kubelet.service`") {
            let path = node.path("/etc/kubernetes/bootstrap-kubelet.conf");
            use std::os::unix::fs::PermissionsExt;
            bootstrap_kubeconfig = std::fs::read_to_string(&path)
                .ok()
                .zip(std::fs::metadata(&path).ok().map(|m| m.permissions().mode() & 0o7777));
            let server = bootstrap_kubeconfig
                .as_ref()
                .and_then(|(text, _)| serde_saphyr::from_str::<Value>(text).ok())
                .and_then(|kc| kc["clusters"][0]["cluster"]["server"].as_str().map(str::to_string))
                .expect("bootstrap-kubelet.conf names the API server");
            let pem = node_client_cert(cluster_ca, node_name);
            node.write("/var/lib/kubelet/pki/kubelet-client-current.pem", pem.as_bytes());
            node.write("/etc/kubernetes/kubelet.conf", kubelet_conf(&server, &cluster_ca_pem(cluster_ca)).as_bytes());
            cluster.api.put(
                &format!("/api/v1/nodes/{node_name}"),
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name},
                       "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            );
        }
        stdout.extend(line.into_bytes());
        stdout.push(b'\n');
    }
    let mut stderr = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    JoinRun { output: Output { status, stdout, stderr }, bootstrap_kubeconfig }
}

fn cluster_ca_pem(cluster_ca: &Node) -> Vec<u8> {
    std::fs::read(cluster_ca.pki("ca.crt")).unwrap()
}

/// The kubelet's client certificate and key after TLS bootstrap, in one PEM file.
fn node_client_cert(cluster_ca: &Node, node_name: &str) -> String {
    use kubeboot::pki::{Authority, CertRequest, PrivateKey, cert_der_from_pem, pem_text, table::Usage};
    let ca = Authority {
        base: "ca".into(),
        cert_der: cert_der_from_pem(&cluster_ca_pem(cluster_ca)).unwrap(),
        key: Some(PrivateKey::from_pem(&std::fs::read_to_string(cluster_ca.pki("ca.key")).unwrap()).unwrap()),
    };
    let key = PrivateKey::generate(kubeboot::config::EncryptionAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let req = CertRequest {
        cn: format!("system:node:{node_name}"),
        orgs: vec!["system:nodes".into()],
        usages: vec![Usage::ClientAuth],
        sans: Default::default(),
        not_before: now,
        not_after: now + time::Duration::days(365),
    };
    format!("{}{}", pem_text("CERTIFICATE", &ca.sign(&req, &key).unwrap()), key.pem())
}

/// kubelet.conf as the kubelet writes it after TLS bootstrap.
fn kubelet_conf(server: &str, ca_pem: &[u8]) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let pem = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  \
         name: default-cluster\ncontexts:\n- context:\n    cluster: default-cluster\n    namespace: default\n    \
         user: default-auth\n  name: default-context\ncurrent-context: default-context\nkind: Config\npreferences: {{}}\n\
         users:\n- name: default-auth\n  user:\n    client-certificate: {pem}\n    client-key: {pem}\n"
    )
}
