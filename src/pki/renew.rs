//! `kubeboot certs renew` and `certs check-expiration`: kubeadm's renewal manager
//! (phases/certs/renewal/manager.go) over the certificate table and the kubeconfig list.
//!
//! What kubeadm does, and so this does:
//! - the renewable set is every leaf of the table (the etcd ones only with a local etcd CA) plus
//!   the client certificates in admin.conf, super-admin.conf, controller-manager.conf and
//!   scheduler.conf; CAs are never renewed, kubelet.conf is the kubelet's own business;
//! - a certificate is re-issued from the **existing** certificate (`certToConfig`: CN, O, DNS
//!   and IP SANs, extended key usages), signed by the existing CA, with a **new key** of the
//!   cluster's `encryptionAlgorithm`; notBefore is the CA's (the config carries none), notAfter
//!   now + `certificateValidityPeriod`;
//! - a CA without its key (external CA) is not used: `Detected external <ca>, <cert> can't be
//!   renewed`; a missing certificate is reported `MISSING! <cert>`;
//! - kubeconfigs keep everything but the current context's CA data, client certificate and key.
//!
//! kubeboot adds `--expiring-within` (renew only what is due) and writes everything it renews
//! in one atomic batch, each file keeping its mode; nothing is written before every
//! certificate of the run was planned.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, anyhow, bail};
use time::OffsetDateTime;

use super::issue::{Authority, CertInfo, CertRequest, cert_der_from_pem};
use super::keys::{PrivateKey, generate_many, pem_text};
use super::table::{self, CertSpec, SanList};
use super::{CERT_MODE, KEY_MODE};
use crate::config::EncryptionAlgorithm;
use crate::config::resolve::KUBERNETES_DIR;
use crate::host::Host;
use crate::plan::File;
use crate::render::kubeconfig::{self, KUBECONFIG_MODE, KUBECONFIGS, KubeconfigSpec};

/// Where the certificate lives.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    Pki(&'static CertSpec),
    Kubeconfig(&'static KubeconfigSpec),
}

/// One renewable certificate, named as kubeadm names it.
#[derive(Debug, Clone, Copy)]
pub struct Renewable {
    /// `apiserver`, `etcd-peer`, `admin.conf`, ...
    pub name: &'static str,
    pub long_name: &'static str,
    pub source: Source,
    /// Base name of the signing CA under the PKI dir (`ca`, `front-proxy-ca`, `etcd/ca`).
    pub ca_base: &'static str,
}

impl Renewable {
    /// The CA's table name (`ca`, `front-proxy-ca`, `etcd-ca`), as check-expiration prints it.
    pub fn ca_name(&self) -> &'static str {
        table::spec_for_base(self.ca_base).map(|s| s.name).unwrap_or(self.ca_base)
    }
}

/// Every name `certs renew` knows, sorted as kubeadm sorts them.
pub fn all_renewables() -> Vec<Renewable> {
    let mut out: Vec<Renewable> = table::CERTS
        .iter()
        .filter(|c| !c.is_ca())
        .map(|c| Renewable {
            name: c.name,
            long_name: c.long_name(),
            source: Source::Pki(c),
            ca_base: c.ca.expect("leaves name their CA"),
        })
        .collect();
    out.extend(KUBECONFIGS.iter().filter(|k| k.name != "kubelet").map(|k| Renewable {
        name: k.file,
        long_name: k.long_name(),
        source: Source::Kubeconfig(k),
        ca_base: "ca",
    }));
    out.sort_by_key(|r| r.name);
    out
}

/// What renewal needs from the config, and where things are.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `certificatesDir` (node path).
    pub cert_dir: String,
    /// Where the kubeconfig files are (node path).
    pub kubernetes_dir: String,
    /// `certificateValidityPeriod`.
    pub validity: std::time::Duration,
    /// `encryptionAlgorithm`; `None`: a new key of the same type as the certificate's current one.
    pub algorithm: Option<EncryptionAlgorithm>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cert_dir: "/etc/kubernetes/pki".into(),
            kubernetes_dir: KUBERNETES_DIR.into(),
            validity: std::time::Duration::from_secs(8760 * 3600),
            algorithm: None,
        }
    }
}

impl Settings {
    pub fn from_config(cfg: &crate::config::NodeConfig) -> Self {
        Settings {
            cert_dir: cfg.cluster.certificates_dir.trim_end_matches('/').to_string(),
            kubernetes_dir: KUBERNETES_DIR.into(),
            validity: cfg.cluster.certificate_validity_period.as_duration(),
            algorithm: Some(cfg.cluster.encryption_algorithm),
        }
    }

