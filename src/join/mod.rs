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

use anyhow::{Context, Result, anyhow, bail};

use crate::config::{JoinSpec, Resolved, Role};
use crate::plan::File;
use crate::workflow::Ctx;
use api::{ApiClient, Auth, GetError, core_path};
use discovery::Discovered;

pub use controlplane::phase_control_plane_prepare;
pub use etcd::phase_etcd_join;
pub use tlsbootstrap::{phase_kubelet_start, phase_kubelet_wait_bootstrap};

/// Where discovery's result is kept (server URL and CA: public facts, but 0600 like all state).
pub const DISCOVERY_STATE: &str = "/var/lib/kubeboot/join/discovery.json";

/// The cluster's ClusterConfiguration as read after discovery (ConfigMap kube-system/kubeadm-config),
/// kept so a resumed join and a later `join phase <name>` render from the same settings.
pub const CLUSTER_CONFIG_STATE: &str = "/var/lib/kubeboot/join/cluster-configuration.yaml";

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
/// kept result as long as it still satisfies the configured pins. Then, before anything is
/// written, the cluster's ClusterConfiguration (kubeadm-config): the join follows it from here
/// on, and user-data that contradicts it stops the join.
pub fn phase_discovery(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    let spec = join_spec(ctx)?.clone();
    if let Some(kept) = read_discovered(ctx)? {
        if spec.ca_cert_hashes.is_empty() || discovery::check_pins(kept.ca_pem.as_bytes(), &spec.ca_cert_hashes).is_ok()
        {
            ctx.say("discovery", format_args!("Using the cluster discovered earlier: {}", kept.server));
            return follow_cluster(ctx);
        }
        ctx.say("discovery", "The kept discovery result does not match join.caCertHashes; discovering again");
        ctx.state.discovered = None;
    }
    let (found, cluster_config) = match ctx.state.discovered.take() {
        Some(both) => both,
        None => discover_and_fetch(ctx)?,
    };
    let node = followed(ctx, &cluster_config)?;
    let json = serde_json::to_vec_pretty(&found)?;
    crate::render::ensure_private_dir(ctx, "/var/lib/kubeboot/join", 0o700)?;
    ctx.emit(
        "discovery",
        vec![
            File::new(DISCOVERY_STATE, 0o600, json, "discovered API server and cluster CA"),
            File::new(
                CLUSTER_CONFIG_STATE,
                0o600,
                cluster_config,
                "the cluster's ClusterConfiguration (kubeadm-config)",
            ),
        ],
    )?;
    adopt(ctx, node);
    Ok(())
}

/// Discovery and the read of the cluster's configuration, in memory (kubeadm's
/// `joinData.InitCfg()`): nothing is written.
fn discover_and_fetch(ctx: &Ctx) -> Result<(Discovered, String)> {
    let spec = join_spec(ctx)?.clone();
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
    let cluster_config = fetch_cluster_configuration(ctx, &found)?;
    Ok((found, cluster_config))
}

/// The ClusterConfiguration in ConfigMap kube-system/kubeadm-config, read with the bootstrap
/// token (kubeadm's `kubeadm:nodes-kubeadm-config` Role lets the bootstrap group read it).
fn fetch_cluster_configuration(ctx: &Ctx, found: &Discovered) -> Result<String> {
    use crate::cluster::uploadconfig::{CLUSTER_CONFIGURATION_KEY, KUBEADM_CONFIG};
    ctx.say(
        "discovery",
        format_args!("Reading configuration from the \"{KUBEADM_CONFIG}\" ConfigMap in namespace \"kube-system\""),
    );
    let token = bootstrap_token(ctx)?;
    let client = ApiClient::verified(&found.server, found.ca_pem.as_bytes(), Auth::BootstrapToken(&token))?;
    let path = core_path("kube-system", "configmaps", KUBEADM_CONFIG);
    let cm = match crate::workflow::block_on(client.get(&path)) {
        Ok(Some(cm)) => cm,
        Ok(None) => bail!(
            "ConfigMap kube-system/{KUBEADM_CONFIG} does not exist on {}: a join takes the cluster's settings from \
             it. Upload it from a control-plane node: `kubeboot init phase upload-config kubeadm --config <its \
             user-data>` (kubeadm: `kubeadm init phase upload-config kubeadm`)",
            found.server
        ),
        Err(GetError::Unauthorized) => return Err(api::token_rejected(&found.server)),
        Err(GetError::Forbidden) => bail!(
            "the bootstrap token may not read ConfigMap kube-system/{KUBEADM_CONFIG} (403): the cluster lacks \
             kubeadm's `kubeadm:nodes-kubeadm-config` Role and RoleBinding for the bootstrap group; \
             `kubeboot init phase upload-config kubeadm` on a control-plane node creates them"
        ),
        Err(e) => bail!("reading ConfigMap kube-system/{KUBEADM_CONFIG} from {}: {e}", found.server),
    };
    cm["data"][CLUSTER_CONFIGURATION_KEY]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("ConfigMap kube-system/{KUBEADM_CONFIG} has no `{CLUSTER_CONFIGURATION_KEY}` key"))
}

