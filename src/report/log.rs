//! Log lines on stderr pass through the redactor like every other message: a secret that a
//! dependency or a `-vvv` trace formats into a line is replaced before the line is written.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// `MakeWriter` for tracing-subscriber: one buffer per event, redacted, written in one call.
pub struct RedactingStderr;

pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = super::redact::redact(&String::from_utf8_lossy(&self.0));
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::new())
    }
}
