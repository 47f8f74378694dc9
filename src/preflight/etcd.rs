//! ExternalEtcdVersion: each external etcd endpoint answers `/version` with a version kubeadm
//! supports, using the configured CA and client certificate.
//!
//! The request is one HTTP/1.1 GET over a plain or rustls stream, with the host name resolved
//! through /etc/hosts and hickory: building a reqwest client would link glibc's getaddrinfo
//! into the static binary (its fallback resolver), which the NSS guard forbids.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::{Check, Env, Problem, network};
use crate::config::ExternalEtcd;
use crate::config::versions::{ComponentVersions, KubeVersion};

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn external_etcd_version() -> Check {
    Check::new("ExternalEtcdVersion", |env| {
        let Some(etcd) = env.node.external_etcd() else { return vec![] };
        let min = min_external_etcd(&env.node.version);
        let tls = match tls_config(env, etcd) {
            Ok(c) => c,
            Err(e) => return vec![Problem::error(e, "fix cluster.etcd.external caFile/certFile/keyFile")],
        };
        etcd.endpoints
            .iter()
            .filter_map(|ep| {
                let v = match version(env, ep, tls.clone()) {
                    Ok(v) => v,
                    Err(e) => {
                        return Some(Problem::error(
                            format!("{}/version: {e}", ep.trim_end_matches('/')),
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

/// The TLS client configuration for https endpoints: the etcd CA and the client key pair.
fn tls_config(env: &Env, etcd: &ExternalEtcd) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
    if etcd.ca_file.is_empty() {
        return Ok(None);
    }
    let read = |p: &str| env.host.read(p).map_err(|e| format!("couldn't load external etcd file {p}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(&etcd.ca_file)?) {
        let cert = cert.map_err(|e| format!("{}: {e}", etcd.ca_file))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", etcd.ca_file))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = if !etcd.cert_file.is_empty() && !etcd.key_file.is_empty() {
        let pair_err = |e: String| {
            format!("couldn't load external etcd's certificate and key pair {}, {}: {e}", etcd.cert_file, etcd.key_file)
        };
        let certs = CertificateDer::pem_slice_iter(&read(&etcd.cert_file)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pair_err(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(&read(&etcd.key_file)?).map_err(|e| pair_err(e.to_string()))?;
        builder.with_client_auth_cert(certs, key).map_err(|e| pair_err(e.to_string()))?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Some(Arc::new(config)))
}

/// `GET <endpoint>/version` → the `etcdserver` field.
fn version(env: &Env, endpoint: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let addr = network::resolve(env, &host)?.into_iter().next().ok_or("no address")?;
    let stream = TcpStream::connect_timeout(&SocketAddr::new(addr, port), TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let path = format!("{}/version", url.path().trim_end_matches('/'));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    let response = match (url.scheme(), tls) {
        ("http", _) => exchange(stream, &request)?,
        ("https", Some(tls)) => {
            let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
            let conn = rustls::ClientConnection::new(tls, name).map_err(|e| e.to_string())?;
            exchange(rustls::StreamOwned::new(conn, stream), &request)?
        }
        ("https", None) => return Err("an https endpoint needs caFile".into()),
        (other, _) => return Err(format!("unsupported scheme {other}")),
    };
    let body = http_body(&response)?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    json["etcdserver"].as_str().map(String::from).ok_or_else(|| "no etcdserver version in the answer".into())
}

/// Sends the request and reads until the server closes (a peer that closes TLS without
/// close_notify still gave a complete `Connection: close` answer).
fn exchange(mut s: impl Read + Write, request: &str) -> Result<Vec<u8>, String> {
    s.write_all(request.as_bytes()).and_then(|()| s.flush()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => Ok(buf),
        Err(e) => Err(e.to_string()),
    }
}

/// The body of a 200 answer, de-chunked if needed.
fn http_body(response: &[u8]) -> Result<Vec<u8>, String> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("truncated HTTP answer")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let mut body = &response[split + 4..];
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("server responded with {status:?}"));
    }
    if !head.lines().any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked") {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n").ok_or("bad chunked encoding")?;
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(eol + 2..eol + 2 + size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(eol + 4 + size..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(http_body(plain).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(http_body(chunked).unwrap(), b"{\"a\":1}");
        assert!(http_body(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap_err().contains("503"));
        assert_eq!(semver("3.5.16-0"), Some((3, 5, 16)));
        assert_eq!(min_external_etcd(&KubeVersion::parse("v1.34.1").unwrap()), "3.5.21-0");
    }
}
