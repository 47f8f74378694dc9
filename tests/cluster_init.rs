//! `kubeboot init` against the kube-apiserver TEST STAND-IN (tests/support/apiserver.rs): the
//! object set of reference §14, idempotent re-runs (whole init and phase by phase), the
//! kubeadm-certs format checked by an independent AES-GCM implementation, the printed CA hash
//! against openssl, and the printed worker user-data against `kubeboot config validate`.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use support::kubeadm_objects::{BOOTSTRAPPERS, RBAC, contains, expected_objects, keys_only};
use support::{NODE_NAME, Node};

fn decode(v: &Value) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()).unwrap()
}

/// The lines after `marker`, de-indented by two spaces, up to the first blank line.
fn block_after(out: &str, marker: &str) -> String {
    let rest = &out[out.find(marker).unwrap_or_else(|| panic!("{marker:?} not in output")) + marker.len()..];
    rest.trim_start_matches('\n')
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect()
}

#[test]
fn init_creates_the_kubeadm_object_set_against_the_apiserver_stand_in() {
    let node = Node::new("v1.34.1", "uploadCerts: true\n");
    node.server.register_node_after(NODE_NAME, Duration::from_secs(2));
    node.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"rotated");

    // Every init phase but preflight (it inspects the real machine) runs for real.
    let out = node.kubeboot(&["init", "--skip-phases", "preflight"]);
    assert!(out.status.success(), "init failed");
    let stdout = String::from_utf8(out.stdout).unwrap();

    // 1. Exactly the §14 objects, with their names, subjects, data keys, labels and taints.
    let objects = node.server.objects();
    let mut unexpected: BTreeSet<_> = objects.keys().cloned().collect();
    unexpected.remove(&(RBAC.into(), "clusterroles".into(), "".into(), "cluster-admin".into())); // built in
    for (gv, res, ns, name, want) in expected_objects(NODE_NAME) {
        let k = (gv.to_string(), res.to_string(), ns.to_string(), name.to_string());
        let have = objects.get(&k).unwrap_or_else(|| panic!("missing {res} {ns}/{name}"));
        assert!(contains(have, &keys_only(&want, have)), "{res} {ns}/{name}:\nwant {want:#}\nhave {have:#}");
        if let (Some(w), Some(h)) = (want.get("data"), have.get("data")) {
            assert_eq!(w.as_object().unwrap().len(), h.as_object().unwrap().len(), "data keys of {name}");
        }
        unexpected.remove(&k);
    }
    let tokens: Vec<_> = unexpected
        .iter()
        .filter(|(_, r, ns, n)| r == "secrets" && ns == "kube-system" && n.starts_with("bootstrap-token-"))
        .cloned()
        .collect();
    assert_eq!(tokens.len(), 2, "the init token and the kubeadm-certs owner token: {tokens:?}");
    for t in &tokens {
        unexpected.remove(t);
    }
    assert!(unexpected.is_empty(), "objects kubeadm does not create: {unexpected:?}");

    // 2. Details that the table cannot express.
    let node_obj = node.server.get("v1", "nodes", "", NODE_NAME).unwrap();
    assert!(
        node_obj["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"].is_null(),
        "1.34 has no CRI annotation"
    );
    let kubelet_cm = node.server.get("v1", "configmaps", "kube-system", "kubelet-config").unwrap();
    let kubelet = kubelet_cm["data"]["kubelet"].as_str().unwrap();
    assert!(!kubelet.contains("containerRuntimeEndpoint"), "instance-specific field uploaded:\n{kubelet}");
    assert!(
        kubelet.contains("kind: KubeletConfiguration\n")
            && kubelet.contains("staticPodPath: /etc/kubernetes/manifests\n")
    );
    const HASH: &str = "kubeadm.kubernetes.io/component-config.hash";
    assert!(
        kubelet_cm["metadata"]["annotations"][HASH].is_null(),
        "a user-supplied KubeletConfiguration is not signed"
    );
    // kube-proxy's generated config is signed: SHA-256 over the values in key order.
    let proxy_cm = node.server.get("v1", "configmaps", "kube-system", "kube-proxy").unwrap();
    let values = format!(
        "{}{}",
        proxy_cm["data"]["config.conf"].as_str().unwrap(),
        proxy_cm["data"]["kubeconfig.conf"].as_str().unwrap()
    );
    let sha = Command::new("sha256sum").stdin_bytes(values.as_bytes());
    assert_eq!(proxy_cm["metadata"]["annotations"][HASH], format!("sha256:{}", sha.split_whitespace().next().unwrap()));
    let cc = node.server.get("v1", "configmaps", "kube-system", "kubeadm-config").unwrap();
    let cc = cc["data"]["ClusterConfiguration"].as_str().unwrap();
    assert!(
        cc.starts_with("apiServer: {}\napiVersion: kubeadm.k8s.io/v1beta4\n")
            && cc.contains("kubernetesVersion: v1.34.1\n"),
        "{cc}"
    );
    let info = node.server.get("v1", "configmaps", "kube-public", "cluster-info").unwrap();
    let kc = info["data"]["kubeconfig"].as_str().unwrap();
    assert!(
        kc.contains(&format!("    server: {}\n  name: \"\"\n", node.server.url())) && kc.contains("users: null\n"),
        "{kc}"
    );
    let token_secret = tokens
        .iter()
        .map(|(_, _, _, n)| node.server.get("v1", "secrets", "kube-system", n).unwrap())
        .find(|s| s["data"]["auth-extra-groups"].is_string())
        .unwrap();
    assert_eq!(decode(&token_secret["data"]["auth-extra-groups"]), BOOTSTRAPPERS);
    assert_eq!(decode(&token_secret["data"]["usage-bootstrap-signing"]), "true");
    assert_eq!(token_secret["type"], "bootstrap.kubernetes.io/token");
    let kubelet_conf = std::fs::read_to_string(node.path("/etc/kubernetes/kubelet.conf")).unwrap();
    assert!(
        kubelet_conf.contains("client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{kubelet_conf}"
    );

    // 3. The join command: token shape, CA hash equal to openssl's pipeline.
    let worker = block_after(&stdout, "running the following on each as root:");
    let token = worker.split("--token ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let re_ok = token.len() == 23
        && token.as_bytes()[6] == b'.'
        && token.bytes().enumerate().all(|(i, b)| i == 6 || b.is_ascii_lowercase() || b.is_ascii_digit());
    assert!(re_ok, "token {token:?} does not match ^[a-z0-9]{{6}}\\.[a-z0-9]{{16}}$");
    assert_eq!(decode(&token_secret["data"]["token-id"]), &token[..6]);
    let printed_hash =
        worker.split("--discovery-token-ca-cert-hash ").nth(1).unwrap().split_whitespace().next().unwrap();
    let ca = node.path("/etc/kubernetes/pki/ca.crt");
    let openssl = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl x509 -pubkey -in {} | openssl pkey -pubin -outform der | sha256sum", ca.display()))
        .output()
        .unwrap();
    let openssl = String::from_utf8(openssl.stdout).unwrap();
    assert_eq!(printed_hash, format!("sha256:{}", openssl.split_whitespace().next().unwrap()));

    // 4. The printed worker user-data is a valid worker NodeConfig.
    let snippet = block_after(&stdout, "or boot them with this kubeboot user-data:");
    assert!(
        snippet.contains("role: worker\n")
            && snippet.contains(&token)
            && snippet.contains(printed_hash)
            && !snippet.contains("cluster:"),
        "{snippet}"
    );
    let file = node.root().join("worker.yaml");
    std::fs::write(&file, &snippet).unwrap();
    let v = Command::new(env!("CARGO_BIN_EXE_kubeboot")).args(["config", "validate"]).arg(&file).output().unwrap();
    assert!(v.status.success(), "worker snippet rejected:\n{snippet}\n{}", String::from_utf8_lossy(&v.stderr));

    // 5. kubeadm-certs decrypts with an independent AES-GCM (python3 cryptography) to the files.
    let key = std::fs::read_to_string(node.path("/var/lib/kubeboot/certificate-key")).unwrap().trim().to_string();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(node.path("/var/lib/kubeboot/certificate-key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let certs = node.server.get("v1", "secrets", "kube-system", "kubeadm-certs").unwrap();
    let py = "import sys, json, base64\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
              key = bytes.fromhex(sys.argv[1]); data = json.load(sys.stdin)\n\
              out = {k: base64.b64encode(AESGCM(key).decrypt(base64.b64decode(v)[:12], base64.b64decode(v)[12:], None)).decode() for k, v in data.items()}\n\
              print(json.dumps(out))";
    let plain: Value = serde_json::from_str(
        &Command::new("python3").args(["-c", py, &key]).stdin_bytes(certs["data"].to_string().as_bytes()),
    )
    .unwrap();
    for (k, path) in [
        ("ca.key", "ca.key"),
        ("etcd-ca.crt", "etcd/ca.crt"),
        ("sa.pub", "sa.pub"),
        ("front-proxy-ca.key", "front-proxy-ca.key"),
    ] {
        let file = std::fs::read_to_string(node.path(&format!("/etc/kubernetes/pki/{path}"))).unwrap();
        assert_eq!(decode(&plain[k]), file, "{k}");
    }

    // 6. Running init again, then every phase on its own, writes nothing.
    let before = node.server.objects();
    node.server.clear_requests();
    assert!(node.kubeboot(&["init", "--skip-phases", "preflight"]).status.success());
    for phase in [
        &["wait-control-plane"][..],
        &["upload-config", "all"],
        &["upload-config", "kubeadm"],
        &["upload-config", "kubelet"],
        &["upload-certs"],
        &["mark-control-plane"],
        &["bootstrap-token"],
        &["kubelet-finalize", "all"],
        &["addon", "all"],
        &["addon", "coredns"],
        &["addon", "kube-proxy"],
    ] {
        let args: Vec<&str> = ["init", "phase"].iter().copied().chain(phase.iter().copied()).collect();
        assert!(node.kubeboot(&args).status.success(), "{phase:?}");
    }
    // A refused create (409 AlreadyExists, or 422 for kube-dns's taken ClusterIP) writes nothing.
    let writes: Vec<_> =
        node.server.requests().into_iter().filter(|r| r.method != "GET" && (200..300).contains(&r.status)).collect();
    assert!(writes.is_empty(), "re-runs wrote: {writes:?}");
    assert_eq!(node.server.objects(), before, "re-runs changed objects");
}

#[test]
fn before_1_34_the_node_gets_the_cri_socket_annotation_and_coredns_numeric_probes() {
    let node = Node::rendered("v1.33.5", "");
    node.server.register_node_after(NODE_NAME, Duration::from_millis(500));
    assert!(node.kubeboot(&["init", "phase", "upload-config", "kubelet"]).status.success());
    let n = node.server.get("v1", "nodes", "", NODE_NAME).unwrap();
    assert_eq!(
        n["metadata"]["annotations"]["kubeadm.alpha.kubernetes.io/cri-socket"],
        "unix:///var/run/containerd/containerd.sock"
    );
    assert!(node.kubeboot(&["init", "phase", "addon", "coredns"]).status.success());
    let d = node.server.get("apps/v1", "deployments", "kube-system", "coredns").unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(c["ports"].as_array().unwrap().len(), 3);
    assert!(node.server.get("apps/v1", "daemonsets", "kube-system", "kube-proxy").is_none(), "addon coredns only");
}

/// `Command::output` with bytes on stdin, returning stdout as a string.
trait StdinBytes {
    fn stdin_bytes(&mut self, input: &[u8]) -> String;
}

impl StdinBytes for Command {
    fn stdin_bytes(&mut self, input: &[u8]) -> String {
        use std::io::Write;
        let mut child = self.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{self:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn dry_run_says_what_the_cluster_phases_would_do_and_calls_no_api() {
    let node = Node::rendered("v1.34.1", "");
    let out = node.kubeboot(&[
        "init",
        "--dry-run",
        "--skip-phases",
        "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "[wait-control-plane] would wait for kube-apiserver at https://127.0.0.1:",
        "[upload-config] would create or update ConfigMaps kubeadm-config and kubelet-config",
        "[bootstrap-token] would create or update bootstrap token Secrets",
        "[addons] would create or update CoreDNS and kube-proxy",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(node.server.requests().is_empty(), "dry run reached the API: {:?}", node.server.requests());
}

#[test]
fn with_a_control_plane_endpoint_the_control_plane_join_instructions_validate_too() {
    let node = Node::rendered("v1.34.1", "uploadCerts: true\nreport:\n  includeCertificateKey: true\n");
    let cfg = std::fs::read_to_string(&node.config).unwrap();
    let endpoint = format!("127.0.0.1:{}", node.server.port());
    std::fs::write(
        &node.config,
        cfg.replace("  networking:\n", &format!("  controlPlaneEndpoint: {endpoint}\n  networking:\n")),
    )
    .unwrap();
    node.server.register_node_after(NODE_NAME, Duration::from_millis(200));
    let out = node.kubeboot(&["init", "--skip-phases", "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = std::fs::read_to_string(node.path("/var/lib/kubeboot/certificate-key")).unwrap();
    let command = block_after(&stdout, "control-plane nodes by running the following on each as root:");
    assert!(command.contains(&format!("kubeadm join {endpoint} --token ")), "{command}");
    assert!(command.contains(&format!("--control-plane --certificate-key {}", key.trim())), "{command}");
    let snippet = block_after(&stdout, "or boot it with this kubeboot user-data:");
    // Only what a join needs: the node follows the cluster's kubeadm-config for the rest.
    assert!(
        snippet.contains("role: control-plane-join\n")
            && snippet.contains(&format!("apiServerEndpoint: {endpoint}\n"))
            && snippet.contains(&format!("certificateKey: {}\n", key.trim()))
            && !snippet.contains("cluster:"),
        "{snippet}"
    );
    let file = node.root().join("cp.yaml");
    std::fs::write(&file, &snippet).unwrap();
    let v = Command::new(env!("CARGO_BIN_EXE_kubeboot")).args(["config", "validate"]).arg(&file).output().unwrap();
    assert!(
        v.status.success(),
        "control-plane-join snippet rejected:\n{snippet}\n{}",
        String::from_utf8_lossy(&v.stderr)
    );
}
