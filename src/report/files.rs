//! Where the outcome is written: /run/kubeboot/status.json (this boot), a persisted copy under
//! /var/lib/kubeboot (after a reboot /run is empty), and sentinel files. On success:
//! /run/kubeboot/complete and Cluster API's /run/cluster-api/bootstrap-success.complete; on
//! failure: /run/kubeboot/failed. A sentinel of the other outcome is removed.

use anyhow::{Context, Result};

use super::{State, Status};
use crate::host::Host;

pub const RUN_DIR: &str = "/run/kubeboot";
pub const STATUS_FILE: &str = "/run/kubeboot/status.json";
pub const PERSISTED_STATUS_FILE: &str = "/var/lib/kubeboot/status.json";
pub const COMPLETE_SENTINEL: &str = "/run/kubeboot/complete";
pub const FAILED_SENTINEL: &str = "/run/kubeboot/failed";
pub const CAPI_SENTINEL: &str = "/run/cluster-api/bootstrap-success.complete";

fn to_json(status: &Status) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(status)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Status and the failure sentinel carry error and preflight messages: redacted, and still
/// root-only (a message can quote the environment, a proxy URL, a path).
pub const STATUS_MODE: u32 = 0o600;

/// Updates the status of the running boot.
pub fn write_status(host: &Host, status: &Status) -> Result<()> {
    host.ensure_dir(RUN_DIR, 0o755)?;
    host.write_atomic(STATUS_FILE, &to_json(status)?, STATUS_MODE)?;
    Ok(())
}

/// The final status in both places, then the sentinels for its outcome.
pub fn write_final(host: &Host, status: &Status) -> Result<()> {
    write_status(host, status)?;
    host.ensure_dir(crate::workflow::journal::STATE_DIR, 0o700)?;
    host.write_atomic(PERSISTED_STATUS_FILE, &to_json(status)?, STATUS_MODE)?;
    write_sentinels(host, status)
}

fn write_sentinels(host: &Host, status: &Status) -> Result<()> {
    let when = status.finished_at.clone().unwrap_or_default();
    match status.state {
        State::Done => {
            host.remove_file(FAILED_SENTINEL)?;
            host.write_atomic(COMPLETE_SENTINEL, format!("{when}\n").as_bytes(), 0o644)?;
            host.ensure_dir("/run/cluster-api", 0o755)?;
            // Cluster API's bootstrap writes the word "success"; tools check the file's existence.
            host.write_atomic(CAPI_SENTINEL, b"success", 0o644)?;
        }
        State::Failed => {
            host.remove_file(COMPLETE_SENTINEL)?;
            let e = status.error.as_ref();
            let line = format!(
                "{when} phase {}: {}\n",
                e.map(|e| e.phase.as_str()).unwrap_or("?"),
                e.map(|e| e.message.as_str()).unwrap_or("")
            );
            host.write_atomic(FAILED_SENTINEL, line.as_bytes(), STATUS_MODE)?;
        }
        State::Running => {}
    }
    Ok(())
}

/// After a reboot, a finished instance puts its final status and sentinels back in /run.
/// Files already present with the same bytes are not rewritten.
pub fn restore(host: &Host, status: &Status) -> Result<()> {
    write_status(host, status)?;
    write_sentinels(host, status)
}

/// The current status: this boot's, else the persisted one, else `None` (never started).
pub fn read(host: &Host) -> Result<Option<Status>> {
    for path in [STATUS_FILE, PERSISTED_STATUS_FILE] {
        if let Some(bytes) = host.read_opt(path).with_context(|| format!("reading {path}"))? {
            return serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{path} is not a kubeboot status"));
        }
    }
    Ok(None)
}

pub fn read_persisted(host: &Host) -> Result<Option<Status>> {
    match host.read_opt(PERSISTED_STATUS_FILE)? {
        Some(b) => Ok(Some(serde_json::from_slice(&b).context("reading the persisted status")?)),
        None => Ok(None),
    }
}
