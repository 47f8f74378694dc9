//! Making certificates the way kubeadm's pkiutil (Go crypto/x509) makes them, and checking
//! existing ones before they are reused.
//!
//! Go details reproduced: random 63-bit serial; Subject O before CN; KeyUsage critical
//! (digitalSignature + keyEncipherment, + keyCertSign for CAs); BasicConstraints critical on
//! every certificate (`CA:FALSE` on leaves); CAs get a SubjectKeyIdentifier (SHA-1 of the
//! public key bits, Go's method) and DNS SAN = CN, and no AuthorityKeyIdentifier; leaves get an
//! AuthorityKeyIdentifier = the CA's SKI and no SKI.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::keys::{PrivateKey, pem_text};
use super::table::{SanList, Usage};

/// What a certificate should say.
#[derive(Debug, Clone)]
pub struct CertRequest {
    pub cn: String,
    /// Subject O, in order (kubeadm's own certificates carry at most one).
    pub orgs: Vec<String>,
    pub usages: Vec<Usage>,
    pub sans: SanList,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A certificate authority: its certificate and, unless it is external, its key.
pub struct Authority {
    /// File base name under the PKI dir (`ca`, `etcd/ca`, ...).
    pub base: String,
    pub cert_der: Vec<u8>,
    pub key: Option<PrivateKey>,
}

impl Authority {
    pub fn cert_pem(&self) -> String {
        pem_text("CERTIFICATE", &self.cert_der)
    }

    pub fn info(&self) -> Result<CertInfo> {
        CertInfo::parse(&self.cert_der)
    }

    /// Signs `req` for the public key of `subject_key`.
    pub fn sign(&self, req: &CertRequest, subject_key: &PrivateKey) -> Result<Vec<u8>> {
        let ca_key = self.key.as_ref().ok_or_else(|| {
            anyhow!("{}.key is absent (external CA mode), so kubeboot cannot sign certificates with it", self.base)
        })?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der.clone().into(), ca_key.pair())
            .map_err(|e| anyhow!("{}.crt cannot be used as an issuer: {e}", self.base))?;
        let mut params = base_params(req)?;
        params.is_ca = IsCa::NoCa; // BasicConstraints added below: rcgen would also add an SKI
        params.custom_extensions.push(leaf_basic_constraints());
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(subject_key.pair(), &issuer).map_err(|e| anyhow!("signing {}: {e}", req.cn))?;
        Ok(cert.der().to_vec())
    }
}

/// A self-signed CA certificate for `key`.
pub fn self_signed_ca(req: &CertRequest, key: &PrivateKey) -> Result<Vec<u8>> {
    let mut params = base_params(req)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.key_identifier_method = KeyIdMethod::PreSpecified(go_subject_key_id(key));
    let cert = params.self_signed(key.pair()).map_err(|e| anyhow!("self-signing {}: {e}", req.cn))?;
    Ok(cert.der().to_vec())
}

fn base_params(req: &CertRequest) -> Result<CertificateParams> {
    let mut dn = DistinguishedName::new();
    // rcgen keeps one value per attribute type, so a second O goes in under its OID as a
    // "custom" type (the same OID on the wire); a third cannot be expressed and is refused
    // rather than dropped. kubeadm's own certificates carry at most one.
    match req.orgs.as_slice() {
        [] => {}
        [o] => dn.push(DnType::OrganizationName, o.as_str()),
        [o1, o2] => {
            dn.push(DnType::OrganizationName, o1.as_str());
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), o2.as_str());
        }
        _ => bail!("{}: kubeboot can put at most two organizations (O) in a certificate subject", req.cn),
    }
    dn.push(DnType::CommonName, req.cn.as_str());
    let mut sans = Vec::with_capacity(req.sans.dns.len() + req.sans.ips.len());
    for name in &req.sans.dns {
        sans.push(SanType::DnsName(name.clone().try_into().map_err(|e| anyhow!("SAN `{name}`: {e}"))?));
    }
    sans.extend(req.sans.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.serial_number = Some(random_serial());
    params.not_before = req.not_before;
    params.not_after = req.not_after;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = req
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    Ok(params)
}

/// `BasicConstraints` critical with an empty SEQUENCE: `CA:FALSE`, as Go writes for leaves.
fn leaf_basic_constraints() -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
    ext.set_criticality(true);
    ext
}

/// Go's automatic SubjectKeyIdentifier: SHA-1 over the subjectPublicKey BIT STRING contents.
fn go_subject_key_id(key: &PrivateKey) -> Vec<u8> {
    use rcgen::PublicKeyData;
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key.pair().der_bytes()).as_ref().to_vec()
}

/// Uniform in [1, 2^63 − 1), like kubeadm's `NewSignedCert`.
fn random_serial() -> SerialNumber {
    loop {
        let mut b = [0u8; 8];
        aws_lc_rs::rand::fill(&mut b).expect("system RNG failed");
        let n = u64::from_be_bytes(b) & (i64::MAX as u64);
        if n != 0 && n != i64::MAX as u64 {
            let bytes = n.to_be_bytes();
            let first = bytes.iter().position(|&x| x != 0).unwrap_or(7);
            return SerialNumber::from_slice(&bytes[first..]);
        }
    }
}

