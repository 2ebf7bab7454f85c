//! The Integration API: `/2/0/...` with the `{meta, status, <key>}` envelope, and the legacy
//! `/1/3/...` with Basic credentials on every request and bare JSON.
//!
//! Paths are matched by hand (not by axum's router) so that unknown paths and wrong methods
//! answer with Anaplan's error envelope, and so that both the workspace-scoped
//! (`/workspaces/{w}/models/{m}/...`) and the model-only (`/models/{m}/...`) forms share one
//! implementation.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::auth::{self, TokenProblem};
use super::config::{ExportConfig, Layout, ModelConfig, WorkspaceConfig};
use super::faults::{FaultKind, FaultSpec, RetryAfterForm};
use super::server::{BodyFault, Ctx, accepts_gzip, download, error, json_response};
use super::state::{ExportFile, TaskState, epoch_ms, hex128};
use super::tasks::{self, TaskFaults};
use crate::generate::{Generator, ValueKind};

/// The API version a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// `/2/0`: token auth, envelope.
    V2,
    /// `/1/3`: Basic auth on every request, bare JSON.
    V13,
}

/// Handles a request under `/2/0` or `/1/3`; `rest` is the path after the version.
pub(crate) async fn handle(ctx: &Ctx, version: Version, rest: &str, body: Body) -> Response {
    let Some(username) = authenticate(ctx, version) else {
        return error(ctx, StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // Model-scoped calls: the rest of the path after the model.
    let scoped = match segs.as_slice() {
        ["workspaces", w, "models", m, tail @ ..] if !tail.is_empty() => Some((Some(*w), *m, tail)),
        ["models", m, tail @ ..] if !tail.is_empty() => Some((None, *m, tail)),
        _ => None,
    };
    // Faults apply to every authenticated call, with the export's own faults for calls about it.
    let faults = effective_faults(ctx, scoped.map(|(_, m, tail)| (m, tail)));
    if let Some(response) = status_fault(ctx, &faults) {
        return response;
    }
    if let Some((workspace, model, tail)) = scoped {
        return model_scoped(
            ctx, version, &username, workspace, model, tail, &faults, body,
        )
        .await;
    }
    let get = ctx.method == Method::GET;
    match segs.as_slice() {
        ["workspaces"] if get => workspaces(ctx, version, &username),
        ["workspaces", w] if get => workspace(ctx, version, &username, w),
        ["workspaces", w, "models"] if get => models(ctx, version, &username, Some(w)),
        ["workspaces", w, "models", m] if version == Version::V13 && get => {
            model(ctx, version, m, Some(w))
        }
        ["models"] if get => models(ctx, version, &username, None),
        ["models", m] if get => model(ctx, version, m, None),
        // Live API: the single-model GET under a workspace is not allowed (405), whatever
        // the method; other known paths answer 405 to other methods.
        ["workspaces", _, "models", _]
        | ["workspaces" | "models"]
        | ["workspaces" | "models", _]
        | ["workspaces", _, "models"] => {
            error(ctx, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        _ => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The user behind the request, or `None` (401).
fn authenticate(ctx: &Ctx, version: Version) -> Option<String> {
    let inner = ctx.shared.lock();
    match version {
        Version::V2 => match auth::live_token(&inner, &ctx.headers, true) {
            Ok((_, token)) => Some(token.username),
            Err(TokenProblem::Missing | TokenProblem::Bearer | TokenProblem::Invalid) => None,
        },
        Version::V13 => {
            let (scheme, value) = auth::authorization(&ctx.headers)?;
            // The v1.3 `AnaplanCertificate` scheme stopped working in 2020.
            if !scheme.eq_ignore_ascii_case("Basic") {
                return None;
            }
            auth::check_basic(&inner, &value)
        }
    }
}

fn effective_faults(ctx: &Ctx, scope: Option<(&str, &[&str])>) -> FaultSpec {
    let inner = ctx.shared.lock();
    let global = inner.config.faults.clone();
    let export_id = match scope {
        Some((model, ["exports" | "files", id, ..])) => Some((model, *id)),
        _ => None,
    };
    match export_id.and_then(|(m, e)| inner.model(m).map(|(_, model)| (model, e))) {
        Some((model, e)) => match model.exports.iter().find(|x| x.id.as_deref() == Some(e)) {
            Some(export) => global.merged(&export.faults),
            None => global,
        },
        None => global,
    }
}

/// A 429 or 5xx instead of the answer, when the dice say so.
fn status_fault(ctx: &Ctx, faults: &FaultSpec) -> Option<Response> {
    if faults.rate_limit > 0.0 && ctx.roll("rate-limit") < faults.rate_limit {
        let wait = faults.retry_after();
        let seconds = match faults.retry_after_form {
            Some(RetryAfterForm::Seconds) => true,
            Some(RetryAfterForm::Date) => false,
            None => ctx.hash("retry-after-form").is_multiple_of(2),
        };
        let (value, kind) = if seconds {
            (
                wait.as_secs_f64().ceil().max(1.0).to_string(),
                FaultKind::RateLimitSeconds,
            )
        } else {
            // Whole seconds, rounded up, plus one so the date is not already past on arrival.
            let secs = wait.as_secs_f64().ceil() as u64 + 1;
            let at = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
            (httpdate::fmt_http_date(at), FaultKind::RateLimitDate)
        };
        ctx.fault(kind);
        let mut response = error(ctx, StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Some(response);
    }
    if faults.server_error > 0.0 && ctx.roll("server-error") < faults.server_error {
        return Some(if ctx.hash("server-error-code").is_multiple_of(2) {
            ctx.fault(FaultKind::ServerError500);
            error(
                ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )
        } else {
            ctx.fault(FaultKind::ServerError503);
            error(ctx, StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        });
    }
    None
}

/// How a download body should be spoiled, when the dice say so.
fn body_fault(ctx: &Ctx, faults: &FaultSpec, len: u64) -> BodyFault {
    if len > 0 && faults.reset > 0.0 && ctx.roll("reset") < faults.reset {
        ctx.fault(FaultKind::Reset);
        return BodyFault::Reset(ctx.hash("reset-at") % len);
    }
    if len > 0 && faults.truncate > 0.0 && ctx.roll("truncate") < faults.truncate {
        ctx.fault(FaultKind::Truncate);
        return BodyFault::Truncate(ctx.hash("truncate-at") % len);
    }
    if faults.slow > 0.0 && ctx.roll("slow") < faults.slow {
        ctx.fault(FaultKind::Slow);
        return BodyFault::Slow(faults.trickle());
    }
    BodyFault::None
}

fn success() -> Value {
    json!({"code": 200, "message": "Success"})
}

/// `{meta:{schema}, status, key: value}` (v2) or the bare value (v1.3).
fn single(ctx: &Ctx, version: Version, schema: &str, key: &str, value: Value) -> Response {
    match version {
        Version::V2 => {
            let mut body = Map::new();
            body.insert("meta".into(), json!({"schema": schema}));
            body.insert("status".into(), success());
            body.insert(key.into(), value);
            json_response(ctx, StatusCode::OK, &Value::Object(body))
        }
        Version::V13 => json_response(ctx, StatusCode::OK, &value),
    }
}

/// A list answer with paging (v2), or the bare array (v1.3). Empty pages leave out their key.
fn list(
    ctx: &Ctx,
    version: Version,
    schema: &str,
    key: &str,
    items: Vec<Value>,
    page_size_quirk: Option<usize>,
) -> Response {
    if version == Version::V13 {
        return json_response(ctx, StatusCode::OK, &Value::Array(items));
    }
    let max = ctx.shared.lock().config.page_size;
    let limit = match ctx.param("limit") {
        None => max,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n.min(max),
            _ => return error(ctx, StatusCode::BAD_REQUEST, "Invalid limit parameter"),
        },
    };
    let offset = match ctx.param("offset") {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return error(ctx, StatusCode::BAD_REQUEST, "Invalid offset parameter"),
        },
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let mut paging = Map::new();
    paging.insert(
        "currentPageSize".into(),
        json!(page_size_quirk.unwrap_or(page.len())),
    );
    paging.insert("offset".into(), json!(offset));
    paging.insert("totalSize".into(), json!(total));
    // Quirk: `next` is there even when this page holds the rest.
    paging.insert("next".into(), json!(page_url(ctx, limit, offset + limit)));
    if offset > 0 {
        paging.insert(
            "previous".into(),
            json!(page_url(ctx, limit, offset.saturating_sub(limit))),
        );
    }
    let mut body = Map::new();
    body.insert("meta".into(), json!({"paging": paging, "schema": schema}));
    body.insert("status".into(), success());
    if !page.is_empty() {
        body.insert(key.into(), Value::Array(page));
    }
    json_response(ctx, StatusCode::OK, &Value::Object(body))
}

fn page_url(ctx: &Ctx, limit: usize, offset: usize) -> String {
    let mut params: Vec<(String, String)> = ctx
        .query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "limit" && k != "offset")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    params.push(("limit".into(), limit.to_string()));
    params.push(("offset".into(), offset.to_string()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}{}?{query}", ctx.shared.base_url(), ctx.path)
}

fn schema(ctx: &Ctx, model: Option<&str>, object: &str) -> String {
    match model {
        // As in the published examples: a double slash before the version.
        Some(m) => format!("{}//2/0/models/{m}/objects/{object}", ctx.shared.base_url()),
        None => format!("{}/2/0/objects/{object}", ctx.shared.base_url()),
    }
}

fn flag(ctx: &Ctx, name: &str) -> bool {
    ctx.param(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn workspace_json(w: &WorkspaceConfig, tenant_details: bool) -> Value {
    let mut v = json!({
        "id": w.id,
        "name": w.name,
        "active": true,
        "sizeAllowance": w.size_allowance,
    });
    if tenant_details {
        v["currentSize"] = json!(w.size_allowance / 100 * 37);
    }
    v
}

fn workspaces(ctx: &Ctx, version: Version, username: &str) -> Response {
    let tenant_details = flag(ctx, "tenantDetails");
    let items: Vec<Value> = {
        let inner = ctx.shared.lock();
        let Some(user) = inner.user(username) else {
            return error(ctx, StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        inner
            .config
            .workspaces
            .iter()
            .filter(|w| {
                user.admin
                    || w.models.iter().any(|m| {
                        user.access
                            .allows(m.id.as_deref().unwrap_or_default(), &m.name)
                    })
            })
            .map(|w| workspace_json(w, tenant_details))
            .collect()
    };
    list(
        ctx,
        version,
        &schema(ctx, None, "workspace"),
        "workspaces",
        items,
        None,
    )
}

fn workspace(ctx: &Ctx, version: Version, username: &str, id: &str) -> Response {
    let found = {
        let inner = ctx.shared.lock();
        let admin = inner.user(username).is_some_and(|u| u.admin);
        // Live API: 404 for anyone but an administrator.
        inner
            .workspace(id)
            .filter(|_| admin)
            .map(|w| workspace_json(w, flag(ctx, "tenantDetails")))
    };
    match found {
        Some(w) => single(
            ctx,
            version,
            &schema(ctx, None, "workspace"),
            "workspace",
            w,
        ),
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn model_json(
    ctx: &Ctx,
    w: &WorkspaceConfig,
    m: &ModelConfig,
    details: bool,
    single: bool,
    unknown_enums: bool,
) -> Value {
    let wid = w.id.clone().unwrap_or_default();
    let mid = m.id.clone().unwrap_or_default();
    let seed = ctx.shared.lock().config.seed;
    let mut v = json!({
        "id": mid,
        "activeState": if unknown_enums { "LOCKED" } else { m.active_state.as_str() },
        "name": m.name,
        "currentWorkspaceId": wid,
        "currentWorkspaceName": w.name,
        "modelUrl": format!("https://rt.anaplan.com/anaplan/rt?selectedWorkspaceId={wid}&selectedModelId={mid}"),
        "categoryValues": [],
    });
    if details {
        v["memoryUsage"] =
            json!(150_000_000 + (super::faults::hash(seed, "mem", &mid, 0) % 900_000_000));
        v["isoCreationDate"] = json!("2024-03-01T09:30:00.000+0000");
        v["lastModified"] = json!("2026-06-30T17:05:41.000+0000");
        v["lastModifiedByUserGuid"] = json!(hex128(seed, "user", "modeler", false));
        v["lastSavedSerialNumber"] = json!(2_004_117);
        if single {
            v["modelTransactionRunning"] = json!(false);
        }
    }
    if unknown_enums {
        v["dataRetentionPolicy"] = json!({"kind": "SIMULATED_UNKNOWN_FIELD"});
    }
    v
}

fn models(ctx: &Ctx, version: Version, username: &str, workspace: Option<&str>) -> Response {
    let details = flag(ctx, "modelDetails");
    let pairs: Vec<(WorkspaceConfig, ModelConfig)> = {
        let inner = ctx.shared.lock();
        let Some(user) = inner.user(username) else {
            return error(ctx, StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        if let Some(w) = workspace
            && inner.workspace(w).is_none()
        {
            drop(inner);
            return error(ctx, StatusCode::NOT_FOUND, "Not Found");
        }
        inner
            .config
            .workspaces
            .iter()
            .filter(|w| workspace.is_none_or(|id| w.id.as_deref() == Some(id)))
            .flat_map(|w| w.models.iter().map(move |m| (w, m)))
            .filter(|(_, m)| {
                user.access
                    .allows(m.id.as_deref().unwrap_or_default(), &m.name)
            })
            .map(|(w, m)| (w.clone(), m.clone()))
            .collect()
    };
    let unknown = ctx.shared.lock().config.faults.unknown_enums;
    let items = pairs
        .iter()
        .map(|(w, m)| model_json(ctx, w, m, details, false, unknown))
        .collect();
    list(
        ctx,
        version,
        &schema(ctx, None, "model"),
        "models",
        items,
        None,
    )
}

fn model(ctx: &Ctx, version: Version, id: &str, workspace: Option<&str>) -> Response {
    // Live API: the single-model GET answers even without access to the model.
    let found = {
        let inner = ctx.shared.lock();
        inner
            .model(id)
            .filter(|(w, _)| workspace.is_none_or(|ws| w.id.as_deref() == Some(ws)))
            .map(|(w, m)| (w.clone(), m.clone(), inner.config.faults.unknown_enums))
    };
    match found {
        Some((w, m, unknown)) => {
            let v = model_json(ctx, &w, &m, flag(ctx, "modelDetails"), true, unknown);
            single(ctx, version, &schema(ctx, None, "model"), "model", v)
        }
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// What a model-scoped handler needs to know about its model.
struct ModelScope {
    model: ModelConfig,
    model_id: String,
}

#[allow(clippy::too_many_arguments)]
async fn model_scoped(
    ctx: &Ctx,
    version: Version,
    username: &str,
    workspace: Option<&str>,
    model_id: &str,
    tail: &[&str],
    faults: &FaultSpec,
    body: Body,
) -> Response {
    let scope = {
        let inner = ctx.shared.lock();
        let allowed = inner.user(username).map(|u| u.access.clone());
        inner.model(model_id).and_then(|(w, m)| {
            let in_workspace = workspace.is_none_or(|ws| w.id.as_deref() == Some(ws));
            let access = allowed
                .as_ref()
                .is_some_and(|a| a.allows(model_id, &m.name));
            (in_workspace && access).then(|| ModelScope {
                model: m.clone(),
                model_id: model_id.to_owned(),
            })
        })
    };
    // No access is masked as 404, like an unknown model.
    let Some(scope) = scope else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let m = &ctx.method;
    let get = *m == Method::GET;
    match tail {
        ["exports"] if get => exports(ctx, version, &scope, faults.unknown_enums),
        ["exports", e] if get => export_metadata(ctx, version, &scope, e),
        ["exports", e, "tasks"] if get => task_list(ctx, version, &scope, e),
        ["exports", e, "tasks"] if *m == Method::POST => {
            start_task(ctx, version, &scope, e, faults, body).await
        }
        ["exports", e, "tasks", t] if get => task_get(ctx, version, &scope, e, t),
        ["exports", e, "tasks", t] if *m == Method::DELETE => {
            tasks::cancel(&ctx.shared, t);
            task_get(ctx, version, &scope, e, t)
        }
        // Export failure dumps: v1.3 scripts fetch `.../tasks/{t}/dump`; the chunked form
        // mirrors the import dump endpoints. [UNCONFIRMED] for exports on /2/0.
        ["exports", e, "tasks", t, "dump"] if get => dump(ctx, &scope, e, t, None, faults),
        ["exports", e, "tasks", t, "dump", "chunks"] if get => {
            dump_chunks(ctx, version, &scope, e, t)
        }
        ["exports", e, "tasks", t, "dump", "chunks", c] if get => {
            dump(ctx, &scope, e, t, Some(c), faults)
        }
        ["files"] if get => files(ctx, version, &scope),
        ["files", f] if get => file_get(ctx, &scope, f, None, faults),
        ["files", f, "chunks"] if get => chunk_list(ctx, version, &scope, f),
        ["files", f, "chunks", c] if get => file_get(ctx, &scope, f, Some(c), faults),
        ["status"] if get => model_status(ctx, &scope),
        ["exports" | "files"]
        | ["exports" | "files", _]
        | ["exports", _, "tasks"]
        | ["exports", _, "tasks", _]
        | ["files", _, "chunks"]
        | ["files", _, "chunks", _] => {
            error(ctx, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        _ => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn find_export<'a>(scope: &'a ModelScope, id: &str) -> Option<&'a ExportConfig> {
    scope
        .model
        .exports
        .iter()
        .find(|e| e.id.as_deref() == Some(id))
}

fn export_type(e: &ExportConfig, unknown_enums: bool) -> String {
    if let Some(t) = &e.export_type {
        return t.clone();
    }
    if unknown_enums && e.layout == Layout::TabularMultiColumn {
        return "GRID_ALL_PAGES".into();
    }
    e.layout.export_type().into()
}

fn exports(ctx: &Ctx, version: Version, scope: &ModelScope, unknown_enums: bool) -> Response {
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
        &schema(ctx, Some(&scope.model_id), "export"),
        "exports",
        items,
        None,
    )
}

fn export_metadata(ctx: &Ctx, version: Version, scope: &ModelScope, id: &str) -> Response {
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
        &schema(ctx, Some(&scope.model_id), "exportMetadata"),
        "exportMetadata",
        meta,
    )
}

fn task_list(ctx: &Ctx, version: Version, scope: &ModelScope, export_id: &str) -> Response {
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
        &schema(ctx, Some(&scope.model_id), "task"),
        "tasks",
        items.into_iter().map(|(_, v)| v).collect(),
        None,
    )
}

async fn start_task(
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
    single(
        ctx,
        version,
        &schema(ctx, Some(&scope.model_id), "task"),
        "task",
        summary,
    )
}

fn task_get(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
) -> Response {
    let found = {
        let inner = ctx.shared.lock();
        inner
            .tasks
            .iter()
            .find(|t| t.id == id && t.model_id == scope.model_id && t.export_id == export_id)
            .map(tasks::task_json)
    };
    match found {
        Some(t) => single(
            ctx,
            version,
            &schema(ctx, Some(&scope.model_id), "task"),
            "task",
            t,
        ),
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn task_dump(ctx: &Ctx, scope: &ModelScope, export_id: &str, id: &str) -> Option<bytes::Bytes> {
    let inner = ctx.shared.lock();
    inner
        .tasks
        .iter()
        .find(|t| t.id == id && t.model_id == scope.model_id && t.export_id == export_id)
        .and_then(|t| t.dump.clone())
}

fn dump(
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
    let fault = body_fault(ctx, faults, len);
    let body = futures::stream::once(async move { Ok(data) });
    download(ctx, len, body, fault, false, "text/csv")
}

fn dump_chunks(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    export_id: &str,
    id: &str,
) -> Response {
    let items = match task_dump(ctx, scope, export_id, id) {
        Some(_) => vec![json!({"id": "0", "name": "Chunk 0"})],
        None => return error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    };
    list(
        ctx,
        version,
        &schema(ctx, Some(&scope.model_id), "chunk"),
        "chunks",
        items,
        None,
    )
}

fn export_file(ctx: &Ctx, scope: &ModelScope, id: &str) -> Option<ExportFile> {
    ctx.shared
        .lock()
        .files
        .get(&(scope.model_id.clone(), id.to_owned()))
        .cloned()
}

/// Import-file ids of a model: `113` + 9 digits, in order.
fn import_file_id(i: usize) -> String {
    format!("113{i:09}")
}

fn files(ctx: &Ctx, version: Version, scope: &ModelScope) -> Response {
    let mut items: Vec<Value> = scope
        .model
        .import_files
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "id": import_file_id(i),
                "name": name,
                "chunkCount": 0,
                "delimiter": "\"",
                "encoding": "UTF-8",
                "firstDataRow": 2,
                "format": "txt",
                "headerRow": 1,
                "separator": ",",
            })
        })
        .collect();
    for e in &scope.model.exports {
        let id = e.id.clone().unwrap_or_default();
        let chunks = export_file(ctx, scope, &id).map_or(0, |f| f.chunk_count());
        // Export files carry fewer fields than uploaded files (PM example).
        items.push(json!({
            "id": id,
            "name": e.name,
            "chunkCount": chunks,
            "firstDataRow": 0,
            "headerRow": 0,
        }));
    }
    list(
        ctx,
        version,
        &schema(ctx, Some(&scope.model_id), "file"),
        "files",
        items,
        None,
    )
}

fn chunk_list(ctx: &Ctx, version: Version, scope: &ModelScope, id: &str) -> Response {
    let count = if let Some(f) = export_file(ctx, scope, id) {
        f.chunk_count()
    } else {
        let known = find_export(scope, id).is_some()
            || (0..scope.model.import_files.len()).any(|i| import_file_id(i) == id);
        if !known {
            return error(ctx, StatusCode::NOT_FOUND, "Not Found");
        }
        0
    };
    let items: Vec<Value> = (0..count)
        .map(|k| json!({"id": k.to_string(), "name": format!("Chunk {k}")}))
        .collect();
    // Quirk: the published samples say `currentPageSize: 1` whatever the count.
    let quirk = (ctx.shared.lock().config.chunk_page_size_quirk && !items.is_empty()).then_some(1);
    list(
        ctx,
        version,
        &schema(ctx, Some(&scope.model_id), "chunk"),
        "chunks",
        items,
        quirk,
    )
}

fn file_get(
    ctx: &Ctx,
    scope: &ModelScope,
    id: &str,
    chunk: Option<&str>,
    faults: &FaultSpec,
) -> Response {
    let Some(file) = export_file(ctx, scope, id).filter(|f| f.chunk_count() > 0) else {
        // Also the live answer for a file with no chunks.
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let range = match chunk {
        None => 0..file.content.len(),
        Some(c) => match c.parse::<u64>() {
            Ok(k) if k < file.chunk_count() => file.content.chunk_range(k, file.chunk_size),
            _ => return error(ctx, StatusCode::NOT_FOUND, "Not Found"),
        },
    };
    let len = range.end - range.start;
    let fault = body_fault(ctx, faults, len);
    let gzip = ctx.shared.lock().config.gzip && accepts_gzip(&ctx.headers);
    let body = file.content.stream(range);
    download(ctx, len, body, fault, gzip, "application/octet-stream")
}

/// `GET /models/{m}/status`: a bare `requestStatus` object, `progress` -1 when idle (OAS, live).
fn model_status(ctx: &Ctx, scope: &ModelScope) -> Response {
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
