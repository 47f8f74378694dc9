//! The PKI: the certificate table (reference §2.3, `table.rs`), key generation (`keys.rs`),
//! certificate making and checking (`issue.rs`), the CA pin hash (`pin.rs`), and the `certs`
//! phase below, which reuses what exists, honours a user-supplied or external CA, and makes
//! the rest with every new key generated in one parallel batch.

pub mod csr;
mod issue;
mod keys;
mod pin;
pub mod renew;
pub mod table;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use time::OffsetDateTime;

pub use issue::{Authority, CertInfo, CertRequest, cert_der_from_pem, certs_der_from_pem, check_period};
pub use keys::{PrivateKey, generate_many, pem_text};
pub use pin::{ca_cert_hash, spki_hash};
use table::{CertSpec, SERVICE_ACCOUNT, Usage};

use crate::plan::File;
use crate::workflow::Ctx;

/// kubeadm `CertificateBackdate`: notBefore is set this far in the past to allow small clock jumps.
pub const BACKDATE: time::Duration = time::Duration::minutes(5);

pub const CERT_MODE: u32 = 0o644;
pub const KEY_MODE: u32 = 0o600;

/// `kubeadm init phase certs [<name>|all]`.
pub fn phase(ctx: &mut Ctx, sub: Option<&str>) -> Result<()> {
    let specs: Vec<&'static CertSpec> = match sub {
        None => table::certs_for(&ctx.node).filter(|s| !skipped_sub(ctx, s.name)).collect(),
        Some(SERVICE_ACCOUNT) => vec![],
        Some(name) => {
            let spec = table::find(name).with_context(|| format!("unknown certificate `{name}`"))?;
            if spec.etcd && ctx.node.local_etcd().is_none() {
                ctx.say("certs", format_args!("External etcd mode: skipping {name} certificate authority generation"));
                return Ok(());
            }
            vec![spec]
        }
    };
    let with_sa = matches!(sub, None | Some(SERVICE_ACCOUNT)) && !(sub.is_none() && skipped_sub(ctx, SERVICE_ACCOUNT));

    let on_disk: Vec<Pair> = specs.iter().map(|s| Pair::read(ctx, s.base)).collect::<Result<_>>()?;
    let sa = if with_sa { Some(Pair::read_sa(ctx)?) } else { None };
    let supplied_ca = ctx.node.cfg.cluster.ca.is_some();
    let needed = specs.iter().zip(&on_disk).filter(|(s, p)| p.is_empty() && !(s.name == "ca" && supplied_ca)).count()
        + usize::from(sa.as_ref().is_some_and(|p| p.key.is_none()));
    // A full run also makes the kubeconfig client keys here, in the same parallel batch.
    let spare = if sub.is_none() && !ctx.skipped("kubeconfig") {
        crate::render::kubeconfig::client_keys_needed(ctx)?
    } else {
        0
    };
    let alg = ctx.node.cfg.cluster.encryption_algorithm;
    let mut keys = generate_many(alg, needed + spare)?;
    ctx.state.spare_keys.extend(keys.drain(needed..));

    let mut run = CertsRun { ctx, now: now(), keys, authorities: BTreeMap::new(), files: Vec::new() };
    for (spec, pair) in specs.into_iter().zip(on_disk) {
        if spec.is_ca() { run.ca(spec, pair)? } else { run.leaf(spec, pair)? }
    }
    if let Some(sa) = sa {
        run.service_account(sa)?;
    }
    let files = run.files;
    ctx.emit("certs", files)
}

/// `skipPhases: [certs/<name>]`: that certificate is neither generated nor checked.
fn skipped_sub(ctx: &Ctx, name: &str) -> bool {
    let skipped = ctx.skipped(&format!("certs/{name}"));
    if skipped {
        ctx.say("certs", format_args!("Skipping {name} (skipPhases certs/{name})"));
    }
    skipped
}

/// The current time, whole seconds (X.509 times have no fractions).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is a valid nanosecond")
}

/// `<pki>/<base>.<ext>` as a node path.
pub fn pki_path(ctx: &Ctx, base: &str, ext: &str) -> String {
    ctx.node.pki(&format!("{base}.{ext}"))
}

