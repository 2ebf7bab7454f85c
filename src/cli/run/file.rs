//! The jobs file of `run`: TOML, read once into validated [`Dataset`]s.
//!
//! ```toml
//! [connection]                        # like a config file (see `connection`), plus:
//! username = "etl@example.com"
//! password_env = "ANAPLAN_PASSWORD"   # the NAME of a variable holding the password
//!
//! [defaults]                          # any dataset key but name, export and output
//! workspace = "Financial Planning"
//! model = "FP&A"
//! compression = "zstd"
//!
//! [[dataset]]
//! name = "revenue"
//! export = "Revenue - TSC.csv"        # a name or an id
//! output = "s3://lake/anaplan/revenue.parquet"
//!
//! [[dataset]]
//! name = "headcount"
//! export = "Headcount - TSC.csv"
//! output = "/data/anaplan/headcount"
//! mode = "append"
//! partition_by_date = true
//! ```
//!
//! A dataset's settings are its own keys, then `[defaults]`, then the defaults of `export`.
//! The keys are the `export` command's flags with underscores (`infer_rows`, `upload_part_size`,
//! ...), except `types` (a table of column = type, for `--type`), `storage_options` (a table,
//! for `--storage-option`) and `value_number = false` (for `--no-value-number`). They are
//! validated by the same code as the flags. Every problem in the file is collected and
//! reported at once; an unknown key is named with its dataset (and a likely meant key).
//!
//! Secrets: a password or key passphrase is named by environment variable (`password_env`,
//! `private_key_passphrase_env`) or file (`password_file`). Inline `password` and
//! `private_key_passphrase` are accepted only when the file is private (no access for group
//! or others); a group- or world-readable file with storage options that look secret draws a
//! warning.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use serde::Deserialize;

use crate::export::ExportJob;
use crate::anaplan::task::PollOptions;
use crate::cli::connection::{ConfigFile, parse_duration};
use crate::cli::engine_args::{CodecArg, EncodingArg, EngineArgs, LayoutArg, parse_size};
use crate::cli::export::MAX_CONCURRENCY;
use crate::cli::output_args::{IfExistsArg, ModeArg, OutputArgs, RawStorageOption};
use crate::error::{Error, Result};
use crate::jobs::{Dataset, Problem};
use crate::secret::Secret;

/// The sections of a jobs file.
const SECTIONS: &[&str] = &["connection", "defaults", "dataset"];
/// Keys only a `[[dataset]]` has.
const DATASET_KEYS: &[&str] = &["name", "export", "output"];
/// Keys of `[defaults]` and `[[dataset]]` (the fields of [`Settings`]).
const SETTING_KEYS: &[&str] = &[
    "workspace",
    "model",
    "concurrency",
    "poll_interval",
    "task_timeout",
    "locale",
    "delimiter",
    "encoding",
    "layout",
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
];
/// Inline secrets accepted in `[connection]` of a private file.
const INLINE_SECRETS: &[&str] = &["password", "private_key_passphrase"];
/// Words that make a storage option look secret.
const SECRET_WORDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "passphrase",
    "sas",
    "account_key",
    "private",
    "credential",
];

/// A jobs file, read and validated.
#[derive(Debug)]
pub struct JobsFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its `[connection]`, as the config-file level of the connection settings.
    pub connection: ConfigFile,
    /// Every dataset's name, in file order (`#N` for a dataset without one).
    pub names: Vec<String>,
    /// Every dataset in file order; `None` where it has a problem.
    pub datasets: Vec<Option<Dataset>>,
    /// Every problem found.
    pub problems: Vec<Problem>,
    /// Things worth a warning (a readable file holding secret-looking options).
    pub warnings: Vec<String>,
}

/// A value given as a number or as text (`infer_rows = 500` or `"all"`, sizes).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

impl NumberOrText {
    fn text(&self) -> String {
        match self {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(s) => s.clone(),
        }
    }
}

