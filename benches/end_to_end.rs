//! End to end: an Anaplan export from the simulator to a local Parquet file.
//!
//! Two parts:
//!
//! 1. **criterion, in process**: a ~50 MB export (simulator and client in one process, over
//!    loopback), concurrency 1 and 8, as throughput in input bytes per second.
//! 2. **the real binaries, out of process** (printed as a table): the `simulator` command
//!    serving a 1 GB export (`E2E_BYTES`, default 1e9) and the `export` command writing it,
//!    with the run's MB/s and the exporter's peak RSS (VmHWM); `convert` of the same CSV for
//!    comparison; and the speed-up of `--concurrency 8` over `--concurrency 1` with a
//!    per-connection bandwidth cap and latency on the simulator (`E2E_CAP`, default `4MiB`,
//!    `E2E_LATENCY`, default `50ms`, over `E2E_CAP_BYTES`, default 2e8).
//!
//! `cargo bench --bench end_to_end`; `E2E_SKIP_PROCESS=1` runs only part 1,
//! `E2E_SKIP_CRITERION=1` only part 2.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anaplan_parquet::Secret;
use anaplan_parquet::anaplan::task::PollOptions;
use anaplan_parquet::anaplan::{AnaplanClient, ConnectionConfig, Credentials};
use anaplan_parquet::convert::{EngineOptions, RunContext};
use anaplan_parquet::export::{ExportJob, run_export};
use anaplan_parquet::simulator::{
    DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator, SimulatorConfig, SimulatorHandle,
};
use anaplan_parquet::sink::Destination;
use criterion::{BenchmarkId, Criterion, Throughput};

#[path = "../tests/it/support/s3.rs"]
mod s3;

const BIN: &str = env!("CARGO_BIN_EXE_anaplan-parquet");
/// Bytes per generated row, roughly (to size exports from a byte budget).
const BYTES_PER_ROW: f64 = 54.0;
const EXPORT: &str = "Revenue - TSC.csv";

fn rows_for(bytes: f64) -> u64 {
    (bytes / BYTES_PER_ROW) as u64
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---- part 1: criterion, in process ----------------------------------------------------------

fn in_process(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bytes = 50e6;
    let sim: SimulatorHandle = runtime.block_on(async {
        let mut config = SimulatorConfig::default_tenant(
            DEFAULT_USERNAME,
            Secret::new(DEFAULT_PASSWORD),
            rows_for(bytes),
            4 << 20,
            7,
        );
        config.gzip = false;
        config.task_duration = Duration::from_millis(10);
        Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator")
    });
    let mut connection = ConnectionConfig::new(Credentials::Basic {
        username: DEFAULT_USERNAME.to_owned(),
        password: Secret::new(DEFAULT_PASSWORD),
    });
    connection.api_url = sim.base_url();
    connection.auth_url = sim.base_url();
    let client = AnaplanClient::new(connection).expect("client");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bench.parquet");
    let destination = Destination::parse(out.to_str().unwrap()).unwrap();

    let mut group = c.benchmark_group("export_50MB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    for concurrency in [1, 8] {
        let mut job = ExportJob::new("Financial Planning", "FP&A", EXPORT);
        job.concurrency = concurrency;
        job.poll = PollOptions {
            interval: Duration::from_millis(20),
            timeout: None,
        };
        group.bench_with_input(
            BenchmarkId::new("concurrency", concurrency),
            &job,
            |b, job| {
                b.to_async(&runtime).iter(|| async {
                    run_export(
                        &client,
                        job,
                        &destination,
                        EngineOptions::default(),
                        &RunContext::default(),
                        &|_| {},
                    )
                    .await
                    .expect("export")
                });
            },
        );
    }
    group.finish();

    // Issue 5: the same export to an S3-compatible server (s3s-fs, in process, signed
    // requests, multipart) against a local file.
    let s3 = runtime.block_on(s3::S3Server::start());
    s3.create_bucket("bench");
    let mut options = s3.options("s3://bench/export.parquet");
    options.upload_part_size = 8 << 20;
    let to_s3 = Destination::from_options(&options).expect("s3 destination");
    let mut group = c.benchmark_group("export_50MB_destination");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut job = ExportJob::new("Financial Planning", "FP&A", EXPORT);
    job.poll = PollOptions {
        interval: Duration::from_millis(20),
        timeout: None,
    };
    for (name, dest) in [("local_file", &destination), ("s3_multipart", &to_s3)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                run_export(
                    &client,
                    &job,
                    dest,
                    EngineOptions::default(),
                    &RunContext::default(),
                    &|_| {},
                )
                .await
                .expect("export")
            });
        });
    }
    group.finish();
    drop(s3);
    drop(sim);
}

// ---- part 2: the binaries, out of process ---------------------------------------------------

/// A `simulator` child process.
struct SimProcess {
    child: Child,
    url: String,
}

