//! The bad-input corpus (`tests/corpus/`, described case by case in its `manifest.toml`),
//! through the real binary: `convert FILE`, `convert -` (stdin), and `export` against the
//! simulator serving each case's bytes as an export's file in small chunks.
//!
//! Every case gives either a correct file (read back, values checked; the `--json` summary's
//! passes and widenings checked, so a late value really is past the sample) or exit code 5 and
//! one line on stderr naming exactly the position the manifest gives (chunk for exports, line,
//! column, byte). Never a panic, never a hang (each child has a generous deadline), never a
//! partial output: the destination directory holds nothing new and an existing destination
//! file is untouched.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anaplan_parquet::simulator::{Encoding, ExportConfig, SimulatorHandle};
use serde::Deserialize;

use crate::support::sim::{self, PASSWORD, USER};
use crate::support::{Table, bin, dir_entries, opts, stderr, tempdir};

/// A child that runs longer than this has hung.
const CHILD_DEADLINE: Duration = Duration::from_mins(3);

/// What an existing destination holds before a run that must fail.
const PREVIOUS: &[u8] = b"previous good file";

/// Workspace and model of the simulator's default tenant, where the corpus exports are added.
const WORKSPACE: &str = "Financial Planning";
const MODEL: &str = "FP&A";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    what: String,
    file: Option<String>,
    generate: Option<String>,
    encoding: Option<String>,
    chunk_size: Option<u64>,
    infer_rows: Option<u64>,
    rows: Option<usize>,
    columns: Option<Vec<String>>,
    types: Option<Vec<String>>,
    #[serde(default)]
    values: BTreeMap<String, Vec<String>>,
    /// Column -> 1-based data row -> value ("" for null).
    #[serde(default)]
    values_at: BTreeMap<String, BTreeMap<String, String>>,
    passes: Option<u64>,
    #[serde(default)]
    widenings: Vec<ExpectedWidening>,
    #[serde(default)]
    decisions: Vec<String>,
    error: Option<String>,
    line: Option<u64>,
    column: Option<usize>,
    byte: Option<u64>,
    chunk: Option<u64>,
    export_exit: Option<i32>,
    export_error: Option<String>,
}

/// A widening the summary must report.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct ExpectedWidening {
    column: String,
    from: String,
    to: String,
    row: u64,
    line: u64,
    value: String,
}

impl Case {
    /// The arguments every route adds: the JSON summary on stdout, and `--infer-rows`.
    fn engine_args(&self) -> Vec<String> {
        let mut args = vec!["--json".to_owned()];
        if let Some(n) = self.infer_rows {
            args.extend(["--infer-rows".to_owned(), n.to_string()]);
        }
        args
    }

    fn utf16(&self) -> bool {
        self.encoding.as_deref() == Some("utf-16le")
    }

    fn chunk_size(&self) -> u64 {
        self.chunk_size.unwrap_or(8)
    }

    fn input(&self) -> Arc<Vec<u8>> {
        match (&self.file, &self.generate) {
            (Some(f), None) => Arc::new(std::fs::read(corpus_dir().join(f)).expect("corpus file")),
            (None, Some(g)) => Arc::clone(generated().get(g.as_str()).expect("a known generator")),
            _ => panic!("{}: give exactly one of file and generate", self.name),
        }
    }