/// The fields kubeboot reads back from a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub cn: String,
    pub orgs: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub is_ca: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub spki_der: Vec<u8>,
    /// Extended key usages kubeboot knows (serverAuth, clientAuth), in kubeadm's order.
    pub usages: Vec<Usage>,
    /// The certificate has extended key usages other than serverAuth and clientAuth.
    pub other_usages: bool,
    /// The serial number, big-endian bytes.
    pub serial: Vec<u8>,
    /// The key algorithm of the certified public key (`None` when not one kubeadm makes).
    pub key_algorithm: Option<crate::config::EncryptionAlgorithm>,
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<Self> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| anyhow!("not a valid X.509 certificate: {e}"))?;
        let subject = cert.subject();
        let text = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| -> Vec<String> {
            it.filter_map(|a| a.as_str().ok().map(str::to_string)).collect()
        };
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                        16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        let (mut usages, mut other_usages) = (Vec::new(), false);
        if let Ok(Some(eku)) = cert.extended_key_usage() {
            let eku = eku.value;
            if eku.server_auth {
                usages.push(Usage::ServerAuth);
            }
            if eku.client_auth {
                usages.push(Usage::ClientAuth);
            }
            other_usages = eku.any
                || eku.code_signing
                || eku.email_protection
                || eku.time_stamping
                || eku.ocsp_signing
                || !eku.other.is_empty();
        }
        Ok(CertInfo {
            usages,
            other_usages,
            serial: cert.raw_serial().to_vec(),
            key_algorithm: key_algorithm(&cert),
            cn: text(&mut subject.iter_common_name()).into_iter().next().unwrap_or_default(),
            orgs: text(&mut subject.iter_organization()),
            dns,
            ips,
            is_ca: cert.is_ca(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            spki_der: cert.public_key().raw.to_vec(),
        })
    }
}

/// The `encryptionAlgorithm` that makes keys like the certified one.
fn key_algorithm(cert: &X509Certificate) -> Option<crate::config::EncryptionAlgorithm> {
    use crate::config::EncryptionAlgorithm as A;
    use x509_parser::public_key::PublicKey;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(A::Rsa2048),
            3072 => Some(A::Rsa3072),
            4096 => Some(A::Rsa4096),
            _ => None,
        },
        PublicKey::EC(ec) => match ec.key_size() {
            256 => Some(A::EcdsaP256),
            384 => Some(A::EcdsaP384),
            _ => None,
        },
        _ => None,
    }
}

/// The DER of the first `CERTIFICATE` block of a PEM file.
pub fn cert_der_from_pem(text: &[u8]) -> Result<Vec<u8>> {
    let blocks = pem::parse_many(text).context("not PEM")?;
    let block = blocks.into_iter().find(|b| b.tag() == "CERTIFICATE").context("no CERTIFICATE block in the file")?;
    Ok(block.into_contents())
}

/// The DER of every `CERTIFICATE` block of a PEM bundle, each checked to parse as X.509.
pub fn certs_der_from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
    let blocks = pem::parse_many(text.as_bytes()).context("not PEM")?;
    let mut out = Vec::new();
    for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
        X509Certificate::from_der(block.contents()).map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
        out.push(block.into_contents());
    }
    Ok(out)
}

/// True when `cert_der` carries a valid signature by the CA certificate `ca_der`.
pub fn signed_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) = (X509Certificate::from_der(cert_der), X509Certificate::from_der(ca_der)) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Checks an existing leaf before reusing it: signed by its CA, still valid, holding every SAN
/// the config asks for, and belonging to its key. `file` names it in the error.
pub fn check_existing_leaf(
    file: &str,
    cert_der: &[u8],
    ca: &Authority,
    want: &SanList,
    key: &PrivateKey,
    now: OffsetDateTime,
) -> Result<()> {
    let info = CertInfo::parse(cert_der).with_context(|| file.to_string())?;
    if !signed_by(cert_der, &ca.cert_der) {
        bail!(
            "{file} is not signed by the CA in {}.crt; remove it (and its key) to have it regenerated, \
             or restore the matching CA",
            ca.base
        );
    }
    check_period(file, &info, now)?;
    let missing_dns: Vec<&String> = want.dns.iter().filter(|d| !info.dns.contains(d)).collect();
    let missing_ips: Vec<&IpAddr> = want.ips.iter().filter(|i| !info.ips.contains(i)).collect();
    if !missing_dns.is_empty() || !missing_ips.is_empty() {
        bail!(
            "{file} does not match the config: it lacks SANs DNS {missing_dns:?} IP {missing_ips:?}; \
             remove it (and its key) to have it regenerated"
        );
    }
    if info.spki_der != key.spki_der() {
        bail!("{file} does not belong to its private key (public keys differ); remove both to regenerate them");
    }
    Ok(())
}

pub fn check_period(file: &str, info: &CertInfo, now: OffsetDateTime) -> Result<()> {
    if now < info.not_before {
        bail!("{file} is not valid yet (notBefore {}); check the clock", info.not_before);
    }
    if now > info.not_after {
        bail!("{file} expired on {}; renew it or remove it to have it regenerated", info.not_after);
    }
    Ok(())
}
