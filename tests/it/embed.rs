//! The embedding front end (`anaplan_parquet::embed`, behind the Python package): the same
//! arguments as the command line, a record-batch stream with the file's values, secrets from
//! the host, and a stream dropped early that stops the run.

use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::convert::RunContext;
use anaplan_parquet::embed::{self, Next, Secrets};
use arrow::compute::concat_batches;

use crate::support::{Table, sim};

fn args(url: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "export",
        "-w",
        "Financial Planning",
        "-m",
        "FP&A",
        "-e",
        "Revenue - TSC.csv",
        "-u",
        sim::USER,
        "--api-url",
        url,
        "--auth-url",
        url,
        "--poll-interval",
        "100ms",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

fn secrets() -> Secrets {
    let mut s = Secrets::new();
    s.set("ANAPLAN_PASSWORD", Secret::new(sim::PASSWORD));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_holds_the_values_of_the_file() {
    let sim = sim::start(sim::tenant(20_000, 64 * 1024, 3)).await;
    let url = sim.base_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let summary = embed::export(
        &args(&url, &["-o", out.to_str().unwrap()]),
        &secrets(),
        &RunContext::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary["rows"], 20_000);
    assert_eq!(summary["anaplan"]["export"]["name"], "Revenue - TSC.csv");
    let file = Table::read(&out);

    let mut stream = embed::read(&args(&url, &[]), &secrets(), RunContext::default())
        .await
        .unwrap();
    assert_eq!(stream.schema().fields(), file.schema.fields());
    let (batches, summary) = tokio::task::spawn_blocking(move || {
        let mut batches = Vec::new();
        loop {
            match stream.next_blocking(Duration::from_millis(100)) {
                Next::Batch(b) => batches.push(b),
                Next::Pending => {}
                Next::End => return (batches, stream.summary().cloned()),
                Next::Failed(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(batches.len() > 1, "batches arrive as they are decoded");
    let streamed = concat_batches(&file.schema, &batches).unwrap();
    let written = concat_batches(&file.schema, &file.batches).unwrap();
    assert_eq!(streamed, written);
    let summary = summary.unwrap();
    assert_eq!(summary["rows"], 20_000);
    // A stream's summary says where the time went, as a file export's does.
    let stages = &summary["stages"];
    assert_eq!(
        stages["download"]["bytes"], summary["bytes_in"],
        "{summary}"
    );
    assert!(
        stages["download"]["chunks"].as_u64().unwrap() > 1,
        "{summary}"
    );
    assert!(stages["task_wait"].as_f64().unwrap() > 0.0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_and_secrets_are_checked_like_the_command_lines() {
    let sim = sim::start(sim::tenant(100, 64 * 1024, 3)).await;
    let url = sim.base_url();
    let e = embed::read(
        &args(&url, &["--infer-rows", "0"]),
        &secrets(),
        RunContext::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().starts_with("--infer-rows: "), "{e}");
    let e = embed::read(&args(&url, &["--bogus"]), &secrets(), RunContext::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--bogus"), "{e}");
    let mut wrong = Secrets::new();
    wrong.set("ANAPLAN_PASSWORD", Secret::new("hunter2"));
    assert!(!format!("{wrong:?}").contains("hunter2"));
    let e = embed::read(&args(&url, &[]), &wrong, RunContext::default())
        .await
        .unwrap_err();
    assert_eq!(e.exit_class().code(), 3, "{e}");
    assert!(!e.to_string().contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_early_stops_the_run() {
    let sim = sim::start(sim::tenant(200_000, 64 * 1024, 3)).await;
    let url = sim.base_url();
    let run = RunContext::default();
    let mut stream = embed::read(&args(&url, &[]), &secrets(), run.clone())
        .await
        .unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let b = loop {
            if let Next::Batch(b) = stream.next_blocking(Duration::from_millis(100)) {
                break b;
            }
        };
        drop(stream);
        b
    })
    .await
    .unwrap();
    assert!(first.num_rows() > 0);
    assert!(
        run.shutdown.is_triggered(),
        "dropping the stream stops the run"
    );
    // The downloads stop well short of the whole file.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let done = run.progress.snapshot();
    assert!(
        done.chunks_total > 0 && done.chunks_done < done.chunks_total,
        "{done:?}"
    );
}
