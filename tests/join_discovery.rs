//! Token discovery against a stand-in API server serving cluster-info over TLS with a real
//! cluster PKI (made by `kubeboot init phase certs`). Pins are computed by openssl and JWS
//! values by python3's hmac/base64, so kubeboot is checked against independent implementations.
//! Every refusal also checks that nothing was written under the root.

mod join_support;

use join_support::*;
use serde_json::json;

const TOKEN: &str = "abcdef.0123456789abcdef";
const ID: &str = "abcdef";
const SECRET: &str = "0123456789abcdef";

/// A cluster: its PKI, the stand-in API server with its apiserver certificate, and cluster-info.
struct Cluster {
    pki: Node,
    api: StandInApiServer,
    kubeconfig: String,
    pin: String,
}

impl Cluster {
    fn new() -> Self {
        let pki = cluster_pki("127.0.0.1");
        let ca = std::fs::read(pki.pki("ca.crt")).unwrap();
        let api = StandInApiServer::start(
            "127.0.0.1",
            &std::fs::read(pki.pki("apiserver.crt")).unwrap(),
            &std::fs::read(pki.pki("apiserver.key")).unwrap(),
        );
        api.accept_token(TOKEN);
        api.put(KUBEADM_CONFIG, kubeadm_config(&uploaded_cluster_configuration(&pki)));
        let kubeconfig = cluster_info_kubeconfig(&format!("https://{}", api.endpoint()), &ca);
        let pin = openssl_pin(&pki.pki("ca.crt"));
        Cluster { pki, api, kubeconfig, pin }
    }

    /// cluster-info as the bootstrapsigner leaves it: kubeconfig plus the JWS for our token.
    fn serve_signed(&self) {
        self.serve(json!({"kubeconfig": self.kubeconfig, format!("jws-kubeconfig-{ID}"): python_jws(&self.kubeconfig, ID, SECRET)}));
    }

    fn serve(&self, data: serde_json::Value) {
        self.api.put(CLUSTER_INFO, cluster_info(data));
    }

    fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.pki.pki("ca.crt")).unwrap()
    }
}

fn worker(endpoint: &str, join_extra: &str) -> Node {
    Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: worker
node:
  name: worker-1
  advertiseAddress: 127.0.0.1
cluster:
  kubernetesVersion: v1.33.5
join:
  apiServerEndpoint: {endpoint}
  token: {TOKEN}
{join_extra}
timeouts:
  discovery: 2s
"
    ))
}

fn pinned(pins: &[&str]) -> String {
    let mut s = "  caCertHashes:\n".to_string();
    for p in pins {
        s.push_str(&format!("  - {p}\n"));
    }
    s
}

fn discover(node: &Node) -> std::process::Output {
    node.run(&["join", "phase", "discovery"])
}

fn no_request_carries_the_secret(api: &StandInApiServer) {
    for r in api.seen() {
        for (name, value) in &r.headers {
            assert!(!value.contains(SECRET), "{} {} sent the token secret in header {name}", r.method, r.path);
        }
        assert!(!r.path.contains(SECRET));
    }
}

#[test]
fn jws_matches_an_independent_hmac_implementation() {
    let token = kubeboot::join::Token::parse(TOKEN).unwrap();
    for content in ["", "apiVersion: v1\nkind: Config\n", "ümlaut and \"quotes\" and\ttabs\n"] {
        let ours = kubeboot::join::jws::detached_signature(content, &token);
        assert_eq!(ours, python_jws(content, ID, SECRET), "content {content:?}");
        assert!(kubeboot::join::jws::is_valid(&ours, content, &token));
    }
    // The example header of reference §9.3.
    assert!(python_jws("x", ID, SECRET).starts_with("eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9.."));
}

