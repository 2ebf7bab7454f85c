//! `convert`: every sample file, read back and compared value by value; dialects and encodings;
//! inference, overrides and late widening; errors with positions; atomic output.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Table, bin, dir_entries, opts, run, sample, stderr, stdout, tempdir};

/// Converts a sample file with extra args; asserts success; reads the result.
fn convert_ok(input: &std::path::Path, extra: &[&str]) -> Table {
    let dir = tempdir();
    let out = dir.path().join("out.parquet");
    convert_to(input, &out, extra);
    Table::read(&out)
}

/// Converts `input` to `out` with extra args; asserts success.
fn convert_to(input: &std::path::Path, out: &std::path::Path, extra: &[&str]) {
    let o = run(bin()
        .arg("convert")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(extra));
    assert!(o.status.success(), "convert failed: {}", stderr(&o));
}

#[test]
fn tsc_sales_keeps_dimensions_as_text_and_adds_value_number() {
    let t = convert_ok(&sample("tsc_sales.csv"), &[]);
    assert_eq!(
        t.types(),
        [
            "Versions: Utf8",
            "Time: Utf8",
            "Region: Utf8",
            "Product: Utf8",
            "Line Items: Utf8",
            "Value: Utf8",
            "Value_number: Float64"
        ]
    );
    assert_eq!(t.num_rows(), 12);
    assert_eq!(
        t.strings("Time"),
        opts(&[
            "2024-01", "2024-01", "2024-01", "2024-01", "FY24Q1", "FY24", "2024-01", "2024-01",
            "2024-01", "2024-01", "2024-01", "2024-02"
        ])
    );
    assert_eq!(
        t.strings("Value"),
        opts(&[
            "150000",
            "1200",
            "Promo, Q1 launch",
            "310000",
            "455000",
            "1820000",
            "98000.5",
            "true",
            "2024-01-15",
            "-0.125",
            "said \"hello\"\non two lines",
            ""
        ])
    );
    assert_eq!(
        t.strings("Value_number"),
        opts(&[
            "150000.0",
            "1200.0",
            "",
            "310000.0",
            "455000.0",
            "1820000.0",
            "98000.5",
            "",
            "",
            "-0.125",
            "",
            ""
        ])
    );
    assert_eq!(t.strings("Region")[9].as_deref(), Some("Zürich"));
    assert_eq!(t.strings("Product")[10].as_deref(), Some("Widget \"Pro\""));
    let inference = t
        .meta("anaplan_parquet.inference")
        .expect("inference metadata");
    assert!(
        inference.contains("\"value_number\":\"Value_number\""),
        "{inference}"
    );
    assert!(t.meta("anaplan_parquet.version").is_some());
    assert!(
        t.meta("anaplan_parquet.source")
            .is_some_and(|s| s.ends_with("tsc_sales.csv"))
    );
}

#[test]
fn tsc_numeric_value_is_float64_without_companion() {
    let t = convert_ok(&sample("tsc_numeric.csv"), &[]);
    assert_eq!(t.names().last().map(String::as_str), Some("Value"));
    assert!(t.types().contains(&"Value: Float64".to_owned()));
    assert_eq!(
        t.strings("Value"),
        opts(&["10.0", "20.0", "30.0", "60.0", "12.5", "11.75", "-0.5", ""])
    );
}

#[test]
fn quoted_everywhere_bom_and_crlf() {
    let t = convert_ok(&sample("tsc_quoted_bom_crlf.csv"), &[]);
    assert_eq!(
        t.names(),
        ["Versions", "Time", "Code", "Line Items", "Value"]
    );
    // A dimension keeps its leading zeros; the quoted value column is still numeric.
    assert_eq!(t.strings("Code"), opts(&["007", "007", "010"]));
    assert!(t.types().contains(&"Value: Int64".to_owned()));
    assert_eq!(t.strings("Value"), opts(&["12", "13", "40"]));
}

