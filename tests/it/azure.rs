//! Azure Blob destinations (`az://`), written by the real binary to a real Azure-compatible
//! server: Azurite, started per test (tests/it/support/azurite.rs). The same cases as for S3:
//! single and multipart (block list) blobs read back value by value, replace keeping the old
//! blob until success, append datasets, failed and interrupted runs, bad credentials, a missing
//! container.
//!
//! Every test is `#[ignore]`d with the install instruction, so `cargo test` on a machine without
//! Node.js lists them as ignored rather than passing them; `.ci/run` installs Azurite and runs
//! them with `cargo test --test it -- --ignored azure::`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::azurite::{ACCOUNT_KEY, Azurite};
use crate::support::{Table, bin, sample, stderr, tempdir};

/// `convert INPUT -o az://DEST` against `azurite`, with `extra` arguments.
fn convert_cmd(azurite: &Azurite, input: &Path, dest: &str, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg("convert")
        .arg(input)
        .args(["-o", &format!("az://{dest}")])
        .args(extra);
    azurite.configure(&mut cmd);
    cmd
}

/// Runs `cmd` off the async runtime.
async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .expect("join")
}

/// Every column of two tables, as text, compared value by value.
fn assert_same_table(got: &Table, want: &Table) {
    assert_eq!(got.types(), want.types());
    assert_eq!(got.num_rows(), want.num_rows());
    for name in want.names() {
        assert!(got.strings(&name) == want.strings(&name), "column {name}");
    }
}

/// The same input converted to a local file, to compare with.
fn local_copy(input: &Path, extra: &[&str]) -> Table {
    let dir = tempdir();
    let out = dir.path().join("local.parquet");
    let o = bin()
        .arg("convert")
        .arg(input)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", stderr(&o));
    Table::read(&out)
}

/// A CSV of `rows` rows whose Parquet stays well over one 5 MiB block (high-entropy text),
/// optionally ending in a line with too many fields.
fn big_csv(dir: &Path, rows: u64, bad_last_line: bool) -> PathBuf {
    use std::io::Write;
    let path = dir.join("big.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(w, "Item,Code,Value").unwrap();
    for i in 0..rows {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7);
        writeln!(w, "Item {},{x:016x},{}", i % 97, i * 3).unwrap();
    }
    if bad_last_line {
        writeln!(w, "Item 1,abc,1,one too many").unwrap();
    }
    w.flush().unwrap();
    path
}

