//! `kubeboot reset`, kubeadm reset's phases: remove-etcd-member (a stacked etcd member leaves
//! its cluster, so the remaining members keep quorum) and cleanup-node (stop the kubelet, remove
//! what init/join wrote, and kubeboot's own run state so `kubeboot run` starts over).
//! Like kubeadm, it does not touch CNI configuration, iptables/IPVS rules or $HOME/.kube.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::host::Host;
use crate::join::etcd::EtcdClient;

pub const ETCD_MANIFEST: &str = "/etc/kubernetes/manifests/etcd.yaml";
/// How long remove-etcd-member retries while etcd calls the cluster unhealthy (kubeadm's etcd
/// client backs off for about as long).
const REMOVE_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

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

/// What remove-etcd-member did.
#[derive(Debug, PartialEq, Eq)]
pub enum EtcdMember {
    /// No local etcd manifest: a worker, or external etcd.
    NoLocalEtcd,
    /// This is the cluster's last member; removing it would destroy the cluster's data.
    LastMember,
    /// Removed (or, with dry-run, would be removed) by ID, named as in the member list.
    Removed { id: String, name: String },
    /// The member list does not contain this node's peer URL.
    NotAMember,
}

/// kubeadm reset's remove-etcd-member: find this node's member by the peer URL in its etcd.yaml
/// and remove it through the other members (this member's own endpoint last), over mTLS with
/// the etcd CA and apiserver-etcd-client.
pub fn remove_etcd_member(host: &Host, certificates_dir: &str, dry_run: bool) -> Result<EtcdMember> {
    let Ok(manifest) = host.read_to_string(ETCD_MANIFEST) else { return Ok(EtcdMember::NoLocalEtcd) };
    let flags = EtcdFlags::parse(&manifest).with_context(|| format!("reading {ETCD_MANIFEST}"))?;
    let read = |rel: &str| {
        let p = format!("{}/{rel}", certificates_dir.trim_end_matches('/'));
        host.read(&p).with_context(|| format!("reading {p}"))
    };
    let mut identity = read("apiserver-etcd-client.crt")?;
    identity.extend(read("apiserver-etcd-client.key")?);
    let ca = read("etcd/ca.crt")?;

    crate::workflow::block_on(async {
        // The local member answers the list; the removal goes to the others first.
        let mut endpoints = flags.client_urls.clone();
        endpoints.extend(flags.peer_hosts_as_client_urls());
        let members = EtcdClient::new(endpoints, &ca, &identity)?.members().await?;
        let Some(me) = members.iter().find(|m| m.peer_urls.iter().any(|u| flags.peer_urls.contains(u))) else {
            return Ok(EtcdMember::NotAMember);
        };
        if members.len() == 1 {
            return Ok(EtcdMember::LastMember);
        }
        let removed = EtcdMember::Removed { id: me.id.clone(), name: me.name.clone() };
        if dry_run {
            return Ok(removed);
        }
        let mut others: Vec<String> =
            members.iter().filter(|m| m.id != me.id).flat_map(|m| m.client_urls.iter().cloned()).collect();
        others.extend(flags.client_urls.iter().cloned());
        EtcdClient::new(others, &ca, &identity)?.remove(&me.id, REMOVE_BUDGET).await?;
        Ok(removed)
    })
}

/// The flags of etcd.yaml that say who this member is.
#[derive(Debug)]
struct EtcdFlags {
    client_urls: Vec<String>,
    peer_urls: Vec<String>,
    initial_cluster: Vec<String>,
}

impl EtcdFlags {
    fn parse(manifest: &str) -> Result<Self> {
        let pod: Value = serde_saphyr::from_str(manifest).context("not a YAML Pod")?;
        let Some(command) = pod["spec"]["containers"][0]["command"].as_array() else {
            bail!("no spec.containers[0].command");
        };
        let flag = |name: &str| -> Vec<String> {
            command
                .iter()
                .filter_map(|v| v.as_str()?.strip_prefix(&format!("--{name}=")))
                .flat_map(|v| v.split(',').map(str::to_string))
                .collect()
        };
        let flags = EtcdFlags {
            client_urls: flag("advertise-client-urls"),
            peer_urls: flag("initial-advertise-peer-urls"),
            initial_cluster: flag("initial-cluster"),
        };
        if flags.client_urls.is_empty() || flags.peer_urls.is_empty() {
            bail!("--advertise-client-urls or --initial-advertise-peer-urls is missing");
        }
        Ok(flags)
    }

    /// Other members' likely client URLs (`https://<peer host>:2379`, kubeadm's layout), for when
    /// the local member no longer answers.
    fn peer_hosts_as_client_urls(&self) -> Vec<String> {
        self.initial_cluster
            .iter()
            .filter_map(|entry| entry.split_once('=').map(|(_, url)| url))
            .filter(|url| !self.peer_urls.iter().any(|p| p == url))
            .filter_map(|url| url.rsplit_once(':').map(|(host, _)| format!("{host}:2379")))
            .collect()
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
    fn etcd_flags_name_this_member_and_guess_the_others_client_urls() {
        let manifest = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n    \
            - --advertise-client-urls=https://10.0.0.2:2379\n    - --initial-advertise-peer-urls=https://10.0.0.2:2380\n    \
            - --initial-cluster=cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380,cp-3=https://[fd00::3]:2380\n";
        let f = EtcdFlags::parse(manifest).unwrap();
        assert_eq!(f.client_urls, ["https://10.0.0.2:2379"]);
        assert_eq!(f.peer_urls, ["https://10.0.0.2:2380"]);
        assert_eq!(f.peer_hosts_as_client_urls(), ["https://10.0.0.1:2379", "https://[fd00::3]:2379"]);
        let e = EtcdFlags::parse("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [etcd]\n").unwrap_err();
        assert!(e.to_string().contains("--advertise-client-urls"), "{e}");
    }

    #[test]
    fn no_etcd_manifest_means_no_member_to_remove() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        assert_eq!(remove_etcd_member(&host, "/etc/kubernetes/pki", false).unwrap(), EtcdMember::NoLocalEtcd);
    }

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
