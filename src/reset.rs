//! `kubeboot reset`, kubeadm reset's phases: remove-etcd-member (a stacked etcd member leaves
//! its cluster, so the remaining members keep quorum) and cleanup-node (stop the kubelet, remove
//! what init/join wrote, and kubeboot's own run state so `kubeboot run` starts over).
//! Like kubeadm, it does not touch CNI configuration, iptables/IPVS rules or $HOME/.kube.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Where a reset target may be: kubeadm's defaults and their like, never a directory the rest
/// of the system lives in. `certificatesDir` must lie below /etc/kubernetes; the etcd data
/// directory below /var/lib/etcd, or elsewhere below /var/lib when it holds nothing but etcd's
/// own `member` directory. Anything else (`/`, `/etc`, `/var/lib`, `../..`) is refused before
/// reset touches anything.
pub fn check_targets(host: &Host, t: &Targets) -> Result<()> {
    let refuse = |what: &str, dir: &str, why: &str| {
        crate::error::coded(
            crate::error::Exit::InvalidInput,
            format!(
                "refusing to reset: {what} is {dir:?}, {why}; reset empties that directory. Remove its contents \
                 by hand if they really are this node's"
            ),
        )
    };
    let clean = |what: &str, dir: &str| -> Result<Vec<String>> {
        let parts: Vec<&str> = dir.strip_prefix('/').unwrap_or("").split('/').filter(|p| !p.is_empty()).collect();
        if !dir.starts_with('/') || parts.iter().any(|p| *p == "." || *p == "..") {
            return Err(refuse(what, dir, "not a normalized absolute path"));
        }
        Ok(parts.iter().map(|p| p.to_string()).collect())
    };
    let pki = clean("certificatesDir", &t.certificates_dir)?;
    if !(pki.len() >= 3 && pki[0] == "etc" && pki[1] == "kubernetes" && pki[2] != "manifests") {
        return Err(refuse("certificatesDir", &t.certificates_dir, "which is not a directory below /etc/kubernetes"));
    }
    if let Some(d) = &t.etcd_data_dir {
        let parts = clean("etcd.local.dataDir", d)?;
        let below_var_lib = parts.len() >= 3 && parts[0] == "var" && parts[1] == "lib";
        let own = below_var_lib && parts[2] == "etcd";
        let protected = below_var_lib && matches!(parts[2].as_str(), "kubelet" | "kubeboot");
        let only_etcd = || match std::fs::read_dir(host.path(d)) {
            Ok(entries) => entries.flatten().all(|e| e.file_name() == "member"),
            Err(_) => true, // nothing there: nothing to empty
        };
        if !below_var_lib || protected || (!own && !only_etcd()) {
            return Err(refuse(
                "etcd.local.dataDir",
                d,
                "which is neither below /var/lib/etcd nor a directory below /var/lib holding only etcd's `member` data",
            ));
        }
    }
    Ok(())
}

/// kubeadm's `removeContainers`: stop, then remove, every Pod sandbox the runtime at `socket`
/// has, so no container keeps using a volume that reset is about to unmount. Returns how many
/// were removed; a sandbox that will not go is a warning (as in kubeadm), reported in the list.
pub fn remove_pod_sandboxes(socket: &Path, dry_run: bool) -> Result<(usize, Vec<String>)> {
    use crate::host::cri::CriClient;
    const CALL: Duration = Duration::from_secs(10);
    const STOP: Duration = Duration::from_secs(60);
    crate::workflow::block_on(async {
        let mut cri = CriClient::connect(socket, CALL).await?;
        let pods = cri.list_pod_sandboxes().await?;
        let mut removed = 0;
        let mut failed = Vec::new();
        for pod in pods {
            let name = match &pod.metadata {
                Some(m) => format!("{}/{} ({})", m.namespace, m.name, pod.id),
                None => pod.id.clone(),
            };
            if dry_run {
                removed += 1;
                continue;
            }
            let result = async {
                cri.stop_pod_sandbox(&pod.id, STOP).await?;
                cri.remove_pod_sandbox(&pod.id, STOP).await
            };
            match result.await {
                Ok(()) => removed += 1,
                Err(e) => failed.push(format!("{name}: {e:#}")),
            }
        }
        Ok((removed, failed))
    })
}

