//! kubeconfig files (reference §3): one cluster, one user with an embedded client certificate
//! signed by the cluster CA, one context `<user>@<cluster>`, mode 0600.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use super::yaml::to_yaml;
use crate::config::resolve::KUBERNETES_DIR;
use crate::config::{Resolved, Role};
use crate::pki::table::{SanList, Usage};
use crate::pki::{self, Authority, CertRequest, PrivateKey};
use crate::plan::File;
use crate::workflow::Ctx;

pub const KUBECONFIG_MODE: u32 = 0o600;

/// Which API server URL a kubeconfig points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `https://<controlPlaneEndpoint>` (or the local endpoint when none is set).
    ControlPlaneEndpoint,
    /// `https://<advertiseAddress>:<bindPort>`.
    Local,
    /// The local endpoint with ControlPlaneKubeletLocalMode (default 1.33+), else the control-plane endpoint.
    Kubelet,
}

#[derive(Debug, Clone, Copy)]
pub struct KubeconfigSpec {
    /// Sub-phase name (`kubeadm init phase kubeconfig <name>`).
    pub name: &'static str,
    pub file: &'static str,
    /// User name and client certificate CN; `None` means `system:node:<nodeName>`.
    pub user: Option<&'static str>,
    pub org: Option<&'static str>,
    pub server: Server,
    /// Written by `kubeadm init` only (a joining control-plane node gets the rest).
    pub init_only: bool,
}

#[rustfmt::skip]
pub const KUBECONFIGS: &[KubeconfigSpec] = &[
    KubeconfigSpec { name: "admin",              file: "admin.conf",              user: Some("kubernetes-admin"),               org: Some("kubeadm:cluster-admins"), server: Server::ControlPlaneEndpoint, init_only: false },
    KubeconfigSpec { name: "super-admin",        file: "super-admin.conf",        user: Some("kubernetes-super-admin"),         org: Some("system:masters"),         server: Server::ControlPlaneEndpoint, init_only: true },
    KubeconfigSpec { name: "kubelet",            file: "kubelet.conf",            user: None,                                   org: Some("system:nodes"),           server: Server::Kubelet,              init_only: true },
    KubeconfigSpec { name: "controller-manager", file: "controller-manager.conf", user: Some("system:kube-controller-manager"), org: None,                           server: Server::Local,                init_only: false },
    KubeconfigSpec { name: "scheduler",          file: "scheduler.conf",          user: Some("system:kube-scheduler"),          org: None,                           server: Server::Local,                init_only: false },
];

impl KubeconfigSpec {
    pub fn path(&self) -> String {
        format!("{KUBERNETES_DIR}/{}", self.file)
    }

    /// kubeadm's long name for the certificate embedded in this file (`certs renew` output).
    pub fn long_name(&self) -> &'static str {
        match self.name {
            "admin" => "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
            "super-admin" => "certificate embedded in the kubeconfig file for the super-admin",
            "controller-manager" => "certificate embedded in the kubeconfig file for the controller manager to use",
            "scheduler" => "certificate embedded in the kubeconfig file for the scheduler manager to use",
            _ => "certificate embedded in the kubeconfig file for the kubelet",
        }
    }

    pub fn user(&self, node: &Resolved) -> String {
        self.user.map(str::to_string).unwrap_or_else(|| format!("system:node:{}", node.node_name))
    }

    pub fn server_url(&self, node: &Resolved) -> String {
        match self.server {
            Server::ControlPlaneEndpoint => node.control_plane_endpoint_url(),
            Server::Local => node.local_endpoint_url(),
            Server::Kubelet if node.gates.control_plane_kubelet_local_mode => node.local_endpoint_url(),
            Server::Kubelet => node.control_plane_endpoint_url(),
        }
    }
}

/// The kubeconfigs this node's role gets.
pub fn kubeconfigs_for(node: &Resolved) -> impl Iterator<Item = &'static KubeconfigSpec> {
    let init = node.role() == Role::ControlPlane;
    KUBECONFIGS.iter().filter(move |k| init || !k.init_only)
}

