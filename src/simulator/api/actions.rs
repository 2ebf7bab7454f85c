//! A model's imports, processes and other actions: listed and described, not run. Both path
//! forms (`/models/{m}/...` and `/workspaces/{w}/models/{m}/...`) are served, as the live API
//! does (OAS `integration/README.md`, "Action/import/export/process GET path duality", live).
//!
//! | endpoint | answer | source | status |
//! |---|---|---|---|
//! | `GET .../imports` | `imports: [{id, name, importDataSourceId, importType}]`, paged | OAS + PM "Get a list of import actions" (example), live | confirmed |
//! | `GET .../imports/{id}` | `importMetadata: {name, type, source: {textEncoding, columnSeparator, textDelimiter, headerRow, firstDataRow, decimalSeparator, headerNames, columnCount}}` | OAS example, live | confirmed |
//! | `GET .../processes` | `processes: [{id, name}]`, paged | OAS + PM example, live | confirmed |
//! | `GET .../processes/{id}` | `processMetadata: {name, actions: [...]}`, imports and exports with their extra fields; `meta.schema` without the model | OAS example (Apiary), live | confirmed |
//! | `GET .../actions` | `actions: [{id, name, actionType}]`, paged | OAS + PM example, live | confirmed |
//! | `GET .../{imports,processes,actions}/{id}/tasks` | 200 with no `tasks` key (the simulator runs none) | OAS README: task lists answer 200 empty even for an unknown parent | confirmed |
//! | `POST .../{imports,processes,actions}/{id}/tasks` | 501: running them is not simulated | — | — |
//!
//! Lists honour `limit`/`offset` like every list and `sort` on `name` or `id` (`+`, `-` or no
//! sign; other fields are ignored, as live). Differences from the live API: an unknown import,
//! process or action id answers 404 here, where the live API answers 500 for
//! `imports/{id}` and 200 for others (OAS README, NO ACCESS sweep); `GET .../actions/{id}` is
//! not documented and answers 404.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::envelope::{Version, list, schema, single};
use super::exports::export_type;
use super::files::import_file_id;
use super::scope::ModelScope;
use crate::simulator::http::{Ctx, error};
use crate::simulator::objects::ImportConfig;

