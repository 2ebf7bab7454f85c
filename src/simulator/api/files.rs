//! Files: the model's files (uploaded import files, and export files once a task has produced
//! them) with their `chunkCount`, chunk lists, and downloads of a file or one of its chunks.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{Version, list};
use super::scope::{ModelScope, export_file, find_export};
use crate::simulator::faults::FaultSpec;
use crate::simulator::http::{BodyFault, Ctx, accepts_gzip, download, error};

/// Import-file ids of a model: `113` + 9 digits, in order.
pub(super) fn import_file_id(i: usize) -> String {
    format!("113{i:09}")
}

pub(super) fn files(ctx: &Ctx, version: Version, scope: &ModelScope) -> Response {
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
        &scope.schema(ctx, "file"),
        "files",
        items,
        None,
    )
}

pub(super) fn chunk_list(ctx: &Ctx, version: Version, scope: &ModelScope, id: &str) -> Response {
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
    // Quirk: the published samples say `currentPageSize: 1` whatever the count.
    let quirk = ctx.shared.lock().config.chunk_page_size_quirk;
    chunks(ctx, version, scope, count, quirk)
}

/// A list of `count` chunks (`Chunk 0`, ...), with the `currentPageSize: 1` quirk if asked.
pub(super) fn chunks(
    ctx: &Ctx,
    version: Version,
    scope: &ModelScope,
    count: u64,
    page_size_quirk: bool,
) -> Response {
    let items: Vec<Value> = (0..count)
        .map(|k| json!({"id": k.to_string(), "name": format!("Chunk {k}")}))
        .collect();
    let quirk = (page_size_quirk && !items.is_empty()).then_some(1);
    list(
        ctx,
        version,
        &scope.schema(ctx, "chunk"),
        "chunks",
        items,
        quirk,
    )
}

pub(super) fn file_get(
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
    let fault = BodyFault::decide(ctx, faults, len);
    let gzip = ctx.shared.lock().config.gzip && accepts_gzip(&ctx.headers);
    let body = file.content.stream(range);
    download(ctx, len, body, fault, gzip, "application/octet-stream")
}
