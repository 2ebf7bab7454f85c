//! Destination options shared by `convert`, `export` and `run` (`--output`, object-store flags).
//!
//! [`OutputArgs`] is flattened into each command's arguments and turned once into the library's
//! [`DestinationOptions`] by [`OutputArgs::to_options`].

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::engine_args::parse_size;
use crate::sink::{
    DEFAULT_UPLOAD_CONCURRENCY, DestinationOptions, IfExists, StorageOption, WriteMode,
};
use crate::error::{Error, Result};

/// Where and how to write the Parquet.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Where to write: a local path, or a URL: s3://bucket/key.parquet, gs://bucket/key.parquet,
    /// az://container/key.parquet, abfss://container@account.dfs.core.windows.net/key.parquet,
    /// file:///path. Object-store credentials come from the usual environment variables
    /// (AWS_*, GOOGLE_*, AZURE_*) or the machine's identity. Nothing is visible at DEST until
    /// the run succeeds; a failed run leaves an existing DEST untouched.
    #[arg(short, long, value_name = "DEST")]
    pub output: Option<String>,

    /// `replace`: DEST is one file, replaced atomically. `append`: DEST is a dataset prefix
    /// (directory or bucket prefix) and each run adds a part file
    /// `part-<UTC time>-<id>.parquet`; every part must have the same schema.
    #[arg(long, value_enum, default_value_t = ModeArg::Replace)]
    pub mode: ModeArg,

    /// In replace mode, what to do when DEST already exists [default: replace].
    #[arg(long, value_enum, value_name = "WHAT")]
    pub if_exists: Option<IfExistsArg>,

    /// In append mode, write each part under a Hive partition `export_date=YYYY-MM-DD/` (UTC
    /// date of the run), read back as an `export_date` column by DuckDB and Spark.
    #[arg(long)]
    pub partition_by_date: bool,

    /// S3-compatible endpoint (MinIO, Cloudflare R2, Ceph, ...), e.g. `https://minio.local:9000`.
    /// Same as AWS_ENDPOINT.
    #[arg(long, value_name = "URL", help_heading = "Object storage")]
    pub s3_endpoint: Option<String>,

    /// S3 region. Same as AWS_REGION.
    #[arg(long, value_name = "REGION", help_heading = "Object storage")]
    pub s3_region: Option<String>,

    /// Path-style S3 requests (endpoint/bucket/key), as most S3-compatible servers want.
    #[arg(long, help_heading = "Object storage")]
    pub s3_path_style: bool,

    /// Allow a plain-HTTP endpoint (unencrypted: for a local or trusted network only).
    #[arg(long, help_heading = "Object storage")]
    pub allow_http: bool,

    /// Any object_store option as KEY=VALUE (repeatable), e.g. `region=eu-west-1`,
    /// `virtual_hosted_style_request=true`, `proxy_url=...`. Overrides the environment.
    /// Prefer environment variables for secrets: command lines are visible to other users of
    /// the machine.
    #[arg(
        long = "storage-option",
        value_name = "KEY=VALUE",
        value_parser = raw_storage_option,
        help_heading = "Object storage"
    )]
    pub storage_options: Vec<RawStorageOption>,

    /// Size of one multipart-upload part (5MiB to 5GiB); smaller files go in one PUT. Memory
    /// used by the upload is about part size × (concurrency + 1).
    #[arg(long, default_value = "8MiB", value_parser = parse_size, value_name = "SIZE",
          help_heading = "Object storage")]
    pub upload_part_size: u64,

    /// Parts uploaded at the same time.
    #[arg(long, default_value_t = DEFAULT_UPLOAD_CONCURRENCY, value_name = "N",
          help_heading = "Object storage")]
    pub upload_concurrency: usize,

    /// Retries of one storage request on transient failures (5xx, 429, timeouts, dropped
    /// connections), with exponential backoff.
    #[arg(long, default_value_t = crate::sink::DEFAULT_UPLOAD_MAX_RETRIES,
          value_name = "N", help_heading = "Object storage")]
    pub upload_retries: usize,

    /// Time budget for the retries of one storage request, e.g. `2m`.
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION",
          help_heading = "Object storage")]
    pub upload_retry_timeout: Duration,
}

/// A `--storage-option` as typed. It is checked later ([`StorageOption::parse`]) rather than by
/// clap, whose errors would echo it; its `Debug` shows the key only, since the value may be a
/// secret.
#[derive(Clone)]
pub struct RawStorageOption(pub String);

impl std::fmt::Debug for RawStorageOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.split_once('=') {
            Some((key, _)) => write!(f, "{key}=[REDACTED]"),
            None => f.write_str("[REDACTED]"),
        }
    }
}

#[allow(clippy::unnecessary_wraps)] // the signature clap wants
fn raw_storage_option(s: &str) -> Result<RawStorageOption, String> {
    Ok(RawStorageOption(s.to_owned()))
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Replace the file at DEST atomically.
    Replace,
    /// Add a new part file to the dataset at DEST.
    Append,
}

