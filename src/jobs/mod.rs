//! Many exports from one account: the datasets of a jobs file, run together
//! (`anaplan-parquet run JOBS.toml`).
//!
//! The command line reads and validates the jobs file into [`Dataset`]s (each an
//! [`ExportJob`], [`EngineOptions`] and [`DestinationOptions`], validated exactly as the
//! `export` command's flags are); this module runs them.
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
//! 7. **A manifest after each dataset** ([`manifest`]), written after the data: run id, time,
//!    source names and ids, task id, rows, schema, and the SHA-256 of the raw export
//!    ([`hash`]). With [`RunOptions::skip_unchanged`], an export whose hash equals the last
//!    manifest's is not written again: the output is abandoned before it is published.
//!
//! ## Overlapping runs
//!
//! Two runs of the same jobs file at once (a slow round and the next cron start) never
//! corrupt a dataset: a replaced file is swapped atomically (the last run to finish wins), an
//! appended part has a unique name, and each manifest is replaced whole, after its data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::anaplan::AnaplanClient;
use crate::anaplan::discovery::{Named, resolve};
use crate::export::{ExportJob, download_plan, prepare_resolved};
use crate::anaplan::model::{Export, Model, Workspace};
use crate::sink::{Destination, DestinationOptions, WriteMode};
use crate::convert::{self, EngineOptions, RunContext};
use crate::error::{Error, ExitClass, Result, Signal};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::summary::human_bytes;

pub mod hash;
pub mod manifest;
pub mod schedule;
pub mod select;

use hash::HashingSource;
use manifest::{MANIFEST_VERSION, Manifest, NamedRef};
pub use select::{Shard, select};

/// Datasets run at the same time, by default.
pub const DEFAULT_PARALLEL: usize = 4;
/// Chunk downloads in flight across all datasets, by default.
pub const DEFAULT_CONNECTIONS: usize = 16;

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

/// How a dataset's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written, manifest included.
    Ok,
    /// Not written: the export's content equals the last run's (`--skip-unchanged`).
    Unchanged,
    /// Failed; nothing partial was published.
    Failed,
    /// Stopped by a signal or by `--fail-fast`; nothing partial was published.
    Cancelled,
    /// Not started (the round was stopped first).
    NotRun,
}

impl Status {
    /// `ok`, `unchanged`, `failed`, `cancelled`, `not run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::NotRun => "not run",
        }
    }

    /// True for `ok` and `unchanged`.
    pub fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::Unchanged)
    }
}

/// What one dataset did in a round.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetReport {
    /// The dataset's name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Data rows written.
    pub rows: u64,
    /// Parquet bytes written.
    pub bytes: u64,
    /// Raw export bytes read.
    pub input_bytes: u64,
    /// Wall time, waiting for its model's turn included (seconds in JSON).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// The destination (a file, or a dataset prefix).
    pub output: String,
    /// The file written (in append mode, the new part).
    pub location: Option<String>,
    /// The manifest written.
    pub manifest: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// The exit code its error alone would give (see `export --help`).
    pub exit_code: Option<u8>,
    /// The workspace, once resolved.
    pub workspace: Option<NamedRef>,
    /// The model, once resolved.
    pub model: Option<NamedRef>,
    /// The export, once resolved.
    pub export: Option<NamedRef>,
    /// The export task, once started.
    pub task_id: Option<String>,
    /// SHA-256 of the raw export, once read whole.
    pub content_sha256: Option<String>,
}

impl DatasetReport {
    fn new(d: &Dataset) -> Self {
        DatasetReport {
            name: d.name.clone(),
            status: Status::NotRun,
            rows: 0,
            bytes: 0,
            input_bytes: 0,
            duration: Duration::ZERO,
            output: shown_output(&d.output.output),
            location: None,
            manifest: None,
            error: None,
            exit_code: None,
            workspace: None,
            model: None,
            export: None,
            task_id: None,
            content_sha256: None,
        }
    }

    fn fail(&mut self, status: Status, e: &Error) {
        self.status = status;
        self.error = Some(e.to_string());
        self.exit_code = Some(e.exit_class().code());
    }
}

