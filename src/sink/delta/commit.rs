//! One run's commit to the table's log: create the table or update it, add the run's file
//! (and, in replace mode, remove every file of the snapshot it read), with the provenance in
//! the commit info. Commits are optimistic: another writer that commits the same version first
//! makes ours conflict, and it is rebuilt on the newer snapshot and tried again.
//!
//! Runs on a blocking thread: delta_kernel's transaction API is synchronous (its default
//! engine drives the store on its own runtime).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, Int64Array, MapBuilder, MapFieldNames, RecordBatch, StringArray,
    StringBuilder, StructArray,
};
use arrow::datatypes::{DataType as ArrowType, Field, Fields, Schema as ArrowSchema};
use delta_kernel::committer::FileSystemCommitter;
use delta_kernel::engine::arrow_conversion::TryFromArrow;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::schema::StructType;
use delta_kernel::snapshot::{Snapshot, SnapshotRef};
use delta_kernel::table_features::ColumnMappingMode;
use delta_kernel::transaction::create_table::create_table;
use delta_kernel::transaction::data_layout::DataLayout;
use delta_kernel::transaction::{CommitResult, Transaction, UpdateTableOperation};
use delta_kernel::{Engine, EngineData, KernelError};
use url::Url;

use super::schema::{self, COLUMN_MAPPING_MODE};
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};
use crate::sink::{SchemaMode, WriteMode};

/// Commit attempts before giving up on a busy table.
const MAX_ATTEMPTS: u32 = 25;

/// Who writes, in the commit info's `engineInfo`.
pub(super) const ENGINE_INFO: &str = concat!("anaplan-parquet/", env!("CARGO_PKG_VERSION"));

/// The file a run adds.
pub(super) struct NewFile {
    /// Relative to the table root (`part-….parquet`, or `export_date=…/part-….parquet`).
    pub path: String,
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modification_time: i64,
    /// `export_date` → `YYYY-MM-DD`, when partitioned by date.
    pub partition: Option<(String, String)>,
    /// numRecords, nullCount, minValues, maxValues, tightBounds (one row).
    pub stats: StructArray,
}

/// Everything one commit needs.
pub(super) struct CommitRequest {
    pub root: Url,
    /// The columns of the file (without the partition column).
    pub data: StructType,
    pub mode: WriteMode,
    pub schema_mode: SchemaMode,
    pub file: NewFile,
    /// Workspace, model, export, task id, tool version: the commit info's `anaplanParquet`.
    pub provenance: BTreeMap<String, String>,
    /// For messages.
    pub display: String,
}

/// What the table looks like now: absent, or its latest snapshot.
pub(super) fn latest(
    engine: &dyn Engine,
    root: &Url,
    display: &str,
) -> Result<Option<SnapshotRef>> {
    let log = root
        .join("_delta_log/")
        .map_err(|e| Error::Internal(format!("cannot name the log of {display}: {e}")))?;
    let listed = engine.storage_handler().list_from(&log);
    // Only a commit or a checkpoint makes a table (`00000000000000000000.json`, ...).
    let mut exists = false;
    match listed {
        Ok(files) => {
            for f in files {
                match f {
                    Ok(f) => {
                        let name = f.location.path().rsplit('/').next().unwrap_or_default();
                        if name.starts_with(|c: char| c.is_ascii_digit()) {
                            exists = true;
                            break;
                        }
                    }
                    Err(KernelError::FileNotFound(_)) => break,
                    Err(e) => return Err(kernel_error(display, "reading the table's log", e)),
                }
            }
        }
        Err(KernelError::FileNotFound(_)) => {}
        Err(e) => return Err(kernel_error(display, "reading the table's log", e)),
    }
    if !exists {
        return Ok(None);
    }
    Snapshot::builder_for(root.as_str())
        .build(engine)
        .map(Some)
        .map_err(|e| kernel_error(display, "reading the table's latest version", e))
}

