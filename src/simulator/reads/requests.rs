//! Large-volume read requests and their life cycle (API notes §2.7), on a clock rather than
//! a driver task: a request is NOT_STARTED for `start_delay`, then IN_PROGRESS with one more
//! page available every `page_interval`, then COMPLETE (`successful: false` when its module or
//! list is set to fail). DELETE ends it (CANCELLED when unfinished; COMPLETE or CANCELLED when
//! finished, by switch) and every later call about it answers 404, as does a request idle for
//! `expiry` (the timer resets on create and on pages whose number is a multiple of 100).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::config::ReadsConfig;
use super::content::Table;

/// What a read request reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadKind {
    /// A view (`viewReadRequest`).
    View,
    /// A list (`listReadRequest`).
    List,
}

impl ReadKind {
    /// The JSON key of its objects.
    pub fn key(self) -> &'static str {
        match self {
            ReadKind::View => "viewReadRequest",
            ReadKind::List => "listReadRequest",
        }
    }

    /// The id field of its objects.
    pub fn id_field(self) -> &'static str {
        match self {
            ReadKind::View => "viewId",
            ReadKind::List => "listId",
        }
    }
}

/// A read request as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRequestInfo {
    /// Request id (32 uppercase hex digits).
    pub id: String,
    /// View or list.
    pub kind: ReadKind,
    /// The view's or list's id.
    pub object_id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// The user who created it.
    pub username: String,
    /// Deleted by the client.
    pub deleted: bool,
    /// Reclaimed after inactivity.
    pub expired: bool,
    /// Page downloads answered 200.
    pub pages_served: u64,
    /// Pages in all.
    pub pages: u64,
}

/// One request.
#[derive(Debug)]
pub(crate) struct ReadRequest {
    pub info: ReadRequestInfo,
    pub table: Arc<Table>,
    pub created: Instant,
    pub last_activity: Instant,
    pub start_delay: Duration,
    pub page_interval: Duration,
    pub fail: bool,
}

/// What a status call shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    pub state: &'static str,
    pub available: u64,
    pub successful: Option<bool>,
}

impl ReadRequest {
    pub fn status(&self, now: Instant) -> Status {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.start_delay {
            return Status {
                state: "NOT_STARTED",
                available: 0,
                successful: None,
            };
        }
        let running = elapsed.saturating_sub(self.start_delay);
        let available = if self.page_interval.is_zero() {
            self.info.pages
        } else {
            let ready = running.as_nanos() / self.page_interval.as_nanos() + 1;
            u64::try_from(ready)
                .unwrap_or(u64::MAX)
                .min(self.info.pages)
        };
        if available < self.info.pages {
            return Status {
                state: "IN_PROGRESS",
                available,
                successful: None,
            };
        }
        if self.fail {
            // A failed request: complete, unsuccessful, no pages to read.
            return Status {
                state: "COMPLETE",
                available: 0,
                successful: Some(false),
            };
        }
        Status {
            state: "COMPLETE",
            available,
            successful: Some(true),
        }
    }
}

/// Every read request since start (deleted and expired ones are kept, marked, for tests).
#[derive(Debug, Default)]
pub(crate) struct ReadStore {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
pub(crate) struct StoreInner {
    pub requests: HashMap<String, ReadRequest>,
    pub order: Vec<String>,
}

impl StoreInner {
    /// Marks requests idle for longer than `expiry` as expired.
    pub fn expire(&mut self, now: Instant, expiry: Duration) {
        for r in self.requests.values_mut() {
            if !r.info.deleted
                && !r.info.expired
                && now.saturating_duration_since(r.last_activity) > expiry
            {
                tracing::debug!(request = %r.info.id, "read request expired");
                r.info.expired = true;
            }
        }
    }

    /// Live (not deleted, not expired) requests of a workspace.
    pub fn live_in(&self, workspace_id: &str) -> usize {
        self.requests
            .values()
            .filter(|r| !r.info.deleted && !r.info.expired && r.info.workspace_id == workspace_id)
            .count()
    }

    /// The live request `id` about `kind` `object_id`.
    pub fn live(&mut self, id: &str, kind: ReadKind, object_id: &str) -> Option<&mut ReadRequest> {
        self.requests.get_mut(id).filter(|r| {
            !r.info.deleted
                && !r.info.expired
                && r.info.kind == kind
                && r.info.object_id == object_id
        })
    }
}

impl ReadStore {
    pub fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every request, oldest first.
    pub fn infos(&self) -> Vec<ReadRequestInfo> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.requests.get(id))
            .map(|r| r.info.clone())
            .collect()
    }
}

/// A new request for `table`, with the timing of `config`.
pub(crate) fn new_request(
    info: ReadRequestInfo,
    table: Arc<Table>,
    config: &ReadsConfig,
    fail: bool,
) -> ReadRequest {
    let now = Instant::now();
    ReadRequest {
        info,
        table,
        created: now,
        last_activity: now,
        start_delay: config.start_delay,
        page_interval: config.page_interval,
        fail,
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::default_model_reads;
    use super::super::content::ViewLayout;
    use super::*;

    #[test]
    fn the_state_follows_the_clock() {
        let reads = default_model_reads(1);
        let table = Arc::new(Table::view(
            &reads,
            &reads.modules[1],
            &[],
            ViewLayout::MultiColumn,
        ));
        let config = ReadsConfig {
            rows_per_page: 50,
            start_delay: Duration::from_secs(1),
            page_interval: Duration::from_secs(1),
            ..ReadsConfig::default()
        };
        let info = ReadRequestInfo {
            id: "A".into(),
            kind: ReadKind::View,
            object_id: "102000000001".into(),
            workspace_id: "w".into(),
            username: "u".into(),
            deleted: false,
            expired: false,
            pages_served: 0,
            pages: table.page_count(&config),
        };
        let r = new_request(info, table, &config, false);
        let at = |s: u64| r.status(r.created + Duration::from_millis(s * 1000 + 10));
        assert_eq!(at(0).state, "NOT_STARTED");
        assert_eq!((at(1).state, at(1).available), ("IN_PROGRESS", 1));
        assert_eq!((at(4).state, at(4).available), ("IN_PROGRESS", 4));
        assert_eq!(
            at(5),
            Status {
                state: "COMPLETE",
                available: 5,
                successful: Some(true)
            }
        );
    }
}
