//! The discovery CA pin (reference §2.6): `sha256:` + hex SHA-256 of the CA certificate's DER
//! SubjectPublicKeyInfo (RFC 7469), as printed in `kubeadm join --discovery-token-ca-cert-hash`.

use anyhow::Result;

use super::issue::CertInfo;

/// The pin of a DER certificate.
pub fn ca_cert_hash(cert_der: &[u8]) -> Result<String> {
    Ok(spki_hash(&CertInfo::parse(cert_der)?.spki_der))
}

/// The pin of a DER SubjectPublicKeyInfo.
pub fn spki_hash(spki_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
