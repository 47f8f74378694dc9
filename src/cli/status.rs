//! `kubeboot status`: what the first-boot run is doing or how it ended, like
//! `cloud-init status`. Exit codes: 0 done, 1 failed (or interrupted), 2 not finished yet.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::Global;
use crate::report::{State, Status, files};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Block until the run has finished.
    #[arg(long)]
    pub wait: bool,
    /// Print the status document as JSON.
    #[arg(long)]
    pub json: bool,
    /// Per-phase detail.
    #[arg(long)]
    pub long: bool,
}

/// What `status` reports: the document's state, refined by whether its process still lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    NotStarted,
    Running,
    /// status.json says running but its process is gone: it crashed or was killed.
    Interrupted,
    Done,
    Failed,
}

impl Seen {
    fn name(self) -> &'static str {
        match self {
            Seen::NotStarted => "not started",
            Seen::Running => "running",
            Seen::Interrupted => "interrupted",
            Seen::Done => "done",
            Seen::Failed => "error",
        }
    }
    fn exit(self) -> u8 {
        match self {
            Seen::Done => 0,
            Seen::Failed | Seen::Interrupted => 1,
            Seen::NotStarted | Seen::Running => 2,
        }
    }
    fn finished(self) -> bool {
        self.exit() != 2
    }
}

pub fn run(g: &Global, a: StatusArgs) -> Result<ExitCode> {
    let host = g.host();
    let (seen, status) = loop {
        let status = files::read(&host)?;
        let seen = classify(status.as_ref());
        if seen.finished() || !a.wait {
            break (seen, status);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if a.json {
        let mut v = serde_json::to_value(&status)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("status".into(), seen.name().into());
        } else {
            v = serde_json::json!({ "status": seen.name() });
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(seen, status.as_ref(), a.long);
    }
    Ok(ExitCode::from(seen.exit()))
}

fn classify(status: Option<&Status>) -> Seen {
    match status.map(|s| (s.state, s.pid)) {
        None => Seen::NotStarted,
        Some((State::Done, _)) => Seen::Done,
        Some((State::Failed, _)) => Seen::Failed,
        Some((State::Running, pid)) if process_is_kubeboot(pid) => Seen::Running,
        Some((State::Running, _)) => Seen::Interrupted,
    }
}

/// Whether `pid` is a live kubeboot process (a recycled pid of another program does not count).
fn process_is_kubeboot(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|&b| b == 0).next().is_some_and(|argv0| String::from_utf8_lossy(argv0).contains("kubeboot")))
        .unwrap_or(false)
}

fn print_text(seen: Seen, status: Option<&Status>, long: bool) {
    println!("status: {}", seen.name());
    let Some(s) = status else { return };
    if let (Some(e), Seen::Failed) = (&s.error, seen) {
        println!("failed phase: {}\nerror: {}", e.phase, e.message);
    }
    if seen == Seen::Interrupted {
        println!(
            "the run (pid {}) stopped during {}; `kubeboot run` resumes it",
            s.pid,
            s.current_phase.as_deref().unwrap_or("start-up")
        );
    }
    if let Some(r) = &s.certificate_renewal {
        let state = serde_json::to_value(r.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let renewed = if r.renewed.is_empty() { "nothing".to_string() } else { r.renewed.join(", ") };
        println!("certificate renewal: {state} at {} ({}): renewed {renewed}", r.at, r.trigger);
        if let Some(e) = &r.error {
            println!("certificate renewal error: {e}");
        }
        if let Some(n) = &r.next_expiry {
            println!("next certificate expiry: {} ({})", n.not_after, n.name);
        }
    }
    if !long {
        return;
    }
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    println!("instance: {} (from {})", opt(&s.instance_id), opt(&s.source));
    println!(
        "node: {} ({}), Kubernetes {}, kubeboot {}",
        opt(&s.node_name),
        opt(&s.role),
        opt(&s.kubernetes_version),
        s.kubeboot_version
    );
    println!(
        "started: {}  finished: {}{}",
        s.started_at,
        opt(&s.finished_at),
        if s.resumed { "  (resumed)" } else { "" }
    );
    println!("phases:");
    for p in &s.phases {
        let state = serde_json::to_value(p.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let took = p.duration_ms.map(|ms| crate::workflow::fmt_duration(Duration::from_millis(ms))).unwrap_or_default();
        println!("  {:<24} {:<12} {took}", p.name, state);
    }
    if seen == Seen::Failed {
        println!("logs: {}", crate::report::console::LOG_COMMAND);
    }
}