    /// The position the error must name (`chunk` only for exports).
    fn expected_position(&self, input: &[u8], export: bool) -> Position {
        let chunk = export.then(|| {
            self.chunk.or_else(|| {
                self.byte.map(|b| {
                    let chunks = (input.len() as u64).div_ceil(self.chunk_size());
                    (b / self.chunk_size()).min(chunks.saturating_sub(1))
                })
            })
        });
        Position {
            chunk: chunk.flatten(),
            line: self.line,
            column: self.column,
            byte: self.byte,
        }
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn manifest() -> &'static [Case] {
    static M: OnceLock<Vec<Case>> = OnceLock::new();
    M.get_or_init(|| {
        let text = std::fs::read_to_string(corpus_dir().join("manifest.toml")).expect("manifest");
        let m: Manifest = toml::from_str(&text).expect("a valid manifest");
        m.case
    })
}

// ---- the big inputs, built here rather than committed -----------------------------------------

/// The text of the 10 MiB field (before quoting).
fn big_field() -> String {
    let unit = "lorem, \"ipsum\"\r\ndolor € sit; ";
    unit.repeat((10 << 20) / unit.len() + 1)
}

fn generated() -> &'static HashMap<&'static str, Arc<Vec<u8>>> {
    static G: OnceLock<HashMap<&'static str, Arc<Vec<u8>>>> = OnceLock::new();
    G.get_or_init(|| {
        let mut g = HashMap::new();
        let mut field = b"Line Items,Value\nBig,\"".to_vec();
        field.extend_from_slice(big_field().replace('"', "\"\"").as_bytes());
        field.extend_from_slice(b"\"\nSmall,1\n");
        g.insert("field_10mb", Arc::new(field));

        let mut wide = (1..=10_000)
            .map(|j| format!("c{j:05}"))
            .collect::<Vec<_>>()
            .join(",");
        for r in 1..=2 {
            wide.push('\n');
            wide.push_str(
                &(1..10_000)
                    .map(|j| format!("r{r}c{j}"))
                    .chain(std::iter::once(r.to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        wide.push('\n');
        g.insert("columns_10000", Arc::new(wide.into_bytes()));

        let mut long = (1..=64)
            .map(|j| format!("f{j}"))
            .collect::<Vec<_>>()
            .join(",");
        long.push('\n');
        for r in 0..16 {
            let row: Vec<String> = (0..64).map(|j| long_value(r, j)).collect();
            long.push_str(&row.join(","));
            long.push('\n');
        }
        g.insert("long_lines", Arc::new(long.into_bytes()));

        let mut rows = String::from("Versions,Line Items,Value\n");
        for i in 0..200_000 {
            rows.push_str(&format!("Actual,Units,{i}\n"));
        }
        rows.push_str("Actual,Comment,\"never closed\n");
        for _ in 0..10 {
            rows.push_str("Actual,Units,1\n");
        }
        g.insert("unterminated_after_rows", Arc::new(rows.into_bytes()));

        // Past the default sample: 100,000 rows, rounded up to 7 batches of 16,384.
        let mut late = String::from("Line Items,Value\n");
        for i in 0..120_010 {
            late.push_str(&match i {
                5 => "Big,123456789012345672\n".to_owned(),
                120_000 => "Late,0.5\n".to_owned(),
                i => format!("Units,{i}\n"),
            });
        }
        g.insert("inexact_int_then_decimal_late", Arc::new(late.into_bytes()));

        let day = |r: usize| format!("2024-01-{:02}", r % 28 + 1);
        let late_cases: [LateCase<'_>; 6] = [
            ("late_int_to_float", &|r| r.to_string(), "0.5"),
            ("late_int_to_text", &|r| r.to_string(), "n/a"),
            ("late_float_to_text", &|r| format!("{r}.5"), "n/a"),
            (
                "late_boolean_to_text",
                &|r| (r % 2 == 0).to_string(),
                "maybe",
            ),
            ("late_date_to_text", &day, "2024-02-30"),
            (
                "late_timestamp_to_text",
                &|r| format!("{} 03:04:05", day(r)),
                "2024-01-02",
            ),
        ];
        for (name, value, misfit) in late_cases {
            g.insert(name, Arc::new(late_input(value, misfit)));
        }
        g
    })
}

/// A late-widening case: its name, the value of each data row, and the misfit at row 20,001.
type LateCase<'a> = (&'static str, &'a dyn Fn(usize) -> String, &'static str);

/// 20,000 rows of `value(row)`, `misfit` at data row 20,001, then 9 more rows of `value`. The
/// dimension of data row 3 spans two lines, so a row's line is its number plus 2 from there.
fn late_input(value: &dyn Fn(usize) -> String, misfit: &str) -> Vec<u8> {
    let mut text = String::from("Line Items,Value\n");
    for r in 1..=20_010 {
        let dimension = if r == 3 { "\"two\nlines\"" } else { "Units" };
        let v = if r == 20_001 {
            misfit.to_owned()
        } else {
            value(r)
        };
        text.push_str(&format!("{dimension},{v}\n"));
    }
    text.into_bytes()
}

/// Field `j` of row `r` of `long_lines`: 4 KiB of text, the last column a number.
fn long_value(r: usize, j: usize) -> String {
    if j == 63 {
        return (r * 1000 + 7).to_string();
    }
    let mut v = format!("r{r}f{j}-");
    while v.len() < 4096 {
        v.push(char::from(b'a' + ((r + j + v.len()) % 26) as u8));
    }
    v
}

/// Checks of the generated correct files, beyond the manifest's.
fn check_generated(name: &str, t: &Table) {
    match name {
        "field_10mb" => {
            let values = t.strings("Value");
            assert_eq!(
                values[0].as_deref(),
                Some(big_field().as_str()),
                "the big field"
            );
            assert_eq!(values[1].as_deref(), Some("1"));
            assert_eq!(t.strings("Value_number"), opts(&["", "1.0"]));
        }
        "columns_10000" => {
            let names = t.names();
            assert_eq!(names.len(), 10_000);
            assert_eq!(names[0], "c00001");
            assert_eq!(names[9_999], "c10000");
            assert_eq!(t.strings("c00001"), opts(&["r1c1", "r2c1"]));
            assert_eq!(t.strings("c05000"), opts(&["r1c5000", "r2c5000"]));
            assert_eq!(t.strings("c10000"), opts(&["1", "2"]));
            assert!(t.types().contains(&"c10000: Int64".to_owned()));
        }
        "long_lines" => {
            assert_eq!(t.names().len(), 64);
            for j in [0, 31, 62, 63] {
                let expected: Vec<Option<String>> =
                    (0..16).map(|r| Some(long_value(r, j))).collect();
                assert_eq!(t.strings(&format!("f{}", j + 1)), expected, "column {j}");
            }
        }
        // Checked by the manifest's `values_at`.
        "inexact_int_then_decimal_late" => {}
        late if late.starts_with("late_") => {}
        other => panic!("no checks for generated case {other}"),
    }
}

// ---- running the binary ---------------------------------------------------------------------

/// Runs a child to completion, feeding `stdin`; panics if it outlives [`CHILD_DEADLINE`].
fn run_with_deadline(mut cmd: Command, stdin: Option<Arc<Vec<u8>>>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin");
        // The child may stop reading early (an error): a broken pipe here is fine.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + CHILD_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hung: still running after {CHILD_DEADLINE:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// A position as printed in an error line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Position {
    chunk: Option<u64>,
    line: Option<u64>,
    column: Option<usize>,
    byte: Option<u64>,
}

/// Reads the position out of `... bad input at chunk 2, line 3, column 2 ("Value"), byte 9: ...`.
fn printed_position(line: &str) -> Position {
    let mut p = Position::default();
    let Some(at) = line.find("bad input at ") else {
        return p;
    };
    let rest = &line[at + "bad input at ".len()..];
    let end = rest.find(": ").expect("a message after the position");
    for part in rest[..end].split(", ") {
        let mut words = part.split(' ');
        let (Some(what), Some(n)) = (words.next(), words.next()) else {
            panic!("unexpected position part {part:?} in {line}");
        };
        match what {
            "chunk" => p.chunk = n.parse().ok(),
            "line" => p.line = n.parse().ok(),
            "column" => p.column = n.parse().ok(),
            "byte" => p.byte = n.parse().ok(),
            _ => panic!("unexpected position part {part:?} in {line}"),
        }
    }
    p
}

/// Which path a case goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    File,
    Stdin,
    Export,
}

/// Checks the `--json` summary of a successful run: passes, widenings, decisions.
fn check_summary(case: &Case, name: &str, o: &Output) {
    let text = String::from_utf8_lossy(&o.stdout);
    let summary: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{name}: the --json summary: {e}: {text}"));
    assert_eq!(
        summary["passes"].as_u64(),
        Some(case.passes.unwrap_or(1)),
        "{name}: passes in {summary}"
    );
    let widenings: Vec<ExpectedWidening> =
        serde_json::from_value(summary["widenings"].clone()).expect("widenings");
    assert_eq!(widenings, case.widenings, "{name}: widenings");
    let decisions: Vec<String> =
        serde_json::from_value(summary["decisions"].clone()).expect("decisions");
    for fragment in &case.decisions {
        assert!(
            decisions.iter().any(|d| d.contains(fragment.as_str())),
            "{name}: {fragment:?} not in the decisions {decisions:?}"
        );
    }
    assert_eq!(
        summary["rows"].as_u64(),
        case.rows.map(|r| r as u64),
        "{name}: rows in the summary"
    );
}

/// Checks one run's outcome against the case; `out_dir` holds only `out.parquet`.
fn check_outcome(case: &Case, input: &[u8], path: Route, o: &Output, out_dir: &Path) {
    let name = format!("{} ({path:?})", case.name);
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{name}: a panic: {err}"
    );
    let out = out_dir.join("out.parquet");
    let export = path == Route::Export;
    if let Some(fragment) = &case.error {
        let (code, fragment) = match (&case.export_exit, &case.export_error) {
            (Some(c), Some(f)) if export => (*c, f),
            _ => (5, fragment),
        };
        assert_eq!(
            o.status.code(),
            Some(code),
            "{name}: exit code; stderr: {err}"
        );
        // The error is one line, the last; `export` logs its progress (info) before it.
        let lines: Vec<&str> = err.trim_end().lines().collect();
        let (error, before) = lines.split_last().expect("an error on stderr");
        assert!(error.starts_with("error: "), "{name}: {err}");
        assert!(
            before.iter().all(|l| export && l.contains(" INFO ")),
            "{name}: one error line: {err}"
        );
        assert!(
            error.contains(fragment.as_str()),
            "{name}: {fragment:?} not in {err}"
        );
        if code == 5 {
            assert_eq!(
                printed_position(error),
                case.expected_position(input, export),
                "{name}: position in {err}"
            );
        }
        assert_eq!(
            std::fs::read(&out).expect("the previous destination file"),
            PREVIOUS,
            "{name}: the existing destination file changed"
        );
        assert_eq!(dir_entries(out_dir), ["out.parquet"], "{name}: leftovers");
    } else {
        assert_eq!(o.status.code(), Some(0), "{name}: {err}");
        assert_eq!(dir_entries(out_dir), ["out.parquet"], "{name}: leftovers");
        let t = Table::read(&out);
        let rows = case.rows.expect("rows for a correct file");
        assert_eq!(t.num_rows(), rows, "{name}: rows");
        if let Some(columns) = &case.columns {
            assert_eq!(&t.names(), columns, "{name}: columns");
        }
        if let Some(types) = &case.types {
            let got: Vec<String> = t
                .schema
                .fields()
                .iter()
                .map(|f| f.data_type().to_string())
                .collect();
            assert_eq!(&got, types, "{name}: types");
        }
        for (column, values) in &case.values {
            let expected: Vec<Option<String>> = values
                .iter()
                .map(|v| (!v.is_empty()).then(|| v.clone()))
                .collect();
            assert_eq!(t.strings(column), expected, "{name}: column {column}");
        }
        for (column, at) in &case.values_at {
            let got = t.strings(column);
            for (row, value) in at {
                let row: usize = row.parse().expect("a data row number");
                let expected = (!value.is_empty()).then(|| value.clone());
                assert_eq!(got[row - 1], expected, "{name}: column {column}, row {row}");
            }
        }
        check_summary(case, &name, o);
        if let Some(g) = &case.generate {
            check_generated(g, &t);
        }
    }
}

/// A destination directory; error cases start with an existing destination file.
fn out_dir(case: &Case) -> tempfile::TempDir {
    let dir = tempdir();
    if case.error.is_some() {
        std::fs::write(dir.path().join("out.parquet"), PREVIOUS).unwrap();
    }
    dir
}

fn convert_case(case: &Case, path: Route) {
    let input = case.input();
    let in_dir = tempdir();
    let dir = out_dir(case);
    let mut cmd = bin();
    cmd.arg("convert");
    let stdin = match (path, &case.file) {
        (Route::Stdin, _) => {
            cmd.arg("-");
            Some(Arc::clone(&input))
        }
        (_, Some(f)) => {
            cmd.arg(corpus_dir().join(f));
            None
        }
        (_, None) => {
            let p = in_dir.path().join("in.csv");
            std::fs::write(&p, input.as_slice()).unwrap();
            cmd.arg(p);
            None
        }
    };
    cmd.arg("-o").arg(dir.path().join("out.parquet"));
    cmd.args(case.engine_args());
    if case.utf16() {
        cmd.args(["--encoding", "utf-16le"]);
    }
    let o = run_with_deadline(cmd, stdin);
    check_outcome(case, &input, path, &o, dir.path());
}

#[test]
fn the_manifest_covers_every_corpus_file_once() {
    let mut used: Vec<&str> = manifest()
        .iter()
        .filter_map(|c| c.file.as_deref())
        .collect();
    used.sort_unstable();
    let mut files: Vec<String> = dir_entries(&corpus_dir())
        .into_iter()
        .filter(|f| f != "manifest.toml")
        .collect();
    files.sort();
    assert_eq!(used, files);
    let mut names: Vec<&str> = manifest().iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), manifest().len(), "case names are unique");
    for c in manifest() {
        assert!(!c.what.is_empty(), "{}", c.name);
        assert!(
            c.error.is_some() != c.rows.is_some(),
            "{}: give either error or rows",
            c.name
        );
        assert!(c.file.is_some() != c.generate.is_some(), "{}", c.name);
        // A widening takes a second pass; a second pass is only ever for a widening.
        assert_eq!(
            c.passes.unwrap_or(1),
            1 + u64::from(!c.widenings.is_empty()),
            "{}",
            c.name
        );
    }
}

