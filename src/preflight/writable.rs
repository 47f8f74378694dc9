//! DirWritable: every directory kubeboot will write is writable, proven by creating and
//! removing a probe file in it (or in the nearest existing parent it would be created in).
//! A read-only /etc or a full disk is caught here, before any real file changes.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::{Check, Env, Problem};
use crate::config::resolve::{KUBELET_DIR, KUBERNETES_DIR, MANIFESTS_DIR};
use crate::host::facts;

/// The directories init or join write into.
fn targets(env: &Env) -> Vec<String> {
    let node = env.node;
    let mut dirs = vec![KUBERNETES_DIR.to_string(), node.pki_dir().to_string(), KUBELET_DIR.to_string()];
    if node.role().is_control_plane() {
        dirs.push(MANIFESTS_DIR.to_string());
        if let Some(etcd) = node.local_etcd() {
            dirs.push(etcd.data_dir);
        }
    } else {
        // A worker's kubelet still reads static Pods from here; kubeboot creates it empty.
        dirs.push(MANIFESTS_DIR.to_string());
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

/// Creates, writes, syncs and removes a dot-named file (the kubelet ignores dot files).
fn probe_write(env: &Env, dir: &str) -> std::io::Result<()> {
    let probe = env.host.path(dir).join(format!(".kubeboot-preflight-{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&probe)?;
    let written = f.write_all(b"kubeboot").and_then(|()| f.sync_all());
    drop(f);
    let removed = std::fs::remove_file(&probe);
    written.and(removed)
}
