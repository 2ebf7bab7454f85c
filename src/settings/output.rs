//! Destination settings (`--output` and the object-store settings), validated into
//! [`DestinationOptions`].

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::{Choice, choose_or, duration, number_or_text, size};
use crate::error::{Error, Result};
use crate::sink::{
    DestinationOptions, IfExists, OutputFormat, SchemaMode, StorageOption, WriteMode,
};

/// The write modes, by name.
pub(crate) const MODES: &[Choice<WriteMode>] = &[
    Choice {
        name: "replace",
        aliases: &[],
        help: "Replace the file at DEST atomically",
        value: WriteMode::Replace,
    },
    Choice {
        name: "append",
        aliases: &[],
        help: "Add a new part file to the dataset at DEST",
        value: WriteMode::Append,
    },
];

/// What replace mode does with an existing file, by name.
pub(crate) const IF_EXISTS: &[Choice<IfExists>] = &[
    Choice {
        name: "fail",
        aliases: &[],
        help: "Stop before writing anything",
        value: IfExists::Fail,
    },
    Choice {
        name: "replace",
        aliases: &[],
        help: "Replace it atomically",
        value: IfExists::Replace,
    },
];

/// The output formats, by name.
pub(crate) const FORMATS: &[Choice<OutputFormat>] = &[
    Choice {
        name: "parquet",
        aliases: &[],
        help: "A Parquet file, or a dataset of Parquet parts (append)",
        value: OutputFormat::Parquet,
    },
    Choice {
        name: "delta",
        aliases: &[],
        help: "A Delta Lake table rooted at DEST; each run is one commit",
        value: OutputFormat::Delta,
    },
];

/// What a Delta run does with a schema that differs from the table's, by name.
pub(crate) const SCHEMA_MODES: &[Choice<SchemaMode>] = &[
    Choice {
        name: "strict",
        aliases: &[],
        help: "Refuse the run before writing, naming the columns",
        value: SchemaMode::Strict,
    },
    Choice {
        name: "merge",
        aliases: &[],
        help: "Add the run's new columns to the table as nullable columns",
        value: SchemaMode::Merge,
    },
];

/// Where and how to write, as given (the output itself aside); `None` takes the default.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct OutputSettings {
    /// `mode`: a name of [`MODES`].
    pub mode: Option<String>,
    /// `if_exists`: a name of [`IF_EXISTS`]; replace mode only.
    pub if_exists: Option<String>,
    /// `partition_by_date`: append mode only.
    pub partition_by_date: Option<bool>,
    /// `s3_endpoint`: an http(s) URL.
    pub s3_endpoint: Option<String>,
    /// `s3_region`.
    pub s3_region: Option<String>,
    /// `s3_path_style`.
    pub s3_path_style: Option<bool>,
    /// `allow_http`.
    pub allow_http: Option<bool>,
    /// `storage_options`: `object_store` options, `key=value` each.
    #[serde(default, deserialize_with = "storage_options")]
    pub storage_options: Vec<StorageOptionText>,
    /// `upload_part_size`: a size.
    #[serde(default, deserialize_with = "number_or_text")]
    pub upload_part_size: Option<String>,
    /// `upload_concurrency`.
    pub upload_concurrency: Option<usize>,
    /// `upload_retries`.
    pub upload_retries: Option<usize>,
    /// `upload_retry_timeout`: a duration.
    pub upload_retry_timeout: Option<String>,
    /// `format`: a name of [`FORMATS`].
    pub format: Option<String>,
    /// `schema_mode`: a name of [`SCHEMA_MODES`]; Delta only.
    pub schema_mode: Option<String>,
}

/// A storage option as given, `key=value`, checked by [`StorageOption::parse`]. The value may
/// be a secret, so `Debug` shows the key only.
#[derive(Clone)]
pub(crate) struct StorageOptionText(pub String);

impl fmt::Debug for StorageOptionText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once('=') {
            Some((key, _)) => write!(f, "{key}=[REDACTED]"),
            None => f.write_str("[REDACTED]"),
        }
    }
}

/// A table of key = value.
fn storage_options<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StorageOptionText>, D::Error> {
    Ok(
        std::collections::BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| StorageOptionText(format!("{k}={v}")))
            .collect(),
    )
}

