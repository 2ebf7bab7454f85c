//! A front end for embedding the engine in another language (the Python package in
//! `python/`): each call takes the command line's own arguments, parsed by the same clap
//! definitions and validated by the same settings layer, and returns what the command would
//! print with `--json`, as a value instead of text.
//!
//! **Not a stable API** (hidden from the docs): it exists for the bindings, which turn
//! keyword arguments into these arguments (`infer_rows=500` → `--infer-rows 500`), so every
//! option keeps the command line's name, default and validation.
//!
//! The caller owns cancellation (the [`RunContext`]'s shutdown, which no signal handler is
//! installed for: the host language handles its own Ctrl-C) and logging (no subscriber is
//! installed here). Secrets given by the host (a password, a refresh token) never pass
//! through arguments: they are given as the environment variables the command line reads
//! ([`Secrets`]).

mod stream;

use std::collections::HashMap;

use clap::Parser;

use crate::anaplan::AnaplanClient;
use crate::cli::{Cli, Command, as_flags};
use crate::convert::{self, RunContext};
use crate::error::{Error, Result};
use crate::export::run_export;
use crate::secret::Secret;
use crate::settings::{Context, Resolved};
use crate::sink::Destination;
use crate::source::FileSource;

pub use stream::{BatchStream, Next, STREAM_QUEUE};

/// Values of environment variables given by the host instead of the process environment
/// (`ANAPLAN_PASSWORD`, `ANAPLAN_REFRESH_TOKEN`, `ANAPLAN_PRIVATE_KEY_PASSPHRASE`): looked up
/// first, then the process environment. Never printed.
#[derive(Clone, Default)]
pub struct Secrets(HashMap<String, Secret>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Secrets {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `name` (an environment variable the command line reads) the value `value`.
    pub fn set(&mut self, name: &str, value: Secret) {
        self.0.insert(name.to_owned(), value);
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|s| s.expose().to_owned())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }

    /// The host's environment: these values, then the process's; never a prompt.
    fn resolve(&self, connection: &crate::cli::connection::ConnectionArgs) -> Result<Resolved> {
        let env = |name: &str| self.lookup(name);
        let cx = Context {
            env: &env,
            prompt: &|_| None,
        };
        connection.settings().resolve_with(&cx).map_err(as_flags)
    }
}

/// Parses `args` (the command and its flags, without the program name) as the command line.
pub(crate) fn parse(args: &[String]) -> Result<Command> {
    let argv = std::iter::once("anaplan-parquet").chain(args.iter().map(String::as_str));
    Cli::try_parse_from(argv)
        .map(|cli| cli.command)
        .map_err(|e| Error::usage(e.render().to_string().trim_end().to_owned()))
}

/// `export ... --json`: runs an export (or a view or list read) and returns its summary.
pub async fn export(
    args: &[String],
    secrets: &Secrets,
    run: &RunContext,
) -> Result<serde_json::Value> {
    let Command::Export(args) = parse(args)? else {
        return Err(Error::usage("expected the export command"));
    };
    let mut options = args.engine.to_options()?;
    options.keep_input.clone_from(&args.keep_csv);
    let destination =
        Destination::from_options(&args.output.to_options()?)?.with_progress(run.progress.clone());
    convert::check_distinct_files(None, &destination, &options)?;
    let resolved = secrets.resolve(&args.connection)?;
    let client = AnaplanClient::new(resolved.config.clone())?;
    let result = async {
        let (workspace, model) = scope(args.workspace.as_ref(), args.model.as_ref(), &resolved)?;
        let job = args.job(workspace, model)?;
        if args.view.is_some() || args.list.is_some() {
            let choice = crate::cli::read::ReadChoice {
                view: args.view.as_deref(),
                list: args.list.as_deref(),
                read_mode: args.read_mode.as_deref(),
                json: true,
            };
            let read = crate::cli::read::read_job(choice, &job, &options)?;
            let report = crate::read::run_read(&client, &read, &destination, options, run).await?;
            return crate::cli::read::report_json(&report);
        }
        let report = run_export(&client, &job, &destination, options, run, &|_| {}).await?;
        crate::cli::export::report_json(&report)
    }
    .await;
    client.logout().await;
    result
}

/// The workspace and model: given, else the config file's.
fn scope(
    workspace: Option<&String>,
    model: Option<&String>,
    resolved: &Resolved,
) -> Result<(String, String)> {
    let workspace = workspace
        .cloned()
        .or_else(|| resolved.workspace.clone())
        .ok_or_else(|| Error::usage("workspace is required (a name or an id)"))?;
    let model = model
        .cloned()
        .or_else(|| resolved.model.clone())
        .ok_or_else(|| Error::usage("model is required (a name or an id)"))?;
    Ok((workspace, model))
}

