//! kubeadm patches (`patches.directory`, `--patches`): every target with every patch type,
//! checked on what `kubeboot render` writes (or, for the CoreDNS Deployment, on what the
//! addon phase would apply), plus kubeadm's file-name rules and the errors.

mod render_common;

use std::path::Path;

use render_common::*;
use serde_json::{Value, json};

const DIR: &str = "/etc/kubeboot/patches";

fn node_with_patches(extra_top: &str) -> Node {
    let cfg =
        format!("{}patches:\n  directory: {DIR}\n{extra_top}", config("v1.33.5", "RSA-2048", "192.168.56.10", ""));
    Node::new(&cfg)
}

fn write(node: &Node, name: &str, text: &str) {
    let p = node.path(&format!("{DIR}/{name}"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn manifest(node: &Node, component: &str) -> Value {
    yaml(&node.path(&format!("/etc/kubernetes/manifests/{component}.yaml")))
}

const PODS: &[&str] = &["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/// For each static Pod: a strategic patch (env by container name, volume + mount by name /
/// mountPath), a merge patch (labels) and a json patch (a flag appended), in suffix order.
#[test]
fn every_static_pod_target_with_every_patch_type() {
    let node = node_with_patches("");
    for pod in PODS {
        write(
            &node,
            &format!("{pod}0.yaml"),
            &format!(
                "spec:\n  containers:\n  - name: {pod}\n    env:\n    - name: PATCHED\n      value: strategic\n    \
                 volumeMounts:\n    - name: audit\n      mountPath: /var/log/audit\n  volumes:\n  - name: audit\n    \
                 hostPath:\n      path: /var/log/audit\n      type: DirectoryOrCreate\n"
            ),
        );
        write(&node, &format!("{pod}1+merge.yaml"), "metadata:\n  labels:\n    patched: merge\n");
        write(
            &node,
            &format!("{pod}2+json.json"),
            r#"[{"op": "add", "path": "/spec/containers/0/command/-", "value": "--patched=json"}]"#,
        );
    }
    let out = node.render();
    let log = text(&out);
    assert!(log.contains("Reading patches from path \"/etc/kubeboot/patches\""), "{log}");
    for pod in PODS {
        let m = manifest(&node, pod);
        let c = &m["spec"]["containers"][0];
        assert_eq!(c["name"], *pod);
        // strategic: merged into the existing container, not a second one
        assert_eq!(m["spec"]["containers"].as_array().unwrap().len(), 1, "{pod}");
        assert!(c["env"].as_array().unwrap().contains(&json!({"name": "PATCHED", "value": "strategic"})), "{pod}");
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(mounts.iter().any(|v| v["mountPath"] == "/var/log/audit"), "{pod}");
        assert!(mounts.len() >= 2, "{pod}: the original mounts stay");
        let vols = m["spec"]["volumes"].as_array().unwrap();
        assert!(vols.iter().any(|v| v["name"] == "audit" && v["hostPath"]["path"] == "/var/log/audit"), "{pod}");
        assert!(vols.len() >= 2, "{pod}");
        // merge: labels added, the others kept
        assert_eq!(m["metadata"]["labels"]["patched"], "merge", "{pod}");
        assert_eq!(m["metadata"]["labels"]["component"], *pod, "{pod}");
        // json: the flag is last
        assert_eq!(c["command"].as_array().unwrap().last().unwrap(), "--patched=json", "{pod}");
        assert_eq!(log.matches(&format!("to target \"{pod}\"")).count(), 3, "{log}");
    }
    assert!(
        log.contains("Applied patch of type \"application/strategic-merge-patch+json\" to target \"etcd\""),
        "{log}"
    );
    assert!(log.contains("Applied patch of type \"application/merge-patch+json\""), "{log}");
    assert!(log.contains("Applied patch of type \"application/json-patch+json\""), "{log}");
}

#[test]
fn kubeletconfiguration_with_every_patch_type() {
    let node = node_with_patches("");
    write(&node, "kubeletconfiguration0.yaml", "maxPods: 42\nevictionHard:\n  memory.available: 5%\n");
    write(
        &node,
        "kubeletconfiguration1+merge.json",
        r#"{"clusterDNS": ["10.96.0.53"], "evictionHard": {"nodefs.available": "7%"}}"#,
    );
    write(
        &node,
        "kubeletconfiguration2+json.yaml",
        "- op: add\n  path: /serializeImagePulls\n  value: false\n- op: replace\n  path: /maxPods\n  value: 43\n",
    );
    node.render();
    let k = yaml(&node.path("/var/lib/kubelet/config.yaml"));
    assert_eq!(k["kind"], "KubeletConfiguration");
    assert_eq!(k["maxPods"], 43, "the json patch (suffix 2) ran after the strategic one (suffix 0)");
    assert_eq!(k["clusterDNS"], json!(["10.96.0.53"]));
    assert_eq!(k["evictionHard"], json!({"memory.available": "5%", "nodefs.available": "7%"}));
    assert_eq!(k["serializeImagePulls"], false);
    assert_eq!(k["rotateCertificates"], true);
}

/// `corednsdeployment` is applied where the addon phase builds the Deployment.
#[test]
fn corednsdeployment_with_every_patch_type() {
    use kubeboot::patches::{PatchManager, deployment};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corednsdeployment.yaml"),
        "spec:\n  template:\n    spec:\n      containers:\n      - name: coredns\n        resources:\n          limits:\n            memory: 300Mi\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("corednsdeployment0+merge.yaml"), "spec:\n  replicas: 3\n").unwrap();
    std::fs::write(
        dir.path().join("corednsdeployment1+json.json"),
        r#"[{"op": "add", "path": "/spec/template/spec/nodeSelector/patched", "value": "json"}]"#,
    )
    .unwrap();
    let pm = PatchManager::load("/p", dir.path()).unwrap();
    let cfg = kubeboot::config::load("n.yaml", config("v1.33.5", "RSA-2048", "192.168.56.10", "").as_bytes()).unwrap();
    let id = kubeboot::config::HostIdentity { hostname: "cp-1".into(), default_address: None, cri_socket: None };
    let resolved = kubeboot::config::Resolved::new(cfg, &id).unwrap();
    let original = kubeboot::cluster::addons::coredns_deployment(&resolved);
    let mut lines = vec![];
    let d = deployment(&pm, original.clone(), &mut |l| lines.push(l)).unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let v = serde_json::to_value(&d).unwrap();
    let c = &v["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "coredns");
    assert_eq!(c["resources"]["limits"]["memory"], "300Mi");
    let orig = serde_json::to_value(&original).unwrap();
    assert_eq!(c["image"], orig["spec"]["template"]["spec"]["containers"][0]["image"], "strategic kept the image");
    assert_eq!(v["spec"]["replicas"], 3);
    assert_eq!(v["spec"]["template"]["spec"]["nodeSelector"]["patched"], "json");
    assert_eq!(v["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
}

/// kubeadm's rules: other extensions, unknown targets and empty files are ignored with a
/// message; files in sub-directories count; the order is the walk's lexical order.
#[test]
fn file_name_rules_and_order() {
    let node = node_with_patches("");
    write(&node, "README.md", "not a patch");
    write(&node, "kube-proxy.yaml", "a: b");
    write(&node, "etcd.yml", "a: b");
    write(&node, "kube-scheduler-empty.yaml", "");
    write(&node, "kube-scheduler-a.yaml", "metadata:\n  labels:\n    order: a\n");
    write(&node, "sub/kube-scheduler-b.yaml", "metadata:\n  labels:\n    order: b\n");
    // Two documents in one file apply in turn.
    write(
        &node,
        "kube-scheduler-c+merge.yaml",
        "metadata:\n  labels:\n    order: c\n---\nmetadata:\n  labels:\n    two: docs\n",
    );
    let log = text(&node.render());
    for ignored in ["README.md", "kube-proxy.yaml", "etcd.yml", "kube-scheduler-empty.yaml"] {
        assert!(log.contains(&format!("Ignoring file \"{ignored}\"")), "{ignored}: {log}");
    }
    let m = manifest(&node, "kube-scheduler");
    // Walk order: kube-scheduler-a, kube-scheduler-c+merge, then sub/kube-scheduler-b.
    assert_eq!(m["metadata"]["labels"]["order"], "b");
    assert_eq!(m["metadata"]["labels"]["two"], "docs");
    assert!(
        log.contains(
            "Found the following patch files: [kube-scheduler-a.yaml kube-scheduler-c+merge.yaml kube-scheduler-b.yaml]"
        ),
        "{log}"
    );
}

fn assert_refused(node: &Node, args: &[&str], wants: &[&str]) {
    let out = node.run(args);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    for w in wants {
        assert!(log.contains(w), "missing `{w}`:\n{log}");
    }
    assert!(!node.path("/etc/kubernetes").exists(), "nothing may be written on a bad patch:\n{log}");
    assert!(!node.path("/var/lib/kubelet").exists(), "{log}");
}

#[test]
fn malformed_yaml_names_the_file_line_and_column() {
    let node = node_with_patches("");
    write(&node, "kube-apiserver.yaml", "spec:\n  containers:\n  - name: kube-apiserver\n   image: [unclosed\n");
    assert_refused(&node, &["render"], &["/etc/kubeboot/patches/kube-apiserver.yaml:4:"]);
}

#[test]
fn a_patch_that_cannot_apply_stops_before_any_write() {
    let node = node_with_patches("");
    write(&node, "kube-controller-manager+json.yaml", "- op: replace\n  path: /spec/nope/0\n  value: 1\n");
    assert_refused(&node, &["render"], &["kube-controller-manager+json.yaml", "kube-controller-manager"]);

    let node = node_with_patches("");
    write(&node, "etcd.yaml", "spec:\n  containers:\n  - image: no-name\n");
    assert_refused(&node, &["render"], &["etcd.yaml", "merge key: name"]);

    let node = node_with_patches("");
    write(&node, "etcd+bogus.yaml", "a: b\n");
    assert_refused(&node, &["render"], &["etcd+bogus.yaml", "unknown or missing patch type"]);

    let node = node_with_patches("");
    write(&node, "kubeletconfiguration+json.json", r#"[{"op": "test", "path": "/maxPods", "value": 1}]"#);
    assert_refused(&node, &["render"], &["kubeletconfiguration+json.json"]);

    let node = node_with_patches("");
    assert_refused(&node, &["render"], &["could not list patch files for path \"/etc/kubeboot/patches\""]);
}

/// kubeadm's own config with `patches.directory` (refused before), and `--patches` on the
/// command line overriding it.
#[test]
fn kubeadm_config_and_the_command_line_flag() {
    let kubeadm = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: cp-1\n\
         localAPIEndpoint:\n  advertiseAddress: 192.168.56.10\npatches:\n  directory: {DIR}\n---\n\
         apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.5\n"
    );
    let node = Node::new(&kubeadm);
    write(&node, "kube-apiserver+merge.yaml", "metadata:\n  labels:\n    from: config\n");
    node.render();
    assert_eq!(manifest(&node, "kube-apiserver")["metadata"]["labels"]["from"], "config");

    let other = node.path("/srv/other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("kube-apiserver+merge.yaml"), "metadata:\n  labels:\n    from: flag\n").unwrap();
    let out = node.run(&["render", "--patches", "/srv/other"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(manifest(&node, "kube-apiserver")["metadata"]["labels"]["from"], "flag");
}

/// Without patches nothing changes (the golden files check the bytes; this checks no
/// `[patches]` line appears).
#[test]
fn no_patches_no_patch_output() {
    let node = Node::new(&config("v1.33.5", "RSA-2048", "192.168.56.10", ""));
    assert!(!text(&node.render()).contains("[patches]"));
}
