//! Faults injected into the kube-apiserver TEST STAND-IN (tests/support/apiserver.rs) and into
//! the health endpoints: transient failures are retried within the deadline, 401 fails at once
//! naming the identity, and a component that never becomes healthy fails at its deadline with
//! the component's name and where to look.

mod support;

use std::time::{Duration, Instant};

use support::Node;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn api_server_down_for_a_while_is_retried_until_it_answers() {
    let node = Node::rendered("v1.34.1", "");
    node.server.refuse_for(Duration::from_secs(4));
    let started = Instant::now();
    let out = node.kubeboot(&["init", "phase", "upload-config", "all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "succeeded before the stand-in came back: {:?}",
        started.elapsed()
    );
    assert!(node.server.get("v1", "configmaps", "kube-system", "kubeadm-config").is_some());
}

#[test]
fn unavailable_and_throttled_answers_are_retried_honouring_retry_after() {
    let node = Node::rendered("v1.34.1", "");
    node.server.unavailable_next(3);
    node.server.throttle_next(1, 2);
    let started = Instant::now();
    let out = node.kubeboot(&["init", "phase", "bootstrap-token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = node.server.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..4], &[503, 503, 503, 429], "{statuses:?}");
    assert!(started.elapsed() >= Duration::from_secs(3), "Retry-After (2s) plus three 500ms retries not honoured");
    assert!(node.server.get("v1", "configmaps", "kube-public", "cluster-info").is_some());
}

#[test]
fn unauthorized_fails_fast_naming_the_identity() {
    let node = Node::rendered("v1.34.1", "");
    node.server.set_unauthorized(true);
    let started = Instant::now();
    let out = node.kubeboot(&["init", "phase", "upload-config", "all"]);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(5), "401 was retried: {:?}", started.elapsed());
    let e = stderr(&out);
    assert!(e.contains("401 Unauthorized"), "{e}");
    assert!(e.contains("kubernetes-admin (groups kubeadm:cluster-admins) from /etc/kubernetes/admin.conf"), "{e}");
    assert_eq!(node.server.requests().len(), 1, "exactly one attempt");
}

#[test]
fn api_calls_give_up_at_kubernetes_api_call_timeout() {
    let node = Node::rendered("v1.34.1", "timeouts:\n  kubernetesAPICall: 3s\n");
    node.server.refuse_for(Duration::from_secs(60));
    let started = Instant::now();
    let out = node.kubeboot(&["init", "phase", "mark-control-plane"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(15), "{took:?}");
    let e = stderr(&out);
    assert!(e.contains("timeouts.kubernetesAPICall") && e.contains("crictl ps -a"), "{e}");
}

#[test]
fn a_component_that_never_becomes_healthy_fails_at_the_deadline_by_name() {
    let node = Node::rendered("v1.34.1", "timeouts:\n  controlPlaneComponentHealthCheck: 3s\n");
    node.set_manifest_flag("kube-scheduler", "secure-port", &free_port().to_string());
    let started = Instant::now();
    let out = node.kubeboot(&["init", "phase", "wait-control-plane"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(15), "{took:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("kube-apiserver is healthy") && stdout.contains("kube-controller-manager is healthy"),
        "{stdout}"
    );
    let e = stderr(&out);
    assert!(e.contains("kube-scheduler did not become healthy at https://127.0.0.1:"), "{e}");
    assert!(e.contains("/livez within 3s"), "{e}");
    assert!(e.contains("crictl") && e.contains("journalctl -u kubelet"), "{e}");
    assert!(!e.contains("kube-apiserver did not"), "{e}");
}

#[test]
fn an_unhealthy_kubelet_fails_before_the_control_plane_is_checked() {
    let node = Node::rendered("v1.34.1", "timeouts:\n  kubeletHealthCheck: 2s\n");
    let cfg = node.path("/var/lib/kubelet/config.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let port = node.kubelet.addr.port().to_string();
    std::fs::write(&cfg, text.replace(&format!("healthzPort: {port}"), &format!("healthzPort: {}", free_port())))
        .unwrap();
    let out = node.kubeboot(&["init", "phase", "wait-control-plane"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("kubelet did not become healthy at http://127.0.0.1:") && e.contains("journalctl -xeu kubelet"),
        "{e}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("control-plane-check"), "control plane checked too early");
}

#[test]
fn before_all_component_waits_the_api_server_healthz_is_polled_through_admin_conf() {
    // 1.32: WaitForAllControlPlaneComponents is off, so /healthz goes through the admin client.
    let node = Node::rendered("v1.32.4", "timeouts:\n  controlPlaneComponentHealthCheck: 3s\n");
    node.server.set_unhealthy(true);
    let out = node.kubeboot(&["init", "phase", "wait-control-plane"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("kube-apiserver did not report healthy at https://127.0.0.1:") && e.contains("/healthz within 3s"),
        "{e}"
    );
    node.server.set_unhealthy(false);
    let out = node.kubeboot(&["init", "phase", "wait-control-plane"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(node.server.requests().iter().any(|r| r.path == "/healthz" && r.status == 200));
}

#[test]
fn an_object_that_differs_is_updated_and_a_conflict_is_retried_from_a_fresh_read() {
    let node = Node::rendered("v1.34.1", "");
    // Someone else's kubeadm-config, with a key kubeboot does not own.
    node.server.insert(
        "v1",
        "configmaps",
        "kube-system",
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": "stale", "ClusterStatus": "kept"}}),
    );
    node.server.conflict_next_updates(1);
    let out = node.kubeboot(&["init", "phase", "upload-config", "kubeadm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cm = node.server.get("v1", "configmaps", "kube-system", "kubeadm-config").unwrap();
    assert!(cm["data"]["ClusterConfiguration"].as_str().unwrap().contains("kind: ClusterConfiguration"));
    assert_eq!(cm["data"]["ClusterStatus"], "kept", "create-or-mutate touches only its key");
    let puts: Vec<u16> = node
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/configmaps/kubeadm-config"))
        .map(|r| r.status)
        .collect();
    assert_eq!(puts, [409, 200]);
}
