//! Certificate renewal that needs no human: what `kubeboot-cert-renew.service` (daily timer)
//! and `kubeboot run` on an already provisioned node do.
//!
//! 1. Read the node's config (`--config`, else the user-data the instance was provisioned
//!    from, kept under /var/lib/kubeboot), for `certificateRenewal`,
//!    `certificateValidityPeriod`, `encryptionAlgorithm` and `certificatesDir`.
//! 2. Renew every certificate that expires within `certificateRenewal.before` (`pki::renew`).
//! 3. Restart the components that read a renewed file, one at a time, each healthy before the
//!    next (`host::restart`).
//! 4. Record the outcome: /var/lib/kubeboot/cert-renewal.json, the `certificateRenewal` field
//!    of the status document (`kubeboot status`), the report POST when `report.url` is set,
//!    and on failure a sentinel /run/kubeboot/cert-renewal-failed plus a banner on the console.
//!    A failure is never silent: the command exits non-zero, so the systemd unit fails too.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::NodeConfig;
use crate::host::Host;
use crate::host::restart::{self, Pods, RestartOptions, Restarted};
use crate::pki::renew::{self, Decision, Settings};

pub const STATUS_FILE: &str = "/var/lib/kubeboot/cert-renewal.json";
pub const FAILED_SENTINEL: &str = "/run/kubeboot/cert-renewal-failed";
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewalState {
    /// Ran: renewed what was due (possibly nothing) and restarted what needed it.
    Done,
    Failed,
    /// `certificateRenewal.enabled: false`.
    Disabled,
}

/// The outcome of one renewal run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalStatus {
    pub state: RenewalState,
    /// `boot`, `timer` or `manual`.
    pub trigger: String,
    pub at: String,
    /// The renewal window used (Go duration).
    pub before: String,
    /// What was renewed and written (a dry run: what would be). Empty when the run failed
    /// before writing.
    #[serde(default)]
    pub renewed: Vec<String>,
    #[serde(default)]
    pub restarted: Vec<Restarted>,
    /// The earliest expiry among the renewable certificates after this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_expiry: Option<NextExpiry>,
    /// When the next run will renew something: next expiry minus the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_renewal: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextExpiry {
    pub name: String,
    pub not_after: String,
}

/// The node's config: `explicit`, else the user-data of the provisioned instance, else none
/// (kubeadm's defaults apply).
/// A joined node follows the cluster's configuration kept by its join (the cluster's
/// `encryptionAlgorithm`, `certificateValidityPeriod`, `certificatesDir`), as the join did.
pub fn node_config(host: &Host, explicit: Option<&Path>) -> Result<Option<(String, NodeConfig)>> {
    if let Some(path) = explicit {
        let cfg = crate::config::load_file(path)
            .map_err(|d| crate::error::coded(crate::error::Exit::InvalidInput, d.to_string()))?;
        return Ok(Some((path.display().to_string(), follow_kept_cluster(host, cfg)?)));
    }
    let Some(user_data) = provisioned_user_data(host)? else { return Ok(None) };
    let bytes = host.read(&user_data).with_context(|| format!("reading {user_data}"))?;
    let cfg = crate::config::load(&user_data, &bytes).map_err(|d| {
        anyhow::anyhow!("{d}\nthe user-data this node was provisioned from no longer validates; pass --config FILE")
    })?;
    Ok(Some((user_data, follow_kept_cluster(host, cfg)?)))
}

fn follow_kept_cluster(host: &Host, cfg: NodeConfig) -> Result<NodeConfig> {
    use crate::config::follow;
    let kept = crate::join::CLUSTER_CONFIG_STATE;
    if !cfg.role.is_join() {
        return Ok(cfg);
    }
    let Some(bytes) = host.read_opt(kept)? else { return Ok(cfg) };
    let text = String::from_utf8_lossy(&bytes);
    let cluster =
        crate::config::kubeadm::cluster_spec_from_kubeadm_config(&text).map_err(|e| anyhow::anyhow!("{kept}: {e}"))?;
    follow::follow_cluster(&cfg, cluster).map_err(|found| anyhow::anyhow!("{}", follow::describe(&found)))
}

