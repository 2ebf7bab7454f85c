//! `export --view NAME|ID` and `export --list NAME|ID`: the same command and options as an
//! export, reading a module view or a list through a large-volume read request
//! ([`crate::read`]).

use std::fmt::Write as _;
use std::process::ExitCode;

use super::GlobalArgs;
use super::discovery::write_stdout;
use super::display::Display;
use crate::anaplan::AnaplanClient;
use crate::convert::{EngineOptions, RunContext};
use crate::error::{Error, Result};
use crate::export::ExportJob;
use crate::read::{ReadJob, ReadMode, ReadObject, ReadReport, run_read};
use crate::sink::Destination;

/// What `export` was asked to read instead of an export.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadChoice<'a> {
    /// `--view`.
    pub view: Option<&'a str>,
    /// `--list`.
    pub list: Option<&'a str>,
    /// `--read-mode`.
    pub read_mode: Option<&'a str>,
    /// `--json`.
    pub json: bool,
}

/// The read job of `args` (with `export`'s concurrency, polling and timeout in `job`).
pub(crate) fn read_job(
    args: ReadChoice<'_>,
    job: &ExportJob,
    options: &EngineOptions,
) -> Result<ReadJob> {
    let object = match (args.view, args.list) {
        (Some(v), None) => ReadObject::View(v.to_owned()),
        (None, Some(l)) => ReadObject::List(l.to_owned()),
        _ => {
            return Err(Error::usage(
                "give exactly one of --export, --view and --list",
            ));
        }
    };
    let mode = match args.read_mode {
        None => ReadMode::Auto,
        Some(m) => m
            .parse()
            .map_err(|e: String| Error::usage(format!("--read-mode: {e}")))?,
    };
    let read = ReadJob::like_export(object, mode, job, options);
    Ok(read)
}

/// Runs the read and prints its report.
pub(crate) async fn run(
    client: &AnaplanClient,
    args: ReadChoice<'_>,
    job: ExportJob,
    destination: &Destination,
    options: EngineOptions,
    run: &RunContext,
    global: &GlobalArgs,
) -> Result<ExitCode> {
    let read = read_job(args, &job, &options)?;
    let display = Display::start(&run.progress, global);
    let result = run_read(client, &read, destination, options, run).await;
    display.finish();
    let report = result?;
    print_read_report(&report, args.json, global)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the summary: text on stderr (unless `-q`), or JSON on stdout.
pub(crate) fn print_read_report(
    report: &ReadReport,
    json: bool,
    global: &GlobalArgs,
) -> Result<()> {
    if json {
        return write_stdout(&report_json(report)?.to_string());
    }
    if !global.quiet {
        let mut text = report.summary.to_text();
        let how = match &report.request_id {
            Some(id) => format!("read request {id}, {} pages, deleted", report.pages),
            None => "transactional read".to_owned(),
        };
        let _ = write!(
            text,
            "  from {} {:?} of model {:?} in workspace {:?} ({how})",
            report.kind, report.object_name, report.model.name, report.workspace.name,
        );
        if let Some(f) = &report.fallback {
            let _ = write!(text, "\n  note: {f}");
        }
        crate::logging::print_error(&text);
    }
    Ok(())
}

/// The `--json` summary: the engine's summary and what was read, how.
pub(crate) fn report_json(report: &ReadReport) -> Result<serde_json::Value> {
    report.summary.json_with_source(serde_json::json!({
        "workspace": {"id": report.workspace.id, "name": report.workspace.name},
        "model": {"id": report.model.id, "name": report.model.name},
        report.kind: {"id": report.object_id, "name": report.object_name},
        "read_request_id": report.request_id,
        "pages": report.pages,
        "read_mode": if report.request_id.is_some() { "large" } else { "direct" },
        "fallback": report.fallback,
    }))
}
