//! Discovery: workspaces (all the user can see, or one for an administrator) and models
//! (all, those of a workspace, or one; `modelDetails` adds the details fields).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{Version, flag, list, schema, single};
use crate::simulator::config::{ModelConfig, UserConfig, WorkspaceConfig};
use crate::simulator::faults::hash;
use crate::simulator::http::{Ctx, error};
use crate::simulator::state::hex128;

pub(super) fn workspace_json(w: &WorkspaceConfig, tenant_details: bool) -> Value {
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

/// The workspaces `user` sees: all for an administrator, else those holding a model they can
/// open.
pub(super) fn visible_workspaces<'a>(
    workspaces: &'a [WorkspaceConfig],
    user: &'a UserConfig,
) -> impl Iterator<Item = &'a WorkspaceConfig> {
    workspaces.iter().filter(|w| {
        user.admin
            || w.models.iter().any(|m| {
                user.access
                    .allows(m.id.as_deref().unwrap_or_default(), &m.name)
            })
    })
}

pub(super) fn workspaces(ctx: &Ctx, version: Version, username: &str) -> Response {
    let tenant_details = flag(ctx, "tenantDetails");
    let items: Vec<Value> = {
        let inner = ctx.shared.lock();
        let Some(user) = inner.user(username) else {
            return error(ctx, StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        visible_workspaces(&inner.config.workspaces, user)
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

pub(super) fn workspace(ctx: &Ctx, version: Version, username: &str, id: &str) -> Response {
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

pub(super) fn model_json(
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
        v["memoryUsage"] = json!(150_000_000 + (hash(seed, "mem", &mid, 0) % 900_000_000));
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

pub(super) fn models(
    ctx: &Ctx,
    version: Version,
    username: &str,
    workspace: Option<&str>,
) -> Response {
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

pub(super) fn model(ctx: &Ctx, version: Version, id: &str, workspace: Option<&str>) -> Response {
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
