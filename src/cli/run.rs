//! `anaplan-parquet run JOBS.toml`: many exports from one account, once or on a schedule.
//!
//! The jobs file ([`crate::jobs::file`]) names the connection, defaults and datasets; the library
//! reads and runs them ([`crate::jobs`]). The end of each round prints one table (or, with `--json`, one JSON
//! object on stdout): dataset, status, rows, bytes, duration, output, error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ColumnConstraint, Table, Width};

use super::connection::ConnectionArgs;
use super::discovery::{render_table, write_stdout};
use super::{GlobalArgs, as_flags};
use crate::anaplan::AnaplanClient;
use crate::error::{Error, ExitClass, Result};
use crate::jobs::{
    self, CheckReport, DEFAULT_CONNECTIONS, DEFAULT_PARALLEL, Dataset, Problem, RoundReport,
    RunOptions, Shard, Status, file, schedule,
};
use crate::settings::{Context, Resolved};
use crate::shutdown::Shutdown;
use crate::summary::human_bytes;
use crate::units::parse_duration;

/// Widest output cell of the end table (longer paths wrap).
const OUTPUT_WIDTH: u16 = 60;
/// Widest error cell of the end table (longer messages wrap).
const ERROR_WIDTH: u16 = 80;

/// Exit codes, shown by `run --help`.
pub(crate) const EXIT_CODES: &str = "Exit codes:
  0    every dataset was written (or skipped as unchanged); --check found no problem;
       --every stopped by SIGINT/SIGTERM between rounds
  1    at least one dataset failed (the table and --json say which and why)
  2    the jobs file or the command line is invalid (nothing ran); --check found problems
  3    sign-in failed (nothing ran)
  4-7  as for `export`, for a failure before any dataset started
  130  interrupted (SIGINT) during a round, 143 terminated (SIGTERM) during a round";

/// Arguments of `run`.
#[derive(Debug, Args)]
#[command(after_long_help = EXIT_CODES)]
pub(crate) struct RunArgs {
    /// The jobs file (TOML): `[connection]`, `[defaults]` and one `[[dataset]]` per export,
    /// view or list.
    #[arg(value_name = "JOBS.toml")]
    pub jobs: PathBuf,

    /// Check the file, sign in, resolve every workspace, model, export, view and list name and check
    /// every destination, without exporting anything; report every problem at once.
    #[arg(long)]
    pub check: bool,

    /// Datasets run at the same time (tasks on one model still run one at a time).
    #[arg(long, default_value_t = DEFAULT_PARALLEL, value_name = "N")]
    pub parallel: usize,

    /// Chunk downloads in flight across all datasets (each dataset also keeps to its own
    /// `concurrency`).
    #[arg(long, default_value_t = DEFAULT_CONNECTIONS, value_name = "N")]
    pub connections: usize,

    /// Stop at the first failed dataset: those in flight are cancelled (nothing partial is
    /// written), the others are not started.
    #[arg(long)]
    pub fail_fast: bool,

    /// Run only this dataset (repeatable).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,

    /// Run only the datasets whose position in the file (from 0) modulo N is I, e.g.
    /// `--shard $JOB_COMPLETION_INDEX/4` in a Kubernetes indexed Job.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    /// Do not write a dataset whose export is byte for byte what its last manifest records.
    #[arg(long)]
    pub skip_unchanged: bool,

    /// Run again every DURATION (e.g. `1h`, plus up to 5% jitter) until SIGINT or SIGTERM;
    /// a failed round does not stop the schedule.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub every: Option<Duration>,

    /// Print each round's report (or the check) as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Connection (flags and environment override the jobs file's `[connection]`).
    #[command(flatten)]
    pub connection: Box<ConnectionArgs>,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    s.parse::<Shard>().map_err(|e| e.to_string())
}

