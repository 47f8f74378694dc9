//! The few API calls a joining node makes before it has a kubeconfig of its own, over reqwest
//! (once admin.conf exists, `cluster::ApiClient` is used).
//! Credentials are only ever attached to a client that verifies the server against a known CA:
//! the unverified client used for the first cluster-info fetch has no way to carry any.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::StatusCode;
use serde_json::Value;

use super::Token;

/// One API request may take this long (connect included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest object body read from an API server, or a discovery file over HTTPS. The API
/// server refuses request bodies over 3 MiB and a ConfigMap's data is at most 1 MiB, so no
/// object a join reads can be larger; the first cluster-info read is unverified (anyone on
/// the path can answer it) and must not be able to exhaust memory.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Reads a body of at most `max` bytes (the declared length is checked first, then the bytes
/// as they arrive, so neither a lying Content-Length nor an endless chunked body gets past).
pub async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let too_big = || format!("the answer is larger than the {max}-byte limit");
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the answer: {}", error_chain(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A redirect is never followed (an API server does not send one; following it could take a
/// request to plain http or another host): it is refused with where it pointed.
pub fn redirect_refused(resp: &reqwest::Response) -> String {
    let to = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("(no Location)");
    format!("redirect to {to:?} refused: kubeboot does not follow redirects here")
}

/// How a verified client proves who it is.
pub enum Auth<'a> {
    Anonymous,
    /// `Authorization: Bearer <id>.<secret>`.
    BootstrapToken(&'a Token),
}

pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    bearer: Option<String>,
}

/// Why a GET did not return an object; callers turn these into actionable errors.
#[derive(Debug)]
pub enum GetError {
    /// Connection refused, TLS failure, timeout: worth retrying until the deadline.
    Unreachable(String),
    /// The server's certificate does not verify against the trusted CA: never retried.
    Untrusted(String),
    Unauthorized,
    Forbidden,
    /// Any other non-success status.
    Status(StatusCode, String),
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::Unreachable(e) => write!(f, "unreachable: {e}"),
            GetError::Untrusted(e) => write!(f, "its certificate is not trusted: {e}"),
            GetError::Unauthorized => f.write_str("401 Unauthorized"),
            GetError::Forbidden => f.write_str("403 Forbidden"),
            GetError::Status(s, body) => write!(f, "{s}: {body}"),
        }
    }
}

impl ApiClient {
    /// A client that accepts any server certificate and sends nothing but the request line:
    /// for reading public cluster-info before the CA is known.
    pub fn unverified(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(true)
            .build()
            .context("building the discovery HTTP client")?;
        Ok(ApiClient { base: base.trim_end_matches('/').to_string(), http, bearer: None })
    }

    /// A client that trusts only `ca_pem` (checking the server's name too) and sends `auth`.
    pub fn verified(base: &str, ca_pem: &[u8], auth: Auth<'_>) -> Result<Self> {
        let roots = reqwest::Certificate::from_pem_bundle(ca_pem).context("parsing the cluster CA bundle")?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only(roots)
            .build()
            .context("building the API client")?;
        let bearer = match auth {
            Auth::Anonymous => None,
            Auth::BootstrapToken(t) => Some(t.bearer()),
        };
        Ok(ApiClient { base: base.trim_end_matches('/').to_string(), http, bearer })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path`; `Ok(None)` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, GetError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(b) = &self.bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.map_err(|e| {
            let chain = error_chain(&e);
            if chain.contains("invalid peer certificate") {
                GetError::Untrusted(chain)
            } else {
                GetError::Unreachable(chain)
            }
        })?;
        let status = resp.status();
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED => Err(GetError::Unauthorized),
            StatusCode::FORBIDDEN => Err(GetError::Forbidden),
            s if s.is_redirection() => Err(GetError::Status(s, redirect_refused(&resp))),
            s if s.is_success() => {
                let body = read_capped(resp, MAX_BODY_BYTES).await.map_err(|e| GetError::Status(s, e))?;
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|e| GetError::Status(s, format!("the answer is not JSON: {e}")))
            }
            s => {
                let body = read_capped(resp, 64 * 1024).await.unwrap_or_default();
                Err(GetError::Status(s, String::from_utf8_lossy(&body).chars().take(300).collect()))
            }
        }
    }

    /// GETs an object that must exist, with errors naming the object and what to do.
    pub async fn get_object(&self, path: &str, what: &str) -> Result<Value> {
        match self.get(path).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => bail!("{what} does not exist on {}", self.base),
            Err(GetError::Unauthorized) => Err(token_rejected(&self.base)),
            Err(e) => Err(anyhow!("reading {what} from {}: {e}", self.base)),
        }
    }
}

/// The bootstrap token got 401: it is unknown to the cluster or expired.
pub fn token_rejected(base: &str) -> anyhow::Error {
    anyhow!(
        "{base}: the bootstrap token was rejected (401 Unauthorized): it is unknown or expired; create a new one \
         on a control-plane node (`kubeadm token create`) and update join.token"
    )
}

/// `/api/v1/namespaces/<ns>/<resource>/<name>`.
pub fn core_path(namespace: &str, resource: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/{resource}/{name}")
}

/// reqwest's error with its sources ("error sending request: ... connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
