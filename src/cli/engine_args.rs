//! Engine flags shared by `convert`, `export` and `demo`: dialect, encoding, layout, inference,
//! types and Parquet settings. They fill [`EngineSettings`], which the settings layer checks.

use std::path::PathBuf;

use clap::Args;

use super::{as_flags, named};
use crate::convert::EngineOptions;
use crate::error::{Error, Result};
use crate::settings::EngineSettings;
use crate::settings::engine::{CODECS, ENCODINGS, LAYOUTS};

/// How to read the CSV and what Parquet to write. A flag not given takes the library's
/// default, shown in brackets.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "CSV and schema")]
pub(crate) struct EngineArgs {
    /// Field separator: one ASCII character, or `tab` [default: ,].
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,

    /// Input text encoding; transcoded to UTF-8 as it streams [default: utf-8].
    #[arg(long, value_parser = named(ENCODINGS))]
    pub encoding: Option<String>,

    /// `single-column`: Anaplan Tabular Single Column, every column but the last is a dimension
    /// and stays text; only the last (`Value`) is inferred. `generic`: infer every column.
    /// Without the flag: single-column, except for an export whose metadata says Tabular
    /// Multiple Column (its dimension columns stay text, each line-item column is inferred).
    #[arg(long, value_parser = named(LAYOUTS))]
    pub layout: Option<String>,

    /// Rows read to infer types: a number (the sample also stops at 32 MiB of text), or `all`
    /// (reads the input twice). A later value that does not fit widens its column (Int64 →
    /// Float64 → Utf8) instead of failing [default: 100000].
    #[arg(long, value_name = "N|all")]
    pub infer_rows: Option<String>,

    /// Force a column's type, e.g. `--type Value=float64` (repeatable). Types: boolean, int64,
    /// float64, date, timestamp, utf8. A value that does not fit a forced type is an error.
    #[arg(long = "type", value_name = "COL=TYPE")]
    pub types: Vec<String>,

    /// JSON file of forced types: `{"column": "type", ...}`.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,

    /// Do not add the `Value_number` companion column to a mixed `Value` column.
    #[arg(long)]
    pub no_value_number: bool,

    /// Parquet compression [default: zstd].
    #[arg(long, value_parser = named(CODECS), help_heading = "Parquet")]
    pub compression: Option<String>,

    /// Maximum rows per row group [default: 1048576].
    #[arg(long, value_name = "N", help_heading = "Parquet")]
    pub row_group_rows: Option<usize>,

    /// Maximum encoded size of a row group, e.g. `64MiB`; bounds memory with wide text
    /// [default: 64MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Parquet")]
    pub row_group_bytes: Option<String>,
}

impl EngineArgs {
    /// The flags as settings.
    pub(crate) fn settings(&self) -> Result<EngineSettings> {
        Ok(EngineSettings {
            delimiter: self.delimiter.clone(),
            encoding: self.encoding.clone(),
            layout: self.layout.clone(),
            infer_rows: self.infer_rows.clone(),
            types: self
                .types
                .iter()
                .map(|spec| type_spec(spec))
                .collect::<Result<_>>()?,
            schema: self.schema.clone(),
            value_number: self.no_value_number.then_some(false),
            compression: self.compression.clone(),
            row_group_rows: self.row_group_rows,
            row_group_bytes: self.row_group_bytes.clone(),
        })
    }

    /// Validates the flags into engine options; a bad value is named as its flag.
    pub(crate) fn to_options(&self) -> Result<EngineOptions> {
        self.settings().and_then(|s| s.options()).map_err(as_flags)
    }
}

/// Splits `COL=TYPE` (the column may hold `=`; the type may not).
fn type_spec(spec: &str) -> Result<(String, String)> {
    spec.rsplit_once('=')
        .map(|(col, ty)| (col.to_owned(), ty.to_owned()))
        .ok_or_else(|| {
            Error::invalid_setting(
                "types",
                format!("expected COL=TYPE (for example Value=float64), not {spec:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::convert::schema::ColumnType;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        engine: EngineArgs,
    }

    fn options(args: &[&str]) -> Result<EngineOptions> {
        let argv = std::iter::once("t").chain(args.iter().copied());
        T::try_parse_from(argv).unwrap().engine.to_options()
    }

    #[test]
    fn no_flag_is_the_library_default() {
        let o = options(&[]).unwrap();
        assert_eq!(format!("{o:?}"), format!("{:?}", EngineOptions::default()));
    }

    #[test]
    fn type_specs() {
        let o = options(&["--type", "Value=float64", "--type", "a=b=utf8"]).unwrap();
        assert_eq!(
            o.schema.overrides,
            [
                ("Value".into(), ColumnType::Float64),
                ("a=b".into(), ColumnType::Utf8)
            ]
        );
        for (bad, words) in [
            ("Value", "--type: expected COL=TYPE"),
            ("=int64", "--type: the column name is empty"),
            ("Value=decimal", "--type: column \"Value\": unknown type"),
        ] {
            let e = options(&["--type", bad]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{e:?}");
            assert!(e.to_string().starts_with(words), "{bad}: {e}");
        }
    }

    #[test]
    fn named_values_show_in_help_and_are_checked_by_the_settings() {
        let help = T::command().render_long_help().to_string();
        assert!(
            help.contains("Zstandard") && help.contains("windows-1252"),
            "{help}"
        );
        assert!(!help.contains("cp1252"), "aliases stay hidden: {help}");
        assert_eq!(
            options(&["--encoding", "cp1252"]).unwrap().csv.encoding,
            crate::convert::InputEncoding::Windows1252
        );
        let e = options(&["--compression", "brotli"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--compression: expected one of zstd, snappy, lz4, gzip, none, not \"brotli\""
        );
    }

    #[test]
    fn every_default_in_the_help_is_the_library_default() {
        let library = format!("{:?}", EngineOptions::default());
        let defaults = crate::cli::defaults_in_help(&T::command());
        for (flag, default) in &defaults {
            let given = options(&[flag, default]).unwrap();
            assert_eq!(format!("{given:?}"), library, "{flag}");
        }
        assert_eq!(defaults.len(), 6);
    }
}
