//! Housekeeping of a Delta table: its history (one line per commit, from the log) and vacuum
//! (deleting data files that no version within the retention period needs).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use super::commit::kernel_error;
use super::{DeltaTable, blocking};
use crate::error::{Error, Result};
use crate::sink::errors::store_error;

/// One commit of the table, as its log entry tells.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    /// The table version the commit made.
    pub version: u64,
    /// Milliseconds since the epoch (the commit's own timestamp).
    pub timestamp: Option<i64>,
    /// `WRITE`, `CREATE TABLE`, ...
    pub operation: Option<String>,
    /// `Append` or `Overwrite`, for writes.
    pub mode: Option<String>,
    /// Data files added and removed.
    pub added: u64,
    /// Data files removed from the table (still in storage until a vacuum).
    pub removed: u64,
    /// Rows added (from the add actions' statistics).
    pub rows_added: u64,
    /// Who wrote it (`engineInfo`).
    pub engine: Option<String>,
    /// Our provenance (workspace, model, export, task id, tool version), when we wrote it.
    pub provenance: Option<serde_json::Value>,
}

/// What a vacuum did (or would do, in a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    /// Data files deleted (or to delete).
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
    /// True when nothing was deleted.
    pub dry_run: bool,
}

impl DeltaTable {
    /// Every commit in the log, oldest first. Versions only in a checkpoint (their JSON entries
    /// were cleaned up) are not listed.
    pub async fn history(&self) -> Result<Vec<Commit>> {
        let log = self.key.clone().join("_delta_log");
        let mut entries: Vec<(u64, StorePath)> = self
            .store
            .list(Some(&log))
            .try_filter_map(|m| async move {
                let name = m.location.filename().unwrap_or_default().to_owned();
                Ok(name
                    .strip_suffix(".json")
                    .filter(|v| v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|v| (v, m.location)))
            })
            .try_collect()
            .await
            .map_err(|e| self.store_failed("listing the log", e))?;
        if entries.is_empty() {
            return Err(not_a_table(&self.display));
        }
        entries.sort();
        let mut commits = Vec::with_capacity(entries.len());
        for (version, path) in entries {
            let bytes = self
                .store
                .get(&path)
                .await
                .map_err(|e| self.store_failed("reading the log", e))?
                .bytes()
                .await
                .map_err(|e| self.store_failed("reading the log", e))?;
            commits.push(parse_commit(version, &bytes));
        }
        Ok(commits)
    }

