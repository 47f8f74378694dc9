//! Real etcd member join: etcd A (Debian's /usr/bin/etcd 3.4) runs from control-plane node A's
//! rendered manifest; kubeboot's `join phase etcd-join` for node B adds B through A's real
//! etcd v3 gateway, writes B's etcd.yaml, and promotes B once the test has started etcd B from
//! exactly that manifest. A crash right after the member add is simulated by calling the add
//! step first and then running the whole phase: the cluster must still have two members. B
//! finds A's client URL as kubeadm does, from the etcd Pod's annotation read with admin.conf;
//! that one read goes to the stand-in API server (there is no kube-apiserver on this machine).
//! Finally `kubeboot reset` on B removes its member again (kubeadm reset's remove-etcd-member).
//!
//! Manifest → host mapping (as in render_etcd.rs): host paths get the test root prefix, the data
//! dir is a temp dir, each node listens on its own loopback address (127.a.b.1 and 127.a.b.2, so
//! the standard ports 2379/2380 need no rewriting and peer URLs stay as rendered), the shared
//! `https://127.0.0.1:2379` client URL and the `127.0.0.1:2381` metrics URL move to the node's own
//! address because two etcds on one host cannot both bind them.

mod join_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use join_support::*;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIP: {tool} is not installed (scripts/install-test-deps.sh installs it)");
    }
    found
}

/// Two free addresses 127.a.b.1 / 127.a.b.2, distinct per test run.
fn loopback_pair() -> (String, String) {
    let n = std::process::id()
        ^ (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() >> 8);
    let (a, b) = (100 + n % 150, 1 + (n / 150) % 250);
    (format!("127.{a}.{b}.1"), format!("127.{a}.{b}.2"))
}

fn cp_config(role: &str, name: &str, ip: &str, extra: &str) -> String {
    format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: {role}
node:
  name: {name}
  advertiseAddress: {ip}
cluster:
  kubernetesVersion: v1.33.5
  encryptionAlgorithm: ECDSA-P256
  controlPlaneEndpoint: {ip}:6443
timeouts:
  etcdAPICall: 60s
{extra}"
    )
}

