//! `kubeboot reset`: kubeadm reset's remove-etcd-member and cleanup-node.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::reset::{self, EtcdMember, Targets};

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub force: bool,
    /// The node's config, to find a non-default certificatesDir and etcd dataDir.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(g: &Global, a: ResetArgs) -> Result<ExitCode> {
    let host = g.host();
    let mut targets = Targets::default();
    if let Some(path) = &a.config {
        let cfg = crate::config::load_file(path)
            .map_err(|d| crate::error::coded(crate::error::Exit::InvalidInput, d.to_string()))?;
        crate::report::Redactor::from_config(&cfg);
        targets.certificates_dir = cfg.cluster.certificates_dir.clone();
        targets.etcd_data_dir = match (&cfg.cluster.etcd.external, cfg.role.is_control_plane()) {
            (None, true) => Some(cfg.cluster.etcd.local.unwrap_or_default().data_dir),
            _ => None,
        };
    }
    // Never while a run, init or join is writing; the lock file itself is outside what reset removes.
    let _lock = if g.dry_run { None } else { Some(crate::workflow::lock::HostLock::acquire(&host, "reset")?) };
    if !a.force && !g.dry_run {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("reset removes this node's certificates, kubeconfigs and manifests; pass --force to confirm");
        }
        eprint!("[reset] This removes the node's Kubernetes files under {}. Continue? [y/N] ", host.root().display());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("[reset] aborted");
            return Ok(ExitCode::from(crate::error::Exit::Failure as u8));
        }
    }
    let verb = if g.dry_run { "would remove" } else { "removed" };

    // remove-etcd-member: failures warn and the reset goes on, as in kubeadm.
    match reset::remove_etcd_member(&host, &targets.certificates_dir, g.dry_run) {
        Ok(EtcdMember::NoLocalEtcd) => {
            println!("[reset] No {} found: no local etcd member to remove", reset::ETCD_MANIFEST)
        }
        Ok(EtcdMember::LastMember) => {
            println!("[reset] This is the only remaining etcd member: not removing it (its data goes with the node)")
        }
        Ok(EtcdMember::NotAMember) => println!("[reset] This node is not in the etcd member list: nothing to remove"),
        Ok(EtcdMember::Removed { id, name }) => println!("[reset] etcd member {name} ({id}) {verb}"),
        Err(e) => eprintln!(
            "[reset] WARNING: could not remove this node's etcd member: {e:#}. Remove it by hand from a remaining \
             control-plane node: `etcdctl member list`, then `etcdctl member remove <ID>`"
        ),
    }

    // cleanup-node: stop the kubelet first, so it does not recreate static Pods from the manifests.
    if g.dry_run {
        println!("[reset] would stop {}", crate::host::systemd::KUBELET_UNIT);
    } else if let Err(e) = crate::host::systemd::stop_kubelet_with(crate::host::systemd::for_host(&host).as_ref()) {
        eprintln!("[reset] WARNING: could not stop the kubelet: {e:#}");
    } else {
        println!("[reset] Stopped the kubelet service");
    }
    let removed = reset::cleanup(&host, &targets, g.dry_run)?;
    for p in &removed {
        println!("[reset] {verb} {p}");
    }
    println!(
        "[reset] {} paths {verb}. Not cleaned: /etc/cni/net.d, iptables/nftables/IPVS rules, $HOME/.kube (as kubeadm).",
        removed.len()
    );
    Ok(ExitCode::SUCCESS)
}
