//! ExternalEtcdVersion: each external etcd endpoint answers `/version` with a version kubeadm
//! supports, using the configured client certificate.

use std::time::Duration;

use super::{Check, Env, Problem};
use crate::config::ExternalEtcd;
use crate::config::versions::KubeVersion;
use crate::workflow::block_on;

/// kubeadm `MinExternalEtcdVersion` for 1.31–1.34 (verify against constants.go per release).
const MIN_EXTERNAL_ETCD: (u32, u32, u32) = (3, 5, 11);
const TIMEOUT: Duration = Duration::from_secs(10);

pub fn external_etcd_version() -> Check {
    Check::new("ExternalEtcdVersion", |env| {
        let Some(etcd) = env.node.external_etcd() else { return vec![] };
        let client = match client(env, etcd) {
            Ok(c) => c,
            Err(e) => return vec![Problem::error(e, "fix cluster.etcd.external caFile/certFile/keyFile")],
        };
        etcd.endpoints
            .iter()
            .filter_map(|ep| {
                let v = match block_on(version(&client, ep)) {
                    Ok(v) => v,
                    Err(e) => return Some(Problem::error(e, "check that etcd runs and the endpoint and certificates are right")),
                };
                let parsed = KubeVersion::parse(&v).ok().map(|k| (k.major, k.minor, k.patch));
                match parsed {
                    Some(have) if have >= MIN_EXTERNAL_ETCD => None,
                    _ => Some(Problem::error(
                        format!(
                            "this version of kubeboot only supports external etcd version >= {}.{}.{}. Current version: {v} ({ep})",
                            MIN_EXTERNAL_ETCD.0, MIN_EXTERNAL_ETCD.1, MIN_EXTERNAL_ETCD.2
                        ),
                        "upgrade the external etcd cluster",
                    )),
                }
            })
            .collect()
    })
}

fn client(env: &Env, etcd: &ExternalEtcd) -> Result<reqwest::Client, String> {
    let read = |p: &str| env.host.read(p).map_err(|e| format!("couldn't load external etcd file {p}: {e}"));
    let mut b = reqwest::Client::builder().timeout(TIMEOUT).no_proxy();
    if !etcd.ca_file.is_empty() {
        let ca = reqwest::Certificate::from_pem(&read(&etcd.ca_file)?).map_err(|e| format!("{}: {e}", etcd.ca_file))?;
        b = b.tls_certs_only([ca]);
    }
    if !etcd.cert_file.is_empty() && !etcd.key_file.is_empty() {
        let mut pem = read(&etcd.cert_file)?;
        pem.extend(read(&etcd.key_file)?);
        let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!("couldn't load external etcd's certificate and key pair {}, {}: {e}", etcd.cert_file, etcd.key_file)
        })?;
        b = b.identity(id);
    }
    b.build().map_err(|e| format!("cannot build the etcd client: {e}"))
}

async fn version(client: &reqwest::Client, endpoint: &str) -> Result<String, String> {
    let url = format!("{}/version", endpoint.trim_end_matches('/'));
    let resp = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: server responded with {}", resp.status()));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
    body["etcdserver"].as_str().map(String::from).ok_or_else(|| format!("{url}: no etcdserver version in the answer"))
}
