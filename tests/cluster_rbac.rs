//! What the RBAC kubeboot creates lets a joining node do, evaluated by the RBAC authorizer of the
//! kube-apiserver TEST STAND-IN (tests/support/apiserver.rs): anonymous clients may read only
//! kube-public/cluster-info; a bootstrap token may read what `kubeadm join` reads. The same checks
//! (tests/support/kubeadm_access.rs) run against a real API server in `real_parity`.

mod support;

use std::time::Duration;

use support::{NODE_NAME, Node};

#[test]
fn anonymous_and_bootstrap_token_access_matches_kubeadm() {
    let node = Node::rendered("v1.34.1", "uploadCerts: true\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n");
    node.server.register_node_after(NODE_NAME, Duration::from_millis(200));
    let out = node.kubeboot(&["init", "--skip-phases", "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start"]);
    assert!(out.status.success());

    support::kubeadm_access::check(&node.server.url(), &node.pki.ca_cert_pem, NODE_NAME);
}
