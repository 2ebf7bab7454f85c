//! `run JOBS.toml` against the in-process simulator and S3 server: rounds of many datasets
//! across two workspaces and three models with mixed destinations and modes, one task per
//! model at a time, failures kept per dataset, manifests and `--skip-unchanged`, the shared
//! download budget, and the binary itself (`--check`, `--shard`, `--only`, `--json`,
//! `--every` and SIGTERM, exit codes).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anaplan_parquet::Progress;
use anaplan_parquet::Secret;
use anaplan_parquet::Shutdown;
use anaplan_parquet::anaplan::{AnaplanClient, ApiVersion, Credentials};
use anaplan_parquet::convert::EngineOptions;
use anaplan_parquet::error::ExitClass;
use anaplan_parquet::export::ExportJob;
use anaplan_parquet::jobs::{self, Dataset, RoundReport, RunOptions, Status};
use anaplan_parquet::simulator::{FaultSpec, SimulatorHandle};
use anaplan_parquet::sink::{DestinationOptions, WriteMode};
use anaplan_parquet::source::Source;
use anaplan_parquet::source::export::{ExportSource, FileRef};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::client::{config, quick_poll};
use crate::support::s3::{ACCESS_KEY, S3Server, SECRET_KEY};
use crate::support::sim::{self, ADMIN, PASSWORD};
use crate::support::{Table, dir_entries};

const FPA: (&str, &str) = ("Financial Planning", "FP&A");
const SALES: (&str, &str) = ("Financial Planning", "Sales Forecast");
const SUPPLY: (&str, &str) = ("Operations", "Supply Chain");
const REVENUE: &str = "Revenue - TSC.csv";
const HEADCOUNT: &str = "Headcount - TSC.csv";
const MARGIN: &str = "Margin Summary - TMC.csv";
const PIPELINE: &str = "Pipeline - TSC (Excel).csv";
const INVENTORY: &str = "Inventory - TSC.csv";

/// The default tenant, small: the administrator can open all three models of both workspaces.
async fn tenant() -> SimulatorHandle {
    sim::start(sim::tenant(3_000, 16 << 10, 7)).await
}

/// A client signed in as the administrator.
fn admin(sim: &SimulatorHandle) -> AnaplanClient {
    let creds = Credentials::Basic {
        username: ADMIN.to_owned(),
        password: Secret::new(PASSWORD),
    };
    AnaplanClient::new(config(sim, ApiVersion::V2, creds)).expect("client")
}

fn dataset(
    name: &str,
    (ws, model): (&str, &str),
    export: &str,
    output: DestinationOptions,
) -> Dataset {
    let mut job = ExportJob::new(ws, model, export);
    job.poll = quick_poll();
    Dataset {
        name: name.to_owned(),
        job,
        engine: EngineOptions::default(),
        output,
        read: None,
    }
}

fn local(path: &Path, mode: WriteMode) -> DestinationOptions {
    let mut o = DestinationOptions::new(path.to_str().unwrap());
    o.mode = mode;
    o
}

fn in_s3(s3: &S3Server, url: &str, mode: WriteMode) -> DestinationOptions {
    let mut o = s3.options(url);
    o.mode = mode;
    o
}

fn report<'a>(round: &'a RoundReport, name: &str) -> &'a jobs::DatasetReport {
    round
        .datasets
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no dataset {name} in {round:#?}"))
}

/// SHA-256 of an export's file as the simulator serves it now.
pub(crate) fn served_sha256(sim: &SimulatorHandle, export: &str) -> String {
    let (content, _) = sim.file_content(export).expect("a finished run");
    hex::encode(Sha256::digest(content.bytes(0..content.len())))
}