/// The settings of `[defaults]` or a `[[dataset]]`; every one optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    workspace: Option<String>,
    model: Option<String>,
    concurrency: Option<usize>,
    poll_interval: Option<String>,
    task_timeout: Option<String>,
    locale: Option<String>,
    delimiter: Option<String>,
    encoding: Option<String>,
    layout: Option<String>,
    infer_rows: Option<NumberOrText>,
    types: Option<BTreeMap<String, String>>,
    schema: Option<PathBuf>,
    value_number: Option<bool>,
    compression: Option<String>,
    row_group_rows: Option<usize>,
    row_group_bytes: Option<NumberOrText>,
    mode: Option<String>,
    if_exists: Option<String>,
    partition_by_date: Option<bool>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_path_style: Option<bool>,
    allow_http: Option<bool>,
    storage_options: Option<BTreeMap<String, String>>,
    upload_part_size: Option<NumberOrText>,
    upload_concurrency: Option<usize>,
    upload_retries: Option<usize>,
    upload_retry_timeout: Option<String>,
}

impl Settings {
    /// `self`'s values, then `base`'s where `self` has none; tables merge key by key.
    fn over(self, base: &Settings) -> Settings {
        let b = base.clone();
        Settings {
            workspace: self.workspace.or(b.workspace),
            model: self.model.or(b.model),
            concurrency: self.concurrency.or(b.concurrency),
            poll_interval: self.poll_interval.or(b.poll_interval),
            task_timeout: self.task_timeout.or(b.task_timeout),
            locale: self.locale.or(b.locale),
            delimiter: self.delimiter.or(b.delimiter),
            encoding: self.encoding.or(b.encoding),
            layout: self.layout.or(b.layout),
            infer_rows: self.infer_rows.or(b.infer_rows),
            types: merge(self.types, b.types),
            schema: self.schema.or(b.schema),
            value_number: self.value_number.or(b.value_number),
            compression: self.compression.or(b.compression),
            row_group_rows: self.row_group_rows.or(b.row_group_rows),
            row_group_bytes: self.row_group_bytes.or(b.row_group_bytes),
            mode: self.mode.or(b.mode),
            if_exists: self.if_exists.or(b.if_exists),
            partition_by_date: self.partition_by_date.or(b.partition_by_date),
            s3_endpoint: self.s3_endpoint.or(b.s3_endpoint),
            s3_region: self.s3_region.or(b.s3_region),
            s3_path_style: self.s3_path_style.or(b.s3_path_style),
            allow_http: self.allow_http.or(b.allow_http),
            storage_options: merge(self.storage_options, b.storage_options),
            upload_part_size: self.upload_part_size.or(b.upload_part_size),
            upload_concurrency: self.upload_concurrency.or(b.upload_concurrency),
            upload_retries: self.upload_retries.or(b.upload_retries),
            upload_retry_timeout: self.upload_retry_timeout.or(b.upload_retry_timeout),
        }
    }
}

/// `mine` over `base`, key by key.
fn merge(
    mine: Option<BTreeMap<String, String>>,
    base: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    match (mine, base) {
        (Some(m), Some(mut b)) => {
            b.extend(m);
            Some(b)
        }
        (m, b) => m.or(b),
    }
}

/// The `export` command's defaults for every engine and output flag.
#[derive(Parser)]
struct FlagDefaults {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Reads a jobs file. Only an unreadable file or invalid TOML is an error; every other
/// problem is collected in [`JobsFile::problems`].
pub fn read(path: &Path) -> Result<JobsFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the jobs file {}: {e}", path.display())))?;
    let private = is_private(path);
    parse(&text, path, private)
}

