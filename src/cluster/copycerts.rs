//! upload-certs (reference §12.5): Secret kube-system/kubeadm-certs holding the shared CA files,
//! each AES-256-GCM encrypted under the certificate key (12-byte random nonce first, 16-byte tag
//! last, no AAD), owned by a 2-hour bootstrap token so the garbage collector removes it.
//! `decrypt` is the inverse the control-plane join uses.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::bootstraptoken::{Token, create_or_update_token};
use super::client::{ApiClient, meta};
use super::rbac::{group, role, role_binding, rule};
use super::{KUBE_SYSTEM, NODE_BOOTSTRAP_GROUP, report};
use crate::config::duration::GoDuration;
use crate::config::{BootstrapToken, Resolved};
use crate::workflow::Ctx;

pub const SECRET_NAME: &str = "kubeadm-certs";
pub const TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
const NONCE_LEN: usize = 12;
const PHASE: &str = "upload-certs";

/// The certificate key: from the config, else generated once (32 CSPRNG bytes, hex) and kept
/// 0600 in /var/lib/kubeboot so a resumed run and the join instructions use the same one.
pub fn certificate_key(ctx: &Ctx) -> Result<String> {
    let key = match &ctx.node.cfg.certificate_key {
        Some(k) => k.clone(),
        None => super::persisted_secret(&ctx.host, "certificate-key", || {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG is available");
            hex(&bytes)
        })?,
    };
    crate::report::redact::register(&key);
    decode_key(&key)?;
    Ok(key)
}

/// 64 hex characters → the 32-byte AES-256 key.
pub fn decode_key(key: &str) -> Result<[u8; 32]> {
    let bytes = (0..key.len())
        .step_by(2)
        .map(|i| key.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| anyhow!("the certificate key must be 64 hex characters (a 32-byte AES-256 key)"))
}

/// kubeadm `EncryptBytes`: nonce ‖ ciphertext ‖ tag.
pub fn encrypt(key: &[u8; 32], plain: &[u8]) -> Result<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| anyhow!("invalid AES-256 key"))?);
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow!("the system CSPRNG failed"))?;
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut out)
        .map_err(|_| anyhow!("AES-GCM encryption failed"))?;
    Ok([nonce.as_slice(), &out].concat())
}

