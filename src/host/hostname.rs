//! The system host name at first boot: `kubeboot run` sets it to the node name, as cloud-init
//! (`set_hostname` from meta-data `local-hostname`) and Afterburn do, so the kubelet needs no
//! `--hostname-override` and the machine calls itself what the cluster calls it.
//!
//! Skipped when the config says `node.setHostname: false` or the image carries
//! `/etc/kubeboot/preserve-hostname` (cloud-init's `preserve_hostname`). `/etc/hostname` is
//! replaced atomically under --root; the kernel's name (`sethostname`) is changed only on the
//! live machine (--root /), never by a test.

use anyhow::{Context, Result};

use super::Host;

pub const HOSTNAME_FILE: &str = "/etc/hostname";
/// An image that manages its own host name ships this file.
pub const PRESERVE_MARKER: &str = "/etc/kubeboot/preserve-hostname";
/// Linux `HOST_NAME_MAX`.
pub const MAX_LEN: usize = 64;

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Disabled,
    Preserved,
    Unchanged(String),
    Set(String),
}

/// The host name for `node_name`: itself when it fits the kernel's limit, else its first label.
pub fn for_node(node_name: &str) -> String {
    if node_name.len() <= MAX_LEN {
        node_name.to_string()
    } else {
        node_name.split('.').next().unwrap_or(node_name).to_string()
    }
}

/// Sets the host name to `node_name` unless disabled; `dry_run` changes nothing.
pub fn ensure(host: &Host, node_name: &str, enabled: bool, dry_run: bool) -> Result<Outcome> {
    if !enabled {
        return Ok(Outcome::Disabled);
    }
    if host.exists(PRESERVE_MARKER) {
        return Ok(Outcome::Preserved);
    }
    let want = for_node(node_name);
    let file = host.read_to_string(HOSTNAME_FILE).unwrap_or_default();
    let kernel_ok = !host.is_live() || current_kernel_name().as_deref() == Some(want.as_str());
    if file.trim() == want && kernel_ok {
        return Ok(Outcome::Unchanged(want));
    }
    if dry_run {
        return Ok(Outcome::Set(want));
    }
    host.write_atomic(HOSTNAME_FILE, format!("{want}\n").as_bytes(), 0o644)
        .with_context(|| format!("writing {}", host.path(HOSTNAME_FILE).display()))?;
    if host.is_live() {
        nix::unistd::sethostname(&want).with_context(|| format!("sethostname({want})"))?;
    }
    Ok(Outcome::Set(want))
}

fn current_kernel_name() -> Option<String> {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_keep_their_first_label() {
        assert_eq!(for_node("cp-1"), "cp-1");
        let long = format!("{}.example.internal", "a".repeat(60));
        assert_eq!(for_node(&long), "a".repeat(60));
    }

    #[test]
    fn writes_only_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        assert_eq!(ensure(&host, "node-a", true, false).unwrap(), Outcome::Set("node-a".into()));
        assert_eq!(std::fs::read_to_string(dir.path().join("etc/hostname")).unwrap(), "node-a\n");
        assert_eq!(ensure(&host, "node-a", true, false).unwrap(), Outcome::Unchanged("node-a".into()));
        assert_eq!(ensure(&host, "node-b", false, false).unwrap(), Outcome::Disabled);
        assert_eq!(ensure(&host, "node-b", true, true).unwrap(), Outcome::Set("node-b".into()));
        assert_eq!(std::fs::read_to_string(dir.path().join("etc/hostname")).unwrap(), "node-a\n", "dry run");
        std::fs::create_dir_all(dir.path().join("etc/kubeboot")).unwrap();
        std::fs::write(dir.path().join("etc/kubeboot/preserve-hostname"), "").unwrap();
        assert_eq!(ensure(&host, "node-b", true, false).unwrap(), Outcome::Preserved);
    }
}
