//! A panic is a bug, and the release build aborts on it (`panic = "abort"`): no unwinding, no
//! `Drop`, no error path. Without this hook a first boot that panicked would leave status.json
//! saying "running" forever, no failure sentinel, no console banner and no report. The hook
//! records the failure the way a failed phase is recorded (status and its persisted copy, the
//! failed sentinel, the console banner and `KUBEBOOT-RESULT` line, the report POST), then
//! aborts, in every build, so tests see what production does.
//!
//! Only `kubeboot run` arms it with its host, redactor and report target; other commands get
//! the message on stderr and the abort.

use std::sync::Mutex;
use std::time::Duration;

use super::{Progress, Redactor, Status};
use crate::config::ReportSpec;
use crate::host::Host;

/// The test-only panic trigger: `KUBEBOOT_TEST_PANIC=<phase>` panics as that phase starts.
/// Honoured only in debug builds (a release binary ignores it).
pub const TEST_PANIC_ENV: &str = "KUBEBOOT_TEST_PANIC";

/// How long the hook waits for the records and the report before aborting anyway.
const RECORD_BUDGET: Duration = Duration::from_secs(40);

struct Armed {
    host: Host,
    redactor: Redactor,
    report: Option<ReportSpec>,
}

static ARMED: Mutex<Option<Armed>> = Mutex::new(None);

/// Installs the hook (once, at startup).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let what = info.payload_as_str().unwrap_or("(no message)");
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        on_panic(format!(
            "internal error (panic in thread {thread}{location}): {what}. This is a bug in kubeboot; \
             please report it with this message"
        ));
    }));
}

/// From now on a panic is recorded as this run's failure.
pub fn arm(host: &Host) {
    if let Ok(mut a) = ARMED.lock() {
        *a = Some(Armed { host: host.clone(), redactor: Redactor::default(), report: None });
    }
}

/// Once the config is known: secrets to redact from the panic message and where to report.
pub fn configure(redactor: &Redactor, report: Option<&ReportSpec>) {
    if let Ok(mut guard) = ARMED.lock()
        && let Some(a) = guard.as_mut()
    {
        a.redactor = redactor.clone();
        a.report = report.cloned();
    }
}

/// The run ended on its own: its own records stand.
pub fn disarm() {
    if let Ok(mut a) = ARMED.lock() {
        *a = None;
    }
}

fn on_panic(message: String) -> ! {
    // try_lock: the panic may have happened while this thread held the lock.
    let armed = ARMED.try_lock().ok().and_then(|mut a| a.take());
    match armed {
        None => eprintln!("kubeboot: {message}"),
        Some(a) => {
            let message = a.redactor.redact(&message);
            eprintln!("error: {message}");
            // A fresh thread: the panicking one may be a tokio worker, where the report's
            // runtime could not start.
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new().name("crash-report".into()).spawn(move || {
                record(a, message);
                let _ = done_tx.send(());
            });
            if spawned.is_ok() {
                let _ = done_rx.recv_timeout(RECORD_BUDGET);
            }
        }
    }
    std::process::abort()
}

/// The failure as `kubeboot run` records any failed step, in the phase status.json last named.
fn record(a: Armed, message: String) {
    let status = match super::files::read(&a.host) {
        Ok(Some(s)) => s,
        _ => Status::new(),
    };
    let phase = status.current_phase.clone().unwrap_or_else(|| "kubeboot".into());
    let mut progress = Progress { host: a.host, status, redactor: a.redactor };
    progress.finish(Some((phase, message)), a.report.as_ref());
}

/// The test trigger, called as each phase starts.
pub fn test_panic_point(phase: &str) {
    if cfg!(debug_assertions) && std::env::var(TEST_PANIC_ENV).is_ok_and(|p| p == phase) {
        panic!("{TEST_PANIC_ENV}={phase}: a panic for tests");
    }
}
