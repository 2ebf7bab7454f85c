//! `anaplan-parquet convert INPUT --output DEST`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use super::engine_args::EngineArgs;
use crate::error::{Error, Result};

/// Arguments of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// CSV file to read, or `-` for stdin.
    #[arg(value_name = "INPUT")]
    pub input: String,

    /// Where to write the Parquet file.
    #[arg(short, long, value_name = "DEST")]
    pub output: String,

    /// Print the schema that would be written, and exit without writing.
    #[arg(long)]
    pub print_schema: bool,

    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// CSV, schema and Parquet options.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Runs `convert`.
pub async fn run(args: ConvertArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    let _ = args.engine.to_options()?;
    Err(Error::Internal("not implemented yet".into()))
}
