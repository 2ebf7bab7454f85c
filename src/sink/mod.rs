//! Where Parquet goes: a local path, or an object-store URL (`s3://`, `gs://`, `az://`,
//! `abfss://`, `file://`), written so that nothing partial is ever visible.
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
//!   (`.NAME.XXXXXX.partial`), which is renamed over the target by `finish`. On abort, on error
//!   and on drop the temporary file is removed.
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
//! Storage option values are held as [`Secret`]s, never logged, and never part of an error
//! message; URLs in messages lose any password and query string.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::Schema;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{
    BackoffConfig, ClientConfigKey, ClientOptions, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, ObjectStoreScheme, PutMultipartOptions, PutPayload, RetryConfig,
};
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::secret::Secret;

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
/// use anaplan_parquet::sink::{Destination, Sink};
/// use arrow::datatypes::{DataType, Field, Schema};
///
/// let sink = Destination::parse("out.parquet")?;
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
}

impl Sink for Destination {
    fn describe(&self) -> String {
        Destination::describe(self)
    }

    fn begin<'a>(&'a self, schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>> {
        Box::pin(async move {
            let writer: Box<dyn SinkWriter> = Box::new(Destination::begin(self, schema).await?);
            Ok(writer)
        })
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

/// Default size of one multipart-upload part (and the largest object sent in a single PUT).
pub const DEFAULT_UPLOAD_PART_SIZE: usize = 8 << 20;
/// Smallest part size S3-compatible services accept (every part but the last).
pub const MIN_UPLOAD_PART_SIZE: usize = 5 << 20;
/// Largest part size S3 accepts.
pub const MAX_UPLOAD_PART_SIZE: usize = 5 << 30;
/// Default number of parts uploaded at the same time.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;
/// Highest accepted `--upload-concurrency`.
pub const MAX_UPLOAD_CONCURRENCY: usize = 64;
/// Default number of retries of one storage request (transient failures only).
pub const DEFAULT_UPLOAD_MAX_RETRIES: usize = 6;
/// Default time budget for retrying one storage request.
pub const DEFAULT_UPLOAD_RETRY_TIMEOUT: Duration = Duration::from_mins(2);
/// Default timeout of one storage request (a whole part upload must fit in it).
pub const DEFAULT_UPLOAD_REQUEST_TIMEOUT: Duration = Duration::from_mins(5);
/// Name of the Hive partition column added by `--partition-by-date`.
pub const PARTITION_COLUMN: &str = "export_date";

/// Existing parts whose footers are read at the same time in append mode.
const FOOTER_READ_CONCURRENCY: usize = 8;
/// Footer read hint: one ranged GET covers the footer of any reasonable part.
const FOOTER_SIZE_HINT: usize = 64 << 10;

/// How a run writes to its destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// DEST is one file, replaced atomically.
    #[default]
    Replace,
    /// DEST is a dataset prefix; each run adds a new part file.
    Append,
}

/// What replace mode does when DEST already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IfExists {
    /// Replace it atomically.
    #[default]
    Replace,
    /// Stop before writing anything.
    Fail,
}

/// One `--storage-option KEY=VALUE`. The value may be a secret (a secret key, a SAS token), so
/// it is always held as a [`Secret`] and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageOption {
    /// The `object_store` configuration key, lower case (`region`, `aws_secret_access_key`, ...).
    pub key: String,
    /// The value.
    pub value: Secret,
}

impl StorageOption {
    /// Parses `KEY=VALUE`. The key is trimmed and lower-cased; the value is kept as given.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(Error::usage(format!(
                "--storage-option expects KEY=VALUE, got {:?}",
                redact_option_text(s)
            )));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(Error::usage(
                "--storage-option has an empty key (expected KEY=VALUE)",
            ));
        }
        Ok(StorageOption {
            key,
            value: Secret::new(value),
        })
    }
}

impl fmt::Debug for StorageOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=[REDACTED]", self.key)
    }
}

/// Shows at most the key of a malformed option (it may be a bare secret).
fn redact_option_text(s: &str) -> String {
    if s.len() <= 3 {
        s.to_string()
    } else {
        "[REDACTED]".into()
    }
}

/// Validated destination settings: what `--output` and the storage flags resolve to.
#[derive(Clone, Debug)]
pub struct DestinationOptions {
    /// A local path, or a URL (`s3://`, `gs://`, `az://`, `abfss://`, `file://`).
    pub output: String,
    /// Replace one file, or append a part to a dataset.
    pub mode: WriteMode,
    /// Replace mode: what to do when DEST exists.
    pub if_exists: IfExists,
    /// Append mode: write under `export_date=YYYY-MM-DD/`.
    pub partition_by_date: bool,
    /// S3-compatible endpoint (`https://minio.example:9000`); S3 only.
    pub s3_endpoint: Option<String>,
    /// S3 region; S3 only.
    pub s3_region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted style; S3 only.
    pub s3_path_style: bool,
    /// Allow plain-HTTP endpoints.
    pub allow_http: bool,
    /// Any `object_store` option, applied over the environment.
    pub storage_options: Vec<StorageOption>,
    /// Multipart part size in bytes (also the largest single PUT).
    pub upload_part_size: usize,
    /// Parts in flight at once.
    pub upload_concurrency: usize,
    /// Retries of one storage request on transient failures.
    pub max_retries: usize,
    /// Time budget for the retries of one storage request.
    pub retry_timeout: Duration,
    /// Read `AWS_*` / `GOOGLE_*` / `AZURE_*` from the environment (default true).
    pub read_env: bool,
}

impl DestinationOptions {
    /// Defaults for `output`: replace mode, 8 MiB parts, 4 in flight, environment credentials.
    pub fn new(output: impl Into<String>) -> Self {
        DestinationOptions {
            output: output.into(),
            mode: WriteMode::Replace,
            if_exists: IfExists::Replace,
            partition_by_date: false,
            s3_endpoint: None,
            s3_region: None,
            s3_path_style: false,
            allow_http: false,
            storage_options: Vec::new(),
            upload_part_size: DEFAULT_UPLOAD_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            max_retries: DEFAULT_UPLOAD_MAX_RETRIES,
            retry_timeout: DEFAULT_UPLOAD_RETRY_TIMEOUT,
            read_env: true,
        }
    }

    /// Checks the settings that do not depend on the kind of destination.
    pub fn validate(&self) -> Result<()> {
        if self.output.trim().is_empty() {
            return Err(Error::usage("--output must not be empty"));
        }
        if self.output == "-" {
            return Err(Error::usage(
                "--output - (stdout) is not supported: Parquet needs a file; give a path or a URL",
            ));
        }
        if self.mode == WriteMode::Append && self.if_exists == IfExists::Fail {
            return Err(Error::usage(
                "--if-exists applies to --mode replace only (append never overwrites)",
            ));
        }
        if self.partition_by_date && self.mode != WriteMode::Append {
            return Err(Error::usage("--partition-by-date needs --mode append"));
        }
        if !(MIN_UPLOAD_PART_SIZE..=MAX_UPLOAD_PART_SIZE).contains(&self.upload_part_size) {
            return Err(Error::usage(format!(
                "--upload-part-size must be between 5MiB and 5GiB (S3 limits), got {} bytes",
                self.upload_part_size
            )));
        }
        if !(1..=MAX_UPLOAD_CONCURRENCY).contains(&self.upload_concurrency) {
            return Err(Error::usage(format!(
                "--upload-concurrency must be between 1 and {MAX_UPLOAD_CONCURRENCY}, got {}",
                self.upload_concurrency
            )));
        }
        if let Some(e) = &self.s3_endpoint {
            let ok = Url::parse(e)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(Error::usage(format!(
                    "--s3-endpoint must be an http(s) URL such as https://minio.example:9000, got {:?}",
                    redact_url_text(e)
                )));
            }
        }
        Ok(())
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
}