impl SimProcess {
    fn start(rows: u64, chunk: &str, faults: Option<&str>) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "simulator",
            "--listen",
            "127.0.0.1:0",
            "--rows",
            &rows.to_string(),
            "--chunk-size",
            chunk,
            "--no-gzip",
            "--task-duration",
            "100ms",
            "-q",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(f) = faults {
            cmd.args(["--faults", f]);
        }
        let mut child = cmd.spawn().expect("simulator starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        SimProcess { child, url }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the binary measured.
struct Run {
    wall: f64,
    bytes_in: u64,
    rows: u64,
    peak_rss_mib: f64,
}

impl Run {
    fn mb_s(&self) -> f64 {
        self.bytes_in as f64 / 1e6 / self.wall
    }
}

/// Runs the binary, sampling its peak RSS (VmHWM) until it exits, and reads its JSON summary.
fn measure(args: &[&str], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak_kib = 0u64;
    loop {
        if let Some(kib) = vm_hwm(&status_path) {
            peak_kib = peak_kib.max(kib);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().expect("output");
    assert!(
        output.status.success(),
        "{args:?} failed: {:?}",
        output.status
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("a JSON summary on stdout");
    Run {
        wall,
        bytes_in: summary["bytes_in"].as_u64().unwrap_or(0),
        rows: summary["rows"].as_u64().unwrap_or(0),
        peak_rss_mib: peak_kib as f64 / 1024.0,
    }
}

fn vm_hwm(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn export(sim: &SimProcess, out: &Path, concurrency: usize) -> Run {
    let c = concurrency.to_string();
    measure(
        &[
            "export",
            "-q",
            "--json",
            "-w",
            "Financial Planning",
            "-m",
            "FP&A",
            "-e",
            EXPORT,
            "-o",
            out.to_str().unwrap(),
            "--poll-interval",
            "100ms",
            "--concurrency",
            &c,
        ],
        &[
            ("ANAPLAN_API_URL", &sim.url),
            ("ANAPLAN_AUTH_URL", &sim.url),
            ("ANAPLAN_USERNAME", DEFAULT_USERNAME),
            ("ANAPLAN_PASSWORD", DEFAULT_PASSWORD),
        ],
    )
}

#[allow(clippy::print_stdout)]
fn out_of_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.parquet");
    let big = env_f64("E2E_BYTES", 1e9);
    let rows = rows_for(big);

    println!("\nend to end, out of process ({BIN})");
    println!(
        "{:<58} {:>8} {:>9} {:>10} {:>12}",
        "run", "seconds", "MB/s", "rows", "peak RSS"
    );
    let print = |name: &str, r: &Run| {
        println!(
            "{name:<58} {:>8.2} {:>9.1} {:>10} {:>9.0} MiB",
            r.wall,
            r.mb_s(),
            r.rows,
            r.peak_rss_mib
        );
    };

    let sim = SimProcess::start(rows, "10MiB", None);
    for concurrency in [8, 1] {
        let r = export(&sim, &out, concurrency);
        print(
            &format!(
                "export {:.2} GB, 10 MB chunks, concurrency {concurrency}",
                r.bytes_in as f64 / 1e9
            ),
            &r,
        );
    }
    drop(sim);

    // The same CSV through `convert`, for comparison.
    let csv = dir.path().join("same.csv");
    let status = Command::new(BIN)
        .args([
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            "0",
            "-o",
            csv.to_str().unwrap(),
        ])
        .status()
        .expect("generate");
    assert!(status.success());
    let r = measure(
        &[
            "convert",
            "-q",
            "--json",
            csv.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &[],
    );
    print("convert of a CSV file of the same size", &r);
    let _ = std::fs::remove_file(&csv);

    // Bandwidth cap and latency per connection: concurrency 8 against 1.
    let cap = std::env::var("E2E_CAP").unwrap_or_else(|_| "4MiB".into());
    let latency = std::env::var("E2E_LATENCY").unwrap_or_else(|_| "50ms".into());
    let capped = env_f64("E2E_CAP_BYTES", 2e8);
    let faults = format!("bandwidth={cap},latency={latency}");
    let sim = SimProcess::start(rows_for(capped), "4MiB", Some(&faults));
    let one = export(&sim, &out, 1);
    print(
        &format!("capped ({faults}), 4 MB chunks, concurrency 1"),
        &one,
    );
    let eight = export(&sim, &out, 8);
    print(
        &format!("capped ({faults}), 4 MB chunks, concurrency 8"),
        &eight,
    );
    println!(
        "speed-up of concurrency 8 over 1 with the cap: {:.2}x",
        one.wall / eight.wall
    );
}

fn main() {
    if std::env::var_os("E2E_SKIP_CRITERION").is_none() {
        let mut c = Criterion::default().configure_from_args();
        in_process(&mut c);
        c.final_summary();
    }
    if std::env::var_os("E2E_SKIP_PROCESS").is_none() {
        out_of_process();
    }
}
