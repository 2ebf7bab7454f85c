//! The conversion engine: CSV bytes from a [`Source`] to Parquet to a [`Sink`].
//!
//! ```text
//!  replay      the run: passes until the file is written (widening, --infer-rows all)
//!   ├─ spool   a copy of the input that cannot be read twice, or kept (--keep-csv)
//!   └─ pipeline   one pass: reader ─► decoder thread ─► encoder thread ─► uploader
//!        ├─ decode_stage   text::TextReader, the sample, schema::Plan, typed batches
//!        │    ├─ widen     statistics after the sample, the widening decision
//!        │    └─ report    the decisions and the inference metadata
//!        └─ encode         the Parquet writer feeding a channel
//! ```
//!
//! Each stage owns its options ([`CsvOptions`] in `text`, [`SchemaOptions`] in `schema`,
//! [`ParquetOptions`] in `encode`); they are re-exported here with the entry points.

use crate::error::{Error, Result};
use crate::local_file::same_file;
use crate::sink::Sink;
use crate::source::Source;
use crate::summary::RunSummary;

mod decode_stage;
pub(crate) mod encode;
#[doc(hidden)]
pub mod internals;
mod options;
mod pipeline;
mod replay;
mod report;
pub(crate) mod schema;
mod spool;
pub(crate) mod text;
mod widen;

pub use encode::{Codec, DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS, ParquetOptions};
pub use options::{EngineOptions, RunContext};
pub use report::Inference;
pub use schema::{
    ColumnType, DEFAULT_INFER_ROWS, InferRows, Layout, MAX_SAMPLE_BYTES, Origin, Plan,
    PlannedColumn, SchemaOptions,
};
pub use text::{CsvOptions, InputEncoding};

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
    check_distinct_files(source.local_path(), destination, options)?;
    replay::convert(source, destination, options, run).await
}

/// Refuses a run whose outputs would replace its input or each other: the Parquet file, the
/// `--keep-csv` copy and a local input must be three different files (compared as files: a
/// symlink, a hard link or another spelling of the same path is the same file). A usage
/// error, before anything is read or written. (Commands check it again before they start
/// anything remote.)
pub(crate) fn check_distinct_files(
    input: Option<&std::path::Path>,
    destination: &dyn Sink,
    options: &EngineOptions,
) -> Result<()> {
    let outputs = destination.local_paths();
    let keep = options.keep_input.as_deref();
    for output in &outputs {
        if let Some(input) = input
            && same_file(input, output)
        {
            return Err(Error::usage(format!(
                "the output {} is the input file {}: refusing to replace the input (write the \
                 Parquet file elsewhere)",
                output.display(),
                input.display()
            )));
        }
        if let Some(keep) = keep
            && same_file(keep, output)
        {
            return Err(Error::usage(format!(
                "--keep-csv {} and the output {} are the same file: give them different paths",
                keep.display(),
                output.display()
            )));
        }
    }
    if let (Some(input), Some(keep)) = (input, keep)
        && same_file(input, keep)
    {
        return Err(Error::usage(format!(
            "--keep-csv {} is the input file {}: refusing to replace the input",
            keep.display(),
            input.display()
        )));
    }
    Ok(())
}

/// The schema that [`convert`] would write, with its decisions, reading only as much input as
/// the inference sample needs (`--print-schema`).
pub async fn infer(
    source: &dyn Source,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<Inference> {
    replay::infer(source, options, run).await
}
