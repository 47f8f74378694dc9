//! `kubeboot status`: what the first-boot run is doing or how it ended.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Block until the run has finished.
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
    /// Per-phase detail.
    #[arg(long)]
    pub long: bool,
}

pub fn run(_g: &Global, _a: StatusArgs) -> Result<ExitCode> {
    Err(crate::error::not_implemented("status"))
}