/// kubeadm `DecryptBytes`.
pub fn decrypt(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    if data.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        bail!("encrypted value is too short ({} bytes)", data.len());
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

/// The files kubeadm copies, as (Secret data key, node path). Keys are the file names relative
/// to the PKI dir with `/` turned into `-`; external etcd files get `external-etcd*` keys.
pub fn cert_files(node: &Resolved) -> Vec<(String, String)> {
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

pub async fn upload(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    ctx.say(
        PHASE,
        format_args!("Storing the certificates in Secret \"{SECRET_NAME}\" in the \"{KUBE_SYSTEM}\" Namespace"),
    );
    let key_hex = certificate_key(ctx)?;
    let key = decode_key(&key_hex)?;
    let mut plain = BTreeMap::new();
    for (name, path) in cert_files(&ctx.node) {
        // A missing external etcd file gives an empty value, as in kubeadm; the CA files must exist.
        let bytes = match ctx.host.read_opt(&path).with_context(|| format!("reading {path}"))? {
            Some(b) => b,
            None if name.starts_with("external-etcd") || path.is_empty() => Vec::new(),
            None => bail!("{path} does not exist; upload-certs runs after the certs phase"),
        };
        plain.insert(name, bytes);
    }

    if !up_to_date(client, &key, &plain).await? {
        let owner = create_owner_token(ctx, client).await?;
        let mut data = BTreeMap::new();
        for (name, bytes) in &plain {
            data.insert(name.clone(), ByteString(encrypt(&key, bytes)?));
        }
        let mut secret = Secret { metadata: meta(KUBE_SYSTEM, SECRET_NAME), data: Some(data), ..Default::default() };
        secret.metadata.owner_references = Some(vec![owner]);
        report(ctx, PHASE, "Secret kube-system/kubeadm-certs", client.create_or_update(&secret).await?);
    }

    let name = "kubeadm:kubeadm-certs";
    let r = role(KUBE_SYSTEM, name, vec![rule(&["get"], &[""], &["secrets"], &[SECRET_NAME])]);
    report(ctx, PHASE, &format!("Role kube-system/{name}"), client.create_or_update(&r).await?);
    let rb = role_binding(KUBE_SYSTEM, name, name, vec![group(NODE_BOOTSTRAP_GROUP)]);
    report(ctx, PHASE, &format!("RoleBinding kube-system/{name}"), client.create_or_update(&rb).await?);

    ctx.say(
        PHASE,
        "Using the certificate key stored 0600 in /var/lib/kubeboot/certificate-key (or given in the config)",
    );
    if ctx.node.cfg.report.as_ref().is_some_and(|r| r.include_certificate_key) {
        println!("[upload-certs] Using certificate key:\n{key_hex}");
    }
    Ok(())
}

/// How much of the owner token's 2h life must be left for an existing upload to count as
/// fresh. A first boot resumed right after a crash keeps its upload (no re-encryption, fresh
/// nonces would change every value); `kubeboot init phase upload-certs --upload-certs` re-run
/// later for a late control-plane join uploads again under a new 2h token, as kubeadm does.
const FRESH_FOR: jiff::SignedDuration = jiff::SignedDuration::from_mins(115);

/// True when kubeadm-certs exists, its owner tokens exist and expire no sooner than `FRESH_FOR`
/// from now, and every value decrypts under this key to the current file.
async fn up_to_date(client: &ApiClient, key: &[u8; 32], plain: &BTreeMap<String, Vec<u8>>) -> Result<bool> {
    let Some(existing) = client.get::<Secret>(Some(KUBE_SYSTEM), SECRET_NAME).await? else {
        return Ok(false);
    };
    let data = existing.data.unwrap_or_default();
    let same = data.len() == plain.len()
        && plain.iter().all(|(k, v)| data.get(k).and_then(|enc| decrypt(key, &enc.0).ok()).as_ref() == Some(v));
    if !same {
        return Ok(false);
    }
    let owners = existing.metadata.owner_references.unwrap_or_default();
    if owners.is_empty() {
        return Ok(false);
    }
    for owner in owners {
        let Some(token) = client.get::<Secret>(Some(KUBE_SYSTEM), &owner.name).await? else {
            return Ok(false);
        };
        if !fresh(&token, jiff::Timestamp::now()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The token Secret's `expiration` is at least `FRESH_FOR` away (no expiration: never expires).
fn fresh(token: &Secret, now: jiff::Timestamp) -> bool {
    let Some(exp) = token.data.as_ref().and_then(|d| d.get("expiration")) else { return true };
    let Some(exp) = std::str::from_utf8(&exp.0).ok().and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
        return false;
    };
    exp.duration_since(now) >= FRESH_FOR
}

/// The short-lived token whose Secret owns kubeadm-certs (TTL 2h, no usages, no groups).
async fn create_owner_token(ctx: &Ctx, client: &ApiClient) -> Result<OwnerReference> {
    let token = Token::generate();
    let spec = BootstrapToken {
        token: None,
        description: Some(TOKEN_DESCRIPTION.into()),
        ttl: GoDuration::from_hours(2),
        expires: None,
        usages: vec![],
        groups: vec![],
    };
    create_or_update_token(ctx, client, &spec, &token).await?;
    let secret = client
        .get::<Secret>(Some(KUBE_SYSTEM), &token.secret_name())
        .await?
        .with_context(|| format!("the token Secret {} vanished right after it was created", token.secret_name()))?;
    Ok(OwnerReference {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: token.secret_name(),
        uid: secret.metadata.uid.unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let key = [7u8; 32];
        let sealed = encrypt(&key, b"secret CA key").unwrap();
        assert_eq!(sealed.len(), 12 + 13 + 16);
        assert_eq!(decrypt(&key, &sealed).unwrap(), b"secret CA key");
        // fresh nonce every time
        assert_ne!(encrypt(&key, b"secret CA key").unwrap()[..12], sealed[..12]);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(decrypt(&key, &tampered).is_err());
        assert!(decrypt(&[8u8; 32], &sealed).is_err());
    }

    #[test]
    fn an_upload_is_fresh_only_with_most_of_its_two_hours_left() {
        let now: jiff::Timestamp = "2026-12-02T12:00:00Z".parse().unwrap();
        let token = |exp: &str| Secret {
            data: Some([("expiration".to_string(), ByteString(exp.as_bytes().to_vec()))].into()),
            ..Default::default()
        };
        assert!(fresh(&token("2026-12-02T14:00:00Z"), now));
        assert!(fresh(&token("2026-12-02T13:55:00Z"), now));
        assert!(!fresh(&token("2026-12-02T13:54:59Z"), now), "an upload with under 1h55m left is refreshed");
        assert!(!fresh(&token("garbage"), now));
        assert!(fresh(&Secret::default(), now));
    }

    #[test]
    fn key_must_be_64_hex() {
        assert!(decode_key(&"ab".repeat(32)).is_ok());
        assert!(decode_key(&"ab".repeat(31)).is_err());
        assert!(decode_key(&"zz".repeat(32)).is_err());
    }
}