/// `convert INPUT -o OUTPUT ... --json`: converts a local CSV file and returns its summary.
pub async fn convert_file(args: &[String], run: &RunContext) -> Result<serde_json::Value> {
    let Command::Convert(args) = parse(args)? else {
        return Err(Error::usage("expected the convert command"));
    };
    if args.input == "-" || args.print_schema {
        return Err(Error::usage(
            "convert reads a file: give its path (stdin and print_schema are for the command line)",
        ));
    }
    let options = args.engine.to_options()?;
    let path = std::path::Path::new(&args.input);
    if !path.exists() {
        return Err(Error::usage(format!(
            "input {} does not exist",
            path.display()
        )));
    }
    let destination =
        Destination::from_options(&args.output.to_options()?)?.with_progress(run.progress.clone());
    let summary = convert::convert(&FileSource::new(path), &destination, &options, run).await?;
    serde_json::to_value(&summary)
        .map_err(|e| Error::Internal(format!("cannot serialise the summary: {e}")))
}

/// `run JOBS.toml ... --json`: one round of a jobs file; its report (a failed dataset is in
/// the report, with the round's exit code, not an error).
pub async fn run_jobs(
    args: &[String],
    secrets: &Secrets,
    run: &RunContext,
) -> Result<serde_json::Value> {
    let Command::Run(args) = parse(args)? else {
        return Err(Error::usage("expected the run command"));
    };
    if args.every.is_some() || args.check {
        return Err(Error::usage(
            "every and check are for the command line: call run() on your own schedule",
        ));
    }
    let options = crate::jobs::RunOptions {
        parallel: args.parallel,
        connections: args.connections,
        fail_fast: args.fail_fast,
        skip_unchanged: args.skip_unchanged,
    };
    options.validate().map_err(as_flags)?;
    let jobs_file = crate::jobs::file::read(&args.jobs)?;
    for w in &jobs_file.warnings {
        tracing::warn!("{w}");
    }
    let (datasets, mut problems) = jobs_file.selection(&args.only, args.shard)?;
    let connection = {
        let env = |name: &str| secrets.lookup(name);
        let cx = Context {
            env: &env,
            prompt: &|_| None,
        };
        args.connection
            .resolve_with_file(jobs_file.connection.clone(), &cx)
    };
    if let Err(e) = &connection {
        problems.push(crate::jobs::Problem {
            dataset: None,
            problem: e.to_string(),
        });
    }
    if !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .map(|p| match &p.dataset {
                Some(d) => format!("{d}: {}", p.problem),
                None => p.problem.clone(),
            })
            .collect();
        return Err(Error::usage(format!(
            "the jobs file {} has {} problem(s); nothing was run: {}",
            args.jobs.display(),
            problems.len(),
            listed.join("; ")
        )));
    }
    let client = AnaplanClient::new(connection?.config)?;
    let report = crate::jobs::run_round(&client, &datasets, &options, &run.shutdown).await;
    client.logout().await;
    let report = report?;
    let mut value = serde_json::to_value(&report)
        .map_err(|e| Error::Internal(format!("cannot serialise the report: {e}")))?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(
            "exit_code".to_owned(),
            serde_json::json!(report.exit_class().code()),
        );
    }
    Ok(value)
}

/// `export ...` streamed: starts the export (or view or list read) and returns its record
/// batches as they are decoded, once the schema is known. See [`BatchStream`].
pub async fn read(args: &[String], secrets: &Secrets, run: RunContext) -> Result<BatchStream> {
    let Command::Export(args) = parse(args)? else {
        return Err(Error::usage("expected the export command"));
    };
    let options = args.engine.to_options()?;
    let resolved = secrets.resolve(&args.connection)?;
    let (workspace, model) = scope(args.workspace.as_ref(), args.model.as_ref(), &resolved)?;
    let job = args.job(workspace, model)?;
    let read = if args.view.is_some() || args.list.is_some() {
        let choice = crate::cli::read::ReadChoice {
            view: args.view.as_deref(),
            list: args.list.as_deref(),
            read_mode: args.read_mode.as_deref(),
            json: true,
        };
        Some(crate::cli::read::read_job(choice, &job, &options)?)
    } else {
        None
    };
    let client = AnaplanClient::new(resolved.config)?;
    stream::start(client, job, read, options, run).await
}

/// `simulator ...`: the configuration the command would serve (`--listen` is ignored: the
/// host starts it on a free loopback port).
#[cfg(feature = "simulator")]
pub fn simulator_config(args: &[String]) -> Result<crate::simulator::SimulatorConfig> {
    let Command::Simulator(args) = parse(args)? else {
        return Err(Error::usage("expected the simulator command"));
    };
    args.to_config()
}
