//! `anaplan-parquet bench`: where an export's time goes, and which settings to use.
//!
//! Runs the export task once (or adopts a finished one with `--task-id`), then downloads and
//! converts its file again for every setting of the sweep (`--concurrency 1,2,4,8,16`,
//! `--compression zstd,snappy`, and with `--simulated` the file's `--chunk-size`), prints a
//! table (or one JSON object with `--json`), draws `--chart FILE.svg|FILE.png` and recommends a
//! setting. With `--simulated` the export comes from the embedded simulator, shaped by
//! `--bandwidth` (per connection), `--latency` and `--faults`. The output is discarded unless
//! `--output` names one (each run replaces it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::GlobalArgs;
use super::connection::ConnectionArgs;
use super::discovery::{render_table, with_client, write_stdout};
use crate::anaplan::AnaplanClient;
use crate::bench::{BenchReport, BenchRun, Sweep, recommend, sweep, write_chart};
use crate::convert::{Codec, EngineOptions};
use crate::error::{Error, Result};
use crate::export::{ExportJob, prepare};
use crate::settings::{ExportSettings, choose};
use crate::shutdown::Shutdown;
use crate::sink::timed::DiscardSink;
use crate::sink::{Destination, Sink};

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Measure against the embedded simulator (no account, no network) instead of a tenant.
    #[arg(long)]
    pub simulated: bool,

    /// Rows of the simulated export [default: 1000000, about 55 MB].
    #[arg(long, value_name = "N", requires = "simulated")]
    pub rows: Option<u64>,

    /// Chunk sizes of the simulated export file to sweep, comma-separated [default: 4MiB].
    #[arg(
        long,
        value_name = "BYTES,...",
        value_delimiter = ',',
        requires = "simulated"
    )]
    pub chunk_size: Vec<String>,

    /// Simulated bandwidth cap of each connection, bytes per second (`4m` is 4 MB/s).
    #[arg(long, value_name = "BYTES", requires = "simulated")]
    pub bandwidth: Option<String>,

    /// Simulated latency before every answer (`50ms`).
    #[arg(long, value_name = "DURATION", requires = "simulated")]
    pub latency: Option<String>,

    /// Other simulated faults, as `simulator --faults` takes them (`rate-limit=0.02`).
    #[arg(long, value_name = "SPEC", requires = "simulated")]
    pub faults: Option<String>,

    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42, value_name = "S", requires = "simulated")]
    pub seed: u64,

    /// Connection counts to sweep, comma-separated [default: 1,2,4,8,16].
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub concurrency: Vec<usize>,

    /// Parquet codecs to sweep, comma-separated [default: zstd].
    #[arg(long, value_name = "CODEC,...", value_delimiter = ',')]
    pub compression: Vec<String>,

    /// Write each run's Parquet here (replaced by every run) instead of discarding it.
    #[arg(long, short = 'o', value_name = "DEST", conflicts_with = "discard")]
    pub output: Option<String>,

    /// Discard the Parquet (the default): measures download and conversion alone.
    #[arg(long)]
    pub discard: bool,

    /// Draw throughput against connections, with the stage split, into this .svg or .png.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,

    /// Print one JSON object (`runs`, `recommendation`) on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Workspace name or id (default: `workspace` from the config file).
    #[arg(
        long,
        short = 'w',
        value_name = "NAME|ID",
        conflicts_with = "simulated"
    )]
    pub workspace: Option<String>,

    /// Model name or id (default: `model` from the config file).
    #[arg(
        long,
        short = 'm',
        value_name = "NAME|ID",
        conflicts_with = "simulated"
    )]
    pub model: Option<String>,

    /// Export name or id (required without --simulated).
    #[arg(
        long,
        short = 'e',
        value_name = "NAME|ID",
        required_unless_present = "simulated",
        conflicts_with = "simulated"
    )]
    pub export: Option<String>,

    /// Download the file of this finished export task instead of running the export once.
    #[arg(long, value_name = "TASK", conflicts_with = "simulated")]
    pub task_id: Option<String>,

    /// Time between task status checks [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,

    /// Give up on the export task after this long (0: no limit) [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub task_timeout: Option<String>,

    /// Connection.
    #[command(flatten)]
    pub connection: Box<ConnectionArgs>,
}

/// The default sweep of connections.
const DEFAULT_CONCURRENCY: [usize; 5] = [1, 2, 4, 8, 16];