impl OutputSettings {
    /// Validates the settings into the options for writing to `output`.
    pub(crate) fn options(&self, output: String) -> Result<DestinationOptions> {
        let mut o = DestinationOptions::new(output);
        o.mode = choose_or("mode", MODES, self.mode.as_deref(), o.mode)?;
        o.format = choose_or("format", FORMATS, self.format.as_deref(), o.format)?;
        o.schema_mode = choose_or(
            "schema_mode",
            SCHEMA_MODES,
            self.schema_mode.as_deref(),
            o.schema_mode,
        )?;
        if let Some(given) = &self.if_exists {
            // Checked here, not only by the library: `if_exists = "replace"` is the default
            // value, yet naming it in append mode is still a mistake worth reporting.
            if o.mode == WriteMode::Append {
                return Err(Error::invalid_setting(
                    "if_exists",
                    "applies to replace mode only (append never overwrites)",
                ));
            }
            o.if_exists = choose_or("if_exists", IF_EXISTS, Some(given), o.if_exists)?;
        }
        o.partition_by_date = self.partition_by_date.unwrap_or(o.partition_by_date);
        o.s3_endpoint.clone_from(&self.s3_endpoint);
        o.s3_region.clone_from(&self.s3_region);
        o.s3_path_style = self.s3_path_style.unwrap_or(o.s3_path_style);
        o.allow_http = self.allow_http.unwrap_or(o.allow_http);
        o.storage_options = self
            .storage_options
            .iter()
            .map(|s| StorageOption::parse(&s.0))
            .collect::<Result<_>>()?;
        if let Some(text) = &self.upload_part_size {
            o.upload_part_size =
                usize::try_from(size("upload_part_size", text)?).map_err(|_| {
                    Error::invalid_setting("upload_part_size", "is too large for this machine")
                })?;
        }
        o.upload_concurrency = self.upload_concurrency.unwrap_or(o.upload_concurrency);
        o.max_retries = self.upload_retries.unwrap_or(o.max_retries);
        if let Some(text) = &self.upload_retry_timeout {
            o.retry_timeout = duration("upload_retry_timeout", text)?;
        }
        o.validate()?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sink::DEFAULT_UPLOAD_CONCURRENCY;

    #[test]
    fn nothing_given_is_the_library_default() {
        let o = OutputSettings::default()
            .options("x.parquet".into())
            .unwrap();
        let d = DestinationOptions::new("x.parquet");
        assert_eq!(format!("{o:?}"), format!("{d:?}"));
        assert_eq!(o.upload_concurrency, DEFAULT_UPLOAD_CONCURRENCY);
    }

    #[test]
    fn every_setting_reaches_the_options() {
        let o = OutputSettings {
            mode: Some("append".into()),
            if_exists: None,
            partition_by_date: Some(true),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            s3_region: Some("eu-west-1".into()),
            s3_path_style: Some(true),
            allow_http: Some(true),
            storage_options: vec![StorageOptionText("token=s3cr3t".into())],
            upload_part_size: Some("16MiB".into()),
            upload_concurrency: Some(2),
            upload_retries: Some(3),
            upload_retry_timeout: Some("30s".into()),
            ..OutputSettings::default()
        }
        .options("s3://b/ds/".into())
        .unwrap();
        assert_eq!(o.mode, WriteMode::Append);
        assert!(o.partition_by_date && o.s3_path_style && o.allow_http);
        assert_eq!(o.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.s3_region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.storage_options[0].key, "token");
        assert_eq!(o.upload_part_size, 16 << 20);
        assert_eq!((o.upload_concurrency, o.max_retries), (2, 3));
        assert_eq!(o.retry_timeout, Duration::from_secs(30));
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn storage_options_as_given_never_show_their_values() {
        let given = [
            StorageOptionText("aws_secret_access_key=s3cr3t".into()),
            StorageOptionText("s3cr3t".into()),
        ];
        assert_eq!(
            format!("{given:?}"),
            "[aws_secret_access_key=[REDACTED], [REDACTED]]"
        );
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        let append = |if_exists: &str| OutputSettings {
            mode: Some("append".into()),
            if_exists: Some(if_exists.into()),
            ..OutputSettings::default()
        };
        for if_exists in ["fail", "replace"] {
            let e = append(if_exists).options("x/".into()).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidSetting {
                        setting: "if_exists",
                        ..
                    }
                ),
                "{e}"
            );
        }
        let cases: Vec<(OutputSettings, &str, &str)> = vec![
            (
                OutputSettings {
                    mode: Some("sideways".into()),
                    ..OutputSettings::default()
                },
                "mode",
                "expected one of replace, append, not \"sideways\"",
            ),
            (
                OutputSettings {
                    upload_part_size: Some("lots".into()),
                    ..OutputSettings::default()
                },
                "upload_part_size",
                "not a size: \"lots\"",
            ),
            (
                OutputSettings {
                    upload_retry_timeout: Some("soon".into()),
                    ..OutputSettings::default()
                },
                "upload_retry_timeout",
                "not a duration: \"soon\"",
            ),
        ];
        for (settings, name, words) in cases {
            match settings.options("x.parquet".into()) {
                Err(Error::InvalidSetting { setting, problem }) => {
                    assert_eq!(setting, name, "{problem}");
                    assert!(problem.contains(words), "{name}: {problem}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // The library's own checks still apply.
        let e = OutputSettings {
            upload_part_size: Some("1MiB".into()),
            ..OutputSettings::default()
        }
        .options("x.parquet".into())
        .unwrap_err();
        assert!(e.to_string().contains("5MiB"), "{e}");
    }
}
