//! The jobs file of `run`: TOML, read once into validated [`Dataset`]s.
//!
//! ```toml
//! [connection]                        # like a config file (see `settings::connection`), plus:
//! username = "etl@example.com"
//! password_env = "ANAPLAN_PASSWORD"   # the NAME of a variable holding the password
//!
//! [defaults]                          # any dataset key but name, export, view, list, output
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
//!
//! [[dataset]]
//! name = "prices"
//! view = "REV02 Price Book"           # or list = "Employees": exactly one of export/view/list
//! output = "/data/anaplan/prices.parquet"
//! read_mode = "large"                 # view and list datasets only: auto, large or direct
//! ```
//!
//! A dataset's settings are its own keys, then `[defaults]`, then the library's defaults. The
//! keys are the settings' canonical names ([`crate::settings`]), which the `export` command's
//! flags spell in kebab-case (`infer_rows` is `--infer-rows`), except `types` (a table of
//! column = type, for `--type`), `storage_options` (a table, for `--storage-option`) and
//! `value_number = false` (for `--no-value-number`). `view` and `list` (for `--view` and
//! `--list`) take the place of `export`, with `read_mode` (for `--read-mode`); `layout =
//! "single-column"` reads a view in `TABULAR_SINGLE_COLUMN`. They are read into the same
//! settings as the flags and checked by the same code, so a bad value gets the same words,
//! with its key named as `` `key` `` ([`dataset`]). Every problem in the file is collected
//! and reported at once; an unknown key is named with its dataset (and a likely meant key).
//!
//! Secrets: a password or key passphrase is named by environment variable (`password_env`,
//! `private_key_passphrase_env`) or file (`password_file`). Inline `password` and
//! `private_key_passphrase` are accepted only when the file is private (no access for group
//! or others); a group- or world-readable file with storage options that look secret draws a
//! warning. A TOML syntax error names its line and column without quoting the line.

mod dataset;
mod position;

use std::collections::HashMap;
use std::path::Path;

use self::position::{Positions, Section, refused, refused_keys};
use super::{Dataset, Problem};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::settings::{ConfigFile, toml_error};

/// The sections of a jobs file.
const SECTIONS: &[&str] = &["connection", "defaults", "dataset"];
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
pub(crate) struct JobsFile {
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

impl JobsFile {
    /// The datasets `--only` and `--shard` select, and the file's problems, overlapping outputs
    /// included. Problems of datasets outside the selection count too: the file is shared.
    pub(crate) fn selection(
        &self,
        only: &[String],
        shard: Option<super::Shard>,
    ) -> Result<(Vec<Dataset>, Vec<Problem>)> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let selected = super::select(&names, only, shard)?;
        let mut problems = self.problems.clone();
        let every: Vec<&Dataset> = self.datasets.iter().flatten().collect();
        problems.extend(super::overlaps(&every));
        let datasets = selected
            .iter()
            .filter_map(|&i| self.datasets[i].clone())
            .collect();
        Ok((datasets, problems))
    }
}

/// Collects the problems of a file: the dataset (or section) each concerns, and what.
type Problems<'a> = dyn FnMut(Option<&str>, String) + 'a;

