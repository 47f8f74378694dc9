//! `kubeboot run --user-data FILE`: a manual run with an explicit file (relative to the
//! current directory, not to `--root`: it is the operator's file, not the node's).

use std::path::Path;

use anyhow::{Context, Result};

use super::{Meta, UserData};

pub fn read(path: &Path) -> Result<UserData> {
    let bytes = crate::config::read_capped(path)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--user-data {}", path.display()))?;
    Ok(UserData { bytes, meta: Meta::default(), origin: format!("file:{}", path.display()) })
}