#[derive(Clone)]
enum Target {
    /// A local file (replace) or directory (append).
    Local { path: PathBuf },
    /// An object (replace) or prefix (append) in a bucket.
    Store {
        store: Arc<dyn ObjectStore>,
        /// Object key (replace) or dataset prefix (append; may be empty).
        key: StorePath,
        /// `scheme://bucket/` with no credentials, for messages.
        base: String,
        observer: Arc<UploadObserver>,
    },
}

/// Shows where, never the store client (its configuration holds credentials).
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local { path } => f.debug_struct("Local").field("path", path).finish(),
            Target::Store { key, base, .. } => f
                .debug_struct("Store")
                .field("base", base)
                .field("key", &key.as_ref())
                .finish_non_exhaustive(),
        }
    }
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
                check_local_flags(options)?;
                Target::Local { path }
            }
            Output::Url(url) => build_store_target(&url, options)?,
        };
        if let Target::Store { key, .. } = &target
            && options.mode == WriteMode::Replace
            && (key.as_ref().is_empty() || options.output.ends_with('/'))
        {
            return Err(Error::usage(format!(
                "--output {} names a bucket or prefix, not an object: give a key such as \
                 .../data.parquet, or use --mode append to add parts under this prefix",
                redact_url_text(&options.output)
            )));
        }
        if let Target::Local { path } = &target
            && options.mode == WriteMode::Replace
            && options.output.ends_with(['/', '\\'])
        {
            return Err(Error::usage(format!(
                "--output {} names a directory: give a file name, or use --mode append",
                path.display()
            )));
        }
        Ok(Destination {
            target,
            mode: options.mode,
            if_exists: options.if_exists,
            partition_by_date: options.partition_by_date,
            part_size: options.upload_part_size,
            concurrency: options.upload_concurrency,
        })
    }

    /// Counts transient storage failures (retries) into `progress` as they happen.
    #[must_use]
    pub fn with_progress(self, progress: Progress) -> Self {
        if let Target::Store { observer, .. } = &self.target {
            *lock(&observer.progress) = Some(progress);
        }
        self
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// True for object stores (as opposed to the local file system).
    pub fn is_object_store(&self) -> bool {
        matches!(self.target, Target::Store { .. })
    }

    /// Where the output goes, for messages: a path, or a URL without password or query string.
    pub fn describe(&self) -> String {
        let loc = match &self.target {
            Target::Local { path } => path.display().to_string(),
            Target::Store { key, base, .. } => format!("{base}{key}"),
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
        match &self.target {
            Target::Local { path } => {
                let dir = match self.mode {
                    WriteMode::Append if path.is_dir() => return Ok(()),
                    WriteMode::Append => path.parent(),
                    WriteMode::Replace => {
                        if path.is_dir() {
                            return Err(Error::Destination(format!(
                                "cannot write {}: it is a directory (use --mode append to add \
                                 parts to a dataset directory)",
                                path.display()
                            )));
                        }
                        if self.if_exists == IfExists::Fail && path.exists() {
                            return Err(exists_error(&path.display().to_string()));
                        }
                        path.parent()
                    }
                };
                let dir = match dir {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if dir.is_dir() {
                    Ok(())
                } else {
                    Err(Error::Destination(format!(
                        "cannot write {}: directory {} does not exist",
                        path.display(),
                        dir.display()
                    )))
                }
            }
            Target::Store {
                store, key, base, ..
            } => {
                let location = format!("{base}{key}");
                preflight(store, key, &location).await?;
                if self.mode == WriteMode::Replace && self.if_exists == IfExists::Fail {
                    match store.head(key).await {
                        Ok(_) => return Err(exists_error(&location)),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => {
                            return Err(store_error(
                                &format!("checking whether {location} exists (--if-exists fail)"),
                                &e,
                                NOTHING_WRITTEN,
                            ));
                        }
                    }
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
            return Err(Error::usage(format!(
                "the data has a column named {PARTITION_COLUMN:?}, which --partition-by-date \
                 would shadow with the Hive partition column; rename it or drop \
                 --partition-by-date"
            )));
        }
        match &self.target {
            Target::Local { path } => self.begin_local(path, schema).await,
            Target::Store {
                store,
                key,
                base,
                observer,
            } => self.begin_store(store, key, base, observer, schema).await,
        }
    }

    async fn begin_local(&self, path: &FsPath, schema: &Schema) -> Result<DestinationWriter> {
        let (target, no_clobber) = match self.mode {
            WriteMode::Replace => {
                if path.is_dir() {
                    return Err(Error::Destination(format!(
                        "cannot write {}: it is a directory (use --mode append to add parts \
                         to a dataset directory)",
                        path.display()
                    )));
                }
                if self.if_exists == IfExists::Fail && path.exists() {
                    return Err(exists_error(&path.display().to_string()));
                }
                (path.to_path_buf(), self.if_exists == IfExists::Fail)
            }
            WriteMode::Append => {
                if path.exists() && !path.is_dir() {
                    return Err(Error::Destination(format!(
                        "cannot append to {}: it is a file, and --mode append needs a dataset \
                         directory",
                        path.display()
                    )));
                }
                if path.is_dir() {
                    let store: Arc<dyn ObjectStore> =
                        Arc::new(LocalFileSystem::new_with_prefix(path).map_err(|e| {
                            Error::Destination(format!(
                                "cannot read dataset directory {}: {e}",
                                path.display()
                            ))
                        })?);
                    let display = format!("{}/", path.display());
                    check_dataset(
                        &store,
                        &StorePath::default(),
                        &display,
                        schema,
                        self.partition_by_date,
                    )
                    .await?;
                }
                let part = PartName::now();
                let mut target = path.to_path_buf();
                if self.partition_by_date {
                    target.push(part.partition_dir());
                }
                tokio::fs::create_dir_all(&target).await.map_err(|e| {
                    Error::Destination(format!("cannot create {}: {e}", target.display()))
                })?;
                target.push(part.file_name());
                (target, true)
            }
        };
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::Destination(format!(
                "cannot write {}: directory {} does not exist",
                target.display(),
                dir.display()
            )));
        }
        let name = target
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let tmp =
            output_temp_file(&format!(".{name}."), &dir).map_err(|e| local_error(&target, &e))?;
        let (file, tmp_path) = tmp.into_parts();
        tracing::debug!(target = %target.display(), temp = %tmp_path.display(), "writing");
        Ok(DestinationWriter {
            location: target.display().to_string(),
            bytes: 0,
            kind: WriterKind::Local(LocalWriter {
                file: tokio::fs::File::from_std(file),
                tmp: Some(tmp_path),
                target,
                no_clobber,
            }),
            observer: None,
            baseline: BTreeMap::new(),
        })
    }

    async fn begin_store(
        &self,
        store: &Arc<dyn ObjectStore>,
        key: &StorePath,
        base: &str,
        observer: &Arc<UploadObserver>,
        schema: &Schema,
    ) -> Result<DestinationWriter> {
        let object = match self.mode {
            WriteMode::Replace => {
                let location = format!("{base}{key}");
                preflight(store, key, &location).await?;
                if self.if_exists == IfExists::Fail {
                    match store.head(key).await {
                        Ok(_) => return Err(exists_error(&location)),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => {
                            return Err(store_error(
                                &format!("checking whether {location} exists (--if-exists fail)"),
                                &e,
                                NOTHING_WRITTEN,
                            ));
                        }
                    }
                }
                key.clone()
            }
            WriteMode::Append => {
                let display = if key.as_ref().is_empty() {
                    base.to_string()
                } else {
                    format!("{base}{key}/")
                };
                check_dataset(store, key, &display, schema, self.partition_by_date).await?;
                let part = PartName::now();
                let mut object = key.clone();
                if self.partition_by_date {
                    object = object.join(part.partition_dir().as_str());
                }
                object.join(part.file_name().as_str())
            }
        };
        let location = format!("{base}{object}");
        tracing::debug!(%location, part_size = self.part_size, concurrency = self.concurrency, "uploading");
        Ok(DestinationWriter {
            location,
            bytes: 0,
            kind: WriterKind::Store(StoreWriter {
                store: Arc::clone(store),
                key: object,
                part_size: self.part_size,
                concurrency: self.concurrency,
                buffer: Vec::new(),
                buffered: 0,
                upload: Upload::None,
            }),
            baseline: observer.snapshot(),
            observer: Some(Arc::clone(observer)),
        })
    }
}

/// One cheap LIST before any data moves, so that a missing bucket or bad credentials stop the
/// run before the export is downloaded and converted. Credentials that may write but not list
/// (`AccessDenied` on LIST) are fine: the upload itself will tell.
async fn preflight(store: &Arc<dyn ObjectStore>, key: &StorePath, location: &str) -> Result<()> {
    let Some(Err(e)) = store.list(Some(key)).next().await else {
        return Ok(());
    };
    let code = xml_tag(&crate::error::error_chain(&e), "Code");
    let list_denied = match code.as_deref() {
        Some("AccessDenied" | "AuthorizationPermissionMismatch" | "AuthorizationFailure") => true,
        Some(_) => false,
        None => matches!(e, object_store::Error::PermissionDenied { .. }),
    };
    if list_denied {
        tracing::debug!(%location, "cannot list the destination (write-only credentials?); going on");
        return Ok(());
    }
    Err(store_error(
        &format!("cannot write {location}:"),
        &e,
        NOTHING_WRITTEN,
    ))
}

fn exists_error(location: &str) -> Error {
    Error::Destination(format!(
        "{location} already exists and --if-exists fail was given; nothing was written"
    ))
}

/// One in-progress write. Call [`finish`](Self::finish) or [`abort`](Self::abort); a writer
/// dropped without either still cleans up (the temporary file is removed, and the multipart
/// upload is aborted in the background when a Tokio runtime is available).
#[derive(Debug)]
pub struct DestinationWriter {
    location: String,
    bytes: u64,
    kind: WriterKind,
    observer: Option<Arc<UploadObserver>>,
    baseline: BTreeMap<String, u64>,
}

#[derive(Debug)]
enum WriterKind {
    Local(LocalWriter),
    Store(StoreWriter),
}

#[derive(Debug)]
struct LocalWriter {
    file: tokio::fs::File,
    /// `None` once the attempt failed, finished or was aborted.
    tmp: Option<tempfile::TempPath>,
    target: PathBuf,
    no_clobber: bool,
}

/// An upload to an object store whose every wait may be given up: bytes are buffered up to one
/// part; a file smaller than a part goes in one PUT at `finish`, a larger one becomes a
/// multipart upload with at most `concurrency` parts in flight. The multipart upload is created
/// and its parts sent by spawned tasks, so a caller that stops waiting (a dropped `put` or
/// `flush` future) loses nothing and can still abort it.
#[derive(Debug)]
struct StoreWriter {
    store: Arc<dyn ObjectStore>,
    key: StorePath,
    part_size: usize,
    concurrency: usize,
    /// Bytes not yet handed to a part.
    buffer: Vec<Bytes>,
    buffered: usize,
    upload: Upload,
}

#[derive(Debug, Default)]
enum Upload {
    /// No multipart upload (yet): a small file is one PUT at `finish`.
    #[default]
    None,
    /// The multipart upload is being created.
    Creating(tokio::task::JoinHandle<object_store::Result<Box<dyn MultipartUpload>>>),
    /// Parts are uploading.
    Parts {
        upload: Box<dyn MultipartUpload>,
        tasks: tokio::task::JoinSet<object_store::Result<()>>,
        /// The last part is sent: no more data.
        sealed: bool,
    },
    /// Finished, failed or aborted.
    Closed,
}

impl StoreWriter {
    /// Buffers `data`, sending a part for every `part_size` bytes; waits while `concurrency`
    /// parts are in flight. Cancel-safe.
    async fn put(&mut self, data: Bytes) -> object_store::Result<()> {
        if matches!(
            self.upload,
            Upload::Closed | Upload::Parts { sealed: true, .. }
        ) {
            return Err(closed_upload());
        }
        self.buffered += data.len();
        self.buffer.push(data);
        while self.buffered >= self.part_size {
            self.started().await?;
            let Upload::Parts { upload, tasks, .. } = &mut self.upload else {
                return Err(closed_upload());
            };
            while tasks.len() >= self.concurrency {
                join_part(tasks).await?;
            }
            let part = take_front(&mut self.buffer, &mut self.buffered, self.part_size);
            tasks.spawn(upload.put_part(part));
        }
        Ok(())
    }

    /// Sends what is buffered as the last part and waits for every part, when the file is a
    /// multipart upload (a small file waits for its PUT in `finish`). Cancel-safe; after it only
    /// `finish` or `abort`.
    async fn flush(&mut self) -> object_store::Result<()> {
        if matches!(self.upload, Upload::None | Upload::Closed) {
            return Ok(());
        }
        self.started().await?;
        let Upload::Parts {
            upload,
            tasks,
            sealed,
        } = &mut self.upload
        else {
            return Err(closed_upload());
        };
        if !*sealed {
            *sealed = true;
            if self.buffered > 0 {
                let rest = self.buffered;
                tasks.spawn(upload.put_part(take_front(
                    &mut self.buffer,
                    &mut self.buffered,
                    rest,
                )));
            }
        }
        while !tasks.is_empty() {
            join_part(tasks).await?;
        }
        Ok(())
    }

    /// Makes the object visible: one PUT, or the multipart upload's completion.
    async fn finish(&mut self) -> object_store::Result<()> {
        self.flush().await?;
        match std::mem::replace(&mut self.upload, Upload::Closed) {
            Upload::None => {
                let payload: PutPayload = std::mem::take(&mut self.buffer).into_iter().collect();
                self.buffered = 0;
                self.store.put(&self.key, payload).await.map(|_| ())
            }
            Upload::Parts { mut upload, .. } => upload.complete().await.map(|_| ()),
            Upload::Creating(_) | Upload::Closed => Err(closed_upload()),
        }
    }

    /// Stops every part and aborts the multipart upload, if any.
    async fn abort(&mut self) -> object_store::Result<()> {
        self.buffer.clear();
        self.buffered = 0;
        match std::mem::replace(&mut self.upload, Upload::Closed) {
            Upload::None | Upload::Closed => Ok(()),
            Upload::Creating(handle) => match handle.await {
                Ok(Ok(mut upload)) => upload.abort().await,
                // It was never created.
                Ok(Err(_)) | Err(_) => Ok(()),
            },
            Upload::Parts {
                mut upload,
                mut tasks,
                ..
            } => {
                tasks.shutdown().await;
                upload.abort().await
            }
        }
    }

    /// Creates the multipart upload if needed and waits until it exists. Cancel-safe: the
    /// creation runs in its own task.
    async fn started(&mut self) -> object_store::Result<()> {
        if let Upload::None = self.upload {
            let store = Arc::clone(&self.store);
            let key = self.key.clone();
            self.upload = Upload::Creating(tokio::spawn(async move {
                store
                    .put_multipart_opts(&key, PutMultipartOptions::default())
                    .await
            }));
        }
        if let Upload::Creating(handle) = &mut self.upload {
            let created = handle.await;
            self.upload = Upload::Closed;
            let upload = created.map_err(|e| object_store::Error::Generic {
                store: "upload",
                source: Box::new(e),
            })??;
            self.upload = Upload::Parts {
                upload,
                tasks: tokio::task::JoinSet::new(),
                sealed: false,
            };
        }
        Ok(())
    }
}

fn closed_upload() -> object_store::Error {
    object_store::Error::Generic {
        store: "upload",
        source: "the upload was already finished, aborted or failed".into(),
    }
}

/// Waits for one part upload to end.
async fn join_part(
    tasks: &mut tokio::task::JoinSet<object_store::Result<()>>,
) -> object_store::Result<()> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(object_store::Error::Generic {
            store: "upload",
            source: Box::new(e),
        }),
        None => Ok(()),
    }
}

