//! CSV, schema and Parquet settings (`convert`, `export`, a jobs file's datasets), validated
//! into [`EngineOptions`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::{Choice, choose_or, number_or_text, size};
use crate::convert::schema::{ColumnType, Layout};
use crate::convert::{
    Codec, CsvOptions, EngineOptions, InferRows, InputEncoding, ParquetOptions, SchemaOptions,
};
use crate::error::{Error, Result};

/// The input encodings, by name.
pub(crate) const ENCODINGS: &[Choice<InputEncoding>] = &[
    Choice {
        name: "utf-8",
        aliases: &["utf8"],
        help: "UTF-8 (default); a BOM is stripped",
        value: InputEncoding::Utf8,
    },
    Choice {
        name: "utf-16le",
        aliases: &["utf16le"],
        help: "UTF-16 little endian, as Anaplan's \"CSV for Excel\" files",
        value: InputEncoding::Utf16Le,
    },
    Choice {
        name: "iso-8859-1",
        aliases: &["latin1"],
        help: "ISO-8859-1 (Latin-1)",
        value: InputEncoding::Latin1,
    },
    Choice {
        name: "windows-1252",
        aliases: &["cp1252"],
        help: "Windows-1252",
        value: InputEncoding::Windows1252,
    },
];

/// The column layouts, by name.
pub(crate) const LAYOUTS: &[Choice<Layout>] = &[
    Choice {
        name: "single-column",
        aliases: &["single_column"],
        help: "Tabular Single Column: dimensions stay text, the last column is inferred",
        value: Layout::SingleColumn,
    },
    Choice {
        name: "generic",
        aliases: &[],
        help: "Every column is inferred",
        value: Layout::Generic,
    },
];

/// The Parquet codecs, by name.
pub(crate) const CODECS: &[Choice<Codec>] = &[
    Choice {
        name: "zstd",
        aliases: &[],
        help: "Zstandard, level 1 (default): small files, fast",
        value: Codec::Zstd,
    },
    Choice {
        name: "snappy",
        aliases: &[],
        help: "Snappy",
        value: Codec::Snappy,
    },
    Choice {
        name: "lz4",
        aliases: &[],
        help: "LZ4 (raw)",
        value: Codec::Lz4,
    },
    Choice {
        name: "gzip",
        aliases: &[],
        help: "Gzip",
        value: Codec::Gzip,
    },
    Choice {
        name: "none",
        aliases: &[],
        help: "No compression",
        value: Codec::None,
    },
];

/// The smallest `row_group_bytes`: below it, row groups would hold too few rows to compress.
const MIN_ROW_GROUP_BYTES: u64 = 1 << 20;

/// How to read the CSV and what Parquet to write, as given; `None` takes the default.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct EngineSettings {
    /// `delimiter`: one ASCII character, or `tab`.
    pub delimiter: Option<String>,
    /// `encoding`: a name of [`ENCODINGS`].
    pub encoding: Option<String>,
    /// `layout`: a name of [`LAYOUTS`].
    pub layout: Option<String>,
    /// `infer_rows`: a positive number, or `all`.
    #[serde(default, deserialize_with = "number_or_text")]
    pub infer_rows: Option<String>,
    /// `types`: forced types, column → type name (after those of `schema`).
    #[serde(default, deserialize_with = "column_types")]
    pub types: Vec<(String, String)>,
    /// `schema`: a JSON file of column → type name.
    pub schema: Option<PathBuf>,
    /// `value_number`: add the `Value_number` companion column (default true).
    pub value_number: Option<bool>,
    /// `compression`: a name of [`CODECS`].
    pub compression: Option<String>,
    /// `row_group_rows`: at least 1.
    pub row_group_rows: Option<usize>,
    /// `row_group_bytes`: a size, at least 1MiB.
    #[serde(default, deserialize_with = "number_or_text")]
    pub row_group_bytes: Option<String>,
}

/// A table of column = type, in the table's (sorted) order.
fn column_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    Ok(
        std::collections::BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect(),
    )
}