/// The kubeconfig text for a user with an embedded client certificate.
pub fn render(node: &Resolved, spec: &KubeconfigSpec, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<String> {
    render_user(&node.cfg.cluster.name, &spec.server_url(node), &spec.user(node), ca_pem, cert_pem, key_pem)
}

/// kubeadm's `CreateWithCerts`: one cluster, one user, context `<user>@<cluster>`.
pub fn render_user(
    cluster: &str,
    server: &str,
    user: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<String> {
    let context = format!("{user}@{cluster}");
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "certificate-authority-data": B64.encode(ca_pem),
            "server": server,
        }}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": {
            "client-certificate-data": B64.encode(cert_pem),
            "client-key-data": B64.encode(key_pem),
        }}],
    }))
}

/// The client certificate request for `spec`: clientAuth, no SANs, notBefore = the CA's.
pub fn client_cert_request(node: &Resolved, spec: &KubeconfigSpec, ca: &Authority) -> Result<CertRequest> {
    let validity = time::Duration::try_from(node.cfg.cluster.certificate_validity_period.as_duration())
        .context("certificateValidityPeriod too large")?;
    Ok(CertRequest {
        cn: spec.user(node),
        orgs: spec.org.map(str::to_string).into_iter().collect(),
        usages: vec![Usage::ClientAuth],
        sans: SanList::default(),
        not_before: ca.info()?.not_before,
        not_after: pki::now() + validity,
    })
}

/// How many client keys the kubeconfig phase will need (the certs phase makes them ahead).
pub fn client_keys_needed(ctx: &Ctx) -> Result<usize> {
    if pki::is_external_ca(ctx, "ca")? {
        return Ok(0);
    }
    let mut n = 0;
    for spec in kubeconfigs_for(&ctx.node).filter(|s| !skipped_sub(ctx, s.name, false)) {
        n += usize::from(ctx.read_current(&spec.path())?.is_none());
    }
    Ok(n)
}

/// `kubeadm init phase kubeconfig [<name>|all]`.
pub fn phase_kubeconfig(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    let specs: Vec<&KubeconfigSpec> = kubeconfigs_for(&ctx.node)
        .filter(|s| match sub {
            Some(n) => n == s.name,
            None => !skipped_sub(ctx, s.name, true),
        })
        .collect();
    let ca = pki::load_authority(ctx, "ca").context("kubeconfig files embed the cluster CA")?;
    let ca_pem = ca.cert_pem();

    let mut missing = Vec::new();
    for spec in specs {
        match ctx.read_current(&spec.path())? {
            Some(existing) => {
                check_existing(&ctx.node, spec, &existing, &ca)?;
                ctx.say("kubeconfig", format_args!("Using existing kubeconfig file: \"{}\"", spec.path()));
            }
            None if ca.key.is_none() => bail!(
                "{} is missing and ca.key is absent (external CA mode), so kubeboot cannot sign its client \
                 certificate; provide {} or ca.key",
                spec.path(),
                spec.path()
            ),
            None => missing.push(spec),
        }
    }
    let mut keys = take_keys(ctx, missing.len())?;
    let mut files = Vec::new();
    for spec in missing {
        ctx.say("kubeconfig", format_args!("Writing \"{}\" kubeconfig file", spec.file));
        let key = keys.pop().expect("one key per missing kubeconfig");
        let cert = ca.sign(&client_cert_request(&ctx.node, spec, &ca)?, &key)?;
        let text = render(&ctx.node, spec, &ca_pem, &pki::pem_text("CERTIFICATE", &cert), key.pem())?;
        let reason = format!("kubeconfig for {} ({})", spec.user(&ctx.node), spec.server_url(&ctx.node));
        files.push(File::new(spec.path(), KUBECONFIG_MODE, text, reason).secret());
    }
    ctx.emit("kubeconfig", files)
}

/// `skipPhases: [kubeconfig/<name>]`: that file is neither written nor checked.
fn skipped_sub(ctx: &Ctx, name: &str, say: bool) -> bool {
    let skipped = ctx.skipped(&format!("kubeconfig/{name}"));
    if skipped && say {
        ctx.say("kubeconfig", format_args!("Skipping {name} (skipPhases kubeconfig/{name})"));
    }
    skipped
}

/// Keys made ahead by the certs phase first, the rest generated now in parallel.
fn take_keys(ctx: &mut Ctx, n: usize) -> Result<Vec<PrivateKey>> {
    let spare = &mut ctx.state.spare_keys;
    let mut keys: Vec<PrivateKey> = spare.drain(spare.len().saturating_sub(n)..).collect();
    keys.extend(pki::generate_many(ctx.node.cfg.cluster.encryption_algorithm, n - keys.len())?);
    Ok(keys)
}

