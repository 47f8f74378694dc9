//! OpenStack config drive v2: a filesystem labelled `config-2` holding
//! `openstack/latest/user_data` and `openstack/latest/meta_data.json` (uuid, hostname).

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use std::path::Path;

use super::volume::{self, Volume};
use super::{Datasource, Env, Meta, UserData};
use crate::config::MAX_INPUT_BYTES;

pub const LABELS: &[&str] = &["config-2"];

pub struct ConfigDrive;

#[derive(Deserialize)]
struct MetaJson {
    uuid: Option<String>,
    hostname: Option<String>,
}

impl Datasource for ConfigDrive {
    fn name(&self) -> &'static str {
        "configdrive"
    }

    fn probe(&self, _env: &Env) -> Result<Option<UserData>> {
        match volume::find_by_label(LABELS)?.into_iter().next() {
            Some((dev, mut vol)) => from_volume(&mut vol, &dev).map(Some),
            None => Ok(None),
        }
    }
}

/// Reads `openstack/latest/` from a config drive (image file or device).
pub fn from_volume(vol: &mut Volume, dev: &Path) -> Result<UserData> {
    let origin = format!("configdrive:{} ({})", dev.display(), vol.fs_type());
    let meta = match vol.read("openstack/latest/meta_data.json", MAX_INPUT_BYTES)? {
        Some(b) => {
            let m: MetaJson = serde_json::from_slice(&b).with_context(|| format!("{origin}: meta_data.json"))?;
            Meta { instance_id: m.uuid, local_hostname: m.hostname }
        }
        None => Meta::default(),
    };
    match vol.read("openstack/latest/user_data", MAX_INPUT_BYTES)? {
        Some(bytes) => Ok(UserData { bytes, meta, origin }),
        None => bail!("{origin}: the config drive has no openstack/latest/user_data"),
    }
}
