//! Cluster-side steps of `kubeadm init` through the Kubernetes API (kube-rs): the control-plane
//! wait, upload-config, upload-certs, mark-control-plane, bootstrap-token, kubelet-finalize and
//! the addons (reference §6–§10, §12.5, §14). Every write is idempotent, so any phase can be run
//! again (`kubeboot init phase <name>`) and changes nothing when the cluster already matches.

pub mod addons;
pub mod bootstraptoken;
pub mod client;
pub mod copycerts;
pub mod joininfo;
pub mod kubeletfinalize;
pub mod markcontrolplane;
mod rbac;
pub mod uploadconfig;
pub mod wait;

use std::time::Duration;

use anyhow::{Context, Result};

use crate::host::Host;
use crate::workflow::{Ctx, block_on};
pub use client::{ApiClient, ApiError, Outcome};
pub use joininfo::print_join_instructions;

pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
pub const SUPER_ADMIN_CONF: &str = "/etc/kubernetes/super-admin.conf";
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// kubeboot's own state: generated secrets that must survive a crash so a resumed run reuses them.
pub const STATE_DIR: &str = "/var/lib/kubeboot";
pub const KUBE_SYSTEM: &str = "kube-system";
pub const KUBE_PUBLIC: &str = "kube-public";
/// The group every kubeadm bootstrap token authenticates into.
pub const NODE_BOOTSTRAP_GROUP: &str = crate::config::DEFAULT_TOKEN_GROUP;
pub const NODES_GROUP: &str = "system:nodes";

pub fn phase_wait_control_plane(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    wait::run(ctx)
}

pub fn phase_upload_config(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    let ctx = &*ctx;
    if dry_run(ctx, "upload-config", "ConfigMaps kubeadm-config and kubelet-config with their Roles and RoleBindings") {
        return Ok(());
    }
    block_on(async {
        let client = admin_client(ctx).await?;
        if matches!(sub, None | Some("kubeadm")) && !skipped_part(ctx, sub, "upload-config/kubeadm") {
            uploadconfig::upload_kubeadm_config(ctx, &client).await?;
        }
        if matches!(sub, None | Some("kubelet")) && !skipped_part(ctx, sub, "upload-config/kubelet") {
            uploadconfig::upload_kubelet_config(ctx, &client).await?;
        }
        Ok(())
    })
}

pub fn phase_upload_certs(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    if !ctx.node.cfg.upload_certs {
        ctx.say("upload-certs", "Skipping phase. Set uploadCerts: true (or --upload-certs) to use it");
        return Ok(());
    }
    let ctx = &*ctx;
    if dry_run(ctx, "upload-certs", "Secret kube-system/kubeadm-certs, its 2h bootstrap token and Role/RoleBinding") {
        return Ok(());
    }
    block_on(async { copycerts::upload(ctx, &admin_client(ctx).await?).await })
}

pub fn phase_mark_control_plane(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    let ctx = &*ctx;
    if dry_run(
        ctx,
        "mark-control-plane",
        format_args!("the control-plane labels and taints on Node {}", ctx.node.node_name),
    ) {
        return Ok(());
    }
    block_on(async { markcontrolplane::mark(ctx, &admin_client(ctx).await?).await })
}

pub fn phase_bootstrap_token(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    let ctx = &*ctx;
    if dry_run(ctx, "bootstrap-token", "bootstrap token Secrets, node bootstrap RBAC and kube-public/cluster-info") {
        return Ok(());
    }
    block_on(async { bootstraptoken::run(ctx, &admin_client(ctx).await?).await })
}

pub fn phase_kubelet_finalize(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    kubeletfinalize::run(ctx)
}

pub fn phase_addon(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    let ctx = &*ctx;
    let coredns = matches!(sub, None | Some("coredns")) && !ctx.skipped("addon/coredns");
    let proxy = matches!(sub, None | Some("kube-proxy")) && !ctx.skipped("addon/kube-proxy");
    if dry_run(
        ctx,
        "addons",
        "CoreDNS and kube-proxy (ServiceAccounts, RBAC, ConfigMaps, Deployment, Service, DaemonSet)",
    ) {
        return Ok(());
    }
    block_on(async {
        let client = admin_client(ctx).await?;
        if coredns {
            addons::ensure_coredns(ctx, &client).await?;
        }
        if proxy {
            addons::ensure_kube_proxy(ctx, &client).await?;
        }
        Ok(())
    })
}

/// A sub-phase named in skipPhases, when its phase runs whole.
fn skipped_part(ctx: &Ctx, sub: Option<&str>, name: &str) -> bool {
    let skipped = sub.is_none() && ctx.skipped(name);
    if skipped {
        ctx.say(name.split('/').next().unwrap_or(name), format_args!("Skipping {name} (skipPhases)"));
    }
    skipped
}

/// `kubeadm init phase show-join-command`: the join command for control-plane and worker nodes.
pub fn phase_show_join_command(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    const PHASE: &str = "show-join-command";
    if ctx.dry_run || ctx.render_only {
        ctx.say(PHASE, "Would print the join command for control-plane and worker nodes");
        return Ok(());
    }
    if !ctx.show_join_command {
        ctx.say(
            PHASE,
            "Not printing the join command at first boot (it carries a bootstrap token); on this node run \
             `kubeboot token create --print-join-command`",
        );
        return Ok(());
    }
    print_join_instructions(ctx)
}

/// In `--dry-run`, says what the phase would create and returns true.
fn dry_run(ctx: &Ctx, phase: &str, what: impl std::fmt::Display) -> bool {
    if ctx.dry_run {
        ctx.say(phase, format_args!("would create or update {what}"));
    }
    ctx.dry_run
}

/// `timeouts.kubernetesAPICall`: how long one API write may keep retrying.
pub fn api_budget(ctx: &Ctx) -> Duration {
    ctx.node.cfg.timeouts.kubernetes_api_call.as_duration()
}

/// The admin.conf client, after making sure `kubeadm:cluster-admins` exists (as kubeadm does when
/// it first builds its init client): without that binding admin.conf has no rights at all.
pub async fn admin_client(ctx: &Ctx) -> Result<ApiClient> {
    let admin = ApiClient::from_kubeconfig(&ctx.host, ADMIN_CONF, api_budget(ctx)).await?;
    bootstraptoken::ensure_cluster_admins(ctx, &admin).await?;
    Ok(admin)
}

/// Prints what a write did, kubeadm style; unchanged objects only at debug level.
pub(crate) fn report(ctx: &Ctx, phase: &str, what: &str, outcome: Outcome) {
    match outcome {
        Outcome::Unchanged => tracing::debug!("{what} unchanged"),
        o => ctx.say(phase, format_args!("{} {what}", capitalized(o.verb()))),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// A generated secret kept under `/var/lib/kubeboot` (0600), so a resumed run reuses it instead of
/// minting a new one. Returns the stored value, or stores and returns `generate()`.
pub fn persisted_secret(host: &Host, name: &str, generate: impl FnOnce() -> String) -> Result<String> {
    let path = format!("{STATE_DIR}/{name}");
    if let Some(bytes) = host.read_opt(&path).with_context(|| format!("reading {path}"))? {
        let value = String::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8"))?.trim().to_string();
        if !value.is_empty() {
            crate::report::redact::register(&value);
            return Ok(value);
        }
    }
    host.ensure_dir(STATE_DIR, 0o700)?;
    let value = generate();
    // A generated secret (the certificate key) is redacted from every later message.
    crate::report::redact::register(&value);
    host.write_atomic(&path, format!("{value}\n").as_bytes(), 0o600)?;
    Ok(value)
}