/// `--if-exists` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IfExistsArg {
    /// Stop before writing anything.
    Fail,
    /// Replace it atomically.
    Replace,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("not a duration: {s:?} ({e}); try 2m or 90s"))
}

impl OutputArgs {
    /// Validated destination options.
    pub fn to_options(&self) -> Result<DestinationOptions> {
        let output = self
            .output
            .clone()
            .ok_or_else(|| Error::usage("--output is required (a local path or a URL)"))?;
        self.to_options_for(output)
    }

    /// Validated destination options for `output` (for callers whose output comes from
    /// elsewhere, such as a jobs file).
    pub fn to_options_for(&self, output: String) -> Result<DestinationOptions> {
        let mut o = DestinationOptions::new(output);
        o.mode = match self.mode {
            ModeArg::Replace => WriteMode::Replace,
            ModeArg::Append => WriteMode::Append,
        };
        if let Some(x) = self.if_exists {
            if o.mode == WriteMode::Append {
                return Err(Error::usage(
                    "--if-exists applies to --mode replace only (append never overwrites)",
                ));
            }
            o.if_exists = match x {
                IfExistsArg::Fail => IfExists::Fail,
                IfExistsArg::Replace => IfExists::Replace,
            };
        }
        o.partition_by_date = self.partition_by_date;
        o.s3_endpoint.clone_from(&self.s3_endpoint);
        o.s3_region.clone_from(&self.s3_region);
        o.s3_path_style = self.s3_path_style;
        o.allow_http = self.allow_http;
        o.storage_options = self
            .storage_options
            .iter()
            .map(|s| StorageOption::parse(&s.0))
            .collect::<Result<_>>()?;
        o.upload_part_size = usize::try_from(self.upload_part_size)
            .map_err(|_| Error::usage("--upload-part-size is too large for this machine"))?;
        o.upload_concurrency = self.upload_concurrency;
        o.max_retries = self.upload_retries;
        o.retry_timeout = self.upload_retry_timeout;
        o.validate()?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        out: OutputArgs,
    }

    fn parse(args: &[&str]) -> std::result::Result<DestinationOptions, String> {
        let mut argv = vec!["t"];
        argv.extend_from_slice(args);
        let t = T::try_parse_from(argv).map_err(|e| e.to_string())?;
        t.out.to_options().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = parse(&["-o", "out.parquet"]).unwrap();
        assert_eq!(o.output, "out.parquet");
        assert_eq!(o.mode, WriteMode::Replace);
        assert_eq!(o.if_exists, IfExists::Replace);
        assert_eq!(o.upload_part_size, 8 << 20);
        assert_eq!(o.upload_concurrency, DEFAULT_UPLOAD_CONCURRENCY);
        assert_eq!(o.retry_timeout, Duration::from_mins(2));
        assert!(o.read_env);
    }

    #[test]
    fn every_flag_reaches_the_options() {
        let o = parse(&[
            "--output",
            "s3://b/ds/",
            "--mode",
            "append",
            "--partition-by-date",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-region",
            "eu-west-1",
            "--s3-path-style",
            "--allow-http",
            "--storage-option",
            "aws_secret_access_key=s3cr3t",
            "--storage-option",
            "token=t",
            "--upload-part-size",
            "16MiB",
            "--upload-concurrency",
            "2",
            "--upload-retries",
            "3",
            "--upload-retry-timeout",
            "30s",
        ])
        .unwrap();
        assert_eq!(o.mode, WriteMode::Append);
        assert!(o.partition_by_date && o.s3_path_style && o.allow_http);
        assert_eq!(o.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.s3_region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.storage_options.len(), 2);
        assert_eq!(o.storage_options[0].key, "aws_secret_access_key");
        assert_eq!(o.upload_part_size, 16 << 20);
        assert_eq!(o.upload_concurrency, 2);
        assert_eq!(o.max_retries, 3);
        assert_eq!(o.retry_timeout, Duration::from_secs(30));
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn storage_options_as_typed_never_show_their_values() {
        let raw = [
            RawStorageOption("aws_secret_access_key=s3cr3t".into()),
            RawStorageOption("s3cr3t".into()),
        ];
        assert_eq!(
            format!("{raw:?}"),
            "[aws_secret_access_key=[REDACTED], [REDACTED]]"
        );
    }

    #[test]
    fn bad_combinations_are_usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-o", "x", "--mode", "append", "--if-exists", "fail"],
                "--if-exists",
            ),
            (&["-o", "x", "--partition-by-date"], "--partition-by-date"),
            (
                &["-o", "x", "--upload-part-size", "1MiB"],
                "--upload-part-size",
            ),
            (
                &["-o", "x", "--upload-concurrency", "0"],
                "--upload-concurrency",
            ),
            (&["-o", "x", "--storage-option", "novalue"], "KEY=VALUE"),
            (&["-o", "x", "--mode", "sideways"], "sideways"),
            (&["-o", "x", "--upload-retry-timeout", "soon"], "duration"),
            (&["-o", ""], "must not be empty"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        assert_eq!(
            parse(&["-o", "x", "--if-exists", "fail"])
                .unwrap()
                .if_exists,
            IfExists::Fail
        );
    }
}
