//! Last line of defence for secrets in messages: every message bound for status, report,
//! console or log passes through here. Known secret values from the config are replaced, and
//! so is anything shaped like a bootstrap token or a PEM private key, even if the config that
//! held it never parsed.

use std::sync::Mutex;

use crate::config::NodeConfig;

const REDACTED: &str = "[redacted]";

/// Secrets known to this process (from a loaded config, or generated, like the certificate
/// key): every redaction replaces them, whichever command or log line carries them.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds a secret value to every later redaction in this process.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    if let Ok(mut known) = KNOWN.lock()
        && !known.iter().any(|k| k == secret)
    {
        known.push(secret.to_string());
        // Longest first, so a secret containing another is replaced whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Redacts with everything registered so far, plus the shapes (tokens, PEM keys, URL credentials).
pub fn redact(msg: &str) -> String {
    let mut out = msg.to_string();
    if let Ok(known) = KNOWN.lock() {
        for s in known.iter() {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    redact_url_credentials(&redact_pem_keys(&redact_token_shapes(&out)))
}

#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Collects the secret values of a config: bootstrap tokens, the certificate key, a
    /// supplied CA key and the report's header values (of any length: `Authorization: abc`
    /// is as secret as a long one). They are registered for the whole process as well.
    pub fn from_config(cfg: &NodeConfig) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        secrets.extend(cfg.bootstrap_tokens.iter().filter_map(|t| t.token.clone()));
        secrets.extend(cfg.certificate_key.clone());
        if let Some(ca) = &cfg.cluster.ca {
            secrets.push(ca.key.clone());
        }
        if let Some(j) = &cfg.join {
            secrets.extend(j.token.clone());
            secrets.extend(j.tls_bootstrap_token.clone());
        }
        secrets.retain(|s| s.len() >= 6);
        if let Some(r) = &cfg.report {
            secrets.extend(r.headers.values().filter(|v| !v.trim().is_empty()).cloned());
        }
        for s in &secrets {
            register(s);
        }
        Redactor { secrets }
    }

    pub fn redact(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), REDACTED);
        }
        redact(&out)
    }
}

/// `[a-z0-9]{6}.[a-z0-9]{16}` anywhere in the text: kubeadm's bootstrap token format.
fn redact_token_shapes(msg: &str) -> String {
    let b = msg.as_bytes();
    let tok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut out = String::with_capacity(msg.len());
    let mut i = 0;
    while i < b.len() {
        let fits = i + 23 <= b.len()
            && (i == 0 || !tok(b[i - 1]))
            && b[i..i + 6].iter().all(|&c| tok(c))
            && b[i + 6] == b'.'
            && b[i + 7..i + 23].iter().all(|&c| tok(c))
            && (i + 23 == b.len() || !tok(b[i + 23]));
        if fits {
            out.push_str(REDACTED);
            i += 23;
        } else {
            let ch = msg[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Every PEM block whose label names a private key (`PRIVATE KEY`, `RSA PRIVATE KEY`,
/// `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`), wherever it is among other blocks, through its
/// END line (or the end of the text when that is missing).
fn redact_pem_keys(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else { break };
        let label = &after[..label_end];
        out.push_str(&rest[..start]);
        if !label.contains("PRIVATE KEY") {
            out.push_str("-----BEGIN ");
            rest = after;
            continue;
        }
        out.push_str(REDACTED);
        let end_marker = format!("-----END {label}-----");
        rest = match after.find(&end_marker) {
            Some(e) => &after[e + end_marker.len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// `scheme://user:password@host` → `scheme://[redacted]@host` (proxy URLs from the
/// environment, URLs in user-data): the user information is a credential.
fn redact_url_credentials(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_token_shapes_keys_and_known_values() {
        let mut cfg = crate::config::defaults(crate::config::Role::ControlPlane);
        cfg.certificate_key = Some("c0ffee".repeat(10));
        let r = Redactor::from_config(&cfg);
        let msg = format!(
            "token abcdef.0123456789abcdef bad; key {} and -----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY----- end",
            "c0ffee".repeat(10)
        );
        assert_eq!(r.redact(&msg), "token [redacted] bad; key [redacted] and [redacted] end");
        assert_eq!(r.redact("node-a.example.com is fine"), "node-a.example.com is fine");
    }

    /// Issue 16 item 4: a key after a certificate, a short header value, a proxy password.
    #[test]
    fn keys_after_certificates_short_headers_and_url_credentials() {
        let msg = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\
                   -----BEGIN RSA PRIVATE KEY-----\nSECRETKEY\n-----END RSA PRIVATE KEY-----\ntail";
        let out = redact(msg);
        assert!(!out.contains("SECRETKEY"), "{out}");
        assert!(out.contains("-----BEGIN CERTIFICATE-----\nMIIB") && out.ends_with("[redacted]\ntail"), "{out}");
        assert!(!redact("-----BEGIN PRIVATE KEY-----\nNOEND").contains("NOEND"));

        let mut cfg = crate::config::defaults(crate::config::Role::Worker);
        cfg.report = Some(
            serde_json::from_value(serde_json::json!({
                "url": "https://r.example/x", "headers": {"X-Key": "k9Z"}
            }))
            .unwrap(),
        );
        let r = Redactor::from_config(&cfg);
        assert_eq!(r.redact("sent X-Key: k9Z"), "sent X-Key: [redacted]");

        assert_eq!(
            redact("uses proxy \"http://bob:hunter2@proxy:3128\" for https://api:6443/x"),
            "uses proxy \"http://[redacted]@proxy:3128\" for https://api:6443/x"
        );
    }
}
