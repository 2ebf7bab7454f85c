//! `export` end to end against the in-process simulator: the task runs, the chunks download
//! concurrently, the engine writes Parquet, and the file read back equals the generator's
//! ground truth value by value. Also the failure paths and the command line itself.

use std::path::Path;
use std::sync::Arc;

use anaplan_parquet::Progress;
use anaplan_parquet::anaplan::{AnaplanClient, ApiVersion};
use anaplan_parquet::convert::{self, EngineOptions, RunContext};
use anaplan_parquet::error::Error;
use anaplan_parquet::export::{ExportJob, ExportReport, engine_options, run_export};
use anaplan_parquet::generate::{GeneratedRow, Generator};
use anaplan_parquet::simulator::SimulatorHandle;
use anaplan_parquet::sink::Destination;
use anaplan_parquet::source::export::{ExportSource, FileRef};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::client::{
    MAIN_EXPORT, MODEL, WORKSPACE, basic, certificate, config, connect, expected_bytes, quick_poll,
    tenant_with_certificate,
};
use crate::support::sim::{self, PASSWORD, USER};

/// A job for an export of the default tenant, polling fast.
fn job(model: &str, export: &str, concurrency: usize) -> ExportJob {
    let mut job = ExportJob::new(WORKSPACE, model, export);
    job.poll = quick_poll();
    job.concurrency = concurrency;
    job
}

async fn export_to(
    client: &AnaplanClient,
    job: &ExportJob,
    out: &Path,
) -> anaplan_parquet::Result<ExportReport> {
    let destination = Destination::parse(out.to_str().unwrap())?;
    run_export(
        client,
        job,
        &destination,
        EngineOptions::default(),
        &RunContext::default(),
        &|_| {},
    )
    .await
}

/// Every batch of a Parquet file, and its key-value metadata.
fn read_back(path: &Path) -> (Vec<RecordBatch>, Vec<(String, String)>) {
    let file = std::fs::File::open(path).expect("parquet file");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let batches = builder
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches");
    (batches, kv)
}

/// The text a typed cell stands for, to compare with the generator's exact text.
fn cell_matches(array: &dyn Array, i: usize, expected: Option<&str>) -> bool {
    if array.is_null(i) {
        return expected.is_none_or(str::is_empty);
    }
    let Some(expected) = expected else {
        return array.data_type() == &DataType::Utf8
            && array.as_string::<i32>().value(i).is_empty();
    };
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i) == expected,
        DataType::LargeUtf8 => array.as_string::<i64>().value(i) == expected,
        DataType::Utf8View => array.as_string_view().value(i) == expected,
        DataType::Int64 => {
            expected.parse::<i64>() == Ok(array.as_primitive::<Int64Type>().value(i))
        }
        DataType::Float64 => expected
            .parse::<f64>()
            .is_ok_and(|v| v.to_bits() == array.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Boolean => expected.eq_ignore_ascii_case(if array.as_boolean().value(i) {
            "true"
        } else {
            "false"
        }),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(i);
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(i64::from(days));
            date.format("%Y-%m-%d").to_string() == expected
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// Compares a Parquet file with the generator's rows, value by value.
fn assert_matches_ground_truth(batches: &[RecordBatch], generator: &Generator) {
    let header = generator.header();
    let schema = batches.first().expect("a batch").schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        &names[..header.len()],
        header.iter().map(String::as_str).collect::<Vec<_>>(),
        "header"
    );
    let dims = generator.dimension_count();
    let mut rows = generator.rows();
    let mut n = 0u64;
    for batch in batches {
        for i in 0..batch.num_rows() {
            let row: GeneratedRow = rows
                .next()
                .expect("no more rows in the ground truth than in the file");
            for (d, member) in row.dims.iter().enumerate() {
                assert!(
                    cell_matches(batch.column(d).as_ref(), i, Some(member)),
                    "row {n}, column {}",
                    header[d]
                );
            }
            assert!(
                cell_matches(batch.column(dims).as_ref(), i, Some(&row.line_item)),
                "row {n}: line item"
            );
            assert!(
                cell_matches(batch.column(dims + 1).as_ref(), i, row.value.as_deref()),
                "row {n}: value {:?} ({:?}), column type {}",
                row.value,
                row.kind,
                batch.column(dims + 1).data_type()
            );
            n += 1;
        }
    }
    assert!(
        rows.next().is_none(),
        "the file has fewer rows ({n}) than the ground truth"
    );
}

fn generator(sim: &SimulatorHandle, key: &str) -> Generator {
    Generator::new(sim.export(key).expect("export").config.generator)
}

fn kv_of(kv: &[(String, String)], key: &str) -> String {
    match kv.iter().find(|(k, _)| k == key) {
        Some((_, v)) => v.clone(),
        None => panic!("no {key} in {kv:?}"),
    }
}

