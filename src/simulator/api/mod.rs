//! The Integration API: `/2/0/...` with the `{meta, status, <key>}` envelope, and the legacy
//! `/1/3/...` with Basic credentials on every request and bare JSON.
//!
//! Paths are matched by hand (not by axum's router) so that unknown paths and wrong methods
//! answer with Anaplan's error envelope, and so that both the workspace-scoped
//! (`/workspaces/{w}/models/{m}/...`) and the model-only (`/models/{m}/...`) forms share one
//! implementation.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | routing, authentication, the faults that replace an answer (429, 5xx) |
//! | `envelope.rs` | the v2 envelope and paging, or v1.3's bare JSON |
//! | `scope.rs` | the model a model-scoped call is about |
//! | `discovery.rs` | workspaces and models |
//! | `exports.rs` | export actions, their metadata, tasks, failure dumps, the model's status |
//! | `files.rs` | files and their chunks |
//! | `users.rs` | users: the signed-in one, all, one, and a user's workspaces and models |
//! | `actions.rs` | imports, processes and other actions: lists and metadata (not run) |
//! | `views.rs` | modules, views, lists; their transactional reads and read requests |

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::auth::{self, TokenProblem};
use super::faults::{FaultKind, FaultSpec, RetryAfterForm};
use super::http::{Ctx, error};
use super::tasks;

mod actions;
mod discovery;
mod envelope;
mod exports;
mod files;
mod scope;
mod users;
mod views;

pub(crate) use envelope::Version;
use scope::ModelScope;

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
        ["workspaces"] if get => discovery::workspaces(ctx, version, &username),
        ["workspaces", w] if get => discovery::workspace(ctx, version, &username, w),
        ["workspaces", w, "models"] if get => discovery::models(ctx, version, &username, Some(w)),
        ["workspaces", w, "models", m] if version == Version::V13 && get => {
            discovery::model(ctx, version, m, Some(w))
        }
        ["models"] if get => discovery::models(ctx, version, &username, None),
        ["models", m] if get => discovery::model(ctx, version, m, None),
        ["users", rest @ ..] => users::handle(ctx, version, &username, rest),
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
pub(crate) fn status_fault(ctx: &Ctx, faults: &FaultSpec) -> Option<Response> {
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
    if let ["modules" | "views" | "lists", ..] = tail {
        return views::handle(ctx, version, username, &scope, tail, faults, body)
            .await
            .unwrap_or_else(|| error(ctx, StatusCode::NOT_FOUND, "Not Found"));
    }
    let m = &ctx.method;
    let get = *m == Method::GET;
    match tail {
        ["exports"] if get => exports::exports(ctx, version, &scope, faults.unknown_enums),
        ["exports", e] if get => exports::export_metadata(ctx, version, &scope, e),
        ["exports", e, "tasks"] if get => exports::task_list(ctx, version, &scope, e),
        ["exports", e, "tasks"] if *m == Method::POST => {
            exports::start_task(ctx, version, &scope, e, faults, body).await
        }
        ["exports", e, "tasks", t] if get => exports::task_get(ctx, version, &scope, e, t),
        ["exports", e, "tasks", t] if *m == Method::DELETE => {
            tasks::cancel(&ctx.shared, t);
            exports::task_get(ctx, version, &scope, e, t)
        }
        // Export failure dumps: v1.3 scripts fetch `.../tasks/{t}/dump`; the chunked form
        // mirrors the import dump endpoints. [UNCONFIRMED] for exports on /2/0.
        ["exports", e, "tasks", t, "dump"] if get => exports::dump(ctx, &scope, e, t, None, faults),
        ["exports", e, "tasks", t, "dump", "chunks"] if get => {
            exports::dump_chunks(ctx, version, &scope, e, t)
        }
        ["exports", e, "tasks", t, "dump", "chunks", c] if get => {
            exports::dump(ctx, &scope, e, t, Some(c), faults)
        }
        ["files"] if get => files::files(ctx, version, &scope),
        ["files", f] if get => files::file_get(ctx, &scope, f, None, faults),
        ["files", f, "chunks"] if get => files::chunk_list(ctx, version, &scope, f),
        ["files", f, "chunks", c] if get => files::file_get(ctx, &scope, f, Some(c), faults),
        ["status"] if get => exports::model_status(ctx, &scope),
        [kind @ ("imports" | "processes" | "actions"), rest @ ..] => {
            actions::handle(ctx, version, &scope, kind, rest)
        }
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