impl EngineSettings {
    /// Validates the settings into engine options.
    pub(crate) fn options(&self) -> Result<EngineOptions> {
        let defaults = EngineOptions::default();
        let mut overrides = Vec::new();
        if let Some(path) = &self.schema {
            overrides.extend(read_schema_file(path)?);
        }
        for (column, ty) in &self.types {
            overrides.push(column_type(column, ty)?);
        }
        let row_group_rows = self
            .row_group_rows
            .unwrap_or(defaults.parquet.row_group_rows);
        if row_group_rows == 0 {
            return Err(Error::invalid_setting(
                "row_group_rows",
                "must be at least 1",
            ));
        }
        let row_group_bytes = match &self.row_group_bytes {
            None => defaults.parquet.row_group_bytes,
            Some(text) => {
                let n = size("row_group_bytes", text)?;
                if n < MIN_ROW_GROUP_BYTES {
                    return Err(Error::invalid_setting(
                        "row_group_bytes",
                        format!("must be at least 1MiB, not {text:?}"),
                    ));
                }
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        Ok(EngineOptions {
            csv: CsvOptions {
                delimiter: match &self.delimiter {
                    Some(d) => delimiter(d)?,
                    None => defaults.csv.delimiter,
                },
                encoding: choose_or(
                    "encoding",
                    ENCODINGS,
                    self.encoding.as_deref(),
                    defaults.csv.encoding,
                )?,
            },
            schema: SchemaOptions {
                layout: choose_or(
                    "layout",
                    LAYOUTS,
                    self.layout.as_deref(),
                    defaults.schema.layout,
                )?,
                infer_rows: match &self.infer_rows {
                    Some(n) => infer_rows(n)?,
                    None => defaults.schema.infer_rows,
                },
                overrides,
                value_number: self.value_number.unwrap_or(defaults.schema.value_number),
                fallback_header: None,
            },
            parquet: ParquetOptions {
                compression: choose_or(
                    "compression",
                    CODECS,
                    self.compression.as_deref(),
                    defaults.parquet.compression,
                )?,
                row_group_rows,
                row_group_bytes,
                metadata: Vec::new(),
            },
            keep_input: None,
        })
    }
}

fn delimiter(s: &str) -> Result<u8> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() => {
            let b = s.as_bytes()[0];
            if matches!(b, b'"' | b'\n' | b'\r') {
                Err(Error::invalid_setting(
                    "delimiter",
                    format!("cannot be {s:?}"),
                ))
            } else {
                Ok(b)
            }
        }
        _ => Err(Error::invalid_setting(
            "delimiter",
            format!("takes one ASCII character or `tab`, not {s:?}"),
        )),
    }
}

fn infer_rows(text: &str) -> Result<InferRows> {
    match text.trim() {
        "all" => Ok(InferRows::All),
        n => match n.parse::<usize>() {
            Ok(0) | Err(_) => Err(Error::invalid_setting(
                "infer_rows",
                format!("takes a positive number or `all`, not {n:?}"),
            )),
            Ok(n) => Ok(InferRows::Rows(n)),
        },
    }
}

/// One forced type of `types`.
fn column_type(column: &str, ty: &str) -> Result<(String, ColumnType)> {
    if column.is_empty() {
        return Err(Error::invalid_setting(
            "types",
            format!("the column name is empty (type {ty:?})"),
        ));
    }
    let ty = ty
        .trim()
        .parse::<ColumnType>()
        .map_err(|e| Error::invalid_setting("types", format!("column {column:?}: {e}")))?;
    Ok((column.to_owned(), ty))
}

