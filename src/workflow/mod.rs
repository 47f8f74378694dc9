//! Runs phases in kubeadm's order. A `PhaseObserver` (the first-boot journal) sees each
//! phase start and finish, which is how a crashed run resumes instead of starting over.

pub mod failpoint;
pub mod journal;
pub mod lock;
pub mod phases;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::Resolved;
use crate::host::Host;
pub use phases::Phase;

/// Everything a phase needs: where the host is, what the node should be, and how to behave.
pub struct Ctx {
    pub host: Host,
    pub node: Resolved,
    pub dry_run: bool,
    /// Preflight check names to demote to warnings (config list plus the CLI flag).
    pub ignore_preflight: Vec<String>,
    /// `--skip-phases` plus the config's `skipPhases` (`addon/kube-proxy` style allowed).
    pub skip_phases: Vec<String>,
    /// Write files only: start no service and call no API (`kubeboot render`).
    pub render_only: bool,
    /// Values handed from one phase to a later one in the same run.
    pub state: State,
    /// `show-join-command` prints the join command (`kubeboot init`); at first boot it does
    /// not, since the command carries a bootstrap token and stdout is the journal.
    pub show_join_command: bool,
}

/// Values produced by one phase and consumed by a later one. Anything that must survive a
/// crash is also written to the host by the phase that makes it.
#[derive(Default)]
pub struct State {
    /// Files rendered by earlier phases of this run, by node path. In `--dry-run` nothing is
    /// written, so later phases (kubeconfigs need the CA) read from here first.
    pub rendered: std::collections::BTreeMap<String, Vec<u8>>,
    /// Keys generated ahead for later phases: `certs` makes the kubeconfig client keys in the
    /// same parallel batch as its own, so a full run keeps every core busy once.
    pub spare_keys: Vec<crate::pki::PrivateKey>,
    /// Every preflight finding, also when preflight stopped the run: the first-boot report
    /// includes them (`Report::to_json`).
    pub preflight: Option<crate::preflight::Report>,
    /// A join's `node` already follows the cluster's configuration (`join::follow_cluster`).
    pub follows_cluster: bool,
    /// A control-plane join's discovery result and the cluster's ClusterConfiguration, found by
    /// preflight and written by the discovery phase.
    pub discovered: Option<(crate::join::discovery::Discovered, String)>,
    /// The patch directory, read and tried on every target before the first phase.
    pub patches: Option<crate::patches::PatchManager>,
}

impl Ctx {
    pub fn new(host: Host, node: Resolved) -> Self {
        let ignore_preflight = node.cfg.preflight.ignore_errors.clone();
        // Validated with the config; resolving maps kubeadm's spellings onto this table.
        let skip_phases = phases::resolve_skips(Self::table_for(&node), &node.cfg.skip_phases)
            .unwrap_or(node.cfg.skip_phases.clone());
        Ctx {
            host,
            node,
            dry_run: false,
            ignore_preflight,
            skip_phases,
            render_only: false,
            state: State::default(),
            show_join_command: false,
        }
    }

