//! One host-changing kubeboot command at a time: an exclusive `flock` on /run/lock/kubeboot.lock,
//! taken by `run`, `init`, `join` (and their phases), `render`, `reset` and `config images pull`
//! before they change anything. A second one finds it held and exits "busy" (75) at once.
//!
//! The lock lives outside everything `reset` removes (/var/lib/kubeboot, /run/kubeboot), so a
//! reset can neither delete a held lock nor let the next command lock a fresh file beside it.
//! The kernel drops the lock when the process dies, so a crash never leaves a stale lock.
//! The file's contents are never written: a finished instance's re-run must change nothing.
//! It is opened without following a symlink, below directories that are not symlinks.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Exit, coded};
use crate::host::Host;

pub const LOCK_DIR: &str = "/run/lock";
pub const LOCK_FILE: &str = "/run/lock/kubeboot.lock";

pub struct HostLock {
    _lock: Flock<File>,
}

impl HostLock {
    /// Takes the host lock for `command` (named in the busy message), or fails with exit 75.
    pub fn acquire(host: &Host, command: &str) -> Result<HostLock> {
        // /run/lock is 1777 on a real host; keep whatever mode it has, make it 0755 if missing.
        host.ensure_dir(LOCK_DIR, 0o755)?;
        let path = host.path(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_CLOEXEC.bits())
            .open(&path)
            .with_context(|| {
                format!("opening the lock file {} (a symlink there is refused; remove it)", path.display())
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(HostLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(coded(
                Exit::Busy,
                format!(
                    "`kubeboot {command}` cannot start: another kubeboot run or command holds {}; see it with \
                     `kubeboot status`, wait with `kubeboot status --wait`, then try again",
                    path.display()
                ),
            )),
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}
