//! Export actions: the list, one export's metadata, its tasks (start, poll, cancel, list),
//! a failed task's dump, and the model's status while a task runs.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{Version, list, single};
use super::files::chunks;
use super::scope::{ModelScope, find_export, with_task};
use crate::generate::{Generator, ValueKind};
use crate::simulator::config::ExportConfig;
use crate::simulator::faults::FaultSpec;
use crate::simulator::format::Layout;
use crate::simulator::http::{BodyFault, Ctx, download, error, json_response};
use crate::simulator::state::{TaskState, epoch_ms};
use crate::simulator::tasks::{self, TaskFaults};

pub(super) fn export_type(e: &ExportConfig, unknown_enums: bool) -> String {
    if let Some(t) = &e.export_type {
        return t.clone();
    }
    if unknown_enums && e.layout == Layout::TabularMultiColumn {
        return "GRID_ALL_PAGES".into();
    }
    e.layout.export_type().into()
}

pub(super) fn exports(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    unknown_enums: bool,
) -> Response {
    let items = scope
        .model
        .exports
        .iter()
        .map(|e| {
            let mut v = json!({
                "id": e.id,
                "name": e.name,
                "exportType": export_type(e, unknown_enums),
                "exportFormat": "text/csv",
                "encoding": e.encoding.api_name(),
                "layout": if unknown_enums && e.layout == Layout::TabularMultiColumn {
                    "GRID_ALL_PAGES"
                } else {
                    e.layout.api_name()
                },
            });
            if unknown_enums {
                v["exportSchedule"] = json!("SIMULATED_UNKNOWN_FIELD");
            }
            v
        })
        .collect();
    list(
        ctx,
        version,
        &scope.schema(ctx, "export"),
        "exports",
        items,
        None,
    )
}

pub(super) fn export_metadata(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    id: &str,
) -> Response {
    let Some(e) = find_export(scope, id) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let generator = Generator::new(e.generator.clone());
    let dims = generator.dimension_count();
    let dim_names: Vec<String> = generator.header().into_iter().take(dims).collect();
    let dim_type = |name: &str| {
        if name == "Time" {
            "TIME_ENTITY"
        } else {
            "ENTITY"
        }
    };
    let (header, data_types, list_names, rows): (Vec<String>, Vec<String>, Vec<String>, u64) =
        match (&e.fixed_content, e.layout) {
            // Served bytes: describe their first record; every column may hold anything.
            (Some(fixed), _) => {
                let header = fixed.header(e.encoding);
                let types = header.iter().map(|_| "MIXED".to_owned()).collect();
                let lists = header.iter().map(|_| String::new()).collect();
                (header, types, lists, fixed.line_feeds().saturating_sub(1))
            }
            (None, Layout::TabularSingleColumn) => {
                let header = generator.header();
                let mut types: Vec<String> =
                    dim_names.iter().map(|n| dim_type(n).to_owned()).collect();
                // The line-item column lists line items; the value column mixes their formats.
                types.push("ENTITY".into());
                types.push("MIXED".into());
                let mut lists = dim_names.clone();
                lists.push("Line Items".into());
                lists.push(String::new());
                (header, types, lists, e.generator.rows)
            }
            (None, Layout::TabularMultiColumn) => {
                let items = generator.line_items();
                let mut header = dim_names.clone();
                header.extend(items.iter().map(|(n, _)| n.clone()));
                let mut types: Vec<String> =
                    dim_names.iter().map(|n| dim_type(n).to_owned()).collect();
                types.extend(items.iter().map(|(_, k)| {
                    match k {
                        ValueKind::Integer | ValueKind::Decimal => "NUMBER",
                        ValueKind::Boolean => "BOOLEAN",
                        ValueKind::Date => "DATE",
                        ValueKind::Text | ValueKind::Blank => "TEXT",
                    }
                    .to_owned()
                }));
                let mut lists = dim_names.clone();
                lists.extend(items.iter().map(|_| String::new()));
                let rows = e.generator.rows.div_ceil(items.len() as u64);
                (header, types, lists, rows)
            }
        };
    let unknown = ctx.shared.lock().config.faults.unknown_enums;
    let meta = json!({
        "columnCount": header.len(),
        "dataTypes": data_types,
        "delimiter": "\"",
        "encoding": e.encoding.api_name(),
        "exportFormat": "text/csv",
        "headerNames": header,
        "layout": if unknown && e.layout == Layout::TabularMultiColumn { "GRID_ALL_PAGES" } else { e.layout.api_name() },
        "listNames": list_names,
        "rowCount": rows,
        "separator": ",",
    });
    single(
        ctx,
        version,
        &scope.schema(ctx, "exportMetadata"),
        "exportMetadata",
        meta,
    )
}

