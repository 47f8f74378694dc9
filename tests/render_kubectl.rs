//! kubectl reads what kubeboot renders: every kubeconfig parses (`kubectl config view --raw`)
//! with the user, context and server of reference §3, and every static Pod manifest decodes as
//! a typed v1 Pod (`kubectl set image --local`, which converts into the Go type offline and
//! fails on any field of the wrong type).

mod render_common;

use std::process::Command;

use render_common::*;

fn kubectl(args: &[&str]) -> String {
    run_ok(Command::new("kubectl").env("KUBECONFIG", "/nonexistent").args(args))
}

fn check(version: &str, kubelet_server: &str) {
    if !have("kubectl") {
        return;
    }
    let node = Node::new(&config(version, "ECDSA-P256", "192.168.56.10", ""));
    node.render();
    let cpe = "https://lb.example.internal:6443";
    let local = "https://192.168.56.10:6443";
    for (file, user, server) in [
        ("admin.conf", "kubernetes-admin", cpe),
        ("super-admin.conf", "kubernetes-super-admin", cpe),
        ("kubelet.conf", "system:node:cp-1", kubelet_server),
        ("controller-manager.conf", "system:kube-controller-manager", local),
        ("scheduler.conf", "system:kube-scheduler", local),
    ] {
        let path = node.path(&format!("/etc/kubernetes/{file}"));
        let path = path.to_str().unwrap();
        let view = |jsonpath: &str| {
            kubectl(&["config", "view", "--raw", "--kubeconfig", path, "-o", &format!("jsonpath={jsonpath}")])
        };
        assert_eq!(view("{.current-context}"), format!("{user}@kubernetes"), "{file}");
        assert_eq!(view("{.contexts[0].context.user}"), user, "{file}");
        assert_eq!(view("{.clusters[0].name}"), "kubernetes", "{file}");
        assert_eq!(view("{.clusters[0].cluster.server}"), server, "{file}");
        assert!(!view("{.users[0].user.client-key-data}").is_empty(), "{file}: no embedded key");
    }
    for component in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let path = node.path(&format!("/etc/kubernetes/manifests/{component}.yaml"));
        let out = kubectl(&[
            "set",
            "image",
            "--local",
            "-o",
            "yaml",
            "-f",
            path.to_str().unwrap(),
            &format!("{component}=example.test/{component}:probe"),
        ]);
        assert!(out.contains(&format!("image: example.test/{component}:probe")), "{component}:\n{out}");
        assert!(out.contains("kind: Pod") && out.contains("namespace: kube-system"), "{component}:\n{out}");
    }
}

#[test]
fn kubectl_reads_the_1_32_kubeconfigs_and_manifests() {
    // 1.32: ControlPlaneKubeletLocalMode is off, kubelet.conf uses the control-plane endpoint.
    check("v1.32.9", "https://lb.example.internal:6443");
}

#[test]
fn kubectl_reads_the_1_34_kubeconfigs_and_manifests() {
    // 1.33+: kubelet.conf points at the local API server.
    check("v1.34.1", "https://192.168.56.10:6443");
}
