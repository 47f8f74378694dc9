//! `control-plane-prepare` for an extra control-plane node (reference §12.4 steps 1–3):
//! download the shared CAs and service-account keys from Secret kube-system/kubeadm-certs
//! (AES-256-GCM under the certificate key), then this node's leaf certificates, kubeconfigs
//! (no super-admin.conf, no kubelet.conf) and control-plane manifests with the init renderers.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::api::{ApiClient, Auth, core_path};
use crate::config::Resolved;
use crate::plan::File;
use crate::workflow::Ctx;

const PHASE: &str = "control-plane-prepare";
pub const SECRET: &str = "kubeadm-certs";

/// `join phase control-plane-prepare [download-certs|certs|kubeconfig|control-plane]`.
pub fn phase_control_plane_prepare(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    if !super::is_control_plane_join(ctx) {
        ctx.say(PHASE, "Not a control-plane node: nothing to do");
        return Ok(());
    }
    let wants = |name: &str| sub.is_none_or(|s| s == name);
    if wants("download-certs") {
        download_certs(ctx)?;
    }
    if wants("certs") {
        require_shared_files(ctx)?;
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

/// The files kubeadm copies, as (Secret data key, node path): PKI-relative names with `/` → `-`;
/// external etcd files get `external-etcd*` keys.
pub fn shared_files(node: &Resolved) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> =
        ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]
            .into_iter()
            .map(|f| (f.to_string(), node.pki(f)))
            .collect();
    match node.external_etcd() {
        Some(ext) => {
            for (key, path) in [
                ("external-etcd-ca.crt", &ext.ca_file),
                ("external-etcd.crt", &ext.cert_file),
                ("external-etcd.key", &ext.key_file),
            ] {
                files.push((key.to_string(), path.clone()));
            }
        }
        None => {
            files.push(("etcd-ca.crt".into(), node.pki("etcd/ca.crt")));
            files.push(("etcd-ca.key".into(), node.pki("etcd/ca.key")));
        }
    }
    files
}

/// The CAs must come from the cluster: generating new ones here would split the cluster.
fn require_shared_files(ctx: &Ctx) -> Result<()> {
    for (_, path) in shared_files(&ctx.node).iter().filter(|(k, _)| !k.starts_with("external-")) {
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
    let files = shared_files(&ctx.node);
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
        format_args!("Downloading the certificates in Secret \"{SECRET}\" in the \"kube-system\" Namespace"),
    );
    let client = ApiClient::verified(&found.server, found.ca_pem.as_bytes(), Auth::BootstrapToken(&token))?;
    let secret = crate::workflow::block_on(
        client.get_object(&core_path("kube-system", "secrets", SECRET), "Secret kube-system/kubeadm-certs"),
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

/// 64 hex characters → the 32-byte AES-256 key. The error never repeats the key.
pub fn decode_key(key: &str) -> Result<[u8; 32]> {
    let bytes = (0..key.len())
        .step_by(2)
        .map(|i| key.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| anyhow!("the certificate key must be 64 hex characters (a 32-byte AES-256 key)"))
}

/// kubeadm `DecryptBytes`: 12-byte nonce ‖ ciphertext ‖ 16-byte tag, no AAD.
pub fn decrypt(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    if data.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        bail!("the encrypted value is too short ({} bytes)", data.len());
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| anyhow!("invalid AES-256 key"))?);
    let (nonce, sealed) = data.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
    let mut buf = sealed.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .map_err(|_| anyhow!("decryption failed: wrong certificate key, or the data was altered"))?;
    Ok(plain.to_vec())
}