/// The kept user-data of the most recently finished instance.
fn provisioned_user_data(host: &Host) -> Result<Option<String>> {
    use crate::workflow::journal::{INSTANCES_DIR, Record};
    let Ok(entries) = std::fs::read_dir(host.path(INSTANCES_DIR)) else { return Ok(None) };
    let mut best: Option<(String, String)> = None;
    for e in entries.flatten() {
        let dir = format!("{INSTANCES_DIR}/{}", e.file_name().to_string_lossy());
        let Ok(Some(bytes)) = host.read_opt(format!("{dir}/journal.json")) else { continue };
        let Ok(record) = serde_json::from_slice::<Record>(&bytes) else { continue };
        if let Some(done) = record.done_at
            && best.as_ref().is_none_or(|(t, _)| *t < done)
        {
            best = Some((done, format!("{dir}/user-data")));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Which certificates are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every named certificate, whatever its expiry (kubeadm's `certs renew`).
    Always,
    /// Those expiring within `certificateRenewal.before`; nothing when renewal is disabled.
    Configured,
    /// Those expiring within this duration.
    Within(Duration),
}

/// How a renewal run behaves.
pub struct Options<'a> {
    pub trigger: &'a str,
    /// Names as `certs renew` takes them; empty means all.
    pub names: Vec<String>,
    pub window: Window,
    /// Restart the components that use renewed files.
    pub restart: bool,
    pub restart_options: RestartOptions,
    pub dry_run: bool,
    /// Overrides the config's `certificatesDir`.
    pub cert_dir: Option<String>,
}

/// One renewal run as the timer and boot do it. Never returns an error: failures are in the
/// status (and printed); `save` records it.
pub fn run(
    host: &Host,
    cfg: Option<&NodeConfig>,
    opts: &Options,
    pods: Option<&mut dyn Pods>,
    say: &mut dyn FnMut(String),
) -> RenewalStatus {
    let start = Instant::now();
    let policy = cfg.map(|c| c.certificate_renewal).unwrap_or_default();
    let before = match opts.window {
        Window::Always => None,
        Window::Configured => Some(policy.before.as_duration()),
        Window::Within(d) => Some(d),
    };
    let mut status = RenewalStatus {
        state: RenewalState::Done,
        trigger: opts.trigger.to_string(),
        at: crate::workflow::journal::now(),
        before: before.map_or("always".into(), |d| crate::config::duration::GoDuration(d).to_string()),
        renewed: vec![],
        restarted: vec![],
        next_expiry: None,
        next_renewal: None,
        warnings: vec![],
        error: None,
        duration_ms: 0,
    };
    if !policy.enabled && opts.window == Window::Configured {
        say("automatic renewal is off (certificateRenewal.enabled: false); nothing done".into());
        status.state = RenewalState::Disabled;
        return status;
    }
    if let Err(e) = run_inner(host, cfg, before, opts, pods, say, &mut status) {
        status.state = RenewalState::Failed;
        status.error = Some(format!("{e:#}"));
    }
    status.duration_ms = start.elapsed().as_millis() as u64;
    status
}

fn run_inner(
    host: &Host,
    cfg: Option<&NodeConfig>,
    before: Option<Duration>,
    opts: &Options,
    pods: Option<&mut dyn Pods>,
    say: &mut dyn FnMut(String),
    status: &mut RenewalStatus,
) -> Result<()> {
    let settings = cfg.map(Settings::from_config).unwrap_or_default();
    let now = crate::pki::now();
    let settings = Settings { cert_dir: opts.cert_dir.clone().unwrap_or(settings.cert_dir), ..settings };
    let plan = renew::plan(host, &settings, &opts.names, before, now)?;
    for o in &plan.outcomes {
        match o.decision {
            Decision::Renewed { .. } => say(o.line(opts.dry_run)),
            Decision::External => status.warnings.push(o.line(false)),
            _ if opts.trigger == "manual" => say(o.line(opts.dry_run)),
            _ => tracing::debug!("{}", o.line(opts.dry_run)),
        }
    }
    if let Some((name, t)) = plan.next_expiry() {
        status.next_expiry = Some(NextExpiry { name: name.to_string(), not_after: renew::rfc3339(t) });
        let window = time::Duration::try_from(before.unwrap_or_default()).unwrap_or(time::Duration::ZERO);
        status.next_renewal = Some(renew::rfc3339(t - window));
    }
    if let Some(w) = kubelet_rotation_warning(host) {
        status.warnings.push(w);
    }
    let renewed: Vec<String> = plan.renewed().map(|o| o.renewable.name.to_string()).collect();
    if opts.dry_run {
        status.renewed = renewed;
        return Ok(());
    }
    renew::apply(host, &plan)?;
    // Only once written: a failed run with `renewed` set failed after the new certificates
    // were in place (restarting their users), and its banner says so.
    status.renewed = renewed;
    let components = restart::components_for(status.renewed.iter().map(String::as_str));
    if components.is_empty() {
        return Ok(());
    }
    if !opts.restart {
        status.warnings.push(format!(
            "restart {} to use the renewed certificates (restart was not requested)",
            components.join(", ")
        ));
        return Ok(());
    }
    let Some(pods) = pods else {
        status.warnings.push(format!(
            "no container runtime to restart {} through; restart them to use the renewed certificates",
            components.join(", ")
        ));
        return Ok(());
    };
    let mut record = |line: String| say(line);
    status.restarted = restart::rolling_restart(host, &components, pods, &opts.restart_options, &mut record)?;
    Ok(())
}

/// The kubelet rotates its own client certificate only with `rotateCertificates: true`
/// (kubeadm's default); anything else is worth a warning in the renewal status.
pub fn kubelet_rotation_warning(host: &Host) -> Option<String> {
    let bytes = host.read_opt(KUBELET_CONFIG).ok()??;
    let cfg: serde_json::Value = serde_saphyr::from_str(std::str::from_utf8(&bytes).ok()?).ok()?;
    (cfg["rotateCertificates"] != true).then(|| {
        format!(
            "{KUBELET_CONFIG} does not set rotateCertificates: true, so the kubelet will not renew its own client \
             certificate (kubelet.conf); set it in kubeletConfiguration"
        )
    })
}

/// Whether a run is worth recording: it renewed something or failed, or it clears an earlier
/// failure. A run with nothing due after a good one writes nothing at all.
pub fn worth_saving(host: &Host, status: &RenewalStatus) -> bool {
    if status.state == RenewalState::Failed || !status.renewed.is_empty() {
        return true;
    }
    let previous =
        host.read_opt(STATUS_FILE).ok().flatten().and_then(|b| serde_json::from_slice::<RenewalStatus>(&b).ok());
    previous.is_some_and(|p| p.state == RenewalState::Failed) || host.exists(FAILED_SENTINEL)
}

/// Records the outcome: the renewal status file, the status document's `certificateRenewal`,
/// the failure sentinel, and the report POST when the config has `report.url`.
pub fn save(host: &Host, cfg: Option<&NodeConfig>, status: &RenewalStatus) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(status)?;
    json.push(b'\n');
    host.ensure_dir(crate::workflow::journal::STATE_DIR, 0o700)?;
    host.write_atomic(STATUS_FILE, &json, 0o644)?;
    match status.state {
        RenewalState::Failed => {
            host.ensure_dir(crate::report::files::RUN_DIR, 0o755)?;
            let line = format!("{} {}\n", status.at, status.error.as_deref().unwrap_or(""));
            host.write_atomic(FAILED_SENTINEL, line.as_bytes(), 0o644)?;
        }
        _ => {
            host.remove_file(FAILED_SENTINEL)?;
        }
    }
    if let Some(mut doc) = crate::report::files::read_persisted(host)? {
        doc.certificate_renewal = Some(status.clone());
        crate::report::files::write_status(host, &doc)?;
        let bytes = serde_json::to_vec_pretty(&doc)?;
        host.write_atomic(crate::report::files::PERSISTED_STATUS_FILE, &[bytes, b"\n".to_vec()].concat(), 0o644)?;
        if let Some(spec) = cfg.and_then(|c| c.report.as_ref())
            && status.state != RenewalState::Disabled
            && !(status.renewed.is_empty() && status.state == RenewalState::Done)
            && let Err(e) = crate::report::post::send(spec, &doc)
        {
            eprintln!("warning: {e:#}");
        }
    }
    Ok(())
}

/// The one-line summary, and for a failure a banner: on the console (stderr) and in the journal.
pub fn announce(status: &RenewalStatus) {
    let next =
        status.next_expiry.as_ref().map(|n| format!("; next expiry {} ({})", n.not_after, n.name)).unwrap_or_default();
    match status.state {
        RenewalState::Failed => failure_banner(status, &next).iter().for_each(|l| eprintln!("{l}")),
        RenewalState::Disabled => println!("[certs] automatic renewal is disabled{next}"),
        RenewalState::Done if status.renewed.is_empty() => {
            println!("[certs] nothing due within {}{next}", status.before)
        }
        RenewalState::Done => {
            let restarted: Vec<&str> = status.restarted.iter().map(|r| r.component.as_str()).collect();
            println!(
                "[certs] renewed {} in {}ms; restarted: {}{next}",
                status.renewed.join(", "),
                status.duration_ms,
                if restarted.is_empty() { "none".to_string() } else { restarted.join(", ") }
            );
        }
    }
    for w in &status.warnings {
        eprintln!("warning: {w}");
    }
}

/// The console banner of a failed run. `renewed` is set only once the new certificates are
/// written, so a failure with it set came afterwards (restarting the components).
fn failure_banner(status: &RenewalStatus, next: &str) -> Vec<String> {
    let bar = "!".repeat(72);
    let state = if status.renewed.is_empty() {
        format!("  the control plane keeps its old certificates{next}")
    } else {
        format!(
            "  the renewed certificates are written ({}); components not restarted use the old ones until \
             they restart{next}",
            status.renewed.join(", ")
        )
    };
    vec![
        bar.clone(),
        format!("kubeboot: CERTIFICATE RENEWAL FAILED: {}", status.error.as_deref().unwrap_or("?")),
        state,
        format!("  details: {STATUS_FILE}, `journalctl -u kubeboot-cert-renew.service`"),
        bar,
    ]
}

/// The real node's Pod observer, when there is a container runtime to ask.
pub fn live_pods(host: &Host) -> Option<restart::CriPods> {
    if !host.is_live() {
        return None;
    }
    let endpoint = crate::host::cri::detect_endpoint(host).ok()??;
    let socket = crate::host::cri::socket_path(endpoint).ok()?;
    restart::CriPods::new(socket).ok()
}

/// `kubeboot run` on a provisioned node: put back a manifest a crashed restart left parked,
/// then renew what is due (the node may have been off through the timer's window) and restart
/// its users. With nothing due this reads a dozen small files and writes nothing.
/// Returns false when renewal failed (already announced loudly).
pub fn at_boot(host: &Host) -> bool {
    match restart::recover_parked(host) {
        Ok(back) => {
            back.iter().for_each(|c| println!("[certs] put back the {c} manifest left by an interrupted restart"))
        }
        Err(e) => eprintln!("warning: {e:#}"),
    }
    let cfg = match node_config(host, None) {
        Ok(c) => c.map(|(_, c)| c),
        Err(e) => {
            let status = RenewalStatus {
                state: RenewalState::Failed,
                trigger: "boot".into(),
                at: crate::workflow::journal::now(),
                before: String::new(),
                renewed: vec![],
                restarted: vec![],
                next_expiry: None,
                next_renewal: None,
                warnings: vec![],
                error: Some(format!("{e:#}")),
                duration_ms: 0,
            };
            let _ = save(host, None, &status);
            announce(&status);
            return false;
        }
    };
    let opts = Options {
        trigger: "boot",
        names: vec![],
        window: Window::Configured,
        restart: true,
        restart_options: RestartOptions::default(),
        dry_run: false,
        cert_dir: None,
    };
    let mut pods = live_pods(host);
    let pods_dyn = pods.as_mut().map(|p| p as &mut dyn Pods);
    let mut say = |line: String| println!("[certs] {line}");
    let status = run(host, cfg.as_ref(), &opts, pods_dyn, &mut say);
    let eventful = status.state == RenewalState::Failed || !status.renewed.is_empty();
    if worth_saving(host, &status)
        && let Err(e) = save(host, cfg.as_ref(), &status)
    {
        eprintln!("warning: recording the renewal status: {e:#}");
    }
    if eventful || status.state == RenewalState::Disabled {
        announce(&status);
    } else if let Some(n) = &status.next_expiry {
        println!("[certs] no certificate due for renewal; next expiry {} ({})", n.not_after, n.name);
    }
    status.state != RenewalState::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(renewed: &[&str]) -> RenewalStatus {
        RenewalStatus {
            state: RenewalState::Failed,
            trigger: "boot".into(),
            at: "2027-11-07T17:00:00Z".into(),
            before: "720h0m0s".into(),
            renewed: renewed.iter().map(|s| s.to_string()).collect(),
            restarted: vec![],
            next_expiry: None,
            next_renewal: None,
            warnings: vec![],
            error: Some("etcd did not come back healthy within 240s".into()),
            duration_ms: 1,
        }
    }

    #[test]
    fn the_failure_banner_tells_whether_the_certificates_were_written() {
        // Failed before writing (e.g. a damaged CA key): the old certificates stay.
        let before = failure_banner(&failed(&[]), "").join("\n");
        assert!(before.contains("keeps its old certificates"), "{before}");
        // Failed restarting after writing (seen in the VM before host::restart left Pod-less
        // components alone): saying "keeps its old certificates" would be false.
        let after = failure_banner(&failed(&["apiserver", "etcd-server"]), "").join("\n");
        assert!(!after.contains("keeps its old certificates"), "{after}");
        assert!(after.contains("the renewed certificates are written (apiserver, etcd-server)"), "{after}");
        assert!(after.contains("CERTIFICATE RENEWAL FAILED: etcd did not come back healthy"), "{after}");
    }
}
