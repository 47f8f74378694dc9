//! `kubeboot render`: the files `kubeadm init` would write (certificates, kubeconfigs, static
//! Pod manifests, kubelet files), laid down under --root. No preflight, no services, no API.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::workflow::{self, phases};

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// User-data / config file of a control-plane node.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of kubeadm patch files (`target[suffix][+patchtype].json|yaml`); overrides the config's `patches.directory`.
    #[arg(long, value_name = "DIR")]
    pub patches: Option<String>,
}

pub fn run(g: &Global, a: RenderArgs) -> Result<ExitCode> {
    let mut ctx = super::load_ctx(g, a.config.as_deref(), &[], &[])?;
    super::override_patches(&mut ctx, a.patches);
    super::require_role(&ctx, &[crate::config::Role::ControlPlane], "render")?;
    ctx.render_only = true;
    // Rendering into a scratch root changes no host and must leave only the node's files there.
    let _lock = if ctx.host.is_live() { super::host_lock(&ctx, "render")? } else { None };
    for name in phases::RENDER {
        if ctx.skipped(name) {
            ctx.say(name, "skipped");
            continue;
        }
        workflow::run_one(&mut ctx, phases::INIT, name, None)?;
    }
    Ok(ExitCode::SUCCESS)
}
