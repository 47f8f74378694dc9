//! Join fetches against hostile servers (issue 16, item 8): a cluster-info answer (the first
//! one is unverified: anyone on the path can give it) or an HTTPS discovery file larger than
//! any real object is refused instead of read into memory, and a redirect — to plain http or
//! anywhere — is refused, never followed. Each refusal is clear and writes nothing.

mod join_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use join_support::*;
use serde_json::json;

const TOKEN: &str = "abcdef.0123456789abcdef";
const ID: &str = "abcdef";
const SECRET: &str = "0123456789abcdef";
/// Over kubeboot's 3 MiB cap, far under what a test may allocate.
const HUGE: usize = 4 * 1024 * 1024;

struct Cluster {
    pki: Node,
    api: StandInApiServer,
    kubeconfig: String,
    pin: String,
}

fn cluster() -> Cluster {
    let pki = cluster_pki("127.0.0.1");
    let api = StandInApiServer::start(
        "127.0.0.1",
        &std::fs::read(pki.pki("apiserver.crt")).unwrap(),
        &std::fs::read(pki.pki("apiserver.key")).unwrap(),
    );
    api.accept_token(TOKEN);
    api.put(KUBEADM_CONFIG, kubeadm_config(&uploaded_cluster_configuration(&pki)));
    let kubeconfig =
        cluster_info_kubeconfig(&format!("https://{}", api.endpoint()), &std::fs::read(pki.pki("ca.crt")).unwrap());
    let pin = openssl_pin(&pki.pki("ca.crt"));
    Cluster { pki, api, kubeconfig, pin }
}

fn token_worker(c: &Cluster, discovery_timeout: &str) -> Node {
    Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\nnode:\n  name: worker-1\n  \
         advertiseAddress: 127.0.0.1\ncluster:\n  kubernetesVersion: v1.33.5\njoin:\n  apiServerEndpoint: {}\n  \
         token: {TOKEN}\n  caCertHashes:\n  - {}\ntimeouts:\n  discovery: {discovery_timeout}\n",
        c.api.endpoint(),
        c.pin
    ))
}

fn file_worker(url: &str) -> Node {
    Node::new(&format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\nnode:\n  name: worker-1\n  \
         advertiseAddress: 127.0.0.1\njoin:\n  token: {TOKEN}\n  discoveryFile: {url}\n"
    ))
}

/// `join phase discovery` with the cluster CA as the system trust store (as HTTPS discovery needs).
fn discover(node: &Node, c: &Cluster) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    kubeboot()
        .args(["join", "phase", "discovery", "--config"])
        .arg(&node.config)
        .arg("--root")
        .arg(node.root())
        .env("SSL_CERT_FILE", c.pki.pki("ca.crt"))
        .env("SSL_CERT_DIR", empty.path())
        .output()
        .unwrap()
}

/// A plain-http server that hands out `body` and counts who came.
fn plain_http(body: String) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/kubeconfig", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ =
                write!(conn, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (url, hits)
}

#[test]
fn an_oversized_cluster_info_is_refused_not_read() {
    let c = cluster();
    // Correctly signed, so without a cap it would be believed: the padding is in metadata.
    let mut cm = cluster_info(json!({
        "kubeconfig": c.kubeconfig,
        format!("jws-kubeconfig-{ID}"): python_jws(&c.kubeconfig, ID, SECRET),
    }));
    cm["metadata"]["annotations"] = json!({"pad": "x".repeat(HUGE)});
    c.api.put(CLUSTER_INFO, cm);
    // Time for the stand-in (a debug build) to serialize and send 4 MiB on a loaded machine.
    let node = token_worker(&c, "10s");
    let out = node.run(&["join", "phase", "discovery"]);
    let t = text(&out);
    assert!(!out.status.success(), "a 4 MiB cluster-info was accepted: {t}");
    assert!(t.contains("larger than the 3145728-byte limit"), "{t}");
    assert!(node.files().is_empty(), "a refused discovery wrote {:?}", node.files());
}

#[test]
fn an_oversized_https_discovery_file_is_refused() {
    let c = cluster();
    let mut kubeconfig: serde_json::Value = serde_saphyr::from_str(&c.kubeconfig).unwrap();
    kubeconfig["preferences"] = json!({"pad": "x".repeat(HUGE)});
    c.api.put(CLUSTER_INFO, kubeconfig);
    let url = format!("https://{}{CLUSTER_INFO}", c.api.endpoint());
    let node = file_worker(&url);
    let out = discover(&node, &c);
    let t = text(&out);
    assert!(!out.status.success(), "a 4 MiB discovery file was accepted: {t}");
    assert!(t.contains("larger than the 3145728-byte limit") && t.contains(&url), "{t}");
    assert!(node.files().is_empty(), "a refused discovery wrote {:?}", node.files());
}

#[test]
fn https_discovery_does_not_follow_a_redirect_to_plain_http() {
    let c = cluster();
    let (http_url, hits) = plain_http(c.kubeconfig.clone());
    c.api.put(CLUSTER_INFO, json!({"__redirect": http_url}));
    let url = format!("https://{}{CLUSTER_INFO}", c.api.endpoint());
    let node = file_worker(&url);
    let out = discover(&node, &c);
    let t = text(&out);
    assert!(!out.status.success(), "followed a redirect to {http_url}: {t}");
    assert!(t.contains("redirect to") && t.contains(&http_url) && t.contains("refused"), "{t}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the plain-http target was contacted");
    assert!(node.files().is_empty(), "a refused discovery wrote {:?}", node.files());

    // The same server without the redirect works: the refusal is the redirect's doing.
    let kubeconfig: serde_json::Value = serde_saphyr::from_str(&c.kubeconfig).unwrap();
    c.api.put(CLUSTER_INFO, kubeconfig);
    let out = discover(&node, &c);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn token_discovery_does_not_follow_a_redirect() {
    let c = cluster();
    let (http_url, hits) = plain_http("{}".into());
    c.api.put(CLUSTER_INFO, json!({"__redirect": http_url}));
    let node = token_worker(&c, "2s");
    let out = node.run(&["join", "phase", "discovery"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("redirect to") && t.contains("refused"), "{t}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect target was contacted");
    assert!(node.files().is_empty());
}
