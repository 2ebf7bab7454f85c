//! Multipart uploads failing at each step, through the real binary against the S3 server with
//! faults injected per operation: whatever step fails, the run exits 7 (transient), the object
//! that was there is untouched, and no multipart upload is left pending (or, when the abort
//! itself fails, the run says so and names the way out).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::faults::{Run, run, with_s3};
use crate::storage::incompressible_csv;
use crate::support::s3::{Op, S3Server, SECRET_KEY};
use crate::support::tempdir;

/// What the destination held before the failing runs.
const OLD: &[u8] = b"the previous object";

/// Rows of the input: more than one 5 MiB part of Parquet.
const ROWS: usize = 300_000;

/// A child that runs longer than this has hung.
const LIMIT: Duration = Duration::from_mins(3);

/// The input, written once for every test of this file.
fn input() -> PathBuf {
    static INPUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = INPUT.get_or_init(|| {
        let dir = tempdir();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, incompressible_csv(ROWS, 11)).unwrap();
        (dir, path)
    });
    path.clone()
}

/// A server with a bucket `lake` holding `x.parquet` (not Parquet: any bytes do).
async fn server() -> S3Server {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    s3.put_on_disk("lake", "x.parquet", OLD);
    s3
}

/// `convert` of the big input to `s3://lake/x.parquet`, one retry per request.
async fn convert(s3: &S3Server) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    cmd.env_remove("RUST_LOG")
        .arg("convert")
        .arg(input())
        .args(["-o", "s3://lake/x.parquet", "--upload-retries", "1"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    with_s3(&mut cmd, s3);
    run(&mut cmd, LIMIT).await
}

/// The failed run: exit 7, one error naming the upload, the old object untouched, no secret.
fn assert_failed_cleanly(r: &Run, s3: &S3Server, fragment: &str) {
    assert_eq!(r.code, Some(7), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let error = r.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(error.starts_with("error: "), "{}", r.stderr);
    assert!(error.contains("s3://lake/x.parquet"), "{}", r.stderr);
    assert!(error.contains(fragment), "{}", r.stderr);
    assert!(!r.stderr.contains(SECRET_KEY), "{}", r.stderr);
    assert_eq!(s3.keys("lake"), ["x.parquet"]);
    assert_eq!(s3.object_on_disk("lake", "x.parquet").as_deref(), Some(OLD));
    assert!(
        s3.seen(Op::CreateUpload) >= 1,
        "a multipart upload was started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_completion_aborts_the_upload() {
    let s3 = server().await;
    s3.fail(Op::CompleteUpload, usize::MAX);
    let r = convert(&s3).await;
    assert_failed_cleanly(&r, &s3, "SlowDown");
    assert_eq!(s3.seen(Op::CompleteUpload), 2, "tried and retried once");
    assert_eq!(s3.seen(Op::AbortUpload), 1, "{}", r.stderr);
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_upload_aborts_the_upload() {
    let s3 = server().await;
    s3.fail(Op::PartUpload, usize::MAX);
    let r = convert(&s3).await;
    assert_failed_cleanly(&r, &s3, "SlowDown");
    assert_eq!(s3.seen(Op::CompleteUpload), 0);
    assert_eq!(s3.seen(Op::AbortUpload), 1, "{}", r.stderr);
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_abort_is_reported_with_the_way_out() {
    let s3 = server().await;
    s3.fail(Op::CompleteUpload, usize::MAX);
    s3.fail(Op::AbortUpload, usize::MAX);
    let r = convert(&s3).await;
    // The failure reported is the completion's; the abort's is a warning naming what to do.
    assert_failed_cleanly(&r, &s3, "SlowDown");
    assert_eq!(s3.seen(Op::AbortUpload), 2, "tried and retried once");
    assert!(
        r.stderr.contains("aborting the multipart upload failed")
            && r.stderr
                .contains("a lifecycle rule on the bucket will remove its parts"),
        "{}",
        r.stderr
    );
    assert!(!s3.pending_uploads().is_empty(), "the abort really failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_succeeds_when_nothing_fails() {
    // The same run without faults: what the tests above break really is a multipart upload.
    let s3 = server().await;
    let r = convert(&s3).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(s3.seen(Op::CreateUpload), 1);
    assert!(s3.seen(Op::PartUpload) >= 2, "{}", s3.seen(Op::PartUpload));
    assert_eq!(s3.seen(Op::CompleteUpload), 1);
    assert_eq!(s3.seen(Op::AbortUpload), 0);
    let t = crate::support::Table::from_bytes(s3.get("lake", "x.parquet").await);
    assert_eq!(t.num_rows(), ROWS);
    assert!(s3.pending_uploads().is_empty());
}