/// A certificate/key pair as found on disk (or rendered earlier in this run).
struct Pair {
    cert: Option<Vec<u8>>,
    key: Option<PrivateKey>,
    /// `sa.pub` for the service-account pair.
    public: Option<Vec<u8>>,
}

impl Pair {
    fn read(ctx: &Ctx, base: &str) -> Result<Self> {
        let cert_path = pki_path(ctx, base, "crt");
        let cert = match ctx.read_current(&cert_path)? {
            Some(b) => Some(cert_der_from_pem(&b).with_context(|| format!("reading {cert_path}"))?),
            None => None,
        };
        Ok(Pair { cert, key: read_key(ctx, &pki_path(ctx, base, "key"))?, public: None })
    }

    fn read_sa(ctx: &Ctx) -> Result<Self> {
        let public = ctx.read_current(&pki_path(ctx, SERVICE_ACCOUNT, "pub"))?;
        Ok(Pair { cert: None, key: read_key(ctx, &pki_path(ctx, SERVICE_ACCOUNT, "key"))?, public })
    }

    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none()
    }
}

fn read_key(ctx: &Ctx, path: &str) -> Result<Option<PrivateKey>> {
    match ctx.read_current(path)? {
        Some(b) => {
            let text = String::from_utf8(b).map_err(|_| anyhow!("{path} is not a PEM file"))?;
            Ok(Some(PrivateKey::from_pem(&text).with_context(|| format!("reading {path}"))?))
        }
        None => Ok(None),
    }
}

/// Loads a CA (certificate, and its key unless it is external) for signing.
pub fn load_authority(ctx: &Ctx, base: &str) -> Result<Authority> {
    let cert_path = pki_path(ctx, base, "crt");
    let pair = Pair::read(ctx, base)?;
    let cert_der = pair.cert.with_context(|| {
        let sub = table::spec_for_base(base).map(|s| s.name).unwrap_or(base);
        format!("the CA certificate {cert_path} does not exist; run `kubeboot init phase certs {sub}` first")
    })?;
    let authority = Authority { base: base.to_string(), cert_der, key: pair.key };
    check_ca(&authority, &cert_path, now())?;
    Ok(authority)
}

/// True when `<base>.crt` exists without `<base>.key`: kubeadm's external CA mode.
pub fn is_external_ca(ctx: &Ctx, base: &str) -> Result<bool> {
    Ok(ctx.read_current(&pki_path(ctx, base, "crt"))?.is_some()
        && ctx.read_current(&pki_path(ctx, base, "key"))?.is_none())
}

struct CertsRun<'a> {
    ctx: &'a Ctx,
    now: OffsetDateTime,
    /// Freshly generated keys, consumed in table order.
    keys: Vec<PrivateKey>,
    authorities: BTreeMap<&'static str, Authority>,
    files: Vec<File>,
}

