//! Every read of a seed volume goes through `Bounded`: a crafted filesystem (a FAT cluster chain
//! that loops, a directory that never ends, a cluster number that points past the device) can
//! make a filesystem reader read forever, but not past this wrapper's byte budget, deadline or
//! the device's end. fatfs 0.3 follows cluster chains without cycle detection; this is what
//! stops it.

use std::io::{self, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

/// Most bytes one volume may be read for: a seed's files are at most 1 MiB each, their
/// directories and FAT entries a few KiB more.
pub const MAX_VOLUME_READ_BYTES: u64 = 16 * 1024 * 1024;
/// Longest one volume may be read for, from opening it to its last file.
pub const VOLUME_DEADLINE: Duration = Duration::from_secs(10);

pub struct Bounded<R> {
    inner: R,
    what: String,
    len: u64,
    pos: u64,
    read: u64,
    cap: u64,
    deadline: Instant,
}

impl<R: Read + Seek> Bounded<R> {
    /// Wraps `inner` (named `what` in errors) with the default budget and deadline.
    pub fn new(inner: R, what: impl Into<String>) -> io::Result<Self> {
        Self::with_limits(inner, what, MAX_VOLUME_READ_BYTES, VOLUME_DEADLINE)
    }

    pub fn with_limits(mut inner: R, what: impl Into<String>, cap: u64, within: Duration) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(Bounded { inner, what: what.into(), len, pos: 0, read: 0, cap, deadline: Instant::now() + within })
    }

    fn check(&self) -> io::Result<()> {
        if Instant::now() > self.deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("reading {} took longer than its deadline; is the filesystem damaged or crafted?", self.what),
            ));
        }
        if self.read >= self.cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "reading {} needed more than {} bytes: its filesystem loops (a cluster chain cycle?) or is \
                     not a seed",
                    self.what, self.cap
                ),
            ));
        }
        Ok(())
    }
}

impl<R: Read + Seek> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check()?;
        let room = (self.cap - self.read).min(self.len.saturating_sub(self.pos));
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Bounded<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.check()?;
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) if p <= self.len => {
                self.pos = self.inner.seek(SeekFrom::Start(p))?;
                Ok(self.pos)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} points past its end ({} bytes): the filesystem is damaged or crafted", self.what, self.len),
            )),
        }
    }
}

/// Runs `probe` on its own thread and waits at most `within` for it: a device read that blocks
/// in the kernel (a stuck drive) cannot hold the boot. On time-out the thread is left behind
/// and `Err` says what it was doing (`doing` is updated by the probe as it goes).
pub fn with_deadline<T: Send + 'static>(
    within: Duration,
    doing: std::sync::Arc<std::sync::Mutex<String>>,
    probe: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("seed-probe".into())
        .spawn(move || drop(tx.send(probe())))
        .map_err(|e| format!("cannot start the device probe: {e}"))?;
    rx.recv_timeout(within).map_err(|_| {
        let at = doing.lock().map(|d| d.clone()).unwrap_or_default();
        format!("probing block devices took longer than {}s (stuck at {at})", within.as_secs())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn stops_at_the_budget_the_deadline_and_the_end() {
        let mut b =
            Bounded::with_limits(Cursor::new(vec![7u8; 100]), "test.img", 150, Duration::from_secs(60)).unwrap();
        let mut buf = [0u8; 64];
        // Re-reading the same bytes forever (a loop) runs out of budget.
        let mut total = 0;
        let err = loop {
            if let Err(e) = b.seek(SeekFrom::Start(0)) {
                break e;
            }
            match b.read(&mut buf) {
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert_eq!(total, 150);
        assert!(err.to_string().contains("more than 150 bytes"), "{err}");
        let mut b =
            Bounded::with_limits(Cursor::new(vec![0u8; 100]), "test.img", 1000, Duration::from_secs(60)).unwrap();
        assert!(b.seek(SeekFrom::Start(101)).unwrap_err().to_string().contains("past its end"));
        let mut b = Bounded::with_limits(Cursor::new(vec![0u8; 100]), "test.img", 1000, Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.read(&mut buf).unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_stuck_probe_is_abandoned_at_the_deadline() {
        let doing = std::sync::Arc::new(std::sync::Mutex::new("/dev/stuck".to_string()));
        let t = Instant::now();
        let r = with_deadline(Duration::from_millis(200), doing, || std::thread::sleep(Duration::from_secs(30)));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(r.unwrap_err().contains("/dev/stuck"));
    }
}