#[test]
fn correct_jws_and_pin_discover_the_cluster_without_sending_credentials() {
    let c = Cluster::new();
    c.serve_signed();
    let node = worker(&c.api.endpoint(), &pinned(&[&c.pin]));
    let out = discover(&node);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&c.pin), "the verified CA pin is reported:\n{}", text(&out));

    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path(kubeboot::join::DISCOVERY_STATE)).unwrap()).unwrap();
    assert_eq!(kept["server"], format!("https://{}", c.api.endpoint()));
    assert_eq!(kept["caPem"], c.ca_pem());
    assert_eq!(node.files(), [kubeboot::join::CLUSTER_CONFIG_STATE, kubeboot::join::DISCOVERY_STATE]);

    // Two cluster-info reads (unverified, then verified), both anonymous; only then, over the
    // verified connection, the token reads the cluster's configuration (kubeadm-config).
    let seen = c.api.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for r in &seen[..2] {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", CLUSTER_INFO));
        assert!(!r.headers.iter().any(|(k, _)| k == "authorization"), "discovery sent credentials: {r:?}");
    }
    assert_eq!((seen[2].method.as_str(), seen[2].path.as_str()), ("GET", KUBEADM_CONFIG));
    let kept = std::fs::read_to_string(node.path(kubeboot::join::CLUSTER_CONFIG_STATE)).unwrap();
    assert_eq!(kept, uploaded_cluster_configuration(&c.pki));

    // A resumed join does not discover again, nor read the configuration again.
    let out = discover(&node);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Using the cluster discovered earlier"), "{}", text(&out));
    assert_eq!(c.api.seen().len(), 3);
}

#[test]
fn one_matching_pin_among_several_is_enough() {
    let c = Cluster::new();
    c.serve_signed();
    let other = format!("sha256:{}", "0".repeat(64));
    let node = worker(&c.api.endpoint(), &pinned(&[&other, &c.pin.to_uppercase().replace("SHA256:", "sha256:")]));
    let out = discover(&node);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn wrong_pin_is_refused_before_anything_is_written_and_prints_the_seen_hash() {
    let c = Cluster::new();
    c.serve_signed();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let node = worker(&c.api.endpoint(), &pinned(&[&wrong]));
    let out = discover(&node);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("not pinned") && msg.contains(&c.pin), "the seen hash is printed:\n{msg}");
    assert!(node.files().is_empty(), "refusal wrote {:?}", node.files());
    // Only the unverified read happened: nothing was re-fetched over TLS trusting that CA.
    assert_eq!(c.api.seen().len(), 1);
    no_request_carries_the_secret(&c.api);
}

#[test]
fn jws_only_for_another_token_id_is_refused_as_invalid_or_expired() {
    let c = Cluster::new();
    c.serve(json!({"kubeconfig": c.kubeconfig, "jws-kubeconfig-zzzzzz": python_jws(&c.kubeconfig, "zzzzzz", SECRET)}));
    let node = worker(&c.api.endpoint(), &pinned(&[&c.pin]));
    let out = discover(&node);
    assert!(!out.status.success());
    assert!(text(&out).contains("token id \"abcdef\" is invalid for this cluster or it has expired"), "{}", text(&out));
    assert!(text(&out).contains("timeouts.discovery"), "{}", text(&out));
    assert!(node.files().is_empty());
    no_request_carries_the_secret(&c.api);
}

#[test]
fn missing_jws_is_refused_after_the_discovery_timeout() {
    let c = Cluster::new();
    c.serve(json!({"kubeconfig": c.kubeconfig}));
    let node = worker(&c.api.endpoint(), &pinned(&[&c.pin]));
    let start = std::time::Instant::now();
    let out = discover(&node);
    assert!(!out.status.success());
    assert!(text(&out).contains("has no jws-kubeconfig-abcdef"), "{}", text(&out));
    assert!(start.elapsed() >= std::time::Duration::from_secs(2), "gave up before timeouts.discovery");
    assert!(node.files().is_empty());
}

#[test]
fn jws_signed_with_another_tokens_secret_is_refused_at_once() {
    let c = Cluster::new();
    // Right key name and kid, wrong secret: an attacker who knows the token id only.
    c.serve(json!({"kubeconfig": c.kubeconfig, format!("jws-kubeconfig-{ID}"): python_jws(&c.kubeconfig, ID, "ffffffffffffffff")}));
    let node = worker(&c.api.endpoint(), &pinned(&[&c.pin]));
    let start = std::time::Instant::now();
    let out = discover(&node);
    assert!(!out.status.success());
    assert!(text(&out).contains("failed to verify the JWS signature"), "{}", text(&out));
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "a bad signature is fatal, not retried");
    assert!(node.files().is_empty());
}

