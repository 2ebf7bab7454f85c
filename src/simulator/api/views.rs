//! Modules, views, lists and their reads: discovery, view and list metadata, the transactional
//! reads, and large-volume read requests (see [`crate::simulator::reads`] for the shapes).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{Version, flag, list, single};
use super::scope::ModelScope;
use crate::simulator::faults::FaultSpec;
use crate::simulator::http::{BodyFault, Ctx, accepts_gzip, download, error};
use crate::simulator::reads::content::{LINE_ITEMS_ID, Table, ViewLayout, dimension};
use crate::simulator::reads::requests::{ReadKind, ReadRequestInfo, new_request};
use crate::simulator::reads::{ModelReads, ModuleConfig, SavedView};
use crate::simulator::state::hex128;

/// Routes a model-scoped call under `modules`, `views` or `lists`; `None` when the path is
/// not one of these.
pub(super) async fn handle(
    ctx: &Ctx,
    version: Version,
    username: &str,
    scope: &ModelScope,
    tail: &[&str],
    faults: &FaultSpec,
    body: Body,
) -> Option<Response> {
    let m = &ctx.method;
    let get = *m == Method::GET;
    let reads = &scope.model.reads;
    Some(match tail {
        ["modules"] if get => modules(ctx, version, scope),
        ["modules", module, "views"] if get => match reads
            .modules
            .iter()
            .find(|x| x.id.as_deref() == Some(*module))
        {
            Some(module) => views(ctx, version, scope, &[module], true),
            None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
        },
        ["views"] if get => {
            let all: Vec<&ModuleConfig> = reads.modules.iter().collect();
            views(ctx, version, scope, &all, false)
        }
        ["views", v] if get => view_metadata(ctx, scope, v),
        ["views", v, "data"] if get => view_data(ctx, scope, v),
        ["lists"] if get => lists(ctx, version, scope),
        ["lists", l] if get => list_metadata(ctx, scope, l),
        ["lists", l, "items"] if get => list_items(ctx, scope, l),
        [kind @ ("views" | "lists"), object, "readRequests"] if *m == Method::POST => {
            create(ctx, username, scope, kind_of(kind), object, body).await
        }
        [kind @ ("views" | "lists"), object, "readRequests", r] if get => {
            status(ctx, username, scope, kind_of(kind), object, r, false)
        }
        [kind @ ("views" | "lists"), object, "readRequests", r] if *m == Method::DELETE => {
            status(ctx, username, scope, kind_of(kind), object, r, true)
        }
        [
            kind @ ("views" | "lists"),
            object,
            "readRequests",
            r,
            "pages",
            k,
        ] if get => page(ctx, username, scope, kind_of(kind), object, r, k, faults).await,
        ["modules" | "views" | "lists"]
        | ["modules" | "views" | "lists", _]
        | ["views" | "lists", _, "readRequests" | "data" | "items"]
        | ["views" | "lists", _, "readRequests", _] => {
            error(ctx, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        _ => return None,
    })
}

fn kind_of(segment: &str) -> ReadKind {
    if segment == "views" {
        ReadKind::View
    } else {
        ReadKind::List
    }
}

fn modules(ctx: &Ctx, version: Version, scope: &ModelScope) -> Response {
    let items = scope
        .model
        .reads
        .modules
        .iter()
        .map(|m| json!({"id": m.id, "name": m.name}))
        .collect();
    list(
        ctx,
        version,
        &scope.schema(ctx, "module"),
        "modules",
        items,
        None,
    )
}

/// A part of a view name, in single quotes when it holds special characters.
fn quoted(part: &str) -> String {
    if part
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '%'))
    {
        part.to_owned()
    } else {
        format!("'{part}'")
    }
}