impl BenchArgs {
    fn sweep(&self) -> Result<Sweep> {
        let concurrency = if self.concurrency.is_empty() {
            DEFAULT_CONCURRENCY.to_vec()
        } else {
            self.concurrency.clone()
        };
        let max = crate::settings::export::MAX_CONCURRENCY;
        if let Some(bad) = concurrency.iter().find(|&&c| c == 0 || c > max) {
            return Err(Error::usage(format!(
                "--concurrency: must be between 1 and {max}, not {bad}"
            )));
        }
        let names = if self.compression.is_empty() {
            vec!["zstd".to_owned()]
        } else {
            self.compression.clone()
        };
        let compression = names
            .into_iter()
            .map(|n| {
                let codec: Codec = choose("compression", crate::settings::engine::CODECS, &n)?;
                Ok((n.trim().to_ascii_lowercase(), codec))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(super::as_flags)?;
        Ok(Sweep {
            concurrency,
            compression,
        })
    }

    fn job(&self, workspace: String, model: String, export: String) -> Result<ExportJob> {
        let settings = ExportSettings {
            concurrency: None,
            poll_interval: self.poll_interval.clone(),
            task_timeout: self.task_timeout.clone(),
            locale: None,
        };
        let mut job = settings
            .job(workspace, model, export)
            .map_err(super::as_flags)?;
        job.task_id.clone_from(&self.task_id);
        Ok(job)
    }
}

/// Runs `bench`.
pub(crate) async fn run(args: BenchArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let sweep_of = args.sweep()?;
    if let Some(chart) = &args.chart {
        crate::bench::ChartFormat::of(chart)?;
    }
    let destination: Box<dyn Sink> = match &args.output {
        Some(out) => Box::new(Destination::parse(out)?),
        None => Box::new(DiscardSink),
    };
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let say = |line: &str| {
        if !args.json && !global.quiet {
            crate::logging::print_error(line);
        }
    };
    let total = sweep_of.concurrency.len() * sweep_of.compression.len();
    let on_run = |r: &BenchRun| {
        say(&format!(
            "  {} connections, {}{}: {:.1} MB/s in {:.2}s (bottleneck: {})",
            r.concurrency,
            r.compression,
            r.chunk_size.map_or_else(String::new, |s| format!(
                ", chunks of {}",
                crate::summary::human_bytes(s)
            )),
            r.mb_per_s,
            r.elapsed.as_secs_f64(),
            r.stages.bottleneck.name()
        ));
    };
    let report = if args.simulated {
        simulated(
            &args,
            &sweep_of,
            destination.as_ref(),
            &shutdown,
            &say,
            &on_run,
        )
        .await?
    } else {
        with_client(&args.connection, async |client, resolved| {
            let workspace = args
                .workspace
                .clone()
                .or_else(|| resolved.workspace.clone())
                .ok_or_else(|| Error::usage("--workspace is required (a name or an id)"))?;
            let model = args
                .model
                .clone()
                .or_else(|| resolved.model.clone())
                .ok_or_else(|| Error::usage("--model is required (a name or an id)"))?;
            let export = args.export.clone().unwrap_or_default();
            let job = args.job(workspace, model, export)?;
            say(&format!(
                "Benchmarking export {:?}: {total} runs, each downloading its file again.",
                job.export
            ));
            measure(
                client,
                &job,
                None,
                &sweep_of,
                destination.as_ref(),
                &shutdown,
                &on_run,
            )
            .await
        })
        .await?
    };
    finish(&report, &args, &say)
}

/// Prints the table or the JSON, and draws the chart.
fn finish(report: &BenchReport, args: &BenchArgs, say: &dyn Fn(&str)) -> Result<ExitCode> {
    if let Some(chart) = &args.chart {
        write_chart(report, chart)?;
        say(&format!("Wrote the chart to {}.", chart.display()));
    }
    if args.json {
        let text = serde_json::to_string(report)
            .map_err(|e| Error::Internal(format!("cannot print the report: {e}")))?;
        write_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = render_table(&BenchReport::TABLE_HEADER, report.table_rows().into_iter());
    text.push_str(&format!(
        "\n{}: sign-in {:.2}s, export task {:.2}s (once, before the runs)\n",
        report.target,
        report.sign_in.as_secs_f64(),
        report.task_wait.as_secs_f64()
    ));
    if let Some(rec) = &report.recommendation {
        text.push_str(&format!(
            "Recommendation: --concurrency {}: {}\n",
            rec.concurrency, rec.reason
        ));
    }
    write_stdout(text.trim_end())?;
    Ok(ExitCode::SUCCESS)
}

/// Signs in, prepares the export once and runs the sweep on its file.
async fn measure(
    client: &AnaplanClient,
    job: &ExportJob,
    chunk_size: Option<u64>,
    sweep_of: &Sweep,
    destination: &dyn Sink,
    shutdown: &Shutdown,
    on_run: &(dyn Fn(&BenchRun) + Sync),
) -> Result<BenchReport> {
    client.stop_on(shutdown);
    let started = Instant::now();
    client.sign_in_now().await?;
    let sign_in = started.elapsed();
    let started = Instant::now();
    let run = crate::convert::RunContext {
        shutdown: shutdown.child(),
        ..Default::default()
    };
    let prepared = prepare(client, job, &run, &|_| {}).await?;
    let task_wait = started.elapsed();
    let runs = sweep(
        client,
        job,
        &prepared,
        chunk_size,
        sweep_of,
        &EngineOptions::default(),
        destination,
        shutdown,
        on_run,
    )
    .await?;
    Ok(BenchReport {
        target: format!(
            "export {:?} of model {:?} (task {})",
            prepared.export.name, prepared.model.name, prepared.task_id
        ),
        sign_in,
        task_wait,
        recommendation: recommend(&runs),
        runs,
    })
}

#[cfg(not(feature = "simulator"))]
async fn simulated(
    _args: &BenchArgs,
    _sweep: &Sweep,
    _destination: &dyn Sink,
    _shutdown: &Shutdown,
    _say: &(dyn Fn(&str) + Sync),
    _on_run: &(dyn Fn(&BenchRun) + Sync),
) -> Result<BenchReport> {
    Err(Error::usage(
        "--simulated needs the simulator, which this build leaves out (feature `simulator`)",
    ))
}

/// The sweep against the embedded simulator: one simulated file per chunk size.
#[cfg(feature = "simulator")]
async fn simulated(
    args: &BenchArgs,
    sweep_of: &Sweep,
    destination: &dyn Sink,
    shutdown: &Shutdown,
    say: &(dyn Fn(&str) + Sync),
    on_run: &(dyn Fn(&BenchRun) + Sync),
) -> Result<BenchReport> {
    use std::time::Duration;

    use crate::anaplan::task::PollOptions;
    use crate::anaplan::{ConnectionConfig, Credentials};
    use crate::secret::Secret;
    use crate::simulator::{
        DEFAULT_PASSWORD, DEFAULT_USERNAME, FaultSpec, Simulator, SimulatorConfig,
    };
    use crate::units::{parse_duration, parse_size};

    let rows = args.rows.unwrap_or(1_000_000);
    let sizes = if args.chunk_size.is_empty() {
        vec![4 << 20]
    } else {
        args.chunk_size
            .iter()
            .map(|s| {
                let n = parse_size(s).map_err(|e| Error::usage(format!("--chunk-size: {e}")))?;
                if n < 1024 {
                    return Err(Error::usage("--chunk-size: must be at least 1KiB"));
                }
                Ok(n)
            })
            .collect::<Result<Vec<u64>>>()?
    };
    let mut faults = match &args.faults {
        Some(spec) => spec
            .parse::<FaultSpec>()
            .map_err(|e| Error::usage(format!("--faults: {e}")))?,
        None => FaultSpec::default(),
    };
    if let Some(b) = &args.bandwidth {
        let n = parse_size(b).map_err(|e| Error::usage(format!("--bandwidth: {e}")))?;
        if n == 0 {
            return Err(Error::usage("--bandwidth: must be more than 0"));
        }
        faults.bandwidth = Some(n);
    }
    if let Some(l) = &args.latency {
        faults.latency =
            Some(parse_duration(l).map_err(|e| Error::usage(format!("--latency: {e}")))?);
    }
    let profile = format!(
        "simulated export of {rows} rows{}{}",
        faults.bandwidth.map_or_else(String::new, |b| format!(
            ", {:.1} MB/s per connection",
            b as f64 / 1e6
        )),
        faults
            .latency
            .map_or_else(String::new, |l| format!(", {} ms latency", l.as_millis())),
    );
    say(&format!(
        "Benchmarking a {profile}: {} runs.",
        sizes.len() * sweep_of.concurrency.len() * sweep_of.compression.len()
    ));
    let mut report: Option<BenchReport> = None;
    for size in sizes {
        let mut config = SimulatorConfig::default_tenant(
            DEFAULT_USERNAME,
            Secret::new(DEFAULT_PASSWORD),
            rows,
            size,
            args.seed,
        );
        config.task_duration = Duration::from_millis(200);
        // Compressing on the simulator's side would compete for the CPU with the conversion.
        config.gzip = false;
        config.faults = faults.clone();
        let sim = Simulator::start(
            config,
            "127.0.0.1:0"
                .parse()
                .map_err(|e| Error::Internal(format!("{e}")))?,
        )
        .await?;
        let mut connection = ConnectionConfig::new(Credentials::Basic {
            username: DEFAULT_USERNAME.to_owned(),
            password: Secret::new(DEFAULT_PASSWORD),
        });
        connection.api_url = sim.base_url();
        connection.auth_url = sim.base_url();
        let result = async {
            let client = AnaplanClient::new(connection)?;
            let mut job = ExportJob::new("Financial Planning", "FP&A", "Revenue - TSC.csv");
            job.poll = PollOptions {
                interval: Duration::from_millis(100),
                timeout: Some(Duration::from_mins(10)),
            };
            let r = measure(
                &client,
                &job,
                Some(size),
                sweep_of,
                destination,
                shutdown,
                on_run,
            )
            .await;
            client.logout().await;
            r
        }
        .await;
        sim.shutdown().await;
        let measured = result?;
        report = Some(match report {
            None => measured,
            Some(mut all) => {
                all.runs.extend(measured.runs);
                all
            }
        });
    }
    let mut report = report.ok_or_else(|| Error::Internal("no chunk size to measure".into()))?;
    report.target = profile;
    report.recommendation = recommend(&report.runs);
    Ok(report)
}
