//! A data file's Delta statistics from its Parquet footer.
//!
//! The Parquet writer has already computed every row group's minimum, maximum and null count
//! for every column; reading them from the footer costs nothing per row, where collecting
//! statistics from the record batches again cost 10–16% of a large export's time and kept
//! batches alive until the upload task got to them.
//!
//! The kernel's collector shapes and truncates the statistics (`numRecords`, `nullCount`,
//! `minValues`, `maxValues`, `tightBounds`; string bounds cut to 32 characters). It is fed one
//! small batch holding each row group's minimum and maximum: its minimum is the file's minimum
//! and its maximum the file's maximum. Its row and null counts describe that small batch, so
//! they are replaced by the footer's.
//!
//! The writer truncates string statistics longer than 64 bytes (the minimum to a prefix, the
//! maximum to a prefix incremented); both stay bounds of the column's values, which is what
//! Delta's `minValues` and `maxValues` promise.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StructArray};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use delta_kernel::schema::StructType;
use delta_kernel_default_engine::stats::collect_stats;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;

use super::schema;
use crate::error::{Error, Result};

/// The file statistics of the file `footer` ends, whose columns are `arrow` (as written) and
/// `data` (as the table knows them).
pub(super) fn from_footer(
    footer: &ParquetMetaData,
    arrow: &SchemaRef,
    data: &StructType,
) -> Result<StructArray> {
    let row_groups = footer.row_groups();
    let parquet_schema = footer.file_metadata().schema_descr();
    let columns = schema::stats_columns(data);
    let mut bounds: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
    let mut null_counts: Vec<(String, i64)> = Vec::with_capacity(columns.len());
    for field in arrow.fields() {
        let converter = StatisticsConverter::try_new(field.name(), arrow, parquet_schema)
            .map_err(|e| failed(&format!("column {}", field.name()), e))?;
        let mins = converter
            .row_group_mins(row_groups)
            .map_err(|e| failed(field.name(), e))?;
        let maxes = converter
            .row_group_maxes(row_groups)
            .map_err(|e| failed(field.name(), e))?;
        bounds.push(concat(&[&mins, &maxes]).map_err(|e| failed(field.name(), e))?);
        let nulls = converter
            .row_group_null_counts(row_groups)
            .map_err(|e| failed(field.name(), e))?;
        // Only an absent column has no null counts; every column of ours was written.
        if nulls.null_count() > 0 {
            return Err(Error::Internal(format!(
                "Delta statistics: the footer has no null count for {}",
                field.name()
            )));
        }
        let total: u64 = nulls.values().iter().sum();
        null_counts.push((field.name().clone(), to_i64(total)?));
    }
    // Every field nullable: a row group's bound is null when all its values are.
    let bounds_schema = Schema::new(
        arrow
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(bounds_schema), bounds)
        .map_err(|e| failed("the row groups' bounds", e))?;
    let collected =
        collect_stats(&batch, &columns, data).map_err(|e| failed("the row groups' bounds", e))?;
    let rows: i64 = row_groups
        .iter()
        .map(parquet::file::metadata::RowGroupMetaData::num_rows)
        .sum();
    with_counts(&collected, rows, &null_counts)
}

