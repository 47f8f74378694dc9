//! What people and machines watching the console see: one short banner on failure (not a dump),
//! one `KUBEBOOT-RESULT {json}` line always, and sd_notify STATUS/READY when under systemd.
//!
//! On the live machine the banner and result line go to /dev/console (else /dev/kmsg), where
//! a serial console or cloud console log shows them; in a `--root` test run, to stderr/stdout.

use std::io::Write;

use super::{State, Status};
use crate::host::Host;

pub const RESULT_PREFIX: &str = "KUBEBOOT-RESULT";
pub const LOG_COMMAND: &str = "journalctl -b -u kubeboot.service";

/// The one machine-readable final line: state, instance, and the failed phase if any.
pub fn result_line(status: &Status) -> String {
    let mut v = serde_json::json!({
        "state": status.state,
        "instanceId": status.instance_id,
        "nodeName": status.node_name,
        "role": status.role,
    });
    if let Some(e) = &status.error {
        v["phase"] = e.phase.clone().into();
        v["message"] = e.message.clone().into();
    }
    format!("{RESULT_PREFIX} {v}")
}

fn banner(status: &Status) -> Option<String> {
    let e = status.error.as_ref()?;
    let rule = "=".repeat(72);
    Some(format!(
        "{rule}\nkubeboot: FIRST BOOT FAILED in phase `{}`: {}\n  details: kubeboot status --long    logs: {LOG_COMMAND}\n{rule}",
        e.phase, e.message
    ))
}

pub fn announce(host: &Host, status: &Status) {
    let line = result_line(status);
    println!("{line}");
    let banner = banner(status);
    if host.is_live() {
        let text = match &banner {
            Some(b) => format!("{b}\n{line}\n"),
            None => format!("kubeboot: first boot finished: {}\n{line}\n", status.node_name.as_deref().unwrap_or("")),
        };
        if !write_console(&text) {
            eprint!("{text}");
        }
    } else if let Some(b) = banner {
        eprintln!("{b}");
    }
}

/// /dev/console, else the kernel log (one record per line, as /dev/kmsg requires).
fn write_console(text: &str) -> bool {
    if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console")
        && c.write_all(text.as_bytes()).is_ok()
    {
        return true;
    }
    if let Ok(mut k) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        return text.lines().all(|l| k.write_all(format!("kubeboot: {l}\n").as_bytes()).is_ok());
    }
    false
}

/// sd_notify `STATUS=` (a no-op when not started by systemd with a notify socket).
pub fn notify_status(what: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&format!("kubeboot: {what}"))]);
}

pub fn notify_finished(status: &Status) {
    let what = match (&status.state, &status.error) {
        (State::Failed, Some(e)) => format!("kubeboot: failed in phase {}", e.phase),
        _ => "kubeboot: done".to_string(),
    };
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&what)]);
}
