//! `kubeboot run`: the first-boot entry point systemd starts.
//!
//! lock → find user-data → instance identity → journal (done? resume? changed?) → validate →
//! init or join phases, journaled → report. A finished instance exits 0 without writing;
//! every failure after the lock is reported (status, sentinel, console, POST) with its phase.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use super::Global;
use crate::config::{self, HostIdentity, NodeConfig, Resolved};
use crate::error::{Exit, coded, exit_code_of};
use crate::host::Host;
use crate::report::{self, Progress, Redactor, Status};
use crate::source::{self, Env, UserData};
use crate::workflow::failpoint::Failpoint;
use crate::workflow::journal::{self, Journal, Prior};
use crate::workflow::lock::HostLock;
use crate::workflow::{self, Ctx, Phase, PhaseObserver, phases};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Read user-data from this file instead of probing datasources.
    #[arg(long, value_name = "FILE")]
    pub user_data: Option<PathBuf>,
    /// Resume even if the user-data changed since the interrupted run started.
    #[arg(long)]
    pub force: bool,
    /// Probe only these datasources, in the fixed order (cloud-init's datasource_list).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(source::names()))]
    pub datasource: Vec<String>,
    /// Phases to skip (kubeadm names), in addition to the config's skipPhases.
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
}

/// Why a run stopped: the step (a phase name, or `datasource`/`config`/`journal`) and the error.
struct Failure {
    phase: String,
    error: anyhow::Error,
}

fn at(phase: &str) -> impl FnOnce(anyhow::Error) -> Failure + '_ {
    move |error| Failure { phase: phase.to_string(), error }
}

pub fn run(g: &Global, a: RunArgs) -> Result<ExitCode> {
    let host = g.host();
    if g.dry_run {
        return dry_run(&host, &a);
    }
    // First, before any write: a second concurrent run stops here with exit 75.
    let _lock = HostLock::acquire(&host, "run")?;
    let mut progress = Progress::new(&host, Status::new());
    let mut report_to = None;
    report::crash::arm(&host);
    let outcome = provision(&host, &a, &mut progress, &mut report_to);
    report::crash::disarm();
    match outcome {
        Ok(true) => {
            progress.finish(None, report_to.as_ref());
            Ok(ExitCode::SUCCESS)
        }
        // Already provisioned: nothing written, unless certificates are due for renewal.
        Ok(false) if crate::renewal::at_boot(&host) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::FAILURE),
        Err(Failure { phase, error }) => {
            let message = progress.redactor.redact(&format!("{error:#}"));
            eprintln!("error: {message}");
            progress.finish(Some((phase, message)), report_to.as_ref());
            Ok(ExitCode::from(exit_code_of(&error)))
        }
    }
}

