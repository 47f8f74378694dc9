//! `kubeboot run`: the first-boot entry point systemd starts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Read user-data from this file instead of probing datasources.
    #[arg(long, value_name = "FILE")]
    pub user_data: Option<PathBuf>,
    /// Resume even if the user-data changed since the interrupted run started.
    #[arg(long)]
    pub force: bool,
}

pub fn run(_g: &Global, _a: RunArgs) -> Result<ExitCode> {
    Err(crate::error::not_implemented("run (datasources, journal and reporting)"))
}
