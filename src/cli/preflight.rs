//! `kubeboot preflight`: check this host against the config without changing anything.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Checks whose errors become warnings (case-insensitive, `all`).
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Machine-readable findings.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_g: &Global, _a: PreflightArgs) -> Result<ExitCode> {
    Err(crate::error::not_implemented("preflight"))
}
