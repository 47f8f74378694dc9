//! kubelet-start for a joining node and the wait for TLS bootstrap (reference §12.3, §5).
//!
//! The kubelet gets `bootstrap-kubelet.conf` (the bootstrap token, 0600) and the cluster CA,
//! its configuration from the cluster's `kubelet-config` ConfigMap, and is started; it then asks
//! for its own client certificate and writes `kubelet.conf`, after which the bootstrap
//! credential is deleted.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::Token;
use super::api::{ApiClient, Auth, GetError, core_path};
use crate::config::Resolved;
use crate::config::resolve::KUBELET_DIR;
use crate::plan::File;
use crate::render::kubelet::{self as kubelet_files, KubeletFacts};
use crate::render::yaml::to_yaml;
use crate::workflow::Ctx;

pub const BOOTSTRAP_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
pub const TOKEN_USER: &str = "tls-bootstrap-token-user";
/// kubeadm polls for kubelet.conf this often.
const BOOTSTRAP_POLL: Duration = Duration::from_secs(1);
const PHASE: &str = "kubelet-start";

/// `bootstrap-kubelet.conf`: cluster `kubernetes`, user `tls-bootstrap-token-user` with the token.
pub fn render_bootstrap_kubeconfig(server: &str, ca_pem: &str, token: &Token) -> Result<String> {
    let context = format!("{TOKEN_USER}@kubernetes");
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": {
            "certificate-authority-data": B64.encode(ca_pem),
            "server": server,
        }}],
        "contexts": [{"name": context, "context": {"cluster": "kubernetes", "user": TOKEN_USER}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": TOKEN_USER, "user": {"token": token.bearer()}}],
    }))
}

/// config.yaml on join: the cluster's KubeletConfiguration, the node's `kubeletConfiguration`
/// applied as a patch (kubeadm `--patches kubeletconfiguration`), then the instance config.
pub fn render_join_config(node: &Resolved, cluster_kubelet_yaml: &str) -> Result<String> {
    let mut config: Value = serde_saphyr::from_str(cluster_kubelet_yaml)
        .context("the kubelet-config ConfigMap does not hold a KubeletConfiguration")?;
    if !config.is_object() {
        bail!("the kubelet-config ConfigMap does not hold a KubeletConfiguration mapping");
    }
    if let Some(patch) = &node.cfg.kubelet_configuration {
        kubelet_files::merge(&mut config, patch);
    }
    if node.gates.node_local_cri_socket {
        config["containerRuntimeEndpoint"] = json!(node.cri_socket);
    }
    to_yaml(&config)
}

/// Refuses when a Node with this name exists and is Ready (another machine owns the name).
async fn check_node_name_free(client: &ApiClient, name: &str) -> Result<()> {
    let node = match client.get(&format!("/api/v1/nodes/{name}")).await {
        Ok(None) => return Ok(()),
        Ok(Some(node)) => node,
        Err(GetError::Unauthorized) => return Err(super::api::token_rejected(client.base())),
        Err(GetError::Forbidden) => bail!(
            "the bootstrap token may not read Node {name} (403): the cluster lacks kubeadm's `kubeadm:get-nodes` \
             ClusterRoleBinding for the bootstrap group"
        ),
        Err(e) => bail!("checking whether Node {name} exists on {}: {e}", client.base()),
    };
    let ready = node["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    if ready {
        bail!(
            "a Node named {name:?} already exists in the cluster and is Ready: another machine uses this name. \
             Set a different node.name, or delete the stale Node (`kubectl delete node {name}`) and retry"
        );
    }
    Ok(())
}