/// The first `n` buffered bytes (at most what is buffered), as one payload.
fn take_front(buffer: &mut Vec<Bytes>, buffered: &mut usize, n: usize) -> PutPayload {
    let mut part = Vec::new();
    let mut need = n.min(*buffered);
    *buffered -= need;
    let mut rest = std::mem::take(buffer).into_iter();
    for mut b in rest.by_ref() {
        if need == 0 {
            buffer.push(b);
            break;
        }
        if b.len() > need {
            buffer.push(b.split_off(need));
        }
        need -= b.len();
        part.push(b);
    }
    buffer.extend(rest);
    part.into_iter().collect()
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if matches!(self.upload, Upload::None | Upload::Closed) {
            return;
        }
        // Dropped mid-upload (a panic, or a cancelled task): S3 keeps the parts of an upload
        // that is not aborted, so abort it in the background.
        let mut writer = StoreWriter {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            part_size: self.part_size,
            concurrency: self.concurrency,
            buffer: Vec::new(),
            buffered: 0,
            upload: std::mem::take(&mut self.upload),
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!("aborting an abandoned upload failed: {}", redact_error(&e));
                }
            });
        } else {
            writer.upload = Upload::Closed;
            tracing::warn!(
                "an upload was abandoned outside a Tokio runtime and could not be aborted; \
                 a lifecycle rule on the bucket will remove its parts"
            );
        }
    }
}