/// `Ok(true)`: provisioned by this run. `Ok(false)`: the instance was already done.
fn provision(
    host: &Host,
    a: &RunArgs,
    progress: &mut Progress,
    report_to: &mut Option<config::ReportSpec>,
) -> Result<bool, Failure> {
    // Written before probing (a seed device can take up to its deadline): `kubeboot status`
    // shows a running boot at `datasource` instead of nothing. Not over this boot's finished
    // status: a re-run of a finished instance writes nothing.
    progress.status.current_phase = Some("datasource".into());
    if !finished_this_boot(host) {
        progress.save().map_err(at("datasource"))?;
    }
    let env = Env::detect(host);
    let ud = source::find(&env, a.user_data.as_ref(), &a.datasource).map_err(at("datasource"))?;
    progress.status.current_phase = None;
    let instance_id = instance_id(host, &ud).map_err(at("datasource"))?;
    progress.status.instance_id = Some(instance_id.clone());
    progress.status.source = Some(ud.origin.clone());

    let sha = journal::sha256_hex(&ud.bytes);
    let prior = journal::prior(host, &instance_id, &sha, a.force).map_err(at("journal"))?;
    if let Prior::Done(record) = &prior {
        return already_done(host, record, &sha).map(|()| false).map_err(at("journal"));
    }
    progress.status.resumed = matches!(prior, Prior::Resume(_));

    let cfg = config::load(&ud.origin, &ud.bytes)
        .map_err(|d| Failure { phase: "config".into(), error: coded(Exit::InvalidInput, d.to_string()) })?;
    progress.redactor = Redactor::from_config(&cfg);
    *report_to = cfg.report.clone();
    report::crash::configure(&progress.redactor, report_to.as_ref());
    let node = resolve(host, cfg, &ud).map_err(at("config"))?;
    progress.status.node_name = Some(node.node_name.clone());
    progress.status.role = Some(node.role().as_str().to_string());
    // A join's version is the cluster's, known after discovery (unless the user-data names it).
    let written_version = node.cfg.written_cluster.0.as_ref().is_some_and(|c| c.get("kubernetesVersion").is_some());
    if !node.role().is_join() || written_version {
        progress.status.kubernetes_version = Some(node.cfg.cluster.kubernetes_version.clone());
    }

    let failpoint = Failpoint::from_env(host);
    let mut journal =
        Journal::begin(host, prior, &instance_id, &ud.origin, &ud.bytes, failpoint).map_err(at("journal"))?;

    let mut ctx = Ctx::new(host.clone(), node);
    ctx.add_skips(&a.skip_phases).map_err(at("config"))?;
    sweep_temps(&ctx, &instance_id).map_err(at("journal"))?;
    set_hostname(&ctx).map_err(at("hostname"))?;
    let table = if ctx.node.role().is_join() { phases::JOIN } else { phases::INIT };
    progress.plan(table.iter().map(|p| (p.name.to_string(), ctx.skipped(p.name))));
    progress.save().map_err(at("journal"))?;

    // A bad patch file fails here, before any phase writes, under its own step name.
    crate::patches::prepare(&mut ctx).map_err(at("patches"))?;
    let mut observer = FirstBoot { journal: &mut journal, progress };
    let outcome = workflow::run_phases(&mut ctx, table, &mut observer);
    if ctx.state.follows_cluster {
        progress.status.kubernetes_version = Some(ctx.node.version.to_string());
    }
    if let Some(report) = &ctx.state.preflight {
        let json = progress.redactor.redact(&report.to_json().to_string());
        progress.status.preflight = serde_json::from_str(&json).ok();
    }
    if let Err(error) = outcome {
        let phase = progress.status.current_phase.clone().unwrap_or_else(|| "journal".into());
        return Err(Failure { phase, error });
    }
    journal.finish().map_err(at("journal"))?;
    Ok(true)
}

/// Whether /run/kubeboot/status.json says done (this boot already provisioned or restored).
fn finished_this_boot(host: &Host) -> bool {
    host.read_opt(report::files::STATUS_FILE)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Status>(&b).ok())
        .is_some_and(|s| s.state == report::State::Done)
}

/// A run killed mid-write may have left dot-prefixed temp files beside its targets; clear them
/// (we hold the lock, so none belongs to a live kubeboot run).
fn sweep_temps(ctx: &Ctx, instance_id: &str) -> Result<()> {
    let pki = ctx.node.pki_dir().to_string();
    let dirs = [
        config::resolve::KUBERNETES_DIR.to_string(),
        config::resolve::MANIFESTS_DIR.to_string(),
        config::resolve::KUBELET_DIR.to_string(),
        format!("{pki}/etcd"),
        pki,
        report::files::RUN_DIR.to_string(),
        journal::STATE_DIR.to_string(),
        journal::instance_dir(instance_id),
    ];
    for d in dirs {
        let n = ctx.host.remove_stale_temps(&d)?;
        if n > 0 {
            ctx.say("run", format_args!("removed {n} temp file(s) of an interrupted run from {d}"));
        }
    }
    Ok(())
}

/// First boot sets the system host name to the node name (see `host::hostname`).
fn set_hostname(ctx: &Ctx) -> Result<()> {
    use crate::host::hostname::{self, Outcome};
    let enabled = ctx.node.cfg.node.set_hostname;
    match hostname::ensure(&ctx.host, &ctx.node.node_name, enabled, ctx.dry_run)? {
        Outcome::Disabled => ctx.say("hostname", "Leaving the host name alone (node.setHostname: false)"),
        Outcome::Preserved => {
            ctx.say("hostname", format_args!("Leaving the host name alone ({} is present)", hostname::PRESERVE_MARKER))
        }
        Outcome::Unchanged(_) => {}
        Outcome::Set(name) if ctx.dry_run => ctx.say("hostname", format_args!("Would set the host name to {name:?}")),
        Outcome::Set(name) => ctx.say("hostname", format_args!("Set the host name to {name:?}")),
    }
    Ok(())
}

