//! Memory and time bounds of the real binary (a measurement, printed as a table, not a
//! criterion benchmark): peak RSS (VmHWM, sampled every 20 ms) and wall time of
//!
//! 1. `export` of a 1 GB and a 4 GB simulator export to a local file (`MEM_SMALL`,
//!    `MEM_LARGE` bytes; default 1e9 and 4e9): peak memory must not grow with the export;
//! 2. `export` of the 1 GB export to the S3 test server, fast and then slow (every part upload
//!    held back `MEM_PART_DELAY`, default 4 s, two parts at a time): memory stays bounded and
//!    the download is paced by the upload (backpressure), shown by how much of the input was
//!    downloaded when the upload was half done and when the download ended;
//! 3. `convert` of a CSV with a high-cardinality text column (unique random strings of 1 to
//!    3 KB, `MEM_TEXT_BYTES`, default 1e9) with `--row-group-bytes` 16 MiB, 64 MiB (the
//!    default) and 1 GiB: row groups are bounded by bytes, and so is memory.
//!
//! The simulator and the S3 server run in this process; the binary under test is a child, so
//! its RSS is its own. `cargo bench --bench memory`; `MEM_SKIP_EXPORT=1`, `MEM_SKIP_S3=1`,
//! `MEM_SKIP_TEXT=1` skip a part.

#![allow(clippy::print_stdout)]

#[path = "../tests/it/support/s3.rs"]
mod s3;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anaplan_parquet::Secret;
use anaplan_parquet::simulator::{
    DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator, SimulatorConfig, SimulatorHandle,
};
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;

const BIN: &str = env!("CARGO_BIN_EXE_anaplan-parquet");
/// Bytes per generated row, roughly (to size exports from a byte budget).
const BYTES_PER_ROW: f64 = 54.0;
const EXPORT: &str = "Revenue - TSC.csv";
const MIB: f64 = 1024.0 * 1024.0;

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one run measured.
struct Measured {
    wall: f64,
    peak_rss_mib: f64,
    summary: serde_json::Value,
    /// (seconds since start, value of the probe) every 100 ms.
    samples: Vec<(f64, u64)>,
}

/// Runs the binary to its end, sampling its VmHWM every 20 ms and `probe` every 100 ms.
fn measure(cmd: &mut Command, probe: &dyn Fn() -> u64) -> Measured {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let mut samples = Vec::new();
    let mut next_sample = 0.0;
    loop {
        if let Some(kib) = vm_hwm(Path::new(&status)) {
            peak_kib = peak_kib.max(kib);
        }
        let t = started.elapsed().as_secs_f64();
        if t >= next_sample {
            samples.push((t, probe()));
            next_sample += 0.1;
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
        "{cmd:?} failed: {:?}",
        output.status
    );
    Measured {
        wall,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        summary: serde_json::from_slice(&output.stdout).expect("a JSON summary on stdout"),
        samples,
    }
}

fn vm_hwm(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn simulator(bytes: f64) -> SimulatorHandle {
    let mut config = SimulatorConfig::default_tenant(
        DEFAULT_USERNAME,
        Secret::new(DEFAULT_PASSWORD),
        (bytes / BYTES_PER_ROW) as u64,
        10 << 20,
        7,
    );
    config.gzip = false;
    config.task_duration = Duration::from_millis(10);
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator")
}

fn export_command(sim: &SimulatorHandle, output: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "export",
        "-q",
        "--json",
        "-w",
        "Financial Planning",
        "-m",
        "FP&A",
    ])
    .args(["-e", EXPORT, "-o", output, "--poll-interval", "100ms"])
    .env("ANAPLAN_API_URL", sim.base_url())
    .env("ANAPLAN_AUTH_URL", sim.base_url())
    .env("ANAPLAN_USERNAME", DEFAULT_USERNAME)
    .env("ANAPLAN_PASSWORD", DEFAULT_PASSWORD);
    cmd
}

/// Adds a line to the table, and prints it at once.
fn row(table: &mut String, name: &str, m: &Measured, extra: &str) {
    let bytes_in = m.summary["bytes_in"].as_u64().unwrap_or(0) as f64;
    let line = format!(
        "{name:<52} {:>8.2} {:>8.1} {:>10.0} {:>9.0} MiB  {extra}",
        bytes_in / 1e9,
        m.wall,
        bytes_in / 1e6 / m.wall,
        m.peak_rss_mib
    );
    println!("{line}");
    table.push_str(&line);
    table.push('\n');
}

fn header() -> String {
    format!(
        "{:<52} {:>8} {:>8} {:>10} {:>13}\n",
        "run", "GB in", "seconds", "MB/s", "peak RSS"
    )
}

