//! Column names and types: the types and their parsers, inference statistics, the plan
//! (header clean-up, inference, overrides) and the conversion of text columns to typed ones.
//!
//! Imports go one way: `types` ← `parse` ← (`typed`, `infer`) ← `plan`; `options` is the
//! stage's settings.

mod infer;
mod options;
mod parse;
mod plan;
mod typed;
mod types;

pub use infer::ColumnStats;
pub use options::{DEFAULT_INFER_ROWS, InferRows, Layout, MAX_SAMPLE_BYTES, SchemaOptions};
pub(crate) use parse::{classify, parse_f64_lenient};
pub use plan::{Origin, Plan, PlannedColumn, clean_header};
pub use typed::{Misfit, convert_column, number_column};
pub use types::ColumnType;
pub(crate) use types::Fits;
