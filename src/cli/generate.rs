//! `anaplan-parquet generate` (owned by the simulator and generator work, issue 3 / issue 2).

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {}

/// Runs `generate`.
pub async fn run(_args: GenerateArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
