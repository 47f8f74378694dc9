//! `kubeboot reset`: remove what init/join wrote (kubeadm reset's cleanup-node).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub force: bool,
}

pub fn run(_g: &Global, _a: ResetArgs) -> Result<ExitCode> {
    Err(crate::error::not_implemented("reset"))
}
