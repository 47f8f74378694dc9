//! Unwraps what a platform delivers into the bytes the config loader reads: gzip is
//! decompressed, multipart MIME gives up its kubeboot or cloud-config part. Everything else
//! (native NodeConfig, kubeadm documents, `#cloud-config` with `kubeboot:`) passes unchanged.

use std::io::Read;

use anyhow::{Context, Result, bail};
use base64::Engine;

use crate::config::MAX_INPUT_BYTES;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// MIME part types that carry a NodeConfig, best first.
const KUBEBOOT_TYPES: &[&str] = &["text/x-kubeboot", "application/x-kubeboot+yaml"];
const CLOUD_CONFIG_TYPES: &[&str] = &["text/cloud-config", "text/x-cloud-config"];

pub fn unwrap(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let bytes = gunzip_if_compressed(bytes)?;
    if let Some(boundary) = multipart_boundary(&bytes) {
        return pick_part(&bytes, &boundary);
    }
    Ok(bytes)
}

/// Decompresses gzip input; the output is capped like any user-data (a gzip bomb stops at the cap).
fn gunzip_if_compressed(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .context("user-data starts with the gzip magic but does not decompress")?;
    if out.len() > MAX_INPUT_BYTES {
        bail!("gzip user-data decompresses to more than {MAX_INPUT_BYTES} bytes");
    }
    Ok(out)
}

/// The boundary of a `Content-Type: multipart/...` message, from its top-level headers.
fn multipart_boundary(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (headers, _) = split_headers(text)?;
    let ct = header(&headers, "content-type")?;
    if !ct.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    param(&ct, "boundary")
}

fn pick_part(bytes: &[u8], boundary: &str) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).context("multipart user-data is not UTF-8")?;
    let mut parts = Vec::new();
    let delimiter = format!("--{boundary}");
    for chunk in text.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break; // closing delimiter
        }
        let chunk = chunk.strip_prefix("\r\n").or_else(|| chunk.strip_prefix('\n')).unwrap_or(chunk);
        let Some((headers, body)) = split_headers(chunk) else { continue };
        let ctype = header(&headers, "content-type").unwrap_or_default().to_ascii_lowercase();
        let ctype = ctype.split(';').next().unwrap_or_default().trim().to_string();
        let body = body.strip_suffix("\r\n").or_else(|| body.strip_suffix('\n')).unwrap_or(body);
        let data = match header(&headers, "content-transfer-encoding").map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "base64" => {
                let clean: String = body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD.decode(clean).context("a base64 MIME part does not decode")?
            }
            _ => body.as_bytes().to_vec(),
        };
        parts.push((ctype, gunzip_if_compressed(data)?));
    }
    let has_kubeboot_key = |b: &[u8]| String::from_utf8_lossy(b).lines().any(|l| l.starts_with("kubeboot:"));
    let rank = |(ctype, data): &(String, Vec<u8>)| {
        if KUBEBOOT_TYPES.contains(&ctype.as_str()) {
            Some(0)
        } else if (CLOUD_CONFIG_TYPES.contains(&ctype.as_str()) || data.starts_with(b"#cloud-config"))
            && has_kubeboot_key(data)
        {
            Some(1)
        } else {
            None
        }
    };
    let best = parts.iter().filter_map(|p| rank(p).map(|r| (r, p))).min_by_key(|(r, _)| *r);
    match best {
        Some((_, (_, data))) => Ok(data.clone()),
        None => bail!(
            "multipart user-data has {} part(s) but none is text/x-kubeboot or a cloud-config with a `kubeboot:` key",
            parts.len()
        ),
    }
}

/// Splits RFC 822 headers (with folded continuation lines) from the body.
fn split_headers(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let (head, body) = text.split_once("\r\n\r\n").or_else(|| text.split_once("\n\n"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        } else {
            return None; // not a header block
        }
    }
    Some((headers, body))
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A `name=value` or `name="value"` parameter of a header value.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NODE: &str = "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\n";

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_yaml_passes_unchanged() {
        assert_eq!(unwrap(NODE.as_bytes().to_vec()).unwrap(), NODE.as_bytes());
    }

    #[test]
    fn gzip_is_decompressed_and_capped() {
        assert_eq!(unwrap(gzip(NODE.as_bytes())).unwrap(), NODE.as_bytes());
        let bomb = gzip(&vec![b'a'; MAX_INPUT_BYTES + 10]);
        assert!(unwrap(bomb).unwrap_err().to_string().contains("decompresses to more than"));
    }

    #[test]
    fn multipart_picks_the_cloud_config_with_kubeboot_key() {
        let cc = "#cloud-config\nkubeboot:\n  role: worker\n".to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(cc.as_bytes()));
        let msg = format!(
            "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n--XYZ\n\
             Content-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--XYZ\n\
             Content-Type: text/cloud-config\n\n#cloud-config\npackages: [vim]\n--XYZ\n\
             Content-Type: text/cloud-config\nContent-Transfer-Encoding: base64\n\n{b64}\n--XYZ--\n"
        );
        assert_eq!(String::from_utf8(unwrap(msg.into_bytes()).unwrap()).unwrap(), cc);
    }

    #[test]
    fn multipart_prefers_the_kubeboot_part_and_explains_a_miss() {
        let msg = format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/cloud-config\r\n\r\n\
             #cloud-config\r\nkubeboot: {{}}\r\n--b\r\nContent-Type: text/x-kubeboot\r\n\r\n{NODE}\r\n--b--\r\n"
        );
        assert_eq!(unwrap(msg.into_bytes()).unwrap(), NODE.as_bytes());
        let none = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n--b--\n";
        let err = unwrap(none.as_bytes().to_vec()).unwrap_err().to_string();
        assert!(err.contains("1 part(s)"), "{err}");
    }
}
