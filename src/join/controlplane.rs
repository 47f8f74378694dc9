//! `control-plane-prepare` for an extra control-plane node (reference §12.4 steps 1–3):
//! download the shared CAs and service-account keys from Secret kube-system/kubeadm-certs
//! (AES-256-GCM under the certificate key, `cluster::copycerts`), then this node's leaf certificates, kubeconfigs
//! (no super-admin.conf, no kubelet.conf) and control-plane manifests with the init renderers.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::api::{ApiClient, Auth, core_path};
use crate::cluster::copycerts::{SECRET_NAME, cert_files, decode_key, decrypt};
use crate::plan::File;
use crate::workflow::Ctx;

const PHASE: &str = "control-plane-prepare";

/// `join phase control-plane-prepare [download-certs|certs|kubeconfig|control-plane]`.
pub fn phase_control_plane_prepare(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    if !super::is_control_plane_join(ctx) {
        ctx.say(PHASE, "Not a control-plane node: nothing to do");
        return Ok(());
    }
    super::follow_cluster(ctx)?;
    let skips = ctx.skip_phases.clone();
    let wants = |name: &str| match sub {
        Some(s) => s == name,
        None => !skips.iter().any(|k| *k == format!("{PHASE}/{name}")),
    };
    if wants("download-certs") {
        download_certs(ctx)?;
    }
    if wants("certs") {
        require_cert_files(ctx)?;
        crate::pki::phase(ctx, None)?;
    }
    if wants("kubeconfig") {
        crate::render::phase_kubeconfig(ctx, None)?;
    }
    if wants("control-plane") {
        crate::render::phase_control_plane(ctx, None)?;
    }
    Ok(())
}

/// The CAs must come from the cluster: generating new ones here would split the cluster.
fn require_cert_files(ctx: &Ctx) -> Result<()> {
    for (_, path) in cert_files(&ctx.node).iter().filter(|(k, _)| !k.starts_with("external-")) {
        if ctx.read_current(path)?.is_none() {
            bail!(
                "{path} is missing; a joining control-plane node takes the shared CAs from the cluster: run \
                   `kubeboot join phase control-plane-prepare download-certs` (or copy the file from a control-plane node)"
            );
        }
    }
    Ok(())
}

fn download_certs(ctx: &mut Ctx) -> Result<()> {
    let files = cert_files(&ctx.node);
    let mut missing = false;
    for (_, path) in &files {
        missing |= !path.is_empty() && ctx.read_current(path)?.is_none();
    }
    if !missing {
        ctx.say(PHASE, "The shared certificates are already present; not downloading kubeadm-certs");
        return Ok(());
    }
    let found = super::discovered(ctx)?;
    let token = super::bootstrap_token(ctx)?;
    let key_hex = ctx.node.cfg.certificate_key.clone().context(
        "certificateKey is not set: a control-plane join needs the key printed by the first control-plane node",
    )?;
    let key = decode_key(&key_hex)?;
    ctx.say(
        PHASE,
        format_args!("Downloading the certificates in Secret \"{SECRET_NAME}\" in the \"kube-system\" Namespace"),
    );
    let client = ApiClient::verified(&found.server, found.ca_pem.as_bytes(), Auth::BootstrapToken(&token))?;
    let secret = crate::workflow::block_on(
        client.get_object(&core_path("kube-system", "secrets", SECRET_NAME), "Secret kube-system/kubeadm-certs"),
    )
    .context(
        "kubeadm-certs is deleted 2 hours after upload; re-upload with `kubeboot init phase upload-certs` on a \
         control-plane node (kubeadm: `kubeadm init phase upload-certs --upload-certs`)",
    )?;
    let data: BTreeMap<String, String> =
        serde_json::from_value(secret["data"].clone()).context("Secret kube-system/kubeadm-certs has no data")?;
    let mut out = Vec::new();
    for (name, path) in files {
        let encrypted = data.get(&name).with_context(|| format!("Secret kubeadm-certs has no {name}"))?;
        let encrypted = B64.decode(encrypted).with_context(|| format!("kubeadm-certs {name} is not base64"))?;
        let plain = decrypt(&key, &encrypted).with_context(|| format!("decrypting {name} from kubeadm-certs"))?;
        if path.is_empty() || plain.is_empty() {
            continue; // an external etcd file kubeadm uploads empty when it is not configured
        }
        let mode = if name.ends_with(".crt") { crate::pki::CERT_MODE } else { crate::pki::KEY_MODE };
        out.push(File::new(path, mode, plain, format!("{name} from kubeadm-certs")).secret());
    }
    ctx.emit(PHASE, out)
}
