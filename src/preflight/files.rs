//! FileAvailable, DirAvailable, FileContent and ExternalEtcdClientCertificates: what must not
//! exist yet, must be empty, must hold a value, or must be there — all under the root.

use super::{Check, Problem};

/// kubeadm's name for a path-based check: `/etc/kubernetes/kubelet.conf` → `-etc-kubernetes-kubelet.conf`.
fn path_label(path: &str) -> String {
    path.replace('/', "-")
}

/// The file must not exist (a leftover means this machine was, or half-became, a node).
pub fn file_available(path: impl Into<String>) -> Check {
    let path = path.into();
    Check::new(format!("FileAvailable-{}", path_label(&path)), move |env| {
        if !env.host.exists(&path) {
            return vec![];
        }
        vec![Problem::error(
            format!("{path} already exists"),
            "this machine already holds node state: run `kubeboot reset` (or kubeadm reset) first, or remove the file",
        )]
    })
}

/// The directory must be missing or empty.
pub fn dir_available(path: impl Into<String>) -> Check {
    let path = path.into();
    Check::new(format!("DirAvailable-{}", path_label(&path)), move |env| {
        let full = env.host.path(&path);
        let entries = match std::fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return vec![],
            Err(e) => {
                return vec![Problem::error(
                    format!("unable to check if {path} is empty: {e}"),
                    "make it a readable directory, or remove it",
                )];
            }
        };
        if entries.count() == 0 {
            return vec![];
        }
        vec![Problem::error(
            format!("{path} is not empty"),
            "it holds data of an earlier etcd: run `kubeboot reset`, or move it away if you want to keep it",
        )]
    })
}

/// The file's first bytes must be `content`. `error` picks kubeadm's severity (the forwarding
/// checks) or a warning (the bridge-netfilter checks kubeadm dropped in 1.30).
pub fn file_content(path: &'static str, content: &'static str, sysctl: &'static str, error: bool) -> Check {
    Check::new(format!("FileContent-{}", path_label(path)), move |env| {
        let what = match env.host.read(path) {
            Ok(bytes) if bytes.starts_with(content.as_bytes()) => return vec![],
            Ok(_) => format!("{path} contents are not set to {content}"),
            Err(_) => format!("{path} does not exist"),
        };
        let fix = format!(
            "run `sysctl -w {sysctl}={content}` and persist it in /etc/sysctl.d/k8s.conf{}",
            if sysctl.starts_with("net.bridge") { " (needs the br_netfilter module)" } else { "" }
        );
        vec![if error { Problem::error(what, fix) } else { Problem::warning(what, fix) }]
    })
}

/// A configured external-etcd client file must exist.
pub fn external_etcd_client_certificate(path: String) -> Check {
    Check::new("ExternalEtcdClientCertificates", move |env| {
        if env.host.exists(&path) {
            return vec![];
        }
        vec![Problem::error(
            format!("{path} doesn't exist"),
            "copy the external etcd CA, client certificate and key to the paths in cluster.etcd.external",
        )]
    })
}
