//! `kubeboot token create|list|delete|generate` against the kube-apiserver TEST STAND-IN
//! (tests/support/apiserver.rs), and the bootstrap-token authenticator accepting what it creates.

mod support;

use std::collections::BTreeSet;

use support::Node;

fn is_token(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 23
        && b[6] == b'.'
        && b.iter().enumerate().all(|(i, c)| i == 6 || c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn generate_gives_distinct_tokens_of_the_kubeadm_shape() {
    let node = Node::new("v1.34.1", "");
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        let t = stdout(&node.kubeboot_no_config(&["token", "generate"])).trim().to_string();
        assert!(is_token(&t), "{t:?}");
        seen.insert(t);
    }
    assert_eq!(seen.len(), 5);
}

#[test]
fn create_list_delete_against_the_stand_in() {
    let node = Node::rendered("v1.34.1", "");
    // upload-config creates kubeadm:cluster-admins (admin.conf's rights) and kubeadm-config.
    assert!(node.kubeboot(&["init", "phase", "upload-config", "kubeadm"]).status.success());

    let out = stdout(&node.kubeboot_no_config(&["token", "create", "--ttl", "2h", "--print-join-command"]));
    let token = out.split("--token ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(is_token(&token), "{out}");
    assert!(out.starts_with(&format!("kubeadm join 127.0.0.1:{} --token {token}", node.server.port())), "{out}");
    assert!(out.contains("--discovery-token-ca-cert-hash sha256:"), "{out}");
    // The worker takes the version from the cluster's kubeadm-config: the snippet has none.
    assert!(out.contains("role: worker\n") && !out.contains("kubernetesVersion"), "{out}");
    let id = &token[..6];
    let secret =
        node.server.get("v1", "secrets", "kube-system", &format!("bootstrap-token-{id}")).expect("token Secret");
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");

    let given = "abcdef.0123456789abcdef";
    assert_eq!(stdout(&node.kubeboot_no_config(&["token", "create", given])).trim(), given);
    let dup = node.kubeboot_no_config(&["token", "create", given]);
    assert!(!dup.status.success() && String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    let list = stdout(&node.kubeboot_no_config(&["token", "list"]));
    assert!(list.contains(id) && list.contains("abcdef"), "{list}");
    assert!(list.contains("authentication,signing"), "{list}");
    assert!(!list.contains(&token[7..]) && !list.contains("0123456789abcdef"), "list shows a token secret:\n{list}");

    let out = stdout(&node.kubeboot_no_config(&["token", "delete", given]));
    assert!(!out.contains("0123456789abcdef"), "{out}");
    assert!(node.server.get("v1", "secrets", "kube-system", "bootstrap-token-abcdef").is_none());
    let again = node.kubeboot_no_config(&["token", "delete", "abcdef"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("does not exist"));
}

#[test]
fn bad_tokens_are_refused_without_echoing_them() {
    let node = Node::new("v1.34.1", "");
    let out = node.kubeboot_no_config(&["token", "create", "UPPER.0123456789abcdef"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("[a-z0-9]{6}.[a-z0-9]{16}") && !e.contains("0123456789abcdef"), "{e}");
}

#[test]
fn forbidden_fails_fast_naming_the_identity() {
    let node = Node::rendered("v1.34.1", "");
    let started = std::time::Instant::now();
    let out = node.kubeboot_no_config(&["token", "list", "--kubeconfig", "/etc/kubernetes/kubelet.conf"]);
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "403 was retried");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("system:node:cp-1 (groups system:nodes) from /etc/kubernetes/kubelet.conf"), "{e}");
    assert!(e.contains("403 Forbidden") && e.contains("cannot list resource \"secrets\""), "{e}");
}
