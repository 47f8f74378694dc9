//! `kubeboot init`: the first control-plane node, phase by phase like `kubeadm init`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::Global;
use crate::workflow::{self, phases};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// User-data / config file (NodeConfig, kubeadm documents, or #cloud-config).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Phases to skip (kubeadm names, `addon/kube-proxy` style allowed).
    #[arg(long, global = true, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Preflight checks whose errors become warnings (case-insensitive, `all`).
    #[arg(long, global = true, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Directory of kubeadm patch files (`target[suffix][+patchtype].json|yaml`); overrides the config's `patches.directory`.
    #[arg(long, global = true, value_name = "DIR")]
    pub patches: Option<String>,
    /// Upload control-plane certificates to the kubeadm-certs Secret.
    #[arg(long, global = true)]
    pub upload_certs: bool,
    #[command(subcommand)]
    pub sub: Option<InitSub>,
}

#[derive(Debug, Subcommand)]
pub enum InitSub {
    /// Run one phase of init (`kubeboot init phase certs all`).
    Phase(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// Phase name.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(phases::names(phases::INIT)))]
    pub name: String,
    /// Sub-phase (e.g. `apiserver`), or `all`.
    pub sub: Option<String>,
}

pub fn run(g: &Global, a: InitArgs) -> Result<ExitCode> {
    let mut ctx = super::load_ctx(g, a.config.as_deref(), &a.ignore_preflight_errors, &a.skip_phases)?;
    super::override_patches(&mut ctx, a.patches);
    if a.upload_certs {
        ctx.node.cfg.upload_certs = true;
    }
    super::require_role(&ctx, &[crate::config::Role::ControlPlane], "init")?;
    ctx.show_join_command = true;
    let _lock = super::host_lock(&ctx, "init")?;
    match a.sub {
        Some(InitSub::Phase(p)) => workflow::run_one(&mut ctx, phases::INIT, &p.name, p.sub.as_deref())?,
        None => workflow::run_phases(&mut ctx, phases::INIT, &mut workflow::NoObserver)?,
    }
    Ok(ExitCode::SUCCESS)
}
