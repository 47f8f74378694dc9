//! Clock: certificates are stamped with this machine's clock. A clock in the past makes every
//! fresh certificate "not yet valid" elsewhere; one that disagrees with a supplied CA or with the
//! hardware clock is a sign of the same trouble.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Check, Env, Problem};

/// 2025-08-27T00:00:00Z, the release of Kubernetes v1.34.0: a clock before it cannot be right
/// for a node kubeboot makes.
const EARLIEST_PLAUSIBLE: i64 = 1_756_252_800;

/// A hardware clock further than this from the system clock is worth a warning.
const RTC_TOLERANCE_SECS: i64 = 24 * 3600;

pub fn clock() -> Check {
    Check::new("Clock", |env| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let mut problems = vec![];
        if now < EARLIEST_PLAUSIBLE {
            problems.push(Problem::error(
                format!("the system clock ({}) is before 2025-08-27, the release of Kubernetes v1.34", fmt_time(now)),
                "set the time (enable NTP: timedatectl set-ntp true) before creating certificates",
            ));
        }
        if let Some(p) = supplied_ca_window(env, now) {
            problems.push(p);
        }
        if let Some(rtc) =
            env.host.read_to_string("/sys/class/rtc/rtc0/since_epoch").ok().and_then(|s| s.trim().parse::<i64>().ok())
            && (rtc - now).abs() > RTC_TOLERANCE_SECS
        {
            problems.push(Problem::warning(
                format!(
                    "the system clock ({}) and the hardware clock ({}) differ by more than a day",
                    fmt_time(now),
                    fmt_time(rtc)
                ),
                "check which one is right; enable NTP so certificates carry a correct time",
            ));
        }
        problems
    })
}

/// A CA supplied in the config must be valid now, or nothing it signs will be.
fn supplied_ca_window(env: &Env, now: i64) -> Option<Problem> {
    let ca = env.node.cfg.cluster.ca.as_ref()?;
    let pem = pem::parse(ca.cert.as_bytes()).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(pem.contents()).ok()?;
    let (from, until) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    if now >= from && now <= until {
        return None;
    }
    Some(Problem::error(
        format!(
            "the system clock ({}) is outside the supplied CA's validity ({} to {})",
            fmt_time(now),
            fmt_time(from),
            fmt_time(until)
        ),
        "fix the clock (NTP), or supply a CA that is valid now",
    ))
}

fn fmt_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_else(|_| format!("{secs}s"))
}
