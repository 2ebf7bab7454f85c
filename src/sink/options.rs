//! The destination's settings: [`DestinationOptions`] and its parts, their defaults and limits,
//! and [`DestinationOptions::validate`], which checks them once in library terms (errors name
//! each setting by its canonical snake_case name, the jobs file's key).

use std::fmt;
use std::time::Duration;

use url::Url;

use super::errors::redact_url_text;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Default size of one multipart-upload part (and the largest object sent in a single PUT).
pub(crate) const DEFAULT_UPLOAD_PART_SIZE: usize = 8 << 20;
/// Smallest part size S3-compatible services accept (every part but the last).
pub(crate) const MIN_UPLOAD_PART_SIZE: usize = 5 << 20;
/// Largest part size S3 accepts.
pub(crate) const MAX_UPLOAD_PART_SIZE: usize = 5 << 30;
/// Default number of parts uploaded at the same time.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;
/// Highest accepted `upload_concurrency`.
pub(crate) const MAX_UPLOAD_CONCURRENCY: usize = 64;
/// Default number of retries of one storage request (transient failures only).
pub const DEFAULT_UPLOAD_MAX_RETRIES: usize = 6;
/// Default time budget for retrying one storage request.
pub(crate) const DEFAULT_UPLOAD_RETRY_TIMEOUT: Duration = Duration::from_mins(2);
/// Default timeout of one storage request (a whole part upload must fit in it).
pub(crate) const DEFAULT_UPLOAD_REQUEST_TIMEOUT: Duration = Duration::from_mins(5);
/// Name of the Hive partition column added by `partition_by_date`.
pub(crate) const PARTITION_COLUMN: &str = "export_date";

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

/// What DEST holds: plain Parquet (a file, or a dataset of parts) or a Delta Lake table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// A Parquet file (replace) or a prefix of Parquet parts (append).
    #[default]
    Parquet,
    /// A Delta Lake table rooted at DEST: each run is one commit to its log.
    Delta,
}