fn read_schema_file(path: &Path) -> Result<Vec<(String, ColumnType)>> {
    let problem = |p: String| Error::invalid_setting("schema", p);
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(format!("cannot read {}: {e}", path.display())))?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| {
            problem(format!(
                "{} is not a JSON object of column → type: {e}",
                path.display()
            ))
        })?;
    map.into_iter()
        .map(|(col, v)| {
            let ty = v.as_str().ok_or_else(|| {
                problem(format!(
                    "{}: the type of {col:?} must be a string",
                    path.display()
                ))
            })?;
            let ty = ty
                .parse::<ColumnType>()
                .map_err(|e| problem(format!("{}: column {col:?}: {e}", path.display())))?;
            Ok((col, ty))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_given_is_the_library_default() {
        let o = EngineSettings::default().options().unwrap();
        let d = EngineOptions::default();
        assert_eq!(format!("{o:?}"), format!("{d:?}"));
    }

    #[test]
    fn every_setting_reaches_the_options() {
        let o = EngineSettings {
            delimiter: Some("tab".into()),
            encoding: Some("latin1".into()),
            layout: Some("generic".into()),
            infer_rows: Some("all".into()),
            types: vec![("Value".into(), "float64".into())],
            schema: None,
            value_number: Some(false),
            compression: Some("snappy".into()),
            row_group_rows: Some(10),
            row_group_bytes: Some("2MiB".into()),
        }
        .options()
        .unwrap();
        assert_eq!(o.csv.delimiter, b'\t');
        assert_eq!(o.csv.encoding, InputEncoding::Latin1);
        assert_eq!(o.schema.layout, Layout::Generic);
        assert_eq!(o.schema.infer_rows, InferRows::All);
        assert_eq!(o.schema.overrides, [("Value".into(), ColumnType::Float64)]);
        assert!(!o.schema.value_number);
        assert_eq!(o.parquet.compression, Codec::Snappy);
        assert_eq!(o.parquet.row_group_rows, 10);
        assert_eq!(o.parquet.row_group_bytes, 2 << 20);
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        let cases: Vec<(EngineSettings, &str, &str)> = vec![
            (
                EngineSettings {
                    delimiter: Some(";;".into()),
                    ..EngineSettings::default()
                },
                "delimiter",
                "one ASCII character",
            ),
            (
                EngineSettings {
                    delimiter: Some("\"".into()),
                    ..EngineSettings::default()
                },
                "delimiter",
                "cannot be",
            ),
            (
                EngineSettings {
                    infer_rows: Some("0".into()),
                    ..EngineSettings::default()
                },
                "infer_rows",
                "positive number",
            ),
            (
                EngineSettings {
                    types: vec![("Value".into(), "decimal".into())],
                    ..EngineSettings::default()
                },
                "types",
                "column \"Value\": unknown type \"decimal\"",
            ),
            (
                EngineSettings {
                    types: vec![(String::new(), "utf8".into())],
                    ..EngineSettings::default()
                },
                "types",
                "column name is empty",
            ),
            (
                EngineSettings {
                    compression: Some("brotli".into()),
                    ..EngineSettings::default()
                },
                "compression",
                "expected one of zstd, snappy, lz4, gzip, none, not \"brotli\"",
            ),
            (
                EngineSettings {
                    row_group_rows: Some(0),
                    ..EngineSettings::default()
                },
                "row_group_rows",
                "at least 1",
            ),
            (
                EngineSettings {
                    row_group_bytes: Some("512KiB".into()),
                    ..EngineSettings::default()
                },
                "row_group_bytes",
                "at least 1MiB",
            ),
            (
                EngineSettings {
                    schema: Some("/nonexistent/types.json".into()),
                    ..EngineSettings::default()
                },
                "schema",
                "cannot read /nonexistent/types.json",
            ),
        ];
        for (settings, name, words) in cases {
            match settings.options() {
                Err(Error::InvalidSetting { setting, problem }) => {
                    assert_eq!(setting, name, "{problem}");
                    assert!(problem.contains(words), "{name}: {problem}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_schema_file_comes_before_the_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.json");
        std::fs::write(&path, r#"{"Time": "utf8"}"#).unwrap();
        let o = EngineSettings {
            schema: Some(path),
            types: vec![("Value".into(), "int64".into())],
            ..EngineSettings::default()
        }
        .options()
        .unwrap();
        assert_eq!(
            o.schema.overrides,
            [
                ("Time".into(), ColumnType::Utf8),
                ("Value".into(), ColumnType::Int64)
            ]
        );
    }
}
