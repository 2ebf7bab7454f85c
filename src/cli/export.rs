//! `anaplan-parquet export --workspace W --model M --export E --output DEST`.
//!
//! Runs the export task in Anaplan, downloads its file's chunks concurrently and writes one
//! Parquet file. Exit codes: 0 success, 2 usage or configuration, 3 authentication, 4 Anaplan
//! (not found, no access, ambiguous name, task failed or cancelled, task timeout), 5 data,
//! 6 destination, 7 transient failures past the retry budget, 130/143 interrupted.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::connection::ConnectionArgs;
use super::discovery::{with_client, write_stdout};
use super::display::Display;
use super::engine_args::EngineArgs;
use super::output_args::OutputArgs;
use super::{GlobalArgs, as_flags};
use crate::convert::RunContext;
use crate::error::{Error, Result};
use crate::export::{ExportJob, ExportReport, run_export};
use crate::settings::ExportSettings;
use crate::sink::Destination;

/// Exit codes, shown by `export --help`.
pub(crate) const EXIT_CODES: &str = "Exit codes:
  0    success
  2    bad command line or configuration
  3    authentication failed
  4    Anaplan refused: not found, no access, ambiguous name, task failed, cancelled or timed out
  5    bad input data or schema mismatch
  6    the destination could not be written
  7    transient failures (network, 429, 5xx) outlasted the retry budget
  130  interrupted (SIGINT), 143 terminated (SIGTERM)";

/// Arguments of `export`.
#[derive(Debug, Args)]
#[command(after_long_help = EXIT_CODES)]
#[command(group = clap::ArgGroup::new("view_or_list").args(["view", "list"]).multiple(false))]
pub(crate) struct ExportArgs {
    /// Workspace name or id (default: `workspace` from the config file).
    #[arg(long, short = 'w', value_name = "NAME|ID")]
    pub workspace: Option<String>,

    /// Model name or id (default: `model` from the config file).
    #[arg(long, short = 'm', value_name = "NAME|ID")]
    pub model: Option<String>,

    /// Export name or id (`exports` lists them). Exactly one of --export, --view, --list.
    #[arg(
        long,
        short = 'e',
        value_name = "NAME|ID",
        required_unless_present_any = ["view", "list"],
        conflicts_with_all = ["view", "list"]
    )]
    pub export: Option<String>,

    /// Read a module view instead (its name as `views` shows it, the module's name for its
    /// default view, or an id) through a large-volume read request; `--layout single-column`
    /// reads it in Tabular Single Column.
    #[arg(long, value_name = "NAME|ID", conflicts_with = "list")]
    pub view: Option<String>,

    /// Read a list instead (name or id; `lists` shows them) through a large-volume read
    /// request.
    #[arg(long, value_name = "NAME|ID")]
    pub list: Option<String>,

    /// How a view or list is read: `large` (a read request), `direct` (the transactional
    /// call, at most 1,000,000 cells or list items), `auto` (a read request, the transactional
    /// call when it is refused) [default: auto].
    #[arg(long, value_name = "MODE", requires = "view_or_list")]
    pub read_mode: Option<String>,

    /// Download the file of this finished export task instead of starting a new one.
    #[arg(long, value_name = "TASK", conflicts_with_all = ["view", "list"])]
    pub task_id: Option<String>,

    /// Chunks downloaded at once (1 to 64) [default: 8].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Time between task status checks (Anaplan asks for no more than one every 5 s)
    /// [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,

    /// Cancel the export task and fail if it has not finished after this long (0: no limit)
    /// [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub task_timeout: Option<String>,

    /// Also keep the raw CSV as downloaded in this file (not the output's file: refused,
    /// exit 2).
    #[arg(long, value_name = "FILE")]
    pub keep_csv: Option<PathBuf>,

    /// Locale sent when starting the export task [default: en_US].
    #[arg(long, value_name = "LOCALE")]
    pub locale: Option<String>,

    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Connection.
    #[command(flatten)]
    pub connection: Box<ConnectionArgs>,

    /// CSV, schema and Parquet options.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Destination options.
    #[command(flatten)]
    pub output: OutputArgs,
}

impl ExportArgs {
    /// The job, from the flags; a bad value is named as its flag.
    pub(crate) fn job(&self, workspace: String, model: String) -> Result<ExportJob> {
        let settings = ExportSettings {
            concurrency: self.concurrency,
            poll_interval: self.poll_interval.clone(),
            task_timeout: self.task_timeout.clone(),
            locale: self.locale.clone(),
        };
        let mut job = settings
            .job(workspace, model, self.export.clone().unwrap_or_default())
            .map_err(as_flags)?;
        job.task_id.clone_from(&self.task_id);
        Ok(job)
    }
}