impl DestinationWriter {
    /// Where the data will be, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Bytes accepted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends bytes. Object stores upload a part whenever a part's worth is buffered, waiting
    /// while `upload_concurrency` parts are in flight (backpressure).
    ///
    /// On error the attempt is already cleaned up (temporary file removed, multipart upload
    /// aborted); calling [`abort`](Self::abort) afterwards is harmless. Cancel-safe: when the
    /// future is dropped (a stop while the destination is slow), [`abort`](Self::abort) still
    /// cleans up everything.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        let len = data.len() as u64;
        match &mut self.kind {
            WriterKind::Local(w) => {
                if w.tmp.is_none() {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = w.file.write_all(&data).await {
                    drop(w.tmp.take());
                    return Err(Error::Destination(format!(
                        "writing {} failed: {e}; nothing was written",
                        w.target.display()
                    )));
                }
            }
            WriterKind::Store(w) => {
                if matches!(w.upload, Upload::Closed) {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = w.put(data).await {
                    let err =
                        store_error(&format!("upload to {}", self.location), &e, NOTHING_WRITTEN);
                    abort_quietly(w, &self.location).await;
                    return Err(err);
                }
            }
        }
        self.bytes += len;
        Ok(())
    }

    /// Gets everything written so far to the destination short of publishing it: syncs the
    /// temporary file, or sends the last part of a multipart upload and waits for every part.
    /// [`finish`](Self::finish) then only publishes (a rename, one PUT of a file smaller than a
    /// part, or the upload's completion). Cancel-safe like [`write`](Self::write); after it, only
    /// `finish` or `abort`. On error the attempt is already cleaned up.
    pub async fn prepare_finish(&mut self) -> Result<()> {
        match &mut self.kind {
            WriterKind::Local(w) => {
                if w.tmp.is_none() {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = async {
                    w.file.flush().await?;
                    w.file.sync_all().await
                }
                .await
                {
                    drop(w.tmp.take());
                    return Err(Error::Destination(format!(
                        "writing {} failed: {e}; nothing was written",
                        w.target.display()
                    )));
                }
            }
            WriterKind::Store(w) => {
                if matches!(w.upload, Upload::Closed) {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = w.flush().await {
                    let err =
                        store_error(&format!("upload to {}", self.location), &e, NOTHING_WRITTEN);
                    abort_quietly(w, &self.location).await;
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Makes the data visible at the destination (rename, single PUT, or completing the
    /// multipart upload), replacing what was there in replace mode.
    pub async fn finish(mut self) -> Result<Written> {
        match &mut self.kind {
            WriterKind::Local(w) => {
                let Some(tmp) = w.tmp.take() else {
                    return Err(already_closed(&self.location));
                };
                if let Err(e) = async {
                    w.file.flush().await?;
                    w.file.sync_all().await
                }
                .await
                {
                    drop(tmp);
                    return Err(Error::Destination(format!(
                        "writing {} failed: {e}; nothing was written",
                        w.target.display()
                    )));
                }
                let persisted = if w.no_clobber {
                    tmp.persist_noclobber(&w.target)
                } else {
                    tmp.persist(&w.target)
                };
                if let Err(e) = persisted {
                    drop(e.path);
                    if w.no_clobber && e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        return Err(exists_error(&w.target.display().to_string()));
                    }
                    return Err(Error::Destination(format!(
                        "cannot move the finished file into place at {}: {}; nothing was written",
                        w.target.display(),
                        e.error
                    )));
                }
                sync_parent(&w.target).await;
            }
            WriterKind::Store(w) => {
                if matches!(w.upload, Upload::Closed) {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = w.finish().await {
                    let err =
                        store_error(&format!("upload to {}", self.location), &e, NOTHING_WRITTEN);
                    // A failed single PUT leaves nothing behind; a failed multipart upload
                    // (parts or completion) is aborted.
                    abort_quietly(w, &self.location).await;
                    return Err(err);
                }
            }
        }
        let retries = self.retries();
        if !retries.is_empty() {
            tracing::info!(location = %self.location, ?retries, "upload finished after transient failures");
        }
        Ok(Written {
            location: self.location.clone(),
            bytes: self.bytes,
            retries,
        })
    }

    /// Discards everything written by this attempt: removes the temporary file, or aborts the
    /// multipart upload. An existing file or object at the destination is untouched.
    pub async fn abort(mut self) -> Result<()> {
        match &mut self.kind {
            WriterKind::Local(w) => {
                if let Some(tmp) = w.tmp.take() {
                    tmp.close().map_err(|e| local_error(&w.target, &e))?;
                }
            }
            WriterKind::Store(w) => {
                w.abort().await.map_err(|e| {
                    store_error(
                        &format!("aborting the upload to {}", self.location),
                        &e,
                        "; a lifecycle rule on the bucket will remove its parts",
                    )
                })?;
            }
        }
        tracing::debug!(location = %self.location, "attempt aborted");
        Ok(())
    }

    fn retries(&self) -> Vec<(String, u64)> {
        let Some(observer) = &self.observer else {
            return Vec::new();
        };
        observer
            .snapshot()
            .into_iter()
            .filter_map(|(reason, n)| {
                let before = self.baseline.get(&reason).copied().unwrap_or(0);
                (n > before).then(|| (reason, n - before))
            })
            .collect()
    }
}

fn already_closed(location: &str) -> Error {
    Error::Internal(format!(
        "the write to {location} was already finished, aborted or failed"
    ))
}

async fn abort_quietly(writer: &mut StoreWriter, location: &str) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(
            %location,
            "aborting the multipart upload failed: {}; a lifecycle rule on the bucket will remove its parts",
            redact_error(&e)
        );
    }
}

fn local_error(path: &FsPath, e: &std::io::Error) -> Error {
    Error::Destination(format!("cannot write {}: {e}", path.display()))
}

/// Makes a rename durable (best effort; not supported everywhere).
async fn sync_parent(path: &FsPath) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = tokio::fs::File::open(dir).await
    {
        let _ = d.sync_all().await;
    }
    #[cfg(not(unix))]
    let _ = path;
}

// ---------------------------------------------------------------------------------------------
// Resolving --output

#[derive(Debug)]
enum Output {
    Local(PathBuf),
    Url(Url),
}

/// A local path unless `output` looks like `scheme://...`.
fn classify(output: &str) -> Result<Output> {
    let Some((scheme, _)) = output.split_once("://") else {
        return Ok(Output::Local(PathBuf::from(output)));
    };
    let looks_like_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !looks_like_scheme {
        return Ok(Output::Local(PathBuf::from(output)));
    }
    let url = Url::parse(output).map_err(|e| {
        Error::usage(format!(
            "--output {} is not a valid URL: {e}",
            redact_url_text(output)
        ))
    })?;
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|()| {
            Error::usage(format!(
                "--output {} is not a local file URL (expected file:///absolute/path)",
                redact_url_text(output)
            ))
        })?;
        return Ok(Output::Local(path));
    }
    Ok(Output::Url(url))
}

fn unsupported_scheme(url: &Url) -> Error {
    Error::usage(format!(
        "--output {}: unsupported destination; use a local path, file:///path, s3://bucket/key, \
         gs://bucket/key, az://container/key or abfss://container@account.dfs.core.windows.net/key",
        redact_url(url)
    ))
}

/// The S3-only flags are refused for other destinations (`what` names the destination).
fn check_no_s3_flags(options: &DestinationOptions, what: &str) -> Result<()> {
    let flag = if options.s3_endpoint.is_some() {
        "--s3-endpoint"
    } else if options.s3_region.is_some() {
        "--s3-region"
    } else if options.s3_path_style {
        "--s3-path-style"
    } else {
        return Ok(());
    };
    Err(Error::usage(format!(
        "{flag} applies to s3:// destinations only, and --output is {what}"
    )))
}

/// No object-store flag makes sense for a local path.
fn check_local_flags(options: &DestinationOptions) -> Result<()> {
    check_no_s3_flags(options, "a local path")?;
    if options.allow_http {
        return Err(Error::usage(
            "--allow-http applies to object-store destinations only, and --output is a local path",
        ));
    }
    if let Some(o) = options.storage_options.first() {
        return Err(Error::usage(format!(
            "--storage-option {}=... applies to object-store destinations only, and --output is \
             a local path",
            o.key
        )));
    }
    Ok(())
}

fn build_store_target(url: &Url, options: &DestinationOptions) -> Result<Target> {
    let (scheme, key) = ObjectStoreScheme::parse(url).map_err(|_| unsupported_scheme(url))?;
    let observer = Arc::new(UploadObserver::default());
    let connector = ObservingConnector {
        observer: Arc::clone(&observer),
    };
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: options.max_retries,
        retry_timeout: options.retry_timeout,
    };
    let display = redact_url(url);
    let has_option = |names: &[&str]| {
        options
            .storage_options
            .iter()
            .any(|o| names.contains(&o.key.as_str()))
    };
    let timeout = humantime::format_duration(DEFAULT_UPLOAD_REQUEST_TIMEOUT).to_string();
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut b = if options.read_env {
                AmazonS3Builder::from_env()
            } else {
                AmazonS3Builder::new()
            };
            b = b.with_url(url.as_str());
            if !has_option(&["timeout", "aws_timeout"]) {
                b = b.with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                    &timeout,
                );
            }
            for o in &options.storage_options {
                let k: AmazonS3ConfigKey = o.key.parse().map_err(|_| unknown_option(o, "S3"))?;
                b = b.with_config(k, o.value.expose());
            }
            if let Some(e) = &options.s3_endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &options.s3_region {
                b = b.with_region(r);
            }
            if options.s3_path_style {
                b = b.with_virtual_hosted_style_request(false);
            }
            if options.allow_http {
                b = b.with_allow_http(true);
            }
            check_plain_http(
                b.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(),
                b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
                    .as_deref(),
                "AWS_ALLOW_HTTP=true",
            )?;
            warn_if_unverified(
                b.get_config_value(&AmazonS3ConfigKey::Client(
                    ClientConfigKey::AllowInvalidCertificates,
                ))
                .as_deref(),
                &display,
            );
            let s = b
                .with_retry(retry)
                .with_http_connector(connector)
                .build()
                .map_err(|e| build_error(&display, &e))?;
            Arc::new(s)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            check_no_s3_flags(options, "a gs:// URL")?;
            let mut b = if options.read_env {
                GoogleCloudStorageBuilder::from_env()
            } else {
                GoogleCloudStorageBuilder::new()
            };
            b = b.with_url(url.as_str());
            if !has_option(&["timeout", "google_timeout"]) {
                b = b.with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), &timeout);
            }
            for o in &options.storage_options {
                let k: GoogleConfigKey = o.key.parse().map_err(|_| unknown_option(o, "GCS"))?;
                b = b.with_config(k, o.value.expose());
            }
            if options.allow_http {
                // Not `with_client_options`: that would drop the options set so far.
                b = b.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
            }
            check_plain_http(
                b.get_config_value(&GoogleConfigKey::BaseUrl).as_deref(),
                b.get_config_value(&GoogleConfigKey::Client(ClientConfigKey::AllowHttp))
                    .as_deref(),
                "allow_http=true",
            )?;
            warn_if_unverified(
                b.get_config_value(&GoogleConfigKey::Client(
                    ClientConfigKey::AllowInvalidCertificates,
                ))
                .as_deref(),
                &display,
            );
            let s = b
                .with_retry(retry)
                .with_http_connector(connector)
                .build()
                .map_err(|e| build_error(&display, &e))?;
            Arc::new(s)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            check_no_s3_flags(options, "an Azure URL")?;
            let mut b = if options.read_env {
                MicrosoftAzureBuilder::from_env()
            } else {
                MicrosoftAzureBuilder::new()
            };
            b = b.with_url(url.as_str());
            if !has_option(&["timeout", "azure_timeout"]) {
                b = b.with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), &timeout);
            }
            for o in &options.storage_options {
                let k: AzureConfigKey = o.key.parse().map_err(|_| unknown_option(o, "Azure"))?;
                b = b.with_config(k, o.value.expose());
            }
            if options.allow_http {
                b = b.with_config(AzureConfigKey::Client(ClientConfigKey::AllowHttp), "true");
            }
            warn_if_unverified(
                b.get_config_value(&AzureConfigKey::Client(
                    ClientConfigKey::AllowInvalidCertificates,
                ))
                .as_deref(),
                &display,
            );
            let emulator = b.get_config_value(&AzureConfigKey::UseEmulator);
            if emulator.as_deref() != Some("true") {
                check_plain_http(
                    b.get_config_value(&AzureConfigKey::Endpoint).as_deref(),
                    b.get_config_value(&AzureConfigKey::Client(ClientConfigKey::AllowHttp))
                        .as_deref(),
                    "AZURE_ALLOW_HTTP=true",
                )?;
            }
            let s = b
                .with_retry(retry)
                .with_http_connector(connector)
                .build()
                .map_err(|e| build_error(&display, &e))?;
            Arc::new(s)
        }
        _ => return Err(unsupported_scheme(url)),
    };
    // `key` comes from the URL path; a trailing slash (a prefix) leaves no empty segment.
    let key = StorePath::from(key.as_ref().trim_end_matches('/'));
    let base = match display.find("://") {
        Some(i) => {
            let after = &display[i + 3..];
            let host_end = after.find('/').map_or(display.len(), |j| i + 3 + j);
            format!("{}/", &display[..host_end])
        }
        None => display.clone(),
    };
    Ok(Target::Store {
        store,
        key,
        base,
        observer,
    })
}