/// meta-data's instance-id, else /etc/machine-id (what cloud-init and systemd call this machine).
fn instance_id(host: &Host, ud: &UserData) -> Result<String> {
    if let Some(id) = ud.meta.instance_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(id.to_string());
    }
    let machine_id = host.read_to_string("/etc/machine-id").unwrap_or_default().trim().to_string();
    if machine_id.is_empty() {
        anyhow::bail!(
            "cannot tell which instance this is: {} has no instance-id in its meta-data and /etc/machine-id \
             is missing or empty; add `instance-id: <id>` to meta-data",
            ud.origin
        );
    }
    Ok(machine_id)
}

/// The node name defaults to meta-data's local-hostname when the platform gives one, else the host name.
fn resolve(host: &Host, cfg: NodeConfig, ud: &UserData) -> Result<Resolved> {
    let mut id = HostIdentity::detect(host);
    if let Some(h) = ud.meta.local_hostname.as_deref().filter(|h| !h.is_empty()) {
        id.hostname = h.to_lowercase();
        if cfg.node.name.is_none() {
            config::resolve::check_node_name(&id.hostname, &format!("meta-data local-hostname ({})", ud.origin))
                .map_err(|e| coded(Exit::InvalidInput, format!("{e:#}")))?;
        }
    }
    Resolved::new(cfg, &id).map_err(|e| coded(Exit::InvalidInput, format!("{e:#}")))
}

fn already_done(host: &Host, record: &journal::Record, sha: &str) -> Result<()> {
    let when = record.done_at.as_deref().unwrap_or("?");
    println!("kubeboot: instance {} was provisioned at {when}; nothing to do", record.instance_id);
    if record.user_data_sha256 != sha {
        eprintln!(
            "warning: the user-data changed since instance {} was provisioned; it is ignored. \
             A new instance-id (or `kubeboot reset`) is needed to provision again",
            record.instance_id
        );
    }
    // The persisted final status, unless a crash came between the journal's done mark and it:
    // then the journal is the truth and the status is rebuilt from it (written once).
    let status = match report::files::read_persisted(host)? {
        Some(s) if s.state == report::State::Done => s,
        _ => {
            let s = report::Status::from_journal(record);
            report::files::write_final(host, &s)?;
            s
        }
    };
    report::files::restore(host, &status).context("restoring the status after a reboot")?;
    println!("{}", report::console::result_line(&status));
    Ok(())
}

fn dry_run(host: &Host, a: &RunArgs) -> Result<ExitCode> {
    let ud = source::find(&Env::detect(host), a.user_data.as_ref(), &a.datasource)?;
    println!("[run] user-data from {}", ud.origin);
    let cfg = config::load(&ud.origin, &ud.bytes).map_err(|d| coded(Exit::InvalidInput, d.to_string()))?;
    let mut ctx = Ctx::new(host.clone(), resolve(host, cfg, &ud)?);
    ctx.dry_run = true;
    ctx.add_skips(&a.skip_phases)?;
    set_hostname(&ctx)?;
    let table = if ctx.node.role().is_join() { phases::JOIN } else { phases::INIT };
    workflow::run_phases(&mut ctx, table, &mut workflow::NoObserver)?;
    Ok(ExitCode::SUCCESS)
}

/// The journal decides what runs; the status follows along.
struct FirstBoot<'a> {
    journal: &'a mut Journal,
    progress: &'a mut Progress,
}

impl PhaseObserver for FirstBoot<'_> {
    fn before(&mut self, phase: &Phase) -> Result<bool> {
        if !self.journal.before(phase)? {
            self.progress.already_done(phase.name);
            return Ok(false);
        }
        self.progress.before(phase)
    }

    fn after(&mut self, phase: &Phase, elapsed: Duration, outcome: &Result<()>) -> Result<()> {
        self.journal.after(phase, elapsed, outcome)?;
        self.progress.after(phase, elapsed, outcome)
    }
}
