//! ExternalEtcdVersion: each external etcd endpoint answers `/version` with a version kubeadm
//! supports, using the configured CA and client certificate.

use std::time::Duration;

use super::{Check, Env, Problem};
use crate::config::ExternalEtcd;
use crate::config::versions::{ComponentVersions, KubeVersion};
use crate::workflow::block_on;

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn external_etcd_version() -> Check {
    Check::new("ExternalEtcdVersion", |env| {
        let Some(etcd) = env.node.external_etcd() else { return vec![] };
        let min = min_external_etcd(&env.node.version);
        let client = match client(env, etcd) {
            Ok(c) => c,
            Err(e) => return vec![Problem::error(e, "fix cluster.etcd.external caFile/certFile/keyFile")],
        };
        etcd.endpoints
            .iter()
            .filter_map(|ep| {
                let url = format!("{}/version", ep.trim_end_matches('/'));
                let v = match block_on(version(&client, &url)) {
                    Ok(v) => v,
                    Err(e) => {
                        return Some(Problem::error(
                            format!("{url}: {e}"),
                            "check that etcd runs and the endpoint and certificates are right",
                        ));
                    }
                };
                match semver(&v) {
                    Some(have) if have >= semver(min).unwrap_or_default() => None,
                    _ => Some(Problem::error(
                        format!(
                            "this version of kubeboot only supports external etcd version >= {min} for Kubernetes {}. Current version: {v} ({ep})",
                            env.node.version
                        ),
                        "upgrade the external etcd cluster",
                    )),
                }
            })
            .collect()
    })
}

/// kubeadm's `MinExternalEtcdVersion` is the etcd it pins for the oldest control plane it can
/// run next to (one minor back); patch releases of kubeadm raise both together.
fn min_external_etcd(v: &KubeVersion) -> &'static str {
    ComponentVersions::for_minor(v.minor.saturating_sub(1)).etcd
}

/// `3.5.16-0` or `3.4.23` → (3, 5, 16).
fn semver(v: &str) -> Option<(u32, u32, u32)> {
    let k = KubeVersion::parse(v.split('-').next()?).ok()?;
    Some((k.major, k.minor, k.patch))
}

/// An HTTP client trusting only the etcd CA and presenting the client key pair; names resolve
/// through hickory (reqwest's `hickory-dns`), never libc.
fn client(env: &Env, etcd: &ExternalEtcd) -> Result<reqwest::Client, String> {
    let read = |p: &str| env.host.read(p).map_err(|e| format!("couldn't load external etcd file {p}: {e}"));
    let pair_err = |e: &dyn std::fmt::Display| {
        format!("couldn't load external etcd's certificate and key pair {}, {}: {e}", etcd.cert_file, etcd.key_file)
    };
    let mut b = reqwest::Client::builder().timeout(TIMEOUT).no_proxy();
    let with_identity = !etcd.cert_file.is_empty() && !etcd.key_file.is_empty();
    if !etcd.ca_file.is_empty() {
        let ca = reqwest::Certificate::from_pem(&read(&etcd.ca_file)?).map_err(|e| format!("{}: {e}", etcd.ca_file))?;
        b = b.tls_certs_only([ca]);
    }
    if with_identity {
        let mut pem = read(&etcd.cert_file)?;
        pem.extend(read(&etcd.key_file)?);
        b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| pair_err(&e))?);
    }
    // rustls checks that the key matches the certificate only here.
    b.build().map_err(|e| {
        let cause = root_cause(&e);
        if with_identity { pair_err(&cause) } else { format!("cannot build the etcd client: {cause}") }
    })
}

async fn version(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = client.get(url).send().await.map_err(|e| root_cause(&e))?;
    if !resp.status().is_success() {
        return Err(format!("server responded with {}", resp.status()));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| format!("the answer is not JSON: {e}"))?;
    body["etcdserver"].as_str().map(String::from).ok_or_else(|| "no etcdserver version in the answer".into())
}

/// reqwest nests the useful part (`Connection refused`, a TLS alert) deep in its error chain.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_follows_the_previous_minor() {
        assert_eq!(semver("3.5.16-0"), Some((3, 5, 16)));
        assert_eq!(semver("3.4.23"), Some((3, 4, 23)));
        assert_eq!(min_external_etcd(&KubeVersion::parse("v1.34.1").unwrap()), "3.5.21-0");
        assert_eq!(min_external_etcd(&KubeVersion::parse("v1.31.0").unwrap()), "3.5.15-0");
    }
}
