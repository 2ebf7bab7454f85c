//! Resolving `output`: a local path unless it looks like `scheme://...`; the object key an
//! object-store URL names, exactly as written; which settings apply to which kind of
//! destination; and [`Location`], the one identity by which two outputs are compared.
//!
//! ## Keys are taken literally
//!
//! The key of `s3://bucket/KEY` (and of `gs://`, `az://`, `abfss://`) is the text after the
//! bucket exactly as written, percent-decoded once: `s3://lake/ü/é€.parquet` is the key
//! `ü/é€.parquet`, `s3://lake/100%25.parquet` is `100%.parquet`. Nothing is re-encoded,
//! resolved or dropped. What cannot be taken literally is refused with a message rather than
//! silently changed: a `?` or `#` (a URL would cut the key there; write `%3F` / `%23`), an
//! empty, `.` or `..` segment, a control character, and text that is not UTF-8 once decoded.
//! `file://` URLs follow the same rule (a plain path needs no escaping at all).

use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use object_store::path::Path as StorePath;
use url::Url;

use super::errors::redact_url_text;
use super::options::DestinationOptions;
use super::{Destination, Target};
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
        return file_url_path(output).map(Output::Local);
    }
    Ok(Output::Url(url))
}

/// The path of a `file://` URL, taken from the text as written (percent-decoded once), not
/// from the parsed URL: a parser would cut the path at `?` or `#` and resolve `..` by text,
/// where the file system resolves it through symbolic links.
fn file_url_path(output: &str) -> Result<PathBuf> {
    let rest = &output["file://".len()..];
    let path = if rest.starts_with('/') {
        rest
    } else if rest
        .get(..10)
        .is_some_and(|h| h.eq_ignore_ascii_case("localhost/"))
    {
        &rest[9..]
    } else {
        return Err(Error::invalid_setting(
            "output",
            format!(
                "{} is not a local file URL (expected file:///absolute/path)",
                redact_url_text(output)
            ),
        ));
    };
    refuse_query_or_fragment(output, path)?;
    let bytes = percent_decode(path);
    #[cfg(unix)]
    let os = {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes)
    };
    #[cfg(not(unix))]
    let os = OsString::from(String::from_utf8(bytes).map_err(|_| {
        Error::invalid_setting(
            "output",
            format!("{output} is not UTF-8 once percent-decoded"),
        )
    })?);
    if os.as_encoded_bytes().contains(&0) {
        return Err(Error::invalid_setting(
            "output",
            format!("{output} names a path with a NUL character (%00)"),
        ));
    }
    Ok(PathBuf::from(os))
}

/// `?` and `#` end a URL's path: refused rather than cut off silently.
fn refuse_query_or_fragment(output: &str, path: &str) -> Result<()> {
    let Some(c) = path.chars().find(|c| matches!(c, '?' | '#')) else {
        return Ok(());
    };
    let shown = shown(output);
    Err(Error::invalid_setting(
        "output",
        format!(
            "{shown}{c}... has a {c:?} in its path, where a URL's path ends; write it as {} to \
             make it part of the name (nothing after it would be used otherwise)",
            if c == '?' { "%3F" } else { "%23" }
        ),
    ))
}

