//! User-data bytes → one typed, defaulted, validated `NodeConfig`.
//!
//! Accepted inputs: the native `kubeboot.io/v1alpha1` NodeConfig, kubeadm's own
//! Init/Cluster/JoinConfiguration documents (v1beta4 and v1beta3), and `#cloud-config`
//! with a `kubeboot:` key. Nothing touches the host until this step has passed.

pub mod duration;
pub mod resolve;
pub mod types;
pub mod versions;

pub use resolve::{HostIdentity, Resolved};
pub use types::*;

pub mod diag;
pub use diag::{Diagnostic, Diagnostics};

use std::path::Path;

/// Largest user-data accepted, checked before parsing.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Parses and validates user-data bytes; `name` is what error messages call the input.
pub fn load(name: &str, bytes: &[u8]) -> Result<NodeConfig, Diagnostics> {
    // Placeholder until the strict loader lands: lenient serde parse.
    let text = std::str::from_utf8(bytes).map_err(|e| one(name, 0, 0, "", format!("not UTF-8: {e}")))?;
    serde_saphyr::from_str::<NodeConfig>(text).map_err(|e| one(name, 0, 0, "", e.to_string()))
}

/// Reads a user-data file (size-capped) and loads it.
pub fn load_file(path: &Path) -> Result<NodeConfig, Diagnostics> {
    let name = path.display().to_string();
    let bytes = read_capped(path).map_err(|e| one(&name, 0, 0, "", e))?;
    load(&name, &bytes)
}

pub fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut buf = Vec::new();
    f.take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut buf).map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() > MAX_INPUT_BYTES {
        return Err(format!("larger than {MAX_INPUT_BYTES} bytes; user-data must be at most 1 MiB"));
    }
    Ok(buf)
}

fn one(file: &str, line: usize, column: usize, path: &str, message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic { file: file.into(), line, column, path: path.into(), message: message.into() }])
}