#[tokio::test]
async fn export_v2_basic_equals_the_ground_truth() {
    let sim = sim::start(sim::tenant(30_000, 32 << 10, 21)).await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("revenue.parquet");
    let report = export_to(&client, &job(MODEL, MAIN_EXPORT, 8), &out)
        .await
        .unwrap();
    assert_eq!(report.summary.rows, 30_000);
    assert!(report.chunks > 20, "{}", report.chunks);
    let (batches, kv) = read_back(&out);
    assert_matches_ground_truth(&batches, &generator(&sim, MAIN_EXPORT));
    let info = sim.export(MAIN_EXPORT).unwrap();
    assert_eq!(kv_of(&kv, "anaplan.workspace.name"), WORKSPACE);
    assert_eq!(kv_of(&kv, "anaplan.workspace.id"), info.workspace_id);
    assert_eq!(kv_of(&kv, "anaplan.model.name"), MODEL);
    assert_eq!(kv_of(&kv, "anaplan.model.id"), info.model_id);
    assert_eq!(kv_of(&kv, "anaplan.export.name"), MAIN_EXPORT);
    assert_eq!(kv_of(&kv, "anaplan.export.id"), info.export_id);
    assert_eq!(kv_of(&kv, "anaplan.task.id"), report.task_id);
    assert!(kv_of(&kv, "anaplan.export.time").ends_with('Z'));
    client.logout().await;
    let c = sim.counters();
    assert_eq!((c.authentications, c.logouts), (1, 1));
}

#[tokio::test]
async fn export_v1_3_and_certificate_auth_equal_the_ground_truth() {
    let sim = sim::start(tenant_with_certificate(8_000, 16 << 10)).await;
    let dir = tempfile::tempdir().unwrap();
    let clients = [
        (
            "v1.3",
            AnaplanClient::new(config(&sim, ApiVersion::V1_3, basic())).unwrap(),
        ),
        (
            "certificate",
            AnaplanClient::new(config(&sim, ApiVersion::V2, certificate())).unwrap(),
        ),
    ];
    for (name, client) in clients {
        let out = dir.path().join(format!("{name}.parquet"));
        let report = export_to(&client, &job(MODEL, MAIN_EXPORT, 4), &out)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.summary.rows, 8_000, "{name}");
        let (batches, _) = read_back(&out);
        assert_matches_ground_truth(&batches, &generator(&sim, MAIN_EXPORT));
    }
    assert_eq!(sim.counters().certificate_authentications, 1);
}

#[tokio::test]
async fn concurrency_1_and_16_write_identical_data() {
    let sim = sim::start(sim::tenant(20_000, 8 << 10, 22)).await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for concurrency in [1, 16] {
        let out = dir.path().join(format!("c{concurrency}.parquet"));
        export_to(&client, &job(MODEL, MAIN_EXPORT, concurrency), &out)
            .await
            .unwrap();
        results.push(read_back(&out).0);
    }
    assert!(
        results[0] == results[1],
        "the two files hold different data"
    );
    assert_matches_ground_truth(&results[0], &generator(&sim, MAIN_EXPORT));
}

#[tokio::test]
async fn faults_and_token_expiry_do_not_change_the_output() {
    let mut config = sim::tenant(20_000, 8 << 10, 23);
    config.faults =
        "rate-limit=0.05,retry-after=0s,server-error=0.05,reset=0.05,truncate=0.05,token-ttl=1s"
            .parse()
            .unwrap();
    let sim = sim::start(config).await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("faulty.parquet");
    let report = export_to(&client, &job(MODEL, MAIN_EXPORT, 8), &out)
        .await
        .unwrap();
    let (batches, _) = read_back(&out);
    assert_matches_ground_truth(&batches, &generator(&sim, MAIN_EXPORT));
    let retried: u64 = report.summary.retries.iter().map(|(_, n)| n).sum();
    assert!(retried > 0, "{:?}", report.summary.retries);
}

#[tokio::test]
async fn a_utf16_export_is_read_with_the_encoding_its_metadata_gives() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pipeline.parquet");
    let key = "Pipeline - TSC (Excel).csv";
    export_to(&client, &job("Sales Forecast", key, 4), &out)
        .await
        .unwrap();
    let (batches, _) = read_back(&out);
    assert_matches_ground_truth(&batches, &generator(&sim, key));
}

#[tokio::test]
async fn a_header_only_export_gives_a_zero_row_file_with_its_columns() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.parquet");
    let report = export_to(&client, &job(MODEL, "Empty - TSC.csv", 4), &out)
        .await
        .unwrap();
    assert_eq!(report.summary.rows, 0);
    let file = std::fs::File::open(&out).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names[..6], generator(&sim, "Empty - TSC.csv").header()[..]);
    assert_eq!(builder.metadata().file_metadata().num_rows(), 0);
}