pub(super) fn task_list(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
) -> Response {
    // Live API: 200 (with no `tasks` key) even for an unknown export.
    let mut items: Vec<(u64, Value)> = {
        let inner = ctx.shared.lock();
        inner
            .tasks
            .iter()
            .filter(|t| t.model_id == scope.model_id && t.export_id == export_id)
            .map(|t| (t.created_ms, tasks::task_summary(t)))
            .collect()
    };
    if ctx.param("sort").as_deref() == Some("-creationDate") {
        items.reverse();
    }
    list(
        ctx,
        version,
        &scope.schema(ctx, "task"),
        "tasks",
        items.into_iter().map(|(_, v)| v).collect(),
        None,
    )
}

pub(super) async fn start_task(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
    faults: &FaultSpec,
    body: Body,
) -> Response {
    let Some(export) = find_export(scope, export_id) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    // The body `{"localeName": "en_US"}` is required (OAS).
    let locale = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        v.get("localeName")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if locale.is_none() {
        return error(ctx, StatusCode::BAD_REQUEST, "localeName is required");
    }
    let (duration, busy) = {
        let inner = ctx.shared.lock();
        let busy = inner.config.reject_when_busy
            && inner.tasks.iter().any(|t| {
                t.model_id == scope.model_id
                    && matches!(
                        t.state,
                        TaskState::NotStarted | TaskState::InProgress | TaskState::Cancelling
                    )
            });
        (
            export.task_duration.unwrap_or(inner.config.task_duration),
            busy,
        )
    };
    if busy {
        return error(
            ctx,
            StatusCode::CONFLICT,
            "Model or object busy, conflicting action, or state mismatch",
        );
    }
    let decisions = TaskFaults::decide(faults, |salt| ctx.roll(salt));
    let id = tasks::create(
        &ctx.shared,
        &scope.model_id,
        export_id,
        duration,
        decisions,
        &ctx.shared.stop,
    );
    let summary = {
        let inner = ctx.shared.lock();
        inner
            .task_index(&id)
            .map(|i| tasks::task_summary(&inner.tasks[i]))
    };
    let summary = summary.unwrap_or_else(|| json!({"taskId": id}));
    single(ctx, version, &scope.schema(ctx, "task"), "task", summary)
}

pub(super) fn task_get(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
) -> Response {
    let form = ctx.shared.lock().config.export_result;
    match with_task(ctx, scope, export_id, id, |t| Some(tasks::task_json(t))) {
        Some(mut t) => {
            let name = find_export(scope, export_id).map_or("", |e| e.name.as_str());
            tasks::add_result_details(&mut t, form, name);
            single(ctx, version, &scope.schema(ctx, "task"), "task", t)
        }
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn task_dump(ctx: &Ctx, scope: &ModelScope, export_id: &str, id: &str) -> Option<bytes::Bytes> {
    with_task(ctx, scope, export_id, id, |t| t.dump.clone())
}

pub(super) fn dump(
    ctx: &Ctx,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
    chunk: Option<&str>,
    faults: &FaultSpec,
) -> Response {
    let Some(data) = task_dump(ctx, scope, export_id, id) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    // A dump is small: one chunk.
    if chunk.is_some_and(|c| c != "0") {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    }
    let len = data.len() as u64;
    let fault = BodyFault::decide(ctx, faults, len);
    let body = futures::stream::once(async move { Ok(data) });
    download(ctx, len, body, fault, false, "text/csv")
}

pub(super) fn dump_chunks(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
) -> Response {
    match task_dump(ctx, scope, export_id, id) {
        // A dump is small: one chunk.
        Some(_) => chunks(ctx, version, scope, 1, false),
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `GET /models/{m}/status`: a bare `requestStatus` object, `progress` -1 when idle (OAS, live).
pub(super) fn model_status(ctx: &Ctx, scope: &ModelScope) -> Response {
    let running = {
        let inner = ctx.shared.lock();
        inner
            .tasks
            .iter()
            .find(|t| t.model_id == scope.model_id && t.state == TaskState::InProgress)
            .map(tasks::task_json)
    };
    let status = match running {
        Some(t) => json!({
            "taskId": t["taskId"],
            "currentStep": t["currentStep"],
            "progress": t["progress"],
            "tooltip": "Export",
            "exportTaskType": "EXPORT",
            "creationTime": t["creationTime"],
        }),
        None => {
            json!({"currentStep": "Open", "progress": -1.0, "creationTime": epoch_ms(std::time::SystemTime::now())})
        }
    };
    json_response(ctx, StatusCode::OK, &json!({"requestStatus": status}))
}
