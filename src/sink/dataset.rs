//! Append mode: the datasets a run adds one part to. Part names that sort by time and never
//! collide, listing a dataset's parts (hidden and metadata files skipped), and the check that
//! every existing part has the run's schema and layout, read from each part's footer.

use std::sync::Arc;

use arrow::datatypes::Schema;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

use super::errors::{NOTHING_WRITTEN, explain, store_error};
use super::options::PARTITION_COLUMN;
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};

/// Existing parts whose footers are read at the same time.
const FOOTER_READ_CONCURRENCY: usize = 8;
/// Footer read hint: one ranged GET covers the footer of any reasonable part.
const FOOTER_SIZE_HINT: usize = 64 << 10;

/// The name of one appended part, fixed at the start of an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PartName {
    at: DateTime<Utc>,
    id: String,
}

impl PartName {
    pub(super) fn now() -> Self {
        PartName {
            at: Utc::now(),
            id: format!("{:08x}", fastrand::u32(..)),
        }
    }

    /// `part-20261124T053000Z-3f9a1c0d.parquet`: sorts by UTC time, the id breaks ties.
    pub(super) fn file_name(&self) -> String {
        format!(
            "part-{}-{}.parquet",
            self.at.format("%Y%m%dT%H%M%SZ"),
            self.id
        )
    }

    /// `export_date=2026-11-24` (UTC).
    pub(super) fn partition_dir(&self) -> String {
        format!("{PARTITION_COLUMN}={}", self.at.format("%Y-%m-%d"))
    }
}

/// One existing data file of a dataset: where it is relative to the prefix.
#[derive(Debug)]
pub(super) struct ExistingPart {
    meta: ObjectMeta,
    relative: Vec<String>,
}

/// Lists the dataset's Parquet parts (skipping `_`/`.`-prefixed names and other files).
pub(super) async fn list_parts(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
) -> object_store::Result<Vec<ExistingPart>> {
    let listing = if prefix.as_ref().is_empty() {
        store.list(None)
    } else {
        store.list(Some(prefix))
    };
    let metas: Vec<ObjectMeta> = match listing.try_collect().await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut parts: Vec<ExistingPart> = metas
        .into_iter()
        .filter_map(|meta| {
            let relative: Vec<String> = meta
                .location
                .prefix_match(prefix)?
                .map(|p| p.as_ref().to_string())
                .collect();
            is_data_file(&relative).then_some(ExistingPart { meta, relative })
        })
        .collect();
    parts.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(parts)
}

/// A Parquet part, not hidden (`.tmp`) or metadata (`_SUCCESS`, `_delta_log/`).
fn is_data_file(relative: &[String]) -> bool {
    let Some(name) = relative.last() else {
        return false;
    };
    name.ends_with(".parquet")
        && relative
            .iter()
            .all(|seg| !seg.is_empty() && !seg.starts_with(['_', '.']))
}

fn is_date_partitioned(relative: &[String]) -> bool {
    relative.len() == 2 && relative[0].starts_with(&format!("{PARTITION_COLUMN}="))
}

/// Every existing part must have `schema` and the same layout (partitioned or not).
pub(super) async fn check_dataset(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
    display: &str,
    schema: &Schema,
    partitioned: bool,
) -> Result<()> {
    let shown = display;
    let parts = list_parts(store, prefix).await.map_err(|e| {
        store_error(
            display,
            &format!("listing the dataset {display}"),
            e,
            NOTHING_WRITTEN,
        )
    })?;
    if parts.is_empty() {
        tracing::debug!(dataset = %shown, "new dataset");
        return Ok(());
    }
    tracing::debug!(dataset = %shown, parts = parts.len(), "checking existing parts");
    if let Some(p) = parts
        .iter()
        .find(|p| is_date_partitioned(&p.relative) != partitioned)
    {
        let (has, run) = if partitioned {
            (
                "parts outside export_date=... partitions",
                "with --partition-by-date",
            )
        } else {
            ("export_date=... partitions", "without --partition-by-date")
        };
        return Err(Error::SchemaMismatch(format!(
            "the dataset {display} has {has} (e.g. {}), and this run writes {run}: the dataset \
             would not read as one table; keep --partition-by-date the same for every run, or \
             write to a new prefix; nothing was written",
            p.relative.join("/")
        )));
    }
    let count = parts.len();
    let mut schemas = futures::stream::iter(parts)
        .map(|p| async move {
            let schema = read_part_schema(store, &p.meta).await;
            (p, schema)
        })
        .buffered(FOOTER_READ_CONCURRENCY);
    while let Some((part, found)) = schemas.next().await {
        let name = part.relative.join("/");
        let found = found.map_err(|e| {
            DestinationError::new(
                DestinationErrorKind::Store,
                format!("{display}{name}"),
                format!(
                    "cannot read the Parquet footer of the existing part {display}{name}: {e}; \
                     nothing was written"
                ),
            )
        })?;
        let diffs = schema_differences(&found, schema);
        if !diffs.is_empty() {
            return Err(Error::SchemaMismatch(format!(
                "this run's schema does not match the existing part {display}{name} ({}); every \
                 part of a dataset must have the same schema, or it will not read as one table. \
                 Force the dataset's types with --type COLUMN=TYPE or --schema FILE, or write to \
                 a new prefix; nothing was written",
                diffs.join("; ")
            )));
        }
    }
    tracing::debug!(dataset = %shown, parts = count, "existing parts have the same schema");
    Ok(())
}

