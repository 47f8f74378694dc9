//! Telling the world how first boot is going and how it ended — failure as loudly as success:
//! /run/kubeboot/status.json (plus a persisted copy for after a reboot), sentinels (ours and
//! Cluster API's), a console banner and one machine-readable `KUBEBOOT-RESULT` line, an HTTP(S)
//! POST to `report.url`, and sd_notify STATUS updates. No secret ever reaches any of them:
//! messages pass through `Redactor` first.

pub mod console;
pub mod crash;
pub mod files;
pub mod log;
pub mod post;
pub mod redact;

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use redact::Redactor;

use crate::workflow::{Phase, PhaseObserver};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Done,
    Failed,
}

/// The status document: status.json, `kubeboot status --json`, and the body of the report POST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Where the user-data came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub kubeboot_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The process doing the run, so `status` can tell a crashed run from a running one.
    pub pid: u32,
    /// This is not the first run on this instance: an interrupted one was resumed.
    #[serde(default)]
    pub resumed: bool,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub phases: Vec<PhaseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Preflight findings of this run (`{errors, warnings, findings: [...]}`), when preflight ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<serde_json::Value>,
    /// The last certificate renewal run on this node (timer or boot), once one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_renewal: Option<crate::renewal::RenewalStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseStatus {
    pub name: String,
    pub state: PhaseState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseState {
    Pending,
    Running,
    Done,
    /// Finished in an earlier, interrupted run of this instance.
    AlreadyDone,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The phase that failed, or the step before phases: `datasource`, `config`, `journal`.
    pub phase: String,
    pub message: String,
}

impl Status {
    pub fn new() -> Self {
        Status {
            state: State::Running,
            current_phase: None,
            instance_id: None,
            source: None,
            node_name: None,
            role: None,
            kubeboot_version: env!("CARGO_PKG_VERSION").to_string(),
            kubernetes_version: None,
            pid: std::process::id(),
            resumed: false,
            started_at: crate::workflow::journal::now(),
            finished_at: None,
            phases: vec![],
            error: None,
            preflight: None,
            certificate_renewal: None,
        }
    }

    /// A final status rebuilt from a finished journal (when the status file was lost).
    pub fn from_journal(record: &crate::workflow::journal::Record) -> Self {
        use crate::workflow::journal::PhaseState as J;
        let phases = record
            .phases
            .iter()
            .map(|p| PhaseStatus {
                name: p.name.clone(),
                state: match p.state {
                    J::Done => PhaseState::Done,
                    J::Failed => PhaseState::Failed,
                    J::Started => PhaseState::Pending,
                },
                duration_ms: p.duration_ms,
            })
            .collect();
        Status {
            state: State::Done,
            instance_id: Some(record.instance_id.clone()),
            source: Some(record.origin.clone()),
            resumed: record.runs > 1,
            started_at: record.created_at.clone(),
            finished_at: record.done_at.clone(),
            phases,
            ..Status::new()
        }
    }

    fn phase(&mut self, name: &str) -> &mut PhaseStatus {
        let i = match self.phases.iter().position(|p| p.name == name) {
            Some(i) => i,
            None => {
                self.phases.push(PhaseStatus { name: name.into(), state: PhaseState::Pending, duration_ms: None });
                self.phases.len() - 1
            }
        };
        &mut self.phases[i]
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::new()
    }
}

/// The live reporter of one run: keeps status.json current at every phase boundary.
pub struct Progress {
    pub host: crate::host::Host,
    pub status: Status,
    pub redactor: Redactor,
}

impl Progress {
    pub fn new(host: &crate::host::Host, status: Status) -> Self {
        Progress { host: host.clone(), status, redactor: Redactor::default() }
    }

    pub fn already_done(&mut self, phase: &str) {
        self.status.phase(phase).state = PhaseState::AlreadyDone;
    }

    /// Lists the phases up front so status shows what is still to come.
    pub fn plan(&mut self, names: impl IntoIterator<Item = (String, bool)>) {
        for (name, skipped) in names {
            self.status.phase(&name).state = if skipped { PhaseState::Skipped } else { PhaseState::Pending };
        }
    }

    pub fn save(&self) -> Result<()> {
        files::write_status(&self.host, &self.status)?;
        let what = match (&self.status.state, &self.status.current_phase) {
            (State::Running, Some(p)) => format!("phase {p}"),
            (State::Running, None) => "starting".to_string(),
            (State::Done, _) => "done".to_string(),
            (State::Failed, _) => "failed".to_string(),
        };
        console::notify_status(&what);
        Ok(())
    }

    /// The run ended: final status, sentinels, console, report POST, sd_notify — in that order,
    /// so the files are in place before anyone is told. `err` is `(phase, message)` on failure.
    pub fn finish(&mut self, err: Option<(String, String)>, report: Option<&crate::config::ReportSpec>) {
        self.status.finished_at = Some(crate::workflow::journal::now());
        self.status.current_phase = None;
        match err {
            None => self.status.state = State::Done,
            Some((phase, message)) => {
                self.status.state = State::Failed;
                let message = self.redactor.redact(&message);
                // Steps before the phases (datasource, config, journal) have no entry of their own.
                if let Some(p) = self.status.phases.iter_mut().find(|p| p.name == phase) {
                    p.state = PhaseState::Failed;
                }
                self.status.error = Some(ErrorInfo { phase, message });
            }
        }
        if let Err(e) = files::write_final(&self.host, &self.status) {
            eprintln!("kubeboot: could not write the final status: {}", self.redactor.redact(&format!("{e:#}")));
        }
        console::announce(&self.host, &self.status);
        if let Some(spec) = report.filter(|r| r.url.is_some())
            && let Err(e) = post::send(spec, &self.status)
        {
            eprintln!("kubeboot: completion report not delivered: {}", self.redactor.redact(&format!("{e:#}")));
        }
        console::notify_finished(&self.status);
    }
}

impl PhaseObserver for Progress {
    fn before(&mut self, phase: &Phase) -> Result<bool> {
        self.status.current_phase = Some(phase.name.to_string());
        self.status.phase(phase.name).state = PhaseState::Running;
        self.save()?;
        Ok(true)
    }

    fn after(&mut self, phase: &Phase, elapsed: Duration, outcome: &Result<()>) -> Result<()> {
        let p = self.status.phase(phase.name);
        p.state = if outcome.is_ok() { PhaseState::Done } else { PhaseState::Failed };
        p.duration_ms = Some(elapsed.as_millis() as u64);
        if outcome.is_ok() {
            self.status.current_phase = None;
        }
        self.save()
    }
}