#[test]
fn tampered_kubeconfig_is_refused() {
    let c = Cluster::new();
    let jws = python_jws(&c.kubeconfig, ID, SECRET);
    let tampered = c.kubeconfig.replace("server: https://127.0.0.1", "server: https://127.0.0.9");
    assert_ne!(tampered, c.kubeconfig);
    c.serve(json!({"kubeconfig": tampered, format!("jws-kubeconfig-{ID}"): jws}));
    let node = worker(&c.api.endpoint(), &pinned(&[&c.pin]));
    let out = discover(&node);
    assert!(!out.status.success());
    assert!(text(&out).contains("failed to verify the JWS signature"), "{}", text(&out));
    assert!(node.files().is_empty());
}

#[test]
fn no_pin_and_no_unsafe_flag_is_a_validation_error() {
    let node = worker("127.0.0.1:6443", "");
    let out = discover(&node);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("caCertHashes"), "{}", text(&out));
    assert!(node.files().is_empty());
}

#[test]
fn unsafe_skip_trusts_cluster_info_without_a_pin() {
    let c = Cluster::new();
    c.serve_signed();
    let node = worker(&c.api.endpoint(), "  unsafeSkipCAVerification: true\n");
    let out = discover(&node);
    assert!(out.status.success(), "{}", text(&out));
    let paths: Vec<String> = c.api.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [CLUSTER_INFO, KUBEADM_CONFIG], "no pin: no verified re-fetch of cluster-info");
}

