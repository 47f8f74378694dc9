//! `kubeboot preflight`: check this host against the config without changing anything.
//! Exit 0 when no error remains, 3 when one does (warnings never fail), 2 for a bad config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::error::{Exit, coded};
use crate::preflight::{self, IgnoreList};

#[derive(Debug, Args)]
pub struct PreflightArgs {
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Checks whose errors become warnings (case-insensitive, `all`).
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Machine-readable findings: {"errors", "warnings", "findings": [{name, severity, message, ignored}]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, a: PreflightArgs) -> Result<ExitCode> {
    let ctx = super::load_ctx(g, a.config.as_deref(), &a.ignore_preflight_errors, &[])?;
    let ignore = IgnoreList::parse(&ctx.ignore_preflight).map_err(|e| coded(Exit::InvalidInput, e))?;
    let report = preflight::check_node(&ctx.host, &ctx.node, &ignore, false);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render_human());
        println!("[preflight] {}", report.summary());
    }
    Ok(if report.errors() > 0 { ExitCode::from(Exit::Preflight as u8) } else { ExitCode::SUCCESS })
}