    fn table_for(node: &Resolved) -> &'static [Phase] {
        if node.role().is_join() { phases::JOIN } else { phases::INIT }
    }

    /// Adds `--skip-phases` values, checked against this node's phase list like the config's.
    pub fn add_skips(&mut self, entries: &[String]) -> Result<()> {
        let resolved = phases::resolve_skips(Self::table_for(&self.node), entries)
            .map_err(|e| crate::error::coded(crate::error::Exit::InvalidInput, format!("--skip-phases: {e}")))?;
        self.skip_phases.extend(resolved);
        Ok(())
    }

    /// True when `name` (a phase, or `phase/sub`) is skipped, directly or through its parent.
    pub fn skipped(&self, name: &str) -> bool {
        let parent = name.split('/').next().unwrap_or(name);
        self.skip_phases.iter().any(|s| s == name || s == parent)
    }

    /// Writes rendered files atomically, or in `--dry-run` only lists them with mode and reason.
    /// Unchanged files are not rewritten; secret contents are never printed.
    pub fn apply_files(&self, phase: &str, files: &[crate::plan::File]) -> Result<()> {
        use crate::host::WriteOutcome;
        if self.dry_run {
            for f in files {
                self.say(
                    phase,
                    format_args!(
                        "would write {} (mode {:04o}, {} bytes): {}",
                        f.path,
                        f.mode,
                        f.contents.len(),
                        f.reason
                    ),
                );
            }
            return Ok(());
        }
        for (f, outcome) in files.iter().zip(self.host.apply_files(files)?) {
            match outcome {
                WriteOutcome::Created => self.say(phase, format_args!("wrote {}", f.path)),
                WriteOutcome::Updated => self.say(phase, format_args!("updated {}", f.path)),
                WriteOutcome::Unchanged => tracing::debug!("{} unchanged", f.path),
            }
        }
        Ok(())
    }

    /// A file as this run sees it: rendered earlier in the run, else read from the host.
    pub fn read_current(&self, node_path: &str) -> Result<Option<Vec<u8>>> {
        if let Some(b) = self.state.rendered.get(node_path) {
            return Ok(Some(b.clone()));
        }
        self.host.read_opt(node_path).with_context(|| format!("reading {}", self.host.path(node_path).display()))
    }

    /// Applies files (see `apply_files`) and remembers them for later phases of this run.
    pub fn emit(&mut self, phase: &str, files: Vec<crate::plan::File>) -> Result<()> {
        self.apply_files(phase, &files)?;
        self.state.rendered.extend(files.into_iter().map(|f| (f.path, f.contents)));
        Ok(())
    }

    /// One progress line, kubeadm style: `[certs] Generating "ca" certificate and key`.
    /// A progress line on stdout, redacted like every log line (a URL from user-data may
    /// carry a password).
    pub fn say(&self, phase: &str, msg: impl std::fmt::Display) {
        println!("[{phase}] {}", crate::report::redact::redact(&msg.to_string()));
    }
}

/// Hooks around each phase; the journal implements this to record progress durably.
pub trait PhaseObserver {
    /// Called before a phase runs. Returning `Ok(false)` skips it (already done).
    fn before(&mut self, _phase: &Phase) -> Result<bool> {
        Ok(true)
    }
    fn after(&mut self, _phase: &Phase, _elapsed: Duration, _outcome: &Result<()>) -> Result<()> {
        Ok(())
    }
}

pub struct NoObserver;
impl PhaseObserver for NoObserver {}

/// Runs every phase of `table` in order, printing one line per phase with its duration.
pub fn run_phases(ctx: &mut Ctx, table: &'static [Phase], observer: &mut dyn PhaseObserver) -> Result<()> {
    crate::patches::prepare(ctx)?;
    for phase in table {
        if ctx.skipped(phase.name) {
            ctx.say(phase.name, "skipped");
            continue;
        }
        if !observer.before(phase)? {
            ctx.say(phase.name, "already done");
            continue;
        }
        let start = Instant::now();
        crate::report::crash::test_panic_point(phase.name);
        let outcome = (phase.run)(ctx, None);
        let elapsed = start.elapsed();
        observer.after(phase, elapsed, &outcome)?;
        outcome.with_context(|| format!("phase {} failed", phase.name))?;
        println!("[{}] done in {}", phase.name, fmt_duration(elapsed));
    }
    Ok(())
}

/// Runs one phase (or one sub-phase) by name, as `kubeboot init phase <name> [<sub>]`.
pub fn run_one(ctx: &mut Ctx, table: &'static [Phase], name: &str, sub: Option<&str>) -> Result<()> {
    let (name, sub) = match (name.split_once('/'), sub) {
        (Some((n, s)), None) => (n, Some(s)),
        _ => (name, sub),
    };
    let phase = phases::find(table, name)
        .with_context(|| format!("unknown phase `{name}`; phases are: {}", phases::names(table).join(", ")))?;
    let sub = match sub {
        None | Some("all") => None,
        Some(s) if phase.subs.contains(&s) => Some(s),
        Some(s) => anyhow::bail!(
            "phase `{name}` has no sub-phase `{s}`; use one of: all, {}",
            if phase.subs.is_empty() { "(none)".to_string() } else { phase.subs.join(", ") }
        ),
    };
    crate::patches::prepare(ctx)?;
    let start = Instant::now();
    (phase.run)(ctx, sub).with_context(|| format!("phase {name} failed"))?;
    println!("[{name}] done in {}", fmt_duration(start.elapsed()));
    Ok(())
}

pub fn fmt_duration(d: Duration) -> String {
    if d.as_secs() >= 1 { format!("{:.2}s", d.as_secs_f64()) } else { format!("{}ms", d.as_millis()) }
}

/// A runtime for the async parts (API calls, HTTP, gRPC). Phases are plain functions and
/// call `block_on`; never call it from inside async code.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
    })
    .block_on(f)
}
