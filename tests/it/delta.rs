//! Delta Lake tables (`--format delta`): every table is read back through delta_kernel's own
//! scan, locally and on the s3s-fs server, and its values compared with the input.

use std::sync::Arc;

use anaplan_parquet::convert::{self, EngineOptions, Layout, RunContext};
use anaplan_parquet::sink::{Destination, DestinationOptions, OutputFormat, SchemaMode, WriteMode};
use anaplan_parquet::source::MemorySource;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::snapshot::Snapshot;
use delta_kernel_default_engine::DefaultEngine;
use object_store::ObjectStore;
use url::Url;

use crate::support::s3::S3Server;
use crate::support::{Table, bin, run, stderr, stdout, tempdir};

const FIRST: &str = "Versions,Line Items,Value\nActual,Revenue,100\nActual,Units,7\n";
const SECOND: &str = "Versions,Line Items,Value\nBudget,Revenue,120\n";

/// Where a table is, for reading it back with the kernel.
struct Place {
    store: Arc<dyn ObjectStore>,
    root: Url,
}

impl Place {
    fn local(dir: &std::path::Path) -> Place {
        Place {
            store: Arc::new(object_store::local::LocalFileSystem::new()),
            root: Url::from_directory_path(dir).unwrap(),
        }
    }

    fn s3(server: &S3Server, bucket: &str, key: &str) -> Place {
        Place {
            store: server.client(bucket),
            root: Url::parse(&format!("s3://{bucket}/{key}/")).unwrap(),
        }
    }

    /// The table at `version` (latest when `None`), read through delta_kernel's scan.
    async fn read(&self, version: Option<u64>) -> Table {
        let store = Arc::clone(&self.store);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let engine = Arc::new(DefaultEngine::builder(store).build());
            let mut b = Snapshot::builder_for(root.as_str());
            if let Some(v) = version {
                b = b.at_version(v);
            }
            let snapshot = b.build(engine.as_ref()).expect("a Delta table");
            let scan = snapshot.scan_builder().build().expect("scan");
            let batches: Vec<RecordBatch> = scan
                .execute(engine)
                .expect("execute")
                .map(|d| {
                    ArrowEngineData::try_from_engine_data(d.expect("data"))
                        .expect("arrow data")
                        .record_batch()
                        .clone()
                })
                .collect();
            let schema = batches.first().map_or_else(
                || Arc::new(arrow::datatypes::Schema::empty()),
                RecordBatch::schema,
            );
            Table {
                schema,
                batches,
                metadata: Vec::new(),
            }
        })
        .await
        .unwrap()
    }

    /// The version of the latest commit.
    async fn version(&self) -> u64 {
        let store = Arc::clone(&self.store);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let engine = DefaultEngine::builder(store).build();
            Snapshot::builder_for(root.as_str())
                .build(&engine)
                .expect("a Delta table")
                .version()
        })
        .await
        .unwrap()
    }
}

/// Sorted `Versions|Line Items|Value` rows.
fn rows(t: &Table) -> Vec<String> {
    let v = t.strings("Versions");
    let l = t.strings("Line Items");
    let x = t.strings("Value");
    let mut out: Vec<String> = (0..t.num_rows())
        .map(|i| {
            format!(
                "{}|{}|{}",
                v[i].clone().unwrap_or_default(),
                l[i].clone().unwrap_or_default(),
                x[i].clone().unwrap_or_default()
            )
        })
        .collect();
    out.sort();
    out
}

fn delta(output: &str, mode: WriteMode) -> DestinationOptions {
    let mut o = DestinationOptions::new(output);
    o.read_env = false;
    o.format = OutputFormat::Delta;
    o.mode = mode;
    o
}