/// Checks the run's columns against the table (if there is one) before anything is written.
pub(super) fn check_schema(
    snapshot: Option<&SnapshotRef>,
    data: &StructType,
    partition: Option<&str>,
    mode: SchemaMode,
    display: &str,
) -> Result<()> {
    if let Some(s) = snapshot {
        schema::compare(&s.schema(), data, partition, mode, display)?;
    } else {
        schema::new_table_schema(data, partition)?;
    }
    Ok(())
}

/// Commits the run's file; the table version it became.
///
/// Each commit carries a transaction id unique to the file (`txn` action, app id
/// `anaplan-parquet/<file>`). Before every attempt, and when an attempt fails, the latest
/// version is asked whether it holds that id: a commit whose answer was lost (a timeout after
/// the store wrote it) is then recognised as done, neither committed twice nor its file
/// deleted from under the table.
pub(super) fn commit(engine: &dyn Engine, req: &CommitRequest) -> Result<u64> {
    match try_commit(engine, req) {
        Ok(v) => Ok(v),
        Err(e) => match landed(engine, req) {
            Ok(Some(v)) => Ok(v),
            _ => Err(e),
        },
    }
}

/// The table's version, when a commit of ours (this file's transaction id) is in it.
fn landed(engine: &dyn Engine, req: &CommitRequest) -> Result<Option<u64>> {
    let Some(snapshot) = latest(engine, &req.root, &req.display)? else {
        return Ok(None);
    };
    let found = snapshot
        .get_app_id_version(&app_id(req), engine)
        .map_err(|e| kernel_error(&req.display, "reading the table's transactions", e))?;
    Ok(found.map(|_| snapshot.version()))
}

/// The transaction id of the run's file.
fn app_id(req: &CommitRequest) -> String {
    format!("anaplan-parquet/{}", req.file.path)
}

fn try_commit(engine: &dyn Engine, req: &CommitRequest) -> Result<u64> {
    let partition = req.file.partition.as_ref().map(|(k, _)| k.as_str());
    for attempt in 1..=MAX_ATTEMPTS {
        let snapshot = latest(engine, &req.root, &req.display)?;
        if attempt > 1
            && let Some(s) = &snapshot
            && s.get_app_id_version(&app_id(req), engine)
                .map_err(|e| kernel_error(&req.display, "reading the table's transactions", e))?
                .is_some()
        {
            return Ok(s.version());
        }
        let result = match snapshot {
            None => create(engine, req, partition)?,
            Some(s) => update(engine, req, &s, partition)?,
        };
        match result {
            Attempt::Committed(v) => return Ok(v),
            Attempt::Conflicted(v) => {
                tracing::info!(
                    table = %req.display, version = v, attempt,
                    "another writer committed version {v} first; trying again on the new version"
                );
            }
            Attempt::Retryable(e) => {
                tracing::info!(table = %req.display, attempt, "commit failed transiently: {e}");
            }
        }
        // Jittered, growing pause, so that writers racing in step fall out of it.
        let ms = 20u64 * u64::from(attempt.min(10)) + fastrand::u64(0..50);
        std::thread::sleep(Duration::from_millis(ms));
    }
    Err(Error::Destination(Box::new(DestinationError::new(
        DestinationErrorKind::Transient,
        req.display.clone(),
        format!(
            "could not commit to the Delta table at {}: other writers committed first {MAX_ATTEMPTS} \
             times in a row; the data file was removed, nothing was committed",
            req.display
        ),
    ))))
}

enum Attempt {
    Committed(u64),
    Conflicted(u64),
    Retryable(KernelError),
}

fn settle<S>(display: &str, r: delta_kernel::KernelResult<CommitResult<S>>) -> Result<Attempt> {
    match r {
        Ok(CommitResult::Committed(c)) => Ok(Attempt::Committed(c.commit_version())),
        Ok(CommitResult::Conflicted(c)) => Ok(Attempt::Conflicted(c.conflict_version())),
        Ok(CommitResult::Retryable(r)) => Ok(Attempt::Retryable(r.error)),
        Err(e) => Err(kernel_error(display, "committing", e)),
    }
}