/// `stats` with `numRecords` and each `nullCount` replaced.
fn with_counts(stats: &StructArray, rows: i64, nulls: &[(String, i64)]) -> Result<StructArray> {
    let (fields, mut arrays, _) = stats.clone().into_parts();
    for (i, field) in fields.iter().enumerate() {
        match field.name().as_str() {
            delta_kernel::actions::NUM_RECORDS => {
                arrays[i] = Arc::new(Int64Array::from(vec![rows]));
            }
            delta_kernel::actions::NULL_COUNT => {
                let (children, counts, _) = arrays[i].as_struct().clone().into_parts();
                let counts = children
                    .iter()
                    .zip(counts)
                    .map(
                        |(child, old)| match nulls.iter().find(|(name, _)| name == child.name()) {
                            Some((_, n)) if child.data_type() == &DataType::Int64 => {
                                Arc::new(Int64Array::from(vec![*n])) as ArrayRef
                            }
                            _ => old,
                        },
                    )
                    .collect();
                let rebuilt = StructArray::try_new(children, counts, None)
                    .map_err(|e| failed("null counts", e))?;
                arrays[i] = Arc::new(rebuilt);
            }
            _ => {}
        }
    }
    StructArray::try_new(fields, arrays, None).map_err(|e| failed("the statistics", e))
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Internal("a null count beyond 2^63".into()))
}

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("Delta statistics of {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use arrow::array::{BooleanArray, Float64Array, StringArray};
    use arrow::datatypes::Field;
    use arrow::datatypes::Int64Type;
    use delta_kernel::schema::{DataType as KernelType, StructField};
    use delta_kernel_default_engine::stats::FileStatsAccumulator;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// One row group's strings, numbers and flags.
    type Rows<'a> = (Vec<Option<&'a str>>, Vec<Option<f64>>, Vec<Option<bool>>);

    fn batches(schema: &SchemaRef) -> Vec<RecordBatch> {
        let long = "ü".repeat(40);
        let rows: [Rows<'_>; 3] = [
            (
                vec![Some("m"), None, Some("b")],
                vec![Some(2.5), Some(-1.0), None],
                vec![Some(true), None, None],
            ),
            (
                vec![None, None, None],
                vec![None, None, None],
                vec![None, None, None],
            ),
            (
                vec![Some(long.as_str()), Some("a"), Some("zz")],
                vec![Some(9.0), None, Some(0.0)],
                vec![Some(false), Some(true), None],
            ),
        ];
        rows.into_iter()
            .map(|(s, f, b)| {
                RecordBatch::try_new(
                    Arc::clone(schema),
                    vec![
                        Arc::new(StringArray::from(s)),
                        Arc::new(Float64Array::from(f)),
                        Arc::new(BooleanArray::from(b)),
                    ],
                )
                .unwrap()
            })
            .collect()
    }

    /// The test file's columns, as written and as the table knows them.
    fn columns() -> (SchemaRef, StructType) {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("Item", DataType::Utf8, true),
            Field::new("Value", DataType::Float64, true),
            Field::new("Flag", DataType::Boolean, true),
        ]));
        let data = StructType::try_new([
            StructField::nullable("Item", KernelType::STRING),
            StructField::nullable("Value", KernelType::DOUBLE),
            StructField::nullable("Flag", KernelType::BOOLEAN),
        ])
        .unwrap();
        (schema, data)
    }

    /// The footer gives the same statistics as collecting them from every batch, row groups
    /// of all nulls and long multi-byte strings included.
    #[test]
    fn footer_statistics_match_the_batches() {
        let (schema, data) = columns();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .set_statistics_truncate_length(None)
            .build();
        let mut writer =
            ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(props)).unwrap();
        let mut accumulator = FileStatsAccumulator::new(&schema::stats_columns(&data), &data);
        for b in batches(&schema) {
            writer.write(&b).unwrap();
            writer.flush().unwrap();
            accumulator.merge(&b).unwrap();
        }
        let footer = writer.finish().unwrap();
        assert_eq!(footer.num_row_groups(), 3);
        let ours = from_footer(&footer, &schema, &data).unwrap();
        let theirs = accumulator.finish().unwrap().unwrap();
        assert_eq!(ours, theirs);
        let records = ours.column_by_name("numRecords").unwrap();
        assert_eq!(records.as_primitive::<Int64Type>().value(0), 9);
        let nulls = ours.column_by_name("nullCount").unwrap().as_struct();
        assert_eq!(nulls.column(0).as_primitive::<Int64Type>().value(0), 4);
    }

    /// With the writer's default truncation of long string statistics, the bounds still hold
    /// every value.
    #[test]
    fn truncated_footer_statistics_are_still_bounds() {
        let (schema, data) = columns();
        let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), None).unwrap();
        let all = batches(&schema);
        for b in &all {
            writer.write(b).unwrap();
        }
        let footer = writer.close().unwrap();
        let stats = from_footer(&footer, &schema, &data).unwrap();
        let bound = |section: &str| {
            let s = stats.column_by_name(section).unwrap().as_struct();
            s.column(0).as_string::<i32>().value(0).to_owned()
        };
        let (min, max) = (bound("minValues"), bound("maxValues"));
        for b in &all {
            for v in b.column(0).as_string::<i32>().iter().flatten() {
                assert!(
                    min.as_str() <= v && v <= max.as_str(),
                    "{v:?} outside {min:?}..{max:?}"
                );
            }
        }
        assert_eq!(min, "a");
    }

    #[test]
    fn a_file_without_rows_has_zero_records() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let data = StructType::try_new([StructField::nullable("n", KernelType::LONG)]).unwrap();
        let writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), None).unwrap();
        let footer = writer.close().unwrap();
        let stats = from_footer(&footer, &schema, &data).unwrap();
        let records = stats.column_by_name("numRecords").unwrap();
        assert_eq!(records.as_primitive::<Int64Type>().value(0), 0);
        let nulls = stats.column_by_name("nullCount").unwrap().as_struct();
        assert_eq!(nulls.column(0).as_primitive::<Int64Type>().value(0), 0);
    }
}
