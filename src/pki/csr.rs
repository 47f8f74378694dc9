//! `kubeboot certs generate-csr`: kubeadm's external-CA helper (`certs generate-csr`,
//! phases/certs `CreateDefaultKeysAndCSRFiles` and phases/kubeconfig
//! `CreateDefaultKubeConfigsAndCSRFiles`).
//!
//! For every leaf of the certificate table: `<base>.key` and `<base>.csr` (subject and SANs as
//! `init` would issue them). For every kubeconfig (admin, super-admin, kubelet,
//! controller-manager, scheduler): the kubeconfig with only `client-key-data` (no CA, no
//! client certificate) and `<file>.csr` beside it. Keys, CSRs and kubeconfigs are 0600.
//! Like kubeadm, an existing key, CSR or kubeconfig is an error; unlike kubeadm, that is found
//! before anything is written, so a refused run leaves the host as it was.

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
use serde_json::json;

use super::keys::{generate_many, pem_text};
use super::table::{self, SanList};
use crate::config::Resolved;
use crate::host::Host;
use crate::plan::File;
use crate::render::kubeconfig::KUBECONFIGS;

pub const CSR_MODE: u32 = 0o600;

/// What one CSR asks for.
struct Subject {
    cn: String,
    orgs: Vec<String>,
    sans: SanList,
}

fn csr_pem(subject: &Subject, key: &super::PrivateKey) -> Result<String> {
    let mut dn = DistinguishedName::new();
    for o in &subject.orgs {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    dn.push(DnType::CommonName, subject.cn.as_str());
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    for name in &subject.sans.dns {
        params
            .subject_alt_names
            .push(SanType::DnsName(name.clone().try_into().map_err(|e| anyhow!("SAN `{name}`: {e}"))?));
    }
    params.subject_alt_names.extend(subject.sans.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let csr = params.serialize_request(key.pair()).map_err(|e| anyhow!("making the CSR for {}: {e}", subject.cn))?;
    Ok(pem_text("CERTIFICATE REQUEST", csr.der()))
}

/// The files `generate-csr` writes, and kubeadm's progress lines.
pub fn plan(host: &Host, node: &Resolved, cert_dir: &str, kubeconfig_dir: &str) -> Result<(Vec<File>, Vec<String>)> {
    let cert_dir = cert_dir.trim_end_matches('/');
    let kubeconfig_dir = kubeconfig_dir.trim_end_matches('/');
    let leaves: Vec<&table::CertSpec> = table::CERTS.iter().filter(|c| !c.is_ca()).collect();
    // Refuse before anything is written.
    for c in &leaves {
        for ext in ["key", "csr"] {
            if host.exists(format!("{cert_dir}/{}.{ext}", c.base)) {
                bail!("already exists: key or CSR {cert_dir}/{}", c.base);
            }
        }
    }
    for k in KUBECONFIGS {
        if host.exists(format!("{kubeconfig_dir}/{}", k.file))
            || host.exists(format!("{kubeconfig_dir}/{}.csr", k.file))
        {
            bail!("already exists: kube config: {kubeconfig_dir}/{}", k.file);
        }
    }
    let mut keys = generate_many(node.cfg.cluster.encryption_algorithm, leaves.len() + KUBECONFIGS.len())?;
    let mut files = Vec::new();
    let mut lines = vec![format!("generating keys and CSRs in {cert_dir}")];
    for c in leaves {
        let key = keys.pop().expect("one key per file");
        let subject = Subject {
            cn: c.common_name(node),
            orgs: c.org.map(str::to_string).into_iter().collect(),
            sans: c.alt_names(node),
        };
        let why = format!("{} key (external CA mode)", c.name);
        files.push(File::new(format!("{cert_dir}/{}.key", c.base), super::KEY_MODE, key.pem(), why).secret());
        let why = format!("{} certificate signing request", c.name);
        files.push(File::new(format!("{cert_dir}/{}.csr", c.base), CSR_MODE, csr_pem(&subject, &key)?, why));
        lines.push(format!("  {}", c.base));
    }
    lines.push(format!("generating keys and CSRs in {kubeconfig_dir}"));
    for k in KUBECONFIGS {
        let key = keys.pop().expect("one key per file");
        let user = k.user(node);
        let subject = Subject {
            cn: user.clone(),
            orgs: k.org.map(str::to_string).into_iter().collect(),
            sans: SanList::default(),
        };
        let cluster = &node.cfg.cluster.name;
        let context = format!("{user}@{cluster}");
        let text = crate::render::yaml::to_yaml(&json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": k.server_url(node)}}],
            "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
            "current-context": context,
            "preferences": {},
            "users": [{"name": user, "user": {
                "client-key-data": base64::engine::general_purpose::STANDARD.encode(key.pem()),
            }}],
        }))?;
        let why = format!("kubeconfig for {user} awaiting its signed certificate");
        files.push(File::new(format!("{kubeconfig_dir}/{}", k.file), 0o600, text, why).secret());
        let why = format!("{} certificate signing request", k.file);
        files.push(File::new(format!("{kubeconfig_dir}/{}.csr", k.file), CSR_MODE, csr_pem(&subject, &key)?, why));
        lines.push(format!("  {}", k.file));
    }
    Ok((files, lines))
}
