//! The detached JWS the KCM `bootstrapsigner` puts beside cluster-info's kubeconfig
//! (reference §9.3, cluster-bootstrap `token/jws`): `<b64url(header)>..<b64url(HMAC)>` with
//! header `{"alg":"HS256","kid":"<token id>"}`, HMAC-SHA256 keyed with the token secret over
//! `<b64url(header)>.<b64url(kubeconfig)>`.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use super::Token;

/// The protected header exactly as go-jose serializes it for kubeadm's signer.
fn header_b64(token_id: &str) -> String {
    B64URL.encode(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#))
}

fn signing_input(header_b64: &str, content: &str) -> String {
    format!("{header_b64}.{}", B64URL.encode(content))
}

fn key(token: &Token) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, token.secret().as_bytes())
}

/// `ComputeDetachedSignature`: what the bootstrapsigner writes for `content` and `token`.
pub fn detached_signature(content: &str, token: &Token) -> String {
    let header = header_b64(&token.id);
    let tag = hmac::sign(&key(token), signing_input(&header, content).as_bytes());
    format!("{header}..{}", B64URL.encode(tag.as_ref()))
}

/// `DetachedTokenIsValid`, with the signature compared in constant time (kubeadm uses `==`).
/// The header must name this token's id; the payload part must be empty (detached).
pub fn is_valid(detached: &str, content: &str, token: &Token) -> bool {
    let mut parts = detached.split('.');
    let (Some(header), Some(""), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if header != header_b64(&token.id) {
        return false;
    }
    let Ok(tag) = B64URL.decode(signature) else {
        return false;
    };
    hmac::verify(&key(token), signing_input(header, content).as_bytes(), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> Token {
        Token::parse(s).unwrap()
    }

    #[test]
    fn header_matches_the_reference_example() {
        assert_eq!(header_b64("abcdef"), "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9");
    }

    #[test]
    fn sign_then_verify_and_every_tamper_fails() {
        let t = token("abcdef.0123456789abcdef");
        let jws = detached_signature("kubeconfig text", &t);
        assert!(is_valid(&jws, "kubeconfig text", &t));
        assert!(!is_valid(&jws, "kubeconfig text ", &t), "payload changed");
        assert!(!is_valid(&jws, "kubeconfig text", &token("abcdef.0123456789abcdeg")), "other secret");
        assert!(!is_valid(&jws, "kubeconfig text", &token("abcdeg.0123456789abcdef")), "other id (kid)");
        let (h, s) = jws.split_once("..").unwrap();
        assert!(!is_valid(&format!("{h}.{}.{s}", B64URL.encode("kubeconfig text")), "kubeconfig text", &t));
        assert!(!is_valid(&format!("{h}..{s}A"), "kubeconfig text", &t));
        assert!(!is_valid(&format!("{h}.."), "kubeconfig text", &t));
        assert!(!is_valid("", "kubeconfig text", &t));
    }
}