/// True when neither group nor others have any access to the file (always true off Unix).
fn is_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        #[allow(clippy::verbose_bit_mask)] // "no bit for group or others" reads best as a mask
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Parses a jobs file's text; `path` names it in messages and anchors relative paths;
/// `private` says whether only its owner can read it.
pub fn parse(text: &str, path: &Path, private: bool) -> Result<JobsFile> {
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| Error::usage(format!("jobs file {}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = JobsFile {
        path: path.to_path_buf(),
        connection: ConfigFile::default(),
        names: Vec::new(),
        datasets: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let mut problem = |dataset: Option<&str>, msg: String| {
        out.problems.push(Problem {
            dataset: dataset.map(str::to_owned),
            problem: msg,
        });
    };
    for key in table.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            problem(
                None,
                format!(
                    "unknown section `{key}`{}; a jobs file has [connection], [defaults] and \
                     [[dataset]]",
                    did_you_mean(key, SECTIONS)
                ),
            );
        }
    }
    let mut secret_options = false;
    match table.get("connection") {
        None => {}
        Some(toml::Value::Table(t)) => match connection(t.clone(), dir, private, path) {
            Ok(c) => out.connection = c,
            Err(msg) => problem(None, msg),
        },
        Some(_) => problem(None, "`connection` must be a table: [connection]".into()),
    }
    let defaults = match table.get("defaults") {
        None => Settings::default(),
        Some(toml::Value::Table(t)) => {
            for key in DATASET_KEYS {
                if t.contains_key(*key) {
                    problem(
                        Some("[defaults]"),
                        format!("`{key}` belongs in each [[dataset]], not in [defaults]"),
                    );
                }
            }
            let mut t = t.clone();
            t.retain(|k, _| !DATASET_KEYS.contains(&k));
            secret_options |= has_secret_options(&t);
            settings(t, "[defaults]", &mut problem).unwrap_or_default()
        }
        Some(_) => {
            problem(None, "`defaults` must be a table: [defaults]".into());
            Settings::default()
        }
    };
    let flag_defaults = FlagDefaults::try_parse_from(["run"])
        .map_err(|e| Error::Internal(format!("the export flags have no defaults: {e}")))?;
    match table.get("dataset") {
        None => problem(
            None,
            "no [[dataset]]: add at least one (name, export, output)".into(),
        ),
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Some(t) = item.as_table() else {
                    problem(None, format!("dataset #{} must be a table", i + 1));
                    out.names.push(format!("#{}", i + 1));
                    out.datasets.push(None);
                    continue;
                };
                secret_options |= has_secret_options(t);
                let (name, dataset) =
                    dataset(t.clone(), i, &defaults, &flag_defaults, dir, &mut problem);
                out.names.push(name);
                out.datasets.push(dataset);
            }
        }
        Some(_) => problem(
            None,
            "`dataset` must be an array of tables: [[dataset]]".into(),
        ),
    }
    duplicates(&out.names, &out.datasets, &mut problem);
    if secret_options && !private {
        out.warnings.push(format!(
            "the jobs file {} holds storage options that look secret, and other users of this \
             machine can read it: `chmod 600` it, or take the secrets from the environment \
             (AWS_*, GOOGLE_*, AZURE_*)",
            path.display()
        ));
    }
    Ok(out)
}

/// `[connection]`: a config file's keys, plus inline secrets when the file is private.
fn connection(
    mut t: toml::Table,
    dir: &Path,
    private: bool,
    path: &Path,
) -> std::result::Result<ConfigFile, String> {
    for key in ["workspace", "model"] {
        if t.contains_key(key) {
            return Err(format!(
                "[connection]: `{key}` belongs in [defaults] or in a [[dataset]]"
            ));
        }
    }
    let mut inline: HashMap<&str, Secret> = HashMap::new();
    for key in INLINE_SECRETS {
        match t.remove(*key) {
            None => {}
            Some(toml::Value::String(s)) => {
                inline.insert(key, Secret::new(s));
            }
            Some(_) => return Err(format!("[connection]: `{key}` must be a string")),
        }
    }
    if !inline.is_empty() && !private {
        let mut keys: Vec<&str> = inline.keys().copied().collect();
        keys.sort_unstable();
        return Err(format!(
            "[connection] holds a secret ({}) but other users of this machine can read {}: \
             `chmod 600` the file, or name an environment variable (password_env, \
             private_key_passphrase_env) or a file (password_file) instead",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            path.display()
        ));
    }
    let mut file: ConfigFile = toml::Value::Table(t)
        .try_into()
        .map_err(|e| format!("[connection]: {}", one_line(&e.to_string())))?;
    for p in [
        &mut file.password_file,
        &mut file.certificate,
        &mut file.private_key,
    ]
    .into_iter()
    .flatten()
    {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    }
    file.inline_password = inline.remove("password");
    file.inline_private_key_passphrase = inline.remove("private_key_passphrase");
    Ok(file)
}

