//! Export tasks: created NOT_STARTED, run one at a time per model (a queue and a driver task per
//! busy model), IN_PROGRESS for the task duration (plus the time to index a new export's
//! content), then COMPLETE with a result, or CANCELLING → CANCELLED.
//!
//! A second task on a busy model waits as NOT_STARTED: the reference infers that Anaplan queues
//! it (a 409 is documented only generically) **[INFERRED]**. A successful run replaces the
//! export's file with the content of the settings the run started with; a failed or cancelled
//! run leaves the previous file in place.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::content::ContentKey;
use super::faults::{FaultKind, FaultSpec};
use super::objects::ExportResultForm;
use super::state::{ExportFile, Shared, Task, TaskState, epoch_ms, hex128};

/// Decisions for a new task, drawn by the caller from the request's fault rolls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskFaults {
    pub fail: bool,
    pub cancel: bool,
    pub stuck: Duration,
}

impl TaskFaults {
    pub fn decide(faults: &FaultSpec, roll: impl Fn(&str) -> f64) -> Self {
        TaskFaults {
            fail: faults.task_fail > 0.0 && roll("task-fail") < faults.task_fail,
            cancel: faults.task_cancel > 0.0 && roll("task-cancel") < faults.task_cancel,
            stuck: faults.task_stuck.unwrap_or_default(),
        }
    }
}

/// Creates a task and queues it on its model; returns the task id.
pub(crate) fn create(
    shared: &Arc<Shared>,
    model_id: &str,
    export_id: &str,
    duration: Duration,
    faults: TaskFaults,
    stop: &CancellationToken,
) -> String {
    let spawn = {
        let mut inner = shared.lock();
        let seed = inner.config.seed;
        let counter = inner.task_counters.entry(model_id.to_owned()).or_insert(0);
        let n = *counter;
        *counter += 1;
        let id = hex128(seed, "task", &format!("{model_id}/{n}"), true);
        inner.tasks.push(Task {
            id: id.clone(),
            model_id: model_id.to_owned(),
            export_id: export_id.to_owned(),
            created_ms: epoch_ms(SystemTime::now()),
            state: TaskState::NotStarted,
            started: None,
            duration,
            stuck: faults.stuck,
            will_fail: faults.fail,
            will_cancel: faults.cancel,
            cancel: CancellationToken::new(),
            successful: None,
            dump: None,
        });
        let idx = inner.tasks.len() - 1;
        inner.log_task(idx, TaskState::NotStarted);
        let queue = inner.queues.entry(model_id.to_owned()).or_default();
        queue.pending.push_back(id.clone());
        let spawn = !queue.running;
        queue.running = true;
        (spawn, id)
    };
    let (spawn, id) = spawn;
    if spawn {
        let shared = Arc::clone(shared);
        let model_id = model_id.to_owned();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = run_queue(&shared, &model_id) => {}
                () = stop.cancelled() => {}
            }
        });
    }
    id
}

/// Runs the model's queued tasks one after the other until the queue is empty.
async fn run_queue(shared: &Arc<Shared>, model_id: &str) {
    loop {
        let next = {
            let mut inner = shared.lock();
            let Some(queue) = inner.queues.get_mut(model_id) else {
                return;
            };
            let Some(id) = queue.pending.pop_front() else {
                queue.running = false;
                return;
            };
            let Some(idx) = inner.task_index(&id) else {
                continue;
            };
            if inner.tasks[idx].state != TaskState::NotStarted {
                // Cancelled while queued.
                continue;
            }
            let export_id = inner.tasks[idx].export_id.clone();
            let Some(export) = inner.export_mut(model_id, &export_id).cloned() else {
                continue;
            };
            inner.tasks[idx].started = Some(Instant::now());
            inner.log_task(idx, TaskState::InProgress);
            let t = &inner.tasks[idx];
            (
                id,
                export,
                t.duration,
                t.stuck,
                t.will_fail,
                t.will_cancel,
                t.cancel.clone(),
            )
        };
        let (id, export, duration, stuck, will_fail, will_cancel, cancel) = next;
        if !stuck.is_zero() {
            shared.lock().count_fault(FaultKind::TaskStuck);
        }
        let total = duration + stuck;
        let run_for = if will_cancel { total / 2 } else { total };
        let key = ContentKey::of(&export);
        let work = async {
            let (content, ()) = tokio::join!(shared.content(key), tokio::time::sleep(run_for));
            content
        };
        let outcome = tokio::select! {
            content = work => Some(content),
            () = cancel.cancelled() => None,
        };
        let pause = (duration / 4).min(Duration::from_millis(200));
        match outcome {
            Some(_) if will_cancel => {
                // Cancelled on the server side (by an administrator, say).
                {
                    let mut inner = shared.lock();
                    inner.count_fault(FaultKind::TaskCancel);
                    if let Some(idx) = inner.task_index(&id) {
                        inner.log_task(idx, TaskState::Cancelling);
                    }
                }
                tokio::time::sleep(pause).await;
                finish_cancel(shared, &id);
            }
            Some(content) => {
                let mut inner = shared.lock();
                let Some(idx) = inner.task_index(&id) else {
                    continue;
                };
                if will_fail {
                    inner.count_fault(FaultKind::TaskFail);
                    inner.tasks[idx].successful = Some(false);
                    inner.tasks[idx].dump = Some(failure_dump(&export.name));
                } else {
                    inner.tasks[idx].successful = Some(true);
                    let export_id = inner.tasks[idx].export_id.clone();
                    inner.files.insert(
                        (model_id.to_owned(), export_id),
                        ExportFile {
                            content,
                            chunk_size: export.chunk_size,
                        },
                    );
                }
                inner.log_task(idx, TaskState::Complete);
            }
            None => {
                // A DELETE asked for it; the handler already moved it to CANCELLING.
                tokio::time::sleep(pause).await;
                finish_cancel(shared, &id);
            }
        }
    }
}

