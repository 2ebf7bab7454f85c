//! Users (v2 only): the signed-in user, every user of the tenant, one user, and the
//! workspaces and models of a user.
//!
//! | endpoint | answer | source | status |
//! |---|---|---|---|
//! | `GET /users/me` | `{meta, status, user}` | OAS (`/users/me`, live-probed by its `test_get_current_user`) | confirmed |
//! | `GET /users` | `users` list, paged; `sort=+firstName` (prefix required, fields `firstName`, `lastName`, `email`, `active`, `lastLoginDate`, else 400) | OAS `/users` and `integration/README.md` "sort" (live) | confirmed |
//! | `GET /users/{id}` | `{meta, status, user}`; 404 for an unknown id | OAS (`test_get_user_by_id`, live) | confirmed |
//! | `GET /users/{id}/workspaces` | `workspaces` list with `sizeAllowance` and `currentSize` | PyPI `anaplan-api` 0.3.4 (`Workspace.get_workspaces`, `WorkspaceDetails` reads both sizes) | **unconfirmed** |
//! | `GET /users/{id}/models` | `models` list (`activeState`, `currentWorkspaceId`, `currentWorkspaceName`, ...) | PyPI `anaplan-api` 0.3.4 (`Model.get_models`, `ModelDetails`) | **unconfirmed** |
//!
//! The user object: `id` (32 lowercase hex), `active`, `email`, `emailOptIn`, `firstName`,
//! `lastName`, `lastLoginDate`, `customerId` (OAS user schema). `lastLoginDate` is written like
//! the other model dates, `2026-03-14T09:26:53.589+0000`, which `anaplan-api` parses with
//! `%Y-%m-%dT%H:%M:%S.%f%z` and `anaplan-sdk` keeps as text; the live form is **unconfirmed**
//! (OAS says only `date-time`).
//!
//! Who sees what: any user reads `/users` and `/users/{id}` (OAS: minimum role Standard User).
//! A user's own workspaces and models are theirs to list; another user's only for a workspace
//! administrator ("A non-Workspace Administrator user can only retrieve their own models",
//! HELP <https://help.anaplan.com/get-your-list-of-models-15281ada-7854-4205-9559-c5323ac43c06>);
//! anyone else gets 404, as for a workspace they may not read. Not served: the `s=` search
//! filter of `/users` (Tenant Admin only, undocumented).

use std::cmp::Ordering;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::discovery::{model_json, visible_workspaces, workspace_json};
use super::envelope::{Version, list, schema, single};
use crate::simulator::config::{ModelConfig, UserConfig, WorkspaceConfig};
use crate::simulator::faults::hash;
use crate::simulator::http::{Ctx, error};
use crate::simulator::state::{Inner, hex128};