    fn pki(&self, base: &str, ext: &str) -> String {
        format!("{}/{base}.{ext}", self.cert_dir.trim_end_matches('/'))
    }

    /// The file that holds the certificate (the .crt, or the kubeconfig).
    pub fn file_of(&self, r: &Renewable) -> String {
        match r.source {
            Source::Pki(spec) => self.pki(spec.base, "crt"),
            Source::Kubeconfig(k) => format!("{}/{}", self.kubernetes_dir.trim_end_matches('/'), k.file),
        }
    }

    /// A local etcd CA on disk means the etcd leaves belong to this node (kubeadm picks the
    /// list from `etcd.external`; the files say the same thing without a config).
    fn local_etcd(&self, host: &Host) -> bool {
        host.exists(self.pki("etcd/ca", "crt"))
    }

    /// The renewable certificates of this node.
    pub fn renewables(&self, host: &Host) -> Vec<Renewable> {
        let local_etcd = self.local_etcd(host);
        all_renewables().into_iter().filter(|r| local_etcd || !matches!(r.source, Source::Pki(s) if s.etcd)).collect()
    }

    /// The CAs of this node (`check-expiration`'s second table).
    pub fn cas(&self, host: &Host) -> Vec<&'static CertSpec> {
        let local_etcd = self.local_etcd(host);
        table::CERTS.iter().filter(|c| c.is_ca() && (local_etcd || !c.etcd)).collect()
    }

    /// kubeadm's external CA mode: the CA certificate without its key.
    pub fn is_external(&self, host: &Host, ca_base: &str) -> bool {
        host.exists(self.pki(ca_base, "crt")) && !host.exists(self.pki(ca_base, "key"))
    }
}

/// One row of `check-expiration`, and the facts `renew` decides on.
#[derive(Debug, Clone)]
pub struct Expiry {
    pub renewable: Renewable,
    /// `None`: the file does not exist.
    pub info: Option<CertInfo>,
    pub external: bool,
}

impl Expiry {
    /// Due for renewal with this window: expires at or before `now + within`.
    pub fn due(&self, now: OffsetDateTime, within: Option<std::time::Duration>) -> bool {
        match (&self.info, within) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(info), Some(w)) => info.not_after <= now + w,
        }
    }
}

/// Reads every renewable certificate of the node (check-expiration and renew share this).
pub fn inspect(host: &Host, s: &Settings) -> Result<Vec<Expiry>> {
    s.renewables(host)
        .into_iter()
        .map(|r| {
            let external = s.is_external(host, r.ca_base);
            let info = read_current(host, s, &r)?.map(|(info, _)| info);
            Ok(Expiry { renewable: r, info, external })
        })
        .collect()
}

/// The certificate in its file (and the file's text for a kubeconfig), or `None` when absent.
fn read_current(host: &Host, s: &Settings, r: &Renewable) -> Result<Option<(CertInfo, Vec<u8>)>> {
    let path = s.file_of(r);
    let bytes = match host.read_opt(&path) {
        Ok(Some(b)) => b,
        // A parent that is not a directory holds no certificate either (kubeadm: os.Stat fails).
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", host.path(&path).display())),
    };
    let der = match r.source {
        Source::Pki(_) => cert_der_from_pem(&bytes),
        Source::Kubeconfig(_) => {
            let text = std::str::from_utf8(&bytes).map_err(|_| anyhow!("{path} is not UTF-8"))?;
            cert_der_from_pem(&kubeconfig::client_cert_pem(&path, text)?)
        }
    }
    .with_context(|| format!("failed to load existing certificate {path}"))?;
    let info = CertInfo::parse(&der).with_context(|| path.clone())?;
    Ok(Some((info, bytes)))
}

/// What renew decided for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Re-issued: old and new notAfter.
    Renewed {
        old_not_after: OffsetDateTime,
        new_not_after: OffsetDateTime,
    },
    /// Outside the `--expiring-within` window.
    NotDue {
        not_after: OffsetDateTime,
    },
    Missing,
    /// Signed by a CA whose key is absent.
    External,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub renewable: Renewable,
    pub decision: Decision,
}

