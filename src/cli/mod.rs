//! The command line, shaped like kubeadm's. One file per subcommand; this file holds the
//! global flags, logging setup and the mapping from errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::host::Host;

mod certs;
mod config_cmd;
mod init;
mod join;
mod kubeconfig;
mod preflight;
mod render;
mod reset;
mod run;
mod status;
mod token;
mod version;

#[derive(Debug, Parser)]
#[command(
    name = "kubeboot",
    version,
    about = "Turn a bare machine into a Kubernetes node: kubeadm init/join as one static binary, run at first boot.",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Root directory under which every host path lives (tests and image builds use a temp dir).
    #[arg(long, global = true, default_value = "/", env = "KUBEBOOT_ROOT", value_name = "DIR")]
    pub root: PathBuf,
    /// Print what would be done and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Global {
    pub fn host(&self) -> Host {
        Host::new(&self.root)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// First-boot entry point: find user-data, then init or join exactly once per instance.
    Run(run::RunArgs),
    /// Make this machine the first control-plane node (kubeadm init).
    Init(init::InitArgs),
    /// Join this machine to a cluster as a worker or control-plane node (kubeadm join).
    Join(join::JoinArgs),
    /// Write the files of a control-plane node into --root without starting anything (no root needed).
    Render(render::RenderArgs),
    /// Check that this host can become the node the config describes.
    Preflight(preflight::PreflightArgs),
    /// Undo what init or join put on this host.
    Reset(reset::ResetArgs),
    /// Certificate utilities.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Kubeconfig files for other users.
    #[command(subcommand)]
    Kubeconfig(kubeconfig::KubeconfigCommand),
    /// Manage bootstrap tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Validate user-data, print defaults or the JSON Schema.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Show the first-boot status (exit 0 done, 1 failed, 2 running).
    Status(status::StatusArgs),
    /// Print version information.
    Version(version::VersionArgs),
}

pub fn main() -> ExitCode {
    crate::report::crash::install();
    let cli = Cli::parse();
    init_logging(&cli.global);
    let result = match cli.command {
        Command::Run(a) => run::run(&cli.global, a),
        Command::Init(a) => init::run(&cli.global, a),
        Command::Join(a) => join::run(&cli.global, a),
        Command::Preflight(a) => preflight::run(&cli.global, a),
        Command::Render(a) => render::run(&cli.global, a),
        Command::Reset(a) => reset::run(&cli.global, a),
        Command::Certs(c) => certs::run(&cli.global, c),
        Command::Token(c) => token::run(&cli.global, c),
        Command::Kubeconfig(c) => kubeconfig::run(&cli.global, c),
        Command::Config(c) => config_cmd::run(&cli.global, c),
        Command::Status(a) => status::run(&cli.global, a),
        Command::Version(a) => version::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = crate::error::exit_code_of(&e);
            eprintln!("error: {}", crate::report::redact::redact(&render_chain(&e)));
            ExitCode::from(code)
        }
    }
}

/// `outer: inner: innermost` without repeating a message that a context already contains.
fn render_chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

fn init_logging(g: &Global) {
    use tracing_subscriber::EnvFilter;
    let level = match g.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("KUBEBOOT_LOG").unwrap_or_else(|_| EnvFilter::new(format!("kubeboot={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::report::log::RedactingStderr)
        .with_target(false);
    let _ = match g.log_format {
        LogFormat::Text => builder.without_time().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Loads and validates the config, resolves host-derived defaults and builds the phase context.
/// A config error exits 2 before anything touches the host.
pub(crate) fn load_ctx(
    g: &Global,
    config: Option<&std::path::Path>,
    ignore_preflight: &[String],
    skip_phases: &[String],
) -> anyhow::Result<crate::workflow::Ctx> {
    use crate::error::{Exit, coded};
    let path = config.ok_or_else(|| coded(Exit::InvalidInput, "--config FILE is required"))?;
    let cfg = crate::config::load_file(path).map_err(|d| coded(Exit::InvalidInput, d.to_string()))?;
    crate::report::Redactor::from_config(&cfg); // its secrets are redacted from every message now
    let host = g.host();
    let id = crate::config::HostIdentity::detect(&host);
    let node = crate::config::Resolved::new(cfg, &id).map_err(|e| coded(Exit::InvalidInput, format!("{e:#}")))?;
    let mut ctx = crate::workflow::Ctx::new(host, node);
    ctx.dry_run = g.dry_run;
    ctx.ignore_preflight.extend(ignore_preflight.iter().cloned());
    ctx.add_skips(skip_phases)?;
    Ok(ctx)
}

/// `--patches DIR` wins over the config's `patches.directory`, as in kubeadm.
pub(crate) fn override_patches(ctx: &mut crate::workflow::Ctx, dir: Option<String>) {
    if let Some(dir) = dir {
        // A relative --patches is relative to the working directory, as for kubeadm.
        let directory = match std::path::absolute(&dir) {
            Ok(p) if !dir.starts_with('/') => p.display().to_string(),
            _ => dir,
        };
        ctx.node.cfg.patches = Some(crate::config::Patches { directory });
    }
}

/// The host lock for a command that changes the host; none for `--dry-run`, which changes nothing.
pub(crate) fn host_lock(
    ctx: &crate::workflow::Ctx,
    cmd: &str,
) -> anyhow::Result<Option<crate::workflow::lock::HostLock>> {
    if ctx.dry_run {
        return Ok(None);
    }
    crate::workflow::lock::HostLock::acquire(&ctx.host, cmd).map(Some)
}

pub(crate) fn require_role(
    ctx: &crate::workflow::Ctx,
    allowed: &[crate::config::Role],
    cmd: &str,
) -> anyhow::Result<()> {
    let role = ctx.node.role();
    if allowed.contains(&role) {
        return Ok(());
    }
    Err(crate::error::coded(
        crate::error::Exit::InvalidInput,
        format!(
            "`kubeboot {cmd}` cannot run a config with role `{}`; use `kubeboot {}` (or `kubeboot run`)",
            role.as_str(),
            if role.is_join() { "join" } else { "init" }
        ),
    ))
}
