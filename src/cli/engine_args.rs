//! Engine options shared by `convert`, `export` and `run`: dialect, encoding, layout, inference,
//! types and Parquet settings.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::convert::{
    Codec, CsvOptions, DEFAULT_INFER_ROWS, DEFAULT_ROW_GROUP_ROWS, EngineOptions, InferRows,
    InputEncoding, ParquetOptions, SchemaOptions,
};
use crate::error::{Error, Result};
use crate::convert::schema::{ColumnType, Layout};

/// How to read the CSV and what Parquet to write.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "CSV and schema")]
pub struct EngineArgs {
    /// Field separator: one ASCII character, or `tab`.
    #[arg(long, default_value = ",", value_name = "CHAR")]
    pub delimiter: String,

    /// Input text encoding; transcoded to UTF-8 as it streams.
    #[arg(long, value_enum, default_value_t = EncodingArg::Utf8)]
    pub encoding: EncodingArg,

    /// `single-column`: Anaplan Tabular Single Column, every column but the last is a dimension
    /// and stays text; only the last (`Value`) is inferred. `generic`: infer every column.
    #[arg(long, value_enum, default_value_t = LayoutArg::SingleColumn)]
    pub layout: LayoutArg,

    /// Rows read to infer types: a number (the sample also stops at 32 MiB of text), or `all`
    /// (reads the input twice). A later value that does not fit widens its column (Int64 →
    /// Float64 → Utf8) instead of failing.
    #[arg(long, default_value_t = DEFAULT_INFER_ROWS.to_string(), value_name = "N|all")]
    pub infer_rows: String,

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

    /// Parquet compression.
    #[arg(long, value_enum, default_value_t = CodecArg::Zstd, help_heading = "Parquet")]
    pub compression: CodecArg,

    /// Maximum rows per row group.
    #[arg(long, default_value_t = DEFAULT_ROW_GROUP_ROWS, help_heading = "Parquet")]
    pub row_group_rows: usize,

    /// Maximum encoded size of a row group, e.g. `64MiB`; bounds memory with wide text.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, help_heading = "Parquet")]
    pub row_group_bytes: u64,
}

/// `--encoding` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EncodingArg {
    /// UTF-8 (default); a BOM is stripped.
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// UTF-16 little endian, as Anaplan's "CSV for Excel" files.
    #[value(name = "utf-16le", alias = "utf16le")]
    Utf16Le,
    /// ISO-8859-1 (Latin-1).
    #[value(name = "iso-8859-1", alias = "latin1")]
    Latin1,
    /// Windows-1252.
    #[value(name = "windows-1252", alias = "cp1252")]
    Windows1252,
}

/// `--layout` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// Tabular Single Column: dimensions stay text, the last column is inferred.
    SingleColumn,
    /// Every column is inferred.
    Generic,
}

/// `--compression` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CodecArg {
    /// Zstandard, level 1 (default): small files, fast.
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (raw).
    Lz4,
    /// Gzip.
    Gzip,
    /// No compression.
    None,
}

