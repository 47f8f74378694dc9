//! One host-changing kubeboot command at a time: an exclusive `flock` on the root directory
//! itself (`/` on a real node), taken by `run`, `init`, `join` (and their phases), `reset`,
//! `config images pull` and `render` into `/`, before they change anything. A second one finds
//! it held and exits "busy" (75) at once.
//!
//! Locking the root directory needs no lock file: nothing is created (a command refused later
//! still changes nothing, and a read-only root can be locked), nothing can be swapped for a
//! symlink, and `reset` cannot delete it while it is held. The kernel drops the lock when the
//! process dies, so a crash never leaves a stale lock. `lslocks` shows the holder.

use std::fs::File;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Exit, coded};
use crate::host::Host;

pub struct HostLock {
    _lock: Flock<File>,
}

impl HostLock {
    /// Takes the host lock for `command` (named in the busy message), or fails with exit 75.
    pub fn acquire(host: &Host, command: &str) -> Result<HostLock> {
        let root = host.root();
        let dir = File::open(root).with_context(|| format!("opening the root directory {}", root.display()))?;
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(HostLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(coded(
                Exit::Busy,
                format!(
                    "`kubeboot {command}` cannot start: another kubeboot run or command holds the host lock (a \
                     flock on {}); see it with `kubeboot status` or `lslocks`, wait with `kubeboot status --wait`, \
                     then try again",
                    root.display()
                ),
            )),
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", root.display())),
        }
    }
}