/// This node's config following `cluster_config` (a ClusterConfiguration): refused, with both
/// values named, where the user-data says otherwise.
fn followed(ctx: &Ctx, cluster_config: &str) -> Result<Resolved> {
    use crate::config::follow::{self, CLUSTER_SOURCE};
    use crate::error::{Exit, coded};
    let cluster = crate::config::kubeadm::cluster_spec_from_kubeadm_config(cluster_config)
        .map_err(|e| anyhow!("{CLUSTER_SOURCE} does not hold a ClusterConfiguration kubeboot can read: {e}"))?;
    let cfg = follow::follow_cluster(&ctx.node.cfg, cluster)
        .map_err(|found| coded(Exit::InvalidInput, follow::describe(&found)))?;
    let problems = crate::config::validate::validate(&cfg);
    if !problems.is_empty() {
        let each: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        bail!("with the settings from {CLUSTER_SOURCE} this node's config is not valid: {}", each.join("; "));
    }
    let node = ctx.node.with_config(cfg).with_context(|| format!("applying the settings from {CLUSTER_SOURCE}"))?;
    Ok(node)
}

fn adopt(ctx: &mut Ctx, node: Resolved) {
    let c = &node.cfg.cluster;
    ctx.say(
        "discovery",
        format_args!(
            "Following the cluster's configuration: Kubernetes {}, controlPlaneEndpoint {}, serviceSubnet {}",
            node.version,
            c.control_plane_endpoint.as_deref().unwrap_or("(none)"),
            c.networking.service_subnet
        ),
    );
    ctx.node = node;
    ctx.state.follows_cluster = true;
}

/// Makes `ctx.node` follow the cluster's configuration kept by the discovery phase (fetching it
/// now for a join discovered before kubeboot kept it). Every join phase after discovery starts
/// here, so `join phase <name>` and a resumed join render what a whole join would.
pub(crate) fn follow_cluster(ctx: &mut Ctx) -> Result<()> {
    if ctx.state.follows_cluster {
        return Ok(());
    }
    let text = match ctx.read_current(CLUSTER_CONFIG_STATE)? {
        Some(b) => String::from_utf8(b).with_context(|| format!("{CLUSTER_CONFIG_STATE} is not UTF-8"))?,
        None => {
            let found = discovered(ctx)?;
            let text = fetch_cluster_configuration(ctx, &found)?;
            followed(ctx, &text)?; // refused before it is kept
            crate::render::ensure_private_dir(ctx, "/var/lib/kubeboot/join", 0o700)?;
            ctx.emit(
                "discovery",
                vec![File::new(CLUSTER_CONFIG_STATE, 0o600, text.clone(), "the cluster's ClusterConfiguration")],
            )?;
            text
        }
    };
    let node = followed(ctx, &text)?;
    adopt(ctx, node);
    Ok(())
}

/// For the preflight of a control-plane join (kubeadm runs the init checks on the configuration
/// fetched from the cluster): discovery and the cluster's configuration in memory, handed on to
/// the discovery phase, which keeps them.
pub fn follow_cluster_for_preflight(ctx: &mut Ctx) -> Result<()> {
    if ctx.state.follows_cluster {
        return Ok(());
    }
    if ctx.read_current(CLUSTER_CONFIG_STATE)?.is_some() || ctx.read_current(DISCOVERY_STATE)?.is_some() {
        return follow_cluster(ctx);
    }
    let (found, text) = discover_and_fetch(ctx)?;
    let node = followed(ctx, &text)?;
    ctx.state.discovered = Some((found, text));
    adopt(ctx, node);
    Ok(())
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
    follow_cluster(ctx)?;
    crate::cluster::phase_mark_control_plane(ctx, sub)
}

/// `join phase wait-control-plane`: the kubelet, then this node's control-plane components (§6).
pub fn phase_wait_control_plane(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    if !is_control_plane_join(ctx) {
        ctx.say("wait-control-plane", "Not a control-plane node: nothing to do");
        return Ok(());
    }
    follow_cluster(ctx)?;
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
