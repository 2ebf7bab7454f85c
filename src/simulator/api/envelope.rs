//! How answers are shaped: v2's `{meta, status, <key>}` envelope with paging (`limit`,
//! `offset`, a `next` link always present), or v1.3's bare JSON.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::simulator::http::{Ctx, error, json_response};

/// The API version a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// `/2/0`: token auth, envelope.
    V2,
    /// `/1/3`: Basic auth on every request, bare JSON.
    V13,
}

fn success() -> Value {
    json!({"code": 200, "message": "Success"})
}

/// `{meta:{schema}, status, key: value}` (v2) or the bare value (v1.3).
pub(super) fn single(
    ctx: &Ctx,
    version: Version,
    schema: &str,
    key: &str,
    value: Value,
) -> Response {
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
pub(super) fn list(
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

pub(super) fn schema(ctx: &Ctx, model: Option<&str>, object: &str) -> String {
    match model {
        // As in the published examples: a double slash before the version.
        Some(m) => format!("{}//2/0/models/{m}/objects/{object}", ctx.shared.base_url()),
        None => format!("{}/2/0/objects/{object}", ctx.shared.base_url()),
    }
}

pub(super) fn flag(ctx: &Ctx, name: &str) -> bool {
    ctx.param(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
