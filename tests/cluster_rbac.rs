//! What the RBAC kubeboot creates lets a joining node do, evaluated by the RBAC authorizer of the
//! kube-apiserver TEST STAND-IN (tests/support/apiserver.rs): anonymous clients may read only
//! kube-public/cluster-info; a bootstrap token may read what `kubeadm join` reads.

mod support;

use std::time::Duration;

use support::{NODE_NAME, Node};

async fn status(client: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[test]
fn anonymous_and_bootstrap_token_access_matches_kubeadm() {
    let node = Node::rendered("v1.34.1", "uploadCerts: true\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n");
    node.server.register_node_after(NODE_NAME, Duration::from_millis(200));
    let out = node.kubeboot(&["init", "--skip-phases", "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start"]);
    assert!(out.status.success());

    let base = node.server.url();
    let ca = reqwest::Certificate::from_pem(node.pki.ca_cert_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).no_proxy().build().unwrap();
    let token = Some("abcdef.0123456789abcdef");
    let ns = |ns: &str, rest: &str| format!("{base}/api/v1/namespaces/{ns}/{rest}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // Anonymous: cluster-info only (token discovery's first, unauthenticated fetch).
        assert_eq!(status(&client, &ns("kube-public", "configmaps/cluster-info"), None).await, 200);
        assert_eq!(status(&client, &ns("kube-system", "configmaps/kubeadm-config"), None).await, 403);
        assert_eq!(status(&client, &ns("kube-public", "configmaps"), None).await, 403);
        // The bootstrap token: join's config fetches, the node check, the certs download.
        for path in
            ["configmaps/kubeadm-config", "configmaps/kubelet-config", "configmaps/kube-proxy", "secrets/kubeadm-certs"]
        {
            assert_eq!(status(&client, &ns("kube-system", path), token).await, 200, "{path}");
        }
        assert_eq!(status(&client, &format!("{base}/api/v1/nodes/{NODE_NAME}"), token).await, 200);
        assert_eq!(status(&client, &ns("kube-system", "configmaps/coredns"), token).await, 403);
        assert_eq!(status(&client, &ns("kube-system", "secrets/bootstrap-token-abcdef"), token).await, 403);
        // A wrong secret for a real id is not a token at all.
        assert_eq!(
            status(&client, &ns("kube-public", "configmaps/cluster-info"), Some("abcdef.aaaaaaaaaaaaaaaa")).await,
            401
        );
    });
}
