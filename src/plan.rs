//! A plan is what a phase will put on the host: files with exact bytes and modes.
//! Rendering produces plans (pure); `host::Host::apply_file` writes them.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute path on the node (e.g. `/etc/kubernetes/admin.conf`); `Host` maps it under --root.
    pub path: String,
    pub mode: u32,
    pub contents: Vec<u8>,
    /// One line for `--dry-run`: why this file exists.
    pub reason: String,
    /// Contents must never be printed (keys, kubeconfigs with credentials, tokens).
    pub secret: bool,
}

impl File {
    pub fn new(path: impl Into<String>, mode: u32, contents: impl Into<Vec<u8>>, reason: impl Into<String>) -> Self {
        File { path: path.into(), mode, contents: contents.into(), reason: reason.into(), secret: false }
    }
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

// Debug never shows contents: a plan may hold private keys.
impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "File({} {:04o} {} bytes{})",
            self.path,
            self.mode,
            self.contents.len(),
            if self.secret { ", secret" } else { "" }
        )
    }
}