fn create(engine: &dyn Engine, req: &CommitRequest, partition: Option<&str>) -> Result<Attempt> {
    let (table_schema, mapped) = schema::new_table_schema(&req.data, partition)?;
    let mut builder = create_table(req.root.as_str(), Arc::new(table_schema), ENGINE_INFO, true)
        .with_operation_parameters(operation_parameters(req, partition))
        .with_transaction_id(app_id(req), 1);
    if mapped {
        builder = builder.with_table_properties([(COLUMN_MAPPING_MODE, "name")]);
    }
    if let Some(p) = partition {
        builder = builder.with_data_layout(DataLayout::partitioned([p]));
    }
    let (info, info_schema) = commit_info(&req.provenance)?;
    let mut txn = match builder
        .with_commit_info(info, info_schema)
        .build(engine, Box::new(FileSystemCommitter::new()))
    {
        Ok(t) => t,
        // Another writer created the table between our look and now: update it instead.
        Err(KernelError::TableAlreadyExistsAtPath(_)) => return Ok(Attempt::Conflicted(0)),
        Err(e) => return Err(kernel_error(&req.display, "creating the table", e)),
    };
    txn.add_files(add_files(&req.file)?);
    settle(&req.display, txn.commit(engine))
}

fn update(
    engine: &dyn Engine,
    req: &CommitRequest,
    snapshot: &SnapshotRef,
    partition: Option<&str>,
) -> Result<Attempt> {
    let table = snapshot.schema();
    let new = schema::compare(&table, &req.data, partition, req.schema_mode, &req.display)?;
    let mapped = matches!(
        snapshot.table_properties().column_mapping_mode,
        Some(ColumnMappingMode::Name | ColumnMappingMode::Id)
    );
    let (info, info_schema) = commit_info(&req.provenance)?;
    let mut builder = Arc::clone(snapshot)
        .update_table(UpdateTableOperation::Write, ENGINE_INFO, true)
        .with_operation_parameters(operation_parameters(req, partition))
        .with_transaction_id(app_id(req), 1)
        .with_commit_info(info, info_schema);
    let adds_columns = !new.is_empty();
    for field in schema::annotate_new(new, &table, mapped) {
        builder = builder.add_column(field);
    }
    if req.mode == WriteMode::Append && !adds_columns {
        builder = builder.with_blind_append();
    }
    let mut txn: Transaction = builder
        .build(engine, Box::new(FileSystemCommitter::new()))
        .map_err(|e| kernel_error(&req.display, "starting the commit", e))?;
    let expected: Vec<String> = partition.map(str::to_owned).into_iter().collect();
    if txn.logical_partition_columns() != expected.as_slice() {
        return Err(Error::SchemaMismatch(format!(
            "the Delta table at {} is partitioned by {:?}, this run by {:?}; nothing was written",
            req.display,
            txn.logical_partition_columns(),
            expected
        )));
    }
    if req.mode == WriteMode::Replace {
        let scan = Arc::clone(snapshot)
            .scan_builder()
            .build()
            .map_err(|e| kernel_error(&req.display, "listing the table's files", e))?;
        let files = scan
            .scan_metadata(engine)
            .map_err(|e| kernel_error(&req.display, "listing the table's files", e))?;
        for meta in files {
            let meta =
                meta.map_err(|e| kernel_error(&req.display, "listing the table's files", e))?;
            txn.remove_files(meta.scan_files);
        }
    }
    txn.add_files(add_files(&req.file)?);
    settle(&req.display, txn.commit(engine))
}

fn operation_parameters(
    req: &CommitRequest,
    partition: Option<&str>,
) -> Vec<(&'static str, Option<String>)> {
    let mode = match req.mode {
        WriteMode::Append => "Append",
        WriteMode::Replace => "Overwrite",
    };
    let partition_by = match partition {
        Some(p) => format!("[{p:?}]"),
        None => "[]".to_owned(),
    };
    vec![
        ("mode", Some(mode.to_owned())),
        ("partitionBy", Some(partition_by)),
    ]
}

