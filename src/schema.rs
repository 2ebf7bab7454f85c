//! Column names and types: header clean-up, inference, overrides.

use std::fmt;
use std::str::FromStr;

use arrow::datatypes::{DataType, TimeUnit};

/// How the columns of an export are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Anaplan Tabular Single Column: dimensions (kept as text), then one `Value` column.
    #[default]
    SingleColumn,
    /// Any CSV: every column is inferred.
    Generic,
}

/// The column types the engine writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `true` / `false`.
    Boolean,
    /// 64-bit integers.
    Int64,
    /// 64-bit floats.
    Float64,
    /// `YYYY-MM-DD`.
    Date32,
    /// `YYYY-MM-DD[T ]HH:MM:SS[.ffffff]`, microseconds, no time zone.
    Timestamp,
    /// Text, exactly as in the input.
    Utf8,
}

impl ColumnType {
    /// The Arrow type written for this column type.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Date32 => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Utf8 => DataType::Utf8,
        }
    }

    /// The name used by `--type` and in summaries.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Date32 => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Utf8 => "utf8",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ColumnType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "boolean" | "bool" => ColumnType::Boolean,
            "int64" | "int" | "integer" | "bigint" => ColumnType::Int64,
            "float64" | "float" | "double" | "number" => ColumnType::Float64,
            "date" | "date32" => ColumnType::Date32,
            "timestamp" | "datetime" => ColumnType::Timestamp,
            "utf8" | "string" | "text" | "str" => ColumnType::Utf8,
            other => {
                return Err(format!(
                    "unknown type {other:?}: expected one of boolean, int64, float64, date, timestamp, utf8"
                ));
            }
        })
    }
}