#[test]
fn generic_layout_infers_every_column() {
    let t = convert_ok(
        &sample("generic_multi_column.csv"),
        &["--layout", "generic"],
    );
    assert_eq!(
        t.types(),
        [
            "Product: Utf8",
            "Month: Utf8",
            "Revenue: Float64",
            "Units: Int64",
            "Active: Boolean",
            "Launch Date: Date32",
            "Updated At: Timestamp(µs)"
        ]
    );
    assert_eq!(t.strings("Revenue"), opts(&["150000.25", "98000.0", ""]));
    assert_eq!(
        t.strings("Launch Date"),
        opts(&["2024-01-15", "2023-11-02", ""])
    );
    assert_eq!(
        t.strings("Updated At"),
        opts(&[
            "2024-02-01T09:30:00",
            "2024-02-01T09:30:00.500",
            "2024-02-01T10:00:00"
        ])
    );
    assert_eq!(t.strings("Product")[2].as_deref(), Some("Widget, Deluxe"));
    // The same file in the default layout keeps every column but the last as text.
    let t = convert_ok(&sample("generic_multi_column.csv"), &[]);
    assert!(t.types().contains(&"Revenue: Utf8".to_owned()));
    assert!(t.types().contains(&"Updated At: Timestamp(µs)".to_owned()));
}

#[test]
fn utf16le_and_latin1_inputs() {
    let t = convert_ok(&sample("utf16le_excel.csv"), &["--encoding", "utf-16le"]);
    assert_eq!(t.strings("Region"), opts(&["Zürich", "東京", "São Paulo"]));
    assert_eq!(
        t.strings("Value"),
        opts(&["150000", "98000.5", "Prévision révisée"])
    );
    let t = convert_ok(&sample("latin1.csv"), &["--encoding", "iso-8859-1"]);
    assert_eq!(t.strings("Region"), opts(&["Zürich", "São Paulo"]));
    // Read as UTF-8, the same bytes are an error naming the byte.
    let dir = tempdir();
    let o = run(bin()
        .arg("convert")
        .arg(sample("latin1.csv"))
        .arg("-o")
        .arg(dir.path().join("x.parquet")));
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("line 2") && err.contains("byte 25") && err.contains("0xFC"),
        "{err}"
    );
}

#[test]
fn header_only_gives_a_zero_row_file() {
    let t = convert_ok(&sample("header_only.csv"), &[]);
    assert_eq!(t.num_rows(), 0);
    assert_eq!(t.names(), ["Versions", "Time", "Line Items", "Value"]);
}

#[test]
fn duplicate_and_empty_header_names() {
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "Value,,Value,Value\n1,2,3,4\n").unwrap();
    let t = convert_ok(&input, &[]);
    assert_eq!(t.names(), ["Value", "column_2", "Value_2", "Value_3"]);
    assert_eq!(t.strings("Value_3"), opts(&["4"]));
}

#[test]
fn type_overrides_and_schema_file() {
    let t = convert_ok(
        &sample("tsc_numeric.csv"),
        &["--type", "Value=utf8", "--type", "Time=utf8"],
    );
    assert!(t.types().contains(&"Value: Utf8".to_owned()));
    assert_eq!(t.strings("Value")[4].as_deref(), Some("12.5"));
    let dir = tempdir();
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, r#"{"Active": "utf8", "Units": "float64"}"#).unwrap();
    let t = convert_ok(
        &sample("generic_multi_column.csv"),
        &["--layout", "generic", "--schema", schema.to_str().unwrap()],
    );
    assert!(t.types().contains(&"Active: Utf8".to_owned()));
    assert!(t.types().contains(&"Units: Float64".to_owned()));
}

