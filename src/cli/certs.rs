//! `kubeboot certs`: renew certificates, inspect them, print the CA pin, make a certificate key.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use time::OffsetDateTime;

use super::Global;
use crate::pki::{self, CertInfo};

const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Renew certificates as `kubeadm certs renew` does: same subject, SANs and usages, a new
    /// key, signed by the existing CA. Names: all, apiserver, apiserver-kubelet-client,
    /// apiserver-etcd-client, front-proxy-client, etcd-server, etcd-peer,
    /// etcd-healthcheck-client, admin.conf, super-admin.conf, controller-manager.conf,
    /// scheduler.conf.
    Renew(RenewArgs),
    /// Show expiry of every kubeadm certificate under the root.
    CheckExpiration {
        /// Where the certificates are (`certificatesDir`).
        #[arg(long, default_value = DEFAULT_CERT_DIR)]
        cert_dir: String,
    },
    /// Keys and CSRs for every certificate and kubeconfig, for an external CA (kubeadm's
    /// generate-csr): `<cert>.key` + `<cert>.csr` in the PKI dir, and kubeconfigs holding only
    /// their client key + `<file>.conf.csr` in the kubeconfig dir.
    GenerateCsr {
        /// The node's config (default: the user-data this node was provisioned from).
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
        /// Where to write keys and CSRs (default: the config's `certificatesDir`).
        #[arg(long)]
        cert_dir: Option<String>,
        /// Where to write the kubeconfig files and their CSRs.
        #[arg(long, default_value = "/etc/kubernetes")]
        kubeconfig_dir: String,
    },
    /// Print a new random certificate key (64 hex characters) for upload-certs.
    CertificateKey,
    /// Print the `sha256:` pin of the cluster CA (for join.caCertHashes).
    CaHash {
        #[arg(long, default_value = DEFAULT_CERT_DIR)]
        cert_dir: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct RenewArgs {
    /// Certificates to renew (`all` for every one this node has).
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    /// Renew only certificates that expire within this duration (Go syntax, `720h`). Without a
    /// value: the config's `certificateRenewal.before`, and nothing when
    /// `certificateRenewal.enabled` is false (what the timer runs).
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "config")]
    pub expiring_within: Option<String>,
    /// Then restart the components that use renewed files, one at a time, each healthy before
    /// the next (static Pods through the kubelet).
    #[arg(long)]
    pub restart: bool,
    /// The node's config (default: the user-data this node was provisioned from, else kubeadm's defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Where the certificates are (default: the config's `certificatesDir`).
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// What started this run, for the status (`manual`, `timer`, `boot`).
    #[arg(long, default_value = "manual", hide = true)]
    pub trigger: String,
    /// How long each restart step may wait (Go duration).
    #[arg(long, default_value = "4m")]
    pub restart_timeout: String,
}

