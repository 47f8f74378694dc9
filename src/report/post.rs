//! The completion report: the status document POSTed as JSON to `report.url` with the
//! configured headers, under `http::Policy::REPORT` (bounded retries, a 30 s deadline), so a
//! dead collector never holds the node up for longer than that.

use anyhow::{Context, Result};

use super::Status;
use crate::config::ReportSpec;
use crate::source::http::{self, Request};

pub fn send(spec: &ReportSpec, status: &Status) -> Result<()> {
    let Some(url) = spec.url.as_deref() else { return Ok(()) };
    let mut headers: Vec<(String, String)> = spec.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let body = serde_json::to_vec(status)?;
    let req = Request {
        method: reqwest::Method::POST,
        url,
        headers: &headers,
        body: Some(body),
        ca_pem: spec.ca_cert.as_deref(),
    };
    match http::send(&req, &http::Policy::REPORT).context("posting the completion report")? {
        http::Fetched::Body(_) => Ok(()),
        http::Fetched::NotFound => anyhow::bail!("posting the completion report to {url}: 404 Not Found"),
    }
}