impl EngineArgs {
    /// Validates the arguments into engine options.
    pub fn to_options(&self) -> Result<EngineOptions> {
        let delimiter = parse_delimiter(&self.delimiter)?;
        let infer_rows = match self.infer_rows.trim() {
            "all" => InferRows::All,
            n => match n.parse::<usize>() {
                Ok(0) | Err(_) => {
                    return Err(Error::usage(format!(
                        "--infer-rows takes a positive number or `all`, not {n:?}"
                    )));
                }
                Ok(n) => InferRows::Rows(n),
            },
        };
        let mut overrides = Vec::new();
        if let Some(path) = &self.schema {
            overrides.extend(read_schema_file(path)?);
        }
        for spec in &self.types {
            overrides.push(parse_type_spec(spec)?);
        }
        if self.row_group_rows == 0 {
            return Err(Error::usage("--row-group-rows must be at least 1"));
        }
        if self.row_group_bytes < 1 << 20 {
            return Err(Error::usage("--row-group-bytes must be at least 1MiB"));
        }
        Ok(EngineOptions {
            csv: CsvOptions {
                delimiter,
                encoding: match self.encoding {
                    EncodingArg::Utf8 => InputEncoding::Utf8,
                    EncodingArg::Utf16Le => InputEncoding::Utf16Le,
                    EncodingArg::Latin1 => InputEncoding::Latin1,
                    EncodingArg::Windows1252 => InputEncoding::Windows1252,
                },
            },
            schema: SchemaOptions {
                layout: match self.layout {
                    LayoutArg::SingleColumn => Layout::SingleColumn,
                    LayoutArg::Generic => Layout::Generic,
                },
                infer_rows,
                overrides,
                value_number: !self.no_value_number,
                fallback_header: None,
            },
            parquet: ParquetOptions {
                compression: match self.compression {
                    CodecArg::Zstd => Codec::Zstd,
                    CodecArg::Snappy => Codec::Snappy,
                    CodecArg::Lz4 => Codec::Lz4,
                    CodecArg::Gzip => Codec::Gzip,
                    CodecArg::None => Codec::None,
                },
                row_group_rows: self.row_group_rows,
                row_group_bytes: usize::try_from(self.row_group_bytes).unwrap_or(usize::MAX),
                metadata: Vec::new(),
            },
            keep_input: None,
        })
    }
}

fn parse_delimiter(s: &str) -> Result<u8> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() => {
            let b = s.as_bytes()[0];
            if matches!(b, b'"' | b'\n' | b'\r') {
                Err(Error::usage(format!("--delimiter cannot be {s:?}")))
            } else {
                Ok(b)
            }
        }
        _ => Err(Error::usage(format!(
            "--delimiter takes one ASCII character or `tab`, not {s:?}"
        ))),
    }
}

/// Parses `COL=TYPE`.
fn parse_type_spec(spec: &str) -> Result<(String, ColumnType)> {
    let Some((col, ty)) = spec.rsplit_once('=') else {
        return Err(Error::usage(format!(
            "--type takes COL=TYPE (for example Value=float64), not {spec:?}"
        )));
    };
    if col.is_empty() {
        return Err(Error::usage(format!(
            "--type {spec:?}: the column name is empty"
        )));
    }
    let ty = ty
        .trim()
        .parse::<ColumnType>()
        .map_err(|e| Error::usage(format!("--type {spec:?}: {e}")))?;
    Ok((col.to_owned(), ty))
}

fn read_schema_file(path: &PathBuf) -> Result<Vec<(String, ColumnType)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read --schema {}: {e}", path.display())))?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!(
                "--schema {} is not a JSON object of column → type: {e}",
                path.display()
            ))
        })?;
    map.into_iter()
        .map(|(col, v)| {
            let ty = v.as_str().ok_or_else(|| {
                Error::usage(format!(
                    "--schema {}: the type of {col:?} must be a string",
                    path.display()
                ))
            })?;
            let ty = ty.parse::<ColumnType>().map_err(|e| {
                Error::usage(format!("--schema {}: column {col:?}: {e}", path.display()))
            })?;
            Ok((col, ty))
        })
        .collect()
}

/// Parses a byte size: `1048576`, `64MiB`, `64MB`, `1GiB`, `512k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (try 64MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, n) in [
            ("1048576", 1_048_576),
            ("64MiB", 64 << 20),
            ("64MB", 64_000_000),
            ("1.5GiB", 3 << 29),
            ("512k", 512_000),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn type_specs() {
        assert_eq!(
            parse_type_spec("Value=float64").unwrap(),
            ("Value".into(), ColumnType::Float64)
        );
        assert_eq!(
            parse_type_spec("a=b=utf8").unwrap(),
            ("a=b".into(), ColumnType::Utf8)
        );
        assert!(parse_type_spec("Value").is_err());
        assert!(parse_type_spec("=int64").is_err());
        assert!(parse_type_spec("Value=decimal").is_err());
    }

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(",").unwrap(), b',');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert!(parse_delimiter("\"").is_err());
        assert!(parse_delimiter(";;").is_err());
        assert!(parse_delimiter("é").is_err());
    }
}