fn finish_cancel(shared: &Shared, id: &str) {
    let mut inner = shared.lock();
    if let Some(idx) = inner.task_index(id) {
        inner.tasks[idx].successful = Some(false);
        inner.log_task(idx, TaskState::Cancelled);
    }
}

/// The failure dump of a failed export run. [UNCONFIRMED] content: import dumps are the
/// offending rows plus an error column; an export has no input rows, so this is one line.
fn failure_dump(export_name: &str) -> Bytes {
    let mut out = b"Export,Error\n".to_vec();
    crate::generate::encode_field(export_name, false, &mut out);
    out.extend_from_slice(b",\"Simulated failure: the export could not be completed\"\n");
    Bytes::from(out)
}

/// Cancels a task (DELETE). A queued task is cancelled at once; a running one goes to
/// CANCELLING and its driver finishes the cancellation; a finished one is left as it is.
pub(crate) fn cancel(shared: &Shared, task_id: &str) {
    let mut inner = shared.lock();
    let Some(idx) = inner.task_index(task_id) else {
        return;
    };
    match inner.tasks[idx].state {
        TaskState::NotStarted => {
            let model = inner.tasks[idx].model_id.clone();
            if let Some(q) = inner.queues.get_mut(&model) {
                q.pending.retain(|t| t != task_id);
            }
            inner.tasks[idx].successful = Some(false);
            inner.log_task(idx, TaskState::Cancelled);
        }
        TaskState::InProgress => {
            inner.log_task(idx, TaskState::Cancelling);
            inner.tasks[idx].cancel.cancel();
        }
        TaskState::Complete | TaskState::Cancelling | TaskState::Cancelled => {}
    }
}

/// Task progress, 0 to 1: linear over the run, frozen at one half while stuck.
fn progress(task: &Task, now: Instant) -> f64 {
    match task.state {
        TaskState::NotStarted => 0.0,
        TaskState::Complete => 1.0,
        TaskState::InProgress | TaskState::Cancelling | TaskState::Cancelled => {
            let Some(started) = task.started else {
                return 0.0;
            };
            let t = now.duration_since(started).as_secs_f64();
            let d = task.duration.as_secs_f64().max(1e-3);
            let s = task.stuck.as_secs_f64();
            let p = if t < d / 2.0 {
                t / d
            } else if t < d / 2.0 + s {
                0.5
            } else {
                (t - s) / d
            };
            (p.clamp(0.0, 0.99) * 100.0).round() / 100.0
        }
    }
}

/// The task object of `GET .../tasks/{id}` (PM verbatim shape: `type`, `taskId`,
/// `currentStep`, `progress`, `result` once finished, `taskState`), plus `creationTime`.
pub(crate) fn task_json(task: &Task) -> Value {
    let step = match task.state {
        TaskState::NotStarted => "Waiting for the model to become available.",
        TaskState::InProgress => "Exporting data.",
        TaskState::Complete => "Complete.",
        TaskState::Cancelling => "Cancelling.",
        TaskState::Cancelled => "Cancelled.",
    };
    let mut t = json!({
        "type": "taskInformation",
        "taskId": task.id,
        "currentStep": step,
        "progress": progress(task, Instant::now()),
        "taskState": task.state.api_name(),
        "creationTime": task.created_ms,
    });
    match task.state {
        TaskState::Complete => {
            let ok = task.successful.unwrap_or(false);
            let mut result = json!({
                "failureDumpAvailable": task.dump.is_some(),
                "objectId": task.export_id,
                "successful": ok,
            });
            if !ok {
                // [UNCONFIRMED] the details of a failed export.
                result["details"] = json!([{
                    "localMessageText": "Simulated export failure",
                    "occurrences": 1,
                    "type": "exportFailed",
                    "values": [],
                }]);
            }
            t["result"] = result;
        }
        TaskState::Cancelled => {
            // [UNCONFIRMED] whether a cancelled task carries a result.
            t["result"] = json!({
                "failureDumpAvailable": false,
                "objectId": task.export_id,
                "successful": false,
            });
        }
        _ => {}
    }
    t
}

/// Adds what [`ExportResultForm::Details`] promises to a successful export task's `result`:
/// `details: [{type: "exportSucceeded", ...}]` and one `nestedResults` entry carrying them.
/// [UNCONFIRMED] for exports: a vendor connector's mock has the detail, and a process task's
/// result nests its actions' results (OAS example); the `values` are the simulator's own.
pub(crate) fn add_result_details(task: &mut Value, form: ExportResultForm, export_name: &str) {
    let Some(result) = task.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    if form != ExportResultForm::Details || result.get("successful") != Some(&json!(true)) {
        return;
    }
    let details = json!([{
        "localMessageText": format!("{export_name}: export succeeded"),
        "occurrences": 0,
        "type": "exportSucceeded",
        "values": ["exportName", export_name],
    }]);
    let nested = json!([{
        "details": details,
        "failureDumpAvailable": false,
        "objectId": result.get("objectId").cloned().unwrap_or(Value::Null),
        "successful": true,
    }]);
    result.insert("details".into(), details);
    result.insert("nestedResults".into(), nested);
}

/// The short task object of task lists and of the POST answer.
pub(crate) fn task_summary(task: &Task) -> Value {
    json!({
        "taskId": task.id,
        "taskState": task.state.api_name(),
        "creationTime": task.created_ms,
    })
}