/// What a Delta run does when its schema differs from the table's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemaMode {
    /// Refuse the run before writing, naming the columns that differ.
    #[default]
    Strict,
    /// Add the run's new columns to the table (as nullable); anything else still fails.
    Merge,
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
            return Err(Error::invalid_setting(
                "storage_options",
                format!("expects KEY=VALUE, got {:?}", redact_option_text(s)),
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(Error::invalid_setting(
                "storage_options",
                "has an empty key (expected KEY=VALUE)",
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
        // The value's own `Debug` redacts it.
        write!(f, "{}={:?}", self.key, self.value)
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
    /// Multipart part size in bytes (also the largest single PUT), 5 MiB to 5 GiB.
    pub upload_part_size: usize,
    /// Parts in flight at once, 1 to 64.
    pub upload_concurrency: usize,
    /// Retries of one storage request on transient failures.
    pub max_retries: usize,
    /// Time budget for the retries of one storage request.
    pub retry_timeout: Duration,
    /// Read `AWS_*` / `GOOGLE_*` / `AZURE_*` from the environment (default true).
    pub read_env: bool,
    /// Plain Parquet or a Delta Lake table.
    pub format: OutputFormat,
    /// Delta only: refuse or merge a schema that differs from the table's.
    pub schema_mode: SchemaMode,
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
            format: OutputFormat::Parquet,
            schema_mode: SchemaMode::Strict,
        }
    }

    /// Checks the settings that do not depend on the kind of destination. A bad value is an
    /// [`Error::InvalidSetting`] naming the setting (`upload_part_size`, ...).
    pub fn validate(&self) -> Result<()> {
        if self.output.trim().is_empty() {
            return Err(Error::invalid_setting("output", "must not be empty"));
        }
        if self.output == "-" {
            return Err(Error::invalid_setting(
                "output",
                "- (stdout) is not supported: Parquet needs a file; give a path or a URL",
            ));
        }
        if self.mode == WriteMode::Append && self.if_exists == IfExists::Fail {
            return Err(Error::invalid_setting(
                "if_exists",
                "applies to replace mode only (append never overwrites)",
            ));
        }
        if self.schema_mode == SchemaMode::Merge && self.format != OutputFormat::Delta {
            return Err(Error::invalid_setting(
                "schema_mode",
                "applies to Delta tables only (format = delta)",
            ));
        }
        if self.partition_by_date
            && self.mode != WriteMode::Append
            && self.format != OutputFormat::Delta
        {
            return Err(Error::invalid_setting(
                "partition_by_date",
                "needs append mode",
            ));
        }
        if !(MIN_UPLOAD_PART_SIZE..=MAX_UPLOAD_PART_SIZE).contains(&self.upload_part_size) {
            return Err(Error::invalid_setting(
                "upload_part_size",
                format!(
                    "must be between 5MiB and 5GiB (S3 limits), got {} bytes",
                    self.upload_part_size
                ),
            ));
        }
        if !(1..=MAX_UPLOAD_CONCURRENCY).contains(&self.upload_concurrency) {
            return Err(Error::invalid_setting(
                "upload_concurrency",
                format!(
                    "must be between 1 and {MAX_UPLOAD_CONCURRENCY}, got {}",
                    self.upload_concurrency
                ),
            ));
        }
        if let Some(e) = &self.s3_endpoint {
            let ok = Url::parse(e)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(Error::invalid_setting(
                    "s3_endpoint",
                    format!(
                        "must be an http(s) URL such as https://minio.example:9000, got {:?}",
                        redact_url_text(e)
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(e: &Error) -> &'static str {
        match e {
            Error::InvalidSetting { setting, .. } => setting,
            other => panic!("not an invalid setting: {other:?}"),
        }
    }

    #[test]
    fn option_validation_names_the_setting() {
        let base = || DestinationOptions::new("x.parquet");
        let mut cases: Vec<(DestinationOptions, &str, &str)> = Vec::new();
        let mut o = base();
        o.mode = WriteMode::Append;
        o.if_exists = IfExists::Fail;
        cases.push((o, "if_exists", "replace mode only"));
        let mut o = base();
        o.partition_by_date = true;
        cases.push((o, "partition_by_date", "append mode"));
        let mut o = base();
        o.upload_part_size = 1 << 20;
        cases.push((o, "upload_part_size", "between 5MiB and 5GiB"));
        let mut o = base();
        o.upload_concurrency = 0;
        cases.push((o, "upload_concurrency", "between 1 and 64"));
        let mut o = DestinationOptions::new("s3://b/x.parquet");
        o.s3_endpoint = Some("minio:9000".into());
        cases.push((o, "s3_endpoint", "http(s) URL"));
        cases.push((DestinationOptions::new(" "), "output", "must not be empty"));
        cases.push((DestinationOptions::new("-"), "output", "stdout"));
        for (o, setting, problem) in cases {
            let e = o.validate().unwrap_err();
            assert_eq!(setting_of(&e), setting, "{e}");
            assert!(e.to_string().contains(problem), "{setting}: {e}");
            assert_eq!(e.exit_class().code(), 2);
        }
        base().validate().unwrap();
    }

    #[test]
    fn storage_options_parse_and_never_show_values() {
        let o = StorageOption::parse(" Secret_Access_Key =abc=def").unwrap();
        assert_eq!(o.key, "secret_access_key");
        assert_eq!(o.value.expose(), "abc=def");
        assert_eq!(format!("{o:?}"), "secret_access_key=[REDACTED]");
        let e = StorageOption::parse("nokeyvalue-supersecret").unwrap_err();
        assert!(!e.to_string().contains("supersecret"), "{e}");
        assert_eq!(setting_of(&e), "storage_options");
        assert!(StorageOption::parse("=value").is_err());
    }
}
