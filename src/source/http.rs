//! HTTP(S) with a stated policy: bounded attempts with exponential backoff and jitter, one total
//! deadline that no attempt may cross, and a size cap on the body. Used for metadata services,
//! `ds=nocloud;s=http...` seeds and the completion report.
//!
//! What is retried: connection errors, timeouts, truncated bodies, 408, 429 and 5xx ("not ready
//! yet"). What fails at once: 404 (reported as `NotFound`: the resource does not exist), any
//! other 4xx ("permanently wrong", e.g. 401/403), a TLS certificate rustls rejects, and a body
//! over the cap.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Upper bound for one attempt, connect to last body byte.
    pub attempt_timeout: Duration,
    /// Upper bound for all attempts and the pauses between them.
    pub deadline: Duration,
    /// Bodies larger than this are refused.
    pub max_bytes: usize,
    /// Pause after the first failure; doubles per attempt up to `max_backoff`, with jitter in [½, 1]×.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Policy {
    /// A metadata service or seed URL at boot: the network may still be coming up.
    pub const METADATA: Policy = Policy {
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(60),
        max_bytes: crate::config::MAX_INPUT_BYTES,
        first_backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(5),
    };
    /// The completion report: must never hold the node up for long.
    pub const REPORT: Policy = Policy {
        attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(30),
        max_bytes: 64 * 1024,
        first_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(5),
    };

    /// The pause before attempt `n + 1` (n ≥ 1), jittered so a fleet does not retry in lockstep.
    fn backoff(&self, n: u32) -> Duration {
        let full = self.first_backoff.saturating_mul(1 << (n - 1).min(16)).min(self.max_backoff);
        let mut b = [0u8; 2];
        let frac = match aws_lc_rs::rand::fill(&mut b) {
            Ok(()) => u16::from_le_bytes(b) as f64 / u16::MAX as f64,
            Err(_) => 1.0,
        };
        full.mul_f64(0.5 + 0.5 * frac)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Body(Vec<u8>),
    /// 404: the server says the resource does not exist (e.g. no user-data for this instance).
    NotFound,
}

pub struct Request<'a> {
    pub method: reqwest::Method,
    pub url: &'a str,
    /// Header values are never logged (IMDS tokens, report authorization).
    pub headers: &'a [(String, String)],
    pub body: Option<Vec<u8>>,
    /// PEM CA certificates to trust instead of the system store (a private report collector).
    pub ca_pem: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn get(url: &'a str) -> Self {
        Request { method: reqwest::Method::GET, url, headers: &[], body: None, ca_pem: None }
    }
}

/// A final HTTP status that is not retried (e.g. 401/403); callers may downcast to it.
#[derive(Debug)]
pub struct StatusError(pub reqwest::StatusCode);

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server answered {}", self.0)
    }
}

impl std::error::Error for StatusError {}

enum Failure {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// Sends `req` under `policy` (blocking the caller; do not call from async code).
pub fn send(req: &Request<'_>, policy: &Policy) -> Result<Fetched> {
    crate::workflow::block_on(send_async(req, policy))
}

async fn send_async(req: &Request<'_>, policy: &Policy) -> Result<Fetched> {
    let mut builder = reqwest::Client::builder()
        .no_proxy() // metadata services are link-local; a proxy would leak or break them
        .connect_timeout(policy.attempt_timeout)
        .redirect(reqwest::redirect::Policy::limited(5));
    if let Some(pem) = req.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| anyhow!("the CA bundle: {e}"))?;
        builder = builder.tls_certs_only(certs);
    }
    let client = builder.build().map_err(|e| anyhow!("building the HTTP client: {e}"))?;
    let start = Instant::now();
    let mut attempt = 0;
    let mut last_real: Option<anyhow::Error> = None;
    loop {
        attempt += 1;
        let remaining = policy.deadline.saturating_sub(start.elapsed());
        let budget = policy.attempt_timeout.min(remaining);
        let err = match tokio::time::timeout(budget, once(&client, req, policy.max_bytes, budget)).await {
            Ok(Ok(f)) => return Ok(f),
            Ok(Err(Failure::Fatal(e))) => return Err(e.context(format!("{} {}", req.method, req.url))),
            Ok(Err(Failure::Retry(e))) => e,
            // An attempt cut short by the overall deadline says nothing about the server:
            // report the last real failure instead.
            Err(_) if budget < policy.attempt_timeout && last_real.is_some() => last_real.take().unwrap(),
            Err(_) => anyhow!("no complete response within {}", crate::workflow::fmt_duration(budget)),
        };
        let pause = policy.backoff(attempt);
        if start.elapsed() + pause >= policy.deadline {
            bail!(
                "{} {}: gave up after {attempt} attempt(s) in {} (deadline {}): {err:#}",
                req.method,
                req.url,
                crate::workflow::fmt_duration(start.elapsed()),
                crate::workflow::fmt_duration(policy.deadline),
            );
        }
        tracing::info!("{} {}: attempt {attempt} failed ({err:#}); retrying in {pause:?}", req.method, req.url);
        last_real = Some(err);
        tokio::time::sleep(pause).await;
    }
}

async fn once(
    client: &reqwest::Client,
    req: &Request<'_>,
    max_bytes: usize,
    budget: Duration,
) -> Result<Fetched, Failure> {
    let mut rb = client.request(req.method.clone(), req.url).timeout(budget);
    for (k, v) in req.headers {
        rb = rb.header(k, v);
    }
    if let Some(body) = &req.body {
        rb = rb.body(body.clone());
    }
    let mut resp = rb.send().await.map_err(|e| {
        let err = anyhow!("{}", describe(&e));
        // A certificate the server will present again is no transient fault.
        if is_tls_rejection(&e) { Failure::Fatal(err) } else { Failure::Retry(err) }
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(Fetched::NotFound);
    }
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        return Err(Failure::Retry(anyhow!("server answered {status}")));
    }
    if !status.is_success() {
        return Err(Failure::Fatal(anyhow::Error::new(StatusError(status))));
    }
    let too_big = || Failure::Fatal(anyhow!("response body is larger than the {max_bytes}-byte limit"));
    if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Failure::Retry(anyhow!("{}", describe(&e))))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(body))
}

/// True when rustls refused the server (untrusted or wrong certificate, handshake alert).
fn is_tls_rejection(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<rustls::Error>() {
            return true;
        }
        // io::Error hides its payload from `source()` (and may nest another io::Error): look inside.
        let mut io = s.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(|e| e.get_ref()) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        src = s.source();
    }
    false
}

/// reqwest's error text without the URL (already in our context) and with the cause that matters.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "response body cut short"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() { kind.to_string() } else { format!("{kind}: {cause}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_in_half_to_full() {
        let p = Policy::METADATA;
        for n in 1..10 {
            let full = p.first_backoff.saturating_mul(1 << (n - 1)).min(p.max_backoff);
            let b = p.backoff(n);
            assert!(b >= full / 2 && b <= full, "attempt {n}: {b:?} not in [{:?}, {full:?}]", full / 2);
        }
    }
}
