//! Destination flags shared by `convert`, `export` and `run` (`--output`, object-store flags).
//!
//! [`OutputArgs`] is flattened into each command's arguments; it fills [`OutputSettings`],
//! which the settings layer checks into the library's [`DestinationOptions`].

use clap::Args;

use super::{as_flags, named};
use crate::error::{Error, Result};
use crate::settings::output::{FORMATS, IF_EXISTS, MODES, SCHEMA_MODES};
use crate::settings::{OutputSettings, StorageOptionText};
use crate::sink::DestinationOptions;

/// Where and how to write the Parquet. A flag not given takes the library's default, shown in
/// brackets.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Where to write: a local path, or a URL: s3://bucket/key.parquet, gs://bucket/key.parquet,
    /// az://container/key.parquet, abfss://container@account.dfs.core.windows.net/key.parquet,
    /// file:///path. Object-store credentials come from the usual environment variables
    /// (AWS_*, GOOGLE_*, AZURE_*) or the machine's identity. Nothing is visible at DEST until
    /// the run succeeds; a failed run leaves an existing DEST untouched.
    #[arg(short, long, value_name = "DEST")]
    pub output: Option<String>,

    /// `replace`: DEST is one file, replaced atomically. `append`: DEST is a dataset prefix
    /// (directory or bucket prefix) and each run adds a part file
    /// `part-<UTC time>-<id>.parquet`; every part must have the same schema. A new local DEST
    /// (and its partition folder) is created only when the part is written: a failed run
    /// leaves no new folder [default: replace].
    #[arg(long, value_parser = named(MODES))]
    pub mode: Option<String>,

    /// `parquet`, or `delta`: DEST is then the root of a Delta Lake table (created by the first
    /// run with its schema); `--mode append` adds the run's file in one commit, `--mode
    /// replace` swaps the table's contents in one commit [default: parquet].
    #[arg(long, value_parser = named(FORMATS), value_name = "FORMAT")]
    pub format: Option<String>,

    /// Delta only: `strict` refuses a run whose columns differ from the table's; `merge` adds
    /// the run's new columns to the table (nullable) [default: strict].
    #[arg(long, value_parser = named(SCHEMA_MODES), value_name = "MODE")]
    pub schema_mode: Option<String>,

    /// In replace mode, what to do when DEST already exists [default: replace].
    #[arg(long, value_parser = named(IF_EXISTS), value_name = "WHAT")]
    pub if_exists: Option<String>,

    /// In append mode, write each part under a Hive partition `export_date=YYYY-MM-DD/` (UTC
    /// date of the run), read back as an `export_date` column by DuckDB and Spark. With
    /// `--format delta` (either mode), `export_date` is the table's partition column.
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
        value_parser = storage_option_text,
        help_heading = "Object storage"
    )]
    pub storage_options: Vec<StorageOptionText>,

    /// Size of one multipart-upload part (5MiB to 5GiB); smaller files go in one PUT. Memory
    /// used by the upload is about part size × (concurrency + 1) [default: 8MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Object storage")]
    pub upload_part_size: Option<String>,

    /// Parts uploaded at the same time [default: 4].
    #[arg(long, value_name = "N", help_heading = "Object storage")]
    pub upload_concurrency: Option<usize>,

    /// Retries of one storage request on transient failures (5xx, 429, timeouts, dropped
    /// connections), with exponential backoff [default: 6].
    #[arg(long, value_name = "N", help_heading = "Object storage")]
    pub upload_retries: Option<usize>,

    /// Time budget for the retries of one storage request, e.g. `2m` [default: 2m].
    #[arg(long, value_name = "DURATION", help_heading = "Object storage")]
    pub upload_retry_timeout: Option<String>,
}

/// Takes a `--storage-option` as typed: it is checked by the settings layer rather than by
/// clap, whose errors would echo it (the value may be a secret).
#[allow(clippy::unnecessary_wraps)] // the signature clap wants
fn storage_option_text(s: &str) -> std::result::Result<StorageOptionText, String> {
    Ok(StorageOptionText(s.to_owned()))
}

impl OutputArgs {
    /// The flags as settings (`--output` aside).
    pub(crate) fn settings(&self) -> OutputSettings {
        OutputSettings {
            mode: self.mode.clone(),
            if_exists: self.if_exists.clone(),
            partition_by_date: self.partition_by_date.then_some(true),
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_path_style: self.s3_path_style.then_some(true),
            allow_http: self.allow_http.then_some(true),
            storage_options: self.storage_options.clone(),
            upload_part_size: self.upload_part_size.clone(),
            upload_concurrency: self.upload_concurrency,
            upload_retries: self.upload_retries,
            upload_retry_timeout: self.upload_retry_timeout.clone(),
            format: self.format.clone(),
            schema_mode: self.schema_mode.clone(),
        }
    }

    /// Validated destination options; a bad value is named as its flag.
    pub(crate) fn to_options(&self) -> Result<DestinationOptions> {
        let output = self
            .output
            .clone()
            .ok_or_else(|| Error::usage("--output is required (a local path or a URL)"))?;
        self.settings().options(output).map_err(as_flags)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::sink::{DEFAULT_UPLOAD_CONCURRENCY, IfExists, WriteMode};

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
    fn every_default_in_the_help_is_the_library_default() {
        let library = format!("{:?}", DestinationOptions::new("x"));
        let defaults = crate::cli::defaults_in_help(&T::command());
        for (flag, default) in &defaults {
            let given = parse(&["-o", "x", flag, default]).unwrap();
            assert_eq!(format!("{given:?}"), library, "{flag}");
        }
        assert_eq!(defaults.len(), 8);
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
        let t = T::try_parse_from(["t", "--storage-option", "secret=s3cr3t"]).unwrap();
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_combinations_are_usage_errors() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-o", "x", "--mode", "append", "--if-exists", "fail"],
                "--if-exists: applies to replace mode only",
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
            (
                &["-o", "x", "--mode", "sideways"],
                "--mode: expected one of replace, append, not \"sideways\"",
            ),
            (
                &["-o", "x", "--upload-retry-timeout", "soon"],
                "--upload-retry-timeout: not a duration: \"soon\"",
            ),
            (&["-o", ""], "must not be empty"),
            (&[], "--output is required"),
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
