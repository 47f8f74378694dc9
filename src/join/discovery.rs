//! Finding and trusting the cluster (reference §12.1, §12.2).
//!
//! Token discovery reads kube-public/cluster-info twice. The first read trusts nothing and sends
//! nothing secret; the kubeconfig in it is believed only after its detached JWS verifies with
//! the token secret and its CA matches a `sha256:` pin. The second read goes over TLS verified
//! against that CA and must return the same bytes. Only then does any credential get used.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::Token;
use super::api::{ApiClient, Auth, GetError, core_path};
use crate::config::JoinSpec;

/// kubeadm `DiscoveryRetryInterval`.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
const JWS_PREFIX: &str = "jws-kubeconfig-";

/// What discovery establishes: where the API server is and which CA it is signed by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovered {
    /// The `server` of cluster-info (the control-plane endpoint).
    pub server: String,
    /// The cluster CA bundle, PEM.
    pub ca_pem: String,
}

/// How token discovery is to be done; the interval is a parameter so tests can be quick.
pub struct TokenDiscovery<'a> {
    /// `host:port` of the API server.
    pub endpoint: &'a str,
    pub token: &'a Token,
    pub pins: &'a [String],
    pub unsafe_skip_ca_verification: bool,
    pub timeout: Duration,
    pub interval: Duration,
}

impl TokenDiscovery<'_> {
    pub async fn run(&self) -> Result<Discovered> {
        if self.pins.is_empty() && !self.unsafe_skip_ca_verification {
            bail!(
                "token discovery needs join.caCertHashes (sha256:<hex> of the cluster CA's public key; \
                 `kubeboot certs ca-hash` on a control-plane node prints it), or unsafeSkipCAVerification: true"
            );
        }
        let base = format!("https://{}", self.endpoint);
        let insecure = ApiClient::unverified(&base)?;
        let kubeconfig = self.fetch_signed(&insecure).await?;
        let (server, ca_pem) = cluster_of(&kubeconfig, "the cluster-info ConfigMap")?;
        if self.pins.is_empty() {
            tracing::warn!("cluster CA not pinned (unsafeSkipCAVerification): trusting {base} on first use");
            return Ok(Discovered { server, ca_pem });
        }
        check_pins(ca_pem.as_bytes(), self.pins)?;
        let secure = ApiClient::verified(&base, ca_pem.as_bytes(), Auth::Anonymous)?;
        let again = self.fetch_signed(&secure).await.context("fetching cluster-info again over verified TLS")?;
        if again != kubeconfig {
            bail!(
                "the second kubeconfig from the cluster-info ConfigMap (using validated TLS) was different from the first"
            );
        }
        Ok(Discovered { server, ca_pem })
    }

    /// Polls cluster-info until it carries a JWS for this token, then verifies it and returns
    /// the exact kubeconfig string it signs.
    async fn fetch_signed(&self, client: &ApiClient) -> Result<String> {
        let path = core_path("kube-public", "configmaps", "cluster-info");
        let jws_key = format!("{JWS_PREFIX}{}", self.token.id);
        let deadline = Instant::now() + self.timeout;
        let mut last: Option<anyhow::Error> = None;
        loop {
            // Each attempt gets only what is left of timeouts.discovery, so an endpoint that
            // swallows packets cannot stretch the wait by a whole request timeout.
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(200));
            let Ok(answer) = tokio::time::timeout(left, client.get(&path)).await else {
                let last = last.unwrap_or_else(|| {
                    anyhow!(
                        "the API server at {} did not answer; check join.apiServerEndpoint and the network",
                        client.base()
                    )
                });
                return Err(last.context(format!("discovery gave up after {:?} (timeouts.discovery)", self.timeout)));
            };
            let failure = match answer {
                Ok(Some(cm)) => match cm["data"][&jws_key].as_str() {
                    Some(jws) if !jws.is_empty() => return verified_kubeconfig(&cm, jws, self.token),
                    _ => {
                        anyhow!(
                            "token id {:?} is invalid for this cluster or it has expired: cluster-info has no \
                             {jws_key}. Create a new token on a control-plane node (`kubeadm token create`) \
                             and update join.token",
                            self.token.id
                        )
                    }
                },
                Ok(None) => {
                    anyhow!(
                        "{} has no kube-public/cluster-info ConfigMap yet (is it a kubeadm cluster?)",
                        client.base()
                    )
                }
                Err(GetError::Untrusted(e)) => bail!(
                    "the API server at {} presented a certificate not signed by the pinned cluster CA ({e}); \
                     someone may be intercepting the connection: nothing was sent to it",
                    client.base()
                ),
                Err(GetError::Unreachable(e)) => {
                    anyhow!(
                        "the API server at {} is unreachable: {e}; check join.apiServerEndpoint and the network",
                        client.base()
                    )
                }
                Err(e) => anyhow!("reading cluster-info from {}: {e}", client.base()),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(failure.context(format!("discovery gave up after {:?} (timeouts.discovery)", self.timeout)));
            }
            tracing::info!("[discovery] retrying: {failure:#}");
            last = Some(failure);
            tokio::time::sleep(self.interval.min(deadline - now)).await;
        }
    }
}

