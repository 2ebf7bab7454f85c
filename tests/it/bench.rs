//! `bench` and the export summary's stage breakdown, against the in-process simulator (for the
//! library) or the simulator `bench --simulated` embeds (for the command). No timing figure is
//! asserted: only the sweep's structure, the stage fields, orderings that a bandwidth cap per
//! connection makes large (several times), and the chart files' formats.

use std::io::Read as _;
use std::process::Output;

use anaplan_parquet::anaplan::ApiVersion;
use anaplan_parquet::convert::{EngineOptions, RunContext};
use anaplan_parquet::export::run_export;
use anaplan_parquet::sink::Destination;
use serde_json::Value;

use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE, connect, quick_poll};
use crate::support::{self, Table, sim};

fn bench(args: &[&str]) -> Output {
    let mut cmd = support::bin();
    cmd.arg("bench").args(args).env("NO_COLOR", "1");
    support::run(&mut cmd)
}

fn json_of(o: &Output) -> Value {
    assert!(o.status.success(), "{}", support::stderr(o));
    serde_json::from_str(support::stdout(o).trim()).expect("one JSON object")
}

const STAGE_NAMES: [&str; 5] = ["sign_in", "task_wait", "download", "conversion", "upload"];

/// The fields every stage breakdown has, and what they must agree with.
fn check_stages(stages: &Value, bytes_in: u64) {
    let d = &stages["download"];
    assert_eq!(d["bytes"].as_u64(), Some(bytes_in), "{stages}");
    assert!(d["chunks"].as_u64().unwrap() >= 1, "{stages}");
    for key in ["wall", "mb_per_s", "input_wait"] {
        assert!(d[key].as_f64().unwrap() >= 0.0, "{key}: {stages}");
    }
    let l = &d["chunk_latency"];
    let (p50, p95, max) = (
        l["p50"].as_f64().unwrap(),
        l["p95"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p95 && p95 <= max, "{stages}");
    assert_eq!(d["retries"].as_u64(), Some(0), "{stages}");
    for key in ["sign_in", "task_wait", "upload", "transfer"] {
        assert!(stages[key].as_f64().unwrap() >= 0.0, "{key}: {stages}");
    }
    // Linux tells every thread's CPU time; the engine did some work.
    if cfg!(target_os = "linux") {
        assert!(stages["conversion_cpu"].as_f64().unwrap() > 0.0, "{stages}");
    }
    assert!(
        STAGE_NAMES.contains(&stages["bottleneck"].as_str().unwrap()),
        "{stages}"
    );
}

/// Every export summary says where the time went: the download's bytes and chunks match what
/// the engine read, the latencies are ordered, the task took at least the simulated 100 ms.
#[tokio::test]
async fn an_export_summary_has_the_stage_breakdown() {
    let sim = sim::start(sim::tenant(4_000, 16 << 10, 3)).await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("stages.parquet");
    let mut job = anaplan_parquet::export::ExportJob::new(WORKSPACE, MODEL, MAIN_EXPORT);
    job.poll = quick_poll();
    job.concurrency = 4;
    let report = run_export(
        &client,
        &job,
        &Destination::parse(out.to_str().unwrap()).unwrap(),
        EngineOptions::default(),
        &RunContext::default(),
        &|_| {},
    )
    .await
    .unwrap();
    let summary = &report.summary;
    let stages = summary.stages.as_ref().expect("an export has stages");
    assert_eq!(stages.download.chunks, report.chunks as u64);
    assert!(report.chunks > 1, "several chunks: {}", report.chunks);
    assert!(stages.task_wait >= std::time::Duration::from_millis(100));
    let json = serde_json::to_value(summary).unwrap();
    check_stages(&json["stages"], summary.bytes_in);
    // The existing fields are still there, unchanged.
    assert_eq!(json["rows"], 4_000);
    assert!(json["elapsed"].is_f64());
    let text = summary.to_text();
    assert!(text.contains("  stages: sign-in "), "{text}");
    assert!(text.contains("  bottleneck: "), "{text}");
    assert_eq!(Table::read(&out).num_rows(), 4_000);
}

/// With a 0.5 MB/s cap on each connection and a file of many chunks, 4 connections download
/// about 4 times as fast as 1 (the engine converts far faster than 0.5 MB/s): the
/// recommendation must name 4, and the chart shows both runs.
#[test]
fn more_connections_help_under_a_per_connection_cap_and_the_recommendation_says_so() {
    let dir = support::tempdir();
    let chart = dir.path().join("sweep.svg");
    let o = bench(&[
        "--simulated",
        "--rows",
        "10000",
        "--chunk-size",
        "64KiB",
        "--bandwidth",
        "500k",
        "--latency",
        "5ms",
        "--concurrency",
        "1,4",
        "--chart",
        chart.to_str().unwrap(),
        "--json",
    ]);
    let report = json_of(&o);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    for (run, conns) in runs.iter().zip([1, 4]) {
        assert_eq!(run["concurrency"], conns, "{run}");
        assert_eq!(run["compression"], "zstd", "{run}");
        assert_eq!(run["chunk_size"], 64 << 10, "{run}");
        assert_eq!(run["rows"], 10_000, "{run}");
        assert!(run["mb_per_s"].as_f64().unwrap() > 0.0, "{run}");
        assert!(run["stages"]["download"]["chunks"].as_u64().unwrap() >= 4);
        check_stages(&run["stages"], run["bytes_in"].as_u64().unwrap());
    }
    let (one, four) = (
        runs[0]["mb_per_s"].as_f64().unwrap(),
        runs[1]["mb_per_s"].as_f64().unwrap(),
    );
    assert!(four > one, "4 connections: {four} MB/s, 1: {one} MB/s");
    // At 1 connection the engine waits for chunks: the download is the bottleneck.
    assert_eq!(runs[0]["stages"]["bottleneck"], "download", "{report}");
    let rec = &report["recommendation"];
    assert_eq!(rec["concurrency"], 4, "{rec}");
    assert_eq!(rec["best_concurrency"], 4, "{rec}");
    assert!(
        rec["reason"].as_str().unwrap().starts_with("4 connections"),
        "{rec}"
    );
    assert!(report["task_wait"].as_f64().unwrap() > 0.0, "{report}");

    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    for label in [">1</text>", ">4</text>", ">recommended</text>"] {
        assert!(svg.contains(label), "{label} in {svg}");
    }
}

/// A codec sweep writes the output each time (read back whole), and the PNG chart is a PNG
/// whose pixels decompress to the announced size.
#[test]
fn a_codec_sweep_writes_each_output_and_draws_a_png() {
    let dir = support::tempdir();
    let chart = dir.path().join("sweep.png");
    let out = dir.path().join("bench.parquet");
    let o = bench(&[
        "--simulated",
        "--rows",
        "3000",
        "--chunk-size",
        "16KiB",
        "--concurrency",
        "2",
        "--compression",
        "zstd,snappy",
        "-o",
        out.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
        "--json",
    ]);
    let report = json_of(&o);
    let runs = report["runs"].as_array().unwrap();
    let codecs: Vec<&str> = runs
        .iter()
        .map(|r| r["compression"].as_str().unwrap())
        .collect();
    assert_eq!(codecs, ["zstd", "snappy"]);
    assert!(runs.iter().all(|r| r["concurrency"] == 2));
    let rec = &report["recommendation"];
    assert!(
        codecs.contains(&rec["compression"].as_str().unwrap()),
        "{rec}"
    );
    assert_eq!(Table::read(&out).num_rows(), 3_000);

    let png = std::fs::read(&chart).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap()) as usize;
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap()) as usize;
    assert_eq!(png[24..26], [8, 2], "8-bit RGB");
    let len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
    assert_eq!(&png[37..41], b"IDAT");
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&png[41..41 + len])
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(raw.len(), height * (1 + width * 3));
    assert!(png.ends_with(b"IEND\xae\x42\x60\x82"));
    // Not a blank image: the bars are coloured.
    assert!(
        raw.chunks(3)
            .any(|p| p == [0xf2, 0x8e, 0x2b] || p == [0x4e, 0x79, 0xa7])
    );
}