/// Deserializes settings, reporting unknown keys (with a likely meant key) and bad values.
fn settings(
    mut t: toml::Table,
    scope: &str,
    problem: &mut impl FnMut(Option<&str>, String),
) -> Option<Settings> {
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
            format!("unknown key `{key}`{}", did_you_mean(key, &known)),
        );
        t.remove(key);
    }
    match toml::Value::Table(t).try_into::<Settings>() {
        Ok(s) => unknown.is_empty().then_some(s),
        Err(e) => {
            problem(Some(scope), one_line(&e.to_string()));
            None
        }
    }
}

/// One `[[dataset]]`: its name (for reports) and, when it is valid, the dataset.
fn dataset(
    mut t: toml::Table,
    index: usize,
    defaults: &Settings,
    flags: &FlagDefaults,
    dir: &Path,
    problem: &mut impl FnMut(Option<&str>, String),
) -> (String, Option<Dataset>) {
    let name = take_text(&mut t, "name");
    let export = take_text(&mut t, "export");
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
    let export = required(export, "export");
    let output = required(output, "output");
    let own = settings(t, &shown, problem);
    let (Some(own), Some(name), Some(export), Some(output)) = (own, name, export, output) else {
        return (shown, None);
    };
    match build(&name, export, output, &own.over(defaults), flags, dir) {
        Ok(d) => (name, Some(d)),
        Err(msg) => {
            problem(Some(&name), msg);
            (name, None)
        }
    }
}