/// TLS certificates are verified unless `allow_invalid_certificates` (a storage option or its
/// environment variable) turns it off; then every run says so, loudly.
fn warn_if_unverified(allow_invalid_certificates: Option<&str>, location: &str) {
    let off = allow_invalid_certificates.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes" | "y"
        )
    });
    if off {
        tracing::warn!(
            "TLS certificate verification is OFF for {location} (allow_invalid_certificates): \
             anyone between here and the storage service can read and change the data and \
             the credentials; use it only against a test server"
        );
    }
}

fn unknown_option(o: &StorageOption, backend: &str) -> Error {
    Error::usage(format!(
        "--storage-option {}: not an object_store option for {backend} (see the object_store \
         documentation of the {backend} builder's configuration keys)",
        o.key
    ))
}

fn build_error(display: &str, e: &object_store::Error) -> Error {
    Error::usage(format!(
        "cannot configure the destination {display}: {}",
        redact_error(e)
    ))
}

/// A plain-HTTP endpoint without `allow_http` fails at the first request with reqwest's
/// cryptic "builder error"; say what is wrong before that.
fn check_plain_http(
    endpoint: Option<&str>,
    allow_http: Option<&str>,
    env_hint: &str,
) -> Result<()> {
    let Some(endpoint) = endpoint else {
        return Ok(());
    };
    let plain = endpoint
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    let allowed = allow_http.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    });
    if plain && !allowed {
        return Err(Error::usage(format!(
            "the storage endpoint {} uses plain HTTP, which is refused unless you pass \
             --allow-http (or set {env_hint}); data and request signatures would travel \
             unencrypted, so use an https:// endpoint outside a trusted network",
            redact_url_text(endpoint)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Append mode: part names and the dataset check

/// The name of one appended part, fixed at the start of an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PartName {
    at: DateTime<Utc>,
    id: String,
}

impl PartName {
    fn now() -> Self {
        PartName {
            at: Utc::now(),
            id: format!("{:08x}", fastrand::u32(..)),
        }
    }

    /// `part-20261124T053000Z-3f9a1c0d.parquet`: sorts by UTC time, the id breaks ties.
    fn file_name(&self) -> String {
        format!(
            "part-{}-{}.parquet",
            self.at.format("%Y%m%dT%H%M%SZ"),
            self.id
        )
    }

    /// `export_date=2026-11-24` (UTC).
    fn partition_dir(&self) -> String {
        format!("{PARTITION_COLUMN}={}", self.at.format("%Y-%m-%d"))
    }
}

/// One existing data file of a dataset: where it is relative to the prefix.
#[derive(Debug)]
struct ExistingPart {
    meta: ObjectMeta,
    relative: Vec<String>,
}

/// Lists the dataset's Parquet parts (skipping `_`/`.`-prefixed names and other files).
async fn list_parts(
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
async fn check_dataset(
    store: &Arc<dyn ObjectStore>,
    prefix: &StorePath,
    display: &str,
    schema: &Schema,
    partitioned: bool,
) -> Result<()> {
    let shown = display;
    let parts = list_parts(store, prefix).await.map_err(|e| {
        store_error(
            &format!("listing the dataset {display}"),
            &e,
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
            Error::Destination(format!(
                "cannot read the Parquet footer of the existing part {display}{name}: {e}; \
                 nothing was written"
            ))
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

// ---------------------------------------------------------------------------------------------
// Manifests: a small JSON document kept with the data

/// Name of the manifest inside an append-mode dataset prefix. It starts with `_`, so readers
/// (Spark, DuckDB globs on `*.parquet`) and the dataset check skip it.
pub const MANIFEST_NAME: &str = "_manifest.json";
/// Added to a replace-mode file's name to name its manifest: `sales.parquet.manifest.json`.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

impl Destination {
    /// Where this destination's manifest lives: next to the file in replace mode
    /// (`NAME` + [`MANIFEST_SUFFIX`]), [`MANIFEST_NAME`] inside the dataset prefix in append mode.
    pub fn manifest_location(&self) -> String {
        match &self.target {
            Target::Local { path } => self.local_manifest(path).display().to_string(),
            Target::Store { key, base, .. } => format!("{base}{}", self.store_manifest(key)),
        }
    }

    fn local_manifest(&self, path: &FsPath) -> PathBuf {
        match self.mode {
            WriteMode::Append => path.join(MANIFEST_NAME),
            WriteMode::Replace => {
                let mut name = path.file_name().unwrap_or_default().to_os_string();
                name.push(MANIFEST_SUFFIX);
                path.with_file_name(name)
            }
        }
    }

    fn store_manifest(&self, key: &StorePath) -> StorePath {
        match self.mode {
            WriteMode::Append if key.as_ref().is_empty() => StorePath::from(MANIFEST_NAME),
            WriteMode::Append => key.clone().join(MANIFEST_NAME),
            WriteMode::Replace => StorePath::from(format!("{}{MANIFEST_SUFFIX}", key.as_ref())),
        }
    }

    /// The manifest's bytes, or `None` when there is none yet.
    pub async fn read_manifest(&self) -> Result<Option<Bytes>> {
        match &self.target {
            Target::Local { path } => {
                let file = self.local_manifest(path);
                match tokio::fs::read(&file).await {
                    Ok(b) => Ok(Some(Bytes::from(b))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Destination(format!(
                        "cannot read the manifest {}: {e}",
                        file.display()
                    ))),
                }
            }
            Target::Store {
                store, key, base, ..
            } => {
                let object = self.store_manifest(key);
                let got = match store.get(&object).await {
                    Ok(r) => r.bytes().await,
                    Err(e) => Err(e),
                };
                match got {
                    Ok(b) => Ok(Some(b)),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(store_error(
                        &format!("reading the manifest {base}{object}"),
                        &e,
                        "",
                    )),
                }
            }
        }
    }

    /// Writes the manifest, replacing the previous one atomically (a temporary file renamed
    /// into place, or one PUT), and returns its location. Call it after the data is written,
    /// so that a manifest never describes data that is not there.
    pub async fn write_manifest(&self, data: Bytes) -> Result<String> {
        match &self.target {
            Target::Local { path } => {
                let file = self.local_manifest(path);
                let shown = file.display().to_string();
                let target = file.clone();
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let dir = match target.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                        _ => PathBuf::from("."),
                    };
                    let mut tmp = output_temp_file(".manifest.", &dir)?;
                    std::io::Write::write_all(&mut tmp, &data)?;
                    tmp.as_file().sync_all()?;
                    tmp.persist(&target).map_err(|e| e.error)?;
                    Ok(())
                })
                .await
                .map_err(|e| Error::Internal(format!("the manifest writer failed: {e}")))?
                .map_err(|e| {
                    Error::Destination(format!("cannot write the manifest {shown}: {e}"))
                })?;
                sync_parent(&file).await;
                Ok(shown)
            }
            Target::Store {
                store, key, base, ..
            } => {
                let object = self.store_manifest(key);
                let location = format!("{base}{object}");
                store.put(&object, data.into()).await.map_err(|e| {
                    store_error(&format!("writing the manifest {location}"), &e, "")
                })?;
                Ok(location)
            }
        }
    }

    /// True when there is data at the destination: the file (replace mode), or at least one
    /// part of the dataset (append mode).
    pub async fn data_exists(&self) -> Result<bool> {
        let (store, prefix, shown): (Arc<dyn ObjectStore>, StorePath, String) = match &self.target {
            Target::Local { path } => match self.mode {
                WriteMode::Replace => return Ok(path.is_file()),
                WriteMode::Append if !path.is_dir() => return Ok(false),
                WriteMode::Append => (
                    Arc::new(LocalFileSystem::new_with_prefix(path).map_err(|e| {
                        Error::Destination(format!(
                            "cannot read dataset directory {}: {e}",
                            path.display()
                        ))
                    })?),
                    StorePath::default(),
                    path.display().to_string(),
                ),
            },
            Target::Store {
                store, key, base, ..
            } => {
                let shown = format!("{base}{key}");
                if self.mode == WriteMode::Replace {
                    return match store.head(key).await {
                        Ok(_) => Ok(true),
                        Err(object_store::Error::NotFound { .. }) => Ok(false),
                        Err(e) => Err(store_error(&format!("checking {shown}"), &e, "")),
                    };
                }
                (Arc::clone(store), key.clone(), shown)
            }
        };
        let parts = list_parts(&store, &prefix)
            .await
            .map_err(|e| store_error(&format!("listing the dataset {shown}"), &e, ""))?;
        Ok(!parts.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Retry visibility: observe transient failures on the object store's HTTP client

/// Transient storage failures seen by this destination's HTTP client, by reason.
#[derive(Debug, Default)]
struct UploadObserver {
    failures: Mutex<BTreeMap<String, u64>>,
    progress: Mutex<Option<Progress>>,
}

impl UploadObserver {
    fn record(&self, reason: String) {
        *lock(&self.failures).entry(reason).or_insert(0) += 1;
        if let Some(p) = lock(&self.progress).as_ref() {
            p.add_retry();
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.failures).clone()
    }
}

/// A temporary file beside a local output (Parquet, manifest, kept CSV, generated CSV), renamed
/// over it when complete.
///
/// `tempfile` creates files with mode 0600; an output is created 0666 less the umask, as any
/// other program's output would be, so that the readers of a shared directory can open it.
/// (Spool files, which nobody else reads, stay private.)
pub(crate) fn output_temp_file(
    prefix: &str,
    dir: &FsPath,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".partial");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `reqwest` connector `object_store` would use, wrapped to see every response.
#[derive(Debug)]
struct ObservingConnector {
    observer: Arc<UploadObserver>,
}

impl HttpConnector for ObservingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(ObservingService {
            inner,
            observer: Arc::clone(&self.observer),
        }))
    }
}

#[derive(Debug)]
struct ObservingService {
    inner: HttpClient,
    observer: Arc<UploadObserver>,
}

type HttpFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpError>> + Send + 'a>>;

impl HttpService for ObservingService {
    fn call<'s, 'f>(&'s self, req: HttpRequest) -> HttpFuture<'f>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let method = req.method().clone();
            // The path names bucket and key; the query string (upload ids, SAS tokens) is left out.
            let path = req.uri().path().to_string();
            let result = self.inner.execute(req).await;
            let reason = match &result {
                Ok(r) => {
                    let s = r.status();
                    (s.is_server_error() || s.as_u16() == 429 || s.as_u16() == 408)
                        .then(|| format!("storage: HTTP {s}"))
                }
                Err(e) => match e.kind() {
                    HttpErrorKind::Connect => Some("storage: connection failed".to_string()),
                    HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                        Some("storage: request interrupted".to_string())
                    }
                    HttpErrorKind::Timeout => Some("storage: timeout".to_string()),
                    _ => None,
                },
            };
            if let Some(reason) = reason {
                tracing::info!(
                    "{method} {path}: transient failure ({}); retrying within the retry budget",
                    reason.trim_start_matches("storage: ")
                );
                self.observer.record(reason);
            }
            result
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: say what failed, never leak secrets

/// What every failed write adds: the run left nothing behind.
const NOTHING_WRITTEN: &str = "; nothing was written";

/// Turns an `object_store` error into a one-line message: `{what} failed: {cause}{tail}`, or
/// `{what} {cause}{tail}` when `what` ends with a colon. Transient failures that outlasted the
/// retry budget (5xx, 429, timeouts, connection failures) are [`Error::RetriesExhausted`].
fn store_error(what: &str, e: &object_store::Error, tail: &str) -> Error {
    classified(what, &explain(e), e, tail)
}

fn classified(
    what: &str,
    reason: &str,
    e: &(dyn std::error::Error + 'static),
    tail: &str,
) -> Error {
    let text = crate::error::error_chain(e);
    let retried = retries_in(&text)
        .map(|n| format!(" (after {n} retries)"))
        .unwrap_or_default();
    let call = match what.strip_suffix(':') {
        Some(what) => what.to_owned(),
        None => format!("{what} failed"),
    };
    let cause = format!("{reason}{retried}{tail}");
    if is_transient(e, &text) {
        crate::error::RetriesExhausted::new(call, cause).into()
    } else {
        Error::Destination(format!("{call}: {cause}"))
    }
}

/// object_store's retry errors say `after N retries`.
fn retries_in(text: &str) -> Option<u64> {
    let at = text.find("after ")? + "after ".len();
    let rest = &text[at..];
    let n = rest.split_whitespace().next()?;
    rest[n.len()..]
        .trim_start()
        .starts_with("retries")
        .then(|| n.parse().ok())
        .flatten()
}

fn is_transient(e: &(dyn std::error::Error + 'static), text: &str) -> bool {
    // A certificate that cannot be verified will not become valid by trying again.
    if text.contains("invalid peer certificate") {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted
            );
        }
        cur = err.source();
    }
    let Some(at) = text.find("status code: ") else {
        return false;
    };
    let code = &text[at + "status code: ".len()..];
    code.starts_with('5') || code.starts_with("429") || code.starts_with("408")
}

fn explain(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => {
            let text = crate::error::error_chain(e);
            match xml_tag(&text, "Code").as_deref() {
                Some(code) => explain_code(code, &text),
                None => "not found (the bucket or container may not exist)".into(),
            }
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            let text = crate::error::error_chain(e);
            match xml_tag(&text, "Code") {
                Some(code) => explain_code(&code, &text),
                None => "the storage service refused the request (HTTP 401/403): check the \
                         credentials and their permissions on this bucket"
                    .into(),
            }
        }
        _ => explain_chain(e),
    }
}

fn explain_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<HttpError>() {
            if h.kind() == HttpErrorKind::Connect {
                return format!(
                    "cannot connect to the storage service: {}",
                    redact_text(&root_cause(err))
                );
            }
            if h.kind() == HttpErrorKind::Timeout {
                return "the storage service did not answer in time".into();
            }
        }
        cur = err.source();
    }
    let text = crate::error::error_chain(e);
    if let Some(code) = xml_tag(&text, "Code") {
        return explain_code(&code, &text);
    }
    if text.contains("builder error") {
        return "the HTTP client refused the request (a plain-http endpoint needs --allow-http)"
            .into();
    }
    shorten(&redact_text(&text), 400)
}

/// Names the usual S3/Azure/GCS error codes in words.
fn explain_code(code: &str, text: &str) -> String {
    let message = xml_tag(text, "Message")
        .map(|m| format!(": {}", shorten(&redact_text(&m), 200)))
        .unwrap_or_default();
    match code {
        "NoSuchBucket" | "ContainerNotFound" => {
            format!("the bucket does not exist ({code}); create it first or fix the URL")
        }
        "InvalidAccessKeyId" | "NotSignedUp" | "InvalidClientTokenId" => format!(
            "the storage service does not know the access key id ({code}): check the credentials \
             (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the access_key_id / \
             secret_access_key storage options)"
        ),
        "SignatureDoesNotMatch" | "AuthenticationFailed" => format!(
            "the storage service rejected the request signature ({code}): the secret key does \
             not match the access key id; check the credentials"
        ),
        "AccessDenied" | "AuthorizationFailure" | "AuthorizationPermissionMismatch" => {
            format!("access denied ({code}): the credentials lack permission to write here")
        }
        "ExpiredToken" | "TokenRefreshRequired" => {
            format!("the credentials have expired ({code})")
        }
        "EntityTooSmall" => format!(
            "the storage service rejected a part as too small ({code}); use a larger \
             --upload-part-size"
        ),
        _ => format!("the storage service answered {code}{message}"),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(text[start..end].trim().to_string())
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn redact_error(e: &(dyn std::error::Error + 'static)) -> String {
    redact_text(&crate::error::error_chain(e))
}

/// A URL without password, query string or fragment.
fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// [`redact_url`] for text that should be one URL; falls back to dropping anything after `?`.
fn redact_url_text(s: &str) -> String {
    match Url::parse(s) {
        Ok(u) => redact_url(&u),
        Err(_) => redact_text(s),
    }
}

/// Strips query strings and passwords from every `http(s)://` URL inside `text` (error
/// messages from HTTP clients may carry a signed URL or a SAS token).
fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let found = ["https://", "http://"]
            .iter()
            .filter_map(|p| rest.find(p))
            .min();
        let Some(start) = found else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        match Url::parse(token) {
            Ok(u) => out.push_str(redact_url(&u).trim_end_matches('/')),
            Err(_) => out.push_str(token.split('?').next().unwrap_or_default()),
        }
        rest = &tail[end..];
    }
    // Also drop well-known secret query parameters that appear without a URL around them.
    for key in [
        "sig=",
        "X-Amz-Signature=",
        "X-Amz-Credential=",
        "X-Amz-Security-Token=",
    ] {
        let mut from = 0;
        while let Some(i) = out[from..].find(key).map(|i| from + i + key.len()) {
            let end = out[i..]
                .find(|c: char| c == '&' || c.is_whitespace())
                .map_or(out.len(), |j| i + j);
            out.replace_range(i..end, "REDACTED");
            from = i + "REDACTED".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn opts(output: &str) -> DestinationOptions {
        let mut o = DestinationOptions::new(output);
        o.read_env = false;
        o
    }

    fn s3(output: &str) -> DestinationOptions {
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
    fn manifests_sit_next_to_the_file_or_inside_the_dataset() {
        let cases: &[(&str, WriteMode, &str)] = &[
            (
                "out/sales.parquet",
                WriteMode::Replace,
                "out/sales.parquet.manifest.json",
            ),
            ("out/sales", WriteMode::Append, "out/sales/_manifest.json"),
            (
                "s3://bucket/a/sales.parquet",
                WriteMode::Replace,
                "s3://bucket/a/sales.parquet.manifest.json",
            ),
            (
                "s3://bucket/a/ds/",
                WriteMode::Append,
                "s3://bucket/a/ds/_manifest.json",
            ),
            (
                "s3://bucket/",
                WriteMode::Append,
                "s3://bucket/_manifest.json",
            ),
        ];
        for (output, mode, want) in cases {
            let mut o = if output.starts_with("s3") {
                s3(output)
            } else {
                opts(output)
            };
            o.mode = *mode;
            let d = Destination::from_options(&o).unwrap();
            assert_eq!(d.manifest_location(), *want, "{output}");
        }
    }

    #[tokio::test]
    async fn a_local_manifest_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.parquet");
        let d = Destination::parse(file.to_str().unwrap()).unwrap();
        assert_eq!(d.read_manifest().await.unwrap(), None);
        assert!(!d.data_exists().await.unwrap());
        let at = d
            .write_manifest(Bytes::from_static(b"{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(
            at,
            dir.path()
                .join("x.parquet.manifest.json")
                .display()
                .to_string()
        );
        d.write_manifest(Bytes::from_static(b"{\"a\":2}"))
            .await
            .unwrap();
        assert_eq!(
            d.read_manifest().await.unwrap().as_deref(),
            Some(&b"{\"a\":2}"[..])
        );
        // Only the manifest is there: no temporary file left behind, and still no data.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["x.parquet.manifest.json".to_owned()]);
        assert!(!d.data_exists().await.unwrap());
        std::fs::write(&file, b"PAR1").unwrap();
        assert!(d.data_exists().await.unwrap());

        // Append mode: the manifest is not a part, and parts make data.
        let ds = dir.path().join("ds");
        std::fs::create_dir(&ds).unwrap();
        let mut o = opts(ds.to_str().unwrap());
        o.mode = WriteMode::Append;
        let d = Destination::from_options(&o).unwrap();
        d.write_manifest(Bytes::from_static(b"{}")).await.unwrap();
        assert!(!d.data_exists().await.unwrap());
        std::fs::write(ds.join("part-1.parquet"), b"PAR1").unwrap();
        assert!(d.data_exists().await.unwrap());
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
            let Target::Store { key, .. } = &d.target else {
                panic!()
            };
            assert!(!key.as_ref().ends_with('/'), "{output}: {key}");
        }
    }

    #[test]
    fn plain_http_endpoint_needs_allow_http() {
        let mut o = s3("s3://bucket/x.parquet");
        o.s3_endpoint = Some("http://127.0.0.1:9000".into());
        let e = Destination::from_options(&o).unwrap_err().to_string();
        assert!(e.contains("http://127.0.0.1:9000"), "{e}");
        assert!(e.contains("--allow-http"), "{e}");
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
    fn check_plain_http_table() {
        let cases = [
            (None, None, true),
            (Some("https://x"), None, true),
            (Some("http://x"), None, false),
            (Some("http://x"), Some("false"), false),
            (Some("http://x"), Some("true"), true),
            (Some("HTTP://x"), Some("TRUE"), true),
            (Some("http://x"), Some("1"), true),
        ];
        for (endpoint, allow, ok) in cases {
            assert_eq!(
                check_plain_http(endpoint, allow, "X").is_ok(),
                ok,
                "{endpoint:?} {allow:?}"
            );
        }
    }

    #[test]
    fn storage_options_parse_and_never_show_values() {
        let o = StorageOption::parse(" Secret_Access_Key =abc=def").unwrap();
        assert_eq!(o.key, "secret_access_key");
        assert_eq!(o.value.expose(), "abc=def");
        assert_eq!(format!("{o:?}"), "secret_access_key=[REDACTED]");
        let e = StorageOption::parse("nokeyvalue-supersecret").unwrap_err();
        assert!(!e.to_string().contains("supersecret"), "{e}");
        assert!(StorageOption::parse("=value").is_err());

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

    #[test]
    fn option_validation_table() {
        let base = || opts("x.parquet");
        let mut cases: Vec<(DestinationOptions, &str)> = Vec::new();
        let mut o = base();
        o.mode = WriteMode::Append;
        o.if_exists = IfExists::Fail;
        cases.push((o, "--if-exists"));
        let mut o = base();
        o.partition_by_date = true;
        cases.push((o, "--partition-by-date"));
        let mut o = base();
        o.upload_part_size = 1 << 20;
        cases.push((o, "--upload-part-size"));
        let mut o = base();
        o.upload_concurrency = 0;
        cases.push((o, "--upload-concurrency"));
        let mut o = opts("s3://b/x.parquet");
        o.s3_endpoint = Some("minio:9000".into());
        cases.push((o, "--s3-endpoint"));
        for (o, want) in cases {
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        base().validate().unwrap();
    }

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

    #[test]
    fn redaction_strips_queries_and_passwords() {
        let t =
            "Error performing PUT https://acct.blob.core.windows.net/c/k?sv=2020&sig=abc123 in 1s";
        let r = redact_text(t);
        assert!(!r.contains("abc123"), "{r}");
        assert!(r.contains("https://acct.blob.core.windows.net/c/k"), "{r}");
        assert_eq!(
            redact_url_text("https://user:pw@host:9000/p?token=x"),
            "https://user@host:9000/p"
        );
        assert!(!redact_text("query sig=zzz&x=1").contains("zzz"));
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

    #[test]
    fn parts_are_cut_at_the_byte_across_buffered_blocks() {
        // (blocks, part size, expected parts): cut anywhere, nothing lost or reordered.
        let table: [(&[&str], usize, &[&str]); 4] = [
            (&["abc", "defg", "h"], 3, &["abc", "def", "gh"]),
            (&["abcdefgh"], 3, &["abc", "def", "gh"]),
            (&["a", "b", "c", "d"], 2, &["ab", "cd"]),
            (&["abc"], 10, &["abc"]),
        ];
        for (blocks, size, expected) in table {
            let mut buffer: Vec<Bytes> =
                blocks.iter().map(|b| Bytes::from(b.to_string())).collect();
            let mut buffered: usize = blocks.iter().map(|b| b.len()).sum();
            let mut parts = Vec::new();
            while buffered > 0 {
                let part = take_front(&mut buffer, &mut buffered, size);
                let bytes: Vec<u8> = part.iter().flat_map(|b| b.iter().copied()).collect();
                parts.push(String::from_utf8(bytes).unwrap());
            }
            assert_eq!(parts, expected, "{blocks:?} by {size}");
            assert!(buffer.is_empty());
        }
    }

    #[test]
    fn retry_counts_are_read_from_object_store_errors() {
        let t = "Error performing PUT http://h/b/k in 1.2s, after 3 retries, max_retries: 6";
        assert_eq!(retries_in(t), Some(3));
        assert_eq!(retries_in("after all, nothing"), None);
        assert_eq!(retries_in("no retry here"), None);
    }

    #[test]
    fn error_codes_are_explained() {
        let body = "Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\
                    <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert!(explain_code("NoSuchBucket", body).contains("bucket does not exist"));
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert!(explain_code("Weird", body).contains("Weird: The specified"));
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
