//! Export tasks: start one (never blindly twice), poll it until it ends, cancel it, and read
//! why it failed.
//!
//! Starting a task is the one call that is not idempotent: a second POST runs the export a
//! second time. So it is retried only when it certainly did not reach Anaplan (connection
//! refused, 429). When its outcome is unknown (a timeout, a reset, a 5xx), the export's task
//! list is read and compared with the list taken before the POST: a new task is adopted, and
//! only when there is none is the POST sent again.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::model::{Task, TaskDetail, TaskState, unwrap_list, unwrap_object};
use super::{AnaplanClient, Call, CallAuth, CallError, Interrupt, bad_answer, call_error};
use crate::error::{Error, ExportFailed, FailureDump, Result};
use crate::retry::GiveUp;
use crate::shutdown::Shutdown;
use crate::units::shorten;

/// The ids that name one export action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRef {
    /// Workspace id.
    pub workspace_id: String,
    /// Model id.
    pub model_id: String,
    /// Export id.
    pub export_id: String,
}

impl ExportRef {
    fn segments<'a>(&'a self, tail: &[&'a str]) -> Vec<&'a str> {
        let mut s = vec![
            "workspaces",
            self.workspace_id.as_str(),
            "models",
            self.model_id.as_str(),
            "exports",
            self.export_id.as_str(),
            "tasks",
        ];
        s.extend_from_slice(tail);
        s
    }
}

/// How to wait for a task.
#[derive(Clone, Debug)]
pub struct PollOptions {
    /// Time between status checks (Anaplan asks for no more than one every 5 s). The first
    /// check comes after a fifth of it; after a minute the interval grows slowly, up to 15 s.
    pub interval: Duration,
    /// Give up (and cancel the task) after this long.
    pub timeout: Option<Duration>,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(5),
            timeout: Some(Duration::from_hours(1)),
        }
    }
}

/// How many times an export POST with an unknown outcome is followed by another POST.
const MAX_UNKNOWN_STARTS: u32 = 3;