/// What a round did.
#[derive(Clone, Debug, Serialize)]
pub struct RoundReport {
    /// The round's id (also in every manifest it wrote).
    pub run_id: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall time (seconds in JSON).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Every selected dataset, in jobs-file order.
    pub datasets: Vec<DatasetReport>,
    /// Retried Anaplan requests during the round, by reason.
    pub retries: Vec<(String, u64)>,
    /// The signal that stopped the round, if one did (`SIGINT`, `SIGTERM`).
    #[serde(serialize_with = "signal_name")]
    pub interrupted: Option<Signal>,
}

impl RoundReport {
    /// Datasets that ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.datasets.iter().filter(|d| d.status == status).count()
    }

    /// The round's exit class: interrupted by a signal (130/143), else a failure (1) when any
    /// dataset did not succeed, else success (0).
    pub fn exit_class(&self) -> ExitClass {
        match self.interrupted {
            Some(Signal::Interrupt) => ExitClass::Interrupted,
            Some(Signal::Terminate) => ExitClass::Terminated,
            None if self.datasets.iter().all(|d| d.status.is_success()) => ExitClass::Success,
            None => ExitClass::Failure,
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)] // the shape `serialize_with` wants
fn signal_name<S: serde::Serializer>(sig: &Option<Signal>, s: S) -> Result<S::Ok, S::Error> {
    match sig {
        Some(sig) => s.serialize_str(&sig.to_string()),
        None => s.serialize_none(),
    }
}

/// An output as given, for reports: a URL loses any password and query string (a SAS token).
fn shown_output(output: &str) -> String {
    match url::Url::parse(output) {
        Ok(mut u) if output.contains("://") => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        _ => output.to_owned(),
    }
}

/// A destination for reports: its file or dataset prefix, without the mode.
fn where_to(d: &Destination) -> String {
    let text = d.describe();
    match text.strip_suffix(" (append)") {
        Some(t) => t.to_owned(),
        None => text,
    }
}

fn named<T: Named>(item: &T) -> NamedRef {
    NamedRef {
        id: item.id().to_owned(),
        name: item.name().to_owned(),
    }
}

/// A dataset's workspace, model and export, resolved.
#[derive(Clone, Debug)]
struct Resolved {
    workspace: Workspace,
    model: Model,
    export: Export,
}

/// The lists read to resolve names, each read once per round.
#[derive(Default)]
struct Catalog {
    workspaces: Option<Vec<Workspace>>,
    models: HashMap<String, Vec<Model>>,
    exports: HashMap<(String, String), Vec<Export>>,
}

impl Catalog {
    async fn resolve(&mut self, client: &AnaplanClient, job: &ExportJob) -> Result<Resolved> {
        if self.workspaces.is_none() {
            self.workspaces = Some(client.workspaces().await?);
        }
        let all = self.workspaces.as_deref().unwrap_or_default();
        let workspace = resolve(all, &job.workspace, "workspace", "")?.clone();
        if !self.models.contains_key(&workspace.id) {
            let models = client.models(&workspace.id).await?;
            self.models.insert(workspace.id.clone(), models);
        }
        let model = resolve(
            &self.models[&workspace.id],
            &job.model,
            "model",
            &format!(" in workspace {:?}", workspace.name),
        )?
        .clone();
        let key = (workspace.id.clone(), model.id.clone());
        if !self.exports.contains_key(&key) {
            let exports = client.exports(&workspace.id, &model.id).await?;
            self.exports.insert(key.clone(), exports);
        }
        let export = resolve(
            &self.exports[&key],
            &job.export,
            "export",
            &format!(" in model {:?}", model.name),
        )?
        .clone();
        Ok(Resolved {
            workspace,
            model,
            export,
        })
    }
}

/// Named async locks: one per model (its task turn) and one per export (its file).
#[derive(Default)]
struct Locks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Locks {
    fn get(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key).or_default())
    }
}

/// Waits for `lock`, or for the run to be stopped.
async fn turn(
    lock: Arc<tokio::sync::Mutex<()>>,
    run: &RunContext,
) -> Result<tokio::sync::OwnedMutexGuard<()>> {
    tokio::select! {
        guard = lock.lock_owned() => Ok(guard),
        () = run.shutdown.triggered() => Err(run.shutdown.error()),
    }
}

