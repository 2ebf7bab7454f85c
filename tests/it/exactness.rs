//! Values are never altered by typing (issue 12): a value is typed only when the type holds it
//! exactly. Each test converts through the real binary (or the engine's library API for the
//! boundary table), reads the Parquet back and compares values with the text.

use std::path::Path;
use std::sync::Arc;

use anaplan_parquet::convert::{self, EngineOptions, Layout, RunContext};
use anaplan_parquet::sink::Destination;
use anaplan_parquet::source::MemorySource;
use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use bytes::Bytes;

use crate::client::{MODEL, WORKSPACE};
use crate::support::sim::{self, PASSWORD, USER};
use crate::support::{Table, bin, opts, run, stderr, stdout, tempdir};

/// Converts `csv` with the binary and `args`; the file read back and stderr.
fn convert_csv(csv: &str, args: &[&str]) -> (Table, String) {
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, csv).unwrap();
    let out = dir.path().join("out.parquet");
    let o = run(bin()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(args));
    assert!(o.status.success(), "{}", stderr(&o));
    (Table::read(&out), stderr(&o))
}

/// The `Float64` values of a column (null as `None`).
fn floats(t: &Table, name: &str) -> Vec<Option<f64>> {
    t.column(name)
        .iter()
        .flat_map(|a| a.as_primitive::<Float64Type>().iter().collect::<Vec<_>>())
        .collect()
}

fn type_of(t: &Table, name: &str) -> DataType {
    t.schema.field_with_name(name).unwrap().data_type().clone()
}

/// Regression: `1e-400` was typed float64 as `0.0`, and `1.23456789012345e-320` as
/// `1.2347e-320`; the exported text was gone. Now `Value` keeps the text and `Value_number`
/// holds the approximations.
#[test]
fn underflow_and_subnormal_rounding_keep_the_text() {
    let (t, err) = convert_csv(
        "Line Items,Value\nA,1.5\nB,1e-400\nC,1.23456789012345e-320\nD,-2.25\n",
        &[],
    );
    assert_eq!(type_of(&t, "Value"), DataType::Utf8, "{err}");
    assert_eq!(
        t.strings("Value"),
        opts(&["1.5", "1e-400", "1.23456789012345e-320", "-2.25"])
    );
    let n = floats(&t, "Value_number");
    assert_eq!(n[0], Some(1.5));
    assert_eq!(n[1], Some(0.0));
    assert_eq!(n[2], Some("1.23456789012345e-320".parse().unwrap()));
    assert!(
        err.contains("4 numbers (100%); 2 of the numbers not exact as float64"),
        "{err}"
    );
    // A column of exact floats is still float64, value for value.
    let (t, _) = convert_csv("Line Items,Value\nA,0.1\nB,1e-300\nC,5e-324\n", &[]);
    assert_eq!(floats(&t, "Value"), [Some(0.1), Some(1e-300), Some(5e-324)]);
}

/// Regression: `-0` in an int64 column was written as `0`. An integer has no negative zero,
/// so `-0` makes the column float64, which keeps the sign, as it keeps `-0.0`'s.
#[test]
fn negative_zero_keeps_its_sign() {
    let (t, err) = convert_csv(
        "a,b,c\n1,1.5,0\n-0,-0.0,0\n2,2.5,0\n",
        &["--layout", "generic"],
    );
    assert_eq!(type_of(&t, "a"), DataType::Float64, "{err}");
    assert_eq!(type_of(&t, "b"), DataType::Float64);
    assert_eq!(type_of(&t, "c"), DataType::Int64);
    for col in ["a", "b"] {
        let v = floats(&t, col)[1].unwrap();
        assert!(v == 0.0 && v.is_sign_negative(), "{col}: {v}");
    }
    assert_eq!(floats(&t, "a")[0], Some(1.0));
}

/// Regression: `0000-01-01` was typed as a date that pyarrow and polars cannot turn into a
/// Python date (there is no year 0). Dates and timestamps stay in years 1 to 9999.
#[test]
fn year_zero_stays_text() {
    let (t, err) = convert_csv(
        "d,ts,ok\n2024-01-15,2024-01-15 10:00:00,0001-01-01\n0000-01-01,0000-12-31 23:59:59,9999-12-31\n",
        &["--layout", "generic"],
    );
    assert_eq!(type_of(&t, "d"), DataType::Utf8, "{err}");
    assert_eq!(type_of(&t, "ts"), DataType::Utf8);
    assert_eq!(t.strings("d")[1].as_deref(), Some("0000-01-01"));
    assert_eq!(type_of(&t, "ok"), DataType::Date32);
    assert_eq!(t.strings("ok"), opts(&["0001-01-01", "9999-12-31"]));
}

