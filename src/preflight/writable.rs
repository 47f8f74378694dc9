//! DirWritable: every directory kubeboot will write is writable — or, if it does not exist
//! yet, the nearest existing parent it would be created in. The probe asks the kernel without
//! writing (access(2) with W_OK, which answers EROFS for a read-only mount and EPERM for an
//! immutable directory, and statvfs for a full filesystem), so a failed preflight leaves even
//! directory timestamps untouched.

use std::collections::BTreeMap;
use std::path::Path;

use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{AccessFlags, access};

use super::{Check, Env, Problem};
use crate::config::resolve::{KUBELET_DIR, KUBERNETES_DIR, MANIFESTS_DIR};
use crate::host::facts;
use crate::render::kubelet::DROPIN_PATH;

/// The directories init or join write into. The manifests dir is the kubelet's staticPodPath on
/// every node, so workers get it too.
fn targets(env: &Env) -> Vec<String> {
    let node = env.node;
    // kubelet-start's systemd drop-in (`10-kubeadm.conf`).
    let dropin_dir = Path::new(DROPIN_PATH).parent().and_then(Path::to_str).unwrap_or("/etc/systemd/system");
    let mut dirs: Vec<String> = [KUBERNETES_DIR, MANIFESTS_DIR, node.pki_dir(), KUBELET_DIR, dropin_dir]
        .into_iter()
        .map(String::from)
        .collect();
    if node.role().is_control_plane()
        && let Some(etcd) = node.local_etcd()
    {
        dirs.push(etcd.data_dir);
    }
    dirs
}

pub fn dir_writable() -> Check {
    Check::new("DirWritable", |env| {
        // Targets that do not exist yet are probed where they would be created; one probe
        // per existing directory.
        let mut by_probe: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in targets(env) {
            by_probe.entry(facts::nearest_existing_dir(env.host, &t)).or_default().push(t);
        }
        by_probe
            .into_iter()
            .filter_map(|(dir, wanted)| {
                let err = probe_write(env, &dir).err()?;
                let what = if wanted == [dir.clone()] {
                    format!("{dir} is not writable: {err}")
                } else {
                    format!("cannot create {}: {dir} is not writable: {err}", wanted.join(", "))
                };
                Some(Problem::error(what, "make the filesystem writable (remount rw, free space) before kubeboot runs"))
            })
            .collect()
    })
}

/// Whether a file could be created in `dir` right now.
fn probe_write(env: &Env, dir: &str) -> Result<(), String> {
    let full = env.host.path(dir);
    let st = statvfs(&full).map_err(|e| e.desc().to_string())?;
    if st.flags().contains(FsFlags::ST_RDONLY) {
        return Err(nix::errno::Errno::EROFS.desc().into());
    }
    access(&full, AccessFlags::W_OK).map_err(|e| e.desc().to_string())?;
    if st.blocks_available() == 0 {
        return Err("no space left on the filesystem".into());
    }
    if st.files() > 0 && st.files_available() == 0 {
        return Err("no free inodes left on the filesystem".into());
    }
    Ok(())
}
