//! Golden files per Kubernetes minor (1.31–1.34) for the static Pod manifests, kubeconfigs
//! (key material masked) and kubelet files. They were reviewed against reference/kubeadm.md
//! §3–§5; any change to the output shows up as a diff of tests/golden/<minor>/.
//!
//! Regenerate after an intended change: `KUBEBOOT_UPDATE_GOLDEN=1 cargo test --test render_golden`.

use std::path::PathBuf;

use kubeboot::config::{HostIdentity, Resolved};
use kubeboot::render::kubeconfig::{self, KUBECONFIGS};
use kubeboot::render::kubelet::{self, KubeletFacts};
use kubeboot::render::staticpod::{self, EtcdCluster, HostFacts};

const VERSIONS: &[(&str, &str)] = &[("1.31", "v1.31.6"), ("1.32", "v1.32.9"), ("1.33", "v1.33.5"), ("1.34", "v1.34.1")];

fn node(version: &str) -> Resolved {
    let config = format!(
        "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
node:
  name: cp-1
  advertiseAddress: 192.168.56.10
  labels:
    topology.kubernetes.io/zone: rack-a
  kubeletExtraArgs:
  - name: node-ip
    value: 192.168.56.10
cluster:
  kubernetesVersion: {version}
  controlPlaneEndpoint: lb.example.internal:6443
  networking:
    podSubnet: 10.244.0.0/16
  apiServer:
    certSANs: [cp-1.example.internal]
    extraArgs:
    - name: audit-log-path
      value: /var/log/kubernetes/audit.log
    extraVolumes:
    - name: audit-log
      hostPath: /var/log/kubernetes
      mountPath: /var/log/kubernetes
      pathType: DirectoryOrCreate
  controllerManager:
    extraEnvs:
    - name: GOMAXPROCS
      value: \"2\"
kubeletConfiguration:
  maxPods: 150
  cgroupDriver: systemd
"
    );
    let cfg = kubeboot::config::load("golden.yaml", config.as_bytes()).unwrap_or_else(|d| panic!("{d}"));
    Resolved::new(cfg, &HostIdentity { hostname: "cp-1".into(), default_address: None, cri_socket: None }).unwrap()
}

/// Replaces the base64 PEM of `*-data:` fields so only structure is compared.
fn mask(kubeconfig: &str) -> String {
    kubeconfig
        .lines()
        .map(|l| match l.split_once("-data: ") {
            Some((k, _)) => format!("{k}-data: <masked>\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

fn rendered(version: &str) -> Vec<(String, String)> {
    let node = node(version);
    let facts = HostFacts {
        ca_dirs: vec!["/etc/ca-certificates".into(), "/usr/share/ca-certificates".into()],
        proxy_env: vec![],
        external_ca: false,
    };
    let mut files = vec![
        ("etcd.yaml".to_string(), staticpod::render_etcd(&node, &facts, &EtcdCluster::New).unwrap()),
        ("kube-apiserver.yaml".to_string(), staticpod::render_apiserver(&node, &facts).unwrap()),
        ("kube-controller-manager.yaml".to_string(), staticpod::render_controller_manager(&node, &facts).unwrap()),
        ("kube-scheduler.yaml".to_string(), staticpod::render_scheduler(&node, &facts).unwrap()),
    ];
    for spec in KUBECONFIGS {
        let text = kubeconfig::render(&node, spec, "CA PEM", "CERT PEM", "KEY PEM").unwrap();
        files.push((spec.file.to_string(), mask(&text)));
    }
    let kubelet_facts = KubeletFacts { hostname: "cp-1".into(), systemd_resolved: true };
    for f in kubelet::files(&node, &kubelet_facts).unwrap() {
        let name = f.path.rsplit('/').next().unwrap().to_string();
        files.push((name, String::from_utf8(f.contents).unwrap()));
    }
    files
}

#[test]
fn output_matches_the_golden_files_for_every_minor() {
    let update = std::env::var_os("KUBEBOOT_UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for (minor, version) in VERSIONS {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(minor);
        if update {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
        }
        let files = rendered(version);
        for (name, text) in &files {
            let path = dir.join(name);
            if update {
                std::fs::write(&path, text).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if &want != text {
                mismatches.push(format!("--- {}\n+++ rendered\n{}", path.display(), text));
            }
        }
        let on_disk = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(on_disk, files.len(), "{}: stale golden files", dir.display());
    }
    assert!(
        mismatches.is_empty(),
        "output differs from golden files (set KUBEBOOT_UPDATE_GOLDEN=1 after review):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn kubeconfig_data_fields_carry_the_base64_pem() {
    use base64::Engine;
    let node = node("v1.33.5");
    let text = kubeconfig::render(&node, &KUBECONFIGS[0], "CA PEM", "CERT PEM", "KEY PEM").unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for (field, want) in [
        ("certificate-authority-data", "CA PEM"),
        ("client-certificate-data", "CERT PEM"),
        ("client-key-data", "KEY PEM"),
    ] {
        let line = text.lines().find(|l| l.trim_start().starts_with(field)).unwrap();
        let value = line.split_once(": ").unwrap().1;
        assert_eq!(b64.decode(value).unwrap(), want.as_bytes(), "{field}");
    }
}
