//! `anaplan-parquet export`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {}

/// Runs `export`.
pub async fn run(_args: ExportArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
