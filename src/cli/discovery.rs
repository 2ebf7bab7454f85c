//! Discovery commands: `workspaces`, `models`, `exports`, `files`.
//!
//! A readable table by default; `--json` prints a JSON array for scripts. Workspaces and
//! models are given by name or id.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::GlobalArgs;
use super::connection::ConnectionArgs;
use crate::anaplan::AnaplanClient;
use crate::anaplan::model::{Model, Workspace};
use crate::error::{Error, Result};
use crate::settings::Resolved;
use crate::summary::human_bytes;

/// Arguments of `workspaces`.
#[derive(Debug, Args)]
pub(crate) struct WorkspacesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `models`.
#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    /// Workspace name or id (default: `workspace` from the config file).
    #[arg(long, short = 'w', value_name = "NAME|ID")]
    pub workspace: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `exports` and `files`.
#[derive(Debug, Args)]
pub(crate) struct ModelScopeArgs {
    /// Workspace name or id (default: `workspace` from the config file).
    #[arg(long, short = 'w', value_name = "NAME|ID")]
    pub workspace: Option<String>,

    /// Model name or id (default: `model` from the config file).
    #[arg(long, short = 'm', value_name = "NAME|ID")]
    pub model: Option<String>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `exports`.
pub(crate) type ExportsArgs = ModelScopeArgs;
/// Arguments of `files`.
pub(crate) type FilesArgs = ModelScopeArgs;

/// Runs `workspaces`.
pub(crate) async fn run_workspaces(args: WorkspacesArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, _| {
        let items = client.workspaces().await?;
        print_list(
            &items,
            args.json,
            "workspaces",
            &["Name", "Id", "Active", "Size"],
            |w| {
                vec![
                    w.name.clone(),
                    w.id.clone(),
                    w.active
                        .map_or_else(String::new, |a| if a { "yes" } else { "no" }.to_owned()),
                    match (w.current_size, w.size_allowance) {
                        (Some(c), Some(a)) => format!("{} of {}", human_bytes(c), human_bytes(a)),
                        (None, Some(a)) => format!("allowance {}", human_bytes(a)),
                        (Some(c), None) => human_bytes(c),
                        (None, None) => String::new(),
                    },
                ]
            },
        )
    })
    .await
}

/// Runs `models`.
pub(crate) async fn run_models(args: ModelsArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let workspace = workspace(client, args.workspace.as_ref(), resolved).await?;
        let items = client.models(&workspace.id).await?;
        print_list(&items, args.json, "models", &["Name", "Id", "State"], |m| {
            vec![
                m.name.clone(),
                m.id.clone(),
                m.active_state
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ]
        })
    })
    .await
}

/// Runs `exports`.
pub(crate) async fn run_exports(args: ExportsArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let (workspace, model) = model_scope(client, &args, resolved).await?;
        let items = client.exports(&workspace.id, &model.id).await?;
        print_list(
            &items,
            args.json,
            "exports",
            &["Name", "Id", "Type", "Format", "Layout"],
            |e| {
                vec![
                    e.name.clone(),
                    e.id.clone(),
                    e.export_type
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    e.export_format.clone().unwrap_or_default(),
                    e.layout
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ]
            },
        )
    })
    .await
}

/// Runs `files`.
pub(crate) async fn run_files(args: FilesArgs, _global: &GlobalArgs) -> Result<ExitCode> {
    with_client(&args.connection, async |client, resolved| {
        let (workspace, model) = model_scope(client, &args, resolved).await?;
        let items = client.files(&workspace.id, &model.id).await?;
        print_list(
            &items,
            args.json,
            "files",
            &["Name", "Id", "Chunks", "Encoding", "Separator"],
            |f| {
                vec![
                    f.name.clone(),
                    f.id.clone(),
                    f.chunk_count.map(|n| n.to_string()).unwrap_or_default(),
                    f.encoding.clone().unwrap_or_default(),
                    f.separator
                        .as_deref()
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_default(),
                ]
            },
        )
    })
    .await
}

/// Builds the client, runs `f`, logs out whatever happened.
pub(crate) async fn with_client<T>(
    connection: &ConnectionArgs,
    f: impl AsyncFnOnce(&AnaplanClient, &Resolved) -> Result<T>,
) -> Result<T> {
    let (client, resolved) = connection.client()?;
    let result = f(&client, &resolved).await;
    client.logout().await;
    result
}

async fn workspace(
    client: &AnaplanClient,
    given: Option<&String>,
    resolved: &Resolved,
) -> Result<Workspace> {
    let wanted = given.or(resolved.workspace.as_ref()).ok_or_else(|| {
        Error::usage("--workspace is required (a name or an id; `workspaces` lists them)")
    })?;
    client.find_workspace(wanted).await
}

pub(crate) async fn model_scope(
    client: &AnaplanClient,
    args: &ModelScopeArgs,
    resolved: &Resolved,
) -> Result<(Workspace, Model)> {
    let wanted = args
        .model
        .as_ref()
        .or(resolved.model.as_ref())
        .ok_or_else(|| {
            Error::usage("--model is required (a name or an id; `models` lists them)")
        })?;
    let workspace = workspace(client, args.workspace.as_ref(), resolved).await?;
    let model = client.find_model(&workspace, wanted).await?;
    Ok((workspace, model))
}

/// Prints items as a table (or JSON) on stdout.
pub(crate) fn print_list<T: Serialize>(
    items: &[T],
    json: bool,
    what: &str,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<ExitCode> {
    let text = if json {
        serde_json::to_string_pretty(items)
            .map_err(|e| Error::Internal(format!("cannot print JSON: {e}")))?
    } else if items.is_empty() {
        crate::logging::print_error(&format!("no {what}"));
        return Ok(ExitCode::SUCCESS);
    } else {
        render_table(header, items.iter().map(row))
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// A condensed UTF-8 table.
pub(crate) fn render_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for r in rows {
        table.add_row(r);
    }
    table.to_string()
}

/// Writes a block of text and a newline to stdout.
pub(crate) fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to stdout", e))
}
