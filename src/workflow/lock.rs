//! One first-boot run at a time: an exclusive `flock` on /var/lib/kubeboot/run.lock, taken
//! before anything else is written. A second run finds it held and exits "busy" (75) at once.
//! The kernel drops the lock when the process dies, so a crash never leaves a stale lock.
//! The file's contents are never written: a finished instance's re-run must change nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use super::journal::STATE_DIR;
use crate::error::{Exit, coded};
use crate::host::Host;

pub const LOCK_FILE: &str = "/var/lib/kubeboot/run.lock";

pub struct RunLock {
    _lock: Flock<File>,
}

impl RunLock {
    pub fn acquire(host: &Host) -> Result<RunLock> {
        let path = host.path(LOCK_FILE);
        if !path.exists() {
            host.ensure_dir(STATE_DIR, 0o700)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(RunLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(coded(
                Exit::Busy,
                format!(
                    "another kubeboot run holds {}; see it with `kubeboot status`, wait with `kubeboot status --wait`",
                    path.display()
                ),
            )),
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}