async fn write(options: &DestinationOptions, csv: &str) -> anaplan_parquet::Result<()> {
    let dest = Destination::from_options(options)?;
    dest.check().await?;
    let source = MemorySource::new("memory", vec![Bytes::copy_from_slice(csv.as_bytes())]);
    let mut options = EngineOptions::default();
    // Every column inferred (no Anaplan dimensions), so that new columns keep their types.
    options.schema.layout = Layout::Generic;
    convert::convert(&source, &dest, &options, &RunContext::default())
        .await
        .map(|_| ())
}

/// Every `.parquet` file under `dir`, relative.
fn data_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn create_append_replace_and_time_travel_locally() {
    let dir = tempdir();
    let root = dir.path().join("sales");
    let out = root.to_str().unwrap();
    let place = Place::local(&root);

    write(&delta(out, WriteMode::Append), FIRST).await.unwrap();
    assert_eq!(place.version().await, 0);
    let t = place.read(None).await;
    assert_eq!(rows(&t), ["Actual|Revenue|100", "Actual|Units|7"]);
    assert_eq!(t.types()[2], "Value: Int64");

    write(&delta(out, WriteMode::Append), SECOND).await.unwrap();
    assert_eq!(place.version().await, 1);
    assert_eq!(
        rows(&place.read(None).await),
        ["Actual|Revenue|100", "Actual|Units|7", "Budget|Revenue|120"]
    );

    write(&delta(out, WriteMode::Replace), SECOND)
        .await
        .unwrap();
    assert_eq!(place.version().await, 2);
    assert_eq!(rows(&place.read(None).await), ["Budget|Revenue|120"]);
    // The replaced files stay in storage: time travel still reads them.
    assert_eq!(data_files(&root).len(), 3);
    assert_eq!(
        rows(&place.read(Some(0)).await),
        ["Actual|Revenue|100", "Actual|Units|7"]
    );
    assert_eq!(rows(&place.read(Some(1)).await).len(), 3);
}

#[tokio::test]
async fn schema_mismatch_fails_before_writing_and_merge_adds_columns() {
    let dir = tempdir();
    let root = dir.path().join("t");
    let out = root.to_str().unwrap();
    let place = Place::local(&root);
    write(&delta(out, WriteMode::Append), FIRST).await.unwrap();

    let wider = "Versions,Line Items,Value,Note\nActual,Revenue,5,hi\n";
    let e = write(&delta(out, WriteMode::Append), wider)
        .await
        .unwrap_err();
    assert!(
        matches!(e, anaplan_parquet::Error::SchemaMismatch(_)),
        "{e}"
    );
    assert!(e.to_string().contains("\"Note\""), "{e}");
    assert!(e.to_string().contains("--schema-mode merge"), "{e}");
    assert_eq!(data_files(&root).len(), 1, "nothing written");
    assert_eq!(place.version().await, 0);

    // A type change is refused even in merge mode, naming the column.
    let mut merge = delta(out, WriteMode::Append);
    merge.schema_mode = SchemaMode::Merge;
    let e = write(&merge, "Versions,Line Items,Value\nActual,Revenue,1.5\n")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("\"Value\""), "{e}");
    assert!(e.to_string().contains("widening"), "{e}");

    write(&merge, wider).await.unwrap();
    assert_eq!(place.version().await, 1);
    let t = place.read(None).await;
    assert_eq!(t.names(), ["Versions", "Line Items", "Value", "Note"]);
    let mut notes = t.strings("Note");
    notes.sort();
    assert_eq!(notes, [None, None, Some("hi".to_owned())]);
}

#[tokio::test]
async fn a_failed_run_leaves_no_commit_and_no_file() {
    let dir = tempdir();
    let root = dir.path().join("t");
    let out = root.to_str().unwrap();
    let place = Place::local(&root);
    write(&delta(out, WriteMode::Append), FIRST).await.unwrap();
    // A ragged row fails the conversion after the file was begun.
    let bad = "Versions,Line Items,Value\nActual,Revenue,1\nActual,Revenue\n";
    let mut o = delta(out, WriteMode::Append);
    o.mode = WriteMode::Replace;
    assert!(write(&o, bad).await.is_err());
    assert_eq!(place.version().await, 0);
    assert_eq!(data_files(&root).len(), 1);
    assert_eq!(rows(&place.read(None).await).len(), 2);
}

