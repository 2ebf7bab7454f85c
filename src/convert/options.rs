//! Everything one conversion needs: the options of every stage, gathered, and the per-run
//! handles. Each stage owns its own options type; this module only puts them together.

use std::path::PathBuf;

use super::encode::ParquetOptions;
use super::schema::SchemaOptions;
use super::text::CsvOptions;
use crate::progress::Progress;
use crate::shutdown::Shutdown;

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
