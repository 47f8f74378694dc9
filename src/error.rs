//! Outcomes that map to distinct exit codes. Everything else is an `anyhow::Error` (exit 1).

use std::fmt;

/// Exit codes, stable for scripts: 0 success, 1 failure, 2 invalid input,
/// 3 preflight errors, 4 not yet implemented, 75 busy (another run holds the lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failure = 1,
    InvalidInput = 2,
    Preflight = 3,
    NotImplemented = 4,
    Busy = 75,
}

/// An error that carries its exit code; wrap it in anyhow and `cli::main` finds it.
#[derive(Debug)]
pub struct Coded {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

pub fn coded(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded { exit, message: message.into() })
}

/// The one way to say "this part is not built yet": a clear message and a non-zero exit.
pub fn not_implemented(what: &str) -> anyhow::Error {
    coded(Exit::NotImplemented, format!("not yet implemented: {what}"))
}

pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain().find_map(|e| e.downcast_ref::<Coded>()).map(|c| c.exit as u8).unwrap_or(Exit::Failure as u8)
}