impl Outcome {
    /// kubeadm's line for this certificate (`... renewed`, `MISSING! ...`), or kubeboot's for one
    /// left alone because it is not due.
    pub fn line(&self, dry_run: bool) -> String {
        let r = &self.renewable;
        match &self.decision {
            Decision::Renewed { new_not_after, .. } if dry_run => {
                format!("{} would be renewed (until about {})", r.long_name, rfc3339(*new_not_after))
            }
            Decision::Renewed { .. } => format!("{} renewed", r.long_name),
            Decision::NotDue { not_after } => {
                format!("{} ({}) is not due for renewal: it expires {}", r.long_name, r.name, rfc3339(*not_after))
            }
            Decision::Missing => format!("MISSING! {}", r.long_name),
            Decision::External => format!("Detected external {}, {} can't be renewed", r.ca_base, r.long_name),
        }
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A renewal worked out in full before anything is written.
#[derive(Debug)]
pub struct Plan {
    pub outcomes: Vec<Outcome>,
    /// The new files (certificates, keys, kubeconfigs), each with the mode of the file it replaces.
    pub files: Vec<File>,
}

impl Plan {
    pub fn renewed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| matches!(o.decision, Decision::Renewed { .. }))
    }

    /// The earliest notAfter among the node's renewable certificates once this plan is applied.
    pub fn next_expiry(&self) -> Option<(&'static str, OffsetDateTime)> {
        self.outcomes
            .iter()
            .filter_map(|o| match o.decision {
                Decision::Renewed { new_not_after: t, .. } | Decision::NotDue { not_after: t } => {
                    Some((o.renewable.name, t))
                }
                _ => None,
            })
            .min_by_key(|(_, t)| *t)
    }
}

/// Works out the renewal of `names` (empty or `all`: every renewable certificate of the node)
/// with an optional due window. An unknown name fails before anything is read.
pub fn plan(
    host: &Host,
    s: &Settings,
    names: &[String],
    within: Option<std::time::Duration>,
    now: OffsetDateTime,
) -> Result<Plan> {
    let available = s.renewables(host);
    let selected: Vec<Renewable> = if names.is_empty() || names.iter().any(|n| n == "all") {
        if names.len() > 1 {
            bail!("`all` cannot be combined with other certificate names");
        }
        available
    } else {
        let mut v = Vec::new();
        for n in names {
            let r = available.iter().find(|r| r.name == n).with_context(|| {
                let valid: Vec<&str> = available.iter().map(|r| r.name).collect();
                format!("{n} is not a valid certificate for this cluster; valid names: all, {}", valid.join(", "))
            })?;
            if !v.iter().any(|x: &Renewable| x.name == r.name) {
                v.push(*r);
            }
        }
        v
    };

    // Read and decide everything first.
    struct Job {
        r: Renewable,
        info: CertInfo,
        bytes: Vec<u8>,
    }
    let mut outcomes = Vec::new();
    let mut jobs = Vec::new();
    for r in selected {
        let Some((info, bytes)) = read_current(host, s, &r)? else {
            outcomes.push(Outcome { renewable: r, decision: Decision::Missing });
            continue;
        };
        if s.is_external(host, r.ca_base) {
            outcomes.push(Outcome { renewable: r, decision: Decision::External });
            continue;
        }
        let e = Expiry { renewable: r, info: Some(info.clone()), external: false };
        if !e.due(now, within) {
            outcomes.push(Outcome { renewable: r, decision: Decision::NotDue { not_after: info.not_after } });
            continue;
        }
        if info.other_usages {
            bail!(
                "{}: the certificate has extended key usages other than serverAuth/clientAuth, which kubeboot \
                 does not reproduce; renew it with kubeadm or replace it by hand",
                s.file_of(&r)
            );
        }
        outcomes.push(Outcome { renewable: r, decision: Decision::Missing }); // set below
        jobs.push((outcomes.len() - 1, Job { r, info, bytes }));
    }

    // Keys: one parallel batch per algorithm.
    let mut by_alg: Vec<(EncryptionAlgorithm, usize)> = Vec::new();
    let mut algs = Vec::new();
    for (_, j) in &jobs {
        let alg = match s.algorithm.or(j.info.key_algorithm) {
            Some(a) => a,
            None => {
                bail!("{}: cannot tell which kind of key to make; set cluster.encryptionAlgorithm", s.file_of(&j.r))
            }
        };
        algs.push(alg);
        match by_alg.iter_mut().find(|(a, _)| *a == alg) {
            Some((_, n)) => *n += 1,
            None => by_alg.push((alg, 1)),
        }
    }
    let mut pools: Vec<(EncryptionAlgorithm, Vec<PrivateKey>)> = Vec::new();
    for (alg, n) in by_alg {
        pools.push((alg, generate_many(alg, n)?));
    }

    let validity = time::Duration::try_from(s.validity).context("certificateValidityPeriod too large")?;
    let mut authorities: Vec<Authority> = Vec::new();
    let mut files = Vec::new();
    for ((slot, job), alg) in jobs.into_iter().zip(algs) {
        if !authorities.iter().any(|a| a.base == job.r.ca_base) {
            authorities.push(load_ca(host, s, job.r.ca_base, now)?);
        }
        let ca = authorities.iter().find(|a| a.base == job.r.ca_base).expect("loaded above");
        let key = pools.iter_mut().find(|(a, _)| *a == alg).and_then(|(_, p)| p.pop()).expect("one key per job");
        let req = CertRequest {
            cn: job.info.cn.clone(),
            orgs: job.info.orgs.clone(),
            usages: job.info.usages.clone(),
            sans: SanList { dns: job.info.dns.clone(), ips: job.info.ips.clone() },
            not_before: ca.info()?.not_before,
            not_after: now + validity,
        };
        let der = ca.sign(&req, &key).with_context(|| format!("failed to renew certificate {}", job.r.name))?;
        let cert_pem = pem_text("CERTIFICATE", &der);
        let path = s.file_of(&job.r);
        match job.r.source {
            Source::Pki(spec) => {
                let key_path = s.pki(spec.base, "key");
                let reason = format!("{} (renewed)", job.r.long_name);
                files.push(File::new(&path, mode_of(host, &path, CERT_MODE), cert_pem, reason.clone()));
                files.push(File::new(&key_path, mode_of(host, &key_path, KEY_MODE), key.pem(), reason).secret());
            }
            Source::Kubeconfig(_) => {
                let text = std::str::from_utf8(&job.bytes).map_err(|_| anyhow!("{path} is not UTF-8"))?;
                let new = kubeconfig::replace_credentials(&path, text, &ca.cert_pem(), &cert_pem, key.pem())?;
                let reason = format!("{} (renewed)", job.r.long_name);
                files.push(File::new(&path, mode_of(host, &path, KUBECONFIG_MODE), new, reason).secret());
            }
        }
        outcomes[slot].decision = Decision::Renewed { old_not_after: job.info.not_after, new_not_after: req.not_after };
    }
    Ok(Plan { outcomes, files })
}