/// What the datasets of a round share.
struct Shared {
    client: AnaplanClient,
    locks: Locks,
    budget: Arc<Semaphore>,
    run_id: String,
    skip_unchanged: bool,
    /// The process's signals.
    signals: Shutdown,
    /// Stopped by `--fail-fast` (and by the signals).
    round: Shutdown,
    /// The dataset whose failure stopped the round.
    stopped_by: Mutex<Option<String>>,
}

/// Runs `datasets` once: signs in, resolves every name, runs the datasets (see the module
/// docs) and reports on each, in the order given. Only a failed sign-in is an error of the
/// whole round; everything else is reported per dataset. `shutdown` is the process's signal
/// handle: once triggered, datasets in flight stop cleanly and no more start.
pub async fn run_round(
    client: &AnaplanClient,
    datasets: &[Dataset],
    options: &RunOptions,
    shutdown: &Shutdown,
) -> Result<RoundReport> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let run_id = schedule::run_id(started_at);
    let retries_before = client.retry_stats().counts();
    tracing::info!(
        "run {run_id}: {} dataset(s), {} at a time, {} download connections",
        datasets.len(),
        options.parallel,
        options.connections
    );
    client.sign_in_now().await?;

    let mut reports: Vec<DatasetReport> = datasets.iter().map(DatasetReport::new).collect();
    let mut done = vec![false; datasets.len()];
    let round = shutdown.child();
    // A signal also ends the calls in flight (a long Retry-After, a slow answer); a fail-fast
    // stop of the round lets them finish.
    client.stop_on(shutdown);
    let mut catalog = Catalog::default();
    let mut ready: Vec<(usize, Resolved)> = Vec::new();
    for (i, d) in datasets.iter().enumerate() {
        if round.is_triggered() {
            break;
        }
        match catalog.resolve(client, &d.job).await {
            Ok(r) => ready.push((i, r)),
            Err(e) => {
                tracing::error!("dataset {:?} failed: {e}", d.name);
                reports[i].fail(Status::Failed, &e);
                done[i] = true;
                if options.fail_fast {
                    round.stop();
                }
            }
        }
    }
    let order = interleave_by_model(ready, |(_, r)| r.model.id.clone());

    let shared = Arc::new(Shared {
        client: client.clone(),
        locks: Locks::default(),
        budget: Arc::new(Semaphore::new(options.connections.max(1))),
        run_id: run_id.clone(),
        skip_unchanged: options.skip_unchanged,
        signals: shutdown.clone(),
        round: round.clone(),
        stopped_by: Mutex::new(None),
    });
    let mut queue = order.into_iter();
    let mut running: JoinSet<DatasetReport> = JoinSet::new();
    let mut index_of = HashMap::new();
    loop {
        while running.len() < options.parallel.max(1) && !round.is_triggered() {
            let Some((i, names)) = queue.next() else {
                break;
            };
            let shared = Arc::clone(&shared);
            let dataset = datasets[i].clone();
            let span = tracing::info_span!("dataset", name = %dataset.name);
            let handle = running
                .spawn(async move { run_one(&shared, &dataset, names).await }.instrument(span));
            index_of.insert(handle.id(), i);
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (i, report) = match joined {
            Ok((id, report)) => (index_of[&id], report),
            Err(e) => {
                let i = index_of[&e.id()];
                let mut report = reports[i].clone();
                report.fail(
                    Status::Failed,
                    &Error::Internal(format!("the dataset's task failed: {e}")),
                );
                (i, report)
            }
        };
        log_outcome(&report);
        if options.fail_fast && report.status == Status::Failed && !round.is_triggered() {
            tracing::warn!(
                "stopping the round: dataset {:?} failed and --fail-fast was given",
                report.name
            );
            *shared
                .stopped_by
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(report.name.clone());
            round.stop();
        }
        reports[i] = report;
        done[i] = true;
    }
    for (report, done) in reports.iter_mut().zip(&done) {
        if !done {
            report.status = Status::NotRun;
            report.error = Some(if shutdown.is_triggered() {
                "not started: the run was interrupted".to_owned()
            } else {
                "not started: the round was stopped (--fail-fast)".to_owned()
            });
        }
    }
    let retries = retries_since(&retries_before, client.retry_stats().counts());
    Ok(RoundReport {
        run_id,
        started_at: schedule::rfc3339(started_at),
        duration: t0.elapsed(),
        datasets: reports,
        retries,
        interrupted: shutdown.is_triggered().then(|| shutdown.signal()).flatten(),
    })
}

