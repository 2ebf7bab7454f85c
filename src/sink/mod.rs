//! Where Parquet goes (the [`Sink`] the engine writes to): a local path, or an object-store URL
//! (`s3://`, `gs://`, `az://`, `abfss://`, `file://`), written so that nothing partial is ever
//! visible.
//!
//! A [`Destination`] is resolved once from [`DestinationOptions`] (the validated form of
//! `--output` and the storage flags); building it does no I/O. For each attempt at writing a
//! file, the engine calls [`Destination::begin`] with the schema and streams Parquet bytes into
//! the returned [`DestinationWriter`], then calls [`DestinationWriter::finish`] on success or
//! [`DestinationWriter::abort`] on any failure. `begin` may be called again after an abort (a
//! second pass over the input): each attempt is independent.
//!
//! ## How each kind of destination stays atomic
//!
//! - **Local paths and `file://`**: the bytes go to a hidden temporary file beside the target
//!   (`.NAME.anaplan-parquet-XXXXXX.partial`), which is renamed over the target by `finish`
//!   (through a symlink, over its target). On abort, on error and on drop the temporary file is
//!   removed. A character device or FIFO is written directly; what else is refused, and how a
//!   killed run's temporary files are swept, is `crate::local_file`'s rule.
//! - **Object stores**: one PUT when the file is smaller than the part size, otherwise a
//!   multipart upload with at most `upload_concurrency` parts in flight (memory is bounded by
//!   part size × (concurrency + 1)). The object appears only when the upload completes. Any
//!   failure aborts the multipart upload, because S3 and GCS keep the parts of an upload that
//!   is merely dropped; an existing object at the key is untouched. Unlike `object_store`'s
//!   `BufWriter`, every wait for the store ([`DestinationWriter::write`],
//!   [`DestinationWriter::prepare_finish`]) may be given up (a signal, a failed stage) and the
//!   upload still aborted: nothing stalls a stop behind a slow destination.
//!
//! ## Write modes
//!
//! - [`WriteMode::Replace`] (default): DEST is one file, replaced atomically; with
//!   [`IfExists::Fail`] the run stops before writing when DEST exists.
//! - [`WriteMode::Append`]: DEST is a dataset prefix (a directory or a bucket prefix). Each run
//!   adds one part named `part-<UTC run time>-<random id>.parquet`, so parts sort by time and
//!   never collide, optionally under a Hive-style `export_date=YYYY-MM-DD/` partition. Before
//!   writing, the footers of the existing parts are read and every one must have the run's
//!   schema, so the dataset always reads as one table (DuckDB `read_parquet('DEST/**/*.parquet')`,
//!   Spark `spark.read.parquet(DEST)`). Files that are not `.parquet`, and anything under a
//!   `_`- or `.`-prefixed name (`_SUCCESS`, `.tmp`), are ignored.
//!
//! ## Credentials and secrets
//!
//! Object-store credentials come from each backend's standard environment variables
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`) or instance metadata, as `object_store` reads them; a
//! `--storage-option` overrides the environment, and the dedicated S3 flags override both.
//! Storage option values are held as [`Secret`](crate::secret::Secret)s, never logged, and never
//! part of an error message; URLs in messages lose any password and query string.
//!
//! ## Errors
//!
//! A bad setting is an [`Error::InvalidSetting`] naming it (`upload_part_size`, `output`, ...).
//! A failed write is an [`Error::Destination`] carrying a
//! [`DestinationError`](crate::error::DestinationError): where, what kind of failure (decided
//! from the failure's types), and the message. Transient failures that outlasted the retry
//! budget are of kind `Transient` and exit 7; the others exit 6.
//!
//! ## Data flow and modules
//!
//! ```text
//! DestinationOptions ──validate──▶ location::classify ─┬─ local path ─▶ Target::Local
//!   (options)                                          └─ URL ─▶ store::build ─▶ Target::Store
//!
//! Destination::begin(schema) ─▶ DestinationWriter ─ write … prepare_finish ─▶ finish | abort
//!   (append: dataset check)       ├─ local::LocalWriter   temp file, renamed into place
//!                                 └─ multipart::StoreWriter   one PUT or a multipart upload
//! ```
//!
//! | module | job |
//! |---|---|
//! | `options` | [`DestinationOptions`], [`WriteMode`], [`IfExists`], [`StorageOption`], limits, validation |
//! | `location` | whether `output` is a local path or a URL, and which settings apply to it |
//! | `store` | the one object-store builder for S3, GCS and Azure |
//! | `observe` | the HTTP connector that counts the retries the store client makes |
//! | `local` | the local writer (temporary file + rename, by `crate::local_file`'s rule) |
//! | `multipart` | the object-store writer (single PUT or multipart upload) |
//! | `writer` | [`DestinationWriter`], either of the two behind one interface |
//! | `dataset` | append mode: part names, listing parts, the schema check |
//! | `manifest` | where the manifest lives, reading and writing it |
//! | `errors` | `object_store` errors in words, typed classification, redaction |
//! | `delta` | `format = delta`: a Delta Lake table at DEST, one commit per run (through `delta_kernel`) |