/// Writes a plan's files in one batch (each atomically, modes as planned).
pub fn apply(host: &Host, plan: &Plan) -> Result<()> {
    if plan.files.is_empty() {
        return Ok(());
    }
    host.apply_files(&plan.files)?;
    Ok(())
}

/// The mode of the file being replaced, so renewal keeps what the operator (or kubeadm) set.
fn mode_of(host: &Host, node_path: &str, default: u32) -> u32 {
    std::fs::symlink_metadata(host.path(node_path))
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(default)
}

/// Loads a CA with its key for signing and checks it: a CA, current, matching its key.
pub fn load_ca(host: &Host, s: &Settings, base: &str, now: OffsetDateTime) -> Result<Authority> {
    let (crt, key) = (s.pki(base, "crt"), s.pki(base, "key"));
    let cert = host.read(&crt).with_context(|| format!("failed to load the {base} certificate {crt}"))?;
    let cert_der = cert_der_from_pem(&cert).with_context(|| crt.clone())?;
    let key_text = host.read_to_string(&key).with_context(|| format!("failed to load the {base} key {key}"))?;
    let key = PrivateKey::from_pem(&key_text).with_context(|| key.clone())?;
    let authority = Authority { base: base.to_string(), cert_der, key: Some(key) };
    super::check_ca(&authority, &crt, now)?;
    Ok(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kubeadms() {
        let names: Vec<_> = all_renewables().iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "admin.conf",
                "apiserver",
                "apiserver-etcd-client",
                "apiserver-kubelet-client",
                "controller-manager.conf",
                "etcd-healthcheck-client",
                "etcd-peer",
                "etcd-server",
                "front-proxy-client",
                "scheduler.conf",
                "super-admin.conf",
            ]
        );
        let r = all_renewables().into_iter().find(|r| r.name == "etcd-peer").unwrap();
        assert_eq!((r.ca_base, r.ca_name()), ("etcd/ca", "etcd-ca"));
    }
}
