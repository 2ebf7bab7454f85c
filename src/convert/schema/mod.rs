//! Column names and types: header clean-up, inference, overrides.

pub mod typed;

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

/// Makes header names usable: empty names become `column_N` (N is the 1-based position) and
/// repeated names get `_2`, `_3`, ... so every name is unique. Other names are kept exactly.
pub fn clean_header(raw: &[String]) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> =
        raw.iter().filter(|n| !n.is_empty()).cloned().collect();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        if name.is_empty() {
            out.push(unique(&format!("column_{}", i + 1), &mut taken, true));
        } else if seen.insert(name) {
            out.push(name.clone());
        } else {
            out.push(unique(name, &mut taken, false));
        }
    }
    out
}

/// `base` if free (when `try_base`), else `base_2`, `base_3`, ...; marks the result taken.
fn unique(base: &str, taken: &mut std::collections::HashSet<String>, try_base: bool) -> String {
    if try_base && taken.insert(base.to_owned()) {
        return base.to_owned();
    }
    let mut n = 2u64;
    loop {
        let candidate = format!("{base}_{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// What inference learned about one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnStats {
    /// Types every non-null value so far fits.
    pub fits: typed::Fits,
    /// Non-null values seen.
    pub non_null: u64,
    /// Values that are numbers (integers or decimals).
    pub numeric: u64,
    /// Values that are booleans.
    pub boolean: u64,
    /// Values that are dates or timestamps.
    pub temporal: u64,
}

impl Default for ColumnStats {
    fn default() -> Self {
        ColumnStats {
            fits: typed::Fits::ALL,
            non_null: 0,
            numeric: 0,
            boolean: 0,
            temporal: 0,
        }
    }
}

impl ColumnStats {
    /// Takes one more value into account.
    pub fn observe(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.observe_classified(typed::classify(v));
        }
    }

    /// Takes one more non-null value into account, already classified.
    pub fn observe_classified(&mut self, f: typed::Fits) {
        self.fits = self.fits.and(f);
        self.non_null += 1;
        if f.contains(ColumnType::Float64) {
            self.numeric += 1;
        } else if f.contains(ColumnType::Boolean) {
            self.boolean += 1;
        } else if f.contains(ColumnType::Date32) || f.contains(ColumnType::Timestamp) {
            self.temporal += 1;
        }
    }

    /// Takes a whole text column into account.
    pub fn observe_array(&mut self, arr: &arrow::array::StringArray) {
        use arrow::array::Array;
        for i in 0..arr.len() {
            self.observe(arr.is_valid(i).then(|| arr.value(i)));
        }
    }

    /// The type these values call for: the narrowest type all of them fit; text when there
    /// were no values at all.
    pub fn inferred(&self) -> ColumnType {
        if self.non_null == 0 {
            ColumnType::Utf8
        } else {
            self.fits.best()
        }
    }

    /// Values that are none of number, boolean, date: free text.
    pub fn text(&self) -> u64 {
        self.non_null - self.numeric - self.boolean - self.temporal
    }

    /// True when the column is text only because numbers are mixed with other kinds of
    /// values: the case for a `Value_number` companion.
    pub fn is_mixed_with_numbers(&self) -> bool {
        self.inferred() == ColumnType::Utf8 && self.numeric > 0 && self.numeric < self.non_null
    }

    /// One line describing the mix, e.g. `62% numbers, 20% text, 10% booleans, 8% dates`.
    pub fn describe_mix(&self) -> String {
        let pct = |n: u64| (n as f64 * 100.0 / self.non_null.max(1) as f64).round();
        let mut parts = Vec::new();
        for (n, what) in [
            (self.numeric, "numbers"),
            (self.text(), "text"),
            (self.boolean, "booleans"),
            (self.temporal, "dates"),
        ] {
            if n > 0 {
                parts.push(format!("{}% {what}", pct(n)));
            }
        }
        if parts.is_empty() {
            "all blank".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Where a column's type came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An Anaplan dimension in the single-column layout: always text.
    Dimension,
    /// Inferred from the data (may widen after the sample).
    Inferred,
    /// Forced by `--type` or `--schema` (strict).
    Override,
}

/// One column of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedColumn {
    /// Name as written (after [`clean_header`]).
    pub name: String,
    /// Type written.
    pub ty: ColumnType,
    /// Why this type.
    pub origin: Origin,
}

/// The schema decided for a file: one planned column per input column, plus the optional
/// `Value_number` companion derived from one of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Input columns, in order.
    pub columns: Vec<PlannedColumn>,
    /// The companion: (input column it is derived from, its name).
    pub value_number: Option<(usize, String)>,
}

impl Plan {
    /// Decides the plan from the cleaned header, the statistics of each column and the options.
    pub fn decide(
        header: &[String],
        stats: &[ColumnStats],
        options: &crate::convert::SchemaOptions,
    ) -> crate::error::Result<Plan> {
        for (name, _) in &options.overrides {
            if !header.iter().any(|h| h == name) {
                return Err(crate::error::Error::usage(format!(
                    "--type/--schema names column {name:?}, which is not in the input; columns: {}",
                    header
                        .iter()
                        .map(|h| format!("{h:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let last = header.len().saturating_sub(1);
        let columns: Vec<PlannedColumn> = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let forced = options.overrides.iter().rev().find(|(n, _)| n == name);
                let (ty, origin) = if let Some((_, t)) = forced {
                    (*t, Origin::Override)
                } else if options.layout == Layout::SingleColumn && i != last {
                    (ColumnType::Utf8, Origin::Dimension)
                } else {
                    (stats[i].inferred(), Origin::Inferred)
                };
                PlannedColumn {
                    name: name.clone(),
                    ty,
                    origin,
                }
            })
            .collect();
        let value_number = (options.layout == Layout::SingleColumn
            && options.value_number
            && !columns.is_empty()
            && columns[last].origin == Origin::Inferred
            && stats[last].is_mixed_with_numbers())
        .then(|| {
            let mut taken: std::collections::HashSet<String> = header.iter().cloned().collect();
            (
                last,
                unique(&format!("{}_number", header[last]), &mut taken, true),
            )
        });
        Ok(Plan {
            columns,
            value_number,
        })
    }

    /// The Arrow schema written. Every column is nullable (blank fields are null).
    pub fn arrow_schema(&self) -> arrow::datatypes::SchemaRef {
        use arrow::datatypes::{DataType, Field, Schema};
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.ty.data_type(), true))
            .collect();
        if let Some((_, name)) = &self.value_number {
            fields.push(Field::new(name, DataType::Float64, true));
        }
        std::sync::Arc::new(Schema::new(fields))
    }

    /// (name, type) of every written column, for summaries.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.name().to_owned()))
            .collect();
        if let Some((_, name)) = &self.value_number {
            out.push((name.clone(), ColumnType::Float64.name().to_owned()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::SchemaOptions;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn header_cleaning_table() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["a", "b"], &["a", "b"]),
            (&["Value", "Value"], &["Value", "Value_2"]),
            (
                &["Value", "Value", "Value"],
                &["Value", "Value_2", "Value_3"],
            ),
            (
                &["Value", "Value", "Value_2"],
                &["Value", "Value_3", "Value_2"],
            ),
            (&["", "b", ""], &["column_1", "b", "column_3"]),
            (&["column_1", ""], &["column_1", "column_2"]),
            (&["", "column_1"], &["column_1_2", "column_1"]),
            (&["Line Items", "Zürich"], &["Line Items", "Zürich"]),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean_header(&names(raw)), names(expected), "{raw:?}");
        }
    }

    fn stats(values: &[&str]) -> ColumnStats {
        let mut s = ColumnStats::default();
        for v in values {
            s.observe((!v.is_empty()).then_some(*v));
        }
        s
    }

    #[test]
    fn single_column_layout_keeps_dimensions_as_text() {
        let header = names(&["Code", "Time", "Value"]);
        let st = [
            stats(&["007", "008"]),
            stats(&["2024-01-15"]),
            stats(&["1", "2"]),
        ];
        let plan = Plan::decide(&header, &st, &SchemaOptions::default()).unwrap();
        let types: Vec<ColumnType> = plan.columns.iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            [ColumnType::Utf8, ColumnType::Utf8, ColumnType::Int64]
        );
        assert_eq!(plan.value_number, None);

        let generic = SchemaOptions {
            layout: Layout::Generic,
            ..SchemaOptions::default()
        };
        let plan = Plan::decide(&header, &st, &generic).unwrap();
        let types: Vec<ColumnType> = plan.columns.iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            [ColumnType::Utf8, ColumnType::Date32, ColumnType::Int64]
        );
    }

    #[test]
    fn value_number_only_for_a_mix_with_numbers() {
        let header = names(&["Line Items", "Value"]);
        let opts = SchemaOptions::default();
        let cases: &[(&[&str], bool)] = &[
            (&["1", "2.5"], false),
            (&["1", "hello"], true),
            (&["1", "true", "2024-01-01"], true),
            (&["hello", "world"], false),
            (&["", ""], false),
        ];
        for (values, expected) in cases {
            let st = [ColumnStats::default(), stats(values)];
            let plan = Plan::decide(&header, &st, &opts).unwrap();
            assert_eq!(plan.value_number.is_some(), *expected, "{values:?}");
        }
        let st = [ColumnStats::default(), stats(&["1", "x"])];
        let off = SchemaOptions {
            value_number: false,
            ..SchemaOptions::default()
        };
        assert_eq!(Plan::decide(&header, &st, &off).unwrap().value_number, None);
        // The companion's name never collides.
        let header = names(&["Value_number", "Value"]);
        let plan = Plan::decide(&header, &st, &opts).unwrap();
        assert_eq!(plan.value_number, Some((1, "Value_number_2".into())));
    }

    #[test]
    fn overrides_win_and_unknown_columns_are_refused() {
        let header = names(&["Time", "Value"]);
        let st = [stats(&["2024"]), stats(&["1", "x"])];
        let opts = SchemaOptions {
            overrides: vec![
                ("Time".into(), ColumnType::Int64),
                ("Value".into(), ColumnType::Utf8),
            ],
            ..SchemaOptions::default()
        };
        let plan = Plan::decide(&header, &st, &opts).unwrap();
        assert_eq!(plan.columns[0].ty, ColumnType::Int64);
        assert_eq!(plan.columns[0].origin, Origin::Override);
        assert_eq!(plan.value_number, None);
        let bad = SchemaOptions {
            overrides: vec![("Valeu".into(), ColumnType::Int64)],
            ..SchemaOptions::default()
        };
        let err = Plan::decide(&header, &st, &bad).unwrap_err().to_string();
        assert!(err.contains("Valeu") && err.contains("\"Value\""), "{err}");
    }

    #[test]
    fn mix_description() {
        let s = stats(&["1", "2", "x", "true"]);
        assert_eq!(s.describe_mix(), "50% numbers, 25% text, 25% booleans");
    }
}