mod dataset;
pub(crate) mod delta;
mod errors;
mod local;
mod location;
mod manifest;
mod multipart;
mod observe;
mod options;
mod store;
pub mod timed;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::file::metadata::ParquetMetaData;

pub(crate) use location::Location;
pub use options::{
    DEFAULT_UPLOAD_CONCURRENCY, DEFAULT_UPLOAD_MAX_RETRIES, DestinationOptions, IfExists,
    OutputFormat, SchemaMode, StorageOption, WriteMode,
};
pub use writer::DestinationWriter;

use self::dataset::{PartName, check_dataset};
use self::delta::DeltaTable;
use self::errors::{NOTHING_WRITTEN, exists_error, redact_url_text, store_code, store_error};
use self::location::{Output, check_local_settings, classify};
use self::multipart::StoreWriter;
use self::options::PARTITION_COLUMN;
use self::store::StoreTarget;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Where a conversion's Parquet bytes go: the engine's only view of a destination.
///
/// The engine calls [`Sink::begin`] once it knows the schema, streams the encoded file through
/// [`SinkWriter::write`], then [`SinkWriter::flush`] and [`SinkWriter::commit`] on success or
/// [`SinkWriter::abort`] on any failure. Until `commit` returns, nothing is visible at the
/// destination and whatever was there is untouched; `abort` removes every trace of the
/// attempt. A late type widening aborts the first writer and begins a second one.
///
/// ```no_run
/// # async fn demo() -> anaplan_parquet::Result<()> {
/// use anaplan_parquet::sink::{Destination, Sink, SinkWriter};
/// use arrow::datatypes::{DataType, Field, Schema};
///
/// let sink: &dyn Sink = &Destination::parse("out.parquet")?;
/// let schema = Schema::new(vec![Field::new("Value", DataType::Int64, true)]);
/// let mut writer = sink.begin(&schema).await?;
/// writer.write(bytes::Bytes::from_static(b"PAR1...")).await?;
/// writer.flush().await?;
/// let written = writer.commit().await?; // the rename, or the last request
/// println!("{} bytes at {}", written.bytes, written.location);
/// # Ok(()) }
/// ```
pub trait Sink: Send + Sync {
    /// Where the output goes, for logs and summaries. Never holds a secret.
    fn describe(&self) -> String;

    /// Starts one output file for `schema` (an append dataset checks the schema here).
    fn begin<'a>(&'a self, schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>>;

    /// The local files this sink replaces, if any: the engine refuses to run when one of them
    /// is the input (or the `--keep-csv` copy).
    fn local_paths(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// False when the writers take record batches ([`SinkWriter::observe`]) instead of Parquet
    /// bytes (a record-batch stream): the engine then skips encoding.
    fn wants_bytes(&self) -> bool {
        true
    }

    /// Records where the run's data comes from (`workspace`, `model`, `export`, `taskId`), for
    /// sinks that keep it (a Delta table's commit info). Others ignore it.
    fn set_provenance(&self, key: &str, value: &str) {
        let _ = (key, value);
    }
}

/// One output file being written; see [`Sink`].
pub trait SinkWriter: Send {
    /// Appends bytes. Cancel-safe: dropping the future mid-way leaves the writer abortable.
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>>;

