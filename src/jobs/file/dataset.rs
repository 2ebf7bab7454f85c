//! One `[[dataset]]` of a jobs file: its own keys over `[defaults]`, read into the same
//! settings the command line's flags fill ([`crate::settings`]) and validated by the same
//! code. A bad value is named as its key: `` `row_group_bytes`: not a size: "ten" ... ``.

use std::path::Path;

use serde::Deserialize;

use super::position::{refused, refused_keys};
use super::{Dataset, Problems, did_you_mean};
use crate::error::{Error, Result};
use crate::read::{ReadJob, ReadMode, ReadObject};
use crate::settings::{EngineSettings, ExportSettings, OutputSettings, without_values};

/// Keys only a `[[dataset]]` has.
const DATASET_KEYS: &[&str] = &["name", "export", "view", "list", "output"];
/// Keys of `[defaults]` and `[[dataset]]` (the fields of [`DatasetSettings`]).
pub(super) const SETTING_KEYS: &[&str] = &[
    "workspace",
    "model",
    "concurrency",
    "poll_interval",
    "task_timeout",
    "locale",
    "delimiter",
    "encoding",
    "layout",
    "read_mode",
    "infer_rows",
    "types",
    "schema",
    "value_number",
    "compression",
    "row_group_rows",
    "row_group_bytes",
    "mode",
    "if_exists",
    "partition_by_date",
    "s3_endpoint",
    "s3_region",
    "s3_path_style",
    "allow_http",
    "storage_options",
    "upload_part_size",
    "upload_concurrency",
    "upload_retries",
    "upload_retry_timeout",
    "format",
    "schema_mode",
];
/// Settings given as tables, merged key by key (a dataset's entries over `[defaults]`').
const TABLE_KEYS: &[&str] = &["types", "storage_options"];

/// The settings of `[defaults]` or a `[[dataset]]`, every one optional: the same settings the
/// `export` command's flags fill.
#[derive(Debug, Default, Deserialize)]
struct DatasetSettings {
    workspace: Option<String>,
    model: Option<String>,
    /// `read_mode` of a `view` or `list` dataset: `auto`, `large` or `direct`.
    read_mode: Option<String>,
    #[serde(flatten)]
    export: ExportSettings,
    #[serde(flatten)]
    engine: EngineSettings,
    #[serde(flatten)]
    output: OutputSettings,
}

/// Where a key of the section being read is, to end a problem with: ` (line L, column C)`, or
/// nothing.
pub(super) type At<'a> = dyn Fn(&[String]) -> String + 'a;

/// A setting named as a jobs file names it: `` `row_group_bytes` ``.
fn key_name(setting: &str) -> String {
    format!("`{setting}`")
}

/// `[defaults]`, checked on its own so that each of its problems is reported once; the table
/// to put under every dataset (empty when it has a problem).
pub(super) fn defaults(mut t: toml::Table, at: &At<'_>, problem: &mut Problems<'_>) -> toml::Table {
    for key in DATASET_KEYS {
        if t.remove(*key).is_some() {
            problem(
                Some("[defaults]"),
                format!(
                    "`{key}` belongs in each [[dataset]], not in [defaults]{}",
                    at(&[(*key).to_owned()])
                ),
            );
        }
    }
    let known = known_keys(&mut t, "[defaults]", at, problem);
    if known && settings(&t, "[defaults]", at, problem).is_some() {
        t
    } else {
        toml::Table::new()
    }
}