fn views(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    modules: &[&ModuleConfig],
    module_path: bool,
) -> Response {
    let mut items = Vec::new();
    for m in modules {
        let default_name = if module_path {
            "default".to_owned()
        } else {
            m.name.clone()
        };
        items.push(json!({"code": "", "id": m.id, "name": default_name, "moduleId": m.id}));
        for v in &m.views {
            items.push(json!({
                "code": "",
                "id": v.id,
                "name": format!("{}.{}", quoted(&m.name), quoted(&v.name)),
                "moduleId": m.id,
            }));
        }
    }
    list(
        ctx,
        version,
        &scope.schema(ctx, "view"),
        "views",
        items,
        None,
    )
}

/// The module and (for a saved view) the view with this id.
fn find_view<'a>(
    reads: &'a ModelReads,
    id: &str,
) -> Option<(&'a ModuleConfig, Option<&'a SavedView>)> {
    reads.modules.iter().find_map(|m| {
        if m.id.as_deref() == Some(id) {
            return Some((m, None));
        }
        m.views
            .iter()
            .find(|v| v.id.as_deref() == Some(id))
            .map(|v| (m, Some(v)))
    })
}

fn view_table(reads: &ModelReads, id: &str, layout: ViewLayout) -> Option<Table> {
    let (m, v) = find_view(reads, id)?;
    let line_items = v.map(|v| v.line_items.clone()).unwrap_or_default();
    Some(Table::view(reads, m, &line_items, layout))
}

fn view_metadata(ctx: &Ctx, scope: &ModelScope, id: &str) -> Response {
    let reads = &scope.model.reads;
    let Some((module, view)) = find_view(reads, id) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let rows: Vec<Value> = module
        .dimensions
        .iter()
        .map(|d| {
            let dim = dimension(reads, module, d);
            json!({"id": dim.id, "name": dim.name})
        })
        .collect();
    let name = match view {
        Some(v) => format!("{}.{}", quoted(&module.name), quoted(&v.name)),
        None => module.name.clone(),
    };
    let mut body = json!({
        "meta": {"schema": scope.schema(ctx, "view")},
        "status": {"code": 200, "message": "Success"},
        "viewName": name,
        "viewId": id,
        "columns": [{"id": LINE_ITEMS_ID, "name": "Line Items"}],
    });
    // An axis with no dimensions is left out.
    if !rows.is_empty() {
        body["rows"] = Value::Array(rows);
    }
    crate::simulator::http::json_response(ctx, StatusCode::OK, &body)
}

fn csv_response(ctx: &Ctx, bytes: Vec<u8>) -> Response {
    let len = bytes.len() as u64;
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) });
    download(ctx, len, body, BodyFault::None, false, "text/csv")
}

/// The transactional view read: grid CSV, or the tabular layouts with `moduleId`.
fn view_data(ctx: &Ctx, scope: &ModelScope, id: &str) -> Response {
    let reads = &scope.model.reads;
    let Some((module, _)) = find_view(reads, id) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let export_type = ctx.param("exportType");
    let layout = match export_type.as_deref() {
        None | Some("GRID_CURRENT_PAGE" | "GRID_ALL_PAGES" | "TABULAR_MULTI_COLUMN") => {
            ViewLayout::MultiColumn
        }
        Some("TABULAR_SINGLE_COLUMN") => ViewLayout::SingleColumn,
        Some(_) => return error(ctx, StatusCode::BAD_REQUEST, "Invalid exportType"),
    };
    let tabular = export_type
        .as_deref()
        .is_some_and(|t| t.starts_with("TABULAR"));
    if tabular && ctx.param("moduleId").as_deref() != module.id.as_deref() {
        return error(
            ctx,
            StatusCode::BAD_REQUEST,
            "moduleId is required with exportType",
        );
    }
    let Some(table) = view_table(reads, id, layout) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let limit = ctx.shared.lock().config.reads.cell_limit;
    if table.cells() > limit {
        return error(
            ctx,
            StatusCode::BAD_REQUEST,
            &format!(
                "The view has {} cells, more than the {limit} cells a view data call returns",
                table.cells()
            ),
        );
    }
    let mut header = table.header();
    if !tabular {
        // Grid: one line for the column dimension (Line Items), its leading cells empty.
        for (i, h) in header.iter_mut().enumerate() {
            if i < table.text_columns() {
                h.clear();
            }
        }
    }
    csv_response(ctx, table.csv(&header))
}

