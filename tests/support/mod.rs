//! Shared test support: the kube-apiserver TEST STAND-IN (`apiserver.rs`), a kubelet /healthz
//! stand-in, and a prepared node root for the cluster phases.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod api_semantics;
pub mod apiserver;
pub mod kubeadm_access;
pub mod kubeadm_objects;
pub mod unit_verify;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

pub use apiserver::ApiServer;

/// A CA and client certificates for one test cluster (rcgen).
pub struct TestPki {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "kubernetes");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestPki { ca_cert_pem: cert.pem(), ca_key_pem: key.serialize_pem() }
    }

    /// (cert PEM, key PEM) of a client certificate `CN=cn, O=orgs…` signed by the CA.
    pub fn client(&self, cn: &str, orgs: &[&str]) -> (String, String) {
        let ca_key = rcgen::KeyPair::from_pem(&self.ca_key_pem).unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&self.ca_cert_pem, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        for o in orgs {
            params.distinguished_name.push(rcgen::DnType::OrganizationName, *o);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A kubeconfig laid out like kubeadm's (`<user>@<cluster>` context, embedded data).
    pub fn kubeconfig(&self, server: &str, user: &str, orgs: &[&str]) -> String {
        let (cert, key) = self.client(user, orgs);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: kubernetes\n\
             contexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n  name: {user}@kubernetes\n\
             current-context: {user}@kubernetes\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n\
             \x20   client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.ca_cert_pem),
            b64(&cert),
            b64(&key)
        )
    }
}

/// TEST STAND-IN for the kubelet's plain-HTTP /healthz endpoint.
pub struct KubeletHealthz {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl KubeletHealthz {
    pub fn start() -> Self {
        use http_body_util::Full;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                        let (code, body) =
                            if req.uri().path() == "/healthz" { (200, "ok") } else { (404, "not found") };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(code).body(Full::new(bytes::Bytes::from(body))).unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        KubeletHealthz { addr, _runtime: runtime }
    }
}

/// A node root for the cluster phases, pointed at a running stand-in API server. The cluster CA
/// is the test's (supplied in the config), so the stand-in trusts the certificates the real
/// certs and kubeconfig phases issue; the controller-manager and scheduler secure ports and the
/// kubelet healthz port are set (extraArgs, kubeletConfiguration) to the stand-ins.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    pub server: ApiServer,
    pub kubelet: KubeletHealthz,
    pub config: PathBuf,
}

pub const NODE_NAME: &str = "cp-1";

/// The init phases before wait-control-plane that run on a temp root (preflight needs the machine).
pub const RENDER_PHASES: [&str; 5] = ["certs", "kubeconfig", "etcd", "control-plane", "kubelet-start"];

impl Node {
    /// A config and an empty root (only the kubelet package of the OS image). `extra` is
    /// appended to the NodeConfig (top-level keys, YAML).
    pub fn new(version: &str, extra: &str) -> Node {
        let pki = TestPki::new();
        let server = ApiServer::start(&pki.ca_cert_pem, &pki.ca_key_pem);
        let kubelet = KubeletHealthz::start();
        let dir = tempfile::tempdir().unwrap();
        let node = Node { config: dir.path().join("user-data.yaml"), dir, pki, server, kubelet };
        node.write_config(version, extra);
        node.write("/usr/bin/kubelet", b"#!/bin/sh\n");
        node.write("/lib/systemd/system/kubelet.service", b"[Service]\nExecStart=/usr/bin/kubelet\n");
        node
    }

    /// `new`, then the render phases, as `kubeadm init` leaves a node before wait-control-plane.
    pub fn rendered(version: &str, extra: &str) -> Node {
        let node = Node::new(version, extra);
        for phase in RENDER_PHASES {
            assert!(node.kubeboot(&["init", "phase", phase]).status.success(), "init phase {phase}");
        }
        node
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, node_path: &str) -> PathBuf {
        self.root().join(node_path.trim_start_matches('/'))
    }

    pub fn write(&self, node_path: &str, contents: &[u8]) {
        let p = self.path(node_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn write_config(&self, version: &str, extra: &str) {
        let indent = |pem: &str| pem.lines().map(|l| format!("      {l}\n")).collect::<String>();
        let port = self.server.port();
        let cfg = format!(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  name: {NODE_NAME}\n  \
             advertiseAddress: 127.0.0.1\n  bindPort: {port}\ncluster:\n  kubernetesVersion: {version}\n  \
             encryptionAlgorithm: ECDSA-P256\n  networking:\n    podSubnet: 10.244.0.0/16\n  \
             controllerManager:\n    extraArgs:\n    - name: secure-port\n      value: \"{port}\"\n  \
             scheduler:\n    extraArgs:\n    - name: secure-port\n      value: \"{port}\"\n  \
             ca:\n    cert: |\n{}    key: |\n{}kubeletConfiguration:\n  healthzPort: {}\n{extra}",
            indent(&self.pki.ca_cert_pem),
            indent(&self.pki.ca_key_pem),
            self.kubelet.addr.port()
        );
        std::fs::write(&self.config, cfg).unwrap();
    }

    /// Rewrites one flag in a rendered static Pod manifest.
    pub fn set_manifest_flag(&self, component: &str, flag: &str, value: &str) {
        let path = self.path(&format!("/etc/kubernetes/manifests/{component}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let prefix = format!("- --{flag}=");
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&prefix))
            .unwrap_or_else(|| panic!("{flag} not in {component}"));
        let indent = &line[..line.len() - line.trim_start().len()];
        std::fs::write(&path, text.replace(line, &format!("{indent}{prefix}{value}"))).unwrap();
    }

    /// Runs the kubeboot binary against this root and config.
    pub fn kubeboot(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_kubeboot"))
            .args(args)
            .arg("--root")
            .arg(self.root())
            .arg("--config")
            .arg(&self.config)
            .env("NO_PROXY", "*")
            .output()
            .unwrap();
        eprintln!(
            "--- kubeboot {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a kubeboot command that takes no --config (token, config validate).
    pub fn kubeboot_no_config(&self, args: &[&str]) -> Output {
        let out =
            Command::new(env!("CARGO_BIN_EXE_kubeboot")).args(args).arg("--root").arg(self.root()).output().unwrap();
        eprintln!(
            "--- kubeboot {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}
