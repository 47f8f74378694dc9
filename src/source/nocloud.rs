//! NoCloud: `user-data` and `meta-data` (instance-id, local-hostname) in the root of a filesystem
//! labelled `cidata`/`CIDATA` (ISO 9660 or vfat), in /var/lib/cloud/seed/nocloud/, or under
//! a seed URL or directory named on the kernel command line.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::volume::{self, Volume};
use super::{Datasource, Env, Meta, UserData, cmdline, http};
use crate::config::MAX_INPUT_BYTES;

pub const SEED_DIR: &str = "/var/lib/cloud/seed/nocloud";
pub const LABELS: &[&str] = &["cidata"];

/// The seed directory under the root (cloud-init's `seedfrom` on disk).
pub struct SeedDir;

impl Datasource for SeedDir {
    fn name(&self) -> &'static str {
        "nocloud-dir"
    }

    fn probe(&self, env: &Env) -> Result<Option<UserData>> {
        if !env.host.exists(SEED_DIR) {
            return Ok(None);
        }
        from_dir(env, SEED_DIR).map(Some)
    }
}

/// A block device of the live machine labelled cidata.
pub struct SeedDevice;

impl Datasource for SeedDevice {
    fn name(&self) -> &'static str {
        "nocloud"
    }

    fn probe(&self, _env: &Env) -> Result<Option<UserData>> {
        let mut found = volume::find_by_label(LABELS)?;
        match found.len() {
            0 => Ok(None),
            1 => {
                let (dev, mut vol) = found.remove(0);
                from_volume(&mut vol, &dev).map(Some)
            }
            _ => {
                let devs: Vec<String> = found.iter().map(|(d, _)| d.display().to_string()).collect();
                bail!("more than one filesystem is labelled cidata ({}); detach all but one", devs.join(", "))
            }
        }
    }
}

/// Reads a seed from a volume (image file or device).
pub fn from_volume(vol: &mut Volume, dev: &Path) -> Result<UserData> {
    let origin = format!("nocloud:{} ({})", dev.display(), vol.fs_type());
    let user_data = vol.read("user-data", MAX_INPUT_BYTES)?;
    let meta = vol.read("meta-data", MAX_INPUT_BYTES)?;
    assemble(user_data, meta, origin)
}

/// `s=` of the NoCloud line config: an http(s) URL, a `file://` URL or a directory path.
pub fn from_seed(env: &Env, seed: &str) -> Result<Option<UserData>> {
    if cmdline::is_url(seed) {
        let base = if seed.ends_with('/') { seed.to_string() } else { format!("{seed}/") };
        let get = |name: &str| -> Result<Option<Vec<u8>>> {
            match http::send(&http::Request::get(&format!("{base}{name}")), &env.http)? {
                http::Fetched::Body(b) => Ok(Some(b)),
                http::Fetched::NotFound => Ok(None),
            }
        };
        let Some(user_data) = get("user-data")? else { return Ok(None) };
        return assemble(Some(user_data), get("meta-data")?, format!("nocloud:{base}")).map(Some);
    }
    let dir = seed.strip_prefix("file://").unwrap_or(seed);
    from_dir(env, dir).map(Some)
}

fn from_dir(env: &Env, dir: &str) -> Result<UserData> {
    let read = |name: &str| -> Result<Option<Vec<u8>>> {
        let path = env.host.path(format!("{}/{name}", dir.trim_end_matches('/')));
        if !path.exists() {
            return Ok(None);
        }
        crate::config::read_capped(&path)
            .map(Some)
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())
    };
    assemble(read("user-data")?, read("meta-data")?, format!("nocloud:{dir}"))
}

fn assemble(user_data: Option<Vec<u8>>, meta: Option<Vec<u8>>, origin: String) -> Result<UserData> {
    let Some(bytes) = user_data else {
        bail!("{origin}: the seed has no user-data file; put the kubeboot config in `user-data` next to `meta-data`")
    };
    let meta = match meta {
        Some(m) => Meta::parse_nocloud(&m, &origin)?,
        None => Meta::default(),
    };
    Ok(UserData { bytes, meta, origin })
}
