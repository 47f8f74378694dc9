//! What the RBAC of a kubeadm cluster lets anonymous clients and a bootstrap token read, checked
//! over HTTPS against any API server: the stand-in (`cluster_rbac`) or a real one (`real_parity`).

async fn status(client: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Panics naming the first request whose answer differs from kubeadm's RBAC. The cluster must
/// have the bootstrap token `abcdef.0123456789abcdef`, kubeadm-certs, and the Node `node_name`.
pub fn check(base: &str, ca_pem: &str, node_name: &str) {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
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
        assert_eq!(status(&client, &format!("{base}/api/v1/nodes/{node_name}"), token).await, 200);
        assert_eq!(status(&client, &ns("kube-system", "configmaps/coredns"), token).await, 403);
        assert_eq!(status(&client, &ns("kube-system", "secrets/bootstrap-token-abcdef"), token).await, 403);
        // A wrong secret for a real id is not a token at all.
        assert_eq!(
            status(&client, &ns("kube-public", "configmaps/cluster-info"), Some("abcdef.aaaaaaaaaaaaaaaa")).await,
            401
        );
    });
}
