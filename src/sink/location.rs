//! Resolving `output`: a local path unless it looks like `scheme://...`, and which settings
//! apply to which kind of destination.

use std::path::PathBuf;

use url::Url;

use super::errors::redact_url_text;
use super::options::DestinationOptions;
use crate::error::{Error, Result};

/// What `output` names.
#[derive(Debug)]
pub(super) enum Output {
    /// A local path (`file://` URLs included).
    Local(PathBuf),
    /// Any other URL; whether it is a supported object store is the store builder's call.
    Url(Url),
}

/// A local path unless `output` looks like `scheme://...`.
pub(super) fn classify(output: &str) -> Result<Output> {
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
        Error::invalid_setting(
            "output",
            format!("{} is not a valid URL: {e}", redact_url_text(output)),
        )
    })?;
    if url.scheme() == "file" {
        let path = url.to_file_path().map_err(|()| {
            Error::invalid_setting(
                "output",
                format!(
                    "{} is not a local file URL (expected file:///absolute/path)",
                    redact_url_text(output)
                ),
            )
        })?;
        return Ok(Output::Local(path));
    }
    Ok(Output::Url(url))
}

/// The S3-only settings are refused for other destinations (`what` names the destination).
pub(super) fn refuse_s3_settings(options: &DestinationOptions, what: &str) -> Result<()> {
    let setting = if options.s3_endpoint.is_some() {
        "s3_endpoint"
    } else if options.s3_region.is_some() {
        "s3_region"
    } else if options.s3_path_style {
        "s3_path_style"
    } else {
        return Ok(());
    };
    Err(Error::invalid_setting(
        setting,
        format!("applies to s3:// destinations only, and the output is {what}"),
    ))
}

/// No object-store setting makes sense for a local path.
pub(super) fn check_local_settings(options: &DestinationOptions) -> Result<()> {
    refuse_s3_settings(options, "a local path")?;
    if options.allow_http {
        return Err(Error::invalid_setting(
            "allow_http",
            "applies to object-store destinations only, and the output is a local path",
        ));
    }
    if let Some(o) = options.storage_options.first() {
        return Err(Error::invalid_setting(
            "storage_options",
            format!(
                "{}=... applies to object-store destinations only, and the output is a local path",
                o.key
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_paths_unless_they_look_like_urls() {
        let local = [
            "out.parquet",
            "dir/out.parquet",
            "/abs/out.parquet",
            "C://x",
            "1a://x",
        ];
        for o in local {
            assert!(matches!(classify(o), Ok(Output::Local(_))), "{o}");
        }
        let Ok(Output::Local(p)) = classify("file:///tmp/x/out.parquet") else {
            panic!()
        };
        assert_eq!(p, PathBuf::from("/tmp/x/out.parquet"));
        for o in [
            "s3://b/k",
            "gs://b/k",
            "ftp://h/x",
            "abfss://c@a.dfs.core.windows.net/k",
        ] {
            assert!(matches!(classify(o), Ok(Output::Url(_))), "{o}");
        }
        let e = classify("file://host/x").unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidSetting {
                    setting: "output",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn settings_that_do_not_apply_name_themselves() {
        let mut o = DestinationOptions::new("x");
        o.s3_region = Some("eu-west-1".into());
        let e = refuse_s3_settings(&o, "a gs:// URL").unwrap_err();
        assert_eq!(
            e.to_string(),
            "s3_region: applies to s3:// destinations only, and the output is a gs:// URL"
        );
        let mut o = DestinationOptions::new("x");
        o.allow_http = true;
        let e = check_local_settings(&o).unwrap_err();
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
    }
}
