//! Read-only access to a vfat seed through the `fatfs` crate, without mounting it.

use std::io::{self, Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result, bail};

/// True when the first sector looks like a FAT boot sector (jump, boot signature, `FAT` type string).
pub fn is_fat(head: &[u8]) -> bool {
    head.len() >= 512
        && head[510..512] == [0x55, 0xAA]
        && matches!(head[0], 0xEB | 0xE9)
        && (&head[54..57] == b"FAT" || &head[82..85] == b"FAT")
}

pub struct Fat<R: Read + Seek> {
    fs: fatfs::FileSystem<ReadOnly<R>>,
    label: String,
}

impl<R: Read + Seek> Fat<R> {
    /// Opens the volume and reads its label: the root directory's volume entry (what blkid
    /// reports), else the boot sector's when the root has none. A root directory that cannot be
    /// read (a looping cluster chain stopped by `Bounded`) is an error, not a fallback.
    pub fn open(dev: R) -> Result<Self> {
        let fs = fatfs::FileSystem::new(ReadOnly(dev), fatfs::FsOptions::new()).context("reading the FAT volume")?;
        let label = match fs.read_volume_label_from_root_dir().context("reading the FAT root directory")? {
            Some(l) => l.trim_end().to_string(),
            None => fs.volume_label().trim_end().to_string(),
        };
        Ok(Fat { fs, label })
    }

    pub fn label(&self) -> String {
        self.label.clone()
    }

    /// Reads the file at `path` (`/`-separated); `None` when absent.
    pub fn read(&self, path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>> {
        let mut f = match self.fs.root_dir().open_file(path.trim_start_matches('/')) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {path} on the FAT volume")),
        };
        let mut buf = Vec::new();
        (&mut f).take(max_bytes as u64 + 1).read_to_end(&mut buf).with_context(|| format!("reading {path}"))?;
        if buf.len() > max_bytes {
            bail!("{path} is larger than the {max_bytes}-byte limit");
        }
        Ok(Some(buf))
    }
}

/// fatfs wants a read-write device; this one refuses every write, so a probe can never modify
/// a seed (and nothing is written with access-date updates off, which is fatfs's default).
struct ReadOnly<R>(R);

impl<R: Read> Read for ReadOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Seek> Seek for ReadOnly<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl<R> Write for ReadOnly<R> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "seed volumes are opened read-only"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