#[tokio::test]
async fn a_file_with_no_chunks_gives_a_zero_row_file_from_the_metadata_header() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    let ws = client.find_workspace(WORKSPACE).await.unwrap();
    let model = client.find_model(&ws, MODEL).await.unwrap();
    let export = client.find_export(&ws, &model, MAIN_EXPORT).await.unwrap();
    let metadata = client
        .export_metadata(&ws.id, &model.id, &export.id)
        .await
        .unwrap();
    assert!(!metadata.header_names.is_empty());
    let file = FileRef {
        workspace_id: ws.id.clone(),
        model_id: model.id.clone(),
        file_id: export.id.clone(),
    };
    let prepared = anaplan_parquet::export::PreparedExport {
        workspace: ws,
        model,
        export,
        metadata: Some(metadata.clone()),
        task_id: "T".into(),
        exported_at: std::time::SystemTime::now(),
        file: file.clone(),
    };
    let options = engine_options(&prepared, EngineOptions::default(), true);
    let source = ExportSource::new(client.clone(), file, Vec::new(), 8, Progress::new());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none.parquet");
    let destination = Destination::parse(out.to_str().unwrap()).unwrap();
    let summary = convert::convert(&source, &destination, &options, &RunContext::default())
        .await
        .unwrap();
    assert_eq!(summary.rows, 0);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names[..metadata.header_names.len()],
        metadata.header_names[..]
    );
}

#[tokio::test]
async fn a_failed_task_writes_nothing() {
    let sim = sim::start_default().await;
    sim.set_export_faults(MAIN_EXPORT, "task-fail".parse().unwrap())
        .unwrap();
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failed.parquet");
    let e = export_to(&client, &job(MODEL, MAIN_EXPORT, 4), &out)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ExportFailed(_)), "{e:?}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

#[tokio::test]
async fn task_id_downloads_a_finished_task_without_starting_another() {
    let sim = sim::start_default().await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let first = export_to(
        &client,
        &job(MODEL, MAIN_EXPORT, 4),
        &dir.path().join("a.parquet"),
    )
    .await
    .unwrap();
    let posts = |sim: &SimulatorHandle| {
        sim.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/tasks"))
            .count()
    };
    assert_eq!(posts(&sim), 1);
    let mut again = job(MODEL, MAIN_EXPORT, 4);
    again.task_id = Some(first.task_id.clone());
    let out = dir.path().join("b.parquet");
    let second = export_to(&client, &again, &out).await.unwrap();
    assert_eq!(second.task_id, first.task_id);
    assert_eq!(posts(&sim), 1, "no second task");
    assert_matches_ground_truth(&read_back(&out).0, &generator(&sim, MAIN_EXPORT));
}

#[tokio::test]
async fn keep_csv_keeps_the_raw_bytes() {
    let sim = sim::start(sim::tenant(5_000, 8 << 10, 24)).await;
    let client = connect(&sim, ApiVersion::V2);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("raw.csv");
    let options = EngineOptions {
        keep_input: Some(csv.clone()),
        ..EngineOptions::default()
    };
    let destination = Destination::parse(dir.path().join("k.parquet").to_str().unwrap()).unwrap();
    run_export(
        &client,
        &job(MODEL, MAIN_EXPORT, 8),
        &destination,
        options,
        &RunContext::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(
        std::fs::read(&csv).unwrap() == expected_bytes(&sim, MAIN_EXPORT).await,
        "raw CSV differs"
    );
}

// ---- the binary ------------------------------------------------------------------------------

fn cli(sim: &SimulatorHandle, password: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("anaplan-parquet").unwrap();
    cmd.env_clear()
        .env("ANAPLAN_API_URL", sim.base_url())
        .env("ANAPLAN_AUTH_URL", sim.base_url())
        .env("ANAPLAN_USERNAME", USER)
        .env("ANAPLAN_PASSWORD", password)
        .env("NO_COLOR", "1");
    cmd
}

#[tokio::test]
async fn the_command_line_exports_and_reports_with_documented_exit_codes() {
    let sim = Arc::new(sim::start(sim::tenant(3_000, 8 << 10, 25)).await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cli.parquet");
    let out_s = out.to_str().unwrap().to_owned();
    let s = Arc::clone(&sim);
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let args = [
            "export",
            "-w",
            WORKSPACE,
            "-m",
            MODEL,
            "-e",
            MAIN_EXPORT,
            "-o",
            &out_s,
            "--poll-interval",
            "50ms",
            "--json",
        ];
        let ok = cli(&s, PASSWORD).args(args).assert().code(0);
        let stdout = String::from_utf8(ok.get_output().stdout.clone()).unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert_eq!(summary["rows"], 3_000);
        assert_eq!(summary["anaplan"]["export"]["name"], MAIN_EXPORT);

        let bad = cli(&s, "wrong-hunter2").args(args).assert().code(3);
        let all = format!("{:?}", bad.get_output());
        assert!(!all.contains("wrong-hunter2"), "{all}");

        let missing_out = dir_path.join("missing.parquet");
        let missing = [
            "export",
            "-w",
            WORKSPACE,
            "-m",
            MODEL,
            "-e",
            "No Such Export",
            "-o",
            missing_out.to_str().unwrap(),
        ];
        let nf = cli(&s, PASSWORD).args(missing).assert().code(4);
        let stderr = String::from_utf8_lossy(&nf.get_output().stderr).to_string();
        assert!(
            stderr.contains("no export named \"No Such Export\""),
            "{stderr}"
        );

        let usage = cli(&s, PASSWORD)
            .args([
                "export",
                "-w",
                WORKSPACE,
                "-m",
                MODEL,
                "-e",
                MAIN_EXPORT,
                "-o",
                "x.parquet",
                "--concurrency",
                "0",
            ])
            .assert()
            .code(2);
        assert!(String::from_utf8_lossy(&usage.get_output().stderr).contains("--concurrency"));
    })
    .await
    .unwrap();
    assert_matches_ground_truth(&read_back(&out).0, &generator(&sim, MAIN_EXPORT));
}

