//! One first-boot run at a time: an exclusive `flock` on /var/lib/kubeboot/run.lock, taken
//! before anything else is written. A second run finds it held and exits "busy" (75) at once.
//! The kernel drops the lock when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
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
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(coded(
                    Exit::Busy,
                    format!(
                        "another kubeboot run (pid {}) holds {}; wait for it with `kubeboot status --wait`",
                        holder.trim(),
                        path.display()
                    ),
                ));
            }
            Err((_, e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        };
        // Name the holder for the next one that finds it busy.
        lock.set_len(0)?;
        lock.rewind()?;
        write!(lock, "{}", std::process::id())?;
        Ok(RunLock { _lock: lock })
    }
}
