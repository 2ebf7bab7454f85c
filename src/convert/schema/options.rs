//! The schema stage's options: column layout, inference sample, per-column overrides.

use super::types::ColumnType;

/// How the columns of an export are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Not chosen: an Anaplan export's metadata decides (see `export::engine_options`);
    /// otherwise, and for local files, [`Layout::SingleColumn`].
    #[default]
    Auto,
    /// Anaplan Tabular Single Column: dimensions (kept as text), then one `Value` column.
    SingleColumn,
    /// Any CSV: every column is inferred.
    Generic,
    /// Anaplan Tabular Multiple Column, as the export's metadata describes it: the first
    /// `dimensions` columns are dimensions (kept as text), every other column is a line item
    /// whose type is inferred.
    MultiColumn {
        /// Leading dimension columns.
        dimensions: usize,
    },
}

impl Layout {
    /// True when column `index` (of `columns`) is a dimension, kept as text.
    pub(crate) fn is_dimension(self, index: usize, columns: usize) -> bool {
        match self {
            Layout::Auto | Layout::SingleColumn => index + 1 != columns,
            Layout::Generic => false,
            Layout::MultiColumn { dimensions } => index < dimensions,
        }
    }

    /// True for the single-column layout (chosen or by default): the last column is `Value`.
    pub(crate) fn is_single_column(self) -> bool {
        matches!(self, Layout::Auto | Layout::SingleColumn)
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
            layout: Layout::Auto,
            infer_rows: InferRows::Rows(DEFAULT_INFER_ROWS),
            overrides: Vec::new(),
            value_number: true,
            fallback_header: None,
        }
    }
}

impl SchemaOptions {
    /// True when the column `name` at `index` (of `columns`) has its type inferred from the
    /// data: not forced by an override, and not a dimension of the layout.
    pub(crate) fn infers(&self, name: &str, index: usize, columns: usize) -> bool {
        let forced = self.overrides.iter().any(|(n, _)| n == name);
        !forced && !self.layout.is_dimension(index, columns)
    }
}