fn lists(ctx: &Ctx, version: Version, scope: &ModelScope) -> Response {
    let items = scope
        .model
        .reads
        .lists
        .iter()
        .map(|l| json!({"id": l.id, "name": l.name}))
        .collect();
    list(
        ctx,
        version,
        &scope.schema(ctx, "list"),
        "lists",
        items,
        None,
    )
}

fn list_metadata(ctx: &Ctx, scope: &ModelScope, id: &str) -> Response {
    let reads = &scope.model.reads;
    let Some(l) = reads.lists.iter().find(|l| l.id.as_deref() == Some(id)) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let mut md = json!({
        "id": l.id,
        "name": l.name,
        "properties": l.properties.iter().map(|p| json!({
            "name": p.name, "format": p.format.api_name(), "notes": "", "referencedBy": ""
        })).collect::<Vec<_>>(),
        "hasSelectiveAccess": l.selective_access,
        "managedBy": "",
        "numberedList": false,
        "useTopLevelAsPageDefault": false,
        // Counts the top-level item.
        "itemCount": l.items + 1,
        "workflowEnabled": false,
        "productionData": false,
        "permittedItems": 1_000_000_000u64.saturating_sub(l.items),
    });
    if let Some(p) = l
        .parent
        .as_ref()
        .and_then(|p| reads.lists.iter().find(|x| &x.name == p))
    {
        md["parent"] = json!({"id": p.id, "name": p.name});
    }
    if !l.subsets.is_empty() {
        md["subsets"] = Value::Array(
            l.subsets
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"id": format!("109{i:09}"), "name": s}))
                .collect(),
        );
    }
    single(ctx, Version::V2, &scope.schema(ctx, "list"), "metadata", md)
}

/// The transactional list read: JSON `listItems`, or CSV with `Accept: text/csv`.
fn list_items(ctx: &Ctx, scope: &ModelScope, id: &str) -> Response {
    let reads = &scope.model.reads;
    let Some(l) = reads.lists.iter().find(|l| l.id.as_deref() == Some(id)) else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let limit = ctx.shared.lock().config.reads.item_limit;
    if l.items > limit {
        return error(
            ctx,
            StatusCode::BAD_REQUEST,
            &format!("The list has more than {limit} items"),
        );
    }
    let table = Table::list(reads, l);
    let all = flag(ctx, "includeAll");
    let parent = l
        .parent
        .as_ref()
        .and_then(|p| reads.lists.iter().find(|x| &x.name == p));
    let wants_csv = ctx
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let code_at = table.text_columns() - 1;
    if wants_csv {
        let mut header: Vec<String> = [
            "id", "name", "code", "parent", "parentId", "listId", "listName",
        ]
        .map(str::to_owned)
        .to_vec();
        if all {
            header.extend(l.subsets.iter().cloned());
            header.extend(l.properties.iter().map(|p| p.name.clone()));
        }
        let mut out = crate::simulator::reads::content::csv_line(&header);
        for i in 0..l.items {
            let r = table.record(i);
            let mut row = vec![
                format!("206{i:09}"),
                r[0].clone(),
                r[code_at].clone(),
                r[1].clone(),
                String::new(),
                String::new(),
                String::new(),
            ];
            if let Some(p) = parent {
                row[4] = format!("206{:09}", i % p.items.max(1));
                row[5] = p.id.clone().unwrap_or_default();
                row[6].clone_from(&p.name);
            }
            if all {
                row.extend(r[code_at + 1..].iter().cloned());
            }
            out.extend_from_slice(&crate::simulator::reads::content::csv_line(&row));
        }
        return csv_response(ctx, out);
    }
    let items: Vec<Value> = (0..l.items)
        .map(|i| {
            let r = table.record(i);
            let mut item = json!({"id": format!("206{i:09}"), "name": r[0], "code": r[code_at]});
            if !r[1].is_empty() {
                item["parent"] = json!(r[1]);
            }
            if all {
                let subsets: serde_json::Map<String, Value> = l
                    .subsets
                    .iter()
                    .enumerate()
                    .map(|(s, name)| (name.clone(), json!(r[code_at + 1 + s] == "true")))
                    .collect();
                let props: serde_json::Map<String, Value> = l
                    .properties
                    .iter()
                    .enumerate()
                    .map(|(p, prop)| {
                        (
                            prop.name.clone(),
                            json!(r[code_at + 1 + l.subsets.len() + p]),
                        )
                    })
                    .collect();
                item["subsets"] = Value::Object(subsets);
                item["properties"] = Value::Object(props);
            }
            item
        })
        .collect();
    single(
        ctx,
        Version::V2,
        &scope.schema(ctx, "list"),
        "listItems",
        Value::Array(items),
    )
}