/// `join phase kubelet-start`: bootstrap credential and CA, kubelet files from the cluster, start.
pub fn phase_kubelet_start(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    super::follow_cluster(ctx)?;
    let found = super::discovered(ctx)?;
    let token = super::bootstrap_token(ctx)?;
    // With ControlPlaneKubeletLocalMode a joining control-plane kubelet talks to its own API server.
    let server = if super::is_control_plane_join(ctx) && ctx.node.gates.control_plane_kubelet_local_mode {
        ctx.node.local_endpoint_url()
    } else {
        found.server.clone()
    };

    let client = ApiClient::verified(&found.server, found.ca_pem.as_bytes(), Auth::BootstrapToken(&token))?;
    let node_name = ctx.node.node_name.clone();
    let cluster_kubelet = crate::workflow::block_on(async {
        check_node_name_free(&client, &node_name).await?;
        let cm = client
            .get_object(
                &core_path("kube-system", "configmaps", "kubelet-config"),
                "ConfigMap kube-system/kubelet-config",
            )
            .await?;
        cm["data"]["kubelet"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("ConfigMap kube-system/kubelet-config has no `kubelet` key"))
    })?;

    let mut files = vec![
        File::new(
            BOOTSTRAP_KUBECONFIG,
            0o600,
            render_bootstrap_kubeconfig(&server, &found.ca_pem, &token)?,
            format!("TLS bootstrap kubeconfig ({server})"),
        )
        .secret(),
    ];
    let ca_path = ctx.node.pki("ca.crt");
    if ctx.read_current(&ca_path)?.is_none() {
        files.push(File::new(ca_path, crate::pki::CERT_MODE, found.ca_pem.clone(), "cluster CA from discovery"));
    }
    crate::render::ensure_private_dir(ctx, KUBELET_DIR, kubelet_files::KUBELET_DIR_MODE)?;
    let mut kubelet = kubelet_files::files(&ctx.node, &KubeletFacts::gather(ctx))?;
    let config = crate::patches::patch_kubelet(ctx, PHASE, render_join_config(&ctx.node, &cluster_kubelet)?)?;
    for f in kubelet.iter_mut().filter(|f| f.path == kubelet_files::CONFIG_PATH) {
        f.contents = config.clone().into_bytes();
        f.reason = "KubeletConfiguration from the cluster's kubelet-config ConfigMap".into();
    }
    files.extend(kubelet);
    for f in &files {
        ctx.say(PHASE, format_args!("Writing {} to file \"{}\"", f.reason, f.path));
    }
    ctx.emit(PHASE, files)?;
    if ctx.dry_run || ctx.render_only {
        ctx.say(PHASE, "Not starting the kubelet (files only)");
        return Ok(());
    }
    ctx.say(PHASE, "Starting the kubelet");
    crate::host::systemd::start_kubelet(ctx)?;
    ctx.say(PHASE, "Waiting for the kubelet to perform the TLS Bootstrap");
    Ok(())
}

/// `join phase kubelet-wait-bootstrap`: kubelet.conf appears (bounded by `timeouts.tlsBootstrap`),
/// then the bootstrap credential is removed.
pub fn phase_kubelet_wait_bootstrap(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    super::follow_cluster(ctx)?;
    if ctx.dry_run || ctx.render_only {
        ctx.say("kubelet-wait-bootstrap", format_args!("Would wait for {KUBELET_KUBECONFIG}"));
        return Ok(());
    }
    let timeout = ctx.node.cfg.timeouts.tls_bootstrap.as_duration();
    let deadline = Instant::now() + timeout;
    loop {
        match kubelet_conf_ready(ctx) {
            Ok(()) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!(
                    "the kubelet did not finish TLS bootstrap within {timeout:?} (timeouts.tlsBootstrap); check \
                     `journalctl -u kubelet` and that the cluster auto-approves node CSRs \
                     (kubeadm:node-autoapprove-bootstrap)"
                )));
            }
            Err(_) => std::thread::sleep(BOOTSTRAP_POLL),
        }
    }
    ctx.say("kubelet-wait-bootstrap", format_args!("The kubelet wrote {KUBELET_KUBECONFIG}"));
    if ctx.host.remove_file(BOOTSTRAP_KUBECONFIG)? {
        ctx.say("kubelet-wait-bootstrap", format_args!("Removed {BOOTSTRAP_KUBECONFIG}"));
    }
    if !ctx.node.gates.node_local_cri_socket {
        // kubeadm annotates the Node with the kubelet's own credentials once it has them.
        crate::workflow::block_on(async {
            let kubelet = crate::cluster::ApiClient::from_kubeconfig(
                &ctx.host,
                KUBELET_KUBECONFIG,
                crate::cluster::api_budget(ctx),
            )
            .await?;
            crate::cluster::uploadconfig::annotate_cri_socket(ctx, &kubelet, "kubelet-wait-bootstrap").await
        })?;
    }
    Ok(())
}

/// kubelet.conf exists, parses, and its current user has a client certificate the kubelet wrote.
fn kubelet_conf_ready(ctx: &Ctx) -> Result<()> {
    let text = ctx
        .host
        .read_to_string(KUBELET_KUBECONFIG)
        .with_context(|| format!("{KUBELET_KUBECONFIG} is not there yet"))?;
    let config = kube::config::Kubeconfig::from_yaml(&text).context("kubelet.conf is not a kubeconfig yet")?;
    let user = config.auth_infos.first().and_then(|a| a.auth_info.as_ref()).context("kubelet.conf has no user")?;
    match (&user.client_certificate, &user.client_certificate_data) {
        (_, Some(_)) => Ok(()),
        (Some(path), None) if ctx.host.exists(path) => Ok(()),
        (Some(path), None) => bail!("kubelet.conf names {path}, which does not exist yet"),
        (None, None) => bail!("kubelet.conf has no client certificate"),
    }
}
