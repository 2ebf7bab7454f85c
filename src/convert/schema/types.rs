//! The column types the engine writes, and [`Fits`], the set of types a text value fits: the
//! vocabulary shared by parsing, inference and conversion.

use std::fmt;
use std::str::FromStr;

use arrow::datatypes::{DataType, TimeUnit};

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

/// The set of types a value fits (text always fits, so it is not in the set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fits(u8);

impl Fits {
    /// Fits every type: the starting point before any value was seen.
    pub(crate) const ALL: Fits = Fits(0b1_1111);
    /// Fits no typed column: only text.
    pub(crate) const NONE: Fits = Fits(0);

    const fn bit(t: ColumnType) -> u8 {
        match t {
            ColumnType::Boolean => 1,
            ColumnType::Int64 => 2,
            ColumnType::Float64 => 4,
            ColumnType::Date32 => 8,
            ColumnType::Timestamp => 16,
            ColumnType::Utf8 => 0,
        }
    }

    /// True when the set holds `t` (Utf8 is always held).
    pub(crate) fn contains(self, t: ColumnType) -> bool {
        t == ColumnType::Utf8 || self.0 & Self::bit(t) != 0
    }

    /// Types both sets hold.
    #[must_use]
    pub(crate) fn and(self, other: Fits) -> Fits {
        Fits(self.0 & other.0)
    }

    /// Adds `t`.
    #[must_use]
    pub(crate) fn with(self, t: ColumnType) -> Fits {
        Fits(self.0 | Self::bit(t))
    }

    /// The narrowest type of the set, in the order Boolean, Int64, Float64, Date32,
    /// Timestamp; Utf8 when the set is empty.
    pub(crate) fn best(self) -> ColumnType {
        [
            ColumnType::Boolean,
            ColumnType::Int64,
            ColumnType::Float64,
            ColumnType::Date32,
            ColumnType::Timestamp,
        ]
        .into_iter()
        .find(|t| self.contains(*t))
        .unwrap_or(ColumnType::Utf8)
    }
}