/// The Arrow schema of one Parquet file, from its footer: one ranged GET of the file's tail
/// (a second one only when the footer is larger than [`FOOTER_SIZE_HINT`]).
async fn read_part_schema(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> std::result::Result<Schema, String> {
    const TAIL: u64 = 8;
    let size = meta.size;
    if size < 12 {
        return Err(format!("{size} bytes is too small to be a Parquet file"));
    }
    let hint = size.min(FOOTER_SIZE_HINT as u64);
    let get = |range: std::ops::Range<u64>| async move {
        store
            .get_range(&meta.location, range)
            .await
            .map_err(|e| explain(&e))
    };
    let tail = get(size - hint..size).await?;
    let footer = FooterTail::try_from(&tail[tail.len() - TAIL as usize..])
        .map_err(|e| format!("not a Parquet file ({e})"))?;
    if footer.is_encrypted_footer() {
        return Err("the footer is encrypted".into());
    }
    let len = footer.metadata_length() as u64;
    if len + TAIL > size {
        return Err("not a Parquet file (footer length beyond the file)".into());
    }
    let bytes = if len + TAIL <= hint {
        let end = (hint - TAIL) as usize;
        tail.slice(end - len as usize..end)
    } else {
        get(size - TAIL - len..size - TAIL).await?
    };
    let metadata = ParquetMetaDataReader::decode_metadata(&bytes).map_err(|e| e.to_string())?;
    let file = metadata.file_metadata();
    parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| e.to_string())
}

/// Column-by-column differences between a dataset's schema and a run's, in words. Nullability
/// and metadata are ignored: readers unify them.
fn schema_differences(dataset: &Schema, run: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for f in dataset.fields() {
        match run.field_with_name(f.name()) {
            Err(_) => out.push(format!(
                "column {:?} ({}) is missing from this run",
                f.name(),
                f.data_type()
            )),
            Ok(g) if !f.data_type().equals_datatype(g.data_type()) => out.push(format!(
                "column {:?} is {} in the dataset but {} in this run",
                f.name(),
                f.data_type(),
                g.data_type()
            )),
            Ok(_) => {}
        }
    }
    for g in run.fields() {
        if dataset.field_with_name(g.name()).is_err() {
            out.push(format!(
                "column {:?} ({}) is new in this run",
                g.name(),
                g.data_type()
            ));
        }
    }
    if out.is_empty() {
        let a: Vec<&String> = dataset.fields().iter().map(|f| f.name()).collect();
        let b: Vec<&String> = run.fields().iter().map(|f| f.name()).collect();
        if a != b {
            out.push(format!(
                "the columns are in a different order: dataset {a:?}, this run {b:?}"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    #[test]
    fn part_names_sort_by_time_and_are_unique() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T05:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = PartName {
            at: t0,
            id: "3f9a1c0d".into(),
        };
        assert_eq!(a.file_name(), "part-20261124T053000Z-3f9a1c0d.parquet");
        assert_eq!(a.partition_dir(), "export_date=2026-11-24");

        // Later runs sort after earlier ones whatever their ids.
        let times = [0i64, 1, 59, 60, 3_600, 86_399, 86_400, 31_536_000];
        let names: Vec<String> = times
            .iter()
            .enumerate()
            .map(|(i, s)| {
                PartName {
                    at: t0 + chrono::Duration::seconds(*s),
                    id: format!("{:08x}", u32::MAX - i as u32),
                }
                .file_name()
            })
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);

        let ids: std::collections::HashSet<String> =
            (0..200).map(|_| PartName::now().file_name()).collect();
        assert_eq!(ids.len(), 200);
        let n = PartName::now().file_name();
        assert!(is_data_file(&[n]));
    }

    #[test]
    fn dataset_file_filter() {
        let cases: &[(&[&str], bool)] = &[
            (&["part-1.parquet"], true),
            (&["export_date=2026-01-01", "part-1.parquet"], true),
            (&["_SUCCESS"], false),
            (&["_delta_log", "x.parquet"], false),
            (&[".part-1.parquet.abc.partial"], false),
            (&[".hidden.parquet"], false),
            (&["notes.txt"], false),
            (&["_tmp.parquet"], false),
        ];
        for (rel, want) in cases {
            let rel: Vec<String> = rel.iter().map(|s| (*s).to_string()).collect();
            assert_eq!(is_data_file(&rel), *want, "{rel:?}");
        }
        assert!(is_date_partitioned(&[
            "export_date=2026-01-01".into(),
            "p.parquet".into()
        ]));
        assert!(!is_date_partitioned(&["p.parquet".into()]));
    }

    #[test]
    fn schema_differences_name_the_columns() {
        let ds = Schema::new(vec![
            Field::new("Item", DataType::Utf8, true),
            Field::new("Value", DataType::Float64, true),
            Field::new("Old", DataType::Utf8, true),
        ]);
        let run = Schema::new(vec![
            Field::new("Item", DataType::Utf8, false),
            Field::new("Value", DataType::Int64, true),
            Field::new("New", DataType::Boolean, true),
        ]);
        let d = schema_differences(&ds, &run);
        assert_eq!(
            d,
            vec![
                "column \"Value\" is Float64 in the dataset but Int64 in this run",
                "column \"Old\" (Utf8) is missing from this run",
                "column \"New\" (Boolean) is new in this run",
            ]
        );
        assert!(schema_differences(&ds, &ds).is_empty());
        let swapped = Schema::new(vec![
            ds.field(1).clone(),
            ds.field(0).clone(),
            ds.field(2).clone(),
        ]);
        assert!(schema_differences(&ds, &swapped)[0].contains("different order"));
    }
}
