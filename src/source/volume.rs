//! Seed volumes (ISO 9660 or vfat) read without mounting, from an image file or a block device,
//! and the scan of the live machine's block devices by filesystem label.
//!
//! Labels come from the superblocks themselves, not from /dev/disk/by-label: early in boot
//! (or in a minimal image) udev may not have made those links yet.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::bounded::{self, Bounded};
use super::fat::{self, Fat};
use super::iso9660::{self, Iso};

/// Longest the scan of all block devices for a seed label may take; the boot goes on (with an
/// error naming the device) instead of hanging on a crafted or stuck one.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// Every volume is read through `Bounded`: a byte budget, a deadline and the device's end.
type Dev = Bounded<File>;

/// Enough of the device start to see both the FAT boot sector and the first ISO descriptor.
const HEAD_BYTES: usize = 32 * 1024 + 2048;

pub enum Volume {
    Iso(Iso<Dev>),
    Fat(Fat<Dev>),
}

impl Volume {
    /// Opens an image file or block device; `None` when it holds neither ISO 9660 nor FAT.
    pub fn open(path: &Path) -> Result<Option<Volume>> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut f =
            Bounded::new(f, path.display().to_string()).with_context(|| format!("opening {}", path.display()))?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        (&mut f)
            .take(HEAD_BYTES as u64)
            .read_to_end(&mut head)
            .with_context(|| format!("reading {}", path.display()))?;
        f.rewind().with_context(|| format!("reading {}", path.display()))?;
        if iso9660::is_iso9660(&head) {
            return Iso::open(f).map(|v| Some(Volume::Iso(v))).with_context(|| format!("reading {}", path.display()));
        }
        if fat::is_fat(&head) {
            return Fat::open(f).map(|v| Some(Volume::Fat(v))).with_context(|| format!("reading {}", path.display()));
        }
        Ok(None)
    }

    pub fn label(&self) -> String {
        match self {
            Volume::Iso(v) => v.label().to_string(),
            Volume::Fat(v) => v.label(),
        }
    }

    pub fn fs_type(&self) -> &'static str {
        match self {
            Volume::Iso(_) => "iso9660",
            Volume::Fat(_) => "vfat",
        }
    }

    /// Reads a file by `/`-separated path; `None` when absent.
    pub fn read(&mut self, path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>> {
        match self {
            Volume::Iso(v) => v.read(path, max_bytes),
            Volume::Fat(v) => v.read(path, max_bytes),
        }
    }
}

/// The block devices of the live machine whose filesystem label is one of `labels`
/// (compared case-insensitively: `cidata` and `CIDATA` are both NoCloud), in /sys order.
/// The scan runs under `PROBE_DEADLINE`; a device that cannot be read is skipped.
pub fn find_by_label(labels: &[&str]) -> Result<Vec<(PathBuf, Volume)>> {
    let wanted: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
    let doing = Arc::new(Mutex::new("listing /sys/class/block".to_string()));
    let progress = doing.clone();
    let matches = bounded::with_deadline(PROBE_DEADLINE, doing, move || scan(&wanted, &progress)).map_err(|e| {
        anyhow::anyhow!("{e}; detach that device or repair its filesystem, or name the seed with --datasource")
    })?;
    // The filesystem reader cannot cross threads: the matches are opened again here (bounded too).
    Ok(matches
        .into_iter()
        .filter_map(|dev| match Volume::open(&dev) {
            Ok(Some(v)) => Some((dev, v)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("skipping {}: {e:#}", dev.display());
                None
            }
        })
        .collect())
}

/// The devices whose label is in `wanted` (lower-case); `doing` names the one being read.
fn scan(wanted: &[String], doing: &Mutex<String>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dev in block_devices() {
        if let Ok(mut d) = doing.lock() {
            *d = dev.display().to_string();
        }
        match Volume::open(&dev) {
            Ok(Some(v)) if wanted.contains(&v.label().to_ascii_lowercase()) => found.push(dev),
            Ok(_) => {}
            Err(e) => tracing::warn!("skipping {}: {e:#}", dev.display()),
        }
    }
    found
}

/// /dev nodes for every non-empty block device in /sys/class/block (disks, partitions, loops, CD-ROMs).
fn block_devices() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/class/block") else {
        return vec![];
    };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
        .into_iter()
        .filter(|n| {
            // Size 0: an empty CD drive or an unattached loop device; reading it would only stall.
            std::fs::read_to_string(format!("/sys/class/block/{n}/size"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|sectors| sectors > 0)
        })
        .map(|n| PathBuf::from("/dev").join(n))
        .filter(|p| p.exists())
        .collect()
}

/// Opens a seed image or device and checks it is ISO 9660 or FAT.
pub fn open_seed(path: &Path) -> Result<Volume> {
    match Volume::open(path)? {
        Some(v) => Ok(v),
        None => bail!("{} holds neither an ISO 9660 nor a FAT filesystem", path.display()),
    }
}
