//! etcd member join for an extra control-plane node (reference §12.4 step 4), through the
//! existing cluster's etcd v3 JSON gateway (`/v3/cluster/member/*`) over mTLS with the etcd CA
//! and this node's `apiserver-etcd-client` certificate, as kubeadm's etcd client does.
//!
//! Order: add this node as a learner (unless a member with its peer URL exists already: a run
//! that crashed after the add must not add a second one), write etcd.yaml with the full
//! `--initial-cluster` and `--initial-cluster-state=existing`, wait until the local member has
//! started, then promote it (retrying while the learner catches up with the leader).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::error_chain;
use crate::cluster::{ADMIN_CONF, ApiClient, KUBE_SYSTEM};
use crate::config::resolve::{MANIFESTS_DIR, bracket};
use crate::render::staticpod::{self, EtcdCluster, HostFacts};
use crate::workflow::Ctx;

const PHASE: &str = "etcd-join";
const RETRY: Duration = Duration::from_secs(1);
/// The annotation kubeadm puts on its etcd static Pods.
const CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// One etcd member as the gateway reports it (uint64 IDs arrive as JSON strings).
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(rename = "ID", deserialize_with = "id_string")]
    pub id: String,
    /// Empty until the member has started and joined.
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    pub is_learner: bool,
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("member ID {other} is not a number"))),
    }
}

/// A client for the existing members' v3 JSON gateway; each call tries the endpoints in turn.
pub struct EtcdClient {
    endpoints: Vec<String>,
    http: reqwest::Client,
}

