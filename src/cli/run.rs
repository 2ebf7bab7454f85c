//! `anaplan-parquet run`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {}

/// Runs `run`.
pub async fn run(_args: RunArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