/// One `[[dataset]]`: its name (for reports) and, when it is valid, the dataset.
pub(super) fn dataset(
    mut t: toml::Table,
    index: usize,
    defaults: &toml::Table,
    dir: &Path,
    at: &At<'_>,
    problem: &mut Problems<'_>,
) -> (String, Option<Dataset>) {
    let name = take_text(&mut t, "name");
    let export = take_text(&mut t, "export");
    let view = take_text(&mut t, "view");
    let list = take_text(&mut t, "list");
    let output = take_text(&mut t, "output");
    let shown = match &name {
        Ok(Some(n)) => n.clone(),
        _ => format!("#{}", index + 1),
    };
    let mut required = |v: std::result::Result<Option<String>, String>, key: &str| match v {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            problem(Some(&shown), format!("`{key}` is required"));
            None
        }
        Err(msg) => {
            problem(Some(&shown), msg);
            None
        }
    };
    let name = required(name, "name");
    let output = required(output, "output");
    let source = source(export, view, list, &mut |msg| problem(Some(&shown), msg));
    let known = known_keys(&mut t, &shown, at, problem);
    // `read_mode` in [defaults] is for the view and list datasets; in an export dataset's own
    // table it is a mistake.
    let own_read_mode = t.contains_key("read_mode");
    let own = settings(&over(t, defaults), &shown, at, problem);
    let (true, Some(own), Some(name), Some(source), Some(output)) =
        (known, own, name, source, output)
    else {
        return (shown, None);
    };
    match build(&name, source, output, own, own_read_mode, dir) {
        Ok(d) => (name, Some(d)),
        Err(e) => {
            problem(Some(&name), e.naming_setting(key_name).to_string());
            (name, None)
        }
    }
}

/// What a dataset reads: a saved export, a view or a list.
enum Source {
    Export(String),
    Read(ReadObject),
}

/// Exactly one of `export`, `view` and `list`; else its problem (and `None`).
fn source(
    export: std::result::Result<Option<String>, String>,
    view: std::result::Result<Option<String>, String>,
    list: std::result::Result<Option<String>, String>,
    problem: &mut dyn FnMut(String),
) -> Option<Source> {
    let mut given = Vec::new();
    let mut bad = false;
    for (key, value) in [("export", export), ("view", view), ("list", list)] {
        match value {
            Ok(Some(v)) => given.push((key, v)),
            Ok(None) => {}
            Err(msg) => {
                problem(msg);
                bad = true;
            }
        }
    }
    match (given.len(), bad) {
        (_, true) => None,
        (0, false) => {
            problem("one of `export`, `view` and `list` is required".into());
            None
        }
        (1, false) => {
            let (key, value) = given.remove(0);
            Some(match key {
                "view" => Source::Read(ReadObject::View(value)),
                "list" => Source::Read(ReadObject::List(value)),
                _ => Source::Export(value),
            })
        }
        _ => {
            let keys: Vec<String> = given.iter().map(|(k, _)| format!("`{k}`")).collect();
            problem(format!(
                "give exactly one of `export`, `view` and `list`, not {}",
                keys.join(" and ")
            ));
            None
        }
    }
}

