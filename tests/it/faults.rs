//! The fault matrix, through the real binary against the in-process simulator and S3 server.
//!
//! - **Transient faults** (429 with `Retry-After` as seconds and as an HTTP date, 500/503,
//!   a connection reset mid-chunk, a short body, a trickle past the read timeout, tokens
//!   expiring mid-download, S3 part uploads failing), each at a low and a high rate: the run
//!   succeeds, the Parquet holds exactly the rows of a fault-free run of the same export in the
//!   same order, every retry is logged at info with its reason and counted by reason in the
//!   `--json` summary, and no request is tried more often than the retry budget allows.
//! - **Permanent faults** (bad credentials, no access, unknown export, a failed task, a chunk
//!   that fails past the retry budget, a missing bucket): the run fails with one clear `error:`
//!   line and the documented exit code, within a bound set by small retry budgets, and nothing
//!   is left at the destination: no file, no temporary file, no spool file, no object, no
//!   pending multipart upload.
//!
//! The helpers here (running the binary with a deadline, comparing Parquet files) are shared
//! by `cancel` and `secrets`. Each case prints one line (time, faults, retries) for `--nocapture`.

#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anaplan_parquet::simulator::{FaultKind, FaultSpec, ModelAccess, SimulatorHandle};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE};
use crate::support::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use crate::support::sim::{self, PASSWORD, USER};
use crate::support::{Table, dir_entries};

// ---- shared helpers ------------------------------------------------------------------------

/// What a finished run of the binary left.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr as text.
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Run {
    /// The `--json` summary printed on stdout.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The summary's retry counts, by reason.
    pub fn retries(&self) -> Vec<(String, u64)> {
        let summary = self.summary();
        summary["retries"]
            .as_array()
            .expect("retries is an array")
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().expect("reason").to_owned(),
                    pair[1].as_u64().expect("count"),
                )
            })
            .collect()
    }

    /// The `error:` lines of stderr.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }
}