/// Percent-decodes `text` once: `%XX` becomes the byte XX, anything else (a lone `%`
/// included) stays as written.
fn percent_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(Some(h)), Some(Some(l))) =
                (b.get(i + 1).map(|&c| hex(c)), b.get(i + 2).map(|&c| hex(c)))
        {
            // Two hex digits make one byte: h and l are below 16.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The object key (replace) or prefix (append) an object-store URL names: the text after
/// `scheme://bucket/` as written, percent-decoded once, with one trailing `/` (a prefix)
/// dropped. `parsed` is the key `object_store` read from the parsed URL; it must be the same
/// (or, for `https://` forms with the bucket in the path, its end), or the URL is refused.
pub(super) fn object_key(output: &str, parsed: &StorePath) -> Result<StorePath> {
    let text = literal_key(output)?;
    if text == parsed.as_ref() {
        return StorePath::parse(&text).map_err(|e| refuse_key(output, &e.to_string()));
    }
    // The bucket-in-path forms (`https://account.blob.core.windows.net/container/key`): the
    // client's key is the part after the container.
    let after_bucket = text.split_once('/').map_or("", |(_, tail)| tail);
    if after_bucket == parsed.as_ref() {
        return Ok(parsed.clone());
    }
    Err(refuse_key(
        output,
        &format!(
            "the storage client would read the key as {:?}, not {text:?}",
            parsed.as_ref()
        ),
    ))
}

/// The text of an object-store URL's key, checked and decoded (see [`object_key`]).
pub(super) fn literal_key(output: &str) -> Result<String> {
    let after_scheme = output.split_once("://").map_or(output, |(_, r)| r);
    let path = after_scheme
        .find('/')
        .map_or("", |i| &after_scheme[i + 1..]);
    refuse_query_or_fragment(output, path)?;
    if path.starts_with('/') {
        return Err(refuse_key(
            output,
            "the key starts with `/` (an empty segment)",
        ));
    }
    let decoded = String::from_utf8(percent_decode(path))
        .map_err(|_| refuse_key(output, "the key is not UTF-8 once percent-decoded"))?;
    let text = decoded.strip_suffix('/').unwrap_or(&decoded);
    if text.is_empty() {
        return Ok(String::new());
    }
    for segment in text.split('/') {
        let why = match segment {
            "" => "the key has an empty segment (`//`)".to_owned(),
            "." | ".." => format!("the key has a `{segment}` segment"),
            s if s.chars().any(char::is_control) => "the key has a control character".to_owned(),
            _ => continue,
        };
        return Err(refuse_key(output, &why));
    }
    Ok(text.to_owned())
}

fn refuse_key(output: &str, why: &str) -> Error {
    Error::invalid_setting(
        "output",
        format!(
            "{}: {why}; object keys are used exactly as written (percent-decoded once)",
            shown(output)
        ),
    )
}

/// `output` for a message: as written (a parsed URL would show `ü` as `%C3%BC` and resolve
/// `..`), unless it holds a password, which only the redacted form leaves out.
fn shown(output: &str) -> String {
    match Url::parse(output) {
        Ok(u) if u.password().is_some() => redact_url_text(output),
        _ => output
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Where a destination writes, in a form two destinations can be compared by: a local path made
/// absolute with `.` and `..` resolved and symbolic links resolved as far as the path exists,
/// or an object store's service, endpoint, bucket (or account and container) and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local file or directory.
    Local(PathBuf),
    /// An object or prefix in a bucket.
    Store {
        /// `s3`, `gs` or `azure`.
        service: &'static str,
        /// The service's endpoint when one is configured (an S3-compatible server, an
        /// emulator), lower case, without a trailing `/`; `None` for the public service.
        endpoint: Option<String>,
        /// The bucket, or `account/container` on Azure.
        bucket: String,
        /// The key or prefix, without a trailing `/` (empty: the whole bucket).
        key: String,
    },
}

impl Location {
    /// The identity of a local path: see [`normalize_local`].
    pub(crate) fn local(path: &Path) -> Self {
        Location::Local(normalize_local(path))
    }

    /// True when `other` is this location or lies inside it (in this directory or under
    /// this prefix, segment by segment: `out/ds` holds `out/ds/x` but not `out/ds2`).
    pub(crate) fn contains(&self, other: &Location) -> bool {
        match (self, other) {
            (Location::Local(a), Location::Local(b)) => b.starts_with(a),
            (
                Location::Store {
                    service,
                    endpoint,
                    bucket,
                    key,
                },
                Location::Store {
                    service: s2,
                    endpoint: e2,
                    bucket: b2,
                    key: k2,
                },
            ) => {
                service == s2
                    && endpoint == e2
                    && bucket == b2
                    && (key.is_empty()
                        || k2 == key
                        || k2
                            .strip_prefix(key.as_str())
                            .is_some_and(|r| r.starts_with('/')))
            }
            _ => false,
        }
    }

    /// True when one of the two contains the other.
    pub(crate) fn overlaps(&self, other: &Location) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// A path or `service://bucket/key`, for messages (the endpoint is not shown).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Store {
                service,
                bucket,
                key,
                ..
            } => write!(f, "{service}://{bucket}/{key}"),
        }
    }
}

