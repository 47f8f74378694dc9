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

/// Most bytes gzip may expand to across the whole user-data: the outer layer and every MIME
/// part together (each part alone is capped at `MAX_INPUT_BYTES` too). Parts that are not
/// picked count as well: a message of many small gzip bombs stops here, not at the RAM's end.
pub const MAX_DECOMPRESSED_BYTES: usize = 4 * MAX_INPUT_BYTES;

pub fn unwrap(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let mut budget = Budget { left: MAX_DECOMPRESSED_BYTES };
    let bytes = gunzip_if_compressed(bytes, &mut budget)?;
    if let Some(boundary) = multipart_boundary(&bytes) {
        return pick_part(&bytes, &boundary, &mut budget);
    }
    Ok(bytes)
}

/// What is left of `MAX_DECOMPRESSED_BYTES`.
struct Budget {
    left: usize,
}

/// Decompresses gzip input; the output is capped like any user-data (a gzip bomb stops at the
/// cap) and charged to the budget shared by all parts.
fn gunzip_if_compressed(bytes: Vec<u8>, budget: &mut Budget) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let cap = MAX_INPUT_BYTES.min(budget.left);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .context("user-data starts with the gzip magic but does not decompress")?;
    if out.len() > MAX_INPUT_BYTES {
        bail!("gzip user-data decompresses to more than {MAX_INPUT_BYTES} bytes");
    }
    if out.len() > budget.left {
        bail!(
            "gzip parts of the user-data decompress to more than {MAX_DECOMPRESSED_BYTES} bytes in total \
             (a decompression bomb?); send fewer or smaller compressed parts"
        );
    }
    budget.left -= out.len();
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

/// The best part (kubeboot type, else a cloud-config with a `kubeboot:` key); only the best so
/// far is kept, so memory stays at one part besides the message.
fn pick_part(bytes: &[u8], boundary: &str, budget: &mut Budget) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).context("multipart user-data is not UTF-8")?;
    let mut count = 0;
    let mut best: Option<(u8, Vec<u8>)> = None;
    let delimiter = format!("--{boundary}");
    for chunk in text.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break; // closing delimiter
        }
        let chunk = chunk.strip_prefix("\r\n").or_else(|| chunk.strip_prefix('\n')).unwrap_or(chunk);
        let Some((headers, body)) = split_headers(chunk) else { continue };
        count += 1;
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
        let data = gunzip_if_compressed(data, budget)?;
        if let Some(r) = rank(&ctype, &data)
            && best.as_ref().is_none_or(|(b, _)| r < *b)
        {
            best = Some((r, data));
        }
    }
    match best {
        Some((_, data)) => Ok(data),
        None => bail!(
            "multipart user-data has {count} part(s) but none is text/x-kubeboot or a cloud-config with a `kubeboot:` key"
        ),
    }
}

/// 0 for a kubeboot part, 1 for a cloud-config carrying `kubeboot:`, `None` for any other.
fn rank(ctype: &str, data: &[u8]) -> Option<u8> {
    let has_kubeboot_key = || String::from_utf8_lossy(data).lines().any(|l| l.starts_with("kubeboot:"));
    if KUBEBOOT_TYPES.contains(&ctype) {
        Some(0)
    } else if (CLOUD_CONFIG_TYPES.contains(&ctype) || data.starts_with(b"#cloud-config")) && has_kubeboot_key() {
        Some(1)
    } else {
        None
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

    /// Issue 16 item 3: many small gzip parts, each under the per-part cap, must not add up to
    /// hundreds of MiB: one budget covers them all.
    #[test]
    fn many_gzip_parts_share_one_decompression_budget() {
        let msg = many_gzip_parts(MAX_INPUT_BYTES);
        assert!(msg.len() <= MAX_INPUT_BYTES, "the message itself fits the input limit: {}", msg.len());
        let err = unwrap(msg).unwrap_err().to_string();
        assert!(err.contains("in total"), "{err}");
    }

    /// A multipart message of base64 gzip parts that each expand to 1 MiB, as large as fits in
    /// `max_len` bytes (about 700 parts: 700 MiB if each were kept), with no kubeboot part.
    pub(crate) fn many_gzip_parts(max_len: usize) -> Vec<u8> {
        let part = base64::engine::general_purpose::STANDARD.encode(gzip(&vec![b'#'; MAX_INPUT_BYTES]));
        let one = format!("--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{part}\n");
        let head = "Content-Type: multipart/mixed; boundary=b\n\n";
        let n = (max_len - head.len() - 8) / one.len();
        format!("{head}{}--b--\n", one.repeat(n)).into_bytes()
    }
}