/// The binary with a cleared environment: the simulator's URLs, the demo user with `password`,
/// `TMPDIR` (where spool files go) set to `tmp`, no colours, killed if the test drops it.
pub fn command(sim_url: &str, password: &str, tmp: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    cmd.env_clear()
        .env("ANAPLAN_API_URL", sim_url)
        .env("ANAPLAN_AUTH_URL", sim_url)
        .env("ANAPLAN_USERNAME", USER)
        .env("ANAPLAN_PASSWORD", password)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `export` arguments for an export of the default tenant's main model, polling fast, with the
/// JSON summary on stdout.
pub fn export_args(export: &str, output: &str) -> Vec<String> {
    [
        "export",
        "-w",
        WORKSPACE,
        "-m",
        MODEL,
        "-e",
        export,
        "-o",
        output,
        "--poll-interval",
        "50ms",
        "--json",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// S3 flags and credentials for `s3`.
pub fn with_s3(cmd: &mut tokio::process::Command, s3: &S3Server) {
    cmd.args(["--s3-endpoint", &s3.endpoint])
        .args([
            "--allow-http",
            "--s3-path-style",
            "--s3-region",
            "us-east-1",
        ])
        .args(["--upload-part-size", "5MiB"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

/// Waits for a spawned child, killing it and failing the test after `limit`.
pub async fn wait(child: tokio::process::Child, started: Instant, limit: Duration) -> Run {
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(out) => {
            let out = out.expect("the binary runs");
            Run {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                elapsed: started.elapsed(),
            }
        }
        // Dropping the child kills it.
        Err(elapsed) => panic!("the run did not end within {limit:?} ({elapsed})"),
    }
}

/// Runs a command to its end (at most `limit`).
pub async fn run(cmd: &mut tokio::process::Command, limit: Duration) -> Run {
    let started = Instant::now();
    let child = cmd.spawn().expect("the binary starts");
    wait(child, started, limit).await
}

/// The data of a Parquet file: column names and types, and every row in order (one batch).
pub fn data_of(table: &Table) -> (SchemaRef, RecordBatch) {
    let fields: Vec<_> = table.schema.fields().iter().cloned().collect();
    // Key-value metadata (task id, export time) differs between runs; the data must not.
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let batches: Vec<RecordBatch> = table
        .batches
        .iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()).expect("batch"))
        .collect();
    let all = arrow::compute::concat_batches(&schema, &batches).expect("concat");
    (schema, all)
}

/// Asserts two Parquet files hold the same columns and the same rows in the same order.
pub fn assert_same_data(got: &Table, want: &Table, case: &str) {
    let (gs, g) = data_of(got);
    let (ws, w) = data_of(want);
    assert_eq!(gs, ws, "{case}: schemas differ");
    assert_eq!(g.num_rows(), w.num_rows(), "{case}: row counts differ");
    assert!(g == w, "{case}: the data differs from the fault-free run");
}

/// Every file under `dir`, recursively (relative paths).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// GETs of chunk downloads answered so far with `status`.
pub fn chunk_gets(sim: &SimulatorHandle, status: Option<u16>) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/chunks/"))
        .filter(|r| status.is_none_or(|s| r.status == s))
        .map(|r| r.path)
        .collect()
}

/// Expires every token whenever `every` more chunks have been downloaded (counting from
/// the chunk downloads the simulator has served so far; once, when `repeat` is false), until
/// aborted. A repeated expiry also waits for the client to have signed in again since the last
/// one: on a loaded machine `every` chunks can finish while one request is still signing in
/// again, and expiring its fresh token before it is used tests the machine's load, not the
/// client (tokens live 35 minutes in Anaplan).
pub fn expire_tokens_during_download(
    sim: &Arc<SimulatorHandle>,
    every: usize,
    repeat: bool,
) -> tokio::task::JoinHandle<usize> {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut next = chunk_gets(&sim, Some(200)).len() + every;
        let mut expired = 0;
        let mut signed_in_at_expiry = None;
        loop {
            let done = chunk_gets(&sim, Some(200)).len();
            let sign_ins = sim.counters().authentications;
            let renewed = signed_in_at_expiry.is_none_or(|at| sign_ins > at);
            if done >= next && renewed {
                sim.expire_tokens();
                expired += 1;
                if !repeat {
                    return expired;
                }
                signed_in_at_expiry = Some(sim.counters().authentications);
                next = done + every;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// The most times any one chunk was requested.
fn most_attempts_of_a_chunk(sim: &SimulatorHandle) -> usize {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for path in chunk_gets(sim, None) {
        *counts.entry(path).or_default() += 1;
    }
    counts.into_values().max().unwrap_or(0)
}

/// The delays (seconds) of the retries logged at info whose line contains `needle`.
fn logged_retry_delays(stderr: &str, needle: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains(needle) && l.contains("; retry "))
        .map(|l| {
            let tail = l.rsplit(" in ").next().expect("delay");
            tail.trim_end_matches('s')
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("no delay in {l:?}"))
        })
        .collect()
}

// ---- transient faults --------------------------------------------------------------------------

/// Rows of the export used by the transient matrix: about 270 KB in 33 chunks of 8 KiB.
const ROWS: u64 = 5_000;
const CHUNK: u64 = 8 << 10;
const SEED: u64 = 61;
/// A low and a high fault rate.
const RATES: [(&str, f64); 2] = [("low", 0.05), ("high", 0.3)];

/// One transient fault of the matrix.
struct Transient {
    name: &'static str,
    /// `--faults` with `{P}` for the rate.
    faults: &'static str,
    /// Extra arguments.
    args: &'static [&'static str],
    /// The simulator must have injected one of these.
    kinds: &'static [FaultKind],
    /// The summary must count retries under one of these reasons, and the log must show a
    /// retry line holding the matching text.
    reasons: &'static [(&'static str, &'static str)],
    /// The smallest delay any such retry may have (a `Retry-After` honoured).
    min_delay: f64,
    /// Downloads gzip-encoded (chunked) rather than plain with a `Content-Length`.
    gzip: bool,
}

const TRANSIENT: &[Transient] = &[
    Transient {
        name: "429, Retry-After in seconds",
        faults: "rate-limit={P},retry-after=1s,retry-after-form=seconds",
        args: &[],
        kinds: &[FaultKind::RateLimitSeconds],
        reasons: &[("rate limited (429)", "HTTP 429")],
        min_delay: 1.0,
        gzip: true,
    },
    Transient {
        name: "429, Retry-After as an HTTP date",
        faults: "rate-limit={P},retry-after=1s,retry-after-form=date",
        args: &[],
        kinds: &[FaultKind::RateLimitDate],
        reasons: &[("rate limited (429)", "HTTP 429")],
        // The date is whole seconds, at least a second ahead when sent.
        min_delay: 0.9,
        gzip: true,
    },
    Transient {
        name: "500 and 503",
        faults: "server-error={P}",
        args: &[],
        kinds: &[FaultKind::ServerError500, FaultKind::ServerError503],
        reasons: &[("HTTP 500", "HTTP 500"), ("HTTP 503", "HTTP 503")],
        min_delay: 0.0,
        gzip: true,
    },
    Transient {
        name: "connection reset mid-chunk",
        faults: "reset={P}",
        args: &[],
        kinds: &[FaultKind::Reset],
        reasons: &[("connection broken", "chunk")],
        min_delay: 0.0,
        gzip: true,
    },
    Transient {
        name: "short body, gzip (chunked)",
        faults: "truncate={P}",
        args: &[],
        kinds: &[FaultKind::Truncate],
        reasons: &[("connection broken", "chunk"), ("short body", "chunk")],
        min_delay: 0.0,
        gzip: true,
    },
    Transient {
        name: "short body, plain with Content-Length",
        faults: "truncate={P}",
        args: &[],
        kinds: &[FaultKind::Truncate],
        reasons: &[("connection broken", "chunk"), ("short body", "chunk")],
        min_delay: 0.0,
        gzip: false,
    },
    Transient {
        name: "trickle past the read timeout",
        // 2 bytes a second: one byte every half second, past a 300 ms read timeout.
        faults: "slow={P},trickle=2",
        args: &["--read-timeout", "300ms"],
        kinds: &[FaultKind::Slow],
        reasons: &[("timeout", "chunk")],
        min_delay: 0.0,
        gzip: true,
    },
];

/// Runs one case of the matrix on a simulator of its own (same seed, so the same data as the
/// reference); `Ok` holds a line for the test's output.
async fn transient_case(
    case: &Transient,
    rate_name: &str,
    rate: f64,
    reference: &Table,
) -> Result<String, String> {
    let label = format!("{} ({rate_name} rate {rate})", case.name);
    let fail = |e: String| format!("{label}: {e}");
    let sim = sim::start(sim::tenant(ROWS, CHUNK, SEED)).await;
    sim.set_gzip(case.gzip);
    let spec: FaultSpec = case
        .faults
        .replace("{P}", &rate.to_string())
        .parse()
        .unwrap();
    // On the export's own requests (task, polls, chunk list, chunks), not on discovery.
    sim.set_export_faults(MAIN_EXPORT, spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let r = run(
        command(&sim.base_url(), PASSWORD, tmp.path())
            .args(export_args(MAIN_EXPORT, out.to_str().unwrap()))
            .args(case.args),
        Duration::from_mins(3),
    )
    .await;
    if r.code != Some(0) {
        return Err(fail(format!("exit {:?}: {}", r.code, r.stderr)));
    }
    let faults = sim.counters().faults;
    let injected: u64 = case.kinds.iter().map(|k| faults.get(k).unwrap_or(&0)).sum();
    if injected == 0 {
        return Err(fail("no fault was injected: pick another seed".into()));
    }
    assert_same_data(&Table::read(&out), reference, &label);
    let retries = r.retries();
    let counted: u64 = retries
        .iter()
        .filter(|(reason, _)| case.reasons.iter().any(|(r, _)| r == reason))
        .map(|(_, n)| n)
        .sum();
    if counted == 0 {
        return Err(fail(format!(
            "the summary counts no such retry: {retries:?}"
        )));
    }
    let delays: Vec<f64> = case
        .reasons
        .iter()
        .flat_map(|(_, text)| logged_retry_delays(&r.stderr, text))
        .collect();
    if delays.is_empty() {
        return Err(fail(format!("no retry logged at info:\n{}", r.stderr)));
    }
    if let Some(d) = delays.iter().find(|d| **d < case.min_delay) {
        return Err(fail(format!("a retry waited {d}s, less than Retry-After")));
    }
    // Bounded: no chunk was tried more than 1 + max_retries (10) times.
    let most = most_attempts_of_a_chunk(&sim);
    if most > 11 {
        return Err(fail(format!("a chunk was requested {most} times")));
    }
    if !files_under(tmp.path()).is_empty() || dir_entries(dir.path()) != ["out.parquet"] {
        return Err(fail("files left behind".into()));
    }
    Ok(format!(
        "{label}: ok in {:.1}s, {injected} faults, retries {retries:?}",
        r.elapsed.as_secs_f64()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_at_low_and_high_rates_leave_the_output_identical() {
    let sim = sim::start(sim::tenant(ROWS, CHUNK, SEED)).await;
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.parquet");
    let r = run(
        command(&sim.base_url(), PASSWORD, tmp.path())
            .args(export_args(MAIN_EXPORT, reference.to_str().unwrap())),
        Duration::from_mins(1),
    )
    .await;
    assert_eq!(r.code, Some(0), "fault-free run: {}", r.stderr);
    assert!(
        r.retries().is_empty(),
        "fault-free run retried: {:?}",
        r.retries()
    );
    let reference = Table::read(&reference);
    assert_eq!(reference.num_rows() as u64, ROWS);

    // The cases mostly wait (Retry-After, backoff, timeouts): run them side by side.
    use futures::StreamExt;
    let cases = TRANSIENT
        .iter()
        .flat_map(|case| RATES.iter().map(move |(name, rate)| (case, *name, *rate)));
    // Six at a time: the suite shares two cores with other tests.
    let results: Vec<_> = futures::stream::iter(
        cases.map(|(case, name, rate)| transient_case(case, name, rate, &reference)),
    )
    .buffer_unordered(6)
    .collect()
    .await;
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(line) => eprintln!("{line}"),
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_mid_download_leave_the_output_identical() {
    let mut config = sim::tenant(ROWS, CHUNK, SEED);
    // Slow enough that the download spans several expiries.
    config.faults = "latency=50ms".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = sim.base_url();
    let limit = Duration::from_mins(2);

    let reference = dir.path().join("reference.parquet");
    let r = run(
        command(&url, PASSWORD, tmp.path())
            .args(export_args(MAIN_EXPORT, reference.to_str().unwrap())),
        limit,
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let reference = Table::read(&reference);

    // Low: the tokens expire once, after 5 chunks; high: after every 3 chunks.
    for (rate, every, repeat) in [("low", 5, false), ("high", 3, true)] {
        let before = sim.counters();
        let watcher = expire_tokens_during_download(&sim, every, repeat);
        let out = dir.path().join(format!("expiry-{rate}.parquet"));
        let r = run(
            command(&url, PASSWORD, tmp.path())
                .args(export_args(MAIN_EXPORT, out.to_str().unwrap())),
            limit,
        )
        .await;
        watcher.abort();
        assert_eq!(r.code, Some(0), "{rate}: {}", r.stderr);
        assert_same_data(
            &Table::read(&out),
            &reference,
            &format!("token expiry ({rate})"),
        );
        let after = sim.counters();
        let refused = after.unauthorized - before.unauthorized;
        let sign_ins = after.authentications - before.authentications;
        assert!(
            refused >= 1,
            "{rate}: no request met an expired token: {after:?}"
        );
        assert!(
            sign_ins >= 2,
            "{rate}: the client did not sign in again: {after:?}"
        );
        if repeat {
            assert!(
                sign_ins >= 3,
                "{rate}: expected several expiries: {after:?}"
            );
        }
        assert!(
            r.stderr
                .contains("the token was rejected (401); signing in again"),
            "{rate}: {}",
            r.stderr
        );
        eprintln!(
            "token expiry ({rate}): ok in {:.1}s, {refused} refused requests, {sign_ins} sign-ins",
            r.elapsed.as_secs_f64()
        );
    }
}

/// Rows that make a Parquet file of about 6 MiB uncompressed: two multipart-upload parts.
pub const S3_ROWS: u64 = 450_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_part_uploads_failing_leave_the_object_identical() {
    let mut config = sim::tenant(S3_ROWS, 1 << 20, 62);
    config.gzip = false;
    let sim = sim::start(config).await;
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let tmp = tempfile::tempdir().unwrap();
    let url = sim.base_url();
    let limit = Duration::from_mins(4);

    let mut objects = Vec::new();
    // Fault-free, then one part upload failing once (low), then four failures (high).
    for (name, failures) in [("reference", 0), ("low", 1), ("high", 4)] {
        s3.fail_part_uploads(failures);
        let injected_before = s3.injected_faults();
        let key = format!("{name}.parquet");
        let mut cmd = command(&url, PASSWORD, tmp.path());
        cmd.args(export_args(MAIN_EXPORT, &format!("s3://lake/{key}")))
            .args(["--compression", "none"]);
        with_s3(&mut cmd, &s3);
        let r = run(&mut cmd, limit).await;
        assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
        assert_eq!(s3.injected_faults() - injected_before, failures, "{name}");
        assert!(
            s3.part_uploads_seen() >= 2,
            "{name}: not a multipart upload"
        );
        let retries = r.retries();
        let counted: u64 = retries
            .iter()
            .filter(|(reason, _)| reason == "storage: HTTP 503 Service Unavailable")
            .map(|(_, n)| *n)
            .sum();
        assert_eq!(counted, failures as u64, "{name}: {retries:?}");
        if failures > 0 {
            assert!(
                r.stderr
                    .contains("transient failure (HTTP 503 Service Unavailable); retrying"),
                "{name}: {}",
                r.stderr
            );
        }
        objects.push((name, Table::from_bytes(s3.get("lake", &key).await)));
        eprintln!(
            "S3 part failures ({name}): ok in {:.1}s",
            r.elapsed.as_secs_f64()
        );
    }
    assert!(s3.pending_uploads_settled().await.is_empty());
    let (_, reference) = &objects[0];
    assert_eq!(reference.num_rows() as u64, S3_ROWS);
    for (name, t) in &objects[1..] {
        assert_same_data(t, reference, name);
    }
}

// ---- permanent faults --------------------------------------------------------------------------

/// Where a permanent-fault case writes.
#[derive(Clone, Copy)]
enum Dest {
    Local,
    MissingBucket,
}

struct Permanent {
    name: &'static str,
    password: &'static str,
    /// Workspace, model, export.
    target: (&'static str, &'static str, &'static str),
    /// Faults on the main export.
    export_faults: &'static str,
    dest: Dest,
    code: i32,
    /// Text the one `error:` line holds.
    message: &'static str,
}

const PERMANENT: &[Permanent] = &[
    Permanent {
        name: "bad credentials",
        password: "not-the-password",
        target: (WORKSPACE, MODEL, MAIN_EXPORT),
        export_faults: "",
        dest: Dest::Local,
        code: 3,
        message: "authentication failed",
    },
    Permanent {
        name: "no access to the model (404)",
        password: PASSWORD,
        target: (WORKSPACE, MODEL, MAIN_EXPORT),
        // The user loses access to the model once the client has found the export.
        export_faults: "revoke",
        dest: Dest::Local,
        code: 4,
        message: "not found, or no access (HTTP 404",
    },
    Permanent {
        name: "unknown export",
        password: PASSWORD,
        target: (WORKSPACE, MODEL, "No Such Export.csv"),
        export_faults: "",
        dest: Dest::Local,
        code: 4,
        message: "no export named \"No Such Export.csv\"",
    },
    Permanent {
        name: "task ends successful: false",
        password: PASSWORD,
        target: (WORKSPACE, MODEL, MAIN_EXPORT),
        export_faults: "task-fail",
        dest: Dest::Local,
        code: 4,
        message: "failed in Anaplan",
    },
    Permanent {
        name: "a chunk failing past the retry budget",
        password: PASSWORD,
        target: (WORKSPACE, MODEL, MAIN_EXPORT),
        // Every download body is cut by a reset; JSON calls are untouched.
        export_faults: "reset=1",
        dest: Dest::Local,
        code: 7,
        message: "gave up after 2 retries",
    },
    Permanent {
        name: "a bucket that does not exist",
        password: PASSWORD,
        target: (WORKSPACE, MODEL, MAIN_EXPORT),
        export_faults: "",
        dest: Dest::MissingBucket,
        code: 6,
        message: "bucket does not exist",
    },
];

/// Takes the demo user's access to the main model away as soon as the client has listed the
/// model's exports; true once done.
fn revoke_access_after_discovery(sim: &Arc<SimulatorHandle>) -> tokio::task::JoinHandle<bool> {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        for _ in 0..4_000 {
            if sim.requests().iter().any(|r| r.path.ends_with("/exports")) {
                sim.revoke_model_access(USER, MODEL).unwrap();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_faults_fail_fast_with_the_documented_code_and_leave_nothing() {
    let mut config = sim::tenant(ROWS, CHUNK, SEED);
    // Time for the access to be revoked between discovery and the task.
    config.faults = "latency=20ms".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    let s3 = S3Server::start().await;
    let url = sim.base_url();
    // Retry budgets small enough to bound every case: 2 retries, 3 s per request.
    let budget = [
        "--max-retries",
        "2",
        "--retry-timeout",
        "3s",
        "--request-timeout",
        "5s",
        "--upload-retries",
        "2",
        "--upload-retry-timeout",
        "3s",
    ];
    // Generous for a loaded 2-core machine; the cases take about a second each.
    let bound = Duration::from_secs(30);
    let mut failures = Vec::new();
    for case in PERMANENT {
        let dir = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let revoker = if case.export_faults == "revoke" {
            Some(revoke_access_after_discovery(&sim))
        } else {
            sim.set_export_faults(MAIN_EXPORT, case.export_faults.parse().unwrap())
                .unwrap();
            None
        };
        let out = dir.path().join("out.parquet");
        let (workspace, model, export) = case.target;
        let mut cmd = command(&url, case.password, tmp.path());
        cmd.args(["export", "-w", workspace, "-m", model, "-e", export])
            .args(["--poll-interval", "50ms"])
            .args(budget);
        match case.dest {
            Dest::Local => {
                cmd.args(["-o", out.to_str().unwrap()]);
            }
            Dest::MissingBucket => {
                cmd.args(["-o", "s3://no-such-bucket/out.parquet"]);
                with_s3(&mut cmd, &s3);
            }
        }
        let r = run(&mut cmd, Duration::from_mins(2)).await;
        sim.set_export_faults(MAIN_EXPORT, FaultSpec::default())
            .unwrap();
        if let Some(revoker) = revoker {
            assert!(
                revoker.await.unwrap(),
                "{}: access was never revoked",
                case.name
            );
            sim.set_model_access(
                USER,
                ModelAccess::Only(vec![MODEL.into(), "Sales Forecast".into()]),
            )
            .unwrap();
        }
        let check = || -> Result<(), String> {
            if r.code != Some(case.code) {
                return Err(format!(
                    "exit {:?}, expected {}:\n{}",
                    r.code, case.code, r.stderr
                ));
            }
            if r.elapsed > bound {
                return Err(format!("took {:?}", r.elapsed));
            }
            if r.stderr.contains("panicked") {
                return Err(format!("panic:\n{}", r.stderr));
            }
            let errors = r.error_lines();
            if errors.len() != 1 || !errors[0].contains(case.message) {
                return Err(format!(
                    "expected one error line with {:?}:\n{}",
                    case.message, r.stderr
                ));
            }
            let left = dir_entries(dir.path());
            if !left.is_empty() {
                return Err(format!("left at the destination: {left:?}"));
            }
            let spooled = files_under(tmp.path());
            if !spooled.is_empty() {
                return Err(format!("left in TMPDIR: {spooled:?}"));
            }
            if !files_under(s3.data_dir()).is_empty() {
                return Err(format!(
                    "left in the object store: {:?}",
                    files_under(s3.data_dir())
                ));
            }
            if case.code == 7 {
                // Bounded by count: 1 + 2 attempts per chunk, each retry logged with its reason.
                // (No other permanent case gets as far as downloading.)
                let most = most_attempts_of_a_chunk(&sim);
                if most != 3 {
                    return Err(format!("a chunk was requested {most} times, expected 3"));
                }
                if !r.stderr.contains("; retry 2 of 2 in ") || r.stderr.contains("; retry 3 of") {
                    return Err(format!("retries not logged as bounded:\n{}", r.stderr));
                }
            }
            Ok(())
        };
        match check() {
            Ok(()) => eprintln!(
                "{}: exit {} in {:.1}s: {}",
                case.name,
                case.code,
                r.elapsed.as_secs_f64(),
                r.error_lines()[0]
            ),
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