#[tokio::test]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn single_blob_round_trips_value_by_value() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let input = sample("tsc_sales.csv");
    let o = output(convert_cmd(&az, &input, "lake/sales/tsc.parquet", &[])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(az.blobs("lake").await, ["sales/tsc.parquet"]);
    let got = Table::from_bytes(az.get("lake", "sales/tsc.parquet").await);
    assert_same_table(&got, &local_copy(&input, &[]));
    // Put in one request: no block list.
    assert_eq!(az.committed_blocks("lake", "sales/tsc.parquet").await, 0);
    assert!(!stderr(&o).contains(ACCOUNT_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn multipart_blob_is_a_block_list_and_round_trips() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let dir = tempdir();
    let input = big_csv(dir.path(), 1_000_000, false);
    let extra = ["--upload-part-size", "5MiB", "--row-group-rows", "100000"];
    let o = output(convert_cmd(&az, &input, "lake/big.parquet", &extra)).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let blocks = az.committed_blocks("lake", "big.parquet").await;
    assert!(blocks >= 2, "expected a block list, got {blocks} blocks");
    let got = Table::from_bytes(az.get("lake", "big.parquet").await);
    assert_same_table(&got, &local_copy(&input, &extra[2..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn replace_keeps_the_old_blob_when_the_new_run_fails() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let o = output(convert_cmd(
        &az,
        &sample("tsc_sales.csv"),
        "lake/out.parquet",
        &[],
    ))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let before = az.get("lake", "out.parquet").await;

    // Bad input found after blocks of the new blob were already uploaded.
    let dir = tempdir();
    let input = big_csv(dir.path(), 1_000_000, true);
    let extra = ["--upload-part-size", "5MiB", "--row-group-rows", "100000"];
    let o = output(convert_cmd(&az, &input, "lake/out.parquet", &extra)).await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 1000002"), "{}", stderr(&o));
    assert_eq!(az.get("lake", "out.parquet").await, before);
    assert_eq!(az.blobs("lake").await, ["out.parquet"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn a_failed_run_leaves_no_blob_and_no_committed_blocks() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let dir = tempdir();
    let input = big_csv(dir.path(), 1_000_000, true);
    let extra = ["--upload-part-size", "5MiB", "--row-group-rows", "100000"];
    let o = output(convert_cmd(&az, &input, "lake/new.parquet", &extra)).await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(az.blobs("lake").await.is_empty());
    // Blocks were staged before the bad line was found (the failure came mid-upload), and
    // none were committed into a blob. Azure has no "abort": staged blocks stay uncommitted
    // until the service discards them (after a week).
    assert_eq!(az.blobs_with_uncommitted("lake").await, ["new.parquet"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn an_interrupted_run_leaves_no_blob() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let dir = tempdir();
    let input = big_csv(dir.path(), 1_000_000, false);
    let data = std::fs::read(&input).expect("read");
    let mut cmd = convert_cmd(
        &az,
        Path::new("-"),
        "lake/cut.parquet",
        &["--upload-part-size", "5MiB", "--row-group-rows", "50000"],
    );
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Feed most of the input and keep stdin open, so the run is mid-upload when signalled.
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data[..data.len() * 9 / 10]);
        std::thread::sleep(Duration::from_mins(1));
        drop(stdin);
    });
    let started = Instant::now();
    while az.blobs_with_uncommitted("lake").await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "no block was staged within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    assert!(az.blobs("lake").await.is_empty());
    drop(feeder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn append_runs_make_a_dataset_that_reads_as_one_table() {
    let az = Azurite::start();
    az.create_container("lake").await;
    let input = sample("tsc_sales.csv");
    let one = local_copy(&input, &[]);
    for _ in 0..2 {
        let o = output(convert_cmd(
            &az,
            &input,
            "lake/ds/",
            &["--mode", "append", "--partition-by-date"],
        ))
        .await;
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let parts = az.blobs("lake").await;
    assert_eq!(parts.len(), 2, "{parts:?}");
    for p in &parts {
        assert!(p.starts_with("ds/export_date="), "{p}");
        assert!(p.ends_with(".parquet"), "{p}");
        let t = Table::from_bytes(az.get("lake", p).await);
        assert_same_table(&t, &one);
    }
    // A third run with a different schema is refused before anything is written.
    let o = output(convert_cmd(
        &az,
        &sample("tsc_numeric.csv"),
        "lake/ds/",
        &["--mode", "append", "--partition-by-date"],
    ))
    .await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("schema mismatch"), "{}", stderr(&o));
    assert_eq!(az.blobs("lake").await, parts);
}

#[tokio::test]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn wrong_credentials_give_a_clear_error_without_the_key() {
    let az = Azurite::start();
    az.create_container("lake").await;
    // A well-formed key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let o = output(convert_cmd(
        &az,
        &sample("tsc_sales.csv"),
        "lake/x.parquet",
        &["--storage-option", &format!("access_key={wrong}")],
    ))
    .await;
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains(wrong), "{err}");
    assert!(err.contains("az://lake/"), "{err}");
    assert!(
        err.to_lowercase().contains("credential") || err.contains("403"),
        "{err}"
    );
    assert!(az.blobs("lake").await.is_empty());
}

#[tokio::test]
#[ignore = "needs Azurite: npm ci --prefix .ci/azurite, then cargo test -- --ignored azure::"]
async fn a_missing_container_gives_a_clear_error() {
    let az = Azurite::start();
    let o = output(convert_cmd(
        &az,
        &sample("tsc_sales.csv"),
        "nosuch/x.parquet",
        &[],
    ))
    .await;
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("nosuch"), "{err}");
}