    /// Everything is written: push what is buffered, so that only publishing remains.
    /// Cancel-safe like [`SinkWriter::write`].
    fn flush(&mut self) -> BoxFuture<'_, Result<()>>;

    /// Publishes the file atomically (a rename, or completing an upload): the commit point.
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>>;

    /// Abandons the file: nothing is published and nothing is left behind.
    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<()>>;

    /// Sees the file's footer (its row groups' statistics) once every byte is written, before
    /// [`SinkWriter::flush`]; a Delta table takes its file statistics from it.
    fn footer(&mut self, footer: &ParquetMetaData) -> Result<()> {
        let _ = footer;
        Ok(())
    }

    /// Takes a record batch, in order (only when [`Sink::wants_bytes`] is false).
    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        let _ = batch;
        Ok(())
    }
}

impl Sink for Destination {
    fn describe(&self) -> String {
        Destination::describe(self)
    }

    fn set_provenance(&self, key: &str, value: &str) {
        if let Some(t) = &self.delta {
            t.set_provenance(key, value);
        }
    }

    fn begin<'a>(&'a self, schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>> {
        Box::pin(async move {
            let writer: Box<dyn SinkWriter> = match &self.delta {
                Some(table) => Box::new(table.begin(schema).await?),
                None => Box::new(Destination::begin(self, schema).await?),
            };
            Ok(writer)
        })
    }

    fn local_paths(&self) -> Vec<PathBuf> {
        match (&self.target, self.mode) {
            _ if self.delta.is_some() => Vec::new(),
            (Target::Local { path, .. }, WriteMode::Replace) => vec![path.clone()],
            _ => Vec::new(),
        }
    }
}

impl SinkWriter for DestinationWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(DestinationWriter::write(self, data))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.prepare_finish())
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        Box::pin(self.finish())
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(DestinationWriter::abort(*self))
    }
}

/// What a successful write produced.
#[derive(Clone, Debug)]
pub struct Written {
    /// Where the data now is (a path or a URL without password or query string).
    pub location: String,
    /// Bytes written.
    pub bytes: u64,
    /// Transient storage failures during this attempt, by reason (each was retried, within the
    /// retry budget, by the object-store client).
    pub retries: Vec<(String, u64)>,
}

/// A resolved output location. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Destination {
    target: Target,
    mode: WriteMode,
    if_exists: IfExists,
    partition_by_date: bool,
    part_size: usize,
    concurrency: usize,
    /// `format = delta`: the table rooted at the target.
    delta: Option<Arc<DeltaTable>>,
}

#[derive(Clone, Debug)]
enum Target {
    /// A local file (replace) or directory (append).
    Local {
        path: PathBuf,
        /// Set once an attempt written through to a FIFO was abandoned: no other may follow.
        fifo_spent: Arc<AtomicBool>,
    },
    /// An object (replace) or prefix (append) in a bucket.
    Store(StoreTarget),
}

impl Destination {
    /// Resolves a plain `--output` (a local path, or a URL using environment credentials) with
    /// default options.
    pub fn parse(output: &str) -> Result<Self> {
        Self::from_options(&DestinationOptions::new(output))
    }

