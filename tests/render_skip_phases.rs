//! skipPhases / --skip-phases: every kubeadm phase and sub-phase is honoured or refused with a
//! reason, never ignored; the command line is checked like the config; kubeadm's join phase
//! names (`control-plane-join/etcd`, ...) map onto kubeboot's join table.

mod render_common;

use render_common::*;

fn node_skipping(skips: &str) -> Node {
    Node::new(&format!("{}skipPhases: [{skips}]\n", config("v1.33.5", "RSA-2048", "192.168.56.10", "")))
}

#[test]
fn init_sub_phases_are_honoured() {
    let node =
        node_skipping("control-plane/scheduler, certs/sa, kubeconfig/scheduler, etcd/local, certs/front-proxy-client");
    let log = text(&node.render());
    assert!(!node.path("/etc/kubernetes/manifests/kube-scheduler.yaml").exists(), "{log}");
    assert!(node.path("/etc/kubernetes/manifests/kube-apiserver.yaml").exists());
    assert!(node.path("/etc/kubernetes/manifests/kube-controller-manager.yaml").exists());
    assert!(!node.path("/etc/kubernetes/manifests/etcd.yaml").exists(), "etcd/local is the etcd phase: {log}");
    assert!(!node.pki("sa.key").exists() && !node.pki("sa.pub").exists(), "{log}");
    assert!(!node.pki("front-proxy-client.crt").exists(), "{log}");
    assert!(node.pki("front-proxy-ca.crt").exists() && node.pki("apiserver.crt").exists());
    assert!(!node.path("/etc/kubernetes/scheduler.conf").exists(), "{log}");
    assert!(node.path("/etc/kubernetes/admin.conf").exists());
    assert!(log.contains("Skipping \"kube-scheduler\" (skipPhases control-plane/scheduler)"), "{log}");
}

#[test]
fn whole_phases_are_skipped_by_render_too() {
    let node = node_skipping("etcd, kubeconfig");
    node.render();
    assert!(!node.path("/etc/kubernetes/manifests/etcd.yaml").exists());
    assert!(!node.path("/etc/kubernetes/admin.conf").exists());
    assert!(node.path("/etc/kubernetes/manifests/kube-apiserver.yaml").exists());
}

#[test]
fn command_line_values_are_checked_like_the_config() {
    let node = Node::new(&config("v1.33.5", "RSA-2048", "192.168.56.10", ""));
    for (bad, wants) in [
        ("bogus", "--skip-phases: `bogus` is not a init phase"),
        ("certs/all", "skip `certs` to skip every sub-phase"),
        ("control-plane/etcd", "phase `control-plane` has no sub-phase `etcd`"),
        ("control-plane-join", "is not a init phase"),
    ] {
        let out = node.run(&["init", "--dry-run", "--skip-phases", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(text(&out).contains(wants), "{bad}: {}", text(&out));
    }
    assert!(!node.path("/etc/kubernetes").exists());
}

#[test]
fn show_join_command_is_a_phase() {
    // Accepted in the config (refused before as "not a init phase").
    node_skipping("show-join-command").render();
    let node = Node::new(&config("v1.33.5", "RSA-2048", "192.168.56.10", ""));
    let out = node.run(&["init", "phase", "show-join-command", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("[show-join-command] Would print the join command"), "{}", text(&out));
    let out = node.run(&["init", "--dry-run", "--skip-phases", "preflight,wait-control-plane,show-join-command"]);
    assert!(text(&out).contains("[show-join-command] skipped"), "{}", text(&out));
}

const JOIN: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
nodeRegistration:
  name: cp-2
discovery:
  bootstrapToken:
    token: abcdef.0123456789abcdef
    apiServerEndpoint: 192.168.56.10:6443
    caCertHashes: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]
controlPlane:
  certificateKey: \"0000000000000000000000000000000000000000000000000000000000000001\"
  localAPIEndpoint:
    advertiseAddress: 192.168.56.11
";

/// kubeadm's join names in the config (refused before) and on the command line (ignored before).
#[test]
fn kubeadm_join_phase_names() {
    let node = Node::new(&format!("{JOIN}skipPhases:\n- control-plane-join/mark-control-plane\n"));
    let all_but_etcd =
        "preflight,discovery,control-plane-prepare,kubelet-start,kubelet-wait-bootstrap,wait-control-plane";
    let out = node.run(&["join", "--dry-run", "--skip-phases", &format!("{all_but_etcd},control-plane-join/etcd")]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("[etcd-join] skipped"), "{log}");
    assert!(log.contains("[mark-control-plane] skipped"), "{log}");

    let node = Node::new(JOIN);
    let out = node.run(&["join", "--dry-run", "--skip-phases", &format!("{all_but_etcd},control-plane-join")]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("[etcd-join] skipped") && log.contains("[mark-control-plane] skipped"), "{log}");

    let out = node.run(&["join", "--dry-run", "--skip-phases", "check-etcd"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("`check-etcd` cannot be skipped on its own"), "{}", text(&out));
    let out = node.run(&["join", "--dry-run", "--skip-phases", "addon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not a join phase"), "{}", text(&out));
}