/// 1. The same export at two sizes.
fn export_sizes(runtime: &tokio::runtime::Runtime, table: &mut String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.parquet");
    for bytes in [env_f64("MEM_SMALL", 1e9), env_f64("MEM_LARGE", 4e9)] {
        let sim = runtime.block_on(simulator(bytes));
        let m = measure(&mut export_command(&sim, out.to_str().unwrap()), &|| 0);
        row(table, "export to a local file", &m, "");
        runtime.block_on(sim.shutdown());
    }
}

/// 2. Fast and slow object storage: memory, and how far the download runs ahead.
fn slow_destination(runtime: &tokio::runtime::Runtime, table: &mut String) {
    let bytes = env_f64("MEM_SMALL", 1e9);
    let delay = Duration::from_secs_f64(env_f64("MEM_PART_DELAY", 4.0));
    let sim = runtime.block_on(simulator(bytes));
    let store = runtime.block_on(s3::S3Server::start());
    store.create_bucket("lake");
    for slow in [false, true] {
        store.delay_part_uploads(if slow { delay } else { Duration::ZERO });
        let key = if slow { "slow.parquet" } else { "fast.parquet" };
        let mut cmd = export_command(&sim, &format!("s3://lake/{key}"));
        cmd.args([
            "--s3-endpoint",
            &store.endpoint,
            "--allow-http",
            "--s3-path-style",
        ])
        .args(["--s3-region", "us-east-1", "--upload-part-size", "8MiB"])
        .args(["--upload-concurrency", "2"])
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY);
        let sent_before = sim.counters().download_bytes;
        let m = measure(&mut cmd, &|| sim.counters().download_bytes - sent_before);
        let total = m.samples.last().map_or(1, |s| s.1).max(1) as f64;
        // When the download reached its end, and how much was downloaded at half time.
        let done_at = m
            .samples
            .iter()
            .find(|(_, b)| *b as f64 >= total)
            .map_or(m.wall, |s| s.0);
        let at_half = m
            .samples
            .iter()
            .find(|(t, _)| *t >= m.wall / 2.0)
            .map_or(total, |s| s.1 as f64);
        let name = if slow {
            format!(
                "export to S3, parts held {}s, 2 at a time",
                delay.as_secs_f64()
            )
        } else {
            "export to S3, fast".to_owned()
        };
        row(
            table,
            &name,
            &m,
            &format!(
                "download done at {:.0}% of the run, {:.0}% downloaded at half time",
                done_at / m.wall * 100.0,
                at_half / total * 100.0
            ),
        );
    }
    assert!(store.pending_uploads().is_empty());
    drop(store);
    runtime.block_on(sim.shutdown());
}

/// 3. A high-cardinality text column through `convert`, under three row-group byte bounds.
fn wide_text(table: &mut String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("text.csv");
    let target = env_f64("MEM_TEXT_BYTES", 1e9) as u64;
    let mut rng = fastrand::Rng::with_seed(3);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).expect("csv"));
    file.write_all(b"Key,Text\n").unwrap();
    let mut written = 0u64;
    let mut rows = 0u64;
    let mut line = String::new();
    while written < target {
        line.clear();
        let _ = write!(line, "K{rows},");
        let len = rng.usize(1000..3000);
        line.extend((0..len).map(|_| rng.alphanumeric()));
        line.push('\n');
        file.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    file.flush().unwrap();
    drop(file);
    let out = dir.path().join("text.parquet");
    for bound in ["16MiB", "64MiB", "1GiB"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["convert", "-q", "--json", csv.to_str().unwrap()])
            .args(["-o", out.to_str().unwrap(), "--row-group-bytes", bound]);
        let m = measure(&mut cmd, &|| 0);
        let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
        let groups = reader.metadata().row_groups();
        let largest = groups
            .iter()
            .map(parquet::file::metadata::RowGroupMetaData::compressed_size)
            .max()
            .unwrap_or(0) as f64;
        row(
            table,
            &format!("convert {rows} unique 1-3 KB texts, --row-group-bytes {bound}"),
            &m,
            &format!(
                "{} row groups, largest {:.0} MiB compressed",
                groups.len(),
                largest / MIB
            ),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to configure.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut table = header();
    print!("{table}");
    if std::env::var_os("MEM_SKIP_EXPORT").is_none() {
        export_sizes(&runtime, &mut table);
    }
    if std::env::var_os("MEM_SKIP_S3").is_none() {
        slow_destination(&runtime, &mut table);
    }
    if std::env::var_os("MEM_SKIP_TEXT").is_none() {
        wide_text(&mut table);
    }
    println!("\nmemory and time bounds ({BIN})\n{table}");
}
