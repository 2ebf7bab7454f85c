//! README promises about runs, through the real binary against the simulator and the S3 server:
//!
//! - `--fail-fast` cancels the datasets already in flight, cleanly: the export task still
//!   running in Anaplan is cancelled there, a multipart upload under way is aborted, datasets
//!   not started are not started, and nothing of any of them is published;
//! - two overlapping runs on one dataset never corrupt it: replaced objects are whole, each
//!   appended part is whole and uniquely named, the manifest is one run's;
//! - `--task-timeout` from the command line cancels a task that runs too long (exit 4).
//!
//! The order of events is forced with the S3 server's holds (a request waits until the test
//! releases it), not with sleeps.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anaplan_parquet::simulator::{ExportConfig, FaultSpec, SimulatorHandle};

use crate::faults::{Run, wait};
use crate::jobs::jobs_file;
use crate::storage::incompressible_csv;
use crate::support::s3::{ACCESS_KEY, Op, S3Server, SECRET_KEY};
use crate::support::sim::{self, ADMIN, PASSWORD};
use crate::support::{Table, dir_entries, tempdir};

const HEADCOUNT: &str = "Headcount - TSC.csv";
const REVENUE: &str = "Revenue - TSC.csv";
const INVENTORY: &str = "Inventory - TSC.csv";
const PIPELINE: &str = "Pipeline - TSC (Excel).csv";
/// An export of the Sales Forecast model that makes more than one 5 MiB part of Parquet.
const BIG: &str = "Big - TSC.csv";
const BIG_ROWS: usize = 300_000;

/// The longest a child may take to reach a point the test waits for (a debug build, on a busy
/// machine, converting a few MB).
const LIMIT: Duration = Duration::from_mins(3);
/// The longest a child may take to stop once it has nothing left to wait for.
const STOP_LIMIT: Duration = Duration::from_mins(1);

/// The default tenant, plus [`BIG`] in the Sales Forecast model.
async fn tenant() -> SimulatorHandle {
    let mut config = sim::tenant(3_000, 16 << 10, 7);
    config.workspaces[0].models[1]
        .exports
        .push(ExportConfig::fixed(
            BIG,
            incompressible_csv(BIG_ROWS, 5).into_bytes(),
            1 << 20,
        ));
    sim::start(config).await
}

/// The keys that put a dataset on the S3 server.
fn on_s3(s3: &S3Server) -> String {
    format!(
        "s3_endpoint = \"{}\"\ns3_region = \"us-east-1\"\ns3_path_style = true\nallow_http = true\n",
        s3.endpoint
    )
}

/// `anaplan-parquet ARGS` with a clean environment, spawned (stdout and stderr captured).
fn spawn(args: &[&str], jobs: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .env_clear()
        .env("JOBS_PW", PASSWORD)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("run")
        .arg(jobs)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts")
}

/// The dataset named `name` of a `--json` round.
fn dataset<'a>(round: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    round["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no dataset {name} in {round}"))
}

