//! `anaplan-parquet demo`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Runs `demo`.
pub async fn run(_args: DemoArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