/// A man in the middle at the API server endpoint replays the real cluster-info (valid JWS,
/// real CA, so the pin matches) but cannot present a certificate from that CA. The whole join
/// stops at the verified re-fetch; the token secret never reaches it and nothing is written.
#[test]
fn a_man_in_the_middle_never_receives_the_token() {
    let real = Cluster::new();
    let attacker = cluster_pki("127.0.0.1");
    let mitm = StandInApiServer::start(
        "127.0.0.1",
        &std::fs::read(attacker.pki("apiserver.crt")).unwrap(),
        &std::fs::read(attacker.pki("apiserver.key")).unwrap(),
    );
    mitm.put(
        CLUSTER_INFO,
        cluster_info(json!({"kubeconfig": real.kubeconfig, format!("jws-kubeconfig-{ID}"): python_jws(&real.kubeconfig, ID, SECRET)})),
    );
    let node = worker(&mitm.endpoint(), &pinned(&[&real.pin]));
    let out = node.run(&["join", "--skip-phases", "preflight"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not signed by the pinned cluster CA"), "{}", text(&out));
    assert!(!mitm.seen().is_empty(), "the MITM endpoint was contacted");
    no_request_carries_the_secret(&mitm);
    assert!(real.api.seen().is_empty());
    assert!(node.files().is_empty(), "wrote {:?}", node.files());

    // The attacker's own cluster-info (its CA, a JWS it cannot make) is refused too.
    let own = cluster_info_kubeconfig(
        &format!("https://{}", mitm.endpoint()),
        &std::fs::read(attacker.pki("ca.crt")).unwrap(),
    );
    mitm.put(
        CLUSTER_INFO,
        cluster_info(
            json!({"kubeconfig": own, format!("jws-kubeconfig-{ID}"): python_jws(&own, ID, "guessedsecret000")}),
        ),
    );
    let out = node.run(&["join", "--skip-phases", "preflight"]);
    assert!(!out.status.success());
    no_request_carries_the_secret(&mitm);
    assert!(node.files().is_empty());
}

#[test]
fn unreachable_endpoint_says_so() {
    let node = worker("127.0.0.1:1", &pinned(&[&format!("sha256:{}", "0".repeat(64))]));
    let out = discover(&node);
    assert!(!out.status.success());
    assert!(text(&out).contains("is unreachable"), "{}", text(&out));
    assert!(node.files().is_empty());
}

/// An endpoint that accepts TCP connections and never answers (a black hole behind a load
/// balancer): discovery still ends at timeouts.discovery (2 s), not after a whole request timeout.
#[test]
fn a_silent_endpoint_cannot_stretch_the_discovery_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let node = worker(&endpoint, &pinned(&[&format!("sha256:{}", "0".repeat(64))]));
    let start = std::time::Instant::now();
    let out = discover(&node);
    let took = start.elapsed();
    assert!(!out.status.success());
    assert!(text(&out).contains("discovery gave up after 2s"), "{}", text(&out));
    assert!(text(&out).contains(&endpoint), "{}", text(&out));
    assert!(took < std::time::Duration::from_secs(5), "took {took:?} for a 2 s discovery timeout");
    assert!(!held.lock().unwrap().is_empty(), "the endpoint was never contacted");
    assert!(node.files().is_empty());
}

#[test]
fn file_discovery_reads_a_kubeconfig_path_and_file_url() {
    let c = Cluster::new();
    for location in ["/etc/kubernetes/discovery.conf", "file:///etc/kubernetes/discovery.conf"] {
        let node = Node::new(&format!(
            "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: worker
node:
  name: worker-1
  advertiseAddress: 127.0.0.1
join:
  token: {TOKEN}
  discoveryFile: {location}
"
        ));
        node.write("/etc/kubernetes/discovery.conf", c.kubeconfig.as_bytes());
        let out = discover(&node);
        assert!(out.status.success(), "{location}: {}", text(&out));
        let kept: serde_json::Value =
            serde_json::from_slice(&std::fs::read(node.path(kubeboot::join::DISCOVERY_STATE)).unwrap()).unwrap();
        assert_eq!(kept["caPem"], c.ca_pem());
    }
}

/// HTTPS discovery (kubeadm's `discovery.file.kubeConfigPath` as a URL): the kubeconfig is fetched
/// with the system trust store. Here the "system" store is the cluster CA through SSL_CERT_FILE;
/// with a store that does not contain the serving certificate's CA the fetch is refused.
#[test]
fn https_discovery_trusts_only_the_system_store() {
    let c = Cluster::new();
    // A second server (with the cluster's serving certificate) hands out the discovery kubeconfig
    // anonymously; JSON is YAML, as kubeconfig readers accept it.
    let web = StandInApiServer::start(
        "127.0.0.1",
        &std::fs::read(c.pki.pki("apiserver.crt")).unwrap(),
        &std::fs::read(c.pki.pki("apiserver.key")).unwrap(),
    );
    let kubeconfig: serde_json::Value = serde_saphyr::from_str(&c.kubeconfig).unwrap();
    web.put(CLUSTER_INFO, kubeconfig);
    let url = format!("https://{}{CLUSTER_INFO}", web.endpoint());
    let node = Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: worker
node:
  name: worker-1
  advertiseAddress: 127.0.0.1
join:
  token: {TOKEN}
  discoveryFile: {url}
"
    ));
    let empty_dir = tempfile::tempdir().unwrap();
    let with_store = |ca: &std::path::Path| {
        kubeboot()
            .args(["join", "phase", "discovery", "--config"])
            .arg(&node.config)
            .arg("--root")
            .arg(node.root())
            .env("SSL_CERT_FILE", ca)
            .env("SSL_CERT_DIR", empty_dir.path())
            .output()
            .unwrap()
    };

    let stranger = cluster_pki("127.0.0.1");
    let out = with_store(&stranger.pki("ca.crt"));
    assert!(!out.status.success(), "trusted a server outside the system store: {}", text(&out));
    assert!(text(&out).contains(&url), "{}", text(&out));
    assert!(node.files().is_empty(), "a refused discovery wrote {:?}", node.files());

    let out = with_store(&c.pki.pki("ca.crt"));
    assert!(out.status.success(), "{}", text(&out));
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.path(kubeboot::join::DISCOVERY_STATE)).unwrap()).unwrap();
    assert_eq!(kept["caPem"], c.ca_pem());
    assert!(web.seen().iter().all(|r| !r.headers.iter().any(|(k, _)| k == "authorization")), "credentials sent");
}