impl EtcdClient {
    /// `ca_pem` is the etcd CA; `identity_pem` a client certificate followed by its key.
    pub fn new(endpoints: Vec<String>, ca_pem: &[u8], identity_pem: &[u8]) -> Result<Self> {
        if endpoints.is_empty() {
            bail!("no etcd endpoints to talk to");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca_pem).context("parsing the etcd CA")?)
            .identity(reqwest::Identity::from_pem(identity_pem).context("loading the etcd client certificate")?)
            .build()
            .context("building the etcd client")?;
        Ok(EtcdClient { endpoints, http })
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        let mut failures = Vec::new();
        for ep in &self.endpoints {
            let url = format!("{}{path}", ep.trim_end_matches('/'));
            match self.http.post(&url).json(&body).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let answer: Value = resp.json().await.with_context(|| format!("{url}: the answer is not JSON"))?;
                    if status.is_success() {
                        return Ok(answer);
                    }
                    let msg = answer["error"].as_str().or(answer["message"].as_str()).unwrap_or_default().to_string();
                    return Err(anyhow!(EtcdError(msg))).with_context(|| format!("{url} answered {status}"));
                }
                Err(e) => failures.push(format!("{url}: {}", error_chain(&e))),
            }
        }
        bail!(
            "the etcd cluster is unreachable or unhealthy ({}); check that the existing control-plane nodes' etcd \
             is running and that this node can reach port 2379",
            failures.join("; ")
        )
    }

    pub async fn members(&self) -> Result<Vec<Member>> {
        let answer = self.call("/v3/cluster/member/list", json!({})).await?;
        serde_json::from_value(answer["members"].clone()).context("reading the etcd member list")
    }

    /// Adds `peer_url` as a learner unless a member with that peer URL exists (a re-run).
    /// Returns the member and whether it was added now.
    pub async fn add_learner(&self, peer_url: &str) -> Result<(Member, bool)> {
        if let Some(m) = self.members().await?.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer_url)) {
            return Ok((m, false));
        }
        let answer = self.call("/v3/cluster/member/add", json!({"peerURLs": [peer_url], "isLearner": true})).await?;
        let member = serde_json::from_value(answer["member"].clone()).context("reading the added member")?;
        Ok((member, true))
    }

    /// Removes a member (kubeadm reset's remove-etcd-member); `Ok(false)` when it is gone already.
    /// etcd refuses while the members that would remain have not all been connected for a few
    /// seconds ("unhealthy cluster"); like kubeadm's client, retry that within `budget`.
    pub async fn remove(&self, id: &str, budget: Duration) -> Result<bool> {
        let started = Instant::now();
        loop {
            match self.call("/v3/cluster/member/remove", json!({"ID": id})).await {
                Ok(_) => return Ok(true),
                Err(e) => match e.downcast_ref::<EtcdError>() {
                    Some(EtcdError(m)) if m.contains("member not found") => return Ok(false),
                    Some(EtcdError(m))
                        if (m.contains("unhealthy cluster") || m.contains("not enough started members"))
                            && started.elapsed() + RETRY < budget =>
                    {
                        tokio::time::sleep(RETRY).await
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// `Ok(true)` once the member is a voting member; `Ok(false)` while it is still catching up.
    pub async fn promote(&self, id: &str) -> Result<bool> {
        match self.call("/v3/cluster/member/promote", json!({"ID": id})).await {
            Ok(_) => Ok(true),
            Err(e) => match e.downcast_ref::<EtcdError>() {
                Some(EtcdError(m)) if m.contains("not a learner") => Ok(true),
                Some(EtcdError(m)) if m.contains("in sync with leader") || m.contains("not started") => Ok(false),
                _ => Err(e),
            },
        }
    }
}

/// An error message etcd itself returned.
#[derive(Debug)]
struct EtcdError(String);
impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd: {}", self.0)
    }
}
impl std::error::Error for EtcdError {}

/// `--initial-cluster` entries: every member by name and first peer URL, this node named even
/// though it has not started yet. Other unstarted members have no name and cannot be listed.
pub fn initial_cluster(members: &[Member], node_name: &str, peer_url: &str) -> Vec<(String, String)> {
    members
        .iter()
        .filter_map(|m| {
            let url = m.peer_urls.first()?;
            if url == peer_url {
                Some((node_name.to_string(), url.clone()))
            } else if m.name.is_empty() {
                tracing::warn!("etcd member {} ({url}) has not started; leaving it out of --initial-cluster", m.id);
                None
            } else {
                Some((m.name.clone(), url.clone()))
            }
        })
        .collect()
}

/// `https://<advertiseAddress>:2380`.
pub fn peer_url(ctx: &Ctx) -> String {
    format!("https://{}:2380", bracket(&ctx.node.advertise_address().to_string()))
}

/// The etcd client for this node: the etcd CA and `apiserver-etcd-client` from the local PKI.
pub fn client(ctx: &Ctx, endpoints: Vec<String>) -> Result<EtcdClient> {
    let read = |rel: &str| {
        let p = ctx.node.pki(rel);
        ctx.read_current(&p)?
            .with_context(|| format!("{p} is missing; run `kubeboot join phase control-plane-prepare`"))
    };
    let mut identity = read("apiserver-etcd-client.crt")?;
    identity.extend(read("apiserver-etcd-client.key")?);
    EtcdClient::new(endpoints, &read("etcd/ca.crt")?, &identity)
}

/// `join.etcdEndpoints`, else, as kubeadm, the client URLs annotated on the cluster's etcd static
/// Pods (component=etcd, tier=control-plane), read with admin.conf.
fn endpoints(ctx: &Ctx) -> Result<Vec<String>> {
    let spec = super::join_spec(ctx)?;
    if !spec.etcd_endpoints.is_empty() {
        return Ok(spec.etcd_endpoints.clone());
    }
    let pods: Vec<Pod> = crate::workflow::block_on(async {
        let admin = ApiClient::from_kubeconfig(&ctx.host, ADMIN_CONF, crate::cluster::api_budget(ctx)).await?;
        anyhow::Ok(admin.list::<Pod>(Some(KUBE_SYSTEM)).await?)
    })
    .context("finding the etcd members through the API server")?;
    let urls: Vec<String> = pods
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            labels.get("component").map(String::as_str) == Some("etcd")
                && labels.get("tier").map(String::as_str) == Some("control-plane")
        })
        .filter_map(|p| p.metadata.annotations.as_ref()?.get(CLIENT_URLS_ANNOTATION).cloned())
        .collect();
    if urls.is_empty() {
        bail!(
            "no etcd Pod in kube-system carries the {CLIENT_URLS_ANNOTATION} annotation; set join.etcdEndpoints \
             to the existing members' client URLs"
        );
    }
    Ok(urls)
}

