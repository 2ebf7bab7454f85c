//! `anaplan-parquet demo`: the main job against the embedded simulator, with no account, no
//! network and no setup.
//!
//! Starts the simulator on a free loopback port (its default tenant, whose main export is a
//! few hundred MB of Tabular Single Column CSV cut into many chunks), signs in as its demo user,
//! shows the workspaces, models and exports it finds, runs the export with progress into
//! `demo.parquet` (or `--output`), and prints the summary, the schema and the first rows.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::GlobalArgs;
use super::discovery::{render_table, write_stdout};
use super::display::Display;
use super::engine_args::EngineArgs;
use super::export::print_report;
use super::read::print_read_report;
use crate::anaplan::task::PollOptions;
use crate::anaplan::{AnaplanClient, ConnectionConfig, Credentials};
use crate::convert::RunContext;
use crate::error::{Error, Result};
use crate::export::{ExportJob, run_export};
use crate::read::{ReadJob, ReadObject, run_read};
use crate::secret::Secret;
use crate::simulator::{DEFAULT_PASSWORD, DEFAULT_USERNAME, FaultSpec, Simulator, SimulatorConfig};
use crate::sink::Destination;
use crate::units::parse_size;

/// Rows of the demo export: about 270 MB of CSV.
pub const DEMO_ROWS: u64 = 5_000_000;

/// The export the demo runs.
const DEMO_EXPORT: &str = "Revenue - TSC.csv";

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the Parquet file.
    #[arg(long, short = 'o', default_value = "demo.parquet", value_name = "DEST")]
    pub output: String,

    /// Rows of the simulated export (the default is about 270 MB of CSV).
    #[arg(long, default_value_t = DEMO_ROWS, value_name = "N")]
    pub rows: u64,

    /// Chunk size of the simulated export file.
    #[arg(long, default_value = "4MiB", value_parser = parse_size, value_name = "BYTES")]
    pub chunk_size: u64,

    /// Chunks downloaded at once.
    #[arg(long, default_value_t = crate::source::export::DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,

    /// Faults for the simulator to inject, e.g. `bandwidth=20MB,latency=50ms` to see the
    /// concurrency pay off, or `rate-limit=0.05,reset=0.02` to see retries (see `simulator
    /// --help`).
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,

    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42, value_name = "S")]
    pub seed: u64,

    /// Rows shown at the end.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,

    /// Print only the run summary, as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Read this view of model FP&A through a large-volume read request instead of running
    /// the export (e.g. `"REV01 Revenue"`: 240,000 rows × 6 line items).
    #[arg(long, value_name = "NAME")]
    pub view: Option<String>,

    /// CSV, schema and Parquet options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs `demo`.
pub async fn run(args: DemoArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let options = args.engine.to_options()?;
    let destination = Destination::parse(&args.output)?;
    if args.concurrency == 0 || args.concurrency > crate::settings::export::MAX_CONCURRENCY {
        return Err(Error::usage(format!(
            "--concurrency must be between 1 and {}",
            crate::settings::export::MAX_CONCURRENCY
        )));
    }
    if args.chunk_size < 1024 {
        return Err(Error::usage("--chunk-size must be at least 1KiB"));
    }
    let mut config = SimulatorConfig::default_tenant(
        DEFAULT_USERNAME,
        Secret::new(DEFAULT_PASSWORD),
        args.rows,
        args.chunk_size,
        args.seed,
    );
    config.task_duration = Duration::from_secs(2);
    // Compressing on the simulator's side would compete for the CPU with the conversion.
    config.gzip = false;
    if let Some(spec) = &args.faults {
        config.faults = spec
            .parse::<FaultSpec>()
            .map_err(|e| Error::usage(format!("--faults: {e}")))?;
    }
    let sim = Simulator::start(
        config,
        "127.0.0.1:0"
            .parse()
            .map_err(|e| Error::Internal(format!("{e}")))?,
    )
    .await?;
    let say = |line: &str| {
        if !args.json && !global.quiet {
            crate::logging::print_error(line);
        }
    };
    say(&format!(
        "Started the Anaplan simulator at {} (auth service and Integration API, user {DEFAULT_USERNAME}).",
        sim.base_url()
    ));

    let mut connection = ConnectionConfig::new(Credentials::Basic {
        username: DEFAULT_USERNAME.to_owned(),
        password: Secret::new(DEFAULT_PASSWORD),
    });
    connection.api_url = sim.base_url();
    connection.auth_url = sim.base_url();
    let client = AnaplanClient::new(connection)?;
    let result = demo(&client, &args, destination, options, global, &say).await;
    client.logout().await;
    sim.shutdown().await;
    result
}

