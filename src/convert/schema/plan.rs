//! The schema decided for a file ([`Plan`]): header clean-up, then per column a type from the
//! overrides, the layout or the inference statistics, and the optional `Value_number` companion.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::infer::ColumnStats;
use super::options::SchemaOptions;
use super::types::ColumnType;
use crate::error::{Error, Result};

/// Makes header names usable: empty names become `column_N` (N is the 1-based position) and
/// repeated names get `_2`, `_3`, ... so every name is unique. Other names are kept exactly.
pub fn clean_header(raw: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = raw.iter().filter(|n| !n.is_empty()).cloned().collect();
    let mut seen: HashSet<&str> = HashSet::new();
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
fn unique(base: &str, taken: &mut HashSet<String>, try_base: bool) -> String {
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

/// Where a column's type came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An Anaplan dimension (in the single- or multi-column layout): always text.
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
    pub(crate) fn decide(
        header: &[String],
        stats: &[ColumnStats],
        options: &SchemaOptions,
    ) -> Result<Plan> {
        for (name, _) in &options.overrides {
            if !header.iter().any(|h| h == name) {
                return Err(Error::usage(format!(
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
                } else if options.layout.is_dimension(i, header.len()) {
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
        let value_number = (options.layout.is_single_column()
            && options.value_number
            && !columns.is_empty()
            && columns[last].origin == Origin::Inferred
            && stats[last].is_mixed_with_numbers())
        .then(|| {
            let mut taken: HashSet<String> = header.iter().cloned().collect();
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
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.ty.data_type(), true))
            .collect();
        if let Some((_, name)) = &self.value_number {
            fields.push(Field::new(name, DataType::Float64, true));
        }
        Arc::new(Schema::new(fields))
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
    use super::super::options::Layout;
    use super::*;

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
        ColumnStats::of(values)
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
    fn multi_column_layout_keeps_the_leading_dimensions_as_text() {
        let header = names(&["Region", "Time", "Revenue", "Active"]);
        let st = [
            stats(&["1001"]),
            stats(&["2024-01-15"]),
            stats(&["1", "2.5"]),
            stats(&["true"]),
        ];
        let opts = SchemaOptions {
            layout: Layout::MultiColumn { dimensions: 2 },
            ..SchemaOptions::default()
        };
        let plan = Plan::decide(&header, &st, &opts).unwrap();
        let got: Vec<(ColumnType, Origin)> =
            plan.columns.iter().map(|c| (c.ty, c.origin)).collect();
        assert_eq!(
            got,
            [
                (ColumnType::Utf8, Origin::Dimension),
                (ColumnType::Utf8, Origin::Dimension),
                (ColumnType::Float64, Origin::Inferred),
                (ColumnType::Boolean, Origin::Inferred),
            ]
        );
        assert_eq!(plan.value_number, None);
        assert!(!opts.infers("Time", 1, 4) && opts.infers("Revenue", 2, 4));
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
            // Text only because a number is not exact as a float: the companion holds it.
            (&["1.5", "1e-400"], true),
            (&["0.1234567890123456789"], true),
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
}