#[test]
fn corpus_through_convert_from_a_file() {
    for case in manifest() {
        convert_case(case, Route::File);
    }
}

#[test]
fn corpus_through_convert_from_stdin() {
    for case in manifest() {
        convert_case(case, Route::Stdin);
    }
}

/// The default tenant plus one export per case, serving the case's bytes.
async fn corpus_simulator() -> SimulatorHandle {
    let mut config = sim::tenant(10, 1 << 10, 11);
    let exports = &mut config.workspaces[0].models[0].exports;
    for case in manifest() {
        exports.push(ExportConfig {
            encoding: if case.utf16() {
                Encoding::Utf16Le
            } else {
                Encoding::Utf8
            },
            ..ExportConfig::fixed(
                format!("{}.csv", case.name),
                case.input().as_slice().to_vec(),
                case.chunk_size(),
            )
        });
    }
    sim::start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_through_export() {
    let sim = corpus_simulator().await;
    let url = sim.base_url();
    tokio::task::spawn_blocking(move || {
        for case in manifest() {
            let dir = out_dir(case);
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
            cmd.env_clear()
                .env("ANAPLAN_API_URL", &url)
                .env("ANAPLAN_AUTH_URL", &url)
                .env("ANAPLAN_USERNAME", USER)
                .env("ANAPLAN_PASSWORD", PASSWORD)
                .args(["export", "-w", WORKSPACE, "-m", MODEL, "-e"])
                .arg(format!("{}.csv", case.name))
                .arg("-o")
                .arg(dir.path().join("out.parquet"))
                .args(["--poll-interval", "50ms"])
                .args(case.engine_args());
            let o = run_with_deadline(cmd, None);
            check_outcome(case, &case.input(), Route::Export, &o, dir.path());
        }
    })
    .await
    .unwrap();
    sim.shutdown().await;
}
