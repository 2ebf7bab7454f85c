//! `anaplan-parquet generate`: a synthetic Tabular Single Column export, deterministic under
//! `--seed` (see [`crate::generate`] for what it contains).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};
use crate::generate::{Generator, GeneratorConfig, MAX_DIMENSIONS};

/// Arguments of `generate`.
#[derive(Debug, Args)]
#[command(after_help = "\
The file has the header Versions,Time,Region,Product,Line Items,Value (more or fewer dimension
columns with --dimensions), one row per cell, and values of every line-item format: integers,
decimals, booleans, dates, text with commas, quotes and line breaks, and blanks.
The same --rows/--seed/flags always give the same bytes.

Examples:
  anaplan-parquet generate --rows 1000000 --seed 42 --output export.csv
  anaplan-parquet generate --rows 100 --quote-all --crlf --bom | head")]
pub struct GenerateArgs {
    /// Number of data rows (the header is not counted).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub rows: u64,

    /// Seed: the same seed gives the same bytes.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,

    /// Dimension columns before `Line Items` (0 to 32).
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub dimensions: usize,

    /// Only numeric line items (integers and decimals, with some blanks).
    #[arg(long)]
    pub numeric_only: bool,

    /// Quote every field instead of only those that need it (blanks stay empty).
    #[arg(long)]
    pub quote_all: bool,

    /// End lines with CRLF instead of LF.
    #[arg(long)]
    pub crlf: bool,

    /// Start the file with a UTF-8 byte order mark.
    #[arg(long)]
    pub bom: bool,

    /// Where to write: a file (written atomically) or `-` for stdout.
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: String,
}

impl GenerateArgs {
    /// The validated generator configuration.
    pub fn to_config(&self) -> Result<GeneratorConfig> {
        if self.dimensions > MAX_DIMENSIONS {
            return Err(Error::usage(format!(
                "--dimensions must be at most {MAX_DIMENSIONS}, got {}",
                self.dimensions
            )));
        }
        Ok(GeneratorConfig {
            rows: self.rows,
            seed: self.seed,
            dimensions: self.dimensions,
            numeric_only: self.numeric_only,
            quote_all: self.quote_all,
            crlf: self.crlf,
            bom: self.bom,
        })
    }
}

/// Runs `generate`.
pub async fn run(args: GenerateArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let config = args.to_config()?;
    let output = args.output.clone();
    let quiet = global.quiet;
    tokio::task::spawn_blocking(move || {
        let generator = Generator::new(config);
        let started = Instant::now();
        if output == "-" {
            let stdout = io::stdout();
            let mut lock = stdout.lock();
            generator
                .write_all(&mut lock)
                .map_err(|e| Error::io("cannot write to stdout", e))?;
        } else {
            let path = PathBuf::from(&output);
            let bytes = write_file_atomically(&generator, &path)?;
            if !quiet {
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "wrote {} rows, {bytes} bytes to {} in {secs:.2} s ({:.0} MB/s)",
                    generator.config().rows,
                    path.display(),
                    bytes as f64 / 1e6 / secs.max(1e-9),
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
    .map_err(|e| Error::Internal(format!("generator thread failed: {e}")))?
}

/// Writes the file by the rule for local outputs ([`crate::local_file`]): to a temporary file
/// beside `path`, renamed into place (on failure the temporary file is removed and an existing
/// `path` is untouched), or through to a device or FIFO.
fn write_file_atomically(generator: &Generator, path: &Path) -> Result<u64> {
    let context = || format!("cannot write {}", path.display());
    let crate::local_file::LocalOutput { file, mut pending } =
        crate::local_file::LocalOutput::open(path, false)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    // Batches are megabytes each: no extra buffering needed.
    let mut out = &file;
    let bytes = generator
        .write_all_parallel(&mut out, threads)
        .map_err(|e| Error::io(context(), e))?;
    pending.commit(false).map_err(|e| Error::io(context(), e))?;
    Ok(bytes)
}
