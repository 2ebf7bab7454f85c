//! Cancellation: SIGINT and SIGTERM sent to the real binary during the download and
//! conversion, while the export task still runs in Anaplan, during a multipart upload, and
//! while `convert` reads a slow stdin pipe. Each time the run stops within a few seconds with
//! 130 or 143, the task is cancelled in Anaplan, the multipart upload is aborted, no temporary
//! or spool file is left, and an existing destination is untouched.

#![allow(clippy::print_stderr)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::client::MAIN_EXPORT;
use crate::faults::{Run, command, export_args, files_under, wait, with_s3};
use crate::support::s3::S3Server;
use crate::support::sim::{self, PASSWORD};
use crate::support::{dir_entries, tempdir};

/// How long a run may take to stop after the signal (a loaded 2-core machine; it takes about
/// a second, two when a blocking stdin read has to be abandoned).
const STOP_BOUND: Duration = Duration::from_secs(15);

/// The signals, with the exit code and the name each must give.
const SIGNALS: [(&str, i32, &str); 2] = [("INT", 130, "SIGINT"), ("TERM", 143, "SIGTERM")];

/// Sends a signal with `kill`.
fn send(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Polls `ready` every 10 ms until it holds; panics with `what` after `limit`.
async fn until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Spawns `cmd`, waits for `ready`, sends `signal`, and returns the run and the time from the
/// signal to the exit.
async fn interrupt(
    cmd: &mut tokio::process::Command,
    signal: &str,
    what: &str,
    ready: impl FnMut() -> bool,
) -> (Run, Duration) {
    let started = Instant::now();
    let child = cmd.spawn().expect("the binary starts");
    let pid = child.id().expect("pid");
    until(what, Duration::from_mins(2), ready).await;
    let sent = Instant::now();
    send(signal, pid);
    let run = wait(child, started, Duration::from_mins(1)).await;
    (run, sent.elapsed())
}

/// The checks every interrupted run must pass.
fn assert_stopped(run: &Run, stopped_in: Duration, code: i32, name: &str, case: &str) {
    assert_eq!(run.code, Some(code), "{case}: {}", run.stderr);
    assert!(
        stopped_in < STOP_BOUND,
        "{case}: took {stopped_in:?} to stop"
    );
    assert!(
        run.stderr.contains(&format!("received {name}: stopping")),
        "{case}: {}",
        run.stderr
    );
    assert_eq!(
        run.error_lines(),
        [format!("error: interrupted by {name}")],
        "{case}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{case}: {}", run.stderr);
    eprintln!("{case}: exit {code}, stopped {stopped_in:.2?} after the signal");
}

/// A destination directory holding an older file at `out.parquet`.
fn existing_destination(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let out = dir.join("out.parquet");
    let old = b"an older file that must survive".to_vec();
    std::fs::write(&out, &old).unwrap();
    (out, old)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_the_download_stops_and_leaves_the_old_file() {
    let mut config = sim::tenant(30_000, 16 << 10, 71);
    // About 1.6 MB at 8 × 48 KB/s: several seconds of download.
    config.gzip = false;
    config.faults = "bandwidth=48KiB".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    for (signal, code, name) in SIGNALS {
        let dir = tempdir();
        let tmp = tempdir();
        let (out, old) = existing_destination(dir.path());
        let mut cmd = command(&sim.base_url(), PASSWORD, tmp.path());
        cmd.args(export_args(MAIN_EXPORT, out.to_str().unwrap()))
            .args(["--infer-rows", "1000"]);
        let dir_path = dir.path().to_owned();
        // Encoding has begun (a temporary file beside the target) and chunks are downloading.
        let (run, stopped_in) = interrupt(&mut cmd, signal, "the temporary file", || {
            dir_entries(&dir_path)
                .iter()
                .any(|n| n.ends_with(".partial"))
        })
        .await;
        let case = format!("SIG{signal} during the download");
        assert_stopped(&run, stopped_in, code, name, &case);
        assert_eq!(dir_entries(dir.path()), ["out.parquet"], "{case}");
        assert_eq!(
            std::fs::read(&out).unwrap(),
            old,
            "{case}: the old file changed"
        );
        assert!(
            files_under(tmp.path()).is_empty(),
            "{case}: spool files left"
        );
        let downloaded = crate::faults::chunk_gets(&sim, Some(200)).len();
        let chunks = sim
            .file_content(MAIN_EXPORT)
            .map(|(c, size)| c.chunk_count(size))
            .unwrap();
        assert!(
            (downloaded as u64) < 2 * chunks,
            "{case}: the download ran to its end ({downloaded} of {chunks} chunks per run)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_the_task_runs_cancels_it_in_anaplan() {
    let sim = Arc::new(sim::start(sim::tenant(2_000, 16 << 10, 72)).await);
    sim.set_export_faults(MAIN_EXPORT, "task-stuck=60s".parse().unwrap())
        .unwrap();
    for (signal, code, name) in SIGNALS {
        let dir = tempdir();
        let tmp = tempdir();
        let (out, old) = existing_destination(dir.path());
        let mut cmd = command(&sim.base_url(), PASSWORD, tmp.path());
        cmd.args(export_args(MAIN_EXPORT, out.to_str().unwrap()));
        let known = sim.task_log().len();
        let s = Arc::clone(&sim);
        let (run, stopped_in) = interrupt(&mut cmd, signal, "the task to run", move || {
            s.task_log()[known..]
                .iter()
                .any(|e| e.state == "IN_PROGRESS")
        })
        .await;
        let case = format!("SIG{signal} while the task runs");
        assert_stopped(&run, stopped_in, code, name, &case);
        let task = sim.task_log()[known..]
            .iter()
            .find(|e| e.state == "IN_PROGRESS")
            .map(|e| e.task_id.clone())
            .unwrap();
        assert!(
            run.stderr.contains(&format!(
                "cancelling export task {task}: the run was interrupted"
            )),
            "{case}: {}",
            run.stderr
        );
        let s = Arc::clone(&sim);
        until("CANCELLED in the task log", Duration::from_secs(10), || {
            s.task_log()
                .iter()
                .any(|e| e.task_id == task && e.state == "CANCELLED")
        })
        .await;
        assert_eq!(std::fs::read(&out).unwrap(), old, "{case}");
        assert_eq!(dir_entries(dir.path()), ["out.parquet"], "{case}");
        assert!(files_under(tmp.path()).is_empty(), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_a_multipart_upload_aborts_it() {
    let mut config = sim::tenant(crate::faults::S3_ROWS, 1 << 20, 73);
    config.gzip = false;
    let sim = sim::start(config).await;
    let s3 = Arc::new(S3Server::start().await);
    s3.create_bucket("lake");
    let old = b"the object from yesterday".to_vec();
    s3.put_on_disk("lake", "out.parquet", &old);
    // A slow destination: every part is held back for a while.
    s3.delay_part_uploads(Duration::from_secs(20));
    for (signal, code, name) in SIGNALS {
        let tmp = tempdir();
        let mut cmd = command(&sim.base_url(), PASSWORD, tmp.path());
        cmd.args(export_args(MAIN_EXPORT, "s3://lake/out.parquet"))
            .args(["--compression", "none"]);
        with_s3(&mut cmd, &s3);
        let seen = s3.part_uploads_seen();
        let s = Arc::clone(&s3);
        let (run, stopped_in) = interrupt(&mut cmd, signal, "a part upload", move || {
            s.part_uploads_seen() > seen && !s.pending_uploads().is_empty()
        })
        .await;
        let case = format!("SIG{signal} during a multipart upload");
        assert_stopped(&run, stopped_in, code, name, &case);
        assert!(
            s3.pending_uploads_settled().await.is_empty(),
            "{case}: multipart upload left: {:?}",
            s3.pending_uploads()
        );
        assert_eq!(s3.keys("lake"), ["out.parquet"], "{case}");
        assert_eq!(
            s3.object_on_disk("lake", "out.parquet").unwrap(),
            old,
            "{case}: the old object changed"
        );
        assert!(files_under(tmp.path()).is_empty(), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_convert_reads_a_slow_pipe_leaves_no_spool_file() {
    for (signal, code, name) in SIGNALS {
        let dir = tempdir();
        let tmp = tempdir();
        let (out, old) = existing_destination(dir.path());
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
        cmd.env_clear()
            .env("TMPDIR", tmp.path())
            .args([
                "convert",
                "-",
                "-o",
                out.to_str().unwrap(),
                "--infer-rows",
                "100",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("the binary starts");
        let pid = child.id().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // A producer that writes a batch's worth (16,384 rows) and more, then stalls, keeping
        // the pipe open.
        let mut text = String::from("Versions,Line Items,Value\n");
        for i in 0..40_000 {
            text.push_str(&format!("Actual,Units,{i}\n"));
        }
        stdin.write_all(text.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        let (tmp_path, dir_path) = (tmp.path().to_owned(), dir.path().to_owned());
        // The input is spooled (stdin cannot be read twice) and the output has begun.
        until(
            "the spool and temporary files",
            Duration::from_mins(1),
            || {
                !files_under(&tmp_path).is_empty()
                    && dir_entries(&dir_path)
                        .iter()
                        .any(|n| n.ends_with(".partial"))
            },
        )
        .await;
        let sent = Instant::now();
        send(signal, pid);
        let run = wait(child, started, Duration::from_mins(1)).await;
        let stopped_in = sent.elapsed();
        drop(stdin);
        let case = format!("SIG{signal} while convert reads a slow pipe");
        assert_stopped(&run, stopped_in, code, name, &case);
        assert!(
            files_under(tmp.path()).is_empty(),
            "{case}: spool file left: {:?}",
            files_under(tmp.path())
        );
        assert_eq!(dir_entries(dir.path()), ["out.parquet"], "{case}");
        assert_eq!(std::fs::read(&out).unwrap(), old, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_anaplan_asks_to_wait_stops_at_once() {
    // Every API call is answered 429 with a long Retry-After: the client is waiting in a retry
    // during discovery, before any task exists.
    let mut config = sim::tenant(2_000, 16 << 10, 74);
    config.faults = "rate-limit=1,retry-after=60s".parse().unwrap();
    let sim = Arc::new(sim::start(config).await);
    let dir = tempdir();
    let tmp = tempdir();
    let out = dir.path().join("out.parquet");
    let mut cmd = command(&sim.base_url(), PASSWORD, tmp.path());
    cmd.args(export_args(MAIN_EXPORT, out.to_str().unwrap()));
    let s = Arc::clone(&sim);
    let (run, stopped_in) = interrupt(&mut cmd, "INT", "a 429", move || {
        s.requests().iter().any(|r| r.status == 429)
    })
    .await;
    assert_stopped(
        &run,
        stopped_in,
        130,
        "SIGINT",
        "SIGINT while waiting out a 429",
    );
    assert!(sim.task_log().is_empty(), "no task was started");
    assert!(dir_entries(dir.path()).is_empty());
}
