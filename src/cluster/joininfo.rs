//! What `kubeadm init` prints at the end — the join commands for control-plane and worker
//! nodes — plus the kubeboot user-data that does the same join.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::bootstraptoken::{Token, configured_tokens};
use crate::config::Role;
use crate::config::resolve::{bracket, split_host_port};
use crate::workflow::Ctx;

/// The discovery pin (reference §2.6) of a PEM CA certificate.
pub fn ca_cert_hash(ca_pem: &[u8]) -> Result<String> {
    crate::pki::ca_cert_hash(&crate::pki::cert_der_from_pem(ca_pem)?)
}

/// Everything a joining node needs to know.
pub struct JoinInfo {
    /// `host:port` the join discovers the cluster through.
    pub endpoint: String,
    pub token: Token,
    pub ca_hash: String,
    /// The certificate key when upload-certs ran and the config allows showing it.
    pub certificate_key: Option<String>,
    pub upload_certs: bool,
    pub has_control_plane_endpoint: bool,
}

impl JoinInfo {
    pub fn from_ctx(ctx: &Ctx) -> Result<Self> {
        let ca_path = ctx.node.pki("ca.crt");
        let ca = ctx.host.read(&ca_path).with_context(|| format!("reading {ca_path}"))?;
        let (_, token) = configured_tokens(ctx)?.into_iter().next().context("no bootstrap token is configured")?;
        let endpoint = match &ctx.node.cfg.cluster.control_plane_endpoint {
            Some(ep) => {
                let (host, port) = split_host_port(ep);
                format!("{}:{}", bracket(&host), port.unwrap_or(ctx.node.cfg.node.bind_port))
            }
            None => ctx.node.local_endpoint(),
        };
        let show_key = ctx.node.cfg.report.as_ref().is_some_and(|r| r.include_certificate_key);
        let certificate_key =
            if ctx.node.cfg.upload_certs && show_key { Some(super::copycerts::certificate_key(ctx)?) } else { None };
        Ok(JoinInfo {
            endpoint,
            token,
            ca_hash: ca_cert_hash(&ca)?,
            certificate_key,
            upload_certs: ctx.node.cfg.upload_certs,
            has_control_plane_endpoint: ctx.node.cfg.cluster.control_plane_endpoint.is_some(),
        })
    }

    /// `kubeadm join <endpoint> --token … --discovery-token-ca-cert-hash …`.
    pub fn worker_command(&self) -> String {
        format!(
            "kubeadm join {} --token {} \\\n\t--discovery-token-ca-cert-hash {}",
            self.endpoint,
            self.token.expose(),
            self.ca_hash
        )
    }

    pub fn control_plane_command(&self) -> String {
        let key = self.certificate_key.clone().unwrap_or_else(|| "<certificate key>".into());
        let certs = if self.upload_certs { format!(" --certificate-key {key}") } else { String::new() };
        format!("{} \\\n\t--control-plane{certs}", self.worker_command())
    }

    /// Worker user-data: endpoint, token and CA pin. The join takes everything cluster-wide
    /// (Kubernetes version included) from the cluster's kubeadm-config.
    pub fn worker_user_data(&self) -> String {
        self.user_data(Role::Worker)
    }

    /// Control-plane-join user-data: the worker's plus the certificate key. The new node renders
    /// its certificates and manifests from the cluster's kubeadm-config; its advertise address
    /// defaults to its default-route address (set `node.advertiseAddress` to choose another).
    pub fn control_plane_user_data(&self) -> String {
        self.user_data(Role::ControlPlaneJoin)
    }

    fn user_data(&self, role: Role) -> String {
        let mut doc = Map::new();
        doc.insert("apiVersion".into(), json!(crate::config::API_VERSION));
        doc.insert("kind".into(), json!(crate::config::KIND));
        doc.insert("role".into(), json!(role.as_str()));
        doc.insert(
            "join".into(),
            json!({
                "apiServerEndpoint": self.endpoint,
                "token": self.token.expose(),
                "caCertHashes": [self.ca_hash],
            }),
        );
        if role == Role::ControlPlaneJoin {
            let key = self
                .certificate_key
                .clone()
                .unwrap_or_else(|| "<contents of /var/lib/kubeboot/certificate-key>".into());
            doc.insert("certificateKey".into(), json!(key));
        }
        crate::render::yaml::to_yaml(&Value::Object(doc)).expect("JSON values serialize to YAML")
    }
}

/// Prints the end-of-init instructions. They carry the bootstrap token (that is their point), so
/// they go to the console only, never to logs or the report.
pub fn print_join_instructions(ctx: &Ctx) -> Result<()> {
    let info = JoinInfo::from_ctx(ctx)?;
    let indent = |s: &str| s.lines().map(|l| format!("  {l}\n")).collect::<String>();
    let mut out = String::from("\nYour Kubernetes control-plane has initialized successfully!\n\n");
    out.push_str("To start using your cluster, run the following as a regular user:\n\n");
    out.push_str("  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n");
    out.push_str("  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n");
    out.push_str("You should now deploy a pod network to the cluster.\n\n");
    if info.has_control_plane_endpoint {
        out.push_str(
            "You can now join any number of control-plane nodes by running the following on each as root:\n\n",
        );
        out.push_str(&indent(&info.control_plane_command()));
        if info.upload_certs && info.certificate_key.is_none() {
            out.push_str("\nThe certificate key is stored 0600 in /var/lib/kubeboot/certificate-key on this node.\n");
        }
        out.push_str("\nor boot it with this kubeboot user-data:\n\n");
        out.push_str(&indent(&info.control_plane_user_data()));
        out.push('\n');
    }
    out.push_str("Then you can join any number of worker nodes by running the following on each as root:\n\n");
    out.push_str(&indent(&info.worker_command()));
    out.push_str("\nor boot them with this kubeboot user-data:\n\n");
    out.push_str(&indent(&info.worker_user_data()));
    out.push('\n'); // ends the block before the phase's own "done" line
    print!("{out}");
    Ok(())
}