/// Routes `/users/...` (`rest` is the path after `users`) for `username`.
pub(super) fn handle(ctx: &Ctx, version: Version, username: &str, rest: &[&str]) -> Response {
    if version != Version::V2 {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    }
    let get = ctx.method == Method::GET;
    match rest {
        [] if get => users(ctx, version),
        [id] if get => user(ctx, version, username, id),
        [id, "workspaces"] if get => workspaces_of(ctx, version, username, id),
        [id, "models"] if get => models_of(ctx, version, username, id),
        [] | [_] | [_, "workspaces" | "models"] => {
            error(ctx, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        }
        _ => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn user_json(inner: &Inner, u: &UserConfig) -> Value {
    let seed = inner.config.seed;
    let (first, last) = u.profile.names(&u.username);
    json!({
        "id": u.profile.id,
        "active": !u.profile.inactive,
        "email": u.username,
        "emailOptIn": u.profile.email_opt_in,
        "firstName": first,
        "lastName": last,
        "lastLoginDate": u.profile.last_login(hash(seed, "last-login", &u.username, 0)),
        "customerId": hex128(seed, "customer", "tenant", false),
    })
}

/// The user `id` stands for (`me` is the caller).
fn find<'a>(inner: &'a Inner, caller: &str, id: &str) -> Option<&'a UserConfig> {
    if id == "me" {
        return inner.user(caller);
    }
    inner
        .config
        .users
        .iter()
        .find(|u| u.profile.id.as_deref() == Some(id))
}

fn user(ctx: &Ctx, version: Version, caller: &str, id: &str) -> Response {
    let found = {
        let inner = ctx.shared.lock();
        find(&inner, caller, id).map(|u| user_json(&inner, u))
    };
    match found {
        Some(u) => single(ctx, version, &schema(ctx, None, "user"), "user", u),
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// The fields `GET /users` sorts by (live, OAS README).
const SORTABLE: [&str; 5] = ["firstName", "lastName", "email", "active", "lastLoginDate"];

/// `sort=+a,-b`: each column needs its sign and a known field (400 otherwise, live).
fn sort_columns(sort: &str) -> Result<Vec<(bool, &str)>, String> {
    let mut columns = Vec::new();
    for column in sort.split(',') {
        let (descending, field) = match column.split_at_checked(1) {
            Some(("+", f)) => (false, f),
            Some(("-", f)) => (true, f),
            _ => {
                return Err(format!(
                    "Bad sort order format: '{column}'. Please follow (-){{column_name_1}},(+){{column_name_2}}.. format"
                ));
            }
        };
        if !SORTABLE.contains(&field) {
            return Err("Failed to parse sort parameter".to_owned());
        }
        columns.push((descending, field));
    }
    Ok(columns)
}

fn compare(a: &Value, b: &Value, columns: &[(bool, &str)]) -> Ordering {
    for (descending, field) in columns {
        let order = match (&a[*field], &b[*field]) {
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (x, y) => x.as_str().unwrap_or("").cmp(y.as_str().unwrap_or("")),
        };
        let order = if *descending { order.reverse() } else { order };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn users(ctx: &Ctx, version: Version) -> Response {
    let mut items: Vec<Value> = {
        let inner = ctx.shared.lock();
        inner
            .config
            .users
            .iter()
            .map(|u| user_json(&inner, u))
            .collect()
    };
    if let Some(sort) = ctx.param("sort") {
        match sort_columns(&sort) {
            Ok(columns) => items.sort_by(|a, b| compare(a, b, &columns)),
            Err(message) => return error(ctx, StatusCode::BAD_REQUEST, &message),
        }
    }
    list(
        ctx,
        version,
        &schema(ctx, None, "user"),
        "users",
        items,
        None,
    )
}

/// The user `id` names, if the caller may list their workspaces and models: themselves, or
/// anyone for an administrator.
fn subject(inner: &Inner, caller: &str, id: &str) -> Option<UserConfig> {
    let me = inner.user(caller)?;
    let them = find(inner, caller, id)?;
    (me.admin || me.username == them.username).then(|| them.clone())
}

fn workspaces_of(ctx: &Ctx, version: Version, caller: &str, id: &str) -> Response {
    let items: Option<Vec<Value>> = {
        let inner = ctx.shared.lock();
        subject(&inner, caller, id).map(|u| {
            // `anaplan-api` reads `currentSize` from every item: always sent here.
            visible_workspaces(&inner.config.workspaces, &u)
                .map(|w| workspace_json(w, true))
                .collect()
        })
    };
    match items {
        Some(items) => list(
            ctx,
            version,
            &schema(ctx, None, "workspace"),
            "workspaces",
            items,
            None,
        ),
        None => error(ctx, StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn models_of(ctx: &Ctx, version: Version, caller: &str, id: &str) -> Response {
    let pairs: Option<(Vec<(WorkspaceConfig, ModelConfig)>, bool)> = {
        let inner = ctx.shared.lock();
        subject(&inner, caller, id).map(|u| {
            let pairs = inner
                .config
                .workspaces
                .iter()
                .flat_map(|w| w.models.iter().map(move |m| (w, m)))
                .filter(|(_, m)| {
                    u.access
                        .allows(m.id.as_deref().unwrap_or_default(), &m.name)
                })
                .map(|(w, m)| (w.clone(), m.clone()))
                .collect();
            (pairs, inner.config.faults.unknown_enums)
        })
    };
    let Some((pairs, unknown)) = pairs else {
        return error(ctx, StatusCode::NOT_FOUND, "Not Found");
    };
    let items = pairs
        .iter()
        .map(|(w, m)| model_json(ctx, w, m, false, false, unknown))
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
