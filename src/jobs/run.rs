//! One round of datasets ([`run_round`]): one sign-in, names resolved once, datasets in
//! parallel with one task per model at a time and one shared download budget, a manifest
//! after each (see the [module docs](super)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::catalog::{Catalog, Names, Resolved};
use super::hash::HashingSource;
use super::manifest::{self, Manifest};
use super::report::{DatasetReport, RoundReport, Status, named, shown_output, where_to};
use super::{Dataset, RunOptions, overlap, schedule};
use crate::anaplan::AnaplanClient;
use crate::convert::{self, RunContext};
use crate::error::{Error, ExitClass, Result};
use crate::export::{download_plan, prepare_resolved};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::sink::Destination;
use crate::summary::human_bytes;

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
    // Two datasets writing to one place would destroy each other's data: refuse before
    // anything is exported (the command line reports this with the file's other problems).
    overlap::refuse(datasets)?;
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
    let mut ready: Vec<(usize, Names)> = Vec::new();
    for (i, d) in datasets.iter().enumerate() {
        if round.is_triggered() {
            break;
        }
        match catalog.resolve_dataset(client, d).await {
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
    let order = interleave_by_model(ready, |(_, r)| r.model_id().to_owned());

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

async fn run_one(shared: &Shared, d: &Dataset, names: Names) -> DatasetReport {
    let t0 = Instant::now();
    let mut report = DatasetReport::new(d);
    let run = RunContext {
        progress: Progress::new(),
        shutdown: shared.round.child(),
    };
    let result = match names {
        Names::Read(names) => {
            report.workspace = Some(named(&names.workspace));
            report.model = Some(named(&names.model));
            names.name_in(&mut report.view, &mut report.list);
            attempt_read(shared, d, names, &run, &mut report).await
        }
        Names::Export(names) => {
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
            attempt(shared, d, names, &run, &mut report).await
        }
    };
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

/// Runs one view or list dataset ([`read_dataset`](super::read_dataset)).
async fn attempt_read(
    shared: &Shared,
    d: &Dataset,
    names: super::catalog::ReadResolved,
    run: &RunContext,
    report: &mut DatasetReport,
) -> Result<()> {
    let destination = Destination::from_options(&d.output)?.with_progress(run.progress.clone());
    report.output = where_to(&destination);
    super::read_dataset::attempt(
        &shared.client,
        &shared.run_id,
        d,
        names,
        &destination,
        run,
        report,
    )
    .await
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
    crate::export::record_provenance(&destination, &prepared);

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
        export: Some(named(&prepared.export)),
        task_id: Some(prepared.task_id.clone()),
        content_sha256: Some(digest),
        ..Manifest::written(
            &shared.run_id,
            d,
            &report.output,
            &summary,
            prepared.exported_at,
            named(&prepared.workspace),
            named(&prepared.model),
        )
    };
    let at = destination
        .write_manifest(Bytes::from(manifest.to_json()))
        .await
        .map_err(|e| {
            Error::from(crate::error::DestinationError::new(
                crate::error::DestinationErrorKind::Store,
                summary.output.clone(),
                format!(
                    "the data was written to {}, but its manifest could not be: {e}",
                    summary.output
                ),
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
    fn retry_deltas() {
        let before = vec![("HTTP 503".to_owned(), 2)];
        let after = vec![("HTTP 503".to_owned(), 5), ("timeout".to_owned(), 1)];
        assert_eq!(
            retries_since(&before, after),
            vec![("HTTP 503".to_owned(), 3), ("timeout".to_owned(), 1)]
        );
    }
}