impl CertsRun<'_> {
    fn take_key(&mut self) -> PrivateKey {
        self.keys.pop().expect("one key was generated per missing certificate")
    }

    fn request(&self, spec: &CertSpec) -> Result<CertRequest> {
        let cluster = &self.ctx.node.cfg.cluster;
        let validity =
            if spec.is_ca() { cluster.ca_certificate_validity_period } else { cluster.certificate_validity_period };
        let validity = time::Duration::try_from(validity.as_duration()).context("validity period too large")?;
        Ok(CertRequest {
            cn: spec.common_name(&self.ctx.node),
            orgs: spec.org.map(str::to_string).into_iter().collect(),
            usages: spec.usages.to_vec(),
            sans: spec.alt_names(&self.ctx.node),
            not_before: self.now - BACKDATE,
            not_after: self.now + validity,
        })
    }

    fn say(&self, msg: impl std::fmt::Display) {
        self.ctx.say("certs", msg);
    }

    fn push_pair(&mut self, spec: &CertSpec, cert_der: &[u8], key_pem: &str, what: &str) {
        let (crt, key) = (pki_path(self.ctx, spec.base, "crt"), pki_path(self.ctx, spec.base, "key"));
        self.files.push(File::new(crt, CERT_MODE, pem_text("CERTIFICATE", cert_der), format!("{what} certificate")));
        self.files.push(File::new(key, KEY_MODE, key_pem, format!("{what} private key")).secret());
    }

    /// A reused file whose mode is looser than kubeadm's — a key readable by group or others,
    /// a certificate writable by them — is rewritten with kubeadm's mode and its bytes
    /// unchanged (reliability matrix PF-02): never regenerated, never left open.
    fn tighten(&mut self, node_path: &str, mode: u32, what: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let full = self.ctx.host.path(node_path);
        let Ok(meta) = std::fs::symlink_metadata(&full) else { return Ok(()) };
        let loose = meta.permissions().mode() & 0o777 & !mode;
        if !meta.is_file() || loose & 0o077 == 0 {
            return Ok(());
        }
        let bytes = std::fs::read(&full).with_context(|| format!("reading {node_path}"))?;
        self.say(format_args!(
            "{node_path} has mode {:04o}; tightening it to {mode:04o}",
            meta.permissions().mode() & 0o777
        ));
        let file = File::new(node_path, mode, bytes, format!("{what}, mode tightened"));
        self.files.push(if mode == KEY_MODE { file.secret() } else { file });
        Ok(())
    }

    /// `tighten` for a reused certificate and its key.
    fn tighten_pair(&mut self, base: &str, what: &str) -> Result<()> {
        self.tighten(&pki_path(self.ctx, base, "crt"), CERT_MODE, &format!("{what} certificate"))?;
        self.tighten(&pki_path(self.ctx, base, "key"), KEY_MODE, &format!("{what} private key"))
    }

    fn ca(&mut self, spec: &'static CertSpec, pair: Pair) -> Result<()> {
        let crt = pki_path(self.ctx, spec.base, "crt");
        let supplied = if spec.name == "ca" { self.ctx.node.cfg.cluster.ca.as_ref() } else { None };
        let authority = match (pair.cert, pair.key, supplied) {
            (None, None, Some(s)) => {
                let cert_der = cert_der_from_pem(s.cert.as_bytes()).context("cluster.ca.cert")?;
                let key = PrivateKey::from_pem(&s.key).context("cluster.ca.key")?;
                self.say(format_args!("Using the {} certificate authority supplied in the config", spec.name));
                // The key file keeps the operator's PEM as given (kubeadm reads PKCS#1, SEC1 and PKCS#8).
                self.push_pair(spec, &cert_der, key.pem(), "supplied cluster CA");
                let authority = Authority { base: spec.base.into(), cert_der, key: Some(key) };
                check_ca(&authority, "cluster.ca", self.now)?;
                authority
            }
            (None, None, None) => {
                self.say(format_args!("Generating \"{}\" certificate and key", spec.name));
                let key = self.take_key();
                let cert_der = issue::self_signed_ca(&self.request(spec)?, &key)?;
                self.push_pair(spec, &cert_der, key.pem(), &format!("{} certificate authority", spec.name));
                Authority { base: spec.base.into(), cert_der, key: Some(key) }
            }
            (Some(cert_der), key, supplied) => {
                if let Some(s) = supplied
                    && cert_der_from_pem(s.cert.as_bytes()).ok().as_ref() != Some(&cert_der)
                {
                    bail!("{crt} exists but is not the CA given in cluster.ca; remove the PKI dir or the config's CA");
                }
                let external = key.is_none();
                let authority = Authority { base: spec.base.into(), cert_der, key };
                check_ca(&authority, &crt, self.now)?;
                if external {
                    self.say(format_args!("Using existing {} keyless certificate authority", spec.name));
                } else {
                    self.say(format_args!("Using existing {} certificate authority", spec.name));
                }
                self.tighten_pair(spec.base, &format!("{} certificate authority", spec.name))?;
                authority
            }
            (None, Some(_), _) => bail!(
                "{} exists but {crt} does not; restore the certificate or remove the key to generate a new CA",
                pki_path(self.ctx, spec.base, "key")
            ),
        };
        self.authorities.insert(spec.base, authority);
        Ok(())
    }

    fn leaf(&mut self, spec: &'static CertSpec, pair: Pair) -> Result<()> {
        let ca_base = spec.ca.expect("leaf certificates name their CA");
        if !self.authorities.contains_key(ca_base) {
            let authority = load_authority(self.ctx, ca_base)
                .with_context(|| format!("cannot create the {} certificate", spec.name))?;
            self.authorities.insert(ca_base, authority);
        }
        let ca = &self.authorities[ca_base];
        let (crt, key_path) = (pki_path(self.ctx, spec.base, "crt"), pki_path(self.ctx, spec.base, "key"));
        let req = self.request(spec)?;
        match (pair.cert, pair.key) {
            (Some(cert_der), Some(key)) => {
                issue::check_existing_leaf(&crt, &cert_der, ca, &req.sans, &key, self.now)?;
                self.say(format_args!("Using the existing \"{}\" certificate and key", spec.name));
                self.tighten_pair(spec.base, spec.name)?;
            }
            (Some(_), None) => bail!("{crt} exists but {key_path} does not; restore the key or remove the certificate"),
            (None, Some(_)) => bail!("{key_path} exists but {crt} does not; restore the certificate or remove the key"),
            (None, None) if ca.key.is_none() => bail!(
                "{crt} is missing and {ca_base}.key is absent (external CA mode), so kubeboot cannot sign it; \
                 provide {crt} and {key_path} signed by {ca_base}.crt, or provide {ca_base}.key"
            ),
            (None, None) => {
                self.say(format_args!("Generating \"{}\" certificate and key", spec.name));
                let key = self.take_key();
                let cert_der = self.authorities[ca_base].sign(&req, &key)?;
                if spec.usages.contains(&Usage::ServerAuth) {
                    let ips: Vec<String> = req.sans.ips.iter().map(|ip| ip.to_string()).collect();
                    self.say(format_args!(
                        "{} serving cert is signed for DNS names [{}] and IPs [{}]",
                        spec.name,
                        req.sans.dns.join(" "),
                        ips.join(" ")
                    ));
                }
                self.push_pair(spec, &cert_der, key.pem(), &format!("{} (signed by {ca_base})", spec.name));
            }
        }
        Ok(())
    }

    fn service_account(&mut self, pair: Pair) -> Result<()> {
        let (key_path, pub_path) =
            (pki_path(self.ctx, SERVICE_ACCOUNT, "key"), pki_path(self.ctx, SERVICE_ACCOUNT, "pub"));
        let key = match pair.key {
            Some(key) => {
                self.say("Using the existing \"sa\" key");
                self.tighten(&key_path, KEY_MODE, "service-account token signing key")?;
                key
            }
            None if pair.public.is_some() => {
                bail!("{pub_path} exists but {key_path} does not; restore the key or remove {pub_path}")
            }
            None => {
                self.say("Generating \"sa\" key and public key");
                let key = self.take_key();
                let reason = "service-account token signing key";
                self.files.push(File::new(&key_path, KEY_MODE, key.pem(), reason).secret());
                key
            }
        };
        let public = key.public_key_pem();
        match pair.public {
            Some(existing) => {
                let existing_spki = pem::parse(&existing).map(|p| p.into_contents()).ok();
                if existing_spki.as_ref() != Some(&key.spki_der()) {
                    bail!("{pub_path} is not the public key of {key_path}; remove {pub_path} to have it rewritten");
                }
                self.tighten(&pub_path, KEY_MODE, "service-account token verification key")?;
            }
            // Written with the key writer, hence 0600 (reference §2.2).
            None => self.files.push(File::new(pub_path, KEY_MODE, public, "service-account token verification key")),
        }
        Ok(())
    }
}

/// A CA is usable when it is a CA, current, and (if present) matches its key.
pub(crate) fn check_ca(ca: &Authority, what: &str, now: OffsetDateTime) -> Result<()> {
    let info = ca.info().with_context(|| what.to_string())?;
    if !info.is_ca {
        bail!("{what} is not a CA certificate (BasicConstraints CA:FALSE)");
    }
    check_period(what, &info, now)?;
    if let Some(key) = &ca.key
        && key.spki_der() != info.spki_der
    {
        bail!("{what}: the certificate and its private key do not belong together (public keys differ)");
    }
    Ok(())
}