/// kubeadm `validateKubeConfig`: an existing file is kept when it trusts this CA and points at
/// the expected server; anything else is an error naming the file.
fn check_existing(node: &Resolved, spec: &KubeconfigSpec, bytes: &[u8], ca: &Authority) -> Result<()> {
    let path = spec.path();
    let text = std::str::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))?;
    let config = kube::config::Kubeconfig::from_yaml(text).with_context(|| format!("{path} is not a kubeconfig"))?;
    let current = config.current_context.as_deref().unwrap_or_default();
    let cluster_name = config
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .with_context(|| format!("{path}: current context `{current}` not found"))?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .with_context(|| format!("{path}: cluster `{cluster_name}` not found"))?;
    let ca_data = cluster.certificate_authority_data.as_deref().unwrap_or_default();
    let bundle = B64.decode(ca_data.trim()).unwrap_or_default();
    let trusts_ca = pem::parse_many(&bundle)
        .map(|blocks| blocks.iter().any(|b| b.contents() == ca.cert_der.as_slice()))
        .unwrap_or(false);
    if !trusts_ca {
        bail!("{path} exists already but has the wrong CA cert; remove it to have it regenerated");
    }
    let want = spec.server_url(node);
    let got = cluster.server.as_deref().unwrap_or_default();
    if got != want {
        bail!(
            "{path} exists already but has the wrong API server URL: {got} (expected {want}); remove it to regenerate"
        );
    }
    Ok(())
}

/// The current context's embedded client certificate (PEM) of a kubeconfig, as kubeadm's
/// renewal reads it: the context, its cluster (with embedded CA data) and its user must exist.
pub fn client_cert_pem(path: &str, text: &str) -> Result<Vec<u8>> {
    let (config, _, user) = current_entries(path, text)?;
    let data = config["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["name"] == user.as_str()))
        .and_then(|u| u["user"]["client-certificate-data"].as_str())
        .filter(|d| !d.is_empty())
        .with_context(|| format!("kubeConfig file {path} does not have an embedded client certificate"))?;
    B64.decode(data.trim()).with_context(|| format!("{path}: client-certificate-data is not base64"))
}

/// kubeadm's renewal write (`kubeConfigReadWriter.Write`): the current context's cluster gets
/// the CA from ca.crt, its user the new client certificate and key; everything else is kept.
pub fn replace_credentials(path: &str, text: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<String> {
    let (mut config, cluster, user) = current_entries(path, text)?;
    let entry = |config: &mut serde_json::Value, list: &str, name: &str| -> Result<()> {
        let found = config[list].as_array().is_some_and(|l| l.iter().any(|e| e["name"] == name));
        if !found {
            bail!("invalid kubeConfig file {path}: missing {list} entry {name}");
        }
        Ok(())
    };
    entry(&mut config, "clusters", &cluster)?;
    entry(&mut config, "users", &user)?;
    for c in config["clusters"].as_array_mut().into_iter().flatten().filter(|c| c["name"] == cluster.as_str()) {
        c["cluster"]["certificate-authority-data"] = json!(B64.encode(ca_pem));
    }
    for u in config["users"].as_array_mut().into_iter().flatten().filter(|u| u["name"] == user.as_str()) {
        u["user"]["client-certificate-data"] = json!(B64.encode(cert_pem));
        u["user"]["client-key-data"] = json!(B64.encode(key_pem));
    }
    to_yaml(&config)
}

/// The parsed kubeconfig and the cluster and user names of its current context.
fn current_entries(path: &str, text: &str) -> Result<(serde_json::Value, String, String)> {
    let config: serde_json::Value =
        serde_saphyr::from_str(text).with_context(|| format!("failed to load kubeConfig file {path}"))?;
    let current = config["current-context"].as_str().unwrap_or_default().to_string();
    let context = config["contexts"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == current.as_str()))
        .map(|c| c["context"].clone())
        .with_context(|| format!("invalid kubeConfig file {path}: missing context {current}"))?;
    let cluster = context["cluster"].as_str().unwrap_or_default().to_string();
    let user = context["user"].as_str().unwrap_or_default().to_string();
    Ok((config, cluster, user))
}
