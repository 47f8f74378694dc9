//! Finding this machine's user-data: one `Datasource` per place a platform may put it, probed
//! in a fixed cheap-first order (local files, the kernel command line, seed filesystems found by
//! label, then network metadata only when the platform says it exists), each with short,
//! bounded timeouts so an absent source never stalls boot.
//!
//! A source that is absent answers `Ok(None)` and the next one is tried. A source that is
//! present but broken (a cidata seed without user-data, an unreachable seed URL named on the
//! command line) is an error: the machine fails closed instead of provisioning from something else.

pub mod bounded;
pub mod cmdline;
pub mod configdrive;
pub mod ec2;
pub mod fat;
pub mod file;
pub mod http;
pub mod iso9660;
pub mod nocloud;
pub mod userdata;
pub mod volume;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::host::Host;
pub use cmdline::Cmdline;

/// User-data as found, unwrapped (gzip, multipart) and ready for `config::load`.
pub struct UserData {
    pub bytes: Vec<u8>,
    pub meta: Meta,
    /// Where it came from, for status and logs (`nocloud:/dev/sr0`, `ec2`, `file:/root/ud.yaml`).
    pub origin: String,
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the bytes: user-data carries tokens and keys.
        write!(f, "UserData({} bytes from {}, {:?})", self.bytes.len(), self.origin, self.meta)
    }
}

/// The parts of a platform's meta-data kubeboot uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Meta {
    #[serde(rename = "instance-id", default)]
    pub instance_id: Option<String>,
    #[serde(rename = "local-hostname", default)]
    pub local_hostname: Option<String>,
}

impl Meta {
    /// NoCloud `meta-data`: YAML (or JSON) with `instance-id` and `local-hostname`.
    pub fn parse_nocloud(bytes: &[u8], origin: &str) -> Result<Meta> {
        let text = std::str::from_utf8(bytes).with_context(|| format!("{origin}: meta-data is not UTF-8"))?;
        if text.trim().is_empty() {
            return Ok(Meta::default());
        }
        serde_saphyr::from_str::<Meta>(text).with_context(|| format!("{origin}: meta-data is not valid YAML"))
    }
}

/// What probes may look at. File paths go through `host` (so `--root` redirects them);
/// block devices are always those of the live machine.
pub struct Env {
    pub host: Host,
    pub cmdline: Cmdline,
    pub dmi: Dmi,
    /// Policy for every metadata fetch.
    pub http: http::Policy,
    /// Base URL of the EC2 instance metadata service.
    pub imds_endpoint: String,
}

impl Env {
    pub fn detect(host: &Host) -> Self {
        Env {
            cmdline: Cmdline::read(host),
            dmi: Dmi::read(host),
            host: host.clone(),
            http: http::Policy::METADATA,
            imds_endpoint: ec2::DEFAULT_ENDPOINT.to_string(),
        }
    }
}

/// SMBIOS/DMI identity from /sys/class/dmi/id (under the root).
#[derive(Debug, Clone, Default)]
pub struct Dmi {
    pub sys_vendor: String,
    pub bios_vendor: String,
    pub product_uuid: String,
    pub product_serial: String,
    pub product_name: String,
    pub chassis_serial: String,
    pub chassis_asset_tag: String,
    pub board_serial: String,
    /// MAC of the first non-loopback network interface (by name), for `${mac}`.
    pub mac: String,
}

impl Dmi {
    pub fn read(host: &Host) -> Self {
        let f = |name: &str| {
            host.read_to_string(format!("/sys/class/dmi/id/{name}")).map(|s| s.trim().to_string()).unwrap_or_default()
        };
        Dmi {
            sys_vendor: f("sys_vendor"),
            bios_vendor: f("bios_vendor"),
            product_uuid: f("product_uuid").to_lowercase(),
            product_serial: f("product_serial"),
            product_name: f("product_name"),
            chassis_serial: f("chassis_serial"),
            chassis_asset_tag: f("chassis_asset_tag"),
            board_serial: f("board_serial"),
            mac: first_mac(host),
        }
    }

    /// AWS puts "Amazon EC2" in the vendor strings (Nitro) or an `ec2` prefix in the UUID (Xen).
    pub fn is_ec2(&self) -> bool {
        self.sys_vendor.contains("Amazon EC2")
            || self.bios_vendor.contains("Amazon EC2")
            || self.product_uuid.starts_with("ec2")
    }
}

fn first_mac(host: &Host) -> String {
    let Ok(entries) = std::fs::read_dir(host.path("/sys/class/net")) else {
        return String::new();
    };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
        .iter()
        .filter(|n| n.as_str() != "lo")
        .filter_map(|n| host.read_to_string(format!("/sys/class/net/{n}/address")).ok())
        .map(|a| a.trim().to_lowercase())
        .find(|a| !a.is_empty() && a != "00:00:00:00:00:00")
        .unwrap_or_default()
}

pub trait Datasource {
    /// The name used in `--datasource` and in messages.
    fn name(&self) -> &'static str;
    /// `Ok(None)`: not present on this machine. `Err`: present but unusable.
    fn probe(&self, env: &Env) -> Result<Option<UserData>>;
}

/// Every datasource, in probe order: cheapest and most explicit first.
pub fn all() -> Vec<Box<dyn Datasource>> {
    vec![
        Box::new(cmdline::KernelCmdline),
        Box::new(nocloud::SeedDir),
        Box::new(nocloud::SeedDevice),
        Box::new(configdrive::ConfigDrive),
        Box::new(ec2::Ec2),
    ]
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|d| d.name()).collect()
}

/// Finds user-data: `--user-data FILE` when given, else the first datasource (of `only`, when
/// not empty) that has it. The bytes come back unwrapped (gzip, multipart).
pub fn find(env: &Env, user_data: Option<&PathBuf>, only: &[String]) -> Result<UserData> {
    let ud = match user_data {
        Some(path) => file::read(path)?,
        None => probe(env, only)?,
    };
    let bytes = userdata::unwrap(ud.bytes).with_context(|| format!("user-data from {}", ud.origin))?;
    Ok(UserData { bytes, ..ud })
}

fn probe(env: &Env, only: &[String]) -> Result<UserData> {
    let mut tried = Vec::new();
    for ds in all() {
        if !only.is_empty() && !only.iter().any(|n| n == ds.name()) {
            continue;
        }
        let start = std::time::Instant::now();
        let found = ds.probe(env).with_context(|| format!("datasource {}", ds.name()))?;
        let what = if found.is_some() { "found user-data" } else { "absent" };
        tracing::info!("datasource {}: {what} ({:?})", ds.name(), start.elapsed());
        if let Some(ud) = found {
            return Ok(ud);
        }
        tried.push(ds.name());
    }
    bail!(
        "no user-data found (looked at: {}); attach a NoCloud seed labelled cidata, put the files in \
         /var/lib/cloud/seed/nocloud/, boot with kubeboot.config=<path|url>, or run `kubeboot run --user-data FILE`",
        tried.join(", ")
    )
}
