//! Delta Lake tables as a destination (`format = delta`): DEST is a table's root, and each run
//! is one commit to its log (`_delta_log/NNNNNNNNNNNNNNNNNNNN.json`).
//!
//! ## How a run writes
//!
//! 1. [`DeltaTable::begin`] reads the table's latest version (if there is a table) and checks
//!    the run's columns against it ([`schema::compare`]): a mismatch stops the run before any
//!    data is written, naming the columns.
//! 2. The engine's own streaming encoder writes one Parquet data file under the root
//!    (`part-<UTC time>-<random>.parquet`, under `export_date=YYYY-MM-DD/` when partitioned),
//!    through the same uploader as plain Parquet (a multipart upload, or a staged local file).
//!    While it streams, each record batch also feeds the file's statistics.
//! 3. [`SinkWriter::commit`] completes the upload and commits one log entry: in append mode
//!    the new file; in replace mode the new file plus the removal of every file of the version
//!    it read (the old files stay in storage, for time travel, until `table vacuum`). The
//!    first run creates the table with its schema.
//!
//! Readers only see files named in the log, so a data file whose run failed or was killed is
//! invisible; a failed run also deletes it ([`SinkWriter::abort`], or a failed commit).
//!
//! ## Many writers
//!
//! A commit writes the next log entry with put-if-absent (a local exclusive create; on S3 a
//! conditional `PUT` with `If-None-Match: *`). When another writer took that version first,
//! the commit is rebuilt on the newer version and tried again ([`commit::commit`]), so two
//! appends both land; a replace that races an append removes what the version it commits on
//! holds. [`DeltaTable::check`] makes sure an S3 store refuses a second create of the same key
//! before anything is written: without that, two writers could overwrite each other's commit.
//!
//! | module | job |
//! |---|---|
//! | `schema` | the run's columns against the table's; column mapping for names with spaces |
//! | `commit` | the optimistic commit: create or update, add and remove files, retries |
//! | `writer` | [`DeltaWriter`]: the data file's upload, statistics, and the commit |
//! | `history` | `table history` and `table vacuum` |

mod commit;
pub(crate) mod history;
mod schema;
mod stats;
mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arrow::datatypes::Schema;
use chrono::Utc;
use delta_kernel_default_engine::DefaultEngine;
use delta_kernel_default_engine::executor::tokio::TokioBackgroundExecutor;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use url::Url;

pub(crate) use self::writer::DeltaWriter;
use super::errors::{NOTHING_WRITTEN, store_error};
use super::observe::UploadObserver;
use super::options::PARTITION_COLUMN;
use super::{IfExists, SchemaMode, WriteMode};
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};

/// The kernel's engine over our store client.
pub(super) type Engine = DefaultEngine<TokioBackgroundExecutor>;

/// A Delta table at a local path or in a bucket, and how this run writes to it.
pub(crate) struct DeltaTable {
    store: Arc<dyn ObjectStore>,
    /// The root as the kernel sees it (ends in `/`; its path is the key in `store`).
    root: Url,
    /// The root's key in `store` (no trailing `/`).
    key: StorePath,
    /// For messages: a path, or a URL without credentials.
    display: String,
    mode: WriteMode,
    if_exists: IfExists,
    partition_by_date: bool,
    schema_mode: SchemaMode,
    part_size: usize,
    concurrency: usize,
    /// S3: check that the store honours conditional writes before the first commit.
    needs_conditional_put: bool,
    /// Set once the check passed (by [`DeltaTable::check`] or the first `begin`).
    conditional_put_checked: AtomicBool,
    observer: Option<Arc<UploadObserver>>,
    /// Recorded in the commit info.
    provenance: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for DeltaTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaTable")
            .field("root", &self.display)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// How to reach a table: the store client, its root, and what kind of store it is.
pub(super) struct TablePlace {
    pub store: Arc<dyn ObjectStore>,
    pub key: StorePath,
    pub root: Url,
    pub display: String,
    pub is_s3: bool,
    pub observer: Option<Arc<UploadObserver>>,
}

/// The run's settings for a table.
pub(super) struct TableSettings {
    pub mode: WriteMode,
    pub if_exists: IfExists,
    pub partition_by_date: bool,
    pub schema_mode: SchemaMode,
    pub part_size: usize,
    pub concurrency: usize,
}

impl DeltaTable {
    pub(super) fn new(place: TablePlace, settings: &TableSettings) -> Self {
        let mut provenance = BTreeMap::new();
        provenance.insert(
            "toolVersion".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        );
        DeltaTable {
            store: place.store,
            root: place.root,
            key: place.key,
            display: place.display,
            mode: settings.mode,
            if_exists: settings.if_exists,
            partition_by_date: settings.partition_by_date,
            schema_mode: settings.schema_mode,
            part_size: settings.part_size,
            concurrency: settings.concurrency,
            needs_conditional_put: place.is_s3,
            conditional_put_checked: AtomicBool::new(false),
            observer: place.observer,
            provenance: Mutex::new(provenance),
        }
    }

    /// The table root for messages, with `(delta)`.
    pub(super) fn describe(&self) -> String {
        format!("{} (delta)", self.display.trim_end_matches('/'))
    }