/// Runs `run`.
pub(crate) async fn run(args: RunArgs, global: &GlobalArgs) -> Result<ExitCode> {
    if args.connection.config.is_some() {
        return Err(Error::usage(
            "--config is not used by run: the jobs file's [connection] is the config",
        ));
    }
    let options = RunOptions {
        parallel: args.parallel,
        connections: args.connections,
        fail_fast: args.fail_fast,
        skip_unchanged: args.skip_unchanged,
    };
    options.validate().map_err(as_flags)?;
    if args.every.is_some_and(|d| d < Duration::from_secs(1)) {
        return Err(Error::usage("--every must be at least 1s"));
    }
    if args.check && args.every.is_some() {
        return Err(Error::usage("--check runs once; drop --every"));
    }
    let jobs_file = file::read(&args.jobs)?;
    for w in &jobs_file.warnings {
        tracing::warn!("{w}");
    }
    let (datasets, mut problems) = jobs_file.selection(&args.only, args.shard)?;
    let connection = args
        .connection
        .resolve_with_file(jobs_file.connection.clone(), &Context::process());

    if args.check {
        return check(&args, global, connection, &datasets, problems).await;
    }
    if let Err(e) = &connection {
        problems.push(Problem {
            dataset: None,
            problem: e.to_string(),
        });
    }
    if !problems.is_empty() {
        print_problems(&problems);
        return Err(Error::usage(format!(
            "the jobs file {} has {} problem(s); nothing was run",
            args.jobs.display(),
            problems.len()
        )));
    }
    if datasets.is_empty() {
        tracing::warn!("no dataset selected (--only / --shard); nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let resolved = connection?;
    let client = AnaplanClient::new(resolved.config)?;
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals();
    let code = rounds(&args, global, &client, &datasets, &options, &shutdown).await;
    client.logout().await;
    code
}

/// One round, or rounds every `--every` until a signal.
async fn rounds(
    args: &RunArgs,
    global: &GlobalArgs,
    client: &AnaplanClient,
    datasets: &[Dataset],
    options: &RunOptions,
    shutdown: &Shutdown,
) -> Result<ExitCode> {
    let Some(every) = args.every else {
        let report = jobs::run_round(client, datasets, options, shutdown).await?;
        print_report(&report, args.json, global)?;
        return Ok(ExitCode::from(report.exit_class().code()));
    };
    tracing::info!(
        "running {} dataset(s) every {} until SIGINT or SIGTERM",
        datasets.len(),
        humantime::format_duration(every)
    );
    for round in 1u64.. {
        let t0 = Instant::now();
        tracing::info!("round {round} starting");
        let interrupted = match jobs::run_round(client, datasets, options, shutdown).await {
            Ok(report) => {
                print_report(&report, args.json, global)?;
                tracing::info!(
                    "round {round} ({}) finished in {:.1}s: {}",
                    report.run_id,
                    report.duration.as_secs_f64(),
                    tally(&report)
                );
                report.interrupted
            }
            Err(e) if shutdown.is_triggered() => return Err(e),
            Err(e) => {
                tracing::error!("round {round} failed: {e}; trying again next round");
                None
            }
        };
        // A new sign-in each round: an hour-long wait would outlive the token anyway.
        client.logout().await;
        if let Some(signal) = interrupted {
            return Ok(ExitCode::from(Error::Cancelled(signal).exit_class().code()));
        }
        let wait = schedule::next_delay(every, t0.elapsed(), fastrand::f64());
        tracing::info!(
            "next round in {} (at {})",
            humantime::format_duration(Duration::from_millis(
                u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
            )),
            schedule::rfc3339(SystemTime::now() + wait)
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.triggered() => {
                tracing::info!(
                    "{} received between rounds: stopping",
                    shutdown.signal().map_or_else(|| "a stop request".to_owned(), |s| s.to_string())
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--check`: the file's problems, then the tenant's and the destinations'.
async fn check(
    args: &RunArgs,
    global: &GlobalArgs,
    connection: Result<Resolved>,
    datasets: &[Dataset],
    mut problems: Vec<Problem>,
) -> Result<ExitCode> {
    let mut report = CheckReport {
        datasets: Vec::new(),
        problems: Vec::new(),
    };
    match connection {
        Err(e) => problems.push(Problem {
            dataset: None,
            problem: format!("connection: {e}"),
        }),
        Ok(resolved) => {
            let client = AnaplanClient::new(resolved.config)?;
            let checked = jobs::check(&client, datasets).await;
            client.logout().await;
            match checked {
                Ok(r) => report = r,
                Err(e) => {
                    print_problems(&problems);
                    return Err(e);
                }
            }
        }
    }
    problems.append(&mut report.problems);
    report.problems = problems;
    if args.json {
        let text = serde_json::to_string(&serde_json::json!({
            "ok": report.problems.is_empty(),
            "datasets": report.datasets,
            "problems": report.problems,
        }))
        .map_err(|e| Error::Internal(format!("cannot print JSON: {e}")))?;
        write_stdout(&text)?;
    } else if !global.quiet && !report.datasets.is_empty() {
        let rows = report.datasets.iter().map(|d| {
            vec![
                d.name.clone(),
                if d.ok { "ok" } else { "problem" }.to_owned(),
                named(d.workspace.as_ref()),
                named(d.model.as_ref()),
                match (&d.view, &d.list) {
                    (Some(v), _) => format!("view {}", named(Some(v))),
                    (_, Some(l)) => format!("list {}", named(Some(l))),
                    _ => named(d.export.as_ref()),
                },
                d.output.clone(),
            ]
        });
        write_stdout(&render_table(
            &["dataset", "check", "workspace", "model", "source", "output"],
            rows,
        ))?;
    }
    if report.problems.is_empty() {
        if !global.quiet && !args.json {
            crate::logging::print_error(&format!(
                "{}: {} dataset(s) checked, no problem found",
                args.jobs.display(),
                report.datasets.len()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        print_problems(&report.problems);
    }
    Ok(ExitCode::from(ExitClass::Usage.code()))
}

fn named(r: Option<&jobs::NamedRef>) -> String {
    r.map_or_else(|| "?".to_owned(), |r| format!("{} ({})", r.name, r.id))
}

/// Every problem, one line each, on stderr.
fn print_problems(problems: &[Problem]) {
    let mut text = format!("{} problem(s):", problems.len());
    for p in problems {
        text.push_str("\n  ");
        if let Some(d) = &p.dataset {
            text.push_str(&format!("{d}: "));
        }
        text.push_str(&p.problem);
    }
    crate::logging::print_error(&text);
}

/// The end-of-round report: JSON on stdout with `--json`, else a table on stdout (unless
/// `-q`, when only failures were logged).
fn print_report(report: &RoundReport, json: bool, global: &GlobalArgs) -> Result<()> {
    if json {
        let text = serde_json::to_string(report)
            .map_err(|e| Error::Internal(format!("cannot print JSON: {e}")))?;
        return write_stdout(&text);
    }
    if global.quiet {
        return Ok(());
    }
    let rows = report.datasets.iter().map(|d| {
        let done = d.status.is_success();
        vec![
            d.name.clone(),
            d.status.as_str().to_owned(),
            if done {
                d.rows.to_string()
            } else {
                String::new()
            },
            if d.status == Status::Ok {
                human_bytes(d.bytes)
            } else {
                String::new()
            },
            format!("{:.1}s", d.duration.as_secs_f64()),
            d.location.clone().unwrap_or_else(|| d.output.clone()),
            d.error.clone().unwrap_or_default(),
        ]
    });
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "dataset", "status", "rows", "bytes", "duration", "output", "error",
    ]);
    for r in rows {
        table.add_row(r);
    }
    // Long paths and errors wrap inside their columns instead of widening the table.
    let wrap = |w| ColumnConstraint::UpperBoundary(Width::Fixed(w));
    for (i, w) in [(5, OUTPUT_WIDTH), (6, ERROR_WIDTH)] {
        if let Some(c) = table.column_mut(i) {
            c.set_constraint(wrap(w));
        }
    }
    write_stdout(&format!(
        "{table}\nrun {}: {}, in {:.1}s",
        report.run_id,
        tally(report),
        report.duration.as_secs_f64()
    ))
}

/// `3 ok, 1 failed`: the count of every status present.
fn tally(report: &RoundReport) -> String {
    let parts: Vec<String> = [
        Status::Ok,
        Status::Unchanged,
        Status::Failed,
        Status::Cancelled,
        Status::NotRun,
    ]
    .into_iter()
    .filter_map(|s| {
        let n = report.count(s);
        (n > 0).then(|| format!("{n} {}", s.as_str()))
    })
    .collect();
    if parts.is_empty() {
        "no dataset".to_owned()
    } else {
        parts.join(", ")
    }
}
