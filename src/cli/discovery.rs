//! Discovery commands: `workspaces`, `models`, `exports`, `files`.

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::error::{Error, Result};

/// Arguments of `workspaces`.
#[derive(Debug, Args)]
pub struct WorkspacesArgs {}
/// Arguments of `models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {}
/// Arguments of `exports`.
#[derive(Debug, Args)]
pub struct ExportsArgs {}
/// Arguments of `files`.
#[derive(Debug, Args)]
pub struct FilesArgs {}

/// Runs `workspaces`.
pub async fn run_workspaces(_args: WorkspacesArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
/// Runs `models`.
pub async fn run_models(_args: ModelsArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
/// Runs `exports`.
pub async fn run_exports(_args: ExportsArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
/// Runs `files`.
pub async fn run_files(_args: FilesArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    Err(Error::Internal("not implemented yet".into()))
}
