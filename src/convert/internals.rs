//! Stage internals for the crate's own benches and fuzz targets.
//!
//! **Not a stable API**: what is here may change in any release. It exists so the benches can
//! time one stage at a time and the fuzz targets can compare the decoding path with the whole
//! engine; a library user wants [`convert`](super::convert) and its options instead.

pub use super::encode::{EncodeError, Output, ParquetEncoder, writer_properties};
pub use super::schema::{ColumnStats, Misfit, clean_header, convert_column, number_column};
pub use super::text::{TextBatch, TextReader, read_all};

use super::schema::{Plan, SchemaOptions};
use crate::error::Result;

/// The plan for a cleaned `header` from the statistics of its columns, as the engine decides
/// it once the sample is read.
pub fn decide_plan(
    header: &[String],
    stats: &[ColumnStats],
    options: &SchemaOptions,
) -> Result<Plan> {
    Plan::decide(header, stats, options)
}
