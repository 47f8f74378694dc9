//! Crash injection for tests: `KUBEBOOT_FAILPOINT=<phase>:before|after` (or the kernel
//! parameter `kubeboot.failpoint=` in VM tests) kills the process with SIGKILL at that phase
//! boundary — no unwinding, no cleanup, no core dump — like a power cut from the process's view.
//!
//! `before` fires after the journal recorded the phase as started, before its work begins;
//! `after` fires after the work finished, before the journal records it as done. Together they
//! cover both sides of every boundary a resume must handle.

use crate::host::Host;

pub const ENV: &str = "KUBEBOOT_FAILPOINT";
pub const CMDLINE_KEY: &str = "kubeboot.failpoint";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failpoint {
    pub phase: String,
    pub when: When,
}

impl Failpoint {
    /// The environment wins over the kernel command line; neither set means no failpoint.
    pub fn from_env(host: &Host) -> Option<Failpoint> {
        let spec = std::env::var(ENV)
            .ok()
            .or_else(|| crate::source::Cmdline::read(host).get(CMDLINE_KEY).map(str::to_string))?;
        Failpoint::parse(&spec)
    }

    pub fn parse(spec: &str) -> Option<Failpoint> {
        let (phase, when) = spec.rsplit_once(':')?;
        let when = match when {
            "before" => When::Before,
            "after" => When::After,
            _ => return None,
        };
        Some(Failpoint { phase: phase.to_string(), when })
    }

    pub fn hit(&self, phase: &str, when: When) {
        if self.phase == phase && self.when == when {
            eprintln!("kubeboot: failpoint {phase}:{when:?} reached; killing this process", when = when);
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}