#[test]
fn a_forced_type_that_does_not_fit_is_an_error_with_position() {
    let dir = tempdir();
    let out = dir.path().join("out.parquet");
    let o = run(bin()
        .args(["convert"])
        .arg(sample("tsc_sales.csv"))
        .arg("-o")
        .arg(&out)
        .args(["--type", "Value=float64"]));
    assert_eq!(o.status.code(), Some(5));
    let err = stderr(&o);
    assert!(
        err.contains("line 4")
            && err.contains("column 6 (\"Value\")")
            && err.contains("\"Promo, Q1 launch\""),
        "{err}"
    );
    assert!(!out.exists());
    let o = run(bin()
        .args(["convert"])
        .arg(sample("tsc_sales.csv"))
        .arg("-o")
        .arg(&out)
        .args(["--type", "Valeu=float64"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Valeu"), "{}", stderr(&o));
}

#[test]
fn no_value_number_flag() {
    let t = convert_ok(&sample("tsc_sales.csv"), &["--no-value-number"]);
    assert_eq!(t.names().last().map(String::as_str), Some("Value"));
}

#[test]
fn print_schema_writes_nothing() {
    let dir = tempdir();
    let o = run(bin()
        .current_dir(dir.path())
        .arg("convert")
        .arg(sample("tsc_sales.csv"))
        .arg("--print-schema"));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Value_number  float64"), "{out}");
    assert!(out.contains("Line Items    utf8"), "{out}");
    assert!(dir_entries(dir.path()).is_empty());
    let o = run(bin()
        .arg("convert")
        .arg(sample("tsc_sales.csv"))
        .args(["--print-schema", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["columns"][5]["name"], "Value");
    assert_eq!(v["columns"][5]["type"], "utf8");
}

/// Integers well past the sample, then a decimal, then text: every value survives exactly.
pub(crate) fn drift_input(rows: usize) -> String {
    let mut s = String::from("Versions,Line Items,Value\n");
    for i in 0..rows {
        s.push_str(&format!("Actual,Units,{i}\n"));
    }
    s.push_str("Actual,Price,6.5\n");
    for i in 0..10 {
        s.push_str(&format!("Actual,Units,{}\n", i * 7));
    }
    s.push_str("Actual,Comment,\"late, text\"\n");
    s.push_str("Actual,Units,12345678901234567\n");
    s
}

/// The output of [`drift_input`] holds every value exactly, with `Value_number`.
pub(crate) fn check_drift_output(t: &Table, rows: usize) {
    assert_eq!(t.num_rows(), rows + 13);
    assert!(
        t.types().contains(&"Value: Utf8".to_owned()),
        "{:?}",
        t.types()
    );
    assert!(t.types().contains(&"Value_number: Float64".to_owned()));
    let values = t.strings("Value");
    for (i, v) in values.iter().take(rows).enumerate() {
        assert_eq!(v.as_deref(), Some(i.to_string().as_str()));
    }
    assert_eq!(values[rows].as_deref(), Some("6.5"));
    assert_eq!(values[rows + 11].as_deref(), Some("late, text"));
    assert_eq!(values[rows + 12].as_deref(), Some("12345678901234567"));
    let numbers = t.strings("Value_number");
    let number = |i: usize| {
        numbers[i]
            .as_ref()
            .map(|s| s.parse::<f64>().expect("a number"))
    };
    for i in 0..rows {
        assert_eq!(number(i), Some(i as f64), "row {i}");
    }
    assert_eq!(number(rows), Some(6.5));
    assert_eq!(number(rows + 11), None);
}

#[test]
fn late_drift_widens_and_keeps_every_value() {
    let rows = 30_000;
    let dir = tempdir();
    let input = dir.path().join("drift.csv");
    std::fs::write(&input, drift_input(rows)).unwrap();
    let out = dir.path().join("drift.parquet");
    let o = run(bin().arg("convert").arg(&input).arg("-o").arg(&out).args([
        "--infer-rows",
        "1000",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json summary");
    assert_eq!(summary["passes"], 2);
    assert_eq!(summary["widenings"][0]["column"], "Value");
    assert_eq!(summary["widenings"][0]["from"], "int64");
    assert_eq!(summary["widenings"][0]["to"], "utf8");
    // The text made the column text; `6.5`, the first misfit, only called for float64.
    assert_eq!(summary["widenings"][0]["value"], "late, text");
    assert_eq!(summary["widenings"][0]["line"], rows + 13);
    assert_eq!(summary["widenings"][0]["first_misfit"]["value"], "6.5");
    assert_eq!(summary["widenings"][0]["first_misfit"]["line"], rows + 2);
    check_drift_output(&Table::read(&out), rows);
    assert_eq!(dir_entries(dir.path()), ["drift.csv", "drift.parquet"]);
}

#[test]
fn late_drift_from_stdin_is_spooled() {
    let rows = 20_000;
    let dir = tempdir();
    let out = dir.path().join("drift.parquet");
    let mut child = bin()
        .args(["convert", "-", "-o"])
        .arg(&out)
        .args(["--infer-rows", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(drift_input(rows).as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("widened Value from int64 to utf8"),
        "{}",
        stderr(&o)
    );
    check_drift_output(&Table::read(&out), rows);
}

#[test]
fn infer_rows_all_needs_no_widening() {
    let rows = 5_000;
    let dir = tempdir();
    let input = dir.path().join("drift.csv");
    std::fs::write(&input, drift_input(rows)).unwrap();
    let out = dir.path().join("o.parquet");
    let o = run(bin().arg("convert").arg(&input).arg("-o").arg(&out).args([
        "--infer-rows",
        "all",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["widenings"].as_array().map(Vec::len), Some(0));
    check_drift_output(&Table::read(&out), rows);
}

#[test]
fn int_to_float_widening() {
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    let mut s = String::from("Line Items,Value\n");
    for i in 0..500 {
        s.push_str(&format!("a,{i}\n"));
    }
    s.push_str("a,0.25\n");
    std::fs::write(&input, s).unwrap();
    let t = convert_ok(&input, &["--infer-rows", "10"]);
    assert!(t.types().contains(&"Value: Float64".to_owned()));
    let v = t.strings("Value");
    assert_eq!(v[499].as_deref(), Some("499.0"));
    assert_eq!(v[500].as_deref(), Some("0.25"));
    assert!(!t.names().contains(&"Value_number".to_owned()));
}

/// Bad inputs: (file content, exit code, fragments the one-line error must hold).
#[test]
fn bad_inputs_fail_with_position_and_leave_dest_untouched() {
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "ragged",
            std::fs::read(sample("bad_ragged.csv")).unwrap(),
            vec!["too few fields", "line 3", "column 4 (\"Value\")"],
        ),
        (
            "too many",
            b"a,b\n1,2\n3,4,5\n".to_vec(),
            vec!["too many fields", "line 3", "column 3", "byte 12"],
        ),
        (
            "unterminated",
            b"a,b\n1,\"open\n2,3\n".to_vec(),
            vec!["unterminated quoted field", "line 2", "column 2", "byte 6"],
        ),
        (
            "after quote",
            b"a,b\n1,\"x\"y\n".to_vec(),
            vec!["after a closing quote", "line 2"],
        ),
        (
            "invalid utf8",
            b"a,b\n1,2\n3,\xff\xfe\n".to_vec(),
            vec!["invalid UTF-8", "line 3", "column 2", "byte 10"],
        ),
        ("empty", Vec::new(), vec!["empty input"]),
        (
            "binary",
            vec![
                0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
            ],
            vec!["invalid UTF-8", "byte 0"],
        ),
        (
            "nul",
            b"a,b\n1,\x002\n".to_vec(),
            vec!["NUL byte", "line 2", "byte 6"],
        ),
    ];
    for (name, content, fragments) in cases {
        let dir = tempdir();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, &content).unwrap();
        let out = dir.path().join("out.parquet");
        std::fs::write(&out, b"previous good file").unwrap();
        let o = run(bin().arg("convert").arg(&input).arg("-o").arg(&out));
        assert_eq!(o.status.code(), Some(5), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: one line: {err}");
        for f in &fragments {
            assert!(err.contains(f), "{name}: {f:?} not in {err}");
        }
        assert_eq!(
            std::fs::read(&out).unwrap(),
            b"previous good file",
            "{name}"
        );
        assert_eq!(
            dir_entries(dir.path()),
            ["in.csv", "out.parquet"],
            "{name}: leftovers"
        );
    }
}

#[test]
fn usage_errors() {
    let o = run(bin().args(["convert", "/nonexistent/x.csv", "-o", "x.parquet"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"));
    let o = run(bin()
        .arg("convert")
        .arg(sample("tsc_sales.csv"))
        .args(["-o", "/nonexistent-dir/x.parquet"]));
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let o = run(bin().arg("convert").arg(sample("tsc_sales.csv")).args([
        "-o",
        "x.parquet",
        "--infer-rows",
        "zero",
    ]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn compression_codecs_all_read_back() {
    for codec in ["zstd", "snappy", "lz4", "gzip", "none"] {
        let t = convert_ok(&sample("tsc_numeric.csv"), &["--compression", codec]);
        assert_eq!(t.strings("Value")[5].as_deref(), Some("11.75"), "{codec}");
    }
}

#[test]
fn summary_goes_to_stderr_and_json_to_stdout() {
    let dir = tempdir();
    let out = dir.path().join("o.parquet");
    let o = run(bin()
        .arg("convert")
        .arg(sample("tsc_sales.csv"))
        .arg("-o")
        .arg(&out));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains("wrote 12 rows x 7 columns"), "{err}");
    assert!(
        err.contains("Value: utf8 (7 numbers (64%), 2 text values (18%)"),
        "{err}"
    );
    let o = run(bin()
        .arg("-q")
        .arg("convert")
        .arg(sample("tsc_sales.csv"))
        .arg("-o")
        .arg(&out)
        .arg("--json"));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rows"], 12);
    assert_eq!(v["columns"], 7);
    assert_eq!(v["schema"][6]["name"], "Value_number");
}

/// Outputs are created like any other program's files (0666 less the umask), not with the
/// temporary file's private 0600: readers in a shared directory must be able to open them.
/// Covers `convert`'s Parquet file and `generate`'s CSV file (both through the same helper as
/// manifests and `--keep-csv`).
#[cfg(unix)]
#[test]
fn output_file_mode_follows_the_umask_not_the_temp_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A file created the ordinary way shows what the umask allows (children inherit it).
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();

    let parquet = dir.path().join("out.parquet");
    convert_to(&sample("tsc_sales.csv"), &parquet, &[]);
    assert_eq!(
        mode(&parquet),
        mode(&plain),
        "convert: {:o}",
        mode(&parquet)
    );

    let csv = dir.path().join("gen.csv");
    let o = run(bin().args(["generate", "--rows", "10", "-o"]).arg(&csv));
    assert!(o.status.success(), "generate failed: {}", stderr(&o));
    assert_eq!(mode(&csv), mode(&plain), "generate: {:o}", mode(&csv));
}

/// A spool that cannot be created is the run's own local I/O failure (exit 8, naming the
/// directory and TMPDIR), not bad input (5); the destination is untouched.
#[test]
fn an_unusable_tmpdir_is_a_local_io_failure() {
    let dir = tempdir();
    let out = dir.path().join("o.parquet");
    std::fs::write(&out, b"keep me").unwrap();
    let missing = dir.path().join("no-such-tmp");
    let mut child = bin()
        .args(["convert", "-", "-o"])
        .arg(&out)
        .env("TMPDIR", &missing)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may fail before reading everything: a closed pipe is fine here.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(drift_input(1_000).as_bytes());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&missing.display().to_string()) && err.contains("TMPDIR"),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

/// Dictionaries where values repeat, plain where they do not: a dimension and a float column of
/// five prices keep theirs; a float measure whose values are all distinct, and `Value_number`,
/// are written plain. The values read back are the same either way.
#[test]
fn mostly_distinct_float_columns_are_written_without_a_dictionary() {
    use arrow::array::AsArray;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempdir();
    let amount = |i: u32| format!("{}.{:03}", i * 17, i % 1000);
    let (mut plain, mut tsc) = (
        String::from("Versions,Price,Amount\n"),
        String::from("Versions,Time,Value\n"),
    );
    for i in 0..5_000u32 {
        let version = ["Actual", "Budget", "Forecast"][(i % 3) as usize];
        let price = [1.5, 2.25, 9.99, 10.0, 0.5][(i % 5) as usize];
        plain += &format!("{version},{price},{}\n", amount(i));
        let value = if i % 7 == 0 {
            "n/a".to_owned()
        } else {
            amount(i)
        };
        tsc += &format!("{version},M{},{value}\n", i % 12);
    }
    let dictionaries = |csv: &str, extra: &[&str]| -> Vec<(String, bool)> {
        let (input, out) = (dir.path().join("in.csv"), dir.path().join("out.parquet"));
        std::fs::write(&input, csv).unwrap();
        let _ = std::fs::remove_file(&out);
        convert_to(&input, &out, extra);
        let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
        let row_group = reader.metadata().row_group(0);
        row_group
            .columns()
            .iter()
            .map(|c| {
                (
                    c.column_path().string(),
                    c.dictionary_page_offset().is_some(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
        v.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect()
    };
    assert_eq!(
        dictionaries(&plain, &["--type", "Price=float64"]),
        pairs(&[("Versions", true), ("Price", true), ("Amount", false)])
    );
    let t = Table::read(&dir.path().join("out.parquet"));
    let floats = |name: &str| -> Vec<f64> {
        let parts = t.column(name);
        parts
            .iter()
            .flat_map(|a| {
                a.as_primitive::<arrow::datatypes::Float64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    };
    let amounts: Vec<f64> = (0..5_000u32).map(|i| amount(i).parse().unwrap()).collect();
    assert_eq!(floats("Amount"), amounts);
    assert_eq!(floats("Price")[..5], [1.5, 2.25, 9.99, 10.0, 0.5]);
    // A text `Value` keeps its dictionary; its numbers' column does not.
    assert_eq!(
        dictionaries(&tsc, &[]),
        pairs(&[
            ("Versions", true),
            ("Time", true),
            ("Value", true),
            ("Value_number", false)
        ])
    );
}
