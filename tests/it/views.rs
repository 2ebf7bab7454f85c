//! Views and lists end to end against the in-process simulator: a read request is created, its
//! pages downloaded as they become available, converted to Parquet (local and S3), read back
//! and compared value by value with the simulator's records; the request is deleted in every
//! ending; refusals fall back or fail with a clear message.

use std::path::Path;
use std::time::Duration;

use anaplan_parquet::anaplan::{AnaplanClient, ApiVersion};
use anaplan_parquet::convert::{EngineOptions, Layout, RunContext};
use anaplan_parquet::error::{Error, ExportFailed};
use anaplan_parquet::read::{ReadJob, ReadMode, ReadObject, ReadReport, ViewLayout, run_read};
use anaplan_parquet::simulator::SimulatorHandle;
use anaplan_parquet::simulator::reads::{ReadsConfig, Table};
use anaplan_parquet::sink::Destination;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};

use crate::client::{MODEL, WORKSPACE, connect};
use crate::support::s3::S3Server;
use crate::support::sim;
use crate::support::{self, Table as Parquet};

/// The default view of the revenue module, and its saved view.
const REVENUE: &str = "REV01 Revenue";
const SAVED: &str = "REV01 Revenue.Units and price";
const PRICE_BOOK: &str = "REV02 Price Book";

/// The test tenant, with Products cut to 10 items (REV01 Revenue: 2,400 rows × 6 line items)
/// and small pages that become available quickly.
pub(crate) async fn start() -> SimulatorHandle {
    let sim = sim::start_default().await;
    sim.update_model_reads(MODEL, |r| {
        r.lists
            .iter_mut()
            .find(|l| l.name == "Products")
            .unwrap()
            .items = 10;
    })
    .unwrap();
    sim.set_reads(|r| {
        *r = ReadsConfig {
            rows_per_page: 300,
            start_delay: Duration::from_millis(30),
            page_interval: Duration::from_millis(10),
            ..ReadsConfig::default()
        };
    })
    .unwrap();
    sim
}

fn job(object: ReadObject) -> ReadJob {
    let mut job = ReadJob::new(WORKSPACE, MODEL, object);
    job.pages.poll_interval = Duration::from_millis(50);
    job.pages.concurrency = 4;
    job
}

fn view(name: &str) -> ReadJob {
    job(ReadObject::View(name.to_owned()))
}

async fn read_to(
    client: &AnaplanClient,
    job: &ReadJob,
    out: &Path,
    options: EngineOptions,
) -> anaplan_parquet::Result<ReadReport> {
    let destination = Destination::parse(out.to_str().unwrap())?;
    run_read(client, job, &destination, options, &RunContext::default()).await
}