    /// Resolves validated options. Builds the object-store client but does no I/O.
    pub fn from_options(options: &DestinationOptions) -> Result<Self> {
        options.validate()?;
        let target = match classify(&options.output)? {
            Output::Local(path) => {
                check_local_settings(options)?;
                Target::Local {
                    path,
                    fifo_spent: Arc::default(),
                }
            }
            Output::Url(url) => Target::Store(store::build(&url, &options.output, options)?),
        };
        if options.format == OutputFormat::Delta {
            let delta = delta_table(&target, options)?;
            return Ok(Destination {
                target,
                mode: options.mode,
                if_exists: options.if_exists,
                partition_by_date: options.partition_by_date,
                part_size: options.upload_part_size,
                concurrency: options.upload_concurrency,
                delta: Some(Arc::new(delta)),
            });
        }
        if options.mode == WriteMode::Replace {
            match &target {
                Target::Store(s) if s.key.as_ref().is_empty() || options.output.ends_with('/') => {
                    return Err(Error::invalid_setting(
                        "output",
                        format!(
                            "{} names a bucket or prefix, not an object: give a key such as \
                             .../data.parquet, or use append mode to add parts under this prefix",
                            redact_url_text(&options.output)
                        ),
                    ));
                }
                Target::Local { path, .. } if options.output.ends_with(['/', '\\']) => {
                    return Err(Error::invalid_setting(
                        "output",
                        format!(
                            "{} names a directory: give a file name, or use append mode",
                            path.display()
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(Destination {
            target,
            mode: options.mode,
            if_exists: options.if_exists,
            partition_by_date: options.partition_by_date,
            part_size: options.upload_part_size,
            concurrency: options.upload_concurrency,
            delta: None,
        })
    }

    /// The Delta table, when the format is `delta`.
    pub(crate) fn delta_table(&self) -> Option<&Arc<DeltaTable>> {
        self.delta.as_ref()
    }

    /// Counts transient storage failures (retries) into `progress` as they happen.
    #[must_use]
    pub fn with_progress(self, progress: Progress) -> Self {
        if let Target::Store(s) = &self.target {
            s.observer.report_to(progress);
        }
        self
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// True for object stores (as opposed to the local file system).
    pub fn is_object_store(&self) -> bool {
        matches!(self.target, Target::Store(_))
    }

    /// Where the output goes, for messages: a path, or a URL without password or query string.
    pub fn describe(&self) -> String {
        if let Some(t) = &self.delta {
            return t.describe();
        }
        let loc = match &self.target {
            Target::Local { path, .. } => path.display().to_string(),
            Target::Store(s) => s.location(),
        };
        match self.mode {
            WriteMode::Replace => loc,
            WriteMode::Append => format!("{} (append)", loc.trim_end_matches('/')),
        }
    }

    /// Checks, before any data moves, that the destination can be written: the directory
    /// exists (local), the bucket answers and the credentials work (object stores), and
    /// `--if-exists fail` has nothing in its way. A long export is not run only to fail at
    /// the end. [`Destination::begin`] checks again (and the dataset's schema, in append mode).
    pub async fn check(&self) -> Result<()> {
        if let Some(t) = &self.delta {
            if let Target::Store(s) = &self.target {
                preflight(s).await?;
            }
            return t.check().await;
        }
        match &self.target {
            Target::Local { path, .. } => local::check(path, self.mode, self.if_exists),
            Target::Store(s) => {
                preflight(s).await?;
                if self.mode == WriteMode::Replace {
                    check_not_there(s, self.if_exists).await?;
                }
                Ok(())
            }
        }
    }

    /// Starts one attempt at writing a file with `schema`.
    ///
    /// Checks `--if-exists fail` and, in append mode, that every existing part of the dataset
    /// has this schema; picks the part name. Nothing is visible until
    /// [`DestinationWriter::finish`].
    pub async fn begin(&self, schema: &Schema) -> Result<DestinationWriter> {
        if self.partition_by_date && schema.field_with_name(PARTITION_COLUMN).is_ok() {
            return Err(Error::invalid_setting(
                "partition_by_date",
                format!(
                    "the data has a column named {PARTITION_COLUMN:?}, which the Hive partition \
                     column would shadow; rename the column, or do not partition by date"
                ),
            ));
        }
        match &self.target {
            Target::Local { path, fifo_spent } => {
                let (location, writer) = local::begin(
                    path,
                    self.mode,
                    self.if_exists,
                    self.partition_by_date,
                    schema,
                    fifo_spent,
                )
                .await?;
                Ok(DestinationWriter::local(location, writer))
            }
            Target::Store(s) => self.begin_store(s, schema).await,
        }
    }

    async fn begin_store(&self, s: &StoreTarget, schema: &Schema) -> Result<DestinationWriter> {
        let object = match self.mode {
            WriteMode::Replace => {
                preflight(s).await?;
                check_not_there(s, self.if_exists).await?;
                s.key.clone()
            }
            WriteMode::Append => {
                let display = if s.key.as_ref().is_empty() {
                    s.base.clone()
                } else {
                    format!("{}{}/", s.base, s.key)
                };
                check_dataset(&s.store, &s.key, &display, schema, self.partition_by_date).await?;
                let part = PartName::now();
                let mut object = s.key.clone();
                if self.partition_by_date {
                    object = object.join(part.partition_dir().as_str());
                }
                object.join(part.file_name().as_str())
            }
        };
        let location = format!("{}{object}", s.base);
        tracing::debug!(%location, part_size = self.part_size, concurrency = self.concurrency, "uploading");
        let writer = StoreWriter::new(
            Arc::clone(&s.store),
            object,
            self.part_size,
            self.concurrency,
        );
        Ok(DestinationWriter::store(location, writer, &s.observer))
    }
}

/// The Delta table rooted at `target`: a local directory through `object_store`'s local file
/// system (its exclusive create makes commits atomic), or the bucket prefix through the same
/// store client as plain Parquet.
fn delta_table(target: &Target, options: &DestinationOptions) -> Result<DeltaTable> {
    use object_store::path::Path as StorePath;
    let settings = delta::TableSettings {
        mode: options.mode,
        if_exists: options.if_exists,
        partition_by_date: options.partition_by_date,
        schema_mode: options.schema_mode,
        part_size: options.upload_part_size,
        concurrency: options.upload_concurrency,
    };
    let place = match target {
        Target::Local { path, .. } => {
            let abs = std::path::absolute(path).map_err(|e| {
                Error::invalid_setting("output", format!("{}: {e}", path.display()))
            })?;
            let root = url::Url::from_directory_path(&abs).map_err(|()| {
                Error::invalid_setting(
                    "output",
                    format!("{} cannot be a Delta table's root", abs.display()),
                )
            })?;
            let key = StorePath::from_url_path(root.path())
                .map_err(|e| Error::invalid_setting("output", format!("{}: {e}", abs.display())))?;
            let mut display = abs.display().to_string();
            if !display.ends_with(std::path::MAIN_SEPARATOR) {
                display.push(std::path::MAIN_SEPARATOR);
            }
            delta::TablePlace {
                store: Arc::new(object_store::local::LocalFileSystem::new()),
                key,
                root,
                display,
                is_s3: false,
                observer: None,
            }
        }
        Target::Store(s) => {
            let mut root = url::Url::parse(&options.output)
                .map_err(|e| Error::invalid_setting("output", e.to_string()))?;
            root.set_query(None);
            root.set_fragment(None);
            let _ = root.set_password(None);
            if s.key.as_ref().is_empty() {
                root.set_path("/");
            } else {
                root.set_path(&format!("/{}/", s.key));
            }
            let display = if s.key.as_ref().is_empty() {
                s.base.clone()
            } else {
                format!("{}{}/", s.base, s.key)
            };
            delta::TablePlace {
                store: Arc::clone(&s.store),
                key: s.key.clone(),
                root,
                display,
                is_s3: matches!(root_scheme(&options.output), "s3" | "s3a"),
                observer: Some(Arc::clone(&s.observer)),
            }
        }
    };
    Ok(DeltaTable::new(place, &settings))
}

fn root_scheme(output: &str) -> &str {
    output.split_once("://").map_or("", |(s, _)| s)
}

/// One cheap LIST before any data moves, so that a missing bucket or bad credentials stop the
/// run before the export is downloaded and converted. Credentials that may write but not list
/// (`AccessDenied` on LIST) are fine: the upload itself will tell.
async fn preflight(s: &StoreTarget) -> Result<()> {
    let Some(Err(e)) = s.store.list(Some(&s.key)).next().await else {
        return Ok(());
    };
    // The service's own error code says what was refused; a 403 without one (GCS) is denied too.
    let list_denied = match store_code(&e).as_deref() {
        Some("AccessDenied" | "AuthorizationPermissionMismatch" | "AuthorizationFailure") => true,
        Some(_) => false,
        None => matches!(e, object_store::Error::PermissionDenied { .. }),
    };
    let location = s.location();
    if list_denied {
        tracing::debug!(%location, "cannot list the destination (write-only credentials?); going on");
        return Ok(());
    }
    Err(store_error(
        &location,
        &format!("cannot write {location}:"),
        e,
        NOTHING_WRITTEN,
    ))
}

/// `if_exists = fail`: nothing may be at `key`.
async fn check_not_there(s: &StoreTarget, if_exists: IfExists) -> Result<()> {
    if if_exists != IfExists::Fail {
        return Ok(());
    }
    let location = s.location();
    match s.store.head(&s.key).await {
        Ok(_) => Err(exists_error(&location)),
        Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_error(
            &location,
            &format!("checking whether {location} exists (--if-exists fail)"),
            e,
            NOTHING_WRITTEN,
        )),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    pub(super) fn opts(output: &str) -> DestinationOptions {
        let mut o = DestinationOptions::new(output);
        o.read_env = false;
        o
    }

    pub(super) fn s3(output: &str) -> DestinationOptions {
        let mut o = opts(output);
        o.storage_options = vec![
            StorageOption::parse("access_key_id=AKIDEXAMPLE").unwrap(),
            StorageOption::parse("secret_access_key=wJalrXUtnFEMI").unwrap(),
            StorageOption::parse("region=us-east-1").unwrap(),
        ];
        o
    }

    #[test]
    fn outputs_resolve_to_the_right_kind() {
        // (output, Some(describe) when it resolves, or the error text it must contain)
        let cases: &[(&str, std::result::Result<&str, &str>)] = &[
            ("out.parquet", Ok("out.parquet")),
            ("dir/out.parquet", Ok("dir/out.parquet")),
            ("/abs/out.parquet", Ok("/abs/out.parquet")),
            ("file:///tmp/x/out.parquet", Ok("/tmp/x/out.parquet")),
            ("s3://bucket/a/b.parquet", Ok("s3://bucket/a/b.parquet")),
            ("s3a://bucket/b.parquet", Ok("s3a://bucket/b.parquet")),
            ("gs://bucket/b.parquet", Ok("gs://bucket/b.parquet")),
            ("ftp://host/x.parquet", Err("unsupported destination")),
            ("memory:///x.parquet", Err("unsupported destination")),
            (
                "http://example.com/x.parquet",
                Err("unsupported destination"),
            ),
            ("s3://bucket", Err("names a bucket or prefix")),
            ("s3://bucket/prefix/", Err("names a bucket or prefix")),
            ("out/", Err("names a directory")),
            ("", Err("must not be empty")),
            ("-", Err("stdout")),
        ];
        for (output, want) in cases {
            let got = if output.starts_with("s3") {
                Destination::from_options(&s3(output))
            } else {
                Destination::from_options(&opts(output))
            };
            match (want, got) {
                (Ok(d), Ok(dest)) => assert_eq!(&dest.describe(), d, "{output}"),
                (Err(msg), Err(e)) => {
                    assert!(e.to_string().contains(msg), "{output}: {e}");
                    assert_eq!(e.exit_class().code(), 2, "{output}");
                }
                (want, got) => panic!("{output}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn azure_urls_resolve() {
        let mut o = opts("abfss://data@myaccount.dfs.core.windows.net/sales/x.parquet");
        o.storage_options = vec![StorageOption::parse("account_key=c2VjcmV0").unwrap()];
        let d = Destination::from_options(&o).unwrap();
        assert!(
            d.describe()
                .starts_with("abfss://data@myaccount.dfs.core.windows.net/")
        );
        assert!(d.describe().ends_with("sales/x.parquet"));

        let mut o = opts("az://data/sales/x.parquet");
        o.storage_options = vec![
            StorageOption::parse("account_name=myaccount").unwrap(),
            StorageOption::parse("account_key=c2VjcmV0").unwrap(),
        ];
        let d = Destination::from_options(&o).unwrap();
        assert_eq!(d.describe(), "az://data/sales/x.parquet");
        assert!(d.is_object_store());
    }

    #[test]
    fn append_mode_accepts_prefixes_and_buckets() {
        for output in [
            "s3://bucket",
            "s3://bucket/",
            "s3://bucket/ds",
            "s3://bucket/ds/",
        ] {
            let mut o = s3(output);
            o.mode = WriteMode::Append;
            let d = Destination::from_options(&o).unwrap();
            assert!(d.describe().ends_with("(append)"), "{output}");
            let Target::Store(s) = &d.target else {
                panic!()
            };
            assert!(!s.key.as_ref().ends_with('/'), "{output}: {}", s.key);
        }
    }

    #[test]
    fn plain_http_endpoint_needs_allow_http() {
        let mut o = s3("s3://bucket/x.parquet");
        o.s3_endpoint = Some("http://127.0.0.1:9000".into());
        let e = Destination::from_options(&o).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidSetting {
                    setting: "allow_http",
                    ..
                }
            ),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("http://127.0.0.1:9000"), "{e}");
        assert!(!e.contains("builder error"), "{e}");

        o.allow_http = true;
        Destination::from_options(&o).unwrap();

        // The same through storage options only.
        let mut o = s3("s3://bucket/x.parquet");
        o.storage_options
            .push(StorageOption::parse("endpoint=HTTP://localhost:9000").unwrap());
        assert!(Destination::from_options(&o).is_err());
        o.storage_options
            .push(StorageOption::parse("allow_http=true").unwrap());
        Destination::from_options(&o).unwrap();

        // https needs nothing.
        let mut o = s3("s3://bucket/x.parquet");
        o.s3_endpoint = Some("https://minio.example:9000".into());
        Destination::from_options(&o).unwrap();
    }

    #[test]
    fn options_and_destinations_never_show_secrets() {
        let mut d = s3("s3://bucket/x.parquet");
        d.storage_options
            .push(StorageOption::parse("session_token=tok-12345").unwrap());
        let dbg = format!("{d:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI"), "{dbg}");
        assert!(!dbg.contains("tok-12345"), "{dbg}");
        let dest = Destination::from_options(&d).unwrap();
        let dbg = format!("{dest:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI"), "{dbg}");
    }

    #[test]
    fn unknown_storage_option_is_a_usage_error() {
        let mut o = s3("s3://bucket/x.parquet");
        o.storage_options
            .push(StorageOption::parse("no_such_option=1").unwrap());
        let e = Destination::from_options(&o).unwrap_err();
        assert!(e.to_string().contains("no_such_option"), "{e}");
        assert_eq!(e.exit_class().code(), 2);
    }

    #[test]
    fn flags_that_do_not_apply_are_refused() {
        let mut o = opts("out.parquet");
        o.s3_endpoint = Some("https://x".into());
        assert!(
            Destination::from_options(&o)
                .unwrap_err()
                .to_string()
                .contains("s3://")
        );
        let mut o = opts("out.parquet");
        o.storage_options = vec![StorageOption::parse("region=x").unwrap()];
        assert!(Destination::from_options(&o).is_err());
        let mut o = opts("gs://b/x.parquet");
        o.s3_region = Some("eu-west-1".into());
        assert!(Destination::from_options(&o).is_err());
    }

    #[tokio::test]
    async fn handles_and_futures_can_move_between_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let dest =
            Destination::from_options(&opts(dir.path().join("x").to_str().unwrap())).unwrap();
        send_sync(&dest);
        let store = Destination::from_options(&s3("s3://b/x.parquet")).unwrap();
        send_sync(&store);
        let schema = Schema::empty();
        let begin = store.begin(&schema);
        send(&begin);
        drop(begin);
        let mut w = dest.begin(&schema).await.unwrap();
        send(&w);
        send(&w.write(Bytes::new()));
        send(&w.finish());
    }

    #[tokio::test]
    async fn local_replace_is_atomic_and_abort_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        std::fs::write(&path, b"old").unwrap();
        let dest = Destination::from_options(&opts(path.to_str().unwrap())).unwrap();
        let schema = Schema::new(vec![Field::new("a", DataType::Utf8, true)]);

        let mut w = dest.begin(&schema).await.unwrap();
        w.write(Bytes::from_static(b"new")).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        w.abort().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut w = dest.begin(&schema).await.unwrap();
        w.write(Bytes::from_static(b"new")).await.unwrap();
        let written = w.finish().await.unwrap();
        assert_eq!(written.bytes, 3);
        assert!(written.retries.is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // A writer dropped without finish or abort removes its temporary file too.
        let mut w = dest.begin(&schema).await.unwrap();
        w.write(Bytes::from_static(b"dropped")).await.unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"new");

        let mut o = opts(path.to_str().unwrap());
        o.if_exists = IfExists::Fail;
        let e = Destination::from_options(&o)
            .unwrap()
            .begin(&schema)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }
}