fn manifest_command(node: &Node) -> Vec<String> {
    let yaml = std::fs::read_to_string(node.path("/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    pod["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn start_etcd(node: &Node, ip: &str, data: &std::path::Path) -> Proc {
    let command = manifest_command(node);
    assert_eq!(command[0], "etcd");
    let root = node.root().display().to_string();
    let args: Vec<String> = command[1..]
        .iter()
        .map(|flag| {
            let (name, value) = flag.trim_start_matches("--").split_once('=').unwrap();
            let value =
                if value.starts_with("/etc/kubernetes/") { format!("{root}{value}") } else { value.to_string() };
            match name {
                "data-dir" => format!("--data-dir={}", data.display()),
                "listen-client-urls" => format!("--listen-client-urls=https://{ip}:2379"),
                "listen-metrics-urls" => format!("--listen-metrics-urls=http://{ip}:2381"),
                _ => format!("--{name}={value}"),
            }
        })
        .collect();
    let log = std::fs::File::create(node.dir.path().join("etcd.log")).unwrap();
    let child =
        Command::new("etcd").args(&args).stdout(Stdio::from(log.try_clone().unwrap())).stderr(log).spawn().unwrap();
    Proc(child)
}

fn etcdctl(certs: &Node, ip: &str, args: &[&str]) -> std::process::Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=https://{ip}:2379"))
        .arg(format!("--cacert={}", certs.pki("etcd/ca.crt").display()))
        .arg(format!("--cert={}", certs.pki("apiserver-etcd-client.crt").display()))
        .arg(format!("--key={}", certs.pki("apiserver-etcd-client.key").display()))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args)
        .output()
        .unwrap()
}

fn wait_healthy(certs: &Node, ip: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = etcdctl(certs, ip, &["endpoint", "health"]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "etcd {ip} never became healthy:\n{}\n{}",
            text(&out),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn member_list(certs: &Node, ip: &str) -> Vec<serde_json::Value> {
    let out = etcdctl(certs, ip, &["member", "list", "-w", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["members"].as_array().unwrap().clone()
}

/// The stand-in API server (see join_support) on 127.0.0.1, serving with a certificate from A's
/// CA and authorizing A's CA's client certificates (B's admin.conf), listing A's etcd Pod with
/// kubeadm's client-URL annotation: how kubeadm finds the etcd members to join.
fn api_listing_etcd_pod(a: &Node, ip_a: &str) -> StandInApiServer {
    use kubeboot::pki::{
        Authority, CertRequest, PrivateKey, cert_der_from_pem, pem_text, table::SanList, table::Usage,
    };
    let ca = Authority {
        base: "ca".into(),
        cert_der: cert_der_from_pem(&std::fs::read(a.pki("ca.crt")).unwrap()).unwrap(),
        key: Some(PrivateKey::from_pem(&std::fs::read_to_string(a.pki("ca.key")).unwrap()).unwrap()),
    };
    let key = PrivateKey::generate(kubeboot::config::EncryptionAlgorithm::EcdsaP256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let req = CertRequest {
        cn: "kube-apiserver".into(),
        orgs: vec![],
        usages: vec![Usage::ServerAuth],
        sans: SanList { dns: vec![], ips: vec!["127.0.0.1".parse().unwrap()] },
        not_before: now - time::Duration::minutes(5),
        not_after: now + time::Duration::hours(1),
    };
    let cert = pem_text("CERTIFICATE", &ca.sign(&req, &key).unwrap());
    let api = StandInApiServer::start_with_client_ca(
        "127.0.0.1",
        cert.as_bytes(),
        key.pem().as_bytes(),
        Some(&std::fs::read(a.pki("ca.crt")).unwrap()),
    );
    api.put(
        "/api/v1/namespaces/kube-system/pods",
        serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
            {"metadata": {"name": "kube-apiserver-cp-1", "namespace": "kube-system",
                "labels": {"component": "kube-apiserver", "tier": "control-plane"}}},
            {"metadata": {"name": "etcd-cp-1", "namespace": "kube-system",
                "labels": {"component": "etcd", "tier": "control-plane"},
                "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": format!("https://{ip_a}:2379")}}}]}),
    );
    api
}

#[test]
fn control_plane_join_adds_promotes_survives_a_crash_after_member_add_and_reset_removes_it() {
    if !have("etcd") || !have("etcdctl") {
        return;
    }
    let (ip_a, ip_b) = loopback_pair();

    // Node A: a first control-plane node, rendered by kubeboot, its etcd running for real.
    let a = Node::new(&cp_config("control-plane", "cp-1", &ip_a, ""));
    a.write("/etc/hostname", b"cp-1\n");
    let out = a.run(&["render"]);
    assert!(out.status.success(), "{}", text(&out));
    let data_a = tempfile::tempdir().unwrap();
    let _etcd_a = start_etcd(&a, &ip_a, data_a.path());
    wait_healthy(&a, &ip_a, &a.dir.path().join("etcd.log"));

    // Node B: joins with A's shared CAs (what download-certs brings) and its own leaf certs and
    // kubeconfigs; its admin.conf reaches the API server, which lists the etcd members' URLs.
    let api = api_listing_etcd_pod(&a, &ip_a);
    let b = Node::new(
        &cp_config(
            "control-plane-join",
            "cp-2",
            &ip_b,
            &format!(
                "join:\n  apiServerEndpoint: {ip_a}:6443\n  token: abcdef.0123456789abcdef\n  caCertHashes:\n  - {}\n\
                 certificateKey: {}\n",
                openssl_pin(&a.pki("ca.crt")),
                "ab".repeat(32)
            ),
        )
        .replace(&format!("controlPlaneEndpoint: {ip_b}:6443"), &format!("controlPlaneEndpoint: {}", api.endpoint())),
    );
    b.write("/etc/hostname", b"cp-2\n");
    for f in [
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.key",
        "sa.pub",
        "etcd/ca.crt",
        "etcd/ca.key",
    ] {
        b.write(&format!("/etc/kubernetes/pki/{f}"), &std::fs::read(a.pki(f)).unwrap());
    }
    // What discovery keeps: the cluster's ClusterConfiguration (A's, as its init uploads it).
    let cluster_configuration = uploaded_cluster_configuration(&a)
        .replace(&format!("controlPlaneEndpoint: {ip_a}:6443"), &format!("controlPlaneEndpoint: {}", api.endpoint()));
    b.write("/var/lib/kubeboot/join/cluster-configuration.yaml", cluster_configuration.as_bytes());
    for sub in ["certs", "kubeconfig"] {
        let out = b.run(&["join", "phase", "control-plane-prepare", sub]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(std::fs::read(b.pki("etcd/ca.crt")).unwrap(), std::fs::read(a.pki("etcd/ca.crt")).unwrap(), "CA reused");

    // Crash between member add and start: the add happened, nothing else did.
    let peer_b = format!("https://{ip_b}:2380");
    let mut identity = std::fs::read(b.pki("apiserver-etcd-client.crt")).unwrap();
    identity.extend(std::fs::read(b.pki("apiserver-etcd-client.key")).unwrap());
    let client = kubeboot::join::etcd::EtcdClient::new(
        vec![format!("https://{ip_a}:2379")],
        &std::fs::read(b.pki("etcd/ca.crt")).unwrap(),
        &identity,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (learner, added) = rt.block_on(client.add_learner(&peer_b)).unwrap();
    assert!(added && learner.is_learner, "{learner:?}");
    assert_eq!(member_list(&a, &ip_a).len(), 2);

    // The re-run: the whole phase, while the test plays the kubelet and starts etcd B from B's manifest.
    // A plain child: it ends on its own within timeouts.etcdAPICall even if an assertion fails.
    let join = kubeboot()
        .args(["join", "phase", "etcd-join", "--config"])
        .arg(&b.config)
        .arg("--root")
        .arg(b.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let manifest = b.path("/etc/kubernetes/manifests/etcd.yaml");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !manifest.exists() {
        assert!(Instant::now() < deadline, "etcd-join never wrote etcd.yaml");
        std::thread::sleep(Duration::from_millis(100));
    }
    let command = manifest_command(&b);
    // Every member by name; the order is etcd's (by member ID), as kubeadm takes it.
    let initial = command.iter().find_map(|f| f.strip_prefix("--initial-cluster=")).expect("--initial-cluster");
    let mut entries: Vec<&str> = initial.split(',').collect();
    entries.sort();
    assert_eq!(entries, [format!("cp-1=https://{ip_a}:2380"), format!("cp-2={peer_b}")], "{command:?}");
    assert!(command.contains(&"--initial-cluster-state=existing".to_string()), "{command:?}");
    let data_b = tempfile::tempdir().unwrap();
    let _etcd_b = start_etcd(&b, &ip_b, data_b.path());

    let out = join.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "etcd-join failed:\n{}\netcd B log:\n{}",
        text(&out),
        std::fs::read_to_string(b.dir.path().join("etcd.log")).unwrap_or_default()
    );
    let said = text(&out);
    assert!(said.contains("added by an earlier run"), "{said}");
    assert!(said.contains("Promoted etcd learner cp-2"), "{said}");
    assert!(
        api.seen().iter().any(|r| r.path.starts_with("/api/v1/namespaces/kube-system/pods")),
        "the etcd endpoints came from the etcd Pod annotation"
    );

    // Two started members, B promoted, data written on A readable on B.
    let members = member_list(&a, &ip_a);
    assert_eq!(members.len(), 2, "{members:?}");
    let mut names: Vec<&str> = members.iter().map(|m| m["name"].as_str().unwrap_or("")).collect();
    names.sort();
    assert_eq!(names, ["cp-1", "cp-2"]);
    assert!(members.iter().all(|m| m.get("isLearner").is_none_or(|l| l == false)), "{members:?}");
    assert!(etcdctl(&a, &ip_a, &["put", "/kubeboot/join-test", "written-on-a"]).status.success());
    let got = etcdctl(&b, &ip_b, &["get", "/kubeboot/join-test", "--print-value-only", "--consistency=s"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "written-on-a", "{}", text(&got));

    // Running the phase again changes nothing.
    let out = b.run(&["join", "phase", "etcd-join"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is a voting member"), "{}", text(&out));
    assert_eq!(member_list(&a, &ip_a).len(), 2);

    // `kubeboot reset` on B: B's member leaves the cluster (kubeadm's remove-etcd-member), so A
    // keeps quorum alone; B's files go. A dry run first changes nothing.
    let reset = |node: &Node, extra: &[&str]| {
        kubeboot().args(["reset", "--force"]).args(extra).arg("--root").arg(node.root()).output().unwrap()
    };
    let out = reset(&b, &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("etcd member cp-2 ("), "{}", text(&out));
    assert!(text(&out).contains(") would remove"), "{}", text(&out));
    assert_eq!(member_list(&a, &ip_a).len(), 2, "a dry run removed a member");
    assert!(manifest.exists());
    let out = reset(&b, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(") removed"), "{}", text(&out));
    assert!(text(&out).contains("not running `systemctl stop kubelet.service`"), "{}", text(&out));
    let members = member_list(&a, &ip_a);
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["name"], "cp-1");
    assert!(!manifest.exists() && !b.pki("etcd/ca.key").exists(), "B's files were not removed");
    assert!(etcdctl(&a, &ip_a, &["put", "/kubeboot/after-reset", "ok"]).status.success(), "A lost quorum");
    // A is now the last member: reset keeps it (removing it would destroy the cluster's data).
    let out = reset(&a, &["--dry-run"]);
    assert!(text(&out).contains("only remaining etcd member"), "{}", text(&out));
    assert_eq!(member_list(&a, &ip_a).len(), 1);
}

#[test]
fn an_unreachable_etcd_cluster_is_reported_with_what_to_check() {
    let a = cluster_pki("127.0.0.1");
    let b = Node::new(&cp_config(
        "control-plane-join",
        "cp-2",
        "127.0.0.2",
        "join:\n  apiServerEndpoint: 127.0.0.1:6443\n  token: abcdef.0123456789abcdef\n  caCertHashes:\n  - \
         sha256:abababababababababababababababababababababababababababababababab\n  etcdEndpoints:\n  \
         - https://127.0.0.1:1\ncertificateKey: abababababababababababababababababababababababababababababababab\n",
    ));
    b.write("/etc/hostname", b"cp-2\n");
    for (_, f) in SHARED_CERTS {
        b.write(&format!("/etc/kubernetes/pki/{f}"), &std::fs::read(a.pki(f)).unwrap());
    }
    // What discovery keeps: the cluster's ClusterConfiguration, with B's endpoint.
    let cluster_configuration = uploaded_cluster_configuration(&a)
        .replace("clusterName: kubernetes\n", "clusterName: kubernetes\ncontrolPlaneEndpoint: 127.0.0.2:6443\n");
    b.write("/var/lib/kubeboot/join/cluster-configuration.yaml", cluster_configuration.as_bytes());
    assert!(b.run(&["join", "phase", "control-plane-prepare", "certs"]).status.success());
    let out = b.run(&["join", "phase", "etcd-join"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the etcd cluster is unreachable or unhealthy"), "{}", text(&out));
    assert!(text(&out).contains("https://127.0.0.1:1"), "{}", text(&out));
    assert!(!b.path("/etc/kubernetes/manifests/etcd.yaml").exists());
}
