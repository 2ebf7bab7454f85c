//! The run's columns against the table's: the Arrow schema in Delta terms, the comparison that
//! refuses (or, with `schema_mode = merge`, extends) a table before any data is written, and
//! the column-mapping annotations that let column names with spaces into a table.

use std::collections::HashMap;

use arrow::datatypes::Schema as ArrowSchema;
use delta_kernel::engine::arrow_conversion::TryFromArrow;
use delta_kernel::schema::{
    ColumnMetadataKey, DataType, MetadataValue, PrimitiveType, StructField, StructType,
};

use crate::error::{Error, Result};
use crate::sink::SchemaMode;

/// Characters Delta refuses in a column name unless the table maps its columns by name.
const NEEDS_COLUMN_MAPPING: &[char] = &[' ', ',', ';', '{', '}', '(', ')', '\n', '\t', '='];

/// The table property that turns on column mapping by name.
pub(super) const COLUMN_MAPPING_MODE: &str = "delta.columnMapping.mode";

/// The run's data columns in Delta terms.
pub(super) fn kernel_schema(schema: &ArrowSchema) -> Result<StructType> {
    StructType::try_from_arrow(schema).map_err(|e| {
        Error::SchemaMismatch(format!(
            "a column of this run has a type Delta tables cannot hold: {e}"
        ))
    })
}

/// The schema of a new table: the run's columns, then the date partition column if any.
/// Column names Delta would refuse (`Line Items`) turn on column mapping by name, with each
/// physical name equal to the column's own name, so that the Parquet files written under
/// the plain names read back as they are.
pub(super) fn new_table_schema(
    data: &StructType,
    partition: Option<&str>,
) -> Result<(StructType, bool)> {
    let mut fields: Vec<StructField> = data.fields().cloned().collect();
    if let Some(p) = partition {
        fields.push(StructField::nullable(p, DataType::DATE));
    }
    let mapped = fields
        .iter()
        .any(|f| f.name().contains(NEEDS_COLUMN_MAPPING));
    if mapped {
        fields = fields
            .into_iter()
            .enumerate()
            .map(|(i, f)| physical_as_logical(f, i as i64 + 1))
            .collect();
    }
    let schema = StructType::try_new(fields)
        .map_err(|e| Error::SchemaMismatch(format!("cannot make a Delta schema: {e}")))?;
    Ok((schema, mapped))
}

/// Annotates `field` for column mapping by name, keeping its own name as the physical one.
pub(super) fn physical_as_logical(field: StructField, id: i64) -> StructField {
    let name = field.name().clone();
    field.with_metadata([
        (
            ColumnMetadataKey::ColumnMappingId.as_ref().to_owned(),
            MetadataValue::Number(id),
        ),
        (
            ColumnMetadataKey::ColumnMappingPhysicalName
                .as_ref()
                .to_owned(),
            MetadataValue::String(name),
        ),
    ])
}

/// Compares the run's columns with the table's. Returns the columns to add to the table
/// (merge mode only), or a [`Error::SchemaMismatch`] naming every column that differs.
///
/// A column in both must have the same type: a wider type in the run (a whole-number column
/// that is now decimal) is refused, since the table's readers and its older files disagree on
/// it. A table column the run lacks is refused in strict mode and read as null in merge mode
/// when the column is nullable.
pub(super) fn compare(
    table: &StructType,
    run: &StructType,
    partition: Option<&str>,
    mode: SchemaMode,
    where_: &str,
) -> Result<Vec<StructField>> {
    let run_names: HashMap<&str, &StructField> =
        run.fields().map(|f| (f.name().as_str(), f)).collect();
    let table_names: HashMap<&str, &StructField> =
        table.fields().map(|f| (f.name().as_str(), f)).collect();
    let mut problems = Vec::new();
    match partition {
        Some(p) if !table_names.contains_key(p) => problems.push(format!(
            "the table has no {p:?} column to partition by date (it was created without \
             --partition-by-date)"
        )),
        None => {
            if let Some(p) = table_names
                .keys()
                .find(|n| **n == crate::sink::options::PARTITION_COLUMN)
            {
                problems.push(format!(
                    "the table is partitioned by {p:?}: give --partition-by-date"
                ));
            }
        }
        _ => {}
    }
    for t in table.fields() {
        if Some(t.name().as_str()) == partition {
            continue;
        }
        match run_names.get(t.name().as_str()) {
            None if mode == SchemaMode::Merge && t.is_nullable() => {}
            None => problems.push(format!(
                "column {:?} ({}) is in the table but not in this run",
                t.name(),
                type_name(t.data_type())
            )),
            Some(r) if r.data_type() != t.data_type() => {
                let what = if widens(t.data_type(), r.data_type()) {
                    "widening a column's type is not supported"
                } else {
                    "the types differ"
                };
                problems.push(format!(
                    "column {:?} is {} in the table but {} in this run ({what})",
                    t.name(),
                    type_name(t.data_type()),
                    type_name(r.data_type())
                ));
            }
            Some(_) => {}
        }
    }
    let new: Vec<&StructField> = run
        .fields()
        .filter(|r| !table_names.contains_key(r.name().as_str()))
        .collect();
    if mode == SchemaMode::Strict {
        for r in &new {
            problems.push(format!(
                "column {:?} ({}) is in this run but not in the table",
                r.name(),
                type_name(r.data_type())
            ));
        }
    }
    if !problems.is_empty() {
        let hint =
            if mode == SchemaMode::Strict && problems.iter().all(|p| p.contains("this run but")) {
                "; --schema-mode merge adds new columns to the table"
            } else {
                ""
            };
        return Err(Error::SchemaMismatch(format!(
            "this run does not fit the Delta table at {where_}: {}{hint}; nothing was written",
            problems.join("; ")
        )));
    }
    Ok(new
        .into_iter()
        .map(|f| StructField::nullable(f.name().clone(), f.data_type().clone()))
        .collect())
}

