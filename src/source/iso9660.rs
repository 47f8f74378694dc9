//! A compact, read-only ISO 9660 reader: enough to read a NoCloud or config-drive seed
//! without mounting it (ECMA-119 plus the two name extensions seed tools write).
//!
//! Plain ISO 9660 names are upper-case 8.3 (`USER_DAT.;1`), so the real names come from
//! Joliet (a supplementary descriptor with UCS-2 names) or Rock Ridge (`NM` entries in each
//! record's system-use area). Joliet is preferred when present, as the Linux kernel does.

use std::io::{self, Read, Seek, SeekFrom};

use anyhow::{Context, Result, bail};

const SECTOR: u64 = 2048;
/// Volume descriptors start at sector 16 (the first 32 KiB are the system area).
const FIRST_DESCRIPTOR: u64 = 16;
/// Guards against a malformed image with no terminator.
const MAX_DESCRIPTORS: u64 = 32;

/// True when `buf` (at least 32 KiB + 6 bytes from the start of the device) holds an ISO 9660 volume.
pub fn is_iso9660(head: &[u8]) -> bool {
    let at = (FIRST_DESCRIPTOR * SECTOR) as usize;
    head.len() >= at + 6 && &head[at + 1..at + 6] == b"CD001"
}

pub struct Iso<R> {
    dev: R,
    label: String,
    root: Extent,
    names: Names,
}

#[derive(Clone, Copy)]
struct Extent {
    lba: u32,
    len: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Names {
    Joliet,
    /// Rock Ridge `NM` entries when present, else the plain name without `;1`.
    Primary,
}

struct Record {
    name: String,
    extent: Extent,
    dir: bool,
}

impl<R: Read + Seek> Iso<R> {
    pub fn open(mut dev: R) -> Result<Self> {
        let mut primary = None;
        let mut joliet = None;
        for n in FIRST_DESCRIPTOR..FIRST_DESCRIPTOR + MAX_DESCRIPTORS {
            let d = read_at(&mut dev, n * SECTOR, SECTOR as usize)?;
            if &d[1..6] != b"CD001" {
                bail!("not an ISO 9660 volume (no CD001 at sector {n})");
            }
            match d[0] {
                1 => primary = Some(d),
                // A supplementary descriptor whose escape sequence names UCS-2 level 1, 2 or 3 is Joliet.
                2 if d[88..90] == *b"%/" && matches!(d[90], b'@' | b'C' | b'E') => joliet = Some(d),
                255 => break,
                _ => {}
            }
        }
        let primary = primary.context("ISO 9660 volume without a primary volume descriptor")?;
        let label = String::from_utf8_lossy(&primary[40..72]).trim_end().to_string();
        let (desc, names) = match &joliet {
            Some(j) => (j, Names::Joliet),
            None => (&primary, Names::Primary),
        };
        let root = record_extent(&desc[156..190]);
        Ok(Iso { dev, label, root, names })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Reads the file at `path` (`/`-separated, relative to the root); `None` when absent.
    pub fn read(&mut self, path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>> {
        let mut dir = self.root;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let Some(rec) = self.list(dir)?.into_iter().find(|r| r.name == *part) else {
                return Ok(None);
            };
            if !last {
                if !rec.dir {
                    return Ok(None);
                }
                dir = rec.extent;
                continue;
            }
            if rec.dir {
                return Ok(None);
            }
            if rec.extent.len as usize > max_bytes {
                bail!("{path} is {} bytes, more than the {max_bytes}-byte limit", rec.extent.len);
            }
            return Ok(Some(read_at(&mut self.dev, rec.extent.lba as u64 * SECTOR, rec.extent.len as usize)?));
        }
        Ok(None)
    }

    /// The records of one directory, `.` and `..` left out.
    fn list(&mut self, dir: Extent) -> Result<Vec<Record>> {
        // Directories of a seed are a sector or two; cap so a corrupt length cannot exhaust memory.
        let len = (dir.len as usize).min(1 << 20);
        let data = read_at(&mut self.dev, dir.lba as u64 * SECTOR, len)?;
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let rec_len = data[pos] as usize;
            if rec_len == 0 {
                // Records never span sectors; a zero length pads to the next one.
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            if rec_len < 34 || pos + rec_len > data.len() {
                bail!("corrupt ISO 9660 directory record at byte {pos}");
            }
            let rec = &data[pos..pos + rec_len];
            pos += rec_len;
            let name_len = rec[32] as usize;
            if 33 + name_len > rec.len() {
                bail!("corrupt ISO 9660 directory record name");
            }
            let raw = &rec[33..33 + name_len];
            if raw == [0] || raw == [1] {
                continue; // `.` and `..`
            }
            let name = match self.names {
                Names::Joliet => ucs2_be(raw),
                Names::Primary => {
                    // The system-use area follows the name, after a pad byte when the name length is even.
                    let su_start = 33 + name_len + (name_len + 1) % 2;
                    rock_ridge_name(rec.get(su_start..).unwrap_or(&[])).unwrap_or_else(|| plain_name(raw))
                }
            };
            out.push(Record { name, extent: record_extent(rec), dir: rec[25] & 2 != 0 });
        }
        Ok(out)
    }
}

/// Location and size of a directory record's data (both-endian fields; the LE half is used).
fn record_extent(rec: &[u8]) -> Extent {
    let le = |at: usize| u32::from_le_bytes(rec[at..at + 4].try_into().unwrap());
    Extent { lba: le(2), len: le(10) }
}

fn ucs2_be(raw: &[u8]) -> String {
    let units: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    let name = String::from_utf16_lossy(&units);
    strip_version(&name).to_string()
}

fn plain_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    let name = strip_version(&name);
    name.strip_suffix('.').unwrap_or(name).to_lowercase()
}

fn strip_version(name: &str) -> &str {
    name.split_once(';').map(|(n, _)| n).unwrap_or(name)
}

/// The Rock Ridge alternate name (`NM` entries, possibly split with the CONTINUE flag).
/// Continuation areas (`CE`) are not followed: seed file names are far shorter than a record.
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    let mut found = false;
    while su.len() >= 4 {
        let len = su[2] as usize;
        if len < 4 || len > su.len() {
            break;
        }
        if &su[..2] == b"NM" && len >= 5 {
            found = true;
            name.extend_from_slice(&su[5..len]);
            if su[4] & 1 == 0 {
                break;
            }
        }
        su = &su[len..];
    }
    found.then(|| String::from_utf8_lossy(&name).into_owned())
}

fn read_at<R: Read + Seek>(dev: &mut R, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    dev.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0; len];
    dev.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rock_ridge_name_joins_continued_entries() {
        let mut su = Vec::new();
        su.extend_from_slice(b"PX\x0c\x01........");
        su.extend_from_slice(b"NM\x09\x01\x01user");
        su.extend_from_slice(b"NM\x0a\x01\x00-data");
        assert_eq!(rock_ridge_name(&su).as_deref(), Some("user-data"));
        assert_eq!(rock_ridge_name(b"PX\x04\x01"), None);
    }

    #[test]
    fn plain_names_lose_version_and_trailing_dot() {
        assert_eq!(plain_name(b"USER_DAT.;1"), "user_dat");
        assert_eq!(plain_name(b"META.JSN;1"), "meta.jsn");
        assert_eq!(ucs2_be(&[0, b'u', 0, b'-', 0, b'd', 0, b';', 0, b'1']), "u-d");
    }
}
