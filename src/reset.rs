//! `kubeboot reset`: kubeadm reset's cleanup-node, file part. Removes what init/join wrote so
//! the machine can be set up again, and kubeboot's own run state so `kubeboot run` starts over.
//! Like kubeadm, it does not touch CNI configuration, iptables/IPVS rules or $HOME/.kube.

use anyhow::{Context, Result};

use crate::host::Host;

/// Directories whose *contents* are removed (the directories stay, as in kubeadm).
pub const DIRS_EMPTIED: &[&str] = &["/etc/kubernetes/manifests", "/var/lib/kubelet"];

/// kubeconfig files removed.
pub const FILES_REMOVED: &[&str] = &[
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/super-admin.conf",
    "/etc/kubernetes/kubelet.conf",
    "/etc/kubernetes/bootstrap-kubelet.conf",
    "/etc/kubernetes/controller-manager.conf",
    "/etc/kubernetes/scheduler.conf",
];

/// kubeboot's own state: the instance journal, status and sentinels.
pub const KUBEBOOT_STATE: &[&str] =
    &["/var/lib/kubeboot", "/run/kubeboot", "/run/cluster-api/bootstrap-success.complete"];

pub struct Targets {
    pub certificates_dir: String,
    pub etcd_data_dir: Option<String>,
}

impl Default for Targets {
    fn default() -> Self {
        Targets { certificates_dir: "/etc/kubernetes/pki".into(), etcd_data_dir: Some("/var/lib/etcd".into()) }
    }
}

/// Removes every kubeadm/kubeboot artefact under the root; returns the node paths removed.
pub fn cleanup(host: &Host, t: &Targets, dry_run: bool) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut dirs: Vec<&str> = DIRS_EMPTIED.to_vec();
    dirs.push(&t.certificates_dir);
    if let Some(d) = &t.etcd_data_dir {
        dirs.push(d);
    }
    for dir in dirs {
        let full = host.path(dir);
        let Ok(entries) = std::fs::read_dir(&full) else { continue };
        for entry in entries {
            let entry = entry?;
            let node_path = format!("{}/{}", dir.trim_end_matches('/'), entry.file_name().to_string_lossy());
            remove(host, &node_path, dry_run)?;
            removed.push(node_path);
        }
    }
    for f in FILES_REMOVED.iter().chain(KUBEBOOT_STATE) {
        if host.exists(f) {
            remove(host, f, dry_run)?;
            removed.push(f.to_string());
        }
    }
    Ok(removed)
}

/// Removes a file or a whole tree without following symlinks out of it.
fn remove(host: &Host, node_path: &str, dry_run: bool) -> Result<()> {
    if dry_run {
        return Ok(());
    }
    let p = host.path(node_path);
    let meta = std::fs::symlink_metadata(&p).with_context(|| format!("inspecting {}", p.display()))?;
    if meta.is_dir() {
        std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))
    } else {
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_kubeadm_files_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        for f in [
            "/etc/kubernetes/admin.conf",
            "/etc/kubernetes/manifests/etcd.yaml",
            "/etc/kubernetes/pki/ca.key",
            "/etc/kubernetes/pki/etcd/ca.key",
            "/var/lib/kubelet/config.yaml",
            "/var/lib/etcd/member/snap/db",
            "/var/lib/kubeboot/instances/i-1/journal.json",
            "/etc/cni/net.d/10-flannel.conflist",
            "/etc/hostname",
        ] {
            host.write_atomic(f, b"x", 0o600).unwrap();
        }
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, host.path("/var/lib/kubelet/link")).unwrap();

        let removed = cleanup(&host, &Targets::default(), false).unwrap();
        assert!(removed.contains(&"/etc/kubernetes/admin.conf".to_string()));
        for gone in
            ["/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/etcd", "/var/lib/etcd/member", "/var/lib/kubeboot"]
        {
            assert!(!host.exists(gone), "{gone} should be gone");
        }
        // directories stay, their contents go; CNI config and the rest of the system stay
        assert!(host.path("/etc/kubernetes/manifests").is_dir());
        assert!(host.exists("/etc/cni/net.d/10-flannel.conflist"));
        assert!(host.exists("/etc/hostname"));
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep", "a symlink must be removed, not followed");
        assert!(cleanup(&host, &Targets::default(), false).unwrap().is_empty(), "second reset has nothing to do");
    }
}
