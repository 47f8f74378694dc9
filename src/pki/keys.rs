//! Private keys: generation (RSA-2048/3072/4096, ECDSA P-256/P-384 through aws-lc-rs), reading
//! any format kubeadm reads (PKCS#1, SEC1, PKCS#8), and writing exactly what kubeadm writes
//! (RSA as PKCS#1 `RSA PRIVATE KEY`, EC as SEC1 `EC PRIVATE KEY` with the curve parameters,
//! public keys as PKIX `PUBLIC KEY`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::{rsa, signature};
use rcgen::{KeyPair, PublicKeyData};

use crate::config::EncryptionAlgorithm;

/// A private key plus the exact PEM text that is (or will be) its file.
pub struct PrivateKey {
    pair: KeyPair,
    pem: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.describe()) // never the key material
    }
}

impl PrivateKey {
    /// A new key of the cluster's `encryptionAlgorithm`.
    pub fn generate(alg: EncryptionAlgorithm) -> Result<Self> {
        let keygen_failed = || anyhow!("generating a {} key failed", alg.as_str());
        let (pkcs8, pem) = match alg {
            EncryptionAlgorithm::Rsa2048 | EncryptionAlgorithm::Rsa3072 | EncryptionAlgorithm::Rsa4096 => {
                let size = match alg {
                    EncryptionAlgorithm::Rsa3072 => rsa::KeySize::Rsa3072,
                    EncryptionAlgorithm::Rsa4096 => rsa::KeySize::Rsa4096,
                    _ => rsa::KeySize::Rsa2048,
                };
                let key = rsa::KeyPair::generate(size).map_err(|_| keygen_failed())?;
                let pkcs8 = key.as_der().map_err(|_| keygen_failed())?.as_ref().to_vec();
                // aws-lc-rs exports RSA only as PKCS#8; the PKCS#1 key is its privateKey field.
                let pkcs1 = pkcs8_private_key_field(&pkcs8)?;
                (pkcs8, pem_text("RSA PRIVATE KEY", &pkcs1))
            }
            EncryptionAlgorithm::EcdsaP256 | EncryptionAlgorithm::EcdsaP384 => {
                let curve = if alg == EncryptionAlgorithm::EcdsaP256 {
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let key = signature::EcdsaKeyPair::generate(curve).map_err(|_| keygen_failed())?;
                let pkcs8 = key.to_pkcs8v1().map_err(|_| keygen_failed())?.as_ref().to_vec();
                // RFC 5915 with the named-curve parameters, as Go's MarshalECPrivateKey writes it.
                let sec1 = key.private_key().as_der().map_err(|_| keygen_failed())?;
                (pkcs8, pem_text("EC PRIVATE KEY", sec1.as_ref()))
            }
        };
        let pair = KeyPair::try_from(pkcs8.as_slice()).map_err(|e| anyhow!("loading the generated key: {e}"))?;
        Ok(PrivateKey { pair, pem })
    }

    /// Reads a PEM key in any format kubeadm accepts; the text is kept as given.
    pub fn from_pem(text: &str) -> Result<Self> {
        let block = pem::parse(text).context("not a PEM private key")?;
        match block.tag() {
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY" => {}
            other => bail!("PEM block is `{other}`, expected a private key"),
        }
        let pair = KeyPair::try_from(block.contents())
            .map_err(|_| anyhow!("the private key is neither RSA nor ECDSA (P-256/P-384), or it is corrupt"))?;
        Ok(PrivateKey { pair, pem: text.to_string() })
    }

    /// The key file's contents.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// `PUBLIC KEY` PEM (PKIX SubjectPublicKeyInfo), as kubeadm writes sa.pub.
    pub fn public_key_pem(&self) -> String {
        pem_text("PUBLIC KEY", &self.spki_der())
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    pub fn pair(&self) -> &KeyPair {
        &self.pair
    }

    /// `RSA` / `ECDSA P-256` etc., for messages.
    pub fn describe(&self) -> &'static str {
        let alg = self.pair.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            "ECDSA P-256"
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            "ECDSA P-384"
        } else {
            "RSA"
        }
    }
}

/// Generates `count` keys on all cores. RSA generation time is heavy-tailed, so workers pull
/// from a shared counter instead of taking fixed shares.
pub fn generate_many(alg: EncryptionAlgorithm, count: usize) -> Result<Vec<PrivateKey>> {
    if count == 0 {
        return Ok(vec![]);
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(count);
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Result<PrivateKey>>> = Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let key = PrivateKey::generate(alg);
                    out.lock().expect("key generation worker panicked").push(key);
                }
            });
        }
    });
    out.into_inner().expect("key generation worker panicked").into_iter().collect()
}

/// Go `pem.EncodeToMemory`: 64-column base64, LF line endings.
pub fn pem_text(tag: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der.to_vec()), config)
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo
/// (`SEQUENCE { INTEGER version, AlgorithmIdentifier, OCTET STRING privateKey, ... }`).
fn pkcs8_private_key_field(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let malformed = || anyhow!("malformed PKCS#8 key");
    let (tag, body, _) = der_tlv(pkcs8).ok_or_else(malformed)?;
    if tag != 0x30 {
        return Err(malformed());
    }
    let (_, _, rest) = der_tlv(body).ok_or_else(malformed)?; // version
    let (_, _, rest) = der_tlv(rest).ok_or_else(malformed)?; // algorithm
    match der_tlv(rest) {
        Some((0x04, key, _)) => Ok(key.to_vec()),
        _ => Err(malformed()),
    }
}

/// Splits one DER TLV off the front: (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_the_ones_kubeadm_writes() {
        let rsa = PrivateKey::generate(EncryptionAlgorithm::Rsa2048).unwrap();
        assert!(rsa.pem().starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{}", &rsa.pem()[..40]);
        assert!(!rsa.pem().contains('\r'));
        assert!(rsa.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let ec = PrivateKey::generate(EncryptionAlgorithm::EcdsaP256).unwrap();
        assert!(ec.pem().starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert_eq!(ec.describe(), "ECDSA P-256");
        let p384 = PrivateKey::generate(EncryptionAlgorithm::EcdsaP384).unwrap();
        assert_eq!(p384.describe(), "ECDSA P-384");
    }

    #[test]
    fn written_keys_read_back_to_the_same_public_key() {
        for alg in [EncryptionAlgorithm::Rsa2048, EncryptionAlgorithm::EcdsaP256, EncryptionAlgorithm::EcdsaP384] {
            let key = PrivateKey::generate(alg).unwrap();
            let again = PrivateKey::from_pem(key.pem()).unwrap();
            assert_eq!(key.spki_der(), again.spki_der(), "{}", alg.as_str());
        }
    }

    #[test]
    fn refuses_non_keys() {
        let err = PrivateKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    }

    #[test]
    fn parallel_generation_makes_distinct_keys() {
        let keys = generate_many(EncryptionAlgorithm::EcdsaP256, 5).unwrap();
        assert_eq!(keys.len(), 5);
        let mut spkis: Vec<_> = keys.iter().map(|k| k.spki_der()).collect();
        spkis.dedup();
        assert_eq!(spkis.len(), 5);
    }
}