/// The workspace of the scope's model, and whether `username` may use read requests there.
fn workspace_and_right(ctx: &Ctx, username: &str, scope: &ModelScope) -> (String, bool) {
    let inner = ctx.shared.lock();
    let workspace = inner
        .model(&scope.model_id)
        .and_then(|(w, _)| w.id.clone())
        .unwrap_or_default();
    let admin = inner.user(username).is_some_and(|u| u.admin);
    (workspace, admin || !inner.config.reads.admin_only)
}

fn request_url(
    ctx: &Ctx,
    workspace: &str,
    scope: &ModelScope,
    kind: ReadKind,
    object: &str,
    id: &str,
) -> String {
    let segment = if kind == ReadKind::View {
        "views"
    } else {
        "lists"
    };
    format!(
        "{}/2/0/workspaces/{workspace}/models/{}/{segment}/{object}/readRequests/{id}",
        ctx.shared.base_url(),
        scope.model_id
    )
}

/// The object id as a JSON number when it is one (as the docs show), else as text.
fn id_value(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

async fn create(
    ctx: &Ctx,
    username: &str,
    scope: &ModelScope,
    kind: ReadKind,
    object: &str,
    body: Body,
) -> Response {
    let (workspace, allowed) = workspace_and_right(ctx, username, scope);
    if !allowed {
        // A role that may not call something gets 404, not 403.
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    }
    let reads = &scope.model.reads;
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let (table, fail) = match kind {
        ReadKind::View => {
            let Some((module, _)) = find_view(reads, object) else {
                return error(ctx, StatusCode::NOT_FOUND, "Not Found");
            };
            let export_type = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                v.get("exportType")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            let layout = match export_type.as_deref() {
                Some("TABULAR_MULTI_COLUMN" | "GRID_ALL_PAGES" | "GRID_CURRENT_PAGE") => {
                    ViewLayout::MultiColumn
                }
                Some("TABULAR_SINGLE_COLUMN" | "TABULAR_SINGLE_ITEMS") => ViewLayout::SingleColumn,
                _ => return error(ctx, StatusCode::BAD_REQUEST, "Invalid exportType"),
            };
            let Some(table) = view_table(reads, object, layout) else {
                return error(ctx, StatusCode::NOT_FOUND, "Not Found");
            };
            (table, module.read_fail)
        }
        ReadKind::List => {
            let Some(l) = reads.lists.iter().find(|l| l.id.as_deref() == Some(object)) else {
                return error(ctx, StatusCode::NOT_FOUND, "Not Found");
            };
            (Table::list(reads, l), l.read_fail)
        }
    };
    let config = ctx.shared.lock().config.reads.clone();
    let seed = ctx.shared.lock().config.seed;
    let id = {
        let mut store = ctx.shared.reads.lock();
        store.expire(Instant::now(), config.expiry);
        if store.live_in(&workspace) >= config.max_concurrent {
            drop(store);
            let mut response = error(ctx, StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            let secs = config.retry_after.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        let id = hex128(
            seed,
            "read-request",
            &format!("{}/{}", store.order.len(), object),
            true,
        );
        let info = ReadRequestInfo {
            id: id.clone(),
            kind,
            object_id: object.to_owned(),
            workspace_id: workspace.clone(),
            username: username.to_owned(),
            deleted: false,
            expired: false,
            pages_served: 0,
            pages: table.page_count(&config),
        };
        let request = new_request(info, Arc::new(table), &config, fail);
        store.order.push(id.clone());
        store.requests.insert(id.clone(), request);
        id
    };
    let state = if config.start_delay.is_zero() {
        "IN_PROGRESS"
    } else {
        "NOT_STARTED"
    };
    let value = json!({
        "requestId": id,
        "requestState": state,
        "url": request_url(ctx, &workspace, scope, kind, object, &id),
    });
    single(
        ctx,
        Version::V2,
        &super::envelope::schema(ctx, None, &object_schema(kind)),
        kind.key(),
        value,
    )
}

fn object_schema(kind: ReadKind) -> String {
    match kind {
        ReadKind::View => "viewReadRequest".to_owned(),
        ReadKind::List => "listReadRequest".to_owned(),
    }
}

/// GET (status) or DELETE of a request.
fn status(
    ctx: &Ctx,
    username: &str,
    scope: &ModelScope,
    kind: ReadKind,
    object: &str,
    id: &str,
    delete: bool,
) -> Response {
    let (workspace, allowed) = workspace_and_right(ctx, username, scope);
    if !allowed {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    }
    let config = ctx.shared.lock().config.reads.clone();
    let now = Instant::now();
    let value = {
        let mut store = ctx.shared.reads.lock();
        store.expire(now, config.expiry);
        let Some(r) = store.live(id, kind, object) else {
            drop(store);
            return error(ctx, StatusCode::NOT_FOUND, "Not Found");
        };
        let s = r.status(now);
        let mut v = json!({
            "requestId": id,
            kind.id_field(): id_value(object),
            "requestState": s.state,
            "url": request_url(ctx, &workspace, scope, kind, object, id),
        });
        if delete {
            r.info.deleted = true;
            let finished = s.state == "COMPLETE";
            v["requestState"] = json!(if finished && !config.delete_finished_as_cancelled {
                "COMPLETE"
            } else {
                "CANCELLED"
            });
            v["successful"] = json!(true);
        } else {
            v["availablePages"] = json!(s.available);
            v["successful"] = json!(s.successful.unwrap_or(false));
        }
        v
    };
    single(
        ctx,
        Version::V2,
        &super::envelope::schema(ctx, None, &object_schema(kind)),
        kind.key(),
        value,
    )
}

#[allow(clippy::too_many_arguments)]
async fn page(
    ctx: &Ctx,
    username: &str,
    scope: &ModelScope,
    kind: ReadKind,
    object: &str,
    id: &str,
    k: &str,
    faults: &FaultSpec,
) -> Response {
    let (_, allowed) = workspace_and_right(ctx, username, scope);
    if !allowed {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    }
    let Ok(k) = k.parse::<u64>() else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let config = ctx.shared.lock().config.reads.clone();
    if !config.page_jitter.is_zero() {
        let nanos = config.page_jitter.as_nanos() as u64;
        let wait = ctx.hash("page-jitter") % nanos.max(1);
        tokio::time::sleep(std::time::Duration::from_nanos(wait)).await;
    }
    let now = Instant::now();
    let table = {
        let mut store = ctx.shared.reads.lock();
        store.expire(now, config.expiry);
        let Some(r) = store.live(id, kind, object) else {
            drop(store);
            return error(ctx, StatusCode::NOT_FOUND, "Not Found");
        };
        if k >= r.status(now).available {
            drop(store);
            return error(ctx, StatusCode::NOT_FOUND, "Page not available");
        }
        if k.is_multiple_of(100) {
            r.last_activity = now;
        }
        r.info.pages_served += 1;
        Arc::clone(&r.table)
    };
    let bytes = table.page(k, &config);
    let len = bytes.len() as u64;
    let fault = BodyFault::decide(ctx, faults, len);
    let gzip = ctx.shared.lock().config.gzip && accepts_gzip(&ctx.headers);
    let body = futures::stream::once(async move { Ok(bytes) });
    download(ctx, len, body, fault, gzip, "text/csv")
}