/// The kubeconfig of a cluster-info ConfigMap, believed only when the detached JWS `jws` verifies
/// with `token`.
pub fn verified_kubeconfig(cm: &serde_json::Value, jws: &str, token: &Token) -> Result<String> {
    let kubeconfig = cm["data"]["kubeconfig"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
        anyhow!("there is no kubeconfig key in the cluster-info ConfigMap; this API server isn't set up for token bootstrapping")
    })?;
    if !super::jws::is_valid(jws, kubeconfig, token) {
        bail!(
            "failed to verify the JWS signature of the cluster-info ConfigMap with token id {:?}: can't trust this API server",
            token.id
        );
    }
    Ok(kubeconfig.to_string())
}

/// The single cluster's `server` and CA bundle (PEM) from a kubeconfig text.
pub fn cluster_of(kubeconfig: &str, what: &str) -> Result<(String, String)> {
    let config =
        kube::config::Kubeconfig::from_yaml(kubeconfig).with_context(|| format!("{what} is not a kubeconfig"))?;
    let [named] = config.clusters.as_slice() else {
        bail!("{what} must contain exactly one cluster, found {}", config.clusters.len());
    };
    let cluster = named.cluster.as_ref().with_context(|| format!("{what}: the cluster entry is empty"))?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{what}: the cluster has no server"))?;
    let ca_b64 = cluster
        .certificate_authority_data
        .as_deref()
        .with_context(|| format!("{what}: the cluster has no certificate-authority-data"))?;
    let ca = B64.decode(ca_b64.trim()).with_context(|| format!("{what}: certificate-authority-data is not base64"))?;
    let ca_pem = String::from_utf8(ca).map_err(|_| anyhow!("{what}: certificate-authority-data is not PEM"))?;
    Ok((server, ca_pem))
}

/// kubeadm `pubkeypin.CheckAny`: some certificate of the bundle must match some pin. The error
/// prints the hashes that were seen, so a wrong pin can be compared with the real one.
pub fn check_pins(ca_pem: &[u8], pins: &[String]) -> Result<()> {
    let blocks = pem::parse_many(ca_pem).context("the cluster CA bundle is not PEM")?;
    let mut seen = Vec::new();
    for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
        let hash = crate::pki::ca_cert_hash(block.contents())?;
        if pins.iter().any(|p| p.eq_ignore_ascii_case(&hash)) {
            return Ok(());
        }
        seen.push(hash);
    }
    if seen.is_empty() {
        bail!("the cluster CA bundle in cluster-info holds no certificate");
    }
    Err(crate::error::coded(
        crate::error::Exit::Failure,
        format!(
            "cluster CA found in cluster-info is not pinned: its public key hash is {} but join.caCertHashes allows {}. \
             If you trust this cluster, pin the hash above; otherwise someone may be impersonating the API server",
            seen.join(", "),
            pins.join(", ")
        ),
    ))
}

/// File or HTTPS discovery: a kubeconfig at a path, `file://` or `https://` URL (an HTTPS URL
/// is verified with the system trust store). Local paths are read through `host`.
pub async fn file_discovery(host: &crate::host::Host, location: &str) -> Result<Discovered> {
    let text = if location.starts_with("https://") {
        let what = || format!("fetching the discovery kubeconfig from {location}");
        // No redirects: the URL is the trust decision (it could otherwise lead to plain http).
        let resp = reqwest::Client::builder()
            .timeout(super::api::REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?
            .get(location)
            .send()
            .await
            .with_context(what)?;
        if resp.status().is_redirection() {
            return Err(anyhow!("{}: {}; put the final https:// URL in join.discoveryFile", what(), {
                super::api::redirect_refused(&resp)
            }));
        }
        let resp = resp.error_for_status().with_context(what)?;
        let body =
            super::api::read_capped(resp, super::api::MAX_BODY_BYTES).await.map_err(|e| anyhow!("{}: {e}", what()))?;
        String::from_utf8(body).map_err(|_| anyhow!("{}: the answer is not UTF-8 text", what()))?
    } else {
        use std::io::Read;
        let path = location.strip_prefix("file://").unwrap_or(location);
        let what = || format!("reading the discovery kubeconfig {}", host.path(path).display());
        let max = super::api::MAX_BODY_BYTES;
        let mut text = String::new();
        std::fs::File::open(host.path(path))
            .and_then(|f| f.take(max as u64 + 1).read_to_string(&mut text))
            .with_context(what)?;
        if text.len() > max {
            bail!("{}: larger than the {max}-byte limit", what());
        }
        text
    };
    let (server, ca_pem) = cluster_of(&text, &format!("the discovery file {location}"))?;
    Ok(Discovered { server, ca_pem })
}

/// Runs the discovery `spec` asks for.
pub async fn discover(host: &crate::host::Host, spec: &JoinSpec, timeout: Duration) -> Result<Discovered> {
    if let Some(file) = &spec.discovery_file {
        return file_discovery(host, file).await;
    }
    let endpoint = spec.api_server_endpoint.as_deref().context("join.apiServerEndpoint is not set")?;
    let token = Token::parse(spec.token.as_deref().context("join.token is not set")?)?;
    TokenDiscovery {
        endpoint,
        token: &token,
        pins: &spec.ca_cert_hashes,
        unsafe_skip_ca_verification: spec.unsafe_skip_ca_verification,
        timeout,
        interval: RETRY_INTERVAL,
    }
    .run()
    .await
}
