//! Rendering of the files kubeadm writes besides the PKI: kubeconfigs, static Pod manifests
//! and kubelet files. The `render_*` functions are pure (config and keys in, bytes out); the
//! `phase_*` functions read what exists, render, and apply through `Ctx::emit`.

pub mod kubeconfig;
pub mod kubelet;
pub mod staticpod;
pub mod yaml;

pub use kubeconfig::phase_kubeconfig;
pub use kubelet::phase_kubelet_start;
pub use staticpod::{phase_control_plane, phase_etcd};

use crate::config::Arg;

/// kubeadm's flag merge: an extra argument replaces every default of the same name, and the
/// result is sorted by name, then value, each rendered `--name=value`.
pub fn flags(defaults: Vec<Arg>, extra: &[Arg]) -> Vec<String> {
    let mut args: Vec<Arg> = defaults.into_iter().filter(|d| !extra.iter().any(|e| e.name == d.name)).collect();
    args.extend(extra.iter().cloned());
    args.sort();
    args.iter().map(|a| format!("--{}={}", a.name, a.value)).collect()
}

/// Creates `dir` with `mode` (kubeadm creates the etcd data, kubelet and manifests dirs 0700)
/// while any missing parents get the ordinary 0755. Nothing happens in `--dry-run`.
pub fn ensure_private_dir(ctx: &crate::workflow::Ctx, dir: &str, mode: u32) -> anyhow::Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(dir).parent() {
        ctx.host.ensure_dir(parent, 0o755)?;
    }
    ctx.host.ensure_dir(dir, mode)
}

/// A resolved control-plane node from a YAML fragment, for unit tests of the renderers.
#[cfg(test)]
pub(crate) fn test_node(version: &str, advertise: &str, extra: &str) -> crate::config::Resolved {
    let text = format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  name: cp-1\n  \
         advertiseAddress: \"{advertise}\"\ncluster:\n  kubernetesVersion: {version}\n{extra}"
    );
    let cfg = crate::config::load("test.yaml", text.as_bytes()).unwrap_or_else(|d| panic!("{d}"));
    let id = crate::config::HostIdentity { hostname: "cp-1".into(), default_address: None, cri_socket: None };
    crate::config::Resolved::new(cfg, &id).unwrap()
}