    /// Records one provenance entry (`workspace`, `model`, `export`, `taskId`) for the commit.
    pub(crate) fn set_provenance(&self, key: &str, value: &str) {
        self.provenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), value.to_owned());
    }

    fn provenance(&self) -> BTreeMap<String, String> {
        self.provenance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn engine(&self) -> Engine {
        DefaultEngine::builder(Arc::clone(&self.store)).build()
    }

    /// Before any data moves: the store answers, it honours conditional writes (S3), the
    /// table's log can be read, and `--if-exists fail` finds no table.
    pub(super) async fn check(self: &Arc<Self>) -> Result<()> {
        self.check_conditional_put().await?;
        let snapshot = self.latest().await?;
        if snapshot.is_some() && self.mode == WriteMode::Replace && self.if_exists == IfExists::Fail
        {
            return Err(Error::Destination(Box::new(DestinationError::new(
                DestinationErrorKind::AlreadyExists,
                self.display.clone(),
                format!(
                    "a Delta table already exists at {} (--if-exists fail){NOTHING_WRITTEN}",
                    self.display
                ),
            ))));
        }
        Ok(())
    }

    /// The table's latest version, or `None` when there is no table yet.
    async fn latest(self: &Arc<Self>) -> Result<Option<delta_kernel::snapshot::SnapshotRef>> {
        let table = Arc::clone(self);
        blocking(move || commit::latest(&table.engine(), &table.root, &table.display)).await
    }

    /// Writes a probe object twice with put-if-absent: the second must be refused. A store that
    /// accepts it would let two writers overwrite each other's commit, so the run stops.
    async fn check_conditional_put(&self) -> Result<()> {
        if !self.needs_conditional_put || self.conditional_put_checked.load(Ordering::Acquire) {
            return Ok(());
        }
        self.probe_conditional_put().await?;
        self.conditional_put_checked.store(true, Ordering::Release);
        Ok(())
    }

    async fn probe_conditional_put(&self) -> Result<()> {
        // Beside the log, not in it (readers and writers list the log), under a `_` name that
        // Delta readers and `table vacuum` ignore.
        let probe = self
            .key
            .clone()
            .join(format!("_anaplan-parquet-probe-{:016x}", fastrand::u64(..)).as_str());
        let create = || PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let location = self.display.clone();
        let first = self
            .store
            .put_opts(&probe, bytes::Bytes::from_static(b"probe").into(), create())
            .await;
        if let Err(e) = first {
            return Err(match e {
                object_store::Error::NotImplemented { .. } => no_conditional_put(&self.display),
                e => store_error(
                    &location,
                    &format!("cannot write the Delta log at {location}:"),
                    e,
                    NOTHING_WRITTEN,
                ),
            });
        }
        let second = self
            .store
            .put_opts(&probe, bytes::Bytes::from_static(b"again").into(), create())
            .await;
        let _ = self.store.delete(&probe).await;
        match second {
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(()),
            Ok(_) | Err(object_store::Error::NotImplemented { .. }) => {
                Err(no_conditional_put(&self.display))
            }
            Err(e) => Err(store_error(
                &location,
                &format!("checking conditional writes at {location}:"),
                e,
                NOTHING_WRITTEN,
            )),
        }
    }

    /// Starts the run's data file, once the table (if any) has accepted the run's columns.
    pub(super) async fn begin(self: &Arc<Self>, schema: &Schema) -> Result<DeltaWriter> {
        if self.partition_by_date && schema.field_with_name(PARTITION_COLUMN).is_ok() {
            return Err(Error::invalid_setting(
                "partition_by_date",
                format!(
                    "the data has a column named {PARTITION_COLUMN:?}, which the partition \
                     column would shadow; rename the column, or do not partition by date"
                ),
            ));
        }
        let data = schema::kernel_schema(schema)?;
        // `convert` does not call `check`: the store's conditional writes are checked here.
        self.check_conditional_put().await?;
        let partition = self.partition_by_date.then_some(PARTITION_COLUMN);
        {
            let table = Arc::clone(self);
            let data = data.clone();
            blocking(move || {
                let snapshot = commit::latest(&table.engine(), &table.root, &table.display)?;
                commit::check_schema(
                    snapshot.as_ref(),
                    &data,
                    partition,
                    table.schema_mode,
                    &table.display,
                )
            })
            .await?;
        }
        let now = Utc::now();
        let name = format!(
            "part-{}-{:016x}.parquet",
            now.format("%Y%m%dT%H%M%SZ"),
            fastrand::u64(..)
        );
        let (path, partition) = if self.partition_by_date {
            let date = now.format("%Y-%m-%d").to_string();
            (
                format!("{PARTITION_COLUMN}={date}/{name}"),
                Some((PARTITION_COLUMN.to_owned(), date)),
            )
        } else {
            (name, None)
        };
        Ok(DeltaWriter::new(
            Arc::clone(self),
            writer::FilePlan {
                path,
                partition,
                data,
                arrow: Arc::new(schema.clone()),
            },
        ))
    }
}

/// The store lacks put-if-absent: refuse rather than risk lost commits.
fn no_conditional_put(display: &str) -> Error {
    Error::Destination(Box::new(DestinationError::new(
        DestinationErrorKind::Store,
        display.to_owned(),
        format!(
            "the store at {display} does not honour conditional writes (PUT with If-None-Match: \
             *), which Delta commits need so that two writers never overwrite each other's \
             commit; use a store that has them (AWS S3, MinIO, Cloudflare R2) or remove a \
             `conditional_put` storage option that turns them off{NOTHING_WRITTEN}"
        ),
    )))
}

/// Runs kernel work on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a Delta table task failed: {e}")))?
}
