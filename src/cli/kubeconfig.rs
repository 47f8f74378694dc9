//! `kubeboot kubeconfig user`: kubeadm's `kubeconfig user` — a kubeconfig for another user,
//! with a client certificate signed by the cluster CA, printed on stdout (nothing is written).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::Global;
use crate::error::{Exit, coded};
use crate::pki::table::{SanList, Usage};
use crate::pki::{self, CertRequest};

#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Print a kubeconfig for a user, signed by the cluster CA (kubeadm kubeconfig user).
    User(UserArgs),
}

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// The user: the client certificate's CN and the kubeconfig's user name.
    #[arg(long)]
    pub client_name: String,
    /// A group (the certificate's O); repeat for several.
    #[arg(long = "org", value_name = "GROUP")]
    pub orgs: Vec<String>,
    /// How long the client certificate is valid (Go duration; default: certificateValidityPeriod, 8760h).
    #[arg(long, value_name = "DURATION")]
    pub validity_period: Option<String>,
    /// The node's config (default: the user-data this node was provisioned from).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

pub fn run(g: &Global, c: KubeconfigCommand) -> Result<ExitCode> {
    match c {
        KubeconfigCommand::User(a) => user(g, a),
    }
}

fn user(g: &Global, a: UserArgs) -> Result<ExitCode> {
    let host = g.host();
    if a.client_name.trim().is_empty() {
        return Err(coded(Exit::InvalidInput, "--client-name must not be empty"));
    }
    if a.orgs.iter().any(|o| o.trim().is_empty()) {
        return Err(coded(Exit::InvalidInput, "--org must not be empty"));
    }
    if a.orgs.len() > 2 {
        return Err(coded(
            Exit::InvalidInput,
            "at most two --org values are supported (kubeboot's certificate writer keeps two organizations)",
        ));
    }
    let validity = match &a.validity_period {
        Some(v) => {
            let d = crate::config::duration::GoDuration::parse(v)
                .map_err(|e| coded(Exit::InvalidInput, format!("--validity-period {v}: {e}")))?;
            if d.as_duration().is_zero() {
                return Err(coded(Exit::InvalidInput, "--validity-period must be longer than 0s"));
            }
            Some(d)
        }
        None => None,
    };
    let (origin, cfg) = crate::renewal::node_config(&host, a.config.as_deref())?.ok_or_else(|| {
        coded(
            Exit::InvalidInput,
            "no config: pass --config FILE (this node has no provisioned user-data under /var/lib/kubeboot)",
        )
    })?;
    let node = crate::config::Resolved::new(cfg, &crate::config::HostIdentity::detect(&host))
        .with_context(|| format!("resolving {origin}"))?;
    let settings = pki::renew::Settings::from_config(&node.cfg);
    let now = pki::now();
    let ca = pki::renew::load_ca(&host, &settings, "ca", now).context("the cluster CA signs the user's certificate")?;
    let validity = validity.unwrap_or(node.cfg.cluster.certificate_validity_period);
    let key = pki::PrivateKey::generate(node.cfg.cluster.encryption_algorithm)?;
    let req = CertRequest {
        cn: a.client_name.clone(),
        orgs: a.orgs.clone(),
        usages: vec![Usage::ClientAuth],
        sans: SanList::default(),
        not_before: ca.info()?.not_before,
        not_after: now + time::Duration::try_from(validity.as_duration()).context("--validity-period too large")?,
    };
    let cert = ca.sign(&req, &key)?;
    let text = crate::render::kubeconfig::render_user(
        &node.cfg.cluster.name,
        &node.control_plane_endpoint_url(),
        &a.client_name,
        &ca.cert_pem(),
        &pki::pem_text("CERTIFICATE", &cert),
        key.pem(),
    )?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
