#![allow(clippy::print_stdout, clippy::print_stderr)]

//! The command line: raw arguments (clap derive) for every command, turned once into the
//! library's options through the settings layer (`crate::settings`), then dispatched.
//!
//! Each command has its own file holding its `Args` and its `run` function. Option groups
//! shared by several commands (`engine_args`, `output_args`, `connection`) are flattened
//! into each command's arguments. Flags hold values as typed; the settings layer checks them
//! with the same code and words as a jobs file's keys, and `as_flags` names a bad one as the
//! flag that gave it.

use std::ffi::OsStr;
use std::process::ExitCode;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::error::{Error, ExitClass, Result};
use crate::settings::Choice;

pub(crate) mod bench;
pub(crate) mod connection;
pub(crate) mod convert;
#[cfg(feature = "simulator")]
pub(crate) mod demo;
pub(crate) mod discovery;
pub(crate) mod display;
pub(crate) mod engine_args;
pub(crate) mod export;
#[cfg(feature = "simulator")]
pub(crate) mod generate;
pub(crate) mod login;
pub(crate) mod output_args;
pub(crate) mod read;
pub(crate) mod run;
#[cfg(feature = "simulator")]
pub(crate) mod simulator;
pub(crate) mod table;
pub(crate) mod views;

/// Pull Anaplan exports into Parquet, on local disk or in an object store.
#[derive(Debug, Parser)]
#[command(name = "anaplan-parquet", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options that apply to every command.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options accepted before or after the command name.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// More logging: -v for debug, -vv for trace. RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less output: errors only, no progress bar and no summary on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub(crate) enum Command {
    /// Run an Anaplan export and write it as Parquet (the main job).
    Export(export::ExportArgs),
    /// Run the main job against the embedded Anaplan simulator: no account, no network.
    #[cfg(feature = "simulator")]
    Demo(demo::DemoArgs),
    /// Convert a CSV file (or stdin) to Parquet.
    Convert(convert::ConvertArgs),
    /// List the workspaces the user can see.
    Workspaces(discovery::WorkspacesArgs),
    /// List the models of a workspace.
    Models(discovery::ModelsArgs),
    /// List the exports of a model.
    Exports(discovery::ExportsArgs),
    /// List the files of a model.
    Files(discovery::FilesArgs),
    /// List the modules of a model.
    Modules(discovery::ModelScopeArgs),
    /// List the views of a model (each module's default view and the saved views) with
    /// their dimensions; `export --view` reads one.
    Views(discovery::ModelScopeArgs),
    /// List the lists of a model with their item counts; `export --list` reads one.
    Lists(discovery::ModelScopeArgs),
    /// Measure where an export's time goes over a sweep of settings (connections, codecs, and
    /// for the simulator chunk sizes), and recommend a setting.
    Bench(bench::BenchArgs),
    /// Run many exports from a jobs file (for cron, systemd timers, Kubernetes, Airflow).
    Run(run::RunArgs),
    /// Sign in with OAuth (device grant) once and save the refresh token for later runs.
    Login(login::LoginArgs),
    /// Revoke the saved OAuth refresh token and delete its file.
    Logout(login::LogoutArgs),
    /// Housekeeping of a Delta table written with --format delta: history, vacuum.
    Table(table::TableArgs),
    /// Generate a synthetic Tabular Single Column export (deterministic under --seed).
    #[cfg(feature = "simulator")]
    Generate(generate::GenerateArgs),
    /// Serve a simulated Anaplan tenant (auth service and Integration API) on loopback.
    #[cfg(feature = "simulator")]
    Simulator(simulator::SimulatorArgs),
}

/// Parses the process arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("anaplan-parquet")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&Error::Internal(format!("cannot start the runtime: {e}"))),
    };
    let result = runtime.block_on(dispatch(cli));
    // Blocking stages finish on their own once their channels close; do not wait for stragglers.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        // A setting error that reaches the top came from a flag (a jobs file's are reported
        // with their keys where they are read).
        Err(e) => report(&as_flags(e)),
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Convert(args) => convert::run(args, &global).await,
        Command::Export(args) => export::run(args, &global).await,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::run(args, &global).await,
        Command::Workspaces(args) => discovery::run_workspaces(args, &global).await,
        Command::Models(args) => discovery::run_models(args, &global).await,
        Command::Exports(args) => discovery::run_exports(args, &global).await,
        Command::Files(args) => discovery::run_files(args, &global).await,
        Command::Modules(args) => views::run_modules(args, &global).await,
        Command::Views(args) => views::run_views(args, &global).await,
        Command::Lists(args) => views::run_lists(args, &global).await,
        Command::Run(args) => run::run(args, &global).await,
        Command::Bench(args) => bench::run(args, &global).await,
        Command::Login(args) => login::run_login(args, &global).await,
        Command::Logout(args) => login::run_logout(args, &global).await,
        Command::Table(args) => table::run(args, &global).await,
        #[cfg(feature = "simulator")]
        Command::Generate(args) => generate::run(args, &global).await,
        #[cfg(feature = "simulator")]
        Command::Simulator(args) => simulator::run(args, &global).await,
    }
}

/// Prints an error as one line (plus its causes) and maps it to its exit code.
pub(crate) fn report(e: &Error) -> ExitCode {
    if e.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    crate::logging::print_error(&format!("error: {}", crate::error::error_chain(e)));
    let class = e.exit_class();
    debug_assert_ne!(class, ExitClass::Success);
    ExitCode::from(class.code())
}

/// The flag that gives a setting: `row_group_bytes` → `--row-group-bytes`. A few flags read
/// differently from their setting's name.
pub(crate) fn flag_name(setting: &str) -> String {
    match setting {
        "types" => "--type".to_owned(),
        "storage_options" => "--storage-option".to_owned(),
        "value_number" => "--no-value-number".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// A settings error, with its setting named as the flag that gave it.
pub(crate) fn as_flags(e: Error) -> Error {
    e.naming_setting(flag_name)
}

/// The value parser of a flag that takes a name (`--compression zstd`): `--help` lists the
/// choices, and any text passes, for the settings layer to check with the words it uses for
/// every front end.
pub(crate) fn named<T>(choices: &'static [Choice<T>]) -> NamedValue {
    NamedValue(
        choices
            .iter()
            .map(|c| {
                PossibleValue::new(c.name)
                    .help(c.help)
                    .aliases(c.aliases.iter().copied())
            })
            .collect(),
    )
}

/// See [`named`].
#[derive(Clone)]
pub(crate) struct NamedValue(Vec<PossibleValue>);

impl TypedValueParser for NamedValue {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> std::result::Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().cloned()))
    }
}

/// The flags whose help shows a default (`[default: 64MiB]`), with that default as written.
#[cfg(test)]
pub(crate) fn defaults_in_help(cmd: &clap::Command) -> Vec<(String, String)> {
    cmd.get_arguments()
        .filter_map(|arg| {
            let help = arg.get_help()?.to_string();
            let default = help
                .split("[default: ")
                .nth(1)?
                .split(']')
                .next()?
                .to_owned();
            Some((format!("--{}", arg.get_long()?), default))
        })
        .collect()
}