impl AnaplanClient {
    /// Starts the export; returns the task id.
    pub async fn start_export_task(&self, export: &ExportRef, locale: &str) -> Result<String> {
        let what = format!("start export {}", export.export_id);
        // Tasks that existed before, to recognise ours if the POST's outcome is unknown.
        let before: Option<HashSet<String>> = match self.export_tasks(export).await {
            Ok(tasks) => Some(tasks.into_iter().map(|t| t.task_id).collect()),
            Err(e @ Error::Cancelled(_)) => return Err(e),
            Err(e) => {
                tracing::debug!("cannot list the export's tasks before starting it: {e}");
                None
            }
        };
        let call = Call {
            method: reqwest::Method::POST,
            url: self.api_url(&export.segments(&[])),
            body: Some(serde_json::json!({ "localeName": locale })),
            idempotent: false,
            what: what.clone(),
            auth: CallAuth::Api,
            interrupt: Interrupt::BetweenAttempts,
        };
        let mut unknown = 0;
        loop {
            match self.call_raw(&call).await {
                Ok(reply) => {
                    let body = super::parse_json(&reply.body, &what)?;
                    let task: Task = unwrap_object(&body, "task", &what)?;
                    if task.task_id.is_empty() {
                        return Err(bad_answer(what, "the answer has no taskId"));
                    }
                    return Ok(task.task_id);
                }
                Err(CallError::GaveUp {
                    failure,
                    why: GiveUp::Unsafe,
                    ..
                }) if unknown < MAX_UNKNOWN_STARTS => {
                    unknown += 1;
                    tracing::warn!(
                        "{what}: {failure}; the task may or may not have started, looking for it"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Some(id) = self.find_new_task(export, before.as_ref()).await? {
                        tracing::info!("{what}: found the task it started: {id}");
                        return Ok(id);
                    }
                    tracing::info!("{what}: no new task; starting it again");
                }
                Err(e) => return Err(call_error(&what, e)),
            }
        }
    }

    /// A task of the export that is not in `before` (the newest if several). Without `before`,
    /// a task that is still running.
    async fn find_new_task(
        &self,
        export: &ExportRef,
        before: Option<&HashSet<String>>,
    ) -> Result<Option<String>> {
        let mut tasks = self.export_tasks(export).await?;
        tasks.sort_by_key(|t| std::cmp::Reverse(t.creation_time.unwrap_or(0)));
        Ok(tasks
            .into_iter()
            .find(|t| match before {
                Some(known) => !known.contains(&t.task_id),
                None => matches!(
                    t.task_state,
                    Some(TaskState::NotStarted | TaskState::InProgress)
                ),
            })
            .map(|t| t.task_id))
    }

    /// The export's tasks (Anaplan answers 200 with an empty list even for unknown exports).
    pub async fn export_tasks(&self, export: &ExportRef) -> Result<Vec<Task>> {
        let what = format!("list the tasks of export {}", export.export_id);
        let body = self
            .get_json(self.api_url(&export.segments(&[])), &what)
            .await?;
        unwrap_list(&body, "tasks", &what)
    }

    /// One task's status.
    pub async fn export_task(&self, export: &ExportRef, task_id: &str) -> Result<Task> {
        let what = format!("check export task {task_id}");
        let body = self
            .get_json(self.api_url(&export.segments(&[task_id])), &what)
            .await?;
        let mut task: Task = unwrap_object(&body, "task", &what)?;
        if task.task_id.is_empty() {
            task_id.clone_into(&mut task.task_id);
        }
        Ok(task)
    }

    /// Asks Anaplan to cancel a task.
    pub async fn cancel_export_task(&self, export: &ExportRef, task_id: &str) -> Result<()> {
        let what = format!("cancel export task {task_id}");
        let call = Call {
            method: reqwest::Method::DELETE,
            interrupt: Interrupt::Never,
            ..Call::get(self.api_url(&export.segments(&[task_id])), what)
        };
        self.call(&call).await.map(|_| ())
    }

    /// The beginning (at most `max` bytes) of a failed task's dump.
    pub async fn export_failure_dump(
        &self,
        export: &ExportRef,
        task_id: &str,
        max: usize,
    ) -> Result<Bytes> {
        let what = format!("download the failure dump of export task {task_id}");
        let reply = self
            .call(&Call::get(
                self.api_url(&export.segments(&[task_id, "dump"])),
                what,
            ))
            .await?;
        Ok(reply.body.slice(..reply.body.len().min(max)))
    }

    /// Polls a task until it is COMPLETE or CANCELLED, calling `on_update` with every status.
    /// On `timeout` or a shutdown request the task is cancelled and an error returned.
    pub async fn wait_for_export_task(
        &self,
        export: &ExportRef,
        task_id: &str,
        options: &PollOptions,
        shutdown: &Shutdown,
        on_update: &(dyn Fn(&Task) + Send + Sync),
    ) -> Result<Task> {
        let started = Instant::now();
        let deadline = options.timeout.map(|t| started + t);
        let mut delay = options.interval / 5;
        let mut last: Option<(Option<TaskState>, Option<String>)> = None;
        loop {
            let task = tokio::select! {
                biased;
                () = shutdown.triggered() => None,
                t = self.export_task(export, task_id) => match t {
                    // The client gave up the call because of a stop.
                    Err(Error::Cancelled(_)) => None,
                    t => Some(t?),
                },
            };
            let Some(task) = task else {
                self.cancel_quietly(export, task_id, "the run was interrupted")
                    .await;
                return Err(shutdown.error());
            };
            on_update(&task);
            let now_state = (task.task_state.clone(), task.current_step.clone());
            if last.as_ref() != Some(&now_state) {
                tracing::info!(
                    "export task {task_id}: {}{}{}",
                    task.task_state
                        .as_ref()
                        .map_or("(no state)", TaskState::as_str),
                    task.progress
                        .map(|p| format!(" {:.0}%", p * 100.0))
                        .unwrap_or_default(),
                    task.current_step
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
                last = Some(now_state);
            }
            if task.task_state.as_ref().is_some_and(TaskState::is_terminal) {
                return Ok(task);
            }
            let now = Instant::now();
            if let Some(deadline) = deadline
                && now >= deadline
            {
                self.cancel_quietly(export, task_id, "it ran past --task-timeout")
                    .await;
                return Err(ExportFailed::TimedOut {
                    task_id: task_id.to_owned(),
                    limit: options.timeout.unwrap_or_default(),
                }
                .into());
            }
            let wait = match deadline {
                Some(d) => delay.min(d - now),
                None => delay,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.triggered() => {
                    self.cancel_quietly(export, task_id, "the run was interrupted").await;
                    return Err(shutdown.error());
                }
            }
            delay = next_poll_delay(delay, options.interval, started.elapsed());
        }
    }

    async fn cancel_quietly(&self, export: &ExportRef, task_id: &str, why: &str) {
        tracing::warn!("cancelling export task {task_id}: {why}");
        let cancel = self.cancel_export_task(export, task_id);
        match tokio::time::timeout(Duration::from_secs(10), cancel).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not cancel export task {task_id}: {e}"),
            Err(_) => tracing::warn!("could not cancel export task {task_id}: no answer in 10s"),
        }
    }

    /// Checks how a terminal task ended: Ok for success, a detailed error otherwise.
    pub async fn check_export_outcome(&self, export: &ExportRef, task: &Task) -> Result<()> {
        let id = &task.task_id;
        match &task.task_state {
            Some(TaskState::Cancelled) => {
                return Err(ExportFailed::CancelledInAnaplan {
                    task_id: id.clone(),
                }
                .into());
            }
            Some(TaskState::Complete) => {}
            other => {
                return Err(Error::Internal(format!(
                    "export task {id} is not finished ({other:?})"
                )));
            }
        }
        let Some(result) = &task.result else {
            tracing::warn!("export task {id} is COMPLETE without a result; assuming it succeeded");
            return Ok(());
        };
        match result.successful {
            Some(true) => Ok(()),
            None => {
                tracing::warn!(
                    "export task {id} is COMPLETE without `successful`; assuming it succeeded"
                );
                Ok(())
            }
            Some(false) => {
                let dump = if result.failure_dump_available == Some(true) {
                    match self.export_failure_dump(export, id, 2048).await {
                        Ok(dump) => {
                            let text = String::from_utf8_lossy(&dump);
                            let lines: Vec<&str> = text.lines().take(10).collect();
                            Some(FailureDump::Lines(shorten(&lines.join("\n  "), 1500)))
                        }
                        Err(e @ Error::Cancelled(_)) => return Err(e),
                        Err(e) => Some(FailureDump::Unreadable(e.to_string())),
                    }
                } else {
                    None
                };
                Err(ExportFailed::Failed {
                    task_id: id.clone(),
                    details: result.details.iter().map(TaskDetail::to_line).collect(),
                    dump,
                }
                .into())
            }
        }
    }
}

/// The next poll delay: the interval after the first quick check; after a minute of waiting,
/// 25 % longer each time up to 15 s (never below the interval).
fn next_poll_delay(current: Duration, interval: Duration, waited: Duration) -> Duration {
    if current < interval || waited < Duration::from_mins(1) {
        return interval;
    }
    current
        .mul_f64(1.25)
        .min(interval.max(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delays() {
        let i = Duration::from_secs(5);
        let mut d = i / 5;
        let mut seen = Vec::new();
        let mut waited = Duration::ZERO;
        for _ in 0..30 {
            seen.push(d);
            waited += d;
            d = next_poll_delay(d, i, waited);
        }
        assert_eq!(seen[0], Duration::from_secs(1));
        assert_eq!(seen[1], i);
        assert!(
            seen.iter()
                .skip(1)
                .all(|d| *d >= i && *d <= Duration::from_secs(15))
        );
        assert_eq!(*seen.last().unwrap(), Duration::from_secs(15));
        // A long interval is never shortened.
        let long = Duration::from_mins(1);
        assert_eq!(next_poll_delay(long, long, Duration::from_mins(10)), long);
    }

    #[test]
    fn export_ref_paths() {
        let r = ExportRef {
            workspace_id: "w".into(),
            model_id: "m".into(),
            export_id: "116".into(),
        };
        assert_eq!(
            r.segments(&["T1", "dump"]),
            [
                "workspaces",
                "w",
                "models",
                "m",
                "exports",
                "116",
                "tasks",
                "T1",
                "dump"
            ]
        );
    }
}
