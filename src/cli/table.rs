//! `table history DEST` and `table vacuum DEST --retain 7d`: housekeeping of a Delta table
//! written with `--format delta`.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use super::discovery::write_stdout;
use super::output_args::OutputArgs;
use crate::error::{Error, Result};
use crate::sink::Destination;

/// `table` and its subcommands.
#[derive(Debug, Args)]
pub(crate) struct TableArgs {
    #[command(subcommand)]
    command: TableCommand,
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// List the table's commits: version, time, operation, files and rows added, provenance.
    History(HistoryArgs),
    /// Delete data files no version of the last RETAIN needs (removed by a replace, or left by
    /// a failed run). Time travel to versions older than RETAIN stops working.
    Vacuum(VacuumArgs),
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// The table's root: a local directory or an object-store URL.
    #[arg(value_name = "DEST")]
    table: String,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: OutputArgs,
}

#[derive(Debug, Args)]
struct VacuumArgs {
    /// The table's root: a local directory or an object-store URL.
    #[arg(value_name = "DEST")]
    table: String,
    /// Keep what versions of this period need, e.g. `7d`, `168h` (at least 1h).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    retain: String,
    /// List what would be deleted without deleting it.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: OutputArgs,
}

fn destination(table: &str, store: &OutputArgs) -> Result<Destination> {
    let mut args = store.clone();
    args.output = Some(table.to_owned());
    args.format = Some("delta".to_owned());
    args.mode = Some("append".to_owned());
    Destination::from_options(&args.to_options()?)
}

/// Runs `table`.
pub(crate) async fn run(args: TableArgs, global: &GlobalArgs) -> Result<ExitCode> {
    match args.command {
        TableCommand::History(a) => {
            let dest = destination(&a.table, &a.store)?;
            let table = dest
                .delta_table()
                .ok_or_else(|| Error::Internal("not a Delta destination".into()))?;
            let commits = table.history().await?;
            if a.json {
                let text = serde_json::to_string(&commits)
                    .map_err(|e| Error::Internal(format!("cannot print the history: {e}")))?;
                return write_stdout(&text).map(|()| ExitCode::SUCCESS);
            }
            let mut text = String::from(
                "version  time (UTC)           operation     mode       files+  files-  rows+\n",
            );
            for c in &commits {
                let time = c
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or_else(
                        || "-".to_owned(),
                        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                    );
                let _ = write!(
                    text,
                    "{:<8} {:<20} {:<13} {:<10} {:<7} {:<7} {}",
                    c.version,
                    time,
                    c.operation.as_deref().unwrap_or("-"),
                    c.mode.as_deref().unwrap_or("-"),
                    c.added,
                    c.removed,
                    c.rows_added
                );
                if let Some(serde_json::Value::Object(p)) = &c.provenance {
                    let who: Vec<String> = ["workspace", "model", "export", "taskId"]
                        .iter()
                        .filter_map(|k| {
                            p.get(*k)
                                .and_then(|v| v.as_str())
                                .map(|v| format!("{k}={v}"))
                        })
                        .collect();
                    if !who.is_empty() {
                        let _ = write!(text, "  {}", who.join(" "));
                    }
                }
                text.push('\n');
            }
            write_stdout(text.trim_end()).map(|()| ExitCode::SUCCESS)
        }
        TableCommand::Vacuum(a) => {
            let retain = crate::units::parse_duration(&a.retain)
                .map_err(|e| Error::usage(format!("--retain: {e}")))?;
            if retain < std::time::Duration::from_hours(1) {
                return Err(Error::usage(
                    "--retain must be at least 1h: a shorter period could delete the file of a \
                     run that is still committing",
                ));
            }
            let dest = destination(&a.table, &a.store)?;
            let table = dest
                .delta_table()
                .ok_or_else(|| Error::Internal("not a Delta destination".into()))?;
            let done = table.vacuum(retain, a.dry_run).await?;
            if a.json {
                let text = serde_json::to_string(&done)
                    .map_err(|e| Error::Internal(format!("cannot print the result: {e}")))?;
                return write_stdout(&text).map(|()| ExitCode::SUCCESS);
            }
            if !global.quiet {
                let verb = if done.dry_run {
                    "would delete"
                } else {
                    "deleted"
                };
                let mut text = format!(
                    "{verb} {} data files ({} bytes) from {}",
                    done.files.len(),
                    done.bytes,
                    dest.describe()
                );
                for f in &done.files {
                    let _ = write!(text, "\n  {f}");
                }
                crate::logging::print_error(&text);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