/// `join phase etcd-join`.
pub fn phase_etcd_join(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    if !super::is_control_plane_join(ctx) {
        ctx.say(PHASE, "Not a control-plane node: nothing to do");
        return Ok(());
    }
    super::follow_cluster(ctx)?;
    if ctx.node.local_etcd().is_none() {
        ctx.say(PHASE, "External etcd: nothing to do");
        return Ok(());
    }
    let endpoints = endpoints(ctx)?;
    let etcd = client(ctx, endpoints.clone())?;
    let peer = peer_url(ctx);
    let name = ctx.node.node_name.clone();

    let members = crate::workflow::block_on(async {
        if ctx.dry_run {
            return etcd.members().await;
        }
        let (member, added) = etcd.add_learner(&peer).await?;
        if added {
            ctx.say(PHASE, format_args!("Added {name} ({peer}) to the etcd cluster as learner {}", member.id));
        } else {
            ctx.say(PHASE, format_args!("{peer} is already etcd member {} (added by an earlier run)", member.id));
        }
        etcd.members().await
    })?;
    let mut cluster = initial_cluster(&members, &name, &peer);
    if !cluster.iter().any(|(n, _)| n == &name) {
        if !ctx.dry_run {
            bail!("the etcd member list does not contain {peer} right after adding it; retry the join");
        }
        ctx.say(PHASE, format_args!("Would add {name} ({peer}) to the etcd cluster as a learner"));
        cluster.push((name.clone(), peer.clone()));
    }

    let local = ctx.node.local_etcd().unwrap_or_default();
    crate::render::ensure_private_dir(ctx, &local.data_dir, staticpod::ETCD_DATA_DIR_MODE)?;
    crate::render::ensure_private_dir(ctx, MANIFESTS_DIR, staticpod::MANIFESTS_DIR_MODE)?;
    let yaml = staticpod::render_etcd(&ctx.node, &HostFacts::gather(ctx)?, &EtcdCluster::Existing(cluster))?;
    let yaml = crate::patches::patch_pod(ctx, PHASE, crate::patches::ETCD, yaml)?;
    ctx.say(PHASE, format_args!("Creating static Pod manifest for \"etcd\" joining the existing cluster"));
    ctx.emit(
        PHASE,
        vec![crate::plan::File::new(
            format!("{MANIFESTS_DIR}/etcd.yaml"),
            staticpod::MANIFEST_MODE,
            yaml,
            "static Pod for etcd (joining the existing cluster)",
        )],
    )?;
    if ctx.dry_run || ctx.render_only {
        return Ok(());
    }

    let timeout = ctx.node.cfg.timeouts.etcd_api_call.as_duration();
    crate::workflow::block_on(wait_and_promote(ctx, &etcd, &peer, timeout))
}

/// Waits for the local member to start (it gets its name then), then promotes it.
async fn wait_and_promote(ctx: &Ctx, etcd: &EtcdClient, peer: &str, timeout: Duration) -> Result<()> {
    ctx.say(PHASE, format_args!("Waiting for the new etcd member to join the cluster (timeout {timeout:?})"));
    let deadline = Instant::now() + timeout;
    let member = loop {
        let found = etcd.members().await.map(|ms| ms.into_iter().find(|m| m.peer_urls.iter().any(|u| u == peer)));
        match found {
            Ok(Some(m)) if !m.name.is_empty() => break m,
            Ok(None) => bail!("etcd member {peer} disappeared from the cluster; it was removed by someone else"),
            result if Instant::now() >= deadline => {
                let why = result.err().map(|e| format!(": {e:#}")).unwrap_or_default();
                bail!(
                    "the local etcd member did not start within {timeout:?} (timeouts.etcdAPICall){why}; check the \
                     etcd static Pod (`crictl ps -a --name etcd`) and the kubelet"
                );
            }
            _ => tokio::time::sleep(RETRY).await,
        }
    };
    if !member.is_learner {
        ctx.say(PHASE, format_args!("etcd member {} is a voting member", member.name));
        return Ok(());
    }
    loop {
        match etcd.promote(&member.id).await {
            Ok(true) => break,
            Ok(false) if Instant::now() < deadline => tokio::time::sleep(RETRY).await,
            Ok(false) => bail!("the etcd learner {} did not catch up with the leader within {timeout:?}", member.name),
            Err(e) => return Err(e.context(format!("promoting etcd learner {}", member.name))),
        }
    }
    ctx.say(PHASE, format_args!("Promoted etcd learner {} to a voting member", member.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_from_the_gateway_and_initial_cluster_names_us() {
        let answer = json!({"members": [
            {"ID": "10276657743932975437", "name": "cp-1", "peerURLs": ["https://10.0.0.1:2380"],
             "clientURLs": ["https://10.0.0.1:2379"]},
            {"ID": "22", "peerURLs": ["https://10.0.0.2:2380"], "isLearner": true},
            {"ID": 33, "peerURLs": ["https://10.0.0.3:2380"]},
        ]});
        let members: Vec<Member> = serde_json::from_value(answer["members"].clone()).unwrap();
        assert_eq!(members[0].id, "10276657743932975437");
        assert!(members[1].is_learner && members[1].name.is_empty());
        assert_eq!(members[2].id, "33");
        let list = initial_cluster(&members, "cp-2", "https://10.0.0.2:2380");
        assert_eq!(
            list,
            [("cp-1".into(), "https://10.0.0.1:2380".into()), ("cp-2".into(), "https://10.0.0.2:2380".into())]
        );
    }
}