/// Waits until `what` holds, up to `limit`.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The task states the simulator logged for `export`.
fn task_states(sim: &SimulatorHandle, export: &str) -> Vec<String> {
    // Export ids repeat across models: the model tells them apart.
    let info = sim.export(export).unwrap();
    sim.task_log()
        .into_iter()
        .filter(|e| e.export_id == info.export_id && e.model_id == info.model_id)
        .map(|e| e.state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_cancels_the_datasets_in_flight() {
    let sim = tenant().await;
    // Its task never ends on its own.
    sim.set_export_faults(INVENTORY, "task-stuck=10m".parse::<FaultSpec>().unwrap())
        .unwrap();
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let s3_keys = on_s3(&s3);
    // Three at a time: small, big and stuck start at once (three models); revenue waits.
    let datasets = format!(
        "[[dataset]]\nname = \"small\"\nexport = \"{HEADCOUNT}\"\noutput = \"s3://lake/small.parquet\"\nupload_retries = 0\n{s3_keys}\n\
         [[dataset]]\nname = \"big\"\nmodel = \"Sales Forecast\"\nexport = \"{BIG}\"\noutput = \"s3://lake/big.parquet\"\nupload_part_size = \"5MiB\"\n{s3_keys}\n\
         [[dataset]]\nname = \"stuck\"\nworkspace = \"Operations\"\nmodel = \"Supply Chain\"\nexport = \"{INVENTORY}\"\noutput = \"{o}/stuck.parquet\"\n\n\
         [[dataset]]\nname = \"revenue\"\nexport = \"{REVENUE}\"\noutput = \"{o}/revenue.parquet\"\n",
        o = out.display()
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);

    // small's upload (one PUT) and big's parts wait at the server until the test says.
    s3.hold(Op::ObjectPut);
    s3.hold(Op::PartUpload);
    s3.fail(Op::ObjectPut, usize::MAX);
    let started = Instant::now();
    let child = spawn(&["--fail-fast", "--parallel", "3", "--json"], &jobs);
    assert!(
        s3.wait_held(Op::ObjectPut, 1, LIMIT).await,
        "small reached its upload"
    );
    assert!(
        s3.wait_held(Op::PartUpload, 1, LIMIT).await,
        "big reached its multipart upload"
    );
    until("stuck's task running", LIMIT, || {
        task_states(&sim, INVENTORY).contains(&"IN_PROGRESS".to_owned())
    })
    .await;
    assert_eq!(s3.seen(Op::CreateUpload), 1);
    assert!(
        s3.pending_uploads().len() == 1,
        "{:?}",
        s3.pending_uploads()
    );

    // Now small fails (its PUT is refused, no retries): the round stops.
    s3.release(Op::ObjectPut);
    let r: Run = wait(child, started, STOP_LIMIT).await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let round: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one round");
    let small = dataset(&round, "small");
    assert_eq!(small["status"], "failed", "{round}");
    assert!(
        small["error"].as_str().unwrap().contains("SlowDown"),
        "{small}"
    );
    for name in ["big", "stuck"] {
        let d = dataset(&round, name);
        assert_eq!(d["status"], "cancelled", "{name}: {round}");
        assert_eq!(
            d["error"],
            "stopped because dataset \"small\" failed (--fail-fast); nothing was written",
            "{name}"
        );
    }
    let revenue = dataset(&round, "revenue");
    assert_eq!(revenue["status"], "not_run", "{round}");
    assert!(
        revenue["error"].as_str().unwrap().contains("--fail-fast"),
        "{revenue}"
    );

    // Cleanly: stuck's task was cancelled in Anaplan, big's upload aborted (its parts still
    // held: the abort did not wait for them), nothing published anywhere.
    let states = task_states(&sim, INVENTORY);
    assert!(
        states.iter().any(|s| s == "CANCELLING" || s == "CANCELLED"),
        "{states:?}"
    );
    assert!(task_states(&sim, REVENUE).is_empty(), "revenue never ran");
    assert_eq!(s3.seen(Op::AbortUpload), 1);
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());
    assert_eq!(s3.keys("lake"), Vec::<String>::new());
    assert_eq!(dir_entries(&out), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_overlapping_runs_never_corrupt_a_dataset() {
    let sim = tenant().await;
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let s3_keys = on_s3(&s3);
    // The same datasets in both runs: a replaced object, an appended S3 dataset, a replaced
    // local file and an appended local dataset.
    let datasets = format!(
        "[[dataset]]\nname = \"replaced\"\nexport = \"{HEADCOUNT}\"\noutput = \"s3://lake/headcount.parquet\"\n{s3_keys}\n\
         [[dataset]]\nname = \"appended\"\nworkspace = \"Operations\"\nmodel = \"Supply Chain\"\nexport = \"{INVENTORY}\"\noutput = \"s3://lake/inventory/\"\nmode = \"append\"\n{s3_keys}\n\
         [[dataset]]\nname = \"local\"\nexport = \"{REVENUE}\"\noutput = \"{o}/revenue.parquet\"\n\n\
         [[dataset]]\nname = \"local_appended\"\nmodel = \"Sales Forecast\"\nexport = \"{PIPELINE}\"\noutput = \"{o}/pipeline\"\nmode = \"append\"\n",
        o = out.display()
    );
    let jobs = jobs_file(dir.path(), &sim, &datasets);

    // The appended dataset lists its prefix twice per run (the check before the export, then
    // at the start of the attempt, where the part is named): both runs take each step together,
    // so both name their parts in the same second. Then every upload (two replaced, two
    // appended) waits until all four are there, and they are let go at once.
    s3.line_up(Op::List, "prefix=inventory", 2, 2);
    s3.hold(Op::ObjectPut);
    let started = Instant::now();
    let first = spawn(&["--json"], &jobs);
    let second = spawn(&["--json"], &jobs);
    assert!(
        s3.wait_held(Op::ObjectPut, 4, LIMIT).await,
        "both runs publishing both datasets"
    );
    assert_eq!(s3.lined_up(), 4, "both runs lined up twice");
    s3.release(Op::ObjectPut);
    let (a, b) = tokio::join!(
        wait(first, started, STOP_LIMIT),
        wait(second, started, STOP_LIMIT)
    );
    let mut run_ids = Vec::new();
    for r in [&a, &b] {
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let round: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("a round");
        for d in round["datasets"].as_array().unwrap() {
            assert_eq!(d["status"], "ok", "{round}");
        }
        run_ids.push(round["run_id"].as_str().unwrap().to_owned());
    }
    assert_ne!(run_ids[0], run_ids[1]);

    // The replaced object: whole. The appended dataset: two whole parts, named apart.
    let replaced = Table::from_bytes(s3.get("lake", "headcount.parquet").await);
    assert_eq!(replaced.num_rows(), 2_000);
    let keys = s3.keys("lake");
    let parts: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("inventory/part-") && k.ends_with(".parquet"))
        .collect();
    assert_eq!(parts.len(), 2, "{keys:?}");
    for part in &parts {
        assert_eq!(
            Table::from_bytes(s3.get("lake", part).await).num_rows(),
            1_000
        );
    }
    // Each manifest is whole and one run's.
    for manifest in [
        "headcount.parquet.manifest.json",
        "inventory/_manifest.json",
    ] {
        let m: serde_json::Value =
            serde_json::from_slice(&s3.get("lake", manifest).await).expect("a JSON manifest");
        assert!(
            run_ids.contains(&m["run_id"].as_str().unwrap().to_owned()),
            "{manifest}: {m}"
        );
    }
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
    // Locally: the replaced file and the two appended parts are whole; no temporary file.
    assert_eq!(Table::read(&out.join("revenue.parquet")).num_rows(), 3_000);
    let pipeline = dir_entries(&out.join("pipeline"));
    let local_parts: Vec<&String> = pipeline
        .iter()
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(local_parts.len(), 2, "{pipeline:?}");
    for part in &local_parts {
        assert_eq!(
            Table::read(&out.join("pipeline").join(part)).num_rows(),
            5_000
        );
    }
    assert_eq!(
        pipeline.len(),
        3,
        "two parts and the manifest: {pipeline:?}"
    );
    assert_eq!(
        dir_entries(&out),
        [
            "pipeline",
            "revenue.parquet",
            "revenue.parquet.manifest.json"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_timeout_from_the_command_line_cancels_the_task() {
    let sim = tenant().await;
    sim.set_export_faults(HEADCOUNT, "task-stuck=10m".parse::<FaultSpec>().unwrap())
        .unwrap();
    let dir = tempdir();
    let out = dir.path().join("hc.parquet");
    std::fs::write(&out, b"previous").unwrap();
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-parquet"))
        .env_clear()
        .env("ANAPLAN_API_URL", sim.base_url())
        .env("ANAPLAN_AUTH_URL", sim.base_url())
        .env("ANAPLAN_USERNAME", ADMIN)
        .env("ANAPLAN_PASSWORD", PASSWORD)
        .args([
            "export",
            "-w",
            "Financial Planning",
            "-m",
            "FP&A",
            "-e",
            HEADCOUNT,
        ])
        .arg("-o")
        .arg(&out)
        .args(["--poll-interval", "50ms", "--task-timeout", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let r = wait(child, started, STOP_LIMIT).await;
    assert_eq!(r.code, Some(4), "{}", r.stderr);
    let error = r.stderr.trim_end().lines().last().unwrap();
    assert!(
        error.contains("did not finish within 1s; it was cancelled"),
        "{}",
        r.stderr
    );
    // Stopped at the limit, not at the task's own end (10 minutes away).
    assert!(r.elapsed < Duration::from_mins(1), "{:?}", r.elapsed);
    let states = task_states(&sim, HEADCOUNT);
    assert!(states.contains(&"IN_PROGRESS".to_owned()), "{states:?}");
    assert!(
        states.iter().any(|s| s == "CANCELLING" || s == "CANCELLED"),
        "cancelled in Anaplan: {states:?}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
    assert_eq!(dir_entries(dir.path()), ["hc.parquet"]);
}
