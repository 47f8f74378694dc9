//! IsPrivilegedUser: kubeadm's first check, and the only one that stops the run early.

use super::{Check, Problem};

/// The effective user must be root (live process credentials, not a fact under --root).
pub fn is_privileged_user() -> Check {
    Check::new("IsPrivilegedUser", |_| {
        let euid = nix::unistd::geteuid();
        if euid.is_root() {
            return vec![];
        }
        vec![Problem::error(
            format!("user is not running as root (effective uid {euid})"),
            "run kubeboot as root (sudo, or as the systemd service)",
        )]
    })
    .fail_fast()
}