/// The table (without --json) names every run and the recommendation; bad flags are usage
/// errors before anything runs.
#[test]
fn the_table_and_usage_errors() {
    let o = bench(&[
        "--simulated",
        "--rows",
        "2000",
        "--chunk-size",
        "16KiB",
        "--concurrency",
        "1,2",
        "--discard",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let table = support::stdout(&o);
    assert!(table.contains("bottleneck"), "{table}");
    assert!(table.contains("Recommendation: --concurrency "), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains("zstd")).count(),
        2,
        "{table}"
    );
    for (args, words) in [
        (
            vec!["--simulated", "--chart", "x.jpg"],
            "--chart: x.jpg must end in .svg or .png",
        ),
        (
            vec!["--simulated", "--concurrency", "0"],
            "--concurrency: must be between 1 and 64, not 0",
        ),
        (
            vec!["--simulated", "--compression", "brotli"],
            "--compression",
        ),
        (vec!["--simulated", "--bandwidth", "fast"], "--bandwidth"),
    ] {
        let o = bench(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            support::stderr(&o)
        );
        assert!(
            support::stderr(&o).contains(words),
            "{}",
            support::stderr(&o)
        );
    }
}

/// A large-volume read (a list through a read request) has the stage breakdown too: its pages
/// are the download's chunks.
#[tokio::test]
async fn a_read_summary_has_the_stage_breakdown() {
    use anaplan_parquet::read::{ReadJob, ReadObject, run_read};

    let sim = crate::views::start().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("list.parquet");
    let mut job = ReadJob::new(WORKSPACE, MODEL, ReadObject::List("Products".into()));
    job.pages.poll_interval = std::time::Duration::from_millis(50);
    let report = run_read(
        &client,
        &job,
        &Destination::parse(out.to_str().unwrap()).unwrap(),
        EngineOptions::default(),
        &RunContext::default(),
    )
    .await
    .unwrap();
    let stages = report.summary.stages.as_ref().expect("a read has stages");
    assert!(report.pages >= 1);
    assert_eq!(stages.download.chunks, report.pages);
    let json = serde_json::to_value(&report.summary).unwrap();
    check_stages(&json["stages"], report.summary.bytes_in);
}

/// Against a tenant (here the simulator, reached by URL like any tenant): the export task runs
/// once, and every setting of the sweep downloads the finished file again, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_bench_runs_the_task_once_and_downloads_the_file_each_run() {
    use crate::support::sim::{PASSWORD, USER};
    let sim = std::sync::Arc::new(sim::start(sim::tenant(6_000, 16 << 10, 5)).await);
    let s = std::sync::Arc::clone(&sim);
    let o = tokio::task::spawn_blocking(move || {
        let mut cmd = support::bin();
        cmd.env_clear()
            .env("NO_COLOR", "1")
            .env("ANAPLAN_API_URL", s.base_url())
            .env("ANAPLAN_AUTH_URL", s.base_url())
            .env("ANAPLAN_USERNAME", USER)
            .env("ANAPLAN_PASSWORD", PASSWORD)
            .args(["bench", "-w", WORKSPACE, "-m", MODEL, "-e", MAIN_EXPORT])
            .args(["--poll-interval", "50ms", "--concurrency", "1,3", "--json"]);
        support::run(&mut cmd)
    })
    .await
    .unwrap();
    let json = json_of(&o);
    let runs = json["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{json}");
    let sizes: Vec<u64> = runs
        .iter()
        .map(|r| r["stages"]["download"]["bytes"].as_u64().unwrap())
        .collect();
    assert!(sizes[0] > 0 && sizes[0] == sizes[1], "{sizes:?}");
    assert_eq!(
        runs.iter()
            .map(|r| r["concurrency"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 3]
    );
    // One task, created and completed once, whatever the sweep.
    let created: Vec<_> = sim
        .task_log()
        .into_iter()
        .filter(|e| e.state == "NOT_STARTED")
        .collect();
    assert_eq!(created.len(), 1, "{:?}", sim.task_log());
    // Each run downloaded every chunk: each chunk was asked for (and answered) twice.
    let mut chunk_gets = std::collections::BTreeMap::<String, u32>::new();
    for r in sim.requests() {
        if r.method == "GET" && r.status == 200 && r.path.contains("/chunks/") {
            *chunk_gets.entry(r.path).or_default() += 1;
        }
    }
    let chunks = runs[0]["stages"]["download"]["chunks"].as_u64().unwrap();
    assert!(chunks > 1, "{json}");
    assert_eq!(chunk_gets.len() as u64, chunks, "{chunk_gets:?}");
    assert!(chunk_gets.values().all(|&n| n == 2), "{chunk_gets:?}");
    assert!(json["recommendation"]["concurrency"].is_u64(), "{json}");
}
