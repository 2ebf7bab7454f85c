//! The conversion engine: CSV bytes from a [`Source`] to Parquet to a [`Sink`].
//!
//! This module holds the options and the entry points; the private `pass` module runs the
//! stages.

use std::path::PathBuf;

use crate::sink::Sink;
use crate::error::Result;
use crate::progress::Progress;
use crate::convert::schema::{ColumnType, Layout};
use crate::shutdown::Shutdown;
use crate::source::Source;
use crate::summary::RunSummary;

/// Text encodings accepted on input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputEncoding {
    /// UTF-8 (a BOM is stripped).
    #[default]
    Utf8,
    /// UTF-16 little endian (a BOM is stripped).
    Utf16Le,
    /// ISO-8859-1 (Latin-1): every byte is the code point of the same value.
    Latin1,
    /// Windows-1252.
    Windows1252,
}

/// CSV dialect.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// Field separator (`,` by default).
    pub delimiter: u8,
    /// Input encoding.
    pub encoding: InputEncoding,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            encoding: InputEncoding::Utf8,
        }
    }
}

/// How many rows schema inference reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferRows {
    /// The first N data rows.
    Rows(usize),
    /// The whole input (one extra pass).
    All,
}

/// Schema options.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    /// Which columns are inferred.
    pub layout: Layout,
    /// Inference sample (at most [`MAX_SAMPLE_BYTES`] of text in any case).
    pub infer_rows: InferRows,
    /// Per-column types given by the user (`--type`, `--schema`); strict.
    pub overrides: Vec<(String, ColumnType)>,
    /// Add `Value_number` next to a mixed `Value` column.
    pub value_number: bool,
    /// Header to use when the input is completely empty (an export with zero chunks).
    pub fallback_header: Option<Vec<String>>,
}

/// The default inference sample, in rows.
pub const DEFAULT_INFER_ROWS: usize = 100_000;

/// The inference sample also ends after this many bytes of text, whatever the row count: the
/// sample is held in memory until the types are decided, and rows of long text would make
/// 100,000 of them hundreds of megabytes. A later value that does not fit widens its column.
pub const MAX_SAMPLE_BYTES: usize = 32 << 20;

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            layout: Layout::SingleColumn,
            infer_rows: InferRows::Rows(DEFAULT_INFER_ROWS),
            overrides: Vec::new(),
            value_number: true,
            fallback_header: None,
        }
    }
}

/// Parquet compression codecs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Codec {
    /// Zstandard (level 1).
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (raw).
    Lz4,
    /// Gzip.
    Gzip,
    /// No compression.
    None,
}

/// Parquet writer options.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// Compression codec.
    pub compression: Codec,
    /// Maximum rows per row group.
    pub row_group_rows: usize,
    /// Maximum encoded bytes per row group (bounds memory with wide text).
    pub row_group_bytes: usize,
    /// Extra key-value metadata (export names and ids, task id, ...).
    pub metadata: Vec<(String, String)>,
}

/// Default maximum rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;
/// Default maximum encoded bytes per row group.
pub const DEFAULT_ROW_GROUP_BYTES: usize = 64 << 20;

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: Codec::Zstd,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            metadata: Vec::new(),
        }
    }
}

/// Everything the engine needs to know.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// CSV dialect.
    pub csv: CsvOptions,
    /// Schema inference and overrides.
    pub schema: SchemaOptions,
    /// Parquet writer.
    pub parquet: ParquetOptions,
    /// Also keep the raw input in this file (`--keep-csv`).
    pub keep_input: Option<PathBuf>,
}

/// Per-run handles: counters for the progress display, and the shutdown signal.
#[derive(Clone, Debug, Default)]
pub struct RunContext {
    /// Live counters.
    pub progress: Progress,
    /// Stop request (signals, timeouts).
    pub shutdown: Shutdown,
}

/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 16_384;

/// Converts the CSV from `source` into one Parquet file at `destination`.
///
/// Streams with bounded memory: input pieces, text batches, record batches and output blocks
/// all pass through bounded channels between the reader (async), the decoder (its own
/// thread), the encoder (its own thread) and the destination (async). On any failure nothing
/// is published at the destination and an existing file there is untouched.
///
/// When a value after the inference sample does not fit its column, the attempt is abandoned
/// (aborted at the destination), the rest of the input is scanned for the final types, and a
/// second pass writes the file with the widened columns. Sources that cannot be read twice are
/// spooled to a temporary file during the first pass.
pub async fn convert(
    source: &dyn Source,
    destination: &dyn Sink,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<RunSummary> {
    pass::convert(source, destination, options, run).await
}

/// The schema that [`convert`] would write, with its decisions, reading only as much input as
/// the inference sample needs (`--print-schema`).
pub async fn infer(
    source: &dyn Source,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<Inference> {
    pass::infer(source, options, run).await
}

/// The outcome of schema inference.
#[derive(Clone, Debug)]
pub struct Inference {
    /// The columns that would be written.
    pub plan: schema::Plan,
    /// Inference decisions, one sentence each.
    pub decisions: Vec<String>,
    /// Data rows the decision was based on.
    pub sample_rows: u64,
}

pub mod encode;
mod pass;
pub mod schema;
pub mod text;
