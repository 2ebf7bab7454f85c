//! Many exports from one account: the datasets of a jobs file, run together
//! (`anaplan-parquet run JOBS.toml`).
//!
//! The jobs file (`file`) is read into [`Dataset`]s (each an [`ExportJob`], [`EngineOptions`]
//! and [`DestinationOptions`]) through the same settings layer as the `export` command's flags
//! (`crate::settings`). A round is run by [`run_round`] (in `run.rs`; names resolved once per
//! round in `catalog.rs`), reported as [`RoundReport`] (`report.rs`), and [`check`]ed without
//! exporting anything (`check.rs`).
//!
//! A dataset may read a module view or a list instead of an export (`view =` or `list =` in the
//! jobs file: [`Dataset::read`]): its names are resolved with the others, and it is read
//! through a large-volume read request by [`crate::read::run_read`] (`read_dataset.rs`), which
//! deletes the request whatever the ending; its manifest names the view or list.
//!
//! ## One round ([`run_round`])
//!
//! 1. **One sign-in** for every dataset: one client, one token, refreshed as needed.
//! 2. **Names resolved once**: the workspace, model and export lists are read once per round
//!    and every dataset's names (or ids) resolved against them. A dataset whose names do not
//!    resolve fails on its own; the others go on.
//! 3. **Datasets in parallel**, at most [`RunOptions::parallel`] at a time, started in an
//!    order that alternates between models so that the first slots go to different models.
//! 4. **One task per model at a time.** Anaplan runs one task per model and queues (or
//!    refuses) the others, so a dataset waits for its model's turn before starting its export
//!    task, and gives the turn back once the task has finished, before downloading. Two
//!    datasets of the same export also wait for each other from the task to the end of the
//!    download, because the export's file is rewritten by each task.
//! 5. **One download budget**: every chunk download of the round holds a permit of one
//!    semaphore of [`RunOptions::connections`] permits (first come, first served), on top of
//!    each dataset's own `concurrency`, so a large export cannot starve the others.
//! 6. **Failures stay local**: a failed dataset is reported and the others finish, unless
//!    [`RunOptions::fail_fast`] asks to stop the round (datasets in flight are cancelled
//!    cleanly, their tasks cancelled and their uploads aborted; the rest are not started).
//! 7. **A manifest after each dataset** (`manifest`), written after the data: run id, time,
//!    source names and ids, task id, rows, schema, and the SHA-256 of the raw export
//!    (`hash`). With [`RunOptions::skip_unchanged`], an export whose hash equals the last
//!    manifest's is not written again: the output is abandoned before it is published.
//!
//! ## Overlapping runs
//!
//! Two runs of the same jobs file at once (a slow round and the next cron start) never
//! corrupt a dataset: a replaced file is swapped atomically (the last run to finish wins), an
//! appended part has a unique name, and each manifest is replaced whole, after its data.

use crate::convert::EngineOptions;
use crate::error::{Error, Result};
use crate::export::ExportJob;
use crate::sink::DestinationOptions;

mod catalog;
mod check;
pub(crate) mod file;
pub(crate) mod hash;
pub(crate) mod manifest;
mod overlap;
mod read_dataset;
mod report;
mod run;
pub(crate) mod schedule;
pub(crate) mod select;

pub use check::check;
pub use manifest::NamedRef;
pub(crate) use overlap::overlaps;
pub use report::{CheckReport, CheckedDataset, DatasetReport, Problem, RoundReport, Status};
pub use run::run_round;
pub(crate) use select::{Shard, select};

/// Datasets run at the same time, by default.
pub const DEFAULT_PARALLEL: usize = 4;
/// The most datasets run at the same time.
pub const MAX_PARALLEL: usize = 64;
/// Chunk downloads in flight across all datasets, by default.
pub const DEFAULT_CONNECTIONS: usize = 16;
/// The largest shared download budget.
pub const MAX_CONNECTIONS: usize = 256;

/// One dataset of a jobs file, validated.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Its name in the jobs file (unique; used by `--only`, the report and the manifest).
    pub name: String,
    /// Which export (workspace, model and export by name or id), polling, chunk concurrency.
    pub job: ExportJob,
    /// CSV, schema and Parquet options.
    pub engine: EngineOptions,
    /// Where and how to write.
    pub output: DestinationOptions,
    /// For a dataset with `view =` or `list =`: the read (a large-volume read request);
    /// `job.export` then holds the view's or list's name or id, for messages.
    pub read: Option<crate::read::ReadJob>,
}

/// How a round runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Datasets at the same time.
    pub parallel: usize,
    /// Chunk downloads in flight across all datasets.
    pub connections: usize,
    /// Stop the round at the first failed dataset.
    pub fail_fast: bool,
    /// Do not write an export whose content hash equals the last manifest's.
    pub skip_unchanged: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: DEFAULT_PARALLEL,
            connections: DEFAULT_CONNECTIONS,
            fail_fast: false,
            skip_unchanged: false,
        }
    }
}

impl RunOptions {
    /// Checks the options; a bad value is an [`Error::InvalidSetting`] named `parallel` or
    /// `connections`.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_PARALLEL).contains(&self.parallel) {
            return Err(Error::invalid_setting(
                "parallel",
                format!(
                    "must be between 1 and {MAX_PARALLEL}, not {}",
                    self.parallel
                ),
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return Err(Error::invalid_setting(
                "connections",
                format!(
                    "must be between 1 and {MAX_CONNECTIONS}, not {}",
                    self.connections
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options_are_checked() {
        assert!(RunOptions::default().validate().is_ok());
        for (options, name) in [
            (
                RunOptions {
                    parallel: 0,
                    ..RunOptions::default()
                },
                "parallel",
            ),
            (
                RunOptions {
                    connections: MAX_CONNECTIONS + 1,
                    ..RunOptions::default()
                },
                "connections",
            ),
        ] {
            match options.validate() {
                Err(Error::InvalidSetting { setting, .. }) => assert_eq!(setting, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
