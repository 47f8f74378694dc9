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
    let mut cri_socket = None;
    if let Some(path) = &a.config {
        let cfg = crate::config::load_file(path)
            .map_err(|d| crate::error::coded(crate::error::Exit::InvalidInput, d.to_string()))?;
        crate::report::Redactor::from_config(&cfg);
        targets.certificates_dir = cfg.cluster.certificates_dir.clone();
        cri_socket = cfg.node.cri_socket.clone();
        targets.etcd_data_dir = match (&cfg.cluster.etcd.external, cfg.role.is_control_plane()) {
            (None, true) => Some(cfg.cluster.etcd.local.unwrap_or_default().data_dir),
            _ => None,
        };
    }
    // Before anything is asked or touched: a target outside kubeadm's paths is refused.
    reset::check_targets(&host, &targets)?;
    // Never while a run, init or join is writing; the lock is on the root directory, nothing reset removes.
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

    // The Pods go before their volumes: a running container keeps a volume busy (and could
    // write into a directory reset is emptying).
    match crate::host::cri::node_endpoint(&host, cri_socket.as_deref()) {
        Ok((endpoint, socket)) if socket.exists() => match reset::remove_pod_sandboxes(&socket, g.dry_run) {
            Ok((n, failed)) => {
                println!("[reset] {verb} {n} Pod sandbox(es) over CRI at {endpoint}");
                for f in failed {
                    eprintln!("[reset] WARNING: could not stop and remove Pod sandbox {f}");
                }
            }
            Err(e) => eprintln!("[reset] WARNING: could not remove the Pod sandboxes over CRI at {endpoint}: {e:#}"),
        },
        Ok((endpoint, _)) => println!("[reset] No container runtime at {endpoint}: no Pod sandboxes to remove"),
        Err(e) => eprintln!("[reset] WARNING: no CRI endpoint to remove Pod sandboxes through: {e}"),
    }

    // kubeadm's unmount of everything below the kubelet directory, deepest first.
    let kubelet_dir = host.path("/var/lib/kubelet");
    let kubelet_dir = kubelet_dir.canonicalize().unwrap_or(kubelet_dir);
    match reset::unmount_below(&kubelet_dir, g.dry_run) {
        Ok((unmounted, stuck)) => {
            let verb = if g.dry_run { "would unmount" } else { "unmounted" };
            for m in unmounted {
                println!("[reset] {verb} {}", m.display());
            }
            for (m, e) in stuck {
                eprintln!(
                    "[reset] WARNING: could not unmount {}: {e}; it and its contents are left alone",
                    m.display()
                );
            }
        }
        Err(e) => eprintln!("[reset] WARNING: could not list the mounts below {}: {e:#}", kubelet_dir.display()),
    }

    let cleaned = reset::cleanup(&host, &targets, g.dry_run)?;
    for p in &cleaned.removed {
        println!("[reset] {verb} {p}");
    }
    println!(
        "[reset] {} paths {verb}. Not cleaned: /etc/cni/net.d, iptables/nftables/IPVS rules, $HOME/.kube (as kubeadm).",
        cleaned.removed.len()
    );
    if !cleaned.kept.is_empty() {
        let kept: Vec<String> = cleaned.kept.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "reset is incomplete: {} mount point(s) are still mounted and were left in place with their contents \
             (reset never deletes across a mount): {}. Unmount them (stop whatever uses them) and run reset again",
            kept.len(),
            kept.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