/// Reads a jobs file. Only an unreadable file or invalid TOML is an error; every other
/// problem is collected in [`JobsFile::problems`].
pub(crate) fn read(path: &Path) -> Result<JobsFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read the jobs file {}: {e}", path.display())))?;
    parse(&text, path, is_private(path))
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
pub(crate) fn parse(text: &str, path: &Path, private: bool) -> Result<JobsFile> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        Error::usage(format!(
            "jobs file {}: {}",
            path.display(),
            toml_error(&e, text)
        ))
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let positions = Positions::new(text);
    let mut out = JobsFile {
        connection: ConfigFile::default(),
        names: Vec::new(),
        datasets: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let mut problems: Vec<Problem> = Vec::new();
    let mut problem = |dataset: Option<&str>, msg: String| {
        problems.push(Problem {
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
    match table.get("connection") {
        None => {}
        Some(toml::Value::Table(t)) => {
            let at = |p: &[String]| positions.at(Section::Connection, p);
            match connection(t.clone(), dir, private, path, &at) {
                Ok(c) => out.connection = c,
                Err(msgs) => msgs.into_iter().for_each(|msg| problem(None, msg)),
            }
        }
        Some(_) => problem(None, "`connection` must be a table: [connection]".into()),
    }
    let mut secret_options = false;
    let defaults = match table.get("defaults") {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => {
            secret_options |= has_secret_options(t);
            let at = |p: &[String]| positions.at(Section::Defaults, p);
            dataset::defaults(t.clone(), &at, &mut problem)
        }
        Some(_) => {
            problem(None, "`defaults` must be a table: [defaults]".into());
            toml::Table::new()
        }
    };
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
                let at = |p: &[String]| positions.at(Section::Dataset(i), p);
                let (name, dataset) =
                    dataset::dataset(t.clone(), i, &defaults, dir, &at, &mut problem);
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
    out.problems = problems;
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

/// `[connection]`: a config file's keys, plus inline secrets when the file is private; else
/// its problems.
fn connection(
    mut t: toml::Table,
    dir: &Path,
    private: bool,
    path: &Path,
    at: &dataset::At<'_>,
) -> std::result::Result<ConfigFile, Vec<String>> {
    for key in ["workspace", "model"] {
        if t.contains_key(key) {
            return Err(vec![format!(
                "[connection]: `{key}` belongs in [defaults] or in a [[dataset]]{}",
                at(&[key.to_owned()])
            )]);
        }
    }
    let mut inline: HashMap<&str, Secret> = HashMap::new();
    for key in INLINE_SECRETS {
        match t.remove(*key) {
            None => {}
            Some(toml::Value::String(s)) => {
                inline.insert(key, Secret::new(s));
            }
            Some(_) => {
                return Err(vec![format!(
                    "[connection]: `{key}` must be a string{}",
                    at(&[(*key).to_owned()])
                )]);
            }
        }
    }
    if !inline.is_empty() && !private {
        let mut keys: Vec<&str> = inline.keys().copied().collect();
        keys.sort_unstable();
        return Err(vec![format!(
            "[connection] holds a secret ({}) but other users of this machine can read {}: \
             `chmod 600` the file, or name an environment variable (password_env, \
             private_key_passphrase_env) or a file (password_file) instead",
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            path.display()
        )]);
    }
    let mut file = match ConfigFile::from_table(t.clone(), dir) {
        Ok(file) => file,
        Err(whole) => {
            let keys = refused_keys::<ConfigFile>(&t);
            if keys.is_empty() {
                return Err(vec![whole]);
            }
            return Err(keys
                .iter()
                .map(|(p, why)| format!("[connection]: {}{}", refused(p, why), at(p)))
                .collect());
        }
    };
    file.inline_password = inline.remove("password");
    file.inline_private_key_passphrase = inline.remove("private_key_passphrase");
    Ok(file)
}

/// Two datasets with one name, or writing to one place, are problems of both.
fn duplicates(names: &[String], datasets: &[Option<Dataset>], problem: &mut Problems<'_>) {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::convert::schema::ColumnType;
    use crate::convert::{Codec, InferRows, InputEncoding};
    use crate::sink::{IfExists, WriteMode};

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
                    "`compression`: expected one of zstd, snappy, lz4, gzip, none, not \"brotli\"",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\ninfer_rows = 0\n",
                &[(
                    Some("a"),
                    "`infer_rows`: takes a positive number or `all`, not \"0\"",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nconcurrency = \"eight\"\n",
                &[(
                    Some("a"),
                    "`concurrency`: invalid type: string, expected usize (line 8, column 1)",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nconcurrency = 0\n",
                &[(Some("a"), "`concurrency`: must be between 1 and 64, not 0")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a/\"\nmode = \"append\"\nif_exists = \"fail\"\n",
                &[(Some("a"), "`if_exists`: applies to replace mode only")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\nupload_part_size = \"1MiB\"\n",
                // Checked by the destination's own validation.
                &[(Some("a"), "must be between 5MiB and 5GiB")],
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
            (
                "[[dataset]]\nname = \"a\"\nview = \"V\"\nlist = \"L\"\noutput = \"a.parquet\"\n",
                &[(
                    Some("a"),
                    "give exactly one of `export`, `view` and `list`, not `view` and `list`",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\noutput = \"a.parquet\"\n",
                &[(Some("a"), "one of `export`, `view` and `list` is required")],
            ),
            (
                "[[dataset]]\nname = \"a\"\nexport = \"E\"\nread_mode = \"large\"\noutput = \"a.parquet\"\n",
                &[(
                    Some("a"),
                    "`read_mode`: applies to a `view` or `list` dataset only",
                )],
            ),
            (
                "[[dataset]]\nname = \"a\"\nlist = \"L\"\nread_mode = \"huge\"\noutput = \"a.parquet\"\n",
                &[(
                    Some("a"),
                    "`read_mode`: \"huge\" is not large, direct or auto",
                )],
            ),
            (
                "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\nview = \"V\"\n[[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n",
                &[(Some("[defaults]"), "`view` belongs in each [[dataset]]")],
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
        // Invalid TOML is one error, not a list, and never quotes the line (a secret).
        let e = parse("[[dataset]\n", Path::new("jobs.toml"), true).unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().contains("jobs.toml"),
            "{e}"
        );
        let e = parse(
            "[connection]\npassword = \"hunter2\n",
            Path::new("jobs.toml"),
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
        // A bad value in [defaults] is reported once, under [defaults].
        let f = parse(
            "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\nconcurrency = \"eight\"\n\
             [[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"a.parquet\"\n",
            Path::new("jobs.toml"),
            true,
        )
        .unwrap();
        assert_eq!(f.problems[0].dataset.as_deref(), Some("[defaults]"));
        // Named by key and place; serde's quote of the value is dropped (it may be a secret).
        assert_eq!(
            f.problems[0].problem,
            "`concurrency`: invalid type: string, expected usize (line 4, column 1)"
        );
    }

    #[test]
    fn view_and_list_datasets_become_reads() {
        use crate::read::{ReadMode, ReadObject, ViewLayout};
        let f = parse_ok(
            "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\nread_mode = \"direct\"\nconcurrency = 3\n\
             [[dataset]]\nname = \"v\"\nview = \"REV01 Revenue\"\nlayout = \"single-column\"\noutput = \"v.parquet\"\n\
             [[dataset]]\nname = \"l\"\nlist = 101000000001\nread_mode = \"large\"\noutput = \"l.parquet\"\n\
             [[dataset]]\nname = \"e\"\nexport = \"E\"\noutput = \"e.parquet\"\n",
        );
        let v = f.datasets[0].as_ref().unwrap();
        let read = v.read.as_ref().unwrap();
        assert_eq!(read.object, ReadObject::View("REV01 Revenue".into()));
        assert_eq!((read.workspace.as_str(), read.model.as_str()), ("W", "M"));
        assert_eq!(read.mode, ReadMode::Direct);
        assert_eq!(read.layout, ViewLayout::SingleColumn);
        assert_eq!(read.pages.concurrency, 3);
        assert_eq!(v.job.export, "REV01 Revenue");
        let l = f.datasets[1].as_ref().unwrap().read.as_ref().unwrap();
        assert_eq!(l.object, ReadObject::List("101000000001".into()));
        assert_eq!(l.mode, ReadMode::Large);
        assert_eq!(l.layout, ViewLayout::MultiColumn);
        // `read_mode` in [defaults] does not trouble an export dataset.
        assert!(f.datasets[2].as_ref().unwrap().read.is_none());
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
    fn likely_meant_keys() {
        assert_eq!(
            did_you_mean("compresion", dataset::SETTING_KEYS),
            " (did you mean `compression`?)"
        );
        assert_eq!(did_you_mean("xyzzy", dataset::SETTING_KEYS), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
