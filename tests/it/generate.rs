//! `anaplan-parquet generate`: the real binary, its file and stdout output.

use std::io::Read;
use std::process::{Command, Stdio};

use anaplan_parquet::generate::{Generator, GeneratorConfig};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
}

fn expected(config: GeneratorConfig) -> Vec<u8> {
    let mut out = Vec::new();
    Generator::new(config).write_all(&mut out).unwrap();
    out
}

#[test]
fn stdout_matches_the_library() {
    let out = bin()
        .args([
            "generate",
            "--rows",
            "2500",
            "--seed",
            "9",
            "--quote-all",
            "--crlf",
            "--bom",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        expected(GeneratorConfig {
            rows: 2500,
            seed: 9,
            quote_all: true,
            crlf: true,
            bom: true,
            ..GeneratorConfig::default()
        })
    );
}

#[test]
fn file_output_is_deterministic_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for path in [&a, &b] {
        let out = bin()
            .args([
                "generate",
                "--rows",
                "10000",
                "--seed",
                "3",
                "--dimensions",
                "6",
                "--output",
            ])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let a_bytes = std::fs::read(&a).unwrap();
    assert_eq!(a_bytes, std::fs::read(&b).unwrap());
    assert_eq!(
        a_bytes,
        expected(GeneratorConfig {
            rows: 10_000,
            seed: 3,
            dimensions: 6,
            ..GeneratorConfig::default()
        })
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn numeric_only_header_and_values() {
    let out = bin()
        .args([
            "generate",
            "--rows",
            "50",
            "--numeric-only",
            "--dimensions",
            "2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Versions,Time,Line Items,Value"));
    for line in lines {
        let value = line.rsplit(',').next().unwrap();
        assert!(value.is_empty() || value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn too_many_dimensions_is_a_usage_error() {
    let out = bin()
        .args(["generate", "--rows", "1", "--dimensions", "99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dimensions"));
}

#[test]
fn broken_pipe_is_not_an_error() {
    let mut child = bin()
        .args(["generate", "--rows", "5000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"Versions,"));
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "status {status:?}, stderr {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