/// Regression: the widening to text blamed `0.1`, the first value that did not fit int64,
/// though float64 holds it; the value that made the column text came later.
#[test]
fn a_widening_names_the_value_that_made_it_necessary() {
    let mut csv = String::from("Line Items,Value\n");
    for i in 0..20_000 {
        csv.push_str(&format!("Units,{i}\n"));
        match i {
            16_999 => csv.push_str("Price,0.1\n"),
            18_999 => csv.push_str("Comment,n/a\n"),
            _ => {}
        }
    }
    let (t, err) = convert_csv(&csv, &["--infer-rows", "100"]);
    assert_eq!(type_of(&t, "Value"), DataType::Utf8);
    assert_eq!(t.strings("Value")[17_000].as_deref(), Some("0.1"));
    // Rows are 1-based data rows; line 1 is the header.
    assert!(
        err.contains(
            "widened Value from int64 to utf8: row 19002 (line 19003) has \"n/a\" (the first value that did not fit int64, \"0.1\" on row 17001 (line 17002), only called for float64)"
        ),
        "{err}"
    );
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, &csv).unwrap();
    let o = run(bin()
        .args(["convert", "--json", "--infer-rows", "100", "-o"])
        .arg(dir.path().join("o.parquet"))
        .arg(&input));
    let summary: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let w = &summary["widenings"][0];
    assert_eq!(
        (w["value"].as_str(), w["row"].as_u64()),
        (Some("n/a"), Some(19_002))
    );
    assert_eq!(w["first_misfit"]["value"], "0.1");
    assert_eq!(w["first_misfit"]["to"], "float64");
}

/// Regression: "100% numbers, 0% text" hid a text row; the mix is told in counts, and a share
/// is never rounded to 0% or 100% when it is not.
#[test]
fn the_mix_is_told_in_counts_that_hide_nothing() {
    let mut csv = String::from("Line Items,Value\n");
    for i in 0..999 {
        csv.push_str(&format!("Units,{i}\n"));
    }
    csv.push_str("Comment,n/a\n");
    let (_, err) = convert_csv(&csv, &[]);
    assert!(
        err.contains("Value: utf8 (999 numbers (>99%), 1 text value (<1%))"),
        "{err}"
    );
}

/// The exactness boundary through the engine: one column per text, each typed on its own,
/// read back and compared with the text's value (sign bit included).
#[test]
fn float_exactness_boundary_through_the_engine() {
    use DataType::{Float64, Int64, Utf8};
    let cases: &[(&str, DataType)] = &[
        // 15, 16, 17 significant digits.
        ("0.123456789012345", Float64),
        ("0.1234567890123456", Float64),
        ("0.12345678901234567", Utf8),
        ("0.30000000000000004", Float64),
        ("0.30000000000000003", Utf8),
        ("123456789012345", Int64),
        ("9007199254740993", Int64),
        ("9007199254740993.0", Utf8),
        ("9223372036854775808", Utf8),
        ("1.50", Float64),
        ("1.5e0", Float64),
        // Large and small exponents.
        ("1.7976931348623157e308", Float64),
        ("1e308", Float64),
        ("2.2250738585072014e-308", Float64),
        ("1e-307", Float64),
        // Overflow to infinity.
        ("1e309", Utf8),
        ("-1.7976931348623159e308", Utf8),
        // Subnormals: exact only when the shortest form is the same decimal.
        ("5e-324", Float64),
        ("4.9e-324", Utf8),
        ("1e-320", Float64),
        ("1.23456789012345e-320", Utf8),
        // Underflow.
        ("1e-400", Utf8),
        ("-2e-324", Utf8),
        // Zeros.
        ("0", Int64),
        ("-0", Float64),
        ("0.0", Float64),
        ("-0.0", Float64),
        ("-0e10", Float64),
    ];
    let header: Vec<String> = (0..cases.len()).map(|i| format!("c{i}")).collect();
    let row: Vec<&str> = cases.iter().map(|(t, _)| *t).collect();
    let csv = format!("{}\n{}\n", header.join(","), row.join(","));
    let dir = tempdir();
    let out = dir.path().join("o.parquet");
    let mut options = EngineOptions::default();
    options.schema.layout = Layout::Generic;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = MemorySource::new("memory", vec![Bytes::from(csv)]);
        let dest = Destination::parse(out.to_str().unwrap()).unwrap();
        convert::convert(&source, &dest, &options, &RunContext::default())
            .await
            .unwrap();
    });
    let t = Table::read(&out);
    for (i, (text, ty)) in cases.iter().enumerate() {
        let name = &header[i];
        assert_eq!(&type_of(&t, name), ty, "{text}");
        let array = &t.column(name)[0];
        match ty {
            Float64 => {
                let v = array.as_primitive::<Float64Type>().value(0);
                assert_eq!(
                    v.to_bits(),
                    text.parse::<f64>().unwrap().to_bits(),
                    "{text}"
                );
                // The shortest form of what was written is the text's decimal value.
                let back: f64 = format!("{v:e}").parse().unwrap();
                assert_eq!(back.to_bits(), v.to_bits(), "{text}");
            }
            Int64 => {
                let v = array.as_primitive::<Int64Type>().value(0);
                assert_eq!(v.to_string(), *text);
            }
            _ => assert_eq!(array.as_string::<i32>().value(0), *text),
        }
    }
}