/// Removes `key` from `t`: a non-empty string (or, for `export`, an id given as a number).
fn take_text(t: &mut toml::Table, key: &str) -> std::result::Result<Option<String>, String> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => {
            Err(format!("`{key}` must not be empty"))
        }
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(toml::Value::Integer(n)) if key == "export" => Ok(Some(n.to_string())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Validates a dataset's merged settings into options, with the `export` command's code.
fn build(
    name: &str,
    export: String,
    output: String,
    s: &Settings,
    flags: &FlagDefaults,
    dir: &Path,
) -> std::result::Result<Dataset, String> {
    let workspace = s.workspace.clone().ok_or(
        "no `workspace`: give it in the dataset or in [defaults] (a name or an id)".to_owned(),
    )?;
    let model = s.model.clone().ok_or(
        "no `model`: give it in the dataset or in [defaults] (a name or an id)".to_owned(),
    )?;
    let mut job = ExportJob::new(workspace, model, export);
    if let Some(n) = s.concurrency {
        if n == 0 || n > MAX_CONCURRENCY {
            return Err(format!(
                "`concurrency` must be between 1 and {MAX_CONCURRENCY}, not {n}"
            ));
        }
        job.concurrency = n;
    }
    let mut poll = PollOptions::default();
    if let Some(d) = &s.poll_interval {
        poll.interval = duration(d, "poll_interval")?;
        if poll.interval.is_zero() {
            return Err("`poll_interval` must be more than 0".into());
        }
    }
    if let Some(d) = &s.task_timeout {
        let d = duration(d, "task_timeout")?;
        poll.timeout = (!d.is_zero()).then_some(d);
    }
    job.poll = poll;
    if let Some(l) = &s.locale {
        job.locale.clone_from(l);
    }

    let mut e = flags.engine.clone();
    if let Some(d) = &s.delimiter {
        e.delimiter.clone_from(d);
    }
    if let Some(v) = &s.encoding {
        e.encoding = choice::<EncodingArg>(v, "encoding")?;
    }
    if let Some(v) = &s.layout {
        e.layout = choice::<LayoutArg>(v, "layout")?;
    }
    if let Some(v) = &s.infer_rows {
        e.infer_rows = v.text();
    }
    if let Some(types) = &s.types {
        e.types = types.iter().map(|(c, t)| format!("{c}={t}")).collect();
    }
    if let Some(p) = &s.schema {
        e.schema = Some(if p.is_relative() {
            dir.join(p)
        } else {
            p.clone()
        });
    }
    if let Some(v) = s.value_number {
        e.no_value_number = !v;
    }
    if let Some(v) = &s.compression {
        e.compression = choice::<CodecArg>(v, "compression")?;
    }
    if let Some(n) = s.row_group_rows {
        e.row_group_rows = n;
    }
    if let Some(v) = &s.row_group_bytes {
        e.row_group_bytes = size(v, "row_group_bytes")?;
    }
    let engine = e.to_options().map_err(|e| as_keys(&e))?;

    let mut o = flags.output.clone();
    if let Some(v) = &s.mode {
        o.mode = choice::<ModeArg>(v, "mode")?;
    }
    if let Some(v) = &s.if_exists {
        o.if_exists = Some(choice::<IfExistsArg>(v, "if_exists")?);
    }
    if let Some(v) = s.partition_by_date {
        o.partition_by_date = v;
    }
    o.s3_endpoint = s.s3_endpoint.clone().or(o.s3_endpoint);
    o.s3_region = s.s3_region.clone().or(o.s3_region);
    if let Some(v) = s.s3_path_style {
        o.s3_path_style = v;
    }
    if let Some(v) = s.allow_http {
        o.allow_http = v;
    }
    if let Some(opts) = &s.storage_options {
        o.storage_options = opts
            .iter()
            .map(|(k, v)| RawStorageOption(format!("{k}={v}")))
            .collect();
    }
    if let Some(v) = &s.upload_part_size {
        o.upload_part_size = size(v, "upload_part_size")?;
    }
    if let Some(n) = s.upload_concurrency {
        o.upload_concurrency = n;
    }
    if let Some(n) = s.upload_retries {
        o.upload_retries = n;
    }
    if let Some(d) = &s.upload_retry_timeout {
        o.upload_retry_timeout = duration(d, "upload_retry_timeout")?;
    }
    let output = o.to_options_for(output).map_err(|e| as_keys(&e))?;
    Ok(Dataset {
        name: name.to_owned(),
        job,
        engine,
        output,
    })
}

/// Two datasets with one name, or writing to one place, are problems of both.
fn duplicates(
    names: &[String],
    datasets: &[Option<Dataset>],
    problem: &mut impl FnMut(Option<&str>, String),
) {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) && !n.starts_with('#') {
            problem(
                Some(n),
                "two datasets have this name; names must be unique".into(),
            );
        }
    }
    let outputs: Vec<Option<&str>> = datasets
        .iter()
        .map(|d| d.as_ref().map(|d| d.output.output.trim_end_matches('/')))
        .collect();
    for (i, o) in outputs.iter().enumerate() {
        let Some(o) = o else { continue };
        if let Some(j) = outputs[..i].iter().position(|p| p == &Some(*o)) {
            problem(
                Some(&names[i]),
                format!(
                    "writes to {o}, as dataset {:?} does; each dataset needs its own output",
                    names[j]
                ),
            );
        }
    }
}

fn has_secret_options(t: &toml::Table) -> bool {
    t.get("storage_options")
        .and_then(toml::Value::as_table)
        .is_some_and(|opts| {
            opts.keys().any(|k| {
                let k = k.to_ascii_lowercase();
                SECRET_WORDS.iter().any(|w| k.contains(w))
            })
        })
}