async fn demo(
    client: &AnaplanClient,
    args: &DemoArgs,
    destination: Destination,
    options: crate::convert::EngineOptions,
    global: &GlobalArgs,
    say: &(dyn Fn(&str) + Sync),
) -> Result<ExitCode> {
    client.sign_in_now().await?;
    say(&format!(
        "Signed in as {DEFAULT_USERNAME}. What the user can see:"
    ));
    let mut rows = Vec::new();
    let mut target = None;
    for ws in client.workspaces().await? {
        for model in client.models(&ws.id).await? {
            let exports = match client.exports(&ws.id, &model.id).await {
                Ok(e) => e,
                Err(Error::NotFound(_)) => {
                    rows.push(vec![
                        ws.name.clone(),
                        model.name.clone(),
                        "(no access)".into(),
                        String::new(),
                        String::new(),
                    ]);
                    continue;
                }
                Err(e) => return Err(e),
            };
            for e in exports {
                if e.name == DEMO_EXPORT && target.is_none() {
                    target = Some((ws.clone(), model.clone(), e.clone()));
                }
                rows.push(vec![
                    ws.name.clone(),
                    model.name.clone(),
                    e.name.clone(),
                    e.id.clone(),
                    e.layout
                        .as_ref()
                        .or(e.export_type.as_ref())
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ]);
            }
        }
    }
    say(&render_table(
        &["Workspace", "Model", "Export", "Id", "Layout"],
        rows.into_iter(),
    ));
    let (ws, model, export) = target
        .ok_or_else(|| Error::Internal(format!("the simulator has no export {DEMO_EXPORT:?}")))?;
    if let Some(view) = &args.view {
        say(&format!(
            "Reading view {view:?} of model {:?} to {} through a large-volume read request...",
            model.name,
            destination.describe()
        ));
        let mut job = ReadJob::new(ws.id, model.id, ReadObject::View(view.clone()));
        job.pages.concurrency = args.concurrency;
        job.pages.poll_interval = Duration::from_millis(500);
        let run = RunContext::default();
        run.shutdown.listen_for_signals();
        let display = Display::start(&run.progress, global);
        let result = run_read(client, &job, &destination, options, &run).await;
        display.finish();
        print_read_report(&result?, args.json, global)?;
        return show_rows(args, global).await;
    }
    say(&format!(
        "Exporting {:?} from model {:?} to {} ({} chunks at a time)...",
        export.name,
        model.name,
        destination.describe(),
        args.concurrency
    ));

    let mut job = ExportJob::new(ws.id, model.id, export.id);
    job.concurrency = args.concurrency;
    job.poll = PollOptions {
        interval: Duration::from_millis(500),
        timeout: Some(Duration::from_mins(10)),
    };
    let run = RunContext::default();
    run.shutdown.listen_for_signals();
    let display = Display::start(&run.progress, global);
    let result = run_export(client, &job, &destination, options, &run, &|e| {
        display.event(&e);
    })
    .await;
    display.finish();
    let report = result?;
    print_report(&report, args.json, global)?;
    show_rows(args, global).await
}

/// Prints the schema and first rows of a local output (not with `--json` or `-q`).
async fn show_rows(args: &DemoArgs, global: &GlobalArgs) -> Result<ExitCode> {
    if args.json {
        return Ok(ExitCode::SUCCESS);
    }
    let path = Path::new(&args.output);
    if path.is_file() && !global.quiet {
        let show = args.show;
        let p = path.to_path_buf();
        let text = tokio::task::spawn_blocking(move || describe_parquet(&p, show))
            .await
            .map_err(|e| Error::Internal(format!("reading the file back: {e}")))??;
        write_stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The schema, the Anaplan metadata and the first `rows` rows of a local Parquet file.
fn describe_parquet(path: &Path, rows: usize) -> Result<String> {
    use std::fmt::Write as _;

    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let fail = |e: &dyn std::fmt::Display| {
        Error::from(crate::error::DestinationError::new(
            crate::error::DestinationErrorKind::Io,
            path.display().to_string(),
            format!("cannot read {} back: {e}", path.display()),
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(&e))?;
    let mut out = String::new();
    let _ = writeln!(out, "\nSchema of {}:", path.display());
    for f in builder.schema().fields() {
        let _ = writeln!(
            out,
            "  {}: {}{}",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "" } else { " (not null)" }
        );
    }
    if let Some(kv) = builder.metadata().file_metadata().key_value_metadata() {
        let mut anaplan: Vec<_> = kv
            .iter()
            .filter(|k| k.key.starts_with("anaplan."))
            .collect();
        anaplan.sort_by(|a, b| a.key.cmp(&b.key));
        if !anaplan.is_empty() {
            let _ = writeln!(out, "\nMetadata:");
            for k in anaplan {
                let _ = writeln!(out, "  {} = {}", k.key, k.value.as_deref().unwrap_or(""));
            }
        }
    }
    if rows > 0 {
        let mut reader = builder
            .with_batch_size(rows)
            .build()
            .map_err(|e| fail(&e))?;
        if let Some(batch) = reader.next() {
            let batch = batch.map_err(|e| fail(&e))?;
            let batch = batch.slice(0, rows.min(batch.num_rows()));
            let table =
                arrow::util::pretty::pretty_format_batches(&[batch]).map_err(|e| fail(&e))?;
            let _ = writeln!(out, "\nFirst {rows} rows:\n{table}");
        }
    }
    Ok(out)
}