/// True when `to` holds every value of `from` (the type widening Delta readers may not know).
fn widens(from: &DataType, to: &DataType) -> bool {
    use PrimitiveType as P;
    let (DataType::Primitive(from), DataType::Primitive(to)) = (from, to) else {
        return false;
    };
    let integer = matches!(from, P::Byte | P::Short | P::Integer | P::Long);
    match to {
        P::Long => matches!(from, P::Byte | P::Short | P::Integer),
        P::Double => integer || matches!(from, P::Float | P::Decimal(_)),
        P::Decimal(_) => integer || matches!(from, P::Decimal(_)),
        P::Timestamp | P::TimestampNtz => matches!(from, P::Date),
        _ => false,
    }
}

fn type_name(t: &DataType) -> String {
    t.to_string()
}

/// The run's columns that get statistics: Delta's default, the first 32.
pub(super) fn stats_columns(data: &StructType) -> Vec<delta_kernel::expressions::ColumnName> {
    data.fields()
        .take(32)
        .map(|f| delta_kernel::expressions::ColumnName::new([f.name().clone()]))
        .collect()
}

/// The run's schema with the column-mapping annotations of the table's columns, for a merge
/// into a table mapped by name (new columns get the next ids).
pub(super) fn annotate_new(
    new: Vec<StructField>,
    table: &StructType,
    mapped: bool,
) -> Vec<StructField> {
    if !mapped {
        return new;
    }
    let max = table
        .fields()
        .filter_map(
            |f| match f.get_config_value(&ColumnMetadataKey::ColumnMappingId) {
                Some(MetadataValue::Number(n)) => Some(*n),
                _ => None,
            },
        )
        .max()
        .unwrap_or(0);
    new.into_iter()
        .enumerate()
        .map(|(i, f)| physical_as_logical(f, max + 1 + i as i64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(fields: &[(&str, DataType)]) -> StructType {
        StructType::try_new(
            fields
                .iter()
                .map(|(n, t)| StructField::nullable(*n, t.clone())),
        )
        .unwrap()
    }

    #[test]
    fn differences_are_named_and_merge_adds_only_new_columns() {
        let table = s(&[("a", DataType::LONG), ("b", DataType::STRING)]);
        let same = compare(&table, &table, None, SchemaMode::Strict, "t").unwrap();
        assert!(same.is_empty());

        let run = s(&[
            ("a", DataType::LONG),
            ("b", DataType::STRING),
            ("c", DataType::DOUBLE),
        ]);
        let e = compare(&table, &run, None, SchemaMode::Strict, "t").unwrap_err();
        assert!(matches!(e, Error::SchemaMismatch(_)));
        assert!(e.to_string().contains("\"c\""), "{e}");
        assert!(e.to_string().contains("--schema-mode merge"), "{e}");
        let added = compare(&table, &run, None, SchemaMode::Merge, "t").unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].name(), "c");

        let wider = s(&[("a", DataType::DOUBLE), ("b", DataType::STRING)]);
        let e = compare(&table, &wider, None, SchemaMode::Merge, "t").unwrap_err();
        assert!(e.to_string().contains("widening"), "{e}");
        assert!(e.to_string().contains("\"a\""), "{e}");

        let fewer = s(&[("a", DataType::LONG)]);
        let e = compare(&table, &fewer, None, SchemaMode::Strict, "t").unwrap_err();
        assert!(e.to_string().contains("\"b\""), "{e}");
        assert!(
            compare(&table, &fewer, None, SchemaMode::Merge, "t")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn names_delta_refuses_turn_on_column_mapping() {
        let (plain, mapped) = new_table_schema(&s(&[("a", DataType::LONG)]), None).unwrap();
        assert!(!mapped);
        assert_eq!(plain.fields().count(), 1);
        let (schema, mapped) =
            new_table_schema(&s(&[("Line Items", DataType::STRING)]), Some("export_date")).unwrap();
        assert!(mapped);
        let f = schema.field("Line Items").unwrap();
        assert_eq!(
            f.get_config_value(&ColumnMetadataKey::ColumnMappingPhysicalName),
            Some(&MetadataValue::String("Line Items".into()))
        );
        assert!(schema.field("export_date").is_some());
    }
}