fn log_outcome(r: &DatasetReport) {
    match r.status {
        Status::Ok => tracing::info!(
            "dataset {:?}: wrote {} rows ({}) to {} in {:.1}s",
            r.name,
            r.rows,
            human_bytes(r.bytes),
            r.location.as_deref().unwrap_or(&r.output),
            r.duration.as_secs_f64()
        ),
        Status::Unchanged => tracing::info!(
            "dataset {:?}: unchanged since the last run; nothing written",
            r.name
        ),
        Status::Failed => tracing::error!(
            "dataset {:?} failed: {}",
            r.name,
            r.error.as_deref().unwrap_or("?")
        ),
        Status::Cancelled | Status::NotRun => tracing::warn!(
            "dataset {:?}: {}",
            r.name,
            r.error.as_deref().unwrap_or("cancelled")
        ),
    }
}

/// `after - before`, by reason.
fn retries_since(before: &[(String, u64)], after: Vec<(String, u64)>) -> Vec<(String, u64)> {
    after
        .into_iter()
        .filter_map(|(reason, n)| {
            let was = before
                .iter()
                .find(|(r, _)| *r == reason)
                .map_or(0, |(_, n)| *n);
            (n > was).then(|| (reason, n - was))
        })
        .collect()
}

/// Orders items so that consecutive ones belong to different keys where possible: the first
/// item of each key (in order of first appearance), then the second of each, and so on.
fn interleave_by_model<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut groups: Vec<(String, std::collections::VecDeque<T>)> = Vec::new();
    for item in items {
        let k = key(&item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, q)) => q.push_back(item),
            None => groups.push((k, std::collections::VecDeque::from([item]))),
        }
    }
    let mut out = Vec::new();
    while groups.iter().any(|(_, q)| !q.is_empty()) {
        for (_, q) in &mut groups {
            if let Some(item) = q.pop_front() {
                out.push(item);
            }
        }
    }
    out
}

async fn run_one(shared: &Shared, d: &Dataset, names: Resolved) -> DatasetReport {
    let t0 = Instant::now();
    let mut report = DatasetReport::new(d);
    report.workspace = Some(named(&names.workspace));
    report.model = Some(named(&names.model));
    report.export = Some(named(&names.export));
    tracing::debug!(
        "export {:?} of model {:?} in workspace {:?} to {}",
        names.export.name,
        names.model.name,
        names.workspace.name,
        shown_output(&d.output.output)
    );
    let run = RunContext {
        progress: Progress::new(),
        shutdown: shared.round.child(),
    };
    let result = attempt(shared, d, names, &run, &mut report).await;
    report.duration = t0.elapsed();
    if let Err(e) = result {
        let stopped = shared.round.is_triggered() || shared.signals.is_triggered();
        if matches!(e, Error::Cancelled(_)) && stopped {
            report.fail(Status::Cancelled, &e);
            if !shared.signals.is_triggered() {
                let by = shared
                    .stopped_by
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_default();
                report.error = Some(format!(
                    "stopped because dataset {by:?} failed (--fail-fast); nothing was written"
                ));
                report.exit_code = Some(ExitClass::Failure.code());
            }
        } else {
            report.fail(Status::Failed, &e);
        }
    }
    report
}

