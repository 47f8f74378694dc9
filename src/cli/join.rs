//! `kubeboot join`: a worker or an extra control-plane node, like `kubeadm join`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::Global;
use crate::workflow::{self, phases};

#[derive(Debug, Args)]
pub struct JoinArgs {
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
    #[command(subcommand)]
    pub sub: Option<JoinSub>,
}

#[derive(Debug, Subcommand)]
pub enum JoinSub {
    /// Run one phase of join (`kubeboot join phase discovery`).
    Phase(PhaseArgs),
}

#[derive(Debug, Args)]
pub struct PhaseArgs {
    /// Phase name.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(phases::names(phases::JOIN)))]
    pub name: String,
    /// Sub-phase (e.g. `apiserver`), or `all`.
    pub sub: Option<String>,
}

pub fn run(g: &Global, a: JoinArgs) -> Result<ExitCode> {
    let mut ctx = super::load_ctx(g, a.config.as_deref(), &a.ignore_preflight_errors, &a.skip_phases)?;
    super::override_patches(&mut ctx, a.patches);
    super::require_role(&ctx, &[crate::config::Role::Worker, crate::config::Role::ControlPlaneJoin], "join")?;
    let _lock = super::host_lock(&ctx, "join")?;
    match a.sub {
        Some(JoinSub::Phase(p)) => workflow::run_one(&mut ctx, phases::JOIN, &p.name, p.sub.as_deref())?,
        None => workflow::run_phases(&mut ctx, phases::JOIN, &mut workflow::NoObserver)?,
    }
    Ok(ExitCode::SUCCESS)
}