/// The text a typed cell stands for equals `expected`.
fn cell_matches(array: &dyn Array, i: usize, expected: &str) -> bool {
    if array.is_null(i) {
        return expected.is_empty();
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i) == expected,
        DataType::Utf8View => array.as_string_view().value(i) == expected,
        DataType::Int64 => {
            expected.parse::<i64>() == Ok(array.as_primitive::<Int64Type>().value(i))
        }
        DataType::Float64 => expected
            .parse::<f64>()
            .is_ok_and(|v| v.to_bits() == array.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Boolean => {
            expected
                == if array.as_boolean().value(i) {
                    "true"
                } else {
                    "false"
                }
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(i);
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(i64::from(days));
            date.format("%Y-%m-%d").to_string() == expected
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// Compares Parquet batches with the simulator's records, value by value.
pub(crate) fn assert_matches(batches: &[RecordBatch], truth: &Table) {
    let header = truth.header();
    let mut n = 0u64;
    for batch in batches {
        // A mixed Tabular Single Column `Value` also gets a `Value_number` column after it.
        assert!(batch.num_columns() >= header.len(), "columns");
        for i in 0..batch.num_rows() {
            let record = truth.record(n);
            for (c, expected) in record.iter().enumerate() {
                assert!(
                    cell_matches(batch.column(c).as_ref(), i, expected),
                    "row {n}, column {:?}: expected {expected:?}, type {}",
                    header[c],
                    batch.column(c).data_type()
                );
            }
            n += 1;
        }
    }
    assert_eq!(n, truth.records(), "rows");
}

pub(crate) fn kv<'a>(table: &'a Parquet, key: &str) -> &'a str {
    table.metadata.iter().find(|(k, _)| k == key).map_or_else(
        || panic!("no {key} in {:?}", table.metadata),
        |(_, v)| v.as_str(),
    )
}

/// Every read request the simulator saw was deleted by the client.
pub(crate) fn assert_all_deleted(sim: &SimulatorHandle, at_least: usize) {
    let requests = sim.read_requests();
    assert!(requests.len() >= at_least, "{requests:?}");
    for r in &requests {
        assert!(r.deleted, "request {} was left behind: {r:?}", r.id);
    }
}

#[tokio::test]
async fn a_view_reads_to_parquet_value_by_value() {
    let sim = start().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("revenue.parquet");
    let report = read_to(&client, &view(REVENUE), &out, EngineOptions::default())
        .await
        .unwrap();
    let truth = sim
        .view_table(
            REVENUE,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    assert_eq!(report.summary.rows, 2400);
    assert_eq!(report.pages, 8);
    let table = Parquet::read(&out);
    assert_matches(&table.batches, &truth);
    // Dimensions stay text; each line item is typed on its own.
    assert_eq!(
        table.types(),
        [
            "Products: Utf8",
            "Regions: Utf8",
            "Time: Utf8",
            "Units: Int64",
            "Price: Float64",
            "Revenue: Float64",
            "Promoted: Boolean",
            "Comment: Utf8",
            "Ship Date: Date32",
        ]
    );
    // The footer says what was read, by which request, when.
    assert_eq!(kv(&table, "anaplan.view.id"), report.object_id);
    assert_eq!(kv(&table, "anaplan.view.name"), REVENUE);
    assert_eq!(
        kv(&table, "anaplan.read.request_id"),
        report.request_id.as_deref().unwrap()
    );
    assert_eq!(kv(&table, "anaplan.read.layout"), "TABULAR_MULTI_COLUMN");
    assert!(kv(&table, "anaplan.read.time").starts_with("20"));
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn every_page_layout_reads_the_same_out_of_order_and_late() {
    let sim = start().await;
    let client = connect(&sim, ApiVersion::V2);
    let truth = sim
        .view_table(
            REVENUE,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    let dir = support::tempdir();
    for (i, (repeat, split)) in [(false, false), (true, false), (false, true)]
        .into_iter()
        .enumerate()
    {
        sim.set_reads(|r| {
            r.repeat_header = repeat;
            r.split_records = split;
            r.rows_per_page = 97;
            // Pages trickle in, and downloads finish in a shuffled order.
            r.page_interval = Duration::from_millis(15);
            r.page_jitter = Duration::from_millis(40);
        })
        .unwrap();
        let out = dir.path().join(format!("v{i}.parquet"));
        let mut job = view(REVENUE);
        job.pages.concurrency = 8;
        let report = read_to(&client, &job, &out, EngineOptions::default())
            .await
            .unwrap_or_else(|e| panic!("repeat {repeat}, split {split}: {e}"));
        assert_eq!(report.pages, 25, "2400 rows in pages of 97");
        assert_matches(&Parquet::read(&out).batches, &truth);
    }
    assert_all_deleted(&sim, 3);
}

#[tokio::test]
async fn a_saved_view_and_the_single_column_layout() {
    let sim = start().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("saved.parquet");
    read_to(&client, &view(SAVED), &out, EngineOptions::default())
        .await
        .unwrap();
    let saved = sim
        .view_table(
            "Units and price",
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    let table = Parquet::read(&out);
    assert_eq!(table.names()[3..], ["Units", "Price"]);
    assert_matches(&table.batches, &saved);

    // `--layout single-column`: TABULAR_SINGLE_COLUMN, the value column inferred.
    let out = dir.path().join("tsc.parquet");
    let mut job = view(PRICE_BOOK);
    job.layout = ViewLayout::SingleColumn;
    let mut options = EngineOptions::default();
    options.schema.layout = Layout::SingleColumn;
    read_to(&client, &job, &out, options).await.unwrap();
    let tsc = sim
        .view_table(
            PRICE_BOOK,
            anaplan_parquet::simulator::reads::ViewLayout::SingleColumn,
        )
        .unwrap();
    let table = Parquet::read(&out);
    assert_eq!(
        table.names(),
        ["Regions", "Time", "Line Items", "Value", "Value_number"]
    );
    assert_eq!(table.num_rows() as u64, tsc.records());
    assert_eq!(kv(&table, "anaplan.read.layout"), "TABULAR_SINGLE_COLUMN");
    assert_matches(&table.batches, &tsc);
    assert_all_deleted(&sim, 2);
}

#[tokio::test]
async fn a_list_reads_with_its_properties() {
    let sim = start().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    for list in ["Employees", "Products"] {
        let out = dir.path().join(format!("{list}.parquet"));
        let report = read_to(
            &client,
            &job(ReadObject::List(list.to_owned())),
            &out,
            EngineOptions::default(),
        )
        .await
        .unwrap();
        let truth = sim.list_table(list).unwrap();
        let table = Parquet::read(&out);
        assert_matches(&table.batches, &truth);
        assert_eq!(kv(&table, "anaplan.list.name"), list);
        assert!(report.request_id.is_some());
        if list == "Employees" {
            // Name, parent, access and code stay text; the properties are typed.
            assert_eq!(
                table.types(),
                [
                    "column_1: Utf8",
                    "Parent: Utf8",
                    "Write: Utf8",
                    "Read: Utf8",
                    "Code: Utf8",
                    "Grade: Int64",
                    "Salary: Float64",
                    "Remote: Boolean",
                    "Title: Utf8",
                    "Start Date: Date32",
                ]
            );
        } else {
            assert_eq!(
                table.names()[..4],
                ["column_1", "Parent", "Code", "Favourites"]
            );
        }
    }
    assert_all_deleted(&sim, 2);
}

#[tokio::test]
async fn a_view_reads_to_s3() {
    let sim = start().await;
    let client = connect(&sim, ApiVersion::V2);
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let destination =
        Destination::from_options(&s3.options("s3://lake/views/revenue.parquet")).unwrap();
    run_read(
        &client,
        &view(REVENUE),
        &destination,
        EngineOptions::default(),
        &RunContext::default(),
    )
    .await
    .unwrap();
    let bytes = s3.get("lake", "views/revenue.parquet").await;
    let truth = sim
        .view_table(
            REVENUE,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    assert_matches(&Parquet::from_bytes(bytes).batches, &truth);
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn faults_on_pages_are_retried() {
    let sim = start().await;
    sim.set_faults(
        "reset=0.15,truncate=0.15,server-error=0.1,rate-limit=0.05,retry-after=10ms"
            .parse()
            .unwrap(),
    );
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("faulty.parquet");
    read_to(&client, &view(REVENUE), &out, EngineOptions::default())
        .await
        .unwrap();
    let truth = sim
        .view_table(
            REVENUE,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    assert_matches(&Parquet::read(&out).batches, &truth);
    let c = sim.counters();
    assert!(
        c.faults.values().sum::<u64>() > 0,
        "faults were injected: {c:?}"
    );
    assert!(!client.retry_stats().counts().is_empty());
    // The DELETE itself may have met a fault and been retried; it went through in the end.
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn a_failed_request_is_reported_and_deleted() {
    let sim = start().await;
    sim.update_model_reads(MODEL, |r| r.modules[1].read_fail = true)
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("failed.parquet");
    let err = read_to(&client, &view(PRICE_BOOK), &out, EngineOptions::default())
        .await
        .unwrap_err();
    let Error::ExportFailed(f) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(**f, ExportFailed::ReadFailed { .. }), "{f:?}");
    assert!(err.to_string().contains("failed in Anaplan"), "{err}");
    assert_eq!(err.exit_class().code(), 4);
    assert!(!out.exists(), "no output from a failed read");
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn an_interrupted_read_deletes_its_request() {
    let sim = start().await;
    // Slow pages: the run is interrupted while they trickle in.
    sim.set_reads(|r| {
        r.rows_per_page = 50;
        r.page_interval = Duration::from_millis(100);
    })
    .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let out = dir.path().join("interrupted.parquet");
    let run = RunContext::default();
    // Stop once pages are being downloaded.
    let watcher = async {
        while sim
            .read_requests()
            .first()
            .is_none_or(|r| r.pages_served == 0)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        run.shutdown.stop();
    };
    let destination = Destination::parse(out.to_str().unwrap()).unwrap();
    let job = view(REVENUE);
    let read = run_read(&client, &job, &destination, EngineOptions::default(), &run);
    let ((), result) = tokio::join!(watcher, read);
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Cancelled(_)), "{err:?}");
    assert!(!out.exists());
    let requests = sim.read_requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].pages_served > 0,
        "stopped mid-download: {requests:?}"
    );
    assert!(requests[0].pages_served < requests[0].pages, "{requests:?}");
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn a_refused_read_falls_back_for_a_small_view_and_fails_clearly_otherwise() {
    let sim = start().await;
    // The docs' rule: only workspace administrators may use read requests (others get 404).
    sim.set_reads(|r| r.admin_only = true).unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();

    // auto: the transactional call, said in the summary.
    let out = dir.path().join("fallback.parquet");
    let report = read_to(&client, &view(PRICE_BOOK), &out, EngineOptions::default())
        .await
        .unwrap();
    assert!(report.request_id.is_none());
    let fallback = report.fallback.clone().expect("a fallback");
    assert!(fallback.contains("refused (HTTP 404)"), "{fallback}");
    assert_eq!(report.summary.decisions[0], fallback);
    let truth = sim
        .view_table(
            PRICE_BOOK,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    let table = Parquet::read(&out);
    assert_matches(&table.batches, &truth);
    assert_eq!(kv(&table, "anaplan.read.mode"), "direct");

    // A list falls back to the transactional list read: its id, name, code and parent
    // columns stay text, the subsets and properties are typed.
    let out = dir.path().join("list-fallback.parquet");
    let report = read_to(
        &client,
        &job(ReadObject::List("Products".into())),
        &out,
        EngineOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        report
            .fallback
            .as_deref()
            .unwrap()
            .contains("1,000,000 items")
    );
    let table = Parquet::read(&out);
    assert_eq!(
        table.types(),
        [
            "id: Utf8",
            "name: Utf8",
            "code: Utf8",
            "parent: Utf8",
            "parentId: Utf8",
            "listId: Utf8",
            "listName: Utf8",
            "Favourites: Boolean",
            "Pack Size: Int64",
            "Unit Cost: Float64",
            "Launch: Date32",
        ]
    );
    let truth = sim.list_table("Products").unwrap();
    let mut n = 0u64;
    for batch in &table.batches {
        for i in 0..batch.num_rows() {
            let r = truth.record(n);
            // Large-read layout: name, Parent, Code, Favourites, properties.
            for (c, expected) in [(1, &r[0]), (2, &r[2]), (3, &r[1])]
                .into_iter()
                .chain((7..11).map(|c| (c, &r[c - 4])))
            {
                assert!(
                    cell_matches(batch.column(c).as_ref(), i, expected),
                    "row {n} column {c}"
                );
            }
            n += 1;
        }
    }
    assert_eq!(n, truth.records());

    // large: one clear message naming the likely cause.
    let mut large = view(PRICE_BOOK);
    large.mode = ReadMode::Large;
    let err = read_to(
        &client,
        &large,
        &dir.path().join("large.parquet"),
        EngineOptions::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused a large-volume read of view \"REV02 Price Book\"")
            && text.contains("workspace administrator")
            && text.contains("--read-mode direct"),
        "{text}"
    );
    assert_eq!(err.exit_class().code(), 4);

    // A view too big for the transactional call: both refusals in one message.
    sim.update_model_reads(MODEL, |r| {
        r.lists
            .iter_mut()
            .find(|l| l.name == "Products")
            .unwrap()
            .items = 1000;
    })
    .unwrap();
    let err = read_to(
        &client,
        &view(REVENUE),
        &dir.path().join("big.parquet"),
        EngineOptions::default(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused the direct (transactional) read")
            && text.contains("workspace administrator"),
        "{text}"
    );
    assert!(
        sim.read_requests().is_empty(),
        "no request was ever created"
    );

    // The administrator may use read requests.
    let admin = AnaplanClient::new(crate::client::config(
        &sim,
        ApiVersion::V2,
        anaplan_parquet::anaplan::Credentials::Basic {
            username: sim::ADMIN.into(),
            password: anaplan_parquet::Secret::new(sim::PASSWORD),
        },
    ))
    .unwrap();
    let report = read_to(
        &admin,
        &large,
        &dir.path().join("admin.parquet"),
        EngineOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.request_id.is_some() && report.fallback.is_none());
    assert_all_deleted(&sim, 1);
}

#[tokio::test]
async fn the_concurrency_cap_answers_429_and_the_client_waits() {
    let sim = start().await;
    sim.set_reads(|r| {
        r.max_concurrent = 1;
        r.retry_after = Duration::from_secs(1);
    })
    .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    let (ja, jb) = (view(PRICE_BOOK), view(REVENUE));
    let (ra, rb) = tokio::join!(
        read_to(&client, &ja, &a, EngineOptions::default()),
        read_to(&client, &jb, &b, EngineOptions::default()),
    );
    ra.unwrap();
    rb.unwrap();
    let refused = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/readRequests") && r.status == 429)
        .count();
    assert!(refused >= 1, "the second POST met the cap");
    assert_all_deleted(&sim, 2);
}

#[tokio::test]
async fn keep_alive_outlasts_the_inactivity_expiry() {
    let sim = start().await;
    // Pages 1.. do not reset the timer; the read takes longer than the expiry.
    sim.set_reads(|r| {
        r.rows_per_page = 600;
        r.page_interval = Duration::from_millis(600);
        r.expiry = Duration::from_millis(1500);
    })
    .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = support::tempdir();
    // Without keep-alive the request is reclaimed under the client (404).
    let mut job = view(REVENUE);
    job.pages.keep_alive = Duration::from_hours(1);
    let err = read_to(
        &client,
        &job,
        &dir.path().join("expired.parquet"),
        EngineOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    // With it, the read completes.
    job.pages.keep_alive = Duration::from_millis(100);
    let out = dir.path().join("kept.parquet");
    read_to(&client, &job, &out, EngineOptions::default())
        .await
        .unwrap();
    let truth = sim
        .view_table(
            REVENUE,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    assert_matches(&Parquet::read(&out).batches, &truth);
    let requests = sim.read_requests();
    assert!(requests[0].expired, "{requests:?}");
    assert!(requests[1].deleted && !requests[1].expired, "{requests:?}");
}

/// The real binary: `export --view ... --json`, `views --json`, `lists`, and the flag rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_reads_views_and_lists() {
    let sim = start().await;
    let dir = support::tempdir();
    let out = dir.path().join("cli.parquet");
    let base = sim.base_url();
    let cmd = move |args: &[&str]| {
        let mut c = support::bin();
        c.env("ANAPLAN_API_URL", &base)
            .env("ANAPLAN_AUTH_URL", &base)
            .env("ANAPLAN_USERNAME", sim::USER)
            .env("ANAPLAN_PASSWORD", sim::PASSWORD)
            .args(["-q"])
            .args(args)
            .args(["-w", WORKSPACE, "-m", MODEL]);
        c
    };
    let run =
        |mut c: std::process::Command| tokio::task::spawn_blocking(move || support::run(&mut c));
    let o = run(cmd(&[
        "export",
        "--view",
        PRICE_BOOK,
        "--poll-interval",
        "50ms",
        "--json",
        "-o",
        out.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&support::stdout(&o)).unwrap();
    assert_eq!(v["rows"], 240);
    assert_eq!(v["anaplan"]["view"]["name"], PRICE_BOOK);
    assert_eq!(v["anaplan"]["read_mode"], "large");
    assert!(v["anaplan"]["read_request_id"].is_string());
    let truth = sim
        .view_table(
            PRICE_BOOK,
            anaplan_parquet::simulator::reads::ViewLayout::MultiColumn,
        )
        .unwrap();
    assert_matches(&Parquet::read(&out).batches, &truth);

    let o = run(cmd(&["views", "--json"])).await.unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&support::stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], REVENUE);
    assert_eq!(v[0]["default"], true);
    assert_eq!(v[0]["rows"][0]["name"], "Products");
    assert_eq!(v[1]["module"], REVENUE);
    let o = run(cmd(&["lists"])).await.unwrap();
    let table = support::stdout(&o);
    assert!(
        table.contains("Employees") && table.contains("2501"),
        "{table}"
    );

    // An unknown view lists the candidates; two of --export/--view/--list is a usage error.
    let o = run(cmd(&["export", "--view", "Nope", "-o", "x.parquet"]))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    assert!(support::stderr(&o).contains("\"REV02 Price Book\" (102000000001)"));
    let o = run(cmd(&[
        "export",
        "-e",
        "E",
        "--list",
        "L",
        "-o",
        "x.parquet",
    ]))
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = run(cmd(&["export", "-o", "x.parquet"])).await.unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_all_deleted(&sim, 1);
}

/// SIGINT and SIGTERM to the real binary while pages trickle in: it stops with 130 / 143,
/// writes nothing, and deletes its read request on the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_to_the_binary_deletes_the_read_request() {
    let sim = start().await;
    sim.set_reads(|r| {
        r.rows_per_page = 50;
        r.page_interval = Duration::from_millis(100);
    })
    .unwrap();
    let dir = support::tempdir();
    for (round, (signal, code)) in [("INT", 130), ("TERM", 143)].into_iter().enumerate() {
        let out = dir.path().join(format!("{signal}.parquet"));
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"));
        cmd.env_remove("RUST_LOG")
            .env("ANAPLAN_API_URL", sim.base_url())
            .env("ANAPLAN_AUTH_URL", sim.base_url())
            .env("ANAPLAN_USERNAME", sim::USER)
            .env("ANAPLAN_PASSWORD", sim::PASSWORD)
            .args(["export", "-w", WORKSPACE, "-m", MODEL, "--view", REVENUE])
            .args(["--poll-interval", "50ms", "-o", out.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("the binary starts");
        let pid = child.id().expect("pid");
        let started = std::time::Instant::now();
        // Pages are being downloaded.
        while sim
            .read_requests()
            .get(round)
            .is_none_or(|r| r.pages_served == 0)
        {
            assert!(
                started.elapsed() < Duration::from_mins(1),
                "no page downloaded"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let o = tokio::time::timeout(Duration::from_mins(1), child.wait_with_output())
            .await
            .expect("it stops")
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{signal}: {stderr}");
        assert!(
            stderr.contains("deleted read request"),
            "SIG{signal}: {stderr}"
        );
        assert!(!out.exists(), "SIG{signal}: nothing written");
        let r = &sim.read_requests()[round];
        assert!(r.deleted && r.pages_served < r.pages, "SIG{signal}: {r:?}");
    }
}
