//! Logging to stderr that cooperates with the progress bar.
//!
//! Log lines go through [`BARS`]: while a progress bar is drawn, a line is printed above it
//! instead of through it. Secrets never reach a log line because they never reach a `Display`
//! or `Debug` implementation (see [`crate::secret`]).

#![allow(clippy::print_stderr)]

use std::io::{self, Write};
use std::sync::OnceLock;

use indicatif::MultiProgress;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The process-wide set of progress bars; log lines suspend it while they print.
pub static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The shared progress-bar set (created on first use, hidden until a bar is added).
pub fn bars() -> &'static MultiProgress {
    BARS.get_or_init(MultiProgress::new)
}

/// Sets up the global subscriber. `-q` shows errors only; the default shows this crate's info
/// lines (phases, retries, widenings) and other crates' warnings; `-v` and `-vv` go deeper.
/// `RUST_LOG` overrides all of it.
pub fn init(verbose: u8, quiet: bool) {
    let default = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn,anaplan_parquet=info",
            1 => "info,anaplan_parquet=debug",
            _ => "debug,anaplan_parquet=trace",
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(SuspendingStderr)
        .with_target(verbose > 0)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}

/// Prints a line on stderr above any progress bar.
pub fn print_error(line: &str) {
    let print = || {
        let _ = writeln!(io::stderr(), "{line}");
    };
    match BARS.get() {
        Some(bars) => bars.suspend(print),
        None => print(),
    }
}

/// A `MakeWriter` for stderr that suspends the progress bars while a log line prints.
#[derive(Clone, Copy, Debug)]
struct SuspendingStderr;

impl<'a> MakeWriter<'a> for SuspendingStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::with_capacity(256))
    }
}

/// Collects one log record and prints it whole when dropped.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.0);
        let print = move || {
            let _ = io::stderr().write_all(&buf);
        };
        match BARS.get() {
            Some(bars) => bars.suspend(print),
            None => print(),
        }
    }
}
