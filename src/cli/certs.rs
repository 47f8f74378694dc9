//! `kubeboot certs`: inspect certificates, print the CA pin, make a certificate key.

use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine;
use clap::Subcommand;
use time::OffsetDateTime;

use super::Global;
use crate::pki::{self, CertInfo};
use crate::render::kubeconfig::KUBECONFIGS;

const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show expiry of every kubeadm certificate under the root.
    CheckExpiration {
        /// Where the certificates are (`certificatesDir`).
        #[arg(long, default_value = DEFAULT_CERT_DIR)]
        cert_dir: String,
    },
    /// Print a new random certificate key (64 hex characters) for upload-certs.
    CertificateKey,
    /// Print the `sha256:` pin of the cluster CA (for join.caCertHashes).
    CaHash {
        #[arg(long, default_value = DEFAULT_CERT_DIR)]
        cert_dir: String,
    },
}

pub fn run(g: &Global, c: CertsCommand) -> Result<ExitCode> {
    match c {
        CertsCommand::CheckExpiration { cert_dir } => check_expiration(g, &cert_dir),
        CertsCommand::CertificateKey => {
            let mut key = [0u8; 32];
            aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
            println!("{}", key.iter().map(|b| format!("{b:02x}")).collect::<String>());
            Ok(ExitCode::SUCCESS)
        }
        CertsCommand::CaHash { cert_dir } => {
            let path = format!("{}/ca.crt", cert_dir.trim_end_matches('/'));
            let host = g.host();
            let pem = host.read(&path).with_context(|| format!("reading {}", host.path(&path).display()))?;
            println!("{}", pki::ca_cert_hash(&pki::cert_der_from_pem(&pem).with_context(|| path.clone())?)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One row of the report: what, when it expires, who signed it, whether kubeboot can renew it.
struct Row {
    name: String,
    info: Option<CertInfo>,
    ca: &'static str,
    external: bool,
}

fn check_expiration(g: &Global, cert_dir: &str) -> Result<ExitCode> {
    let host = g.host();
    let read_cert = |path: &str| -> Result<Option<CertInfo>> {
        match host.read_opt(path)? {
            Some(pem) => Ok(Some(CertInfo::parse(&pki::cert_der_from_pem(&pem).with_context(|| path.to_string())?)?)),
            None => Ok(None),
        }
    };
    let key_missing = |base: &str| !host.exists(format!("{cert_dir}/{base}.key"));
    let mut leaves = Vec::new();
    for k in KUBECONFIGS.iter().filter(|k| k.name != "kubelet") {
        let path = k.path();
        let info = match host.read_opt(&path)? {
            Some(bytes) => kubeconfig_client_cert(&bytes).with_context(|| path.clone())?,
            None => None,
        };
        leaves.push(Row { name: k.file.to_string(), info, ca: "ca", external: key_missing("ca") });
    }
    // With external etcd there is no etcd CA and none of its certificates.
    let local_etcd = host.exists(format!("{cert_dir}/etcd/ca.crt"));
    for spec in pki::table::CERTS.iter().filter(|c| !c.is_ca() && (local_etcd || !c.etcd)) {
        let ca = spec.ca.unwrap_or_default();
        let info = read_cert(&format!("{cert_dir}/{}.crt", spec.base))?;
        let ca_name = pki::table::spec_for_base(ca).map(|s| s.name).unwrap_or(ca);
        leaves.push(Row { name: spec.name.to_string(), info, ca: ca_name, external: key_missing(ca) });
    }
    leaves.sort_by(|a, b| a.name.cmp(&b.name));
    let now = pki::now();
    println!(
        "{:<26} {:<25} {:<15} {:<23} EXTERNALLY MANAGED",
        "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY"
    );
    for r in &leaves {
        let (expires, residual) = describe(r.info.as_ref(), now);
        println!("{:<26} {:<25} {:<15} {:<23} {}", r.name, expires, residual, r.ca, yes_no(r.external));
    }
    println!();
    println!("{:<23} {:<25} {:<15} EXTERNALLY MANAGED", "CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME");
    for spec in pki::table::CERTS.iter().filter(|c| c.is_ca() && (local_etcd || !c.etcd)) {
        let info = read_cert(&format!("{cert_dir}/{}.crt", spec.base))?;
        let (expires, residual) = describe(info.as_ref(), now);
        println!(
            "{:<23} {:<25} {:<15} {}",
            spec.name,
            expires,
            residual,
            yes_no(info.is_some() && key_missing(spec.base))
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// kubeadm's columns: `Nov 25, 2027 08:00 UTC` and a residual like `364d`, `9y` or `<invalid>`.
fn describe(info: Option<&CertInfo>, now: OffsetDateTime) -> (String, String) {
    let Some(info) = info else { return ("!MISSING!".into(), String::new()) };
    let t = info.not_after;
    let expires = format!(
        "{} {:02}, {} {:02}:{:02} UTC",
        &format!("{:?}", t.month())[..3],
        t.day(),
        t.year(),
        t.hour(),
        t.minute()
    );
    (expires, short_human_duration(info.not_after - now))
}

/// apimachinery `duration.ShortHumanDuration`, which kubeadm prints as RESIDUAL TIME.
fn short_human_duration(d: time::Duration) -> String {
    let secs = d.whole_seconds();
    match secs {
        ..-1 => "<invalid>".into(),
        -1..=0 => "0s".into(),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ if secs / 3600 < 24 * 365 => format!("{}d", secs / 86400),
        _ => format!("{}y", secs / (86400 * 365)),
    }
}

/// The embedded client certificate of a kubeconfig's first user, if it has one.
fn kubeconfig_client_cert(bytes: &[u8]) -> Result<Option<CertInfo>> {
    let config = kube::config::Kubeconfig::from_yaml(std::str::from_utf8(bytes)?)?;
    let Some(data) =
        config.auth_infos.first().and_then(|a| a.auth_info.as_ref()).and_then(|a| a.client_certificate_data.clone())
    else {
        return Ok(None);
    };
    let pem = base64::engine::general_purpose::STANDARD.decode(data.trim())?;
    Ok(Some(CertInfo::parse(&pki::cert_der_from_pem(&pem)?)?))
}