/// The commit info's `anaplanParquet` object: one string per provenance entry.
fn commit_info(
    provenance: &BTreeMap<String, String>,
) -> Result<(Box<dyn EngineData>, delta_kernel::schema::SchemaRef)> {
    let fields: Vec<Field> = provenance
        .keys()
        .map(|k| Field::new(k, ArrowType::Utf8, true))
        .collect();
    let columns: Vec<ArrayRef> = provenance
        .values()
        .map(|v| Arc::new(StringArray::from(vec![v.as_str()])) as ArrayRef)
        .collect();
    let inner = StructArray::try_new(Fields::from(fields), columns, None)
        .map_err(|e| Error::Internal(format!("commit info: {e}")))?;
    let schema = ArrowSchema::new(vec![Field::new(
        "anaplanParquet",
        inner.data_type().clone(),
        true,
    )]);
    let kernel_schema = StructType::try_from_arrow(&schema)
        .map_err(|e| Error::Internal(format!("commit info schema: {e}")))?;
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(inner)])
        .map_err(|e| Error::Internal(format!("commit info: {e}")))?;
    Ok((
        Box::new(ArrowEngineData::new(batch)),
        Arc::new(kernel_schema),
    ))
}

/// The add action's fields for the run's file, in the shape `Transaction::add_files` takes.
fn add_files(file: &NewFile) -> Result<Box<dyn EngineData>> {
    let names = MapFieldNames {
        entry: "key_value".to_owned(),
        key: "key".to_owned(),
        value: "value".to_owned(),
    };
    let mut partitions = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_values_field(Field::new("value", ArrowType::Utf8, true));
    if let Some((k, v)) = &file.partition {
        partitions.keys().append_value(k);
        partitions.values().append_value(v);
    }
    partitions
        .append(true)
        .map_err(|e| Error::Internal(format!("add action: {e}")))?;
    let partitions = partitions.finish();
    let size = i64::try_from(file.size)
        .map_err(|_| Error::Internal("a data file larger than 8 EiB".into()))?;
    let schema = ArrowSchema::new(vec![
        Field::new("path", ArrowType::Utf8, false),
        Field::new("partitionValues", partitions.data_type().clone(), false),
        Field::new("size", ArrowType::Int64, false),
        Field::new("modificationTime", ArrowType::Int64, false),
        Field::new("stats", file.stats.data_type().clone(), true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec![file.path.as_str()])),
            Arc::new(partitions),
            Arc::new(Int64Array::from(vec![size])),
            Arc::new(Int64Array::from(vec![file.modification_time])),
            Arc::new(file.stats.clone()),
        ],
    )
    .map_err(|e| Error::Internal(format!("add action: {e}")))?;
    Ok(Box::new(ArrowEngineData::new(batch)))
}

/// A delta_kernel failure as a destination error (kind `Store`; a storage failure inside it is
/// classified by its type where the kernel keeps it).
pub(super) fn kernel_error(display: &str, doing: &str, e: KernelError) -> Error {
    let kind = match &e {
        KernelError::ObjectStore(object_store::Error::PermissionDenied { .. }) => {
            DestinationErrorKind::PermissionDenied
        }
        KernelError::ObjectStore(object_store::Error::Unauthenticated { .. }) => {
            DestinationErrorKind::Unauthenticated
        }
        KernelError::ObjectStore(object_store::Error::NotImplemented { .. }) => {
            DestinationErrorKind::Store
        }
        _ => DestinationErrorKind::Store,
    };
    let message = crate::sink::errors::redact_url_text(&format!(
        "Delta table at {display}: {doing} failed: {e}"
    ));
    Error::Destination(Box::new(
        DestinationError::new(kind, display, message).with_cause(e),
    ))
}
