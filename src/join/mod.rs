//! kubeadm join (reference §12): token discovery with CA pinning (`discovery`, `jws`), TLS
//! bootstrap of the kubelet (`tlsbootstrap`), and for an extra control-plane node the shared
//! certificates (`controlplane`) and the etcd member join (`etcd`).
//!
//! Discovery's result (server URL and CA) is kept in `DISCOVERY_STATE`, so a resumed join does
//! not discover again and later phases (or `join phase <name>`) find the cluster.

pub mod api;
pub mod controlplane;
pub mod discovery;
pub mod etcd;
pub mod jws;
pub mod tlsbootstrap;

use anyhow::{Context, Result, bail};

use crate::config::{JoinSpec, Role};
use crate::plan::File;
use crate::workflow::Ctx;
use discovery::Discovered;

pub use controlplane::phase_control_plane_prepare;
pub use etcd::phase_etcd_join;
pub use tlsbootstrap::{phase_kubelet_start, phase_kubelet_wait_bootstrap};

/// Where discovery's result is kept (server URL and CA: public facts, but 0600 like all state).
pub const DISCOVERY_STATE: &str = "/var/lib/kubeboot/join/discovery.json";

/// A bootstrap token `<id>.<secret>`. The secret never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    secret: String,
}

impl Token {
    /// Parses `[a-z0-9]{6}.[a-z0-9]{16}`; the error never repeats the input.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match s.split_once('.') {
            Some((id, secret)) if ok(id, 6) && ok(secret, 16) => Ok(Token { id: id.into(), secret: secret.into() }),
            _ => bail!("the bootstrap token is not of the form [a-z0-9]{{6}}.[a-z0-9]{{16}}"),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The full token, as sent in `Authorization: Bearer` and written to bootstrap-kubelet.conf.
    pub fn bearer(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}.<redacted>)", self.id)
    }
}

pub(crate) fn join_spec(ctx: &Ctx) -> Result<&JoinSpec> {
    ctx.node
        .cfg
        .join
        .as_ref()
        .context("this NodeConfig has no join section (role worker or control-plane-join needs one)")
}

/// The token for TLS bootstrap and the bootstrap-token API reads: `tlsBootstrapToken`, else `token`.
pub(crate) fn bootstrap_token(ctx: &Ctx) -> Result<Token> {
    let spec = join_spec(ctx)?;
    let t = spec.tls_bootstrap_token.as_deref().or(spec.token.as_deref());
    Token::parse(t.context("join.token (or join.tlsBootstrapToken) is not set")?)
}

/// `join phase discovery`: find the cluster and verify its CA, once; a resumed join reuses the
/// kept result as long as it still satisfies the configured pins.
pub fn phase_discovery(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    let spec = join_spec(ctx)?.clone();
    if let Some(kept) = read_discovered(ctx)? {
        if spec.ca_cert_hashes.is_empty() || discovery::check_pins(kept.ca_pem.as_bytes(), &spec.ca_cert_hashes).is_ok()
        {
            ctx.say("discovery", format_args!("Using the cluster discovered earlier: {}", kept.server));
            return Ok(());
        }
        ctx.say("discovery", "The kept discovery result does not match join.caCertHashes; discovering again");
    }
    let what = match (&spec.discovery_file, &spec.api_server_endpoint) {
        (Some(f), _) => format!("the discovery file {f}"),
        (None, Some(ep)) => format!("token discovery against {ep}"),
        (None, None) => "token discovery".into(),
    };
    ctx.say("discovery", format_args!("Discovering the cluster through {what}"));
    let timeout = ctx.node.cfg.timeouts.discovery.as_duration();
    let found = crate::workflow::block_on(discovery::discover(&ctx.host, &spec, timeout))?;
    let pin = crate::pki::ca_cert_hash(&crate::pki::cert_der_from_pem(found.ca_pem.as_bytes())?)?;
    ctx.say("discovery", format_args!("Cluster {} verified; CA {pin}", found.server));
    let json = serde_json::to_vec_pretty(&found)?;
    crate::render::ensure_private_dir(ctx, "/var/lib/kubeboot/join", 0o700)?;
    ctx.emit("discovery", vec![File::new(DISCOVERY_STATE, 0o600, json, "discovered API server and cluster CA")])
}

fn read_discovered(ctx: &Ctx) -> Result<Option<Discovered>> {
    match ctx.read_current(DISCOVERY_STATE)? {
        Some(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| {
            format!("{} is damaged; remove it to discover again", ctx.host.path(DISCOVERY_STATE).display())
        })?)),
        None => Ok(None),
    }
}

/// The discovered cluster, for the phases after discovery.
pub(crate) fn discovered(ctx: &Ctx) -> Result<Discovered> {
    read_discovered(ctx)?.context("the cluster has not been discovered yet; run `kubeboot join phase discovery` first")
}

pub(crate) fn is_control_plane_join(ctx: &Ctx) -> bool {
    ctx.node.role() == Role::ControlPlaneJoin
}

/// `join phase mark-control-plane`: the control-plane labels and taints, as on init (§8).
pub fn phase_mark_control_plane(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    if !is_control_plane_join(ctx) {
        ctx.say("mark-control-plane", "Not a control-plane node: nothing to do");
        return Ok(());
    }
    crate::cluster::phase_mark_control_plane(ctx, sub)
}

/// `join phase wait-control-plane`: the kubelet, then this node's control-plane components (§6).
pub fn phase_wait_control_plane(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    if !is_control_plane_join(ctx) {
        ctx.say("wait-control-plane", "Not a control-plane node: nothing to do");
        return Ok(());
    }
    crate::cluster::phase_wait_control_plane(ctx, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_parsing_never_echoes_and_debug_redacts() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.id, "abcdef");
        assert_eq!(format!("{t:?}"), "Token(abcdef.<redacted>)");
        let err = Token::parse("abcdef.0123456789ABCDEF").unwrap_err().to_string();
        assert!(!err.contains("0123456789"), "{err}");
        assert!(Token::parse("abcdef0123456789abcdef").is_err());
    }
}
