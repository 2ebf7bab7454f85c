//! `anaplan-parquet simulator` (owned by the simulator and generator work, issue 3 / issue 2).

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `simulator`.
#[derive(Debug, Args)]
pub struct SimulatorArgs {}

/// Runs `simulator`.
pub async fn run(_args: SimulatorArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