/// Runs one dataset; on success sets the report's status (`ok` or `unchanged`).
async fn attempt(
    shared: &Shared,
    d: &Dataset,
    names: Resolved,
    run: &RunContext,
    report: &mut DatasetReport,
) -> Result<()> {
    let destination = Destination::from_options(&d.output)?.with_progress(run.progress.clone());
    report.output = where_to(&destination);
    // A destination that cannot be written fails the dataset before its task runs.
    destination.check().await?;
    let previous = if shared.skip_unchanged {
        previous_digest(&destination).await
    } else {
        None
    };

    let Resolved {
        workspace,
        model,
        export,
    } = names;
    let file_lock = shared
        .locks
        .get(format!("export {}/{}", model.id, export.id));
    if file_lock.try_lock().is_err() {
        tracing::info!(
            "waiting for another dataset of export {:?}: each of its tasks rewrites its file",
            export.name
        );
    }
    let _file_turn = turn(file_lock, run).await?;
    let prepared = {
        let lock = shared.locks.get(format!("model {}", model.id));
        if lock.try_lock().is_err() {
            tracing::info!(
                "waiting for model {:?}: Anaplan runs one task per model at a time",
                model.name
            );
        }
        let _model_turn = turn(lock, run).await?;
        prepare_resolved(
            &shared.client,
            &d.job,
            workspace,
            model,
            export,
            run,
            &|_| {},
        )
        .await?
        // The model's turn ends here: the next task on it may start while this file downloads.
    };
    report.task_id = Some(prepared.task_id.clone());

    let (source, options) =
        download_plan(&shared.client, &d.job, &prepared, d.engine.clone(), run).await?;
    let source = source.with_budget(Arc::clone(&shared.budget));
    let source = HashingSource::new(source, previous);
    let summary = match convert::convert(&source, &destination, &options, run).await {
        Ok(s) => s,
        Err(_) if source.unchanged() => {
            report.status = Status::Unchanged;
            report.content_sha256 = source.digest();
            report.input_bytes = run.progress.snapshot().bytes_in;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let digest = source
        .digest()
        .ok_or_else(|| Error::Internal("the run ended without a content hash".into()))?;
    report.rows = summary.rows;
    report.bytes = summary.bytes_out;
    report.input_bytes = summary.bytes_in;
    report.location = Some(summary.output.clone());
    report.content_sha256 = Some(digest.clone());

    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: concat!("anaplan-parquet ", env!("CARGO_PKG_VERSION")).to_owned(),
        run_id: shared.run_id.clone(),
        dataset: d.name.clone(),
        written_at: schedule::rfc3339(SystemTime::now()),
        exported_at: schedule::rfc3339(prepared.exported_at),
        workspace: named(&prepared.workspace),
        model: named(&prepared.model),
        export: named(&prepared.export),
        task_id: prepared.task_id.clone(),
        mode: match d.output.mode {
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
        }
        .to_owned(),
        output: report.output.clone(),
        location: summary.output.clone(),
        rows: summary.rows,
        columns: summary.columns,
        bytes: summary.bytes_out,
        input_bytes: summary.bytes_in,
        schema: summary.schema.clone(),
        content_sha256: digest,
    };
    let at = destination
        .write_manifest(Bytes::from(manifest.to_json()))
        .await
        .map_err(|e| {
            Error::Destination(format!(
                "the data was written to {}, but its manifest could not be: {e}",
                summary.output
            ))
        })?;
    report.manifest = Some(at);
    report.status = Status::Ok;
    Ok(())
}

/// The content hash of the last run, when its manifest is readable and its data is still
/// there; otherwise `None` (the export is written).
async fn previous_digest(destination: &Destination) -> Option<String> {
    let bytes = match destination.read_manifest().await {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!("cannot read the last manifest ({e}); writing the export");
            return None;
        }
    };
    let Some(hash) = manifest::recorded_hash(&bytes) else {
        tracing::warn!(
            "the last manifest {} records no content hash; writing the export",
            destination.manifest_location()
        );
        return None;
    };
    match destination.data_exists().await {
        Ok(true) => Some(hash),
        Ok(false) => {
            tracing::info!("the last manifest is there but the data is not; writing the export");
            None
        }
        Err(e) => {
            tracing::warn!("cannot check the existing data ({e}); writing the export");
            None
        }
    }
}

/// A problem found by [`check`] (or in the jobs file).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The dataset it concerns; `None` for the file as a whole.
    pub dataset: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// One dataset as [`check`] found it.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedDataset {
    /// Its name.
    pub name: String,
    /// True when its names resolved and its destination can be written.
    pub ok: bool,
    /// The workspace, when resolved.
    pub workspace: Option<NamedRef>,
    /// The model, when resolved.
    pub model: Option<NamedRef>,
    /// The export, when resolved.
    pub export: Option<NamedRef>,
    /// The destination.
    pub output: String,
}

/// What [`check`] found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Every dataset checked, in order.
    pub datasets: Vec<CheckedDataset>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// Checks datasets without exporting anything: signs in, resolves every workspace, model