    /// Deletes the data files under the root that the latest version does not hold and that
    /// no version of the last `retain` needs (a file removed from the table less than `retain`
    /// ago stays, so time travel within `retain` keeps working). Files written less than
    /// `retain` ago also stay: they may belong to a run still committing.
    pub async fn vacuum(self: &Arc<Self>, retain: Duration, dry_run: bool) -> Result<Vacuumed> {
        let cutoff = chrono::Utc::now().timestamp_millis()
            - i64::try_from(retain.as_millis()).unwrap_or(i64::MAX);
        let table = Arc::clone(self);
        let live: HashSet<String> = blocking(move || table.live_files()).await?;
        // Files removed within the retention period are still needed by recent versions.
        let mut recent_removes = HashSet::new();
        let log = self.key.clone().join("_delta_log");
        let logs: Vec<StorePath> = self
            .store
            .list(Some(&log))
            .try_filter_map(|m| async move {
                Ok(m.location
                    .filename()
                    .is_some_and(|n| {
                        std::path::Path::new(n)
                            .extension()
                            .is_some_and(|x| x.eq_ignore_ascii_case("json"))
                    })
                    .then_some(m.location))
            })
            .try_collect()
            .await
            .map_err(|e| self.store_failed("listing the log", e))?;
        for path in logs {
            let bytes = self
                .store
                .get(&path)
                .await
                .map_err(|e| self.store_failed("reading the log", e))?
                .bytes()
                .await
                .map_err(|e| self.store_failed("reading the log", e))?;
            for line in String::from_utf8_lossy(&bytes).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(r) = v.get("remove") {
                    let at = r
                        .get("deletionTimestamp")
                        .and_then(serde_json::Value::as_i64)
                        .unwrap_or(i64::MAX);
                    if at > cutoff
                        && let Some(p) = r.get("path").and_then(|p| p.as_str())
                    {
                        recent_removes.insert(decode(p));
                    }
                }
            }
        }
        let prefix = self.key.clone();
        let root_parts = prefix.parts().count();
        let mut files = Vec::new();
        let mut bytes = 0;
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| self.store_failed("listing the table's files", e))?
        {
            let rel: Vec<String> = meta
                .location
                .parts()
                .skip(root_parts)
                .map(|p| p.as_ref().to_owned())
                .collect();
            // The log, and hidden or underscore-prefixed entries, are not data files.
            if rel.iter().any(|p| p.starts_with('_') || p.starts_with('.')) {
                continue;
            }
            if !rel.last().is_some_and(|n| {
                std::path::Path::new(n)
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("parquet"))
            }) {
                continue;
            }
            let rel = rel.join("/");
            if live.contains(&rel)
                || recent_removes.contains(&rel)
                || meta.last_modified.timestamp_millis() > cutoff
            {
                continue;
            }
            bytes += meta.size;
            files.push((rel, meta.location));
        }
        if !dry_run {
            for (rel, path) in &files {
                tracing::info!(table = %self.display, file = %rel, "vacuum: deleting");
                match self.store.delete(path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.store_failed("deleting a file", e)),
                }
            }
        }
        Ok(Vacuumed {
            files: files.into_iter().map(|(rel, _)| rel).collect(),
            bytes,
            dry_run,
        })
    }

    /// The data files of the latest version, relative to the root.
    fn live_files(&self) -> Result<HashSet<String>> {
        let engine = self.engine();
        let Some(snapshot) = super::commit::latest(&engine, &self.root, &self.display)? else {
            return Err(not_a_table(&self.display));
        };
        let scan = snapshot
            .scan_builder()
            .build()
            .map_err(|e| kernel_error(&self.display, "listing the table's files", e))?;
        let mut live = HashSet::new();
        for meta in scan
            .scan_metadata(&engine)
            .map_err(|e| kernel_error(&self.display, "listing the table's files", e))?
        {
            let meta =
                meta.map_err(|e| kernel_error(&self.display, "listing the table's files", e))?;
            live = meta
                .visit_scan_files(live, |live, file| {
                    live.insert(decode(&file.path));
                })
                .map_err(|e| kernel_error(&self.display, "listing the table's files", e))?;
        }
        Ok(live)
    }

    fn store_failed(&self, doing: &str, e: object_store::Error) -> Error {
        store_error(
            &self.display,
            &format!("Delta table at {}: {doing}", self.display),
            e,
            "",
        )
    }
}

/// Paths in the log are URL-encoded (`export_date=2026-12-03/…` as `export_date%3D…`).
fn decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| path.to_owned(), |(_, v)| v.into_owned())
}

fn not_a_table(display: &str) -> Error {
    Error::Destination(Box::new(crate::error::DestinationError::new(
        crate::error::DestinationErrorKind::NotFound,
        display.to_owned(),
        format!("there is no Delta table at {display} (no _delta_log/ entries)"),
    )))
}

fn parse_commit(version: u64, bytes: &[u8]) -> Commit {
    let mut c = Commit {
        version,
        timestamp: None,
        operation: None,
        mode: None,
        added: 0,
        removed: 0,
        rows_added: 0,
        engine: None,
        provenance: None,
    };
    for line in String::from_utf8_lossy(bytes).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(info) = v.get("commitInfo") {
            c.timestamp = info.get("timestamp").and_then(serde_json::Value::as_i64);
            c.operation = info
                .get("operation")
                .and_then(|o| o.as_str())
                .map(str::to_owned);
            c.mode = info
                .pointer("/operationParameters/mode")
                .and_then(|o| o.as_str())
                .map(str::to_owned);
            c.engine = info
                .get("engineInfo")
                .and_then(|o| o.as_str())
                .map(str::to_owned);
            c.provenance = info.get("anaplanParquet").cloned();
        } else if let Some(add) = v.get("add") {
            c.added += 1;
            let rows = add
                .get("stats")
                .and_then(|s| s.as_str())
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(serde_json::Value::as_u64));
            c.rows_added += rows.unwrap_or(0);
        } else if v.get("remove").is_some() {
            c.removed += 1;
        }
    }
    c
}