/// `path` made absolute against the working directory, with its longest existing ancestor
/// canonicalized (symbolic links and `..` resolved by the file system) and the rest, which
/// does not exist yet, resolved by text (`.` dropped, `..` removing the segment before it).
pub(crate) fn normalize_local(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<Component<'_>> = absolute.components().collect();
    for existing in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..existing].iter().collect();
        let Ok(mut out) = head.canonicalize() else {
            continue;
        };
        for part in &parts[existing..] {
            match part {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other.as_os_str()),
            }
        }
        return out;
    }
    absolute
}

impl Destination {
    /// Where this destination writes its data: see [`Location`].
    pub(crate) fn location(&self) -> Location {
        match &self.target {
            Target::Local { path, .. } => Location::local(path),
            Target::Store(s) => s.location_id(s.key.as_ref()),
        }
    }

    /// Where this destination's manifest lives (see [`Destination::manifest_location`]), as a
    /// [`Location`].
    pub(crate) fn manifest_location_id(&self) -> Location {
        match &self.target {
            Target::Local { path, .. } => Location::local(&self.local_manifest(path)),
            Target::Store(s) => s.location_id(self.store_manifest(&s.key).as_ref()),
        }
    }
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

    /// The key `object_key` takes from `output`, or the error text.
    fn key_of(output: &str) -> std::result::Result<String, String> {
        let url = Url::parse(output).map_err(|e| e.to_string())?;
        let Ok((_, parsed)) = object_store::ObjectStoreScheme::parse(&url) else {
            return Err(literal_key(output).map_err(|e| e.to_string()).unwrap_err());
        };
        object_key(output, &parsed)
            .map(|k| k.as_ref().to_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn object_keys_are_exactly_what_was_written() {
        let ok = [
            ("s3://lake/ü/é€.parquet", "ü/é€.parquet"),
            ("s3://lake/%C3%BC/x.parquet", "ü/x.parquet"),
            ("s3://lake/x%3Fy.parquet", "x?y.parquet"),
            ("s3://lake/h%23i.parquet", "h#i.parquet"),
            ("s3://lake/100%25.parquet", "100%.parquet"),
            ("s3://lake/100%.parquet", "100%.parquet"),
            ("s3://lake/a b/{c}~[d]^.parquet", "a b/{c}~[d]^.parquet"),
            ("s3://lake/a%2Fb.parquet", "a/b.parquet"),
            ("s3://lake/prefix/", "prefix"),
            ("s3://lake/", ""),
            ("s3://lake", ""),
            ("gs://bucket/日本/x.parquet", "日本/x.parquet"),
            ("az://data/ü.parquet", "ü.parquet"),
            (
                "abfss://data@acct.dfs.core.windows.net/ü/x.parquet",
                "ü/x.parquet",
            ),
            (
                "https://acct.blob.core.windows.net/data/ü/x.parquet",
                "ü/x.parquet",
            ),
        ];
        for (output, key) in ok {
            assert_eq!(key_of(output).as_deref(), Ok(key), "{output}");
        }
        let refused = [
            ("s3://lake/x?y.parquet", "%3F"),
            ("s3://lake/r?v=1.parquet", "%3F"),
            ("s3://lake/h#i.parquet", "%23"),
            ("s3://lake/a/../b.parquet", "`..` segment"),
            ("s3://lake/a/%2E%2E/b.parquet", "`..` segment"),
            ("s3://lake/./b.parquet", "`.` segment"),
            ("s3://lake/a//b.parquet", "empty segment"),
            ("s3://lake//b.parquet", "starts with `/`"),
            ("s3://lake/a%0Ab.parquet", "control character"),
            ("s3://lake/%FF.parquet", "not UTF-8"),
        ];
        for (output, words) in refused {
            let e = key_of(output).unwrap_err();
            assert!(e.contains(words), "{output}: {e}");
            assert!(e.starts_with("output: "), "{output}: {e}");
        }
        // A query string may hold a secret (a SAS token), a URL a password: never shown.
        let e = key_of("s3://lake/x.parquet?sig=SECRET").unwrap_err();
        assert!(!e.contains("SECRET"), "{e}");
        let e = key_of("s3://user:SECRET@lake/a//b.parquet").unwrap_err();
        assert!(!e.contains("SECRET"), "{e}");
        // Otherwise the URL is shown as written, not as a parser would rewrite it.
        let e = key_of("s3://lake/ü/../x.parquet").unwrap_err();
        assert!(e.contains("s3://lake/ü/../x.parquet:"), "{e}");
    }

    #[test]
    fn file_urls_are_taken_literally_too() {
        let path = |o: &str| match classify(o) {
            Ok(Output::Local(p)) => Ok(p),
            Ok(other) => panic!("{o}: {other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(
            path("file:///tmp/q%3Fx.parquet"),
            Ok("/tmp/q?x.parquet".into())
        );
        assert_eq!(
            path("file:///tmp/%C3%BC.parquet"),
            Ok("/tmp/ü.parquet".into())
        );
        assert_eq!(path("file:///tmp/ü.parquet"), Ok("/tmp/ü.parquet".into()));
        assert_eq!(path("file://localhost/tmp/x"), Ok("/tmp/x".into()));
        // `..` is left to the file system (which resolves it through symbolic links).
        assert_eq!(path("file:///tmp/a/../x"), Ok("/tmp/a/../x".into()));
        for (o, words) in [
            ("file:///tmp/q?x.parquet", "%3F"),
            ("file:///tmp/q#x.parquet", "%23"),
            ("file:///tmp/q%00x.parquet", "NUL"),
            ("file://host/x", "not a local file URL"),
        ] {
            let e = path(o).unwrap_err();
            assert!(e.contains(words), "{o}: {e}");
        }
        // A plain path needs no escaping: `?` is part of the name.
        assert_eq!(path("out/q?x.parquet"), Ok("out/q?x.parquet".into()));
    }

    #[cfg(unix)]
    #[test]
    fn local_locations_resolve_spellings_and_symbolic_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("out"), root.join("link")).unwrap();
        let want = root.join("out/x.parquet");
        for spelled in [
            root.join("out/x.parquet"),
            root.join("out/./x.parquet"),
            root.join("out/new/../x.parquet"),
            root.join("link/x.parquet"),
            root.join("link/../out/x.parquet"),
        ] {
            assert_eq!(normalize_local(&spelled), want, "{}", spelled.display());
        }
        // Relative paths are taken against the working directory.
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(
            normalize_local(Path::new("./a/../b.parquet")),
            cwd.join("b.parquet")
        );
    }

    #[test]
    fn locations_contain_by_segment() {
        let local = |p: &str| Location::Local(PathBuf::from(p));
        assert!(local("/d/ds").contains(&local("/d/ds/x.parquet")));
        assert!(local("/d/ds").contains(&local("/d/ds")));
        assert!(!local("/d/ds").contains(&local("/d/ds2/x.parquet")));
        assert!(!local("/d/ds/x.parquet").contains(&local("/d/ds")));
        assert!(local("/d/ds/x.parquet").overlaps(&local("/d/ds")));
        let store = |bucket: &str, key: &str| Location::Store {
            service: "s3",
            endpoint: None,
            bucket: bucket.into(),
            key: key.into(),
        };
        assert!(store("lake", "ds").contains(&store("lake", "ds/x.parquet")));
        assert!(store("lake", "").contains(&store("lake", "anything")));
        assert!(!store("lake", "ds").contains(&store("lake", "ds2/x.parquet")));
        assert!(!store("lake", "ds").contains(&store("other", "ds/x.parquet")));
        let elsewhere = Location::Store {
            service: "s3",
            endpoint: Some("http://127.0.0.1:9000".into()),
            bucket: "lake".into(),
            key: "ds".into(),
        };
        assert!(!store("lake", "ds").overlaps(&elsewhere));
        assert!(!store("lake", "ds").overlaps(&local("/lake/ds")));
        assert_eq!(store("lake", "ü/x").to_string(), "s3://lake/ü/x");
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