#[tokio::test]
async fn discovery_commands_print_tables_and_json() {
    let sim = Arc::new(sim::start_default().await);
    let s = Arc::clone(&sim);
    tokio::task::spawn_blocking(move || {
        let listed = cli(&s, PASSWORD)
            .args(["exports", "-w", WORKSPACE, "-m", MODEL, "--json"])
            .assert()
            .code(0);
        let exports: serde_json::Value =
            serde_json::from_slice(&listed.get_output().stdout).unwrap();
        let names: Vec<&str> = exports
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Revenue - TSC.csv",
                "Headcount - TSC.csv",
                "Margin Summary - TMC.csv",
                "Empty - TSC.csv"
            ]
        );
        let table = cli(&s, PASSWORD).args(["workspaces"]).assert().code(0);
        let text = String::from_utf8_lossy(&table.get_output().stdout).to_string();
        assert!(text.contains(WORKSPACE) && text.contains("Name"), "{text}");
        let models = cli(&s, PASSWORD)
            .args(["models", "--workspace", WORKSPACE])
            .assert()
            .code(0);
        let text = String::from_utf8_lossy(&models.get_output().stdout).to_string();
        assert!(
            text.contains("Sales Forecast") && text.contains("UNLOCKED"),
            "{text}"
        );
        let files = cli(&s, PASSWORD)
            .args(["files", "-w", WORKSPACE, "-m", MODEL])
            .assert()
            .code(0);
        assert!(String::from_utf8_lossy(&files.get_output().stdout).contains("Sales Upload.csv"));

        // Documented exit codes: unknown workspace 4, bad password 3, no credentials 2.
        let nf = cli(&s, PASSWORD)
            .args(["models", "-w", "Nowhere"])
            .assert()
            .code(4);
        assert!(
            String::from_utf8_lossy(&nf.get_output().stderr)
                .contains("no workspace named \"Nowhere\"")
        );
        let bad = cli(&s, "wrong-hunter2")
            .args(["workspaces", "-vv"])
            .assert()
            .code(3);
        let all = format!("{:?}", bad.get_output());
        assert!(!all.contains("wrong-hunter2"), "{all}");
        let mut none = cli(&s, PASSWORD);
        none.env_remove("ANAPLAN_USERNAME")
            .env_remove("ANAPLAN_PASSWORD");
        none.args(["workspaces"]).assert().code(2);
        // A model the user cannot open answers 404: exit 4.
        let hidden = cli(&s, PASSWORD)
            .args(["exports", "-w", "Operations", "-m", "Supply Chain"])
            .assert();
        let code = hidden.get_output().status.code();
        assert!(code == Some(4), "{:?}", hidden.get_output());
    })
    .await
    .unwrap();
    let c = sim.counters();
    assert_eq!(
        c.logouts, c.authentications,
        "every command logs out: {c:?}"
    );
}

#[test]
fn the_demo_runs_offline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.parquet");
    let run = assert_cmd::Command::cargo_bin("anaplan-parquet")
        .unwrap()
        .env_clear()
        .args([
            "demo",
            "--rows",
            "3000",
            "--chunk-size",
            "8KiB",
            "--show",
            "3",
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).to_string();
    assert!(
        stdout.contains("First 3 rows")
            && stdout.contains("anaplan.export.name = Revenue - TSC.csv"),
        "{stdout}"
    );
    assert!(out.is_file());
}