/// Reports (and removes) the keys that are not settings, with a likely meant key; true when
/// there were none.
fn known_keys(t: &mut toml::Table, scope: &str, at: &At<'_>, problem: &mut Problems<'_>) -> bool {
    let unknown: Vec<String> = t
        .keys()
        .filter(|k| !SETTING_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in &unknown {
        let mut known: Vec<&str> = SETTING_KEYS.to_vec();
        known.extend_from_slice(DATASET_KEYS);
        problem(
            Some(scope),
            format!(
                "unknown key `{key}`{}{}",
                did_you_mean(key, &known),
                at(std::slice::from_ref(key))
            ),
        );
        t.remove(key);
    }
    unknown.is_empty()
}

/// `mine` over `base`; the table settings merge key by key.
fn over(mine: toml::Table, base: &toml::Table) -> toml::Table {
    let mut out = base.clone();
    for (key, value) in mine {
        match (out.get_mut(&key), value) {
            (Some(toml::Value::Table(below)), toml::Value::Table(above))
                if TABLE_KEYS.contains(&key.as_str()) =>
            {
                below.extend(above);
            }
            (_, value) => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// Reads the settings, reporting each value of the wrong type with its key and place, never
/// with the value (it may be a secret: a storage option's key given as a number).
fn settings(
    t: &toml::Table,
    scope: &str,
    at: &At<'_>,
    problem: &mut Problems<'_>,
) -> Option<DatasetSettings> {
    match toml::Value::Table(t.clone()).try_into::<DatasetSettings>() {
        Ok(s) => Some(s),
        Err(e) => {
            let keys = refused_keys::<DatasetSettings>(t);
            if keys.is_empty() {
                problem(Some(scope), without_values(e.message()));
            }
            for (path, why) in keys {
                problem(
                    Some(scope),
                    format!("{}{}", refused(&path, &why), at(&path)),
                );
            }
            None
        }
    }
}

/// Removes `key` from `t`: a non-empty string (or, for `export`, `view` and `list`, an id
/// given as a number).
fn take_text(t: &mut toml::Table, key: &str) -> std::result::Result<Option<String>, String> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => {
            Err(format!("`{key}` must not be empty"))
        }
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(toml::Value::Integer(n)) if matches!(key, "export" | "view" | "list") => {
            Ok(Some(n.to_string()))
        }
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Validates a dataset's merged settings into options, with the settings layer's code.
fn build(
    name: &str,
    source: Source,
    output: String,
    mut s: DatasetSettings,
    own_read_mode: bool,
    dir: &Path,
) -> Result<Dataset> {
    let workspace = s.workspace.ok_or_else(|| {
        Error::usage("no `workspace`: give it in the dataset or in [defaults] (a name or an id)")
    })?;
    let model = s.model.ok_or_else(|| {
        Error::usage("no `model`: give it in the dataset or in [defaults] (a name or an id)")
    })?;
    let (shown, object) = match source {
        Source::Export(e) => (e, None),
        Source::Read(o) => (
            match &o {
                ReadObject::View(v) | ReadObject::List(v) => v.clone(),
            },
            Some(o),
        ),
    };
    let job = s.export.job(workspace, model, shown)?;
    if let Some(p) = &mut s.engine.schema
        && p.is_relative()
    {
        *p = dir.join(&*p);
    }
    let engine = s.engine.options()?;
    let read = match object {
        None => {
            if own_read_mode {
                return Err(Error::invalid_setting(
                    "read_mode",
                    "applies to a `view` or `list` dataset only",
                ));
            }
            None
        }
        Some(object) => {
            let mode = match &s.read_mode {
                None => ReadMode::Auto,
                Some(m) => m
                    .parse()
                    .map_err(|e: String| Error::invalid_setting("read_mode", e))?,
            };
            Some(ReadJob::like_export(object, mode, &job, &engine))
        }
    };
    Ok(Dataset {
        name: name.to_owned(),
        job,
        engine,
        output: s.output.options(output)?,
        read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_key_is_a_field() {
        for key in SETTING_KEYS {
            let mut t = toml::Table::new();
            let value = match *key {
                "types" | "storage_options" => toml::Value::Table(toml::Table::from_iter([(
                    "k".to_owned(),
                    toml::Value::String("v".into()),
                )])),
                "value_number" | "partition_by_date" | "s3_path_style" | "allow_http" => {
                    toml::Value::Boolean(true)
                }
                "concurrency" | "row_group_rows" | "upload_concurrency" | "upload_retries" => {
                    toml::Value::Integer(1)
                }
                _ => toml::Value::String("x".into()),
            };
            t.insert((*key).to_owned(), value);
            let mut problems = Vec::new();
            let s = settings(&t, "t", &|_| String::new(), &mut |d, m| {
                problems.push((d.map(str::to_owned), m));
            });
            let s = s.unwrap_or_else(|| panic!("{key}: {problems:?}"));
            // The value reached a field: the settings differ from the empty ones.
            assert_ne!(
                format!("{s:?}"),
                format!("{:?}", DatasetSettings::default()),
                "{key}"
            );
        }
    }

    #[test]
    fn tables_merge_key_by_key() {
        let base: toml::Table =
            toml::from_str("compression = \"zstd\"\ntypes = { A = \"utf8\", B = \"int64\" }\n")
                .unwrap();
        let mine: toml::Table =
            toml::from_str("compression = \"gzip\"\ntypes = { B = \"float64\" }\n").unwrap();
        let merged = over(mine, &base);
        assert_eq!(merged["compression"].as_str(), Some("gzip"));
        assert_eq!(
            merged["types"].to_string(),
            "{ A = \"utf8\", B = \"float64\" }"
        );
    }
}