fn duration(s: &str, key: &str) -> std::result::Result<std::time::Duration, String> {
    parse_duration(s).map_err(|e| format!("`{key}`: {e}"))
}

fn size(v: &NumberOrText, key: &str) -> std::result::Result<u64, String> {
    parse_size(&v.text()).map_err(|e| format!("`{key}`: {e}"))
}

/// One of a clap value enum's values, by name.
fn choice<T: ValueEnum>(v: &str, key: &str) -> std::result::Result<T, String> {
    T::from_str(v.trim(), true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|p| format!("{:?}", p.get_name()))
            .collect();
        format!("`{key}` = {v:?}: expected one of {}", names.join(", "))
    })
}

/// An option error worded for the jobs file: flags become keys (`--infer-rows` → `infer_rows`).
fn as_keys(e: &Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("--") {
        let (before, flag) = rest.split_at(at);
        out.push_str(before);
        let len = flag[2..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .map_or(flag.len(), |n| n + 2);
        let key = flag[2..len].replace('-', "_");
        if key.is_empty() {
            out.push_str("--");
            rest = &flag[2..];
            continue;
        }
        let key = match key.as_str() {
            "type" => "types".to_owned(),
            "storage_option" => "storage_options".to_owned(),
            "no_value_number" => "value_number".to_owned(),
            _ => key,
        };
        out.push('`');
        out.push_str(&key);
        out.push('`');
        rest = &flag[len..];
    }
    out.push_str(rest);
    out
}

/// ` (did you mean `x`?)` for a known key within two edits, or nothing.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Serde's multi-line messages on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sink::{IfExists, WriteMode};
    use crate::convert::{Codec, InferRows, InputEncoding};
    use crate::convert::schema::ColumnType;

    const GOOD: &str = r#"
[connection]
api_url = "http://127.0.0.1:9"
username = "etl@example.com"
password_env = "PROD_PW"
password_file = "secrets/pw"

[defaults]
workspace = "Financial Planning"
model = "FP&A"
compression = "snappy"
concurrency = 4
poll_interval = "1s"
types = { Value = "float64" }
storage_options = { region = "eu-west-1" }

[[dataset]]
name = "revenue"
export = "Revenue - TSC.csv"
output = "out/revenue.parquet"

[[dataset]]
name = "inventory"
workspace = "Operations"
model = "Supply Chain"
export = 116000000001
output = "s3://lake/inventory/"
mode = "append"
partition_by_date = true
compression = "zstd"
infer_rows = "all"
encoding = "utf-16le"
types = { Region = "utf8" }
storage_options = { allow_http = "true" }
upload_part_size = "16MiB"
task_timeout = "0s"
schema = "types.json"
value_number = false
"#;

    fn parse_ok(text: &str) -> JobsFile {
        let f = parse(text, Path::new("/etc/jobs/jobs.toml"), true).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        f
    }

    #[test]
    fn a_jobs_file_becomes_validated_datasets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("types.json"), r#"{"Time": "utf8"}"#).unwrap();
        let path = dir.path().join("jobs.toml");
        let f = parse(GOOD, &path, true).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.names, ["revenue", "inventory"]);
        assert_eq!(f.connection.username.as_deref(), Some("etl@example.com"));
        assert_eq!(f.connection.password_env.as_deref(), Some("PROD_PW"));
        assert_eq!(
            f.connection.password_file.as_deref(),
            Some(dir.path().join("secrets/pw").as_path())
        );

        let rev = f.datasets[0].as_ref().unwrap();
        assert_eq!(
            (rev.job.workspace.as_str(), rev.job.model.as_str()),
            ("Financial Planning", "FP&A")
        );
        assert_eq!(rev.job.export, "Revenue - TSC.csv");
        assert_eq!(rev.job.concurrency, 4);
        assert_eq!(rev.job.poll.interval, Duration::from_secs(1));
        assert_eq!(rev.job.poll.timeout, Some(Duration::from_hours(1)));
        assert_eq!(rev.engine.parquet.compression, Codec::Snappy);
        assert_eq!(
            rev.engine.schema.overrides,
            vec![("Value".to_owned(), ColumnType::Float64)]
        );
        assert!(rev.engine.schema.value_number);
        assert_eq!(rev.output.output, "out/revenue.parquet");
        assert_eq!(rev.output.mode, WriteMode::Replace);
        assert_eq!(rev.output.if_exists, IfExists::Replace);
        assert_eq!(rev.output.storage_options.len(), 1);

        let inv = f.datasets[1].as_ref().unwrap();
        assert_eq!(
            (inv.job.workspace.as_str(), inv.job.model.as_str()),
            ("Operations", "Supply Chain")
        );
        assert_eq!(inv.job.export, "116000000001");
        assert_eq!(inv.job.poll.timeout, None);
        assert_eq!(inv.engine.parquet.compression, Codec::Zstd);
        assert_eq!(inv.engine.schema.infer_rows, InferRows::All);
        assert_eq!(inv.engine.csv.encoding, InputEncoding::Utf16Le);
        assert!(!inv.engine.schema.value_number);
        // Tables merge key by key; the schema file's types come first.
        let mut types = inv.engine.schema.overrides.clone();
        types.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            types,
            vec![
                ("Region".to_owned(), ColumnType::Utf8),
                ("Time".to_owned(), ColumnType::Utf8),
                ("Value".to_owned(), ColumnType::Float64),
            ]
        );
        let mut keys: Vec<&str> = inv
            .output
            .storage_options
            .iter()
            .map(|o| o.key.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["allow_http", "region"]);
        assert_eq!(inv.output.mode, WriteMode::Append);
        assert!(inv.output.partition_by_date);
        assert_eq!(inv.output.upload_part_size, 16 << 20);
    }

    /// A problem expected: (dataset, words in the message).
    type Want<'a> = (Option<&'a str>, &'a str);

    /// Each case: a file, and every problem expected.
    #[test]
    fn every_problem_is_reported_with_its_dataset() {
        let base = "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\n";
        let cases: &[(&str, &[Want])] = &[
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\ncompresion = \"zstd\"\n",
                &[(
                    Some("a"),
                    "unknown key `compresion` (did you mean `compression`?)",
                )],
            ),
            (
                "[[datasets]]\nname = \"a\"\n",
                &[
                    (None, "unknown section `datasets` (did you mean `dataset`?)"),
                    (None, "no [[dataset]]"),
                ],
            ),
            (
                "[[dataset]]\nexport = \"E\"\n",
                &[
                    (Some("#1"), "`name` is required"),
                    (Some("#1"), "`output` is required"),
                ],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\ncompression = \"brotli\"\n",
                &[(
                    Some("a"),
                    "`compression` = \"brotli\": expected one of \"zstd\"",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\ninfer_rows = 0\n",
                &[(Some("a"), "`infer_rows` takes a positive number")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nconcurrency = \"eight\"\n",
                &[(Some("a"), "invalid type: string \"eight\", expected usize")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nconcurrency = 0\n",
                &[(Some("a"), "`concurrency` must be between 1 and 64")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a/\"\nmode = \"append\"\nif_exists = \"fail\"\n",
                &[(Some("a"), "`if_exists` applies to `mode` replace only")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nupload_part_size = \"1MiB\"\n",
                &[(
                    Some("a"),
                    "`upload_part_size` must be between 5MiB and 5GiB",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n\n\
                 [[dataset]]\nname = \"a\"\nexport = \"F\"\noutput = \"./a.parquet\"\n\n\
                 [[dataset]]\nname = \"b\"\nexport = \"G\"\noutput = \"a.parquet\"\n",
                &[
                    (Some("a"), "two datasets have this name"),
                    (Some("b"), "writes to a.parquet, as dataset \"a\" does"),
                ],
            ),
            (
                "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\noutput = \"x\"\n[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n",
                &[(Some("[defaults]"), "`output` belongs in each [[dataset]]")],
            ),
            (
                "[connection]\nworkspace = \"W\"\n[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n",
                &[(None, "`workspace` belongs in [defaults]")],
            ),
            (
                "[connection]\napi_ulr = \"x\"\n[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n",
                &[(None, "api_ulr")],
            ),
        ];
        for (text, want) in cases {
            let with_base = if text.contains("[defaults]") {
                (*text).to_owned()
            } else {
                format!("{base}{text}")
            };
            let f = parse(&with_base, Path::new("jobs.toml"), true).unwrap();
            assert_eq!(f.problems.len(), want.len(), "{text}\n{:#?}", f.problems);
            for (dataset, words) in *want {
                assert!(
                    f.problems
                        .iter()
                        .any(|p| p.dataset.as_deref() == *dataset && p.problem.contains(words)),
                    "{text}\nwanted {dataset:?}: {words}\ngot {:#?}",
                    f.problems
                );
            }
        }
        // A dataset without a workspace anywhere.
        let f = parse(
            "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nmodel = \"M\"\n",
            Path::new("jobs.toml"),
            true,
        )
        .unwrap();
        assert!(
            f.problems[0].problem.contains("no `workspace`"),
            "{:?}",
            f.problems
        );
        assert!(f.datasets[0].is_none());
        // Invalid TOML is one error, not a list.
        let e = parse("[[dataset]\n", Path::new("jobs.toml"), true).unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().contains("jobs.toml"),
            "{e}"
        );
    }

    #[test]
    fn inline_secrets_need_a_private_file() {
        let text = "[connection]\nusername = \"u\"\npassword = \"hunter2\"\n\
                    [defaults]\nworkspace = \"W\"\nmodel = \"M\"\n\
                    [[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n";
        let f = parse(text, Path::new("jobs.toml"), false).unwrap();
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        let p = &f.problems[0].problem;
        assert!(p.contains("`password`") && p.contains("chmod 600"), "{p}");
        assert!(!p.contains("hunter2"), "{p}");
        let f = parse_ok(text);
        assert_eq!(
            f.connection.inline_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert!(!format!("{f:?}").contains("hunter2"));
        // Secret-looking storage options in a readable file: a warning, not a problem.
        let text = "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\n\
                    [[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"s3://b/a.parquet\"\n\
                    storage_options = { secret_access_key = \"s3cr3t\" }\n";
        let f = parse(text, Path::new("jobs.toml"), false).unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.warnings.len(), 1);
        assert!(!f.warnings[0].contains("s3cr3t"));
        assert!(
            parse(text, Path::new("jobs.toml"), true)
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_permissions_decide_privacy() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("jobs.toml");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(is_private(&p));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(!is_private(&p));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(!is_private(&p));
    }

    #[test]
    fn messages_name_keys_not_flags() {
        for (flag, key) in [
            ("--infer-rows takes a number", "`infer_rows` takes a number"),
            (
                "--if-exists applies to --mode replace only",
                "`if_exists` applies to `mode` replace only",
            ),
            ("--type \"x\": bad", "`types` \"x\": bad"),
            ("--storage-option k=...", "`storage_options` k=..."),
            ("a -- b", "a -- b"),
            ("nothing", "nothing"),
        ] {
            assert_eq!(as_keys(&Error::usage(flag)), key);
        }
        assert_eq!(
            did_you_mean("compresion", SETTING_KEYS),
            " (did you mean `compression`?)"
        );
        assert_eq!(did_you_mean("xyzzy", SETTING_KEYS), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn every_setting_key_is_a_field() {
        for key in SETTING_KEYS {
            let mut t = toml::Table::new();
            let value = match *key {
                "types" | "storage_options" => toml::Value::Table(toml::Table::new()),
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
            let s = settings(t, "t", &mut |d, m| problems.push((d.map(str::to_owned), m)));
            assert!(s.is_some() && problems.is_empty(), "{key}: {problems:?}");
        }
    }
}
