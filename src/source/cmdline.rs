//! The kernel command line: `kubeboot.config=<path|url>` and cloud-init's NoCloud line
//! configuration `ds=nocloud;s=<url|path>/` (quote it in GRUB: `;` ends a GRUB statement).
//!
//! Both values may name per-machine data for PXE fleets that share one kernel command line:
//! `${uuid}`, `${serial}`, `${mac}` (Talos style) and cloud-init's `__dmi.system-uuid__` style
//! are replaced from DMI before use.

use anyhow::{Context, Result, bail};

use super::{Datasource, Dmi, Env, Meta, UserData, http, nocloud};
use crate::host::Host;

#[derive(Debug, Clone, Default)]
pub struct Cmdline {
    params: Vec<(String, String)>,
}

impl Cmdline {
    /// /proc/cmdline under the root (absent in a test root means an empty command line).
    pub fn read(host: &Host) -> Self {
        Cmdline::parse(&host.read_to_string("/proc/cmdline").unwrap_or_default())
    }

    /// Splits on blanks outside double quotes; quotes are removed, as the kernel does.
    pub fn parse(line: &str) -> Self {
        let mut params = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in line.chars().chain(std::iter::once(' ')) {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !cur.is_empty() {
                        let (k, v) = cur.split_once('=').unwrap_or((&cur, ""));
                        params.push((k.to_string(), v.to_string()));
                        cur.clear();
                    }
                }
                c => cur.push(c),
            }
        }
        Cmdline { params }
    }

    /// The last value of `key` (later parameters override earlier ones).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `ds=nocloud;s=<seed>;i=<instance-id>;h=<hostname>` → (seed, meta overrides).
    pub fn nocloud(&self) -> Option<(String, Meta)> {
        let ds = self.get("ds")?;
        let mut fields = ds.split(';');
        let name = fields.next()?.to_ascii_lowercase();
        if name != "nocloud" && name != "nocloud-net" {
            return None;
        }
        let mut seed = None;
        let mut meta = Meta::default();
        for f in fields {
            match f.split_once('=') {
                Some(("s" | "seedfrom", v)) => seed = Some(v.to_string()),
                Some(("i" | "instance-id", v)) => meta.instance_id = Some(v.to_string()),
                Some(("h" | "local-hostname", v)) => meta.local_hostname = Some(v.to_string()),
                _ => {}
            }
        }
        Some((seed?, meta))
    }
}

/// Replaces `${uuid}`, `${serial}`, `${mac}` and `__dmi.<dmidecode keyword>__` with this machine's values.
pub fn expand(template: &str, dmi: &Dmi) -> String {
    let vars: [(&str, &str); 10] = [
        ("${uuid}", &dmi.product_uuid),
        ("${serial}", &dmi.product_serial),
        ("${mac}", &dmi.mac),
        ("__dmi.system-uuid__", &dmi.product_uuid),
        ("__dmi.system-serial-number__", &dmi.product_serial),
        ("__dmi.system-product-name__", &dmi.product_name),
        ("__dmi.system-manufacturer__", &dmi.sys_vendor),
        ("__dmi.chassis-serial-number__", &dmi.chassis_serial),
        ("__dmi.chassis-asset-tag__", &dmi.chassis_asset_tag),
        ("__dmi.baseboard-serial-number__", &dmi.board_serial),
    ];
    vars.iter().fold(template.to_string(), |s, (k, v)| s.replace(k, v))
}

pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

pub struct KernelCmdline;

impl Datasource for KernelCmdline {
    fn name(&self) -> &'static str {
        "cmdline"
    }

    fn probe(&self, env: &Env) -> Result<Option<UserData>> {
        if let Some(target) = env.cmdline.get("kubeboot.config") {
            let target = expand(target, &env.dmi);
            let origin = format!("cmdline:kubeboot.config={target}");
            let bytes = if is_url(&target) {
                match http::send(&http::Request::get(&target), &env.http)? {
                    http::Fetched::Body(b) => b,
                    http::Fetched::NotFound => bail!("kubeboot.config={target}: the server answered 404 Not Found"),
                }
            } else {
                crate::config::read_capped(&env.host.path(&target))
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("kubeboot.config={target}"))?
            };
            return Ok(Some(UserData { bytes, meta: Meta::default(), origin }));
        }
        if let Some((seed, overrides)) = env.cmdline.nocloud() {
            let seed = expand(&seed, &env.dmi);
            let mut ud = nocloud::from_seed(env, &seed)?
                .with_context(|| format!("ds=nocloud;s={seed}: no user-data in the seed"))?;
            ud.meta.instance_id = overrides.instance_id.or(ud.meta.instance_id);
            ud.meta.local_hostname = overrides.local_hostname.or(ud.meta.local_hostname);
            return Ok(Some(ud));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_nocloud_line_config() {
        let c = Cmdline::parse(
            "BOOT_IMAGE=/vmlinuz ro quiet \"ds=nocloud;s=http://10.0.0.1/seed/${uuid}/;i=node-7\" kubeboot.failpoint=certs:after",
        );
        let (seed, meta) = c.nocloud().unwrap();
        assert_eq!(seed, "http://10.0.0.1/seed/${uuid}/");
        assert_eq!(meta.instance_id.as_deref(), Some("node-7"));
        assert_eq!(c.get("kubeboot.failpoint"), Some("certs:after"));
        assert_eq!(c.get("ro"), Some(""));
        assert!(Cmdline::parse("ds=ec2").nocloud().is_none());
    }

    #[test]
    fn expands_dmi_variables_both_styles() {
        let dmi = Dmi {
            product_uuid: "4c4c4544-0042".into(),
            product_serial: "SN1".into(),
            mac: "52:54:00:12:34:56".into(),
            ..Dmi::default()
        };
        assert_eq!(
            expand("http://pxe/${uuid}/${mac}/__dmi.system-serial-number__/", &dmi),
            "http://pxe/4c4c4544-0042/52:54:00:12:34:56/SN1/"
        );
    }
}