/// The mount points of this process's mount namespace (`/proc/self/mountinfo`, octal escapes
/// decoded), in mount order.
pub fn mount_points() -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(text.lines().filter_map(|l| l.split(' ').nth(4)).map(|p| PathBuf::from(unescape_mount_path(p))).collect())
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(p: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = b[i + 1..i + 4].iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// A mount point that would not unmount, with the reason.
pub type Stuck = (PathBuf, String);

/// kubeadm's `unmountKubeletDirectory`: unmounts every mount strictly below `dir` (Pod
/// volumes: NFS, CSI, hostPath bind mounts, tmpfs secrets), deepest first. Returns the mount
/// points that stayed mounted, each with the error (a busy one; reset then leaves it alone).
pub fn unmount_below(dir: &Path, dry_run: bool) -> Result<(Vec<PathBuf>, Vec<Stuck>)> {
    let mut below: Vec<PathBuf> = mount_points()?.into_iter().filter(|m| m != dir && m.starts_with(dir)).collect();
    // Deepest first; among equals the later mount (it hides the earlier one) first.
    below.reverse();
    below.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    let mut unmounted = Vec::new();
    let mut stuck = Vec::new();
    for m in below {
        if dry_run {
            unmounted.push(m);
            continue;
        }
        match nix::mount::umount2(&m, nix::mount::MntFlags::empty()) {
            Ok(()) => unmounted.push(m),
            // Already gone with its parent, or another mount stacked on it went first.
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) if !is_mount_point(&m)? => unmounted.push(m),
            Err(e) => stuck.push((m, e.desc().to_string())),
        }
    }
    Ok((unmounted, stuck))
}

fn is_mount_point(p: &Path) -> Result<bool> {
    Ok(mount_points()?.iter().any(|m| m == p))
}

/// Removes every kubeadm/kubeboot artefact under the root; returns the node paths removed and
/// the paths left in place because they are (or hold) mount points. Deletion never crosses a
/// mount point: whatever is still mounted below a directory (a volume that would not unmount)
/// is kept with its contents, and so are the directories leading to it.
pub fn cleanup(host: &Host, t: &Targets, dry_run: bool) -> Result<Cleaned> {
    let mounts: BTreeSet<PathBuf> = mount_points().unwrap_or_default().into_iter().collect();
    let mut out = Cleaned::default();
    // Mount points are listed by real path: compare real paths.
    let root = host.root().canonicalize().unwrap_or_else(|_| host.root().to_path_buf());
    let real = |node_path: &str| root.join(node_path.trim_start_matches('/'));
    let mut dirs: Vec<&str> = DIRS_EMPTIED.to_vec();
    dirs.push(&t.certificates_dir);
    if let Some(d) = &t.etcd_data_dir {
        dirs.push(d);
    }
    for dir in dirs {
        let full = real(dir);
        let Ok(meta) = std::fs::symlink_metadata(&full) else { continue };
        if !meta.is_dir() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&full) else { continue };
        for entry in entries {
            let entry = entry?;
            let node_path = format!("{}/{}", dir.trim_end_matches('/'), entry.file_name().to_string_lossy());
            if remove(&entry.path(), meta.dev(), &mounts, dry_run, &mut out.kept)? {
                out.removed.push(node_path);
            }
        }
    }
    for f in FILES_REMOVED.iter().chain(KUBEBOOT_STATE) {
        let p = real(f);
        if let Ok(meta) = std::fs::symlink_metadata(&p) {
            let dev = std::fs::symlink_metadata(p.parent().unwrap_or(&p)).map(|m| m.dev()).unwrap_or(meta.dev());
            if remove(&p, dev, &mounts, dry_run, &mut out.kept)? {
                out.removed.push(f.to_string());
            }
        }
    }
    Ok(out)
}

/// What cleanup did: node paths removed, and real paths kept because they are mount points.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub removed: Vec<String>,
    pub kept: Vec<PathBuf>,
}

/// Removes a file or a whole tree without following symlinks and without crossing into another
/// mount (a different device, or a mount point of the same filesystem: a bind mount). Returns
/// whether `p` is gone (or, with dry-run, would be).
fn remove(
    p: &Path,
    parent_dev: u64,
    mounts: &BTreeSet<PathBuf>,
    dry_run: bool,
    kept: &mut Vec<PathBuf>,
) -> Result<bool> {
    let meta = std::fs::symlink_metadata(p).with_context(|| format!("inspecting {}", p.display()))?;
    if mounts.contains(p) || (meta.is_dir() && meta.dev() != parent_dev) {
        kept.push(p.to_path_buf());
        return Ok(false);
    }
    if !meta.is_dir() {
        if !dry_run {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
        return Ok(true);
    }
    let mut emptied = true;
    for entry in std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))? {
        let entry = entry?;
        emptied &= remove(&entry.path(), meta.dev(), mounts, dry_run, kept)?;
    }
    if emptied && !dry_run {
        std::fs::remove_dir(p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(emptied)
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

        let removed = cleanup(&host, &Targets::default(), false).unwrap().removed;
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
        assert!(
            cleanup(&host, &Targets::default(), false).unwrap().removed.is_empty(),
            "second reset has nothing to do"
        );
    }
}
