//! EC2 instance metadata, IMDSv2 only: `PUT /latest/api/token` with a TTL header, then every
//! GET carries the token. Probed only when DMI says this is EC2 or the kernel command line asks
//! (`kubeboot.datasource=ec2`), so other platforms never wait on an absent 169.254.169.254.
//!
//! 403 on the token request means IMDS is disabled for this instance: fail at once. 401 on a
//! GET means the token expired: get a new one, once. 404 for user-data means none was given.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};

use super::http::{self, Fetched, Request, StatusError};
use super::{Datasource, Env, Meta, UserData};

pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
pub const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
pub const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// Six hours, the value cloud-init and the AWS CLI use.
const TOKEN_TTL_SECONDS: &str = "21600";

pub struct Ec2;

impl Datasource for Ec2 {
    fn name(&self) -> &'static str {
        "ec2"
    }

    fn probe(&self, env: &Env) -> Result<Option<UserData>> {
        if !env.dmi.is_ec2() && env.cmdline.get("kubeboot.datasource") != Some("ec2") {
            return Ok(None);
        }
        fetch(&env.imds_endpoint, &env.http)
    }
}

/// User-data and instance-id from the IMDS at `endpoint`; `None` when the instance has no user-data.
pub fn fetch(endpoint: &str, policy: &http::Policy) -> Result<Option<UserData>> {
    let mut imds = Imds { endpoint: endpoint.trim_end_matches('/'), policy, token: None };
    let Some(bytes) = imds.get("/latest/user-data")? else {
        return Ok(None);
    };
    let instance_id =
        imds.get("/latest/meta-data/instance-id")?.map(|b| String::from_utf8_lossy(&b).trim().to_string());
    Ok(Some(UserData {
        bytes,
        meta: Meta { instance_id, local_hostname: None },
        origin: format!("ec2:{}", imds.endpoint),
    }))
}

struct Imds<'a> {
    endpoint: &'a str,
    policy: &'a http::Policy,
    /// The session token: a credential for the metadata service, never logged.
    token: Option<String>,
}

impl Imds<'_> {
    fn token(&mut self) -> Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let url = format!("{}/latest/api/token", self.endpoint);
        let headers = [(TOKEN_TTL_HEADER.to_string(), TOKEN_TTL_SECONDS.to_string())];
        let req = Request { method: Method::PUT, url: &url, headers: &headers, body: None, ca_pem: None };
        let token = match http::send(&req, self.policy) {
            Ok(Fetched::Body(b)) => String::from_utf8(b).context("IMDS token is not text")?.trim().to_string(),
            Ok(Fetched::NotFound) => anyhow::bail!("{url}: 404; this metadata service does not speak IMDSv2"),
            Err(e) if status_of(&e) == Some(StatusCode::FORBIDDEN) => {
                return Err(e.context("IMDS is disabled for this instance (token request refused)"));
            }
            Err(e) => return Err(e.context("getting an IMDSv2 session token")),
        };
        self.token = Some(token.clone());
        Ok(token)
    }

    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}{path}", self.endpoint);
        for refreshed in [false, true] {
            let headers = [(TOKEN_HEADER.to_string(), self.token()?)];
            let req = Request { method: Method::GET, url: &url, headers: &headers, body: None, ca_pem: None };
            match http::send(&req, self.policy) {
                Ok(Fetched::Body(b)) => return Ok(Some(b)),
                Ok(Fetched::NotFound) => return Ok(None),
                Err(e) if status_of(&e) == Some(StatusCode::UNAUTHORIZED) && !refreshed => self.token = None,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}

fn status_of(e: &anyhow::Error) -> Option<StatusCode> {
    e.downcast_ref::<StatusError>().map(|s| s.0)
}