/// Runs `export`.
pub(crate) async fn run(args: ExportArgs, global: &GlobalArgs) -> Result<ExitCode> {
    let mut options = args.engine.to_options()?;
    options.keep_input.clone_from(&args.keep_csv);
    let run = RunContext::default();
    run.shutdown.listen_for_signals();
    let destination =
        Destination::from_options(&args.output.to_options()?)?.with_progress(run.progress.clone());
    // Before the export task runs: `--keep-csv` must not be the output.
    crate::convert::check_distinct_files(None, &destination, &options)?;
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
        let job = args.job(workspace, model)?;
        if args.view.is_some() || args.list.is_some() {
            let choice = super::read::ReadChoice {
                view: args.view.as_deref(),
                list: args.list.as_deref(),
                read_mode: args.read_mode.as_deref(),
                json: args.json,
            };
            return super::read::run(client, choice, job, &destination, options, &run, global)
                .await;
        }
        let display = Display::start(&run.progress, global);
        let result = run_export(client, &job, &destination, options, &run, &|e| {
            display.event(&e);
        })
        .await;
        display.finish();
        let report = result?;
        print_report(&report, args.json, global)?;
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// Prints the summary: text on stderr (unless `-q`), or JSON on stdout.
pub(crate) fn print_report(report: &ExportReport, json: bool, global: &GlobalArgs) -> Result<()> {
    if json {
        return write_stdout(&report_json(report)?.to_string());
    }
    if !global.quiet {
        let mut text = report.summary.to_text();
        let _ = write!(
            text,
            "  from export {:?} of model {:?} in workspace {:?} (task {}, {} chunks)",
            report.export.name,
            report.model.name,
            report.workspace.name,
            report.task_id,
            report.chunks
        );
        crate::logging::print_error(&text);
    }
    Ok(())
}

/// The `--json` summary: the engine's summary and where the data came from.
pub(crate) fn report_json(report: &ExportReport) -> Result<serde_json::Value> {
    report.summary.json_with_source(serde_json::json!({
        "workspace": {"id": report.workspace.id, "name": report.workspace.name},
        "model": {"id": report.model.id, "name": report.model.name},
        "export": {"id": report.export.id, "name": report.export.name},
        "task_id": report.task_id,
        "chunks": report.chunks,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        export: ExportArgs,
    }

    fn parse(extra: &[&str]) -> ExportArgs {
        let mut argv = vec!["x", "-e", "E", "-o", "out.parquet"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().export
    }

    #[test]
    fn job_from_args() {
        let job = parse(&[
            "--concurrency",
            "16",
            "--poll-interval",
            "200ms",
            "--task-timeout",
            "0s",
            "--task-id",
            "T1",
        ])
        .job("W".into(), "M".into())
        .unwrap();
        assert_eq!(job.concurrency, 16);
        assert_eq!(job.poll.interval, Duration::from_millis(200));
        assert_eq!(job.poll.timeout, None);
        assert_eq!(job.task_id.as_deref(), Some("T1"));
        let job = parse(&[]).job("W".into(), "M".into()).unwrap();
        assert_eq!(job.concurrency, 8);
        assert_eq!(job.poll.interval, Duration::from_secs(5));
        assert_eq!(job.poll.timeout, Some(Duration::from_hours(1)));
        assert_eq!(job.locale, "en_US");
        for (bad, words) in [
            (
                ["--concurrency", "0"],
                "--concurrency: must be between 1 and 64, not 0",
            ),
            (
                ["--concurrency", "65"],
                "--concurrency: must be between 1 and 64",
            ),
            (
                ["--poll-interval", "0s"],
                "--poll-interval: must be more than 0",
            ),
            (["--task-timeout", "soon"], "--task-timeout: not a duration"),
        ] {
            let e = parse(&bad).job("W".into(), "M".into()).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad:?}");
            assert!(e.to_string().starts_with(words), "{e}");
        }
    }

    /// The first error of the export command's flags, as the command would report it.
    fn flag_error(extra: &[&str]) -> String {
        let args = parse(extra);
        let e = args
            .engine
            .to_options()
            .and_then(|_| args.output.to_options())
            .and_then(|_| args.job("W".into(), "M".into()))
            .unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        e.to_string()
    }

    /// The problem a jobs file reports for its one dataset.
    fn key_problem(key: &str, value: &str) -> String {
        let text = format!(
            "[defaults]\nworkspace = \"W\"\nmodel = \"M\"\n\
             [[dataset]]\nname = \"a\"\nexport = \"E\"\noutput = \"out.parquet\"\n\
             {key} = {value:?}\n"
        );
        let file =
            crate::jobs::file::parse(&text, std::path::Path::new("jobs.toml"), true).unwrap();
        assert_eq!(file.problems.len(), 1, "{:?}", file.problems);
        assert_eq!(file.problems[0].dataset.as_deref(), Some("a"));
        file.problems[0].problem.clone()
    }

    /// One settings layer: a bad value gives the same problem from a flag and from a jobs-file
    /// key; only the setting's name is in the words of whoever gave it.
    #[test]
    fn a_bad_value_reads_the_same_from_a_flag_and_from_a_key() {
        for (flag, key, value) in [
            ("--row-group-bytes", "row_group_bytes", "ten"),
            ("--row-group-bytes", "row_group_bytes", "512KiB"),
            ("--upload-part-size", "upload_part_size", "5 parsecs"),
            ("--upload-retry-timeout", "upload_retry_timeout", "soon"),
            ("--poll-interval", "poll_interval", "0s"),
            ("--compression", "compression", "brotli"),
            ("--encoding", "encoding", "ebcdic"),
            ("--infer-rows", "infer_rows", "0"),
            ("--mode", "mode", "sideways"),
        ] {
            let from_flag = flag_error(&[flag, value]);
            let from_key = key_problem(key, value);
            let flag_prefix = format!("{flag}: ");
            let key_prefix = format!("`{key}`: ");
            let (Some(by_flag), Some(by_key)) = (
                from_flag.strip_prefix(&flag_prefix),
                from_key.strip_prefix(&key_prefix),
            ) else {
                panic!("{flag} / {key}: {from_flag:?} / {from_key:?}");
            };
            assert_eq!(by_flag, by_key, "{flag} / {key}");
            assert!(
                by_flag.contains(value),
                "the problem names the value: {by_flag}"
            );
        }
        assert_eq!(
            flag_error(&["--row-group-bytes", "ten"]),
            "--row-group-bytes: not a size: \"ten\" (try 64MiB or 10MB)"
        );
        assert_eq!(
            key_problem("row_group_bytes", "ten"),
            "`row_group_bytes`: not a size: \"ten\" (try 64MiB or 10MB)"
        );
    }
}