async fn rows_of(sim: &SimulatorHandle, export: &str) -> u64 {
    sim.export_content(export)
        .await
        .expect("export")
        .row_count()
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_runs_every_dataset_across_two_workspaces_one_task_per_model() {
    let sim = tenant().await;
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let datasets = vec![
        dataset(
            "revenue",
            FPA,
            REVENUE,
            local(&d.join("revenue.parquet"), WriteMode::Replace),
        ),
        dataset(
            "headcount",
            FPA,
            HEADCOUNT,
            in_s3(&s3, "s3://lake/headcount.parquet", WriteMode::Replace),
        ),
        dataset(
            "margin",
            FPA,
            MARGIN,
            local(&d.join("margin"), WriteMode::Append),
        ),
        dataset(
            "pipeline",
            SALES,
            PIPELINE,
            in_s3(&s3, "s3://lake/pipeline/", WriteMode::Append),
        ),
        dataset(
            "inventory",
            SUPPLY,
            INVENTORY,
            local(&d.join("inventory.parquet"), WriteMode::Replace),
        ),
    ];
    let client = admin(&sim);
    let options = RunOptions {
        parallel: 4,
        connections: 3,
        ..RunOptions::default()
    };
    let round = jobs::run_round(&client, &datasets, &options, &Shutdown::new())
        .await
        .unwrap();
    for d in &round.datasets {
        assert_eq!(d.status, Status::Ok, "{d:#?}");
    }
    assert_eq!(round.exit_class(), ExitClass::Success);
    assert_eq!(
        round
            .datasets
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["revenue", "headcount", "margin", "pipeline", "inventory"],
        "the report keeps the file's order"
    );
    // One sign-in for the whole round.
    assert_eq!(client.sign_ins().await, 1);
    assert_eq!(sim.counters().authentications, 1);

    // One task per model at a time, three tasks on FP&A, one on each other model.
    let concurrency = sim.task_concurrency();
    assert!(concurrency.values().all(|&n| n == 1), "{concurrency:?}");
    let log = sim.task_log();
    let completed_on = |model: &str| {
        let id = sim.model_id(model).unwrap();
        log.iter()
            .filter(|e| e.model_id == id && e.state == "COMPLETE")
            .count()
    };
    assert_eq!(
        (
            completed_on("FP&A"),
            completed_on("Sales Forecast"),
            completed_on("Supply Chain")
        ),
        (3, 1, 1)
    );

    // Every dataset: rows as generated, a manifest written after it with the export's hash.
    for (name, export) in [
        ("revenue", REVENUE),
        ("headcount", HEADCOUNT),
        ("margin", MARGIN),
        ("pipeline", PIPELINE),
        ("inventory", INVENTORY),
    ] {
        let r = report(&round, name);
        assert_eq!(r.rows, rows_of(&sim, export).await, "{name}");
        assert_eq!(
            r.content_sha256.as_deref(),
            Some(served_sha256(&sim, export).as_str()),
            "{name}"
        );
        assert!(r.manifest.is_some() && r.task_id.is_some(), "{name}");
    }
    let table = Table::read(&d.join("revenue.parquet"));
    assert_eq!(table.num_rows(), 3_000);
    let manifest = json_file(&d.join("revenue.parquet.manifest.json"));
    assert_eq!(manifest["run_id"], round.run_id.as_str());
    assert_eq!(manifest["dataset"], "revenue");
    assert_eq!(manifest["rows"], 3_000);
    assert_eq!(manifest["mode"], "replace");
    assert_eq!(manifest["workspace"]["name"], "Financial Planning");
    assert_eq!(
        manifest["model"]["id"],
        sim.model_id("FP&A").unwrap().as_str()
    );
    assert_eq!(manifest["export"]["name"], REVENUE);
    assert_eq!(
        Some(manifest["task_id"].as_str().unwrap()),
        table.meta("anaplan.task.id")
    );
    assert_eq!(
        manifest["content_sha256"],
        served_sha256(&sim, REVENUE).as_str()
    );
    assert_eq!(
        manifest["schema"].as_array().unwrap().len(),
        table.names().len()
    );

    // Append datasets: one part and the manifest in the prefix.
    let margin = dir_entries(&d.join("margin"));
    assert_eq!(margin.len(), 2, "{margin:?}");
    assert!(
        margin[0] == "_manifest.json" && margin[1].starts_with("part-"),
        "{margin:?}"
    );
    let manifest = json_file(&d.join("margin/_manifest.json"));
    assert_eq!(manifest["mode"], "append");
    assert!(manifest["location"].as_str().unwrap().ends_with(&margin[1]));
    let keys = s3.keys("lake");
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.contains(&"headcount.parquet".to_owned()), "{keys:?}");
    assert!(
        keys.contains(&"headcount.parquet.manifest.json".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"pipeline/_manifest.json".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("pipeline/part-")),
        "{keys:?}"
    );
    let pipeline: serde_json::Value =
        serde_json::from_slice(&s3.get("lake", "pipeline/_manifest.json").await).unwrap();
    assert_eq!(pipeline["rows"], 5_000);
    assert!(s3.pending_uploads_settled().await.is_empty());
    client.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_datasets_of_one_export_take_turns_from_task_to_download() {
    let sim = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let datasets = vec![
        dataset(
            "latest",
            FPA,
            REVENUE,
            local(&d.join("latest.parquet"), WriteMode::Replace),
        ),
        dataset(
            "history",
            FPA,
            REVENUE,
            local(&d.join("history"), WriteMode::Append),
        ),
    ];
    let client = admin(&sim);
    let round = jobs::run_round(&client, &datasets, &RunOptions::default(), &Shutdown::new())
        .await
        .unwrap();
    assert!(
        round.datasets.iter().all(|r| r.status == Status::Ok),
        "{round:#?}"
    );
    assert_eq!(report(&round, "latest").rows, 3_000);
    assert_eq!(report(&round, "history").rows, 3_000);
    // The second task starts only once the first one's file is downloaded whole: every chunk
    // GET between the two task POSTs, none after the second before its own.
    let requests = sim.requests();
    let posts: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST" && r.path.ends_with("/tasks"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    let chunks = sim.file_content(REVENUE).unwrap().0.chunk_count(16 << 10);
    let gets_between = requests[posts[0]..posts[1]]
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/chunks/"))
        .count() as u64;
    assert_eq!(gets_between, chunks);
    client.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_dataset_does_not_stop_the_others_unless_fail_fast() {
    let sim = tenant().await;
    sim.set_export_faults(HEADCOUNT, "task-fail".parse::<FaultSpec>().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let datasets = vec![
        dataset(
            "headcount",
            FPA,
            HEADCOUNT,
            local(&d.join("headcount.parquet"), WriteMode::Replace),
        ),
        dataset(
            "revenue",
            FPA,
            REVENUE,
            local(&d.join("revenue.parquet"), WriteMode::Replace),
        ),
        dataset(
            "nosuch",
            FPA,
            "No Such Export",
            local(&d.join("nosuch.parquet"), WriteMode::Replace),
        ),
        dataset(
            "inventory",
            SUPPLY,
            INVENTORY,
            local(&d.join("inventory.parquet"), WriteMode::Replace),
        ),
    ];
    let client = admin(&sim);
    let round = jobs::run_round(&client, &datasets, &RunOptions::default(), &Shutdown::new())
        .await
        .unwrap();
    assert_eq!(report(&round, "revenue").status, Status::Ok);
    assert_eq!(report(&round, "inventory").status, Status::Ok);
    let failed = report(&round, "headcount");
    assert_eq!(failed.status, Status::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("failed in Anaplan"),
        "{failed:?}"
    );
    assert_eq!(failed.exit_code, Some(4));
    let unknown = report(&round, "nosuch");
    assert_eq!(unknown.status, Status::Failed);
    assert!(
        unknown
            .error
            .as_deref()
            .unwrap()
            .contains("no export named \"No Such Export\"")
    );
    assert_eq!(round.exit_class(), ExitClass::Failure);
    // The failed datasets left nothing behind, not even a manifest.
    assert_eq!(
        dir_entries(d),
        [
            "inventory.parquet",
            "inventory.parquet.manifest.json",
            "revenue.parquet",
            "revenue.parquet.manifest.json"
        ]
    );

    // --fail-fast, one at a time: the first dataset (headcount) fails, the rest never start.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let datasets = vec![
        dataset(
            "headcount",
            FPA,
            HEADCOUNT,
            local(&d.join("headcount.parquet"), WriteMode::Replace),
        ),
        dataset(
            "revenue",
            FPA,
            REVENUE,
            local(&d.join("revenue.parquet"), WriteMode::Replace),
        ),
        dataset(
            "inventory",
            SUPPLY,
            INVENTORY,
            local(&d.join("inventory.parquet"), WriteMode::Replace),
        ),
    ];
    let tasks_before = sim.task_log().len();
    let options = RunOptions {
        parallel: 1,
        fail_fast: true,
        ..RunOptions::default()
    };
    let round = jobs::run_round(&client, &datasets, &options, &Shutdown::new())
        .await
        .unwrap();
    let statuses: Vec<Status> = round.datasets.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::NotRun, Status::NotRun]);
    assert!(
        report(&round, "revenue")
            .error
            .as_deref()
            .unwrap()
            .contains("--fail-fast")
    );
    assert!(dir_entries(d).is_empty());
    // Only the failed dataset's task ran.
    let started: Vec<String> = sim.task_log()[tasks_before..]
        .iter()
        .map(|e| e.task_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    client.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_unchanged_skips_the_second_run_and_writes_after_a_change() {
    let sim = tenant().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let datasets = vec![
        dataset(
            "revenue",
            FPA,
            REVENUE,
            local(&d.join("revenue.parquet"), WriteMode::Replace),
        ),
        dataset(
            "margin",
            FPA,
            MARGIN,
            local(&d.join("margin"), WriteMode::Append),
        ),
    ];
    let client = admin(&sim);
    let options = RunOptions {
        skip_unchanged: true,
        ..RunOptions::default()
    };
    let shutdown = Shutdown::new();
    let run = || jobs::run_round(&client, &datasets, &options, &shutdown);
    let first = run().await.unwrap();
    assert!(
        first.datasets.iter().all(|d| d.status == Status::Ok),
        "{first:#?}"
    );
    let written = std::fs::read(d.join("revenue.parquet")).unwrap();

    let second = run().await.unwrap();
    for r in &second.datasets {
        assert_eq!(r.status, Status::Unchanged, "{r:#?}");
        assert_eq!(r.content_sha256, report(&first, &r.name).content_sha256);
        assert_eq!((r.manifest.as_deref(), r.location.as_deref()), (None, None));
    }
    assert_eq!(second.exit_class(), ExitClass::Success);
    // Nothing was written: the same file, one part, the first run's manifests.
    assert_eq!(std::fs::read(d.join("revenue.parquet")).unwrap(), written);
    assert_eq!(dir_entries(&d.join("margin")).len(), 2);
    assert_eq!(
        json_file(&d.join("margin/_manifest.json"))["run_id"],
        first.run_id.as_str()
    );
    assert_eq!(
        dir_entries(d),
        ["margin", "revenue.parquet", "revenue.parquet.manifest.json"],
        "no temporary file left behind"
    );

    // The export changes: written again; the other stays skipped.
    sim.update_export(REVENUE, |e| e.generator.seed += 1)
        .unwrap();
    let third = run().await.unwrap();
    assert_eq!(report(&third, "revenue").status, Status::Ok);
    assert_eq!(report(&third, "margin").status, Status::Unchanged);
    assert_ne!(
        report(&third, "revenue").content_sha256,
        report(&first, "revenue").content_sha256
    );
    assert_eq!(
        json_file(&d.join("revenue.parquet.manifest.json"))["run_id"],
        third.run_id.as_str()
    );

    // Data gone but manifest there: written again, not skipped.
    std::fs::remove_file(d.join("revenue.parquet")).unwrap();
    let fourth = run().await.unwrap();
    assert_eq!(report(&fourth, "revenue").status, Status::Ok);
    assert!(d.join("revenue.parquet").is_file());
    client.logout().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_downloads_wait_for_the_shared_budget() {
    let sim = tenant().await;
    let client = admin(&sim);
    let info = sim.export(REVENUE).unwrap();
    crate::client::run_task(
        &client,
        &anaplan_parquet::anaplan::task::ExportRef {
            workspace_id: info.workspace_id.clone(),
            model_id: info.model_id.clone(),
            export_id: info.export_id.clone(),
        },
    )
    .await;
    let file = FileRef {
        workspace_id: info.workspace_id,
        model_id: info.model_id,
        file_id: info.export_id,
    };
    let budget = Arc::new(Semaphore::new(1));
    let source = ExportSource::list(client.clone(), file, 8, Progress::new())
        .await
        .unwrap()
        .with_budget(Arc::clone(&budget));
    assert!(source.chunk_count() > 1);
    let chunk_gets = || {
        sim.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/chunks/"))
            .count()
    };
    // The only permit is taken: the downloads wait for it, whatever the source's own
    // concurrency. Proof without a clock: closing the budget under them fails them, and no
    // chunk was requested.
    let held = Arc::clone(&budget).acquire_owned().await.unwrap();
    let mut stream = source.open().await.unwrap();
    assert!(futures::poll!(stream.next()).is_pending());
    budget.close();
    let first = stream.next().await.expect("an item");
    let e = first.expect_err("the downloads were waiting for the budget");
    assert!(e.to_string().contains("budget was closed"), "{e}");
    assert_eq!(chunk_gets(), 0);
    drop(stream);
    drop(held);

    // With a permit held again on a fresh budget: given back, every chunk arrives, in order.
    let budget = Arc::new(Semaphore::new(1));
    let source = source.with_budget(Arc::clone(&budget));
    let held = Arc::clone(&budget).acquire_owned().await.unwrap();
    let mut stream = source.open().await.unwrap();
    assert!(futures::poll!(stream.next()).is_pending());
    assert_eq!(chunk_gets(), 0);
    drop(held);
    let mut n = 0;
    while let Some(piece) = stream.next().await {
        assert_eq!(piece.unwrap().chunk, Some(n));
        n += 1;
    }
    assert_eq!(n as usize, source.chunk_count());
    assert_eq!(budget.available_permits(), 1);
    client.logout().await;
}

// ---- the binary ------------------------------------------------------------------------------

/// `anaplan-parquet` with a clean environment: the admin's password in `JOBS_PW` (the jobs
/// file names it), the S3 server's keys in the standard variables.
pub(crate) fn bin() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("anaplan-parquet").unwrap();
    cmd.env_clear()
        .env("JOBS_PW", PASSWORD)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    cmd
}

/// A jobs file for the simulator: connection, fast polling, then `datasets`.
pub(crate) fn jobs_file(dir: &Path, sim: &SimulatorHandle, datasets: &str) -> std::path::PathBuf {
    let text = format!(
        "[connection]\napi_url = \"{url}\"\nauth_url = \"{url}\"\nusername = \"{ADMIN}\"\n\
         password_env = \"JOBS_PW\"\nmax_retries = 3\n\n\
         [defaults]\nworkspace = \"Financial Planning\"\nmodel = \"FP&A\"\npoll_interval = \"50ms\"\n\n\
         {datasets}",
        url = sim.base_url()
    );
    let path = dir.join("jobs.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `[[dataset]]` tables writing into `out`.
fn five_local_datasets(out: &Path) -> String {
    let o = out.display();
    format!(
        "[[dataset]]\nname = \"revenue\"\nexport = \"{REVENUE}\"\noutput = \"{o}/revenue.parquet\"\n\n\
         [[dataset]]\nname = \"headcount\"\nexport = \"{HEADCOUNT}\"\noutput = \"{o}/headcount.parquet\"\n\n\
         [[dataset]]\nname = \"margin\"\nexport = \"{MARGIN}\"\noutput = \"{o}/margin\"\nmode = \"append\"\n\n\
         [[dataset]]\nname = \"pipeline\"\nmodel = \"Sales Forecast\"\nexport = \"{PIPELINE}\"\noutput = \"{o}/pipeline.parquet\"\n\n\
         [[dataset]]\nname = \"inventory\"\nworkspace = \"Operations\"\nmodel = \"Supply Chain\"\nexport = \"{INVENTORY}\"\noutput = \"{o}/inventory.parquet\"\n"
    )
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn names_with_status(round: &serde_json::Value, status: &str) -> Vec<String> {
    round["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == status)
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_mixed_destinations_reports_json_and_exits_by_outcome() {
    let sim = Arc::new(tenant().await);
    let s3 = Arc::new(S3Server::start().await);
    s3.create_bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let s3_settings = format!(
        "s3_endpoint = \"{}\"\ns3_region = \"us-east-1\"\ns3_path_style = true\nallow_http = true\n",
        s3.endpoint
    );
    let datasets = format!(
        "[[dataset]]\nname = \"revenue\"\nexport = \"{REVENUE}\"\noutput = \"{o}/revenue.parquet\"\n\n\
         [[dataset]]\nname = \"headcount\"\nexport = \"{HEADCOUNT}\"\noutput = \"s3://lake/hc/\"\nmode = \"append\"\n{s3_settings}\n\
         [[dataset]]\nname = \"inventory\"\nworkspace = \"Operations\"\nmodel = \"Supply Chain\"\nexport = \"{INVENTORY}\"\noutput = \"s3://lake/inventory.parquet\"\n{s3_settings}",
        o = out.display()
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);
    let (s, d) = (Arc::clone(&sim), dir.path().to_owned());
    tokio::task::spawn_blocking(move || {
        // All succeed: exit 0, one JSON object.
        let ok = bin().arg("run").arg(&jobs).arg("--json").assert().code(0);
        let rounds = json_lines(&ok.get_output().stdout);
        assert_eq!(rounds.len(), 1);
        let round = &rounds[0];
        assert_eq!(
            names_with_status(round, "ok"),
            ["revenue", "headcount", "inventory"]
        );
        let hc = &round["datasets"][1];
        assert_eq!(hc["rows"], 2_000);
        assert!(hc["location"].as_str().unwrap().starts_with("s3://lake/hc/part-"));
        assert_eq!(hc["manifest"], "s3://lake/hc/_manifest.json");
        assert_eq!(hc["workspace"]["name"], "Financial Planning");
        assert!(hc["content_sha256"].as_str().unwrap().len() == 64);
        assert!(round["run_id"].as_str().unwrap().len() > 16);

        // The table on stdout, with its columns.
        let table = bin().arg("run").arg(&jobs).assert().code(0);
        let text = String::from_utf8_lossy(&table.get_output().stdout).to_string();
        for word in ["dataset", "status", "rows", "bytes", "duration", "output", "error", "revenue", "3000"] {
            assert!(text.contains(word), "{word}: {text}");
        }

        // One dataset fails: exit 1, the others are written.
        s.set_export_faults(HEADCOUNT, "task-fail".parse::<FaultSpec>().unwrap())
            .unwrap();
        let failed = bin().arg("run").arg(&jobs).arg("--json").assert().code(1);
        let round = &json_lines(&failed.get_output().stdout)[0];
        assert_eq!(names_with_status(round, "failed"), ["headcount"]);
        assert_eq!(names_with_status(round, "ok"), ["revenue", "inventory"]);
        assert_eq!(round["datasets"][1]["exit_code"], 4);

        // A wrong password: exit 3, nothing run, the password nowhere.
        let bad = bin()
            .env("JOBS_PW", "wrong-hunter2")
            .arg("run")
            .arg(&jobs)
            .assert()
            .code(3);
        let all = format!("{:?}", bad.get_output());
        assert!(!all.contains("wrong-hunter2"), "{all}");

        // An invalid jobs file: exit 2, every problem listed, nothing run.
        let broken = d.join("broken.toml");
        std::fs::write(
            &broken,
            "[[dataset]]\nname = \"a\"\nexport = \"E\"\nouput = \"x\"\n\n[[dataset]]\nexport = \"F\"\n",
        )
        .unwrap();
        let usage = bin().arg("run").arg(&broken).assert().code(2);
        let stderr = String::from_utf8_lossy(&usage.get_output().stderr).to_string();
        for words in [
            "a: unknown key `ouput` (did you mean `output`?)",
            "a: `output` is required",
            "#2: `name` is required",
            "no Anaplan credentials",
        ] {
            assert!(stderr.contains(words), "{words}: {stderr}");
        }
        // Bad arguments: exit 2.
        bin().arg("run").arg(&jobs).args(["--shard", "3/3"]).assert().code(2);
        bin().arg("run").arg(&jobs).args(["--only", "nope"]).assert().code(2);
    })
    .await
    .unwrap();
    assert!(s3.pending_uploads_settled().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_cover_every_dataset_once_and_only_picks_by_name() {
    let sim = Arc::new(tenant().await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let jobs = jobs_file(dir.path(), &sim, &five_local_datasets(&out));
    let (s, o) = (Arc::clone(&sim), out.clone());
    tokio::task::spawn_blocking(move || {
        let mut seen: Vec<String> = Vec::new();
        for shard in ["0/3", "1/3", "2/3"] {
            let run = bin()
                .arg("run")
                .arg(&jobs)
                .args(["--shard", shard, "--json"])
                .assert()
                .code(0);
            let round = &json_lines(&run.get_output().stdout)[0];
            let names = names_with_status(round, "ok");
            assert_eq!(names.len(), round["datasets"].as_array().unwrap().len());
            seen.extend(names);
        }
        seen.sort();
        assert_eq!(
            seen,
            ["headcount", "inventory", "margin", "pipeline", "revenue"]
        );
        // Position modulo 3: 0/3 has the 1st and 4th datasets.
        let run = bin()
            .arg("run")
            .arg(&jobs)
            .args([
                "--shard",
                "0/3",
                "--json",
                "--only",
                "pipeline",
                "--only",
                "headcount",
            ])
            .assert()
            .code(0);
        let round = &json_lines(&run.get_output().stdout)[0];
        assert_eq!(names_with_status(round, "ok"), ["pipeline"]);
        let run = bin()
            .arg("run")
            .arg(&jobs)
            .args(["--json", "--only", "inventory", "--only", "revenue"])
            .assert()
            .code(0);
        let round = &json_lines(&run.get_output().stdout)[0];
        assert_eq!(names_with_status(round, "ok"), ["revenue", "inventory"]);
        assert_eq!(s.task_concurrency().values().max(), Some(&1));
        assert!(o.join("margin/_manifest.json").is_file());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_an_unknown_name_and_a_bad_output_together_and_exports_nothing() {
    let sim = Arc::new(tenant().await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let datasets = format!(
        "[[dataset]]\nname = \"good\"\nexport = \"{REVENUE}\"\noutput = \"{out}/good.parquet\"\n\n\
         [[dataset]]\nname = \"typo\"\nexport = \"Revenue - TCS.csv\"\noutput = \"{out}/typo.parquet\"\n\n\
         [[dataset]]\nname = \"badurl\"\nexport = \"{HEADCOUNT}\"\noutput = \"ftp://files.example.com/hc.parquet\"\n\n\
         [[dataset]]\nname = \"nodir\"\nexport = \"{MARGIN}\"\noutput = \"{out}/missing/dir/m.parquet\"\n"
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);
    let s = Arc::clone(&sim);
    tokio::task::spawn_blocking(move || {
        let checked = bin().arg("run").arg(&jobs).arg("--check").assert().code(2);
        let stderr = String::from_utf8_lossy(&checked.get_output().stderr).to_string();
        assert!(stderr.contains("3 problem(s)"), "{stderr}");
        assert!(
            stderr.contains("typo: no export named \"Revenue - TCS.csv\""),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "badurl: output: unsupported destination ftp://files.example.com/hc.parquet"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("nodir: cannot write") && stderr.contains("does not exist"),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&checked.get_output().stdout).to_string();
        assert!(
            stdout.contains("good") && stdout.contains("116"),
            "{stdout}"
        );

        let json = bin()
            .arg("run")
            .arg(&jobs)
            .args(["--check", "--json"])
            .assert()
            .code(2);
        let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["problems"].as_array().unwrap().len(), 3);
        assert_eq!(v["datasets"][0]["ok"], true);
        assert_eq!(v["datasets"][0]["export"]["name"], REVENUE);

        // Only the good dataset: no problem, exit 0.
        bin()
            .arg("run")
            .arg(&jobs)
            .args(["--check", "--only", "good"])
            .assert()
            .code(0);
        // No task was started and nothing written.
        assert!(s.task_log().is_empty());
    })
    .await
    .unwrap();
    assert_eq!(dir_entries(dir.path()), ["jobs.toml"]);
}

/// Sends SIGTERM to a process.
fn terminate(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repeats_until_sigterm_and_stops_cleanly() {
    let sim = Arc::new(tenant().await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let datasets = format!(
        "[[dataset]]\nname = \"revenue\"\nexport = \"{REVENUE}\"\noutput = \"{}/revenue.parquet\"\n",
        out.display()
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);
    let (s, o) = (Arc::clone(&sim), out.clone());
    tokio::task::spawn_blocking(move || {
        // Between rounds: SIGTERM after the first round's report ends the schedule with 0.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
            .env_clear()
            .env("JOBS_PW", PASSWORD)
            .arg("run")
            .arg(&jobs)
            .args(["--every", "1h", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first: serde_json::Value =
            serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(names_with_status(&first, "ok"), ["revenue"]);
        terminate(child.id());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0));
        assert!(lines.next().is_none(), "no second round");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains("round 1 starting"), "{stderr}");
        assert!(stderr.contains("next round in"), "{stderr}");
        assert!(
            stderr.contains("SIGTERM received between rounds"),
            "{stderr}"
        );

        // During a round: the running task is cancelled, nothing is written, exit 143.
        std::fs::remove_dir_all(&o).unwrap();
        std::fs::create_dir(&o).unwrap();
        s.set_task_duration(Duration::from_mins(10));
        let tasks_before = s.task_log().len();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
            .env_clear()
            .env("JOBS_PW", PASSWORD)
            .arg("run")
            .arg(&jobs)
            .args(["--every", "1h", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut waited = 0;
        while !s.task_log()[tasks_before..]
            .iter()
            .any(|e| e.state == "IN_PROGRESS")
        {
            std::thread::sleep(Duration::from_millis(20));
            waited += 1;
            assert!(waited < 1500, "the task never started");
        }
        terminate(child.id());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(143));
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
        let round = &json_lines(stdout.as_bytes())[0];
        assert_eq!(names_with_status(round, "cancelled"), ["revenue"]);
        assert_eq!(round["interrupted"], "SIGTERM");
        assert!(
            s.task_log()[tasks_before..]
                .iter()
                .any(|e| e.state == "CANCELLING" || e.state == "CANCELLED")
        );
        assert!(dir_entries(&o).is_empty(), "{:?}", dir_entries(&o));

        // A failed round (the sign-in is refused) does not end the schedule.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
            .env_clear()
            .env("JOBS_PW", "wrong-password")
            .arg("run")
            .arg(&jobs)
            .args(["--every", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = Vec::new();
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.contains("round 2 failed");
            log.push(line);
            if done {
                break;
            }
        }
        terminate(child.id());
        assert_eq!(child.wait().unwrap().code(), Some(0));
        let log = log.join("\n");
        assert!(
            log.contains("round 1 failed: authentication failed"),
            "{log}"
        );
        assert!(!log.contains("wrong-password"), "{log}");
    })
    .await
    .unwrap();
}