/// Routes `kind` (`imports`, `processes` or `actions`) and the path after it.
pub(super) fn handle(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    kind: &str,
    rest: &[&str],
) -> Response {
    let get = ctx.method == Method::GET;
    match (kind, rest) {
        (_, []) if get => listing(ctx, version, scope, kind),
        ("imports", [id]) if get => import_metadata(ctx, version, scope, id),
        ("processes", [id]) if get => process_metadata(ctx, version, scope, id),
        (_, [_, "tasks"]) if get => list(
            ctx,
            version,
            &scope.schema(ctx, "task"),
            "tasks",
            Vec::new(),
            None,
        ),
        (_, [_, "tasks"]) if ctx.method == Method::POST => error(
            ctx,
            StatusCode::NOT_IMPLEMENTED,
            "The simulator lists imports, processes and actions but does not run them",
        ),
        ("imports" | "processes", [] | [_]) | ("actions", []) | (_, [_, "tasks"]) => {
            error(ctx, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        _ => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// `importDataSourceId`: the id of the model's import file the import reads.
fn source_id(scope: &ModelScope, import: &ImportConfig) -> Option<String> {
    let file = import.source_file.as_ref()?;
    let i = scope.model.import_files.iter().position(|f| f == file)?;
    Some(import_file_id(i))
}

fn import_item(scope: &ModelScope, import: &ImportConfig) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("id".into(), json!(import.id));
    v.insert("name".into(), json!(import.name));
    if let Some(source) = source_id(scope, import) {
        v.insert("importDataSourceId".into(), json!(source));
    }
    v.insert("importType".into(), json!(import.import_type));
    v
}

fn listing(ctx: &Ctx, version: Version, scope: &ModelScope, kind: &str) -> Response {
    let a = &scope.model.actions;
    let (object, mut items): (&str, Vec<Value>) = match kind {
        "imports" => (
            "import",
            a.imports
                .iter()
                .map(|i| Value::Object(import_item(scope, i)))
                .collect(),
        ),
        "processes" => (
            "process",
            a.processes
                .iter()
                .map(|p| json!({"id": p.id, "name": p.name}))
                .collect(),
        ),
        _ => (
            "action",
            a.actions
                .iter()
                .map(|x| json!({"id": x.id, "actionType": x.action_type, "name": x.name}))
                .collect(),
        ),
    };
    sort(ctx, &mut items);
    list(ctx, version, &scope.schema(ctx, object), kind, items, None)
}

/// `sort=name`, `+name`, `-id`, ...: the first column, if it is `name` or `id`; anything else
/// keeps the model's order (live: "Field name not validated", OAS).
fn sort(ctx: &Ctx, items: &mut [Value]) {
    let Some(sort) = ctx.param("sort") else {
        return;
    };
    let first = sort.split(',').next().unwrap_or_default();
    let (descending, field) = match first.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, first.strip_prefix('+').unwrap_or(first)),
    };
    if field != "name" && field != "id" {
        return;
    }
    items.sort_by(|a, b| {
        let order = a[field].as_str().cmp(&b[field].as_str());
        if descending { order.reverse() } else { order }
    });
}

fn import_metadata(ctx: &Ctx, version: Version, scope: &ModelScope, id: &str) -> Response {
    let Some(import) = scope
        .model
        .actions
        .imports
        .iter()
        .find(|i| i.id.as_deref() == Some(id))
    else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let meta = if import.source_file.is_some() {
        json!({
            "name": import.name,
            "type": "FILE",
            "source": {
                "textEncoding": "UTF-8",
                "columnSeparator": ",",
                "textDelimiter": "\"",
                "headerRow": 1,
                "firstDataRow": 2,
                "decimalSeparator": ".",
                "headerNames": import.header_names,
                "columnCount": import.header_names.len(),
            },
        })
    } else {
        // [UNCONFIRMED] what a model-to-model import's metadata holds besides its type.
        json!({"name": import.name, "type": "MODEL"})
    };
    single(
        ctx,
        version,
        &scope.schema(ctx, "importMetadata"),
        "importMetadata",
        meta,
    )
}

fn process_metadata(ctx: &Ctx, version: Version, scope: &ModelScope, id: &str) -> Response {
    let a = &scope.model.actions;
    let Some(process) = a.processes.iter().find(|p| p.id.as_deref() == Some(id)) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let unknown = ctx.shared.lock().config.faults.unknown_enums;
    let is =
        |id: &Option<String>, name: &str, step: &str| name == step || id.as_deref() == Some(step);
    let steps: Vec<Value> = process
        .steps
        .iter()
        .filter_map(|step| {
            if let Some(i) = a.imports.iter().find(|i| is(&i.id, &i.name, step)) {
                let mut v = import_item(scope, i);
                v.insert("actionType".into(), json!("IMPORT"));
                if let Some(source) = source_id(scope, i) {
                    v.insert(
                        "importDataSource".into(),
                        json!({"importDataSourceId": source, "type": "FILE"}),
                    );
                }
                return Some(Value::Object(v));
            }
            if let Some(e) = scope
                .model
                .exports
                .iter()
                .find(|e| is(&e.id, &e.name, step))
            {
                return Some(json!({
                    "id": e.id,
                    "name": e.name,
                    "actionType": "EXPORT",
                    "exportType": export_type(e, unknown),
                    "exportFormat": "text/csv",
                    "layout": e.layout.api_name(),
                }));
            }
            a.actions
                .iter()
                .find(|x| is(&x.id, &x.name, step))
                .map(|x| json!({"id": x.id, "name": x.name, "actionType": x.action_type}))
        })
        .collect();
    // As in the published example: the process schema link names no model.
    single(
        ctx,
        version,
        &schema(ctx, None, "process"),
        "processMetadata",
        json!({"name": process.name, "actions": steps}),
    )
}