fn renew(g: &Global, a: RenewArgs) -> Result<ExitCode> {
    use crate::error::{Exit, coded};
    use crate::renewal::{self, Window};
    let host = g.host();
    let window = match a.expiring_within.as_deref() {
        None => Window::Always,
        Some("config") => Window::Configured,
        Some(d) => Window::Within(
            crate::config::duration::GoDuration::parse(d)
                .map_err(|e| coded(Exit::InvalidInput, format!("--expiring-within {d}: {e}")))?
                .as_duration(),
        ),
    };
    let restart_timeout = crate::config::duration::GoDuration::parse(&a.restart_timeout)
        .map_err(|e| coded(Exit::InvalidInput, format!("--restart-timeout {}: {e}", a.restart_timeout)))?;
    let cfg = renewal::node_config(&host, a.config.as_deref())?;
    if let Some((origin, _)) = &cfg {
        tracing::info!("renewal settings from {origin}");
    }
    let cfg = cfg.map(|(_, c)| c);
    let opts = renewal::Options {
        trigger: &a.trigger,
        names: a.names.clone(),
        window,
        restart: a.restart,
        restart_options: crate::host::restart::RestartOptions {
            timeout: restart_timeout.as_duration(),
            ..Default::default()
        },
        dry_run: g.dry_run,
        cert_dir: a.cert_dir.clone(),
    };
    // A name that does not exist is an input error: refuse before anything else happens.
    let settings = cfg.as_ref().map(crate::pki::renew::Settings::from_config).unwrap_or_default();
    let settings =
        crate::pki::renew::Settings { cert_dir: a.cert_dir.clone().unwrap_or(settings.cert_dir), ..settings };
    if a.names.len() > 1 && a.names.iter().any(|n| n == "all") {
        return Err(coded(Exit::InvalidInput, "`all` cannot be combined with other certificate names"));
    }
    let known = settings.renewables(&host);
    for n in a.names.iter().filter(|n| *n != "all") {
        if !known.iter().any(|r| r.name == n) {
            let valid: Vec<&str> = known.iter().map(|r| r.name).collect();
            return Err(coded(
                Exit::InvalidInput,
                format!("{n} is not a valid certificate for this cluster; valid names: all, {}", valid.join(", ")),
            ));
        }
    }
    // One kubeboot at a time on a node: first boot (which renews at boot itself), the timer,
    // an operator. A second one exits 75 (busy) without writing.
    let _lock = if g.dry_run { None } else { Some(crate::workflow::lock::HostLock::acquire(&host, "certs renew")?) };
    let mut pods = if a.restart && !g.dry_run { renewal::live_pods(&host) } else { None };
    let pods_dyn = pods.as_mut().map(|p| p as &mut dyn crate::host::restart::Pods);
    let mut say = |line: String| println!("{line}");
    let status = renewal::run(&host, cfg.as_ref(), &opts, pods_dyn, &mut say);
    if g.dry_run {
        if let Some(e) = &status.error {
            anyhow::bail!("{e}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if renewal::worth_saving(&host, &status) {
        renewal::save(&host, cfg.as_ref(), &status)?;
    }
    if status.state == renewal::RenewalState::Done
        && !status.renewed.is_empty()
        && !a.restart
        && opts.trigger == "manual"
    {
        println!(
            "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, \
             kube-scheduler and etcd, so that they can use the new certificates."
        );
    }
    renewal::announce(&status);
    Ok(if status.state == renewal::RenewalState::Failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn generate_csr(
    g: &Global,
    config: Option<&std::path::Path>,
    cert_dir: Option<String>,
    kubeconfig_dir: &str,
) -> Result<ExitCode> {
    use crate::error::{Exit, coded};
    let host = g.host();
    let (origin, cfg) = crate::renewal::node_config(&host, config)?.ok_or_else(|| {
        coded(
            Exit::InvalidInput,
            "generate-csr needs the node's config (SANs, node name, endpoints): pass --config FILE",
        )
    })?;
    let node = crate::config::Resolved::new(cfg, &crate::config::HostIdentity::detect(&host))
        .map_err(|e| coded(Exit::InvalidInput, format!("{origin}: {e:#}")))?;
    let cert_dir = cert_dir.unwrap_or_else(|| node.pki_dir().to_string());
    let (files, lines) = pki::csr::plan(&host, &node, &cert_dir, kubeconfig_dir)
        .map_err(|e| coded(Exit::InvalidInput, format!("{e:#}")))?;
    if g.dry_run {
        for f in &files {
            println!("would write {} (mode {:04o}): {}", f.path, f.mode, f.reason);
        }
        return Ok(ExitCode::SUCCESS);
    }
    host.apply_files(&files)?;
    for l in lines {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &Global, c: CertsCommand) -> Result<ExitCode> {
    match c {
        CertsCommand::Renew(a) => renew(g, a),
        CertsCommand::GenerateCsr { config, cert_dir, kubeconfig_dir } => {
            generate_csr(g, config.as_deref(), cert_dir, &kubeconfig_dir)
        }
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

/// kubeadm's table, from the same inspection `certs renew` decides on: a certificate shown
/// here is one renew knows, with the CA renew would sign it with.
fn check_expiration(g: &Global, cert_dir: &str) -> Result<ExitCode> {
    use crate::pki::renew;
    let host = g.host();
    let settings = renew::Settings { cert_dir: cert_dir.trim_end_matches('/').to_string(), ..Default::default() };
    let now = pki::now();
    println!(
        "{:<26} {:<25} {:<15} {:<23} EXTERNALLY MANAGED",
        "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY"
    );
    for e in renew::inspect(&host, &settings)? {
        let r = &e.renewable;
        match &e.info {
            Some(info) => {
                let (expires, residual) = describe(Some(info), now);
                println!("{:<26} {:<25} {:<15} {:<23} {}", r.name, expires, residual, r.ca_name(), yes_no(e.external));
            }
            None => println!("!MISSING! {}", r.name),
        }
    }
    println!();
    println!("{:<23} {:<25} {:<15} EXTERNALLY MANAGED", "CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME");
    for spec in settings.cas(&host) {
        let path = format!("{cert_dir}/{}.crt", spec.base);
        let info = match host.read_opt(&path)? {
            Some(pem) => Some(CertInfo::parse(&pki::cert_der_from_pem(&pem).with_context(|| path.clone())?)?),
            None => None,
        };
        match info {
            Some(info) => {
                let (expires, residual) = describe(Some(&info), now);
                println!(
                    "{:<23} {:<25} {:<15} {}",
                    spec.name,
                    expires,
                    residual,
                    yes_no(settings.is_external(&host, spec.base))
                );
            }
            None => println!("!MISSING! {}", spec.name),
        }
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
