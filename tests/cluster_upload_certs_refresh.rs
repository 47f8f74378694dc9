//! `kubeboot init phase upload-certs --upload-certs` re-run for a late control-plane join,
//! against the API server stand-in: right after an upload it changes nothing (a resumed first
//! boot must not re-encrypt), and once the upload has aged (its owner token expires within
//! 1h55m) it uploads again under a new bootstrap token with kubeadm's 2h TTL, so the Secret
//! lives on for another two hours and still decrypts to the CA files.

mod support;

use std::time::Duration;

use base64::Engine;
use support::{NODE_NAME, Node};

fn owner(node: &Node) -> String {
    let certs = node.server.get("v1", "secrets", "kube-system", "kubeadm-certs").expect("kubeadm-certs");
    certs["metadata"]["ownerReferences"][0]["name"].as_str().unwrap().to_string()
}

fn expiration(node: &Node, token_secret: &str) -> jiff::Timestamp {
    let tok = node.server.get("v1", "secrets", "kube-system", token_secret).expect("owner token");
    let b64 = tok["data"]["expiration"].as_str().unwrap();
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    text.parse().unwrap()
}

#[test]
fn re_running_upload_certs_refreshes_an_aged_upload_and_its_two_hour_token() {
    let node = Node::new("v1.34.1", "uploadCerts: true\n");
    node.server.register_node_after(NODE_NAME, Duration::from_secs(2));
    node.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"rotated");
    assert!(node.kubeboot(&["init", "--skip-phases", "preflight"]).status.success());
    let first = owner(&node);
    let left = expiration(&node, &first).duration_since(jiff::Timestamp::now());
    assert!(left > jiff::SignedDuration::from_mins(118) && left <= jiff::SignedDuration::from_mins(120), "{left:?}");

    // Straight away: nothing to refresh, nothing written.
    let before = node.server.get("v1", "secrets", "kube-system", "kubeadm-certs").unwrap();
    assert!(node.kubeboot(&["init", "phase", "upload-certs", "--upload-certs"]).status.success());
    assert_eq!(node.server.get("v1", "secrets", "kube-system", "kubeadm-certs").unwrap(), before);

    // 90 minutes later (the owner token expires in 30): a re-run uploads again.
    let mut tok = node.server.get("v1", "secrets", "kube-system", &first).unwrap();
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30)).round(jiff::Unit::Second).unwrap();
    tok["data"]["expiration"] = base64::engine::general_purpose::STANDARD.encode(soon.to_string()).into();
    node.server.insert("v1", "secrets", "kube-system", tok);
    let out = node.kubeboot(&["init", "phase", "upload-certs", "--upload-certs"]);
    assert!(out.status.success());
    let second = owner(&node);
    assert_ne!(second, first, "kubeadm-certs still owned by the aged token");
    let left = expiration(&node, &second).duration_since(jiff::Timestamp::now());
    assert!(left > jiff::SignedDuration::from_mins(118), "new owner token expires in {left:?}");
    let after = node.server.get("v1", "secrets", "kube-system", "kubeadm-certs").unwrap();
    assert_ne!(after["data"], before["data"], "values were not re-encrypted");
    assert_eq!(
        after["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        before["data"].as_object().unwrap().keys().collect::<Vec<_>>()
    );

    // Already expired (the token cleaner has not deleted it yet): uploaded again.
    let mut gone = node.server.get("v1", "secrets", "kube-system", &second).unwrap();
    gone["data"]["expiration"] = base64::engine::general_purpose::STANDARD
        .encode(
            (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
                .round(jiff::Unit::Second)
                .unwrap()
                .to_string(),
        )
        .into();
    node.server.insert("v1", "secrets", "kube-system", gone);
    assert!(node.kubeboot(&["init", "phase", "upload-certs", "--upload-certs"]).status.success());
    assert_ne!(owner(&node), second);
}
