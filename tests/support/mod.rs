//! Shared test support: the kube-apiserver TEST STAND-IN (`apiserver.rs`), a kubelet /healthz
//! stand-in, and a prepared node root for the cluster phases.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod apiserver;

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

/// A node root prepared the way the earlier init phases leave it (PKI, kubeconfigs, kubelet
/// config, static Pod manifests), pointed at a running stand-in API server.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    pub server: ApiServer,
    pub kubelet: KubeletHealthz,
    pub config: PathBuf,
}

pub const NODE_NAME: &str = "cp-1";

impl Node {
    /// `extra` is appended to the NodeConfig (top-level keys, YAML).
    pub fn new(version: &str, extra: &str) -> Node {
        let pki = TestPki::new();
        let server = ApiServer::start(&pki.ca_cert_pem, &pki.ca_key_pem);
        let kubelet = KubeletHealthz::start();
        let dir = tempfile::tempdir().unwrap();
        let node = Node { config: dir.path().join("user-data.yaml"), dir, pki, server, kubelet };
        node.write_config(version, extra);
        node.prepare_root();
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
        let cfg = format!(
            "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  name: {NODE_NAME}\n  \
             advertiseAddress: 127.0.0.1\n  bindPort: {}\ncluster:\n  kubernetesVersion: {version}\n  networking:\n    \
             podSubnet: 10.244.0.0/16\n{extra}",
            self.server.port()
        );
        std::fs::write(&self.config, cfg).unwrap();
    }

    /// Until the render and certs phases are on main, the files they write are produced here.
    fn prepare_root(&self) {
        let server = self.server.url();
        let pki = &self.pki;
        self.write("/etc/kubernetes/pki/ca.crt", pki.ca_cert_pem.as_bytes());
        self.write("/etc/kubernetes/pki/ca.key", pki.ca_key_pem.as_bytes());
        for name in ["front-proxy-ca", "etcd/ca"] {
            let other = TestPki::new();
            self.write(&format!("/etc/kubernetes/pki/{name}.crt"), other.ca_cert_pem.as_bytes());
            self.write(&format!("/etc/kubernetes/pki/{name}.key"), other.ca_key_pem.as_bytes());
        }
        let sa = rcgen::KeyPair::generate().unwrap();
        self.write("/etc/kubernetes/pki/sa.key", sa.serialize_pem().as_bytes());
        self.write("/etc/kubernetes/pki/sa.pub", sa.public_key_pem().as_bytes());
        self.write(
            "/etc/kubernetes/admin.conf",
            pki.kubeconfig(&server, "kubernetes-admin", &["kubeadm:cluster-admins"]).as_bytes(),
        );
        self.write(
            "/etc/kubernetes/super-admin.conf",
            pki.kubeconfig(&server, "kubernetes-super-admin", &["system:masters"]).as_bytes(),
        );
        self.write(
            "/etc/kubernetes/kubelet.conf",
            pki.kubeconfig(&server, &format!("system:node:{NODE_NAME}"), &["system:nodes"]).as_bytes(),
        );
        self.write(
            "/var/lib/kubelet/config.yaml",
            format!(
                "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    \
                 enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\n\
                 cgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\n\
                 containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock\nhealthzBindAddress: 127.0.0.1\n\
                 healthzPort: {}\nkind: KubeletConfiguration\nrotateCertificates: true\nstaticPodPath: /etc/kubernetes/manifests\n",
                self.kubelet.addr.port()
            )
            .as_bytes(),
        );
        // The kubelet package of the OS image.
        self.write("/usr/bin/kubelet", b"#!/bin/sh\n");
        self.write("/lib/systemd/system/kubelet.service", b"[Service]\nExecStart=/usr/bin/kubelet\n");
        let port = self.server.port();
        self.write_manifest("kube-apiserver", &["--advertise-address=127.0.0.1", &format!("--secure-port={port}")]);
        self.write_manifest("kube-controller-manager", &["--bind-address=127.0.0.1", &format!("--secure-port={port}")]);
        self.write_manifest("kube-scheduler", &["--bind-address=127.0.0.1", &format!("--secure-port={port}")]);
    }

    /// A static Pod manifest carrying just the flags wait-control-plane reads.
    pub fn write_manifest(&self, component: &str, flags: &[&str]) {
        let command: String =
            std::iter::once(component).chain(flags.iter().copied()).map(|f| format!("    - {f}\n")).collect();
        self.write(
            &format!("/etc/kubernetes/manifests/{component}.yaml"),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {component}\n  namespace: kube-system\nspec:\n  containers:\n  \
                 - name: {component}\n    image: registry.k8s.io/{component}:v1.34.1\n    command:\n{command}  hostNetwork: true\n"
            )
            .as_bytes(),
        );
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
}

/// The init phases that need a real machine or are not on main yet.
pub const SKIP_HOST_PHASES: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start";
