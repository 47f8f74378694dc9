//! Last line of defence for secrets in messages: every message bound for status, report,
//! console or log passes through here. Known secret values from the config are replaced, and
//! so is anything shaped like a bootstrap token or a PEM private key, even if the config that
//! held it never parsed.

use crate::config::NodeConfig;

const REDACTED: &str = "[redacted]";

#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Collects the secret values of a config: bootstrap tokens, the certificate key, a
    /// supplied CA key and the report's header values.
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
        if let Some(r) = &cfg.report {
            secrets.extend(r.headers.values().cloned());
        }
        secrets.retain(|s| s.len() >= 6);
        Redactor { secrets }
    }

    pub fn redact(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), REDACTED);
        }
        redact_pem_keys(&redact_token_shapes(&out))
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

fn redact_pem_keys(msg: &str) -> String {
    let Some(start) = msg.find("-----BEGIN") else { return msg.to_string() };
    if !msg[start..].starts_with("-----BEGIN") || !msg[start..].contains("PRIVATE KEY-----") {
        return msg.to_string();
    }
    let end = msg[start..]
        .find("-----END")
        .and_then(|e| msg[start + e..].find("KEY-----").map(|k| start + e + k + "KEY-----".len()))
        .unwrap_or(msg.len());
    format!("{}{REDACTED}{}", &msg[..start], redact_pem_keys(&msg[end..]))
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
}