/// Issue 12: a Tabular Multiple Column export taken with the default layout kept every line
/// item as text, with no word of it. Now its metadata gives the layout: dimensions text, each
/// line item inferred, and the summary says so; an explicit `--layout` still wins.
#[tokio::test]
async fn a_multi_column_export_types_each_line_item() {
    const TMC: &str = "Margin Summary - TMC.csv";
    let sim = Arc::new(sim::start(sim::tenant(1_000, 8 << 10, 5)).await);
    let dir = tempdir();
    let s = Arc::clone(&sim);
    let base = dir.path().to_owned();
    let (typed, text, err) = tokio::task::spawn_blocking(move || {
        let export = |out: &Path, more: &[&str]| {
            let o = run(bin()
                .env("ANAPLAN_API_URL", s.base_url())
                .env("ANAPLAN_AUTH_URL", s.base_url())
                .env("ANAPLAN_USERNAME", USER)
                .env("ANAPLAN_PASSWORD", PASSWORD)
                .args(["export", "-w", WORKSPACE, "-m", MODEL, "-e", TMC, "-o"])
                .arg(out)
                .args(["--poll-interval", "50ms"])
                .args(more));
            assert!(o.status.success(), "{}", stderr(&o));
            stderr(&o)
        };
        let typed = base.join("typed.parquet");
        let err = export(&typed, &[]);
        // The same export as text only: single-column, the last column forced to text.
        let probe = base.join("probe.parquet");
        export(&probe, &["--layout", "single-column"]);
        let last = Table::read(&probe).names().last().unwrap().clone();
        let text = base.join("text.parquet");
        let single = export(
            &text,
            &[
                "--layout",
                "single-column",
                "--type",
                &format!("{last}=utf8"),
            ],
        );
        assert!(!single.contains("Tabular Multiple Column"), "{single}");
        (Table::read(&typed), Table::read(&text), err)
    })
    .await
    .unwrap();
    assert!(
        err.contains("layout Tabular Multiple Column, from the export's metadata"),
        "{err}"
    );
    let names = text.names();
    assert_eq!(typed.names(), names);
    let mut typed_columns = 0;
    for name in &names {
        let texts = text.strings(name);
        let ty = type_of(&typed, name);
        if ty != DataType::Utf8 {
            typed_columns += 1;
        }
        // Every value is the exported text's value.
        let values = typed.strings(name);
        for (r, (v, t)) in values.iter().zip(&texts).enumerate() {
            let same = match (v, t, &ty) {
                (None, None, _) => true,
                (Some(v), Some(t), DataType::Float64) => {
                    v.parse::<f64>().unwrap().to_bits() == t.parse::<f64>().unwrap().to_bits()
                }
                (Some(v), Some(t), DataType::Boolean) => v.eq_ignore_ascii_case(t),
                (Some(v), Some(t), _) => v == t,
                _ => false,
            };
            assert!(same, "{name} row {r}: {v:?} for {t:?} ({ty})");
        }
    }
    assert!(typed_columns >= 3, "{:?}", typed.types());
    // Dimensions stay text.
    assert_eq!(type_of(&typed, &names[0]), DataType::Utf8);
    assert!(err.contains("dimensions kept as text: "), "{err}");
}

/// A forced type is strict: a number it would alter is an error (exit 5) that says so, never
/// a silently changed value, and nothing is written.
#[test]
fn a_forced_type_never_alters_a_number() {
    let dir = tempdir();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "Line Items,Value\nA,1.5\nB,1e-400\n").unwrap();
    let out = dir.path().join("out.parquet");
    let o = run(bin()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--type", "Value=float64"]));
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("value \"1e-400\" is a number that float64 does not hold exactly")
            && err.contains("line 3"),
        "{err}"
    );
    assert!(!out.exists());
    // Forced to text, the value is kept as exported.
    let (t, _) = convert_csv(
        "Line Items,Value\nA,1.5\nB,1e-400\n",
        &["--type", "Value=utf8"],
    );
    assert_eq!(t.strings("Value"), opts(&["1.5", "1e-400"]));
}