#[tokio::test]
async fn partition_by_date_is_a_delta_partition_column() {
    let dir = tempdir();
    let root = dir.path().join("t");
    let out = root.to_str().unwrap();
    let mut o = delta(out, WriteMode::Append);
    o.partition_by_date = true;
    write(&o, FIRST).await.unwrap();
    write(&o, SECOND).await.unwrap();
    let t = Place::local(&root).read(None).await;
    assert_eq!(rows(&t).len(), 3);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dates = t.strings("export_date");
    assert!(
        dates.iter().all(|d| d.as_deref() == Some(today.as_str())),
        "{dates:?}"
    );
    assert!(
        data_files(&root)
            .iter()
            .all(|f| f.starts_with(&format!("export_date={today}/"))),
        "{:?}",
        data_files(&root)
    );
    // A run without the partition does not fit the partitioned table.
    let e = write(&delta(out, WriteMode::Append), FIRST)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("export_date"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_s3_all_land() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let place = Place::s3(&s3, "lake", "tbl");
    let o = {
        let mut o = s3.options("s3://lake/tbl");
        o.format = OutputFormat::Delta;
        o.mode = WriteMode::Append;
        o
    };
    // The server must refuse a second create of the same key, or this test proves nothing.
    let probe = object_store::path::Path::from("probe");
    let create = || object_store::PutOptions {
        mode: object_store::PutMode::Create,
        ..Default::default()
    };
    let client = s3.client("lake");
    client
        .put_opts(&probe, Bytes::from_static(b"a").into(), create())
        .await
        .unwrap();
    assert!(
        client
            .put_opts(&probe, Bytes::from_static(b"b").into(), create())
            .await
            .is_err()
    );

    let writers: Vec<_> = (0..4)
        .map(|i| {
            let o = o.clone();
            tokio::spawn(async move {
                let csv = format!(
                    "Versions,Line Items,Value\nW{i},Revenue,{i}\nW{i},Units,{}\n",
                    i * 10
                );
                write(&o, &csv).await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    assert_eq!(place.version().await, 3, "four commits: versions 0..=3");
    let got = rows(&place.read(None).await);
    assert_eq!(got.len(), 8, "{got:?}");
    for i in 0..4 {
        assert!(got.contains(&format!("W{i}|Revenue|{i}")), "{got:?}");
    }
}

#[tokio::test]
async fn s3_round_trip_replace_and_time_travel() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let place = Place::s3(&s3, "lake", "sales/t");
    let mut o = s3.options("s3://lake/sales/t/");
    o.format = OutputFormat::Delta;
    o.mode = WriteMode::Append;
    write(&o, FIRST).await.unwrap();
    o.mode = WriteMode::Replace;
    write(&o, SECOND).await.unwrap();
    assert_eq!(rows(&place.read(None).await), ["Budget|Revenue|120"]);
    assert_eq!(rows(&place.read(Some(0)).await).len(), 2);
    assert!(
        s3.keys("lake")
            .iter()
            .any(|k| k == "sales/t/_delta_log/00000000000000000001.json")
    );
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn a_store_without_conditional_writes_is_refused() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let mut o = s3.options("s3://lake/t");
    o.format = OutputFormat::Delta;
    o.storage_options
        .push(anaplan_parquet::sink::StorageOption::parse("conditional_put=disabled").unwrap());
    let e = write(&o, FIRST).await.unwrap_err();
    assert!(e.to_string().contains("conditional writes"), "{e}");
    assert!(s3.keys("lake").is_empty(), "{:?}", s3.keys("lake"));
    // Without the preflight (`convert` calls none), the first write checks it too.
    let dest = Destination::from_options(&o).unwrap();
    let source = MemorySource::new("memory", vec![Bytes::from_static(FIRST.as_bytes())]);
    let e = convert::convert(
        &source,
        &dest,
        &EngineOptions::default(),
        &RunContext::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("conditional writes"), "{e}");
    assert!(s3.keys("lake").is_empty(), "{:?}", s3.keys("lake"));
}

#[test]
fn cli_convert_history_and_vacuum() {
    let dir = tempdir();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, FIRST).unwrap();
    let table = dir.path().join("t");
    for mode in ["append", "replace"] {
        let o = run(bin()
            .args(["convert"])
            .arg(&csv)
            .arg("-o")
            .arg(&table)
            .args(["--format", "delta", "--mode", mode]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = run(bin().args(["table", "history"]).arg(&table).arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
    let h: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["mode"], "Overwrite");
    assert_eq!(h[1]["removed"], 1);
    assert_eq!(h[0]["rows_added"], 2);
    assert!(h[0]["provenance"]["toolVersion"].is_string());

    // Nothing is old enough for the default retention; with --dry-run and no retention
    // window the replaced file is listed but kept.
    let o = run(bin()
        .args(["table", "vacuum"])
        .arg(&table)
        .args(["--retain", "7d", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["files"].as_array().unwrap().len(), 0);
    assert_eq!(data_files(&table).len(), 2);
}

/// `rows` lines of high-entropy CSV: enough Parquet for a multipart upload at 5 MiB parts.
fn big_csv(rows: usize) -> String {
    let mut text = String::from("Versions,Line Items,Value\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("V{},L{:x},{}\n", i % 7, x, x >> 11));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_deletes_the_uploaded_file() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let place = Place::s3(&s3, "lake", "t");
    let mut o = s3.options("s3://lake/t");
    o.format = OutputFormat::Delta;
    o.mode = WriteMode::Append;
    o.max_retries = 0;
    o.upload_part_size = 5 << 20;
    write(&o, FIRST).await.unwrap();
    let before = s3.keys("lake");

    let dest = Destination::from_options(&o).unwrap();
    dest.check().await.unwrap();
    // The data file goes up as a multipart upload; every single PUT (the commit) fails.
    s3.fail_object_puts(1000);
    let source = MemorySource::new("memory", vec![Bytes::from(big_csv(600_000))]);
    let mut options = EngineOptions::default();
    options.schema.layout = Layout::Generic;
    let e = convert::convert(&source, &dest, &options, &RunContext::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Delta table"), "{e}");
    assert!(
        s3.seen(crate::support::s3::Op::CompleteUpload) >= 1,
        "the file was uploaded"
    );
    assert_eq!(
        s3.keys("lake"),
        before,
        "no data file and no log entry left"
    );
    assert_eq!(place.version().await, 0);
    assert_eq!(rows(&place.read(None).await).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_leaves_the_table_readable_without_a_partial_commit() {
    use tokio::io::AsyncWriteExt;
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let place = Place::s3(&s3, "lake", "t");
    let mut o = s3.options("s3://lake/t");
    o.format = OutputFormat::Delta;
    o.mode = WriteMode::Append;
    write(&o, FIRST).await.unwrap();
    let log_before: Vec<String> = s3
        .keys("lake")
        .into_iter()
        .filter(|k| k.contains("_delta_log/"))
        .collect();

    s3.hold(crate::support::s3::Op::PartUpload);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
    cmd.env_clear()
        .args([
            "convert",
            "-",
            "-o",
            "s3://lake/t",
            "--format",
            "delta",
            "--mode",
            "append",
            "--layout",
            "generic",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    crate::faults::with_s3(&mut cmd, &s3);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The whole input, then end of input: the row group closes and its upload begins.
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(big_csv(600_000).as_bytes()).await;
    });
    assert!(
        s3.wait_held(
            crate::support::s3::Op::PartUpload,
            1,
            std::time::Duration::from_mins(2)
        )
        .await,
        "the data file's upload began"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let _ = feed.await;
    s3.release(crate::support::s3::Op::PartUpload);

    let log_after: Vec<String> = s3
        .keys("lake")
        .into_iter()
        .filter(|k| k.contains("_delta_log/"))
        .collect();
    assert_eq!(log_after, log_before, "no commit from the killed run");
    assert_eq!(place.version().await, 0);
    assert_eq!(
        rows(&place.read(None).await),
        ["Actual|Revenue|100", "Actual|Units|7"]
    );
}

/// Every column's values as text, each column sorted: two tables with the same rows in any
/// order give the same result.
fn columns_sorted(t: &Table) -> Vec<(String, Vec<Option<String>>)> {
    t.names()
        .into_iter()
        .map(|n| {
            let mut v = t.strings(&n);
            v.sort();
            (n, v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_appends_to_a_table_with_its_provenance_in_the_commits() {
    use crate::client::{MAIN_EXPORT, MODEL, WORKSPACE};
    use crate::support::sim::{self, PASSWORD, USER};
    let sim = Arc::new(sim::start(sim::tenant(3_000, 8 << 10, 41)).await);
    let dir = tempdir();
    let table = dir.path().join("revenue");
    let plain = dir.path().join("plain.parquet");
    let s = Arc::clone(&sim);
    let (t2, p2) = (table.clone(), plain.clone());
    tokio::task::spawn_blocking(move || {
        let export = |extra: &[&str]| {
            let mut cmd = assert_cmd::Command::cargo_bin("anaplan-parquet").unwrap();
            cmd.env_clear()
                .env("ANAPLAN_API_URL", s.base_url())
                .env("ANAPLAN_AUTH_URL", s.base_url())
                .env("ANAPLAN_USERNAME", USER)
                .env("ANAPLAN_PASSWORD", PASSWORD)
                .args(["export", "-w", WORKSPACE, "-m", MODEL, "-e", MAIN_EXPORT])
                .args(["--poll-interval", "50ms"])
                .args(extra);
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        let t = t2.to_str().unwrap();
        export(&["-o", t, "--format", "delta", "--mode", "append"]);
        export(&["-o", t, "--format", "delta", "--mode", "append"]);
        export(&["-o", p2.to_str().unwrap()]);
    })
    .await
    .unwrap();

    let place = Place::local(&table);
    assert_eq!(place.version().await, 1);
    let got = place.read(Some(0)).await;
    let want = Table::read(&plain);
    assert_eq!(got.num_rows(), 3_000);
    assert_eq!(got.types(), want.types());
    assert_eq!(columns_sorted(&got), columns_sorted(&want));
    assert_eq!(place.read(None).await.num_rows(), 6_000);

    let o = run(bin().args(["table", "history", "--json"]).arg(&table));
    assert!(o.status.success(), "{}", stderr(&o));
    let h: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for c in h.as_array().unwrap() {
        let p = &c["provenance"];
        assert_eq!(p["workspace"], WORKSPACE, "{c}");
        assert_eq!(p["model"], MODEL, "{c}");
        assert_eq!(p["export"], MAIN_EXPORT, "{c}");
        assert!(!p["taskId"].as_str().unwrap().is_empty(), "{c}");
        assert_eq!(p["toolVersion"], env!("CARGO_PKG_VERSION"), "{c}");
        assert_eq!(c["rows_added"], 3_000, "{c}");
    }
    assert_ne!(
        h[0]["provenance"]["taskId"], h[1]["provenance"]["taskId"],
        "each run's own task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_file_writes_a_delta_table_on_s3() {
    let sim =
        Arc::new(crate::support::sim::start(crate::support::sim::tenant(3_000, 16 << 10, 7)).await);
    let s3 = Arc::new(S3Server::start().await);
    s3.create_bucket("lake");
    let dir = tempdir();
    let datasets = format!(
        "[[dataset]]\nname = \"revenue\"\nexport = \"{}\"\noutput = \"s3://lake/revenue\"\n\
         format = \"delta\"\nmode = \"append\"\npartition_by_date = true\n\
         s3_endpoint = \"{}\"\ns3_region = \"us-east-1\"\ns3_path_style = true\nallow_http = true\n",
        crate::client::MAIN_EXPORT,
        s3.endpoint
    );
    let jobs = crate::jobs::jobs_file(dir.path(), &sim, &datasets);
    tokio::task::spawn_blocking(move || {
        for _ in 0..2 {
            crate::jobs::bin().arg("run").arg(&jobs).assert().code(0);
        }
    })
    .await
    .unwrap();
    let place = Place::s3(&s3, "lake", "revenue");
    assert_eq!(place.version().await, 1);
    let t = place.read(None).await;
    assert_eq!(t.num_rows(), 6_000);
    assert!(t.names().contains(&"export_date".to_owned()));
    assert!(
        s3.keys("lake")
            .iter()
            .filter(|k| k.ends_with(".parquet"))
            .all(|k| k.starts_with("revenue/export_date=")),
        "{:?}",
        s3.keys("lake")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replace_racing_an_append_ends_in_a_clear_state() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let place = Place::s3(&s3, "lake", "t");
    let mut o = s3.options("s3://lake/t");
    o.format = OutputFormat::Delta;
    o.mode = WriteMode::Append;
    write(&o, FIRST).await.unwrap();
    let mut replace = o.clone();
    replace.mode = WriteMode::Replace;
    let appended = "Versions,Line Items,Value\nForecast,Revenue,90\n";
    let (a, r) = tokio::join!(write(&o, appended), write(&replace, SECOND));
    a.unwrap();
    r.unwrap();
    assert_eq!(place.version().await, 2, "both committed");
    let got = rows(&place.read(None).await);
    let replace_last = vec!["Budget|Revenue|120".to_owned()];
    let append_last = vec![
        "Budget|Revenue|120".to_owned(),
        "Forecast|Revenue|90".to_owned(),
    ];
    assert!(got == replace_last || got == append_last, "{got:?}");
}

#[tokio::test]
async fn if_exists_fail_refuses_an_existing_table() {
    let dir = tempdir();
    let root = dir.path().join("t");
    let out = root.to_str().unwrap();
    let mut o = delta(out, WriteMode::Replace);
    o.if_exists = anaplan_parquet::sink::IfExists::Fail;
    write(&o, FIRST).await.unwrap();
    let e = write(&o, SECOND).await.unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(rows(&Place::local(&root).read(None).await).len(), 2);
}

#[test]
fn vacuum_deletes_old_orphans_and_keeps_what_versions_need() {
    let dir = tempdir();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, FIRST).unwrap();
    let table = dir.path().join("t");
    for mode in ["append", "replace"] {
        let o = run(bin()
            .args(["convert"])
            .arg(&csv)
            .arg("-o")
            .arg(&table)
            .args(["--format", "delta", "--mode", mode]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // A file a killed run left behind, and every data file, made ten days old.
    std::fs::copy(
        table.join(&data_files(&table)[0]),
        table.join("part-orphan.parquet"),
    )
    .unwrap();
    for f in data_files(&table) {
        let s = std::process::Command::new("touch")
            .args(["-d", "10 days ago"])
            .arg(table.join(&f))
            .status()
            .unwrap();
        assert!(s.success());
    }
    let o = run(bin()
        .args(["table", "vacuum"])
        .arg(&table)
        .args(["--retain", "7d", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // The orphan goes; the live file and the one the replace removed today stay.
    assert_eq!(
        v["files"],
        serde_json::json!(["part-orphan.parquet"]),
        "{v}"
    );
    assert_eq!(data_files(&table).len(), 2);
    let o = run(bin().args(["table", "history"]).arg(&table));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Overwrite"), "{}", stdout(&o));
}