/// and export name, and checks that every destination can be written
/// ([`Destination::check`]). Every problem is reported, not just the first; only a failed
/// sign-in is an error.
pub async fn check(client: &AnaplanClient, datasets: &[Dataset]) -> Result<CheckReport> {
    client.sign_in_now().await?;
    let mut catalog = Catalog::default();
    let mut out = CheckReport {
        datasets: Vec::new(),
        problems: Vec::new(),
    };
    for d in datasets {
        let mut checked = CheckedDataset {
            name: d.name.clone(),
            ok: true,
            workspace: None,
            model: None,
            export: None,
            output: shown_output(&d.output.output),
        };
        let mut problem = |e: &Error| {
            checked.ok = false;
            out.problems.push(Problem {
                dataset: Some(d.name.clone()),
                problem: e.to_string(),
            });
        };
        match catalog.resolve(client, &d.job).await {
            Ok(r) => {
                checked.workspace = Some(named(&r.workspace));
                checked.model = Some(named(&r.model));
                checked.export = Some(named(&r.export));
            }
            Err(e) => problem(&e),
        }
        match Destination::from_options(&d.output) {
            Ok(dest) => {
                if let Err(e) = dest.check().await {
                    problem(&e);
                }
                checked.output = where_to(&dest);
            }
            Err(e) => problem(&e),
        }
        out.datasets.push(checked);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_alternate_between_models() {
        let items = vec![
            ("a", "M1"),
            ("b", "M1"),
            ("c", "M1"),
            ("d", "M2"),
            ("e", "M3"),
            ("f", "M2"),
        ];
        let order: Vec<&str> = interleave_by_model(items, |(_, m)| (*m).to_owned())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(order, ["a", "d", "e", "b", "f", "c"]);
        assert!(interleave_by_model(Vec::<(u8, u8)>::new(), |_| String::new()).is_empty());
    }

    #[test]
    fn outputs_are_shown_without_secrets() {
        for (given, shown) in [
            ("out/x.parquet", "out/x.parquet"),
            ("s3://bucket/x.parquet", "s3://bucket/x.parquet"),
            ("az://c/x.parquet?sig=s3cr3t&se=2030", "az://c/x.parquet"),
            (
                "s3://user:s3cr3t@bucket/x.parquet",
                "s3://user@bucket/x.parquet",
            ),
            ("C:/data/x.parquet", "C:/data/x.parquet"),
        ] {
            assert_eq!(shown_output(given), shown, "{given}");
        }
    }

    #[test]
    fn retry_deltas() {
        let before = vec![("HTTP 503".to_owned(), 2)];
        let after = vec![("HTTP 503".to_owned(), 5), ("timeout".to_owned(), 1)];
        assert_eq!(
            retries_since(&before, after),
            vec![("HTTP 503".to_owned(), 3), ("timeout".to_owned(), 1)]
        );
    }

    #[test]
    fn round_exit_classes() {
        let d = |status| DatasetReport {
            status,
            ..DatasetReport::new(&Dataset {
                name: "x".into(),
                job: ExportJob::new("W", "M", "E"),
                engine: EngineOptions::default(),
                output: DestinationOptions::new("x.parquet"),
            })
        };
        let round = |statuses: &[Status], interrupted| RoundReport {
            run_id: String::new(),
            started_at: String::new(),
            duration: Duration::ZERO,
            datasets: statuses.iter().map(|s| d(*s)).collect(),
            retries: Vec::new(),
            interrupted,
        };
        assert_eq!(round(&[], None).exit_class(), ExitClass::Success);
        assert_eq!(
            round(&[Status::Ok, Status::Unchanged], None).exit_class(),
            ExitClass::Success
        );
        for bad in [Status::Failed, Status::Cancelled, Status::NotRun] {
            assert_eq!(
                round(&[Status::Ok, bad], None).exit_class(),
                ExitClass::Failure
            );
        }
        assert_eq!(
            round(&[Status::Ok], Some(Signal::Terminate)).exit_class(),
            ExitClass::Terminated
        );
        let r = round(&[Status::Ok, Status::Failed, Status::Ok], None);
        assert_eq!((r.count(Status::Ok), r.count(Status::Failed)), (2, 1));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["datasets"][1]["status"], "failed");
        assert_eq!(json["interrupted"], serde_json::Value::Null);
    }
}
