//! The embedded Anaplan simulator: the authentication service and the Integration (bulk) API,
//! faithful to the shapes and quirks of the live API (`anaplan-api.md`), with deterministic
//! fault injection.
//!
//! Tests start it in-process ([`Simulator::start`] on `127.0.0.1:0`); the `simulator` command
//! serves it on a port. Auth (`/token/...`), the v2.0 API (`/2/0/...`) and the legacy v1.3 API
//! (`/1/3/...`) share one base URL ([`SimulatorHandle::base_url`]).
//!
//! # What it serves
//!
//! - **Auth**: Basic and CA-certificate authentication (v1 and v2 nonces; the certificate as
//!   base64 of PEM text, of the file, or of the DER), refresh (same token value, new expiry),
//!   validate, logout; tokens last 35 minutes unless configured otherwise. The API accepts
//!   `AnaplanAuthToken <t>` and `Bearer <t>`.
//! - **Discovery**: workspaces, models (the single-model GET under a workspace answers 405),
//!   exports and their metadata (`MIXED` value column for Tabular Single Column), files with
//!   `chunkCount`. Lists page with `limit`/`offset` (default and largest page 5000), always
//!   carry a `next` link (a live quirk), and leave out their key when empty. Models the user
//!   cannot open answer 404 on model-scoped calls.
//! - **Users** (v2): `/users/me`, `/users`, `/users/{id}`, `/users/{id}/workspaces`,
//!   `/users/{id}/models`, with profiles from the config or derived from the seed and
//!   username (`api/users.rs` lists each endpoint's source and whether it is confirmed).
//! - **Imports, processes, other actions**: lists, import and process metadata, empty task
//!   lists, in both path forms; not run (`api/actions.rs`).
//! - **Export tasks**: NOT_STARTED → IN_PROGRESS (`progress`, `currentStep`) → COMPLETE with
//!   `result{successful, failureDumpAvailable, objectId}` (plus `details` and `nestedResults`
//!   with [`ExportResultForm::Details`], both forms unconfirmed for exports); CANCELLING → CANCELLED on DELETE;
//!   one task at a time per model, the others queued. The export's file exists once a task on
//!   it has completed, and holds the content of the last successful run.
//! - **Chunks**: the file cut every `chunk_size` bytes, wherever that falls (inside a record,
//!   a quoted field or a UTF-8 character); only chunk 0 holds the header. Generated on the fly
//!   from [`crate::generate`], so a multi-gigabyte export costs no memory. Gzip when asked.
//!   An export may serve fixed bytes instead ([`ExportConfig::fixed`], `content_file` in a
//!   config file), exactly as given, malformed or not: the bad-input corpus is served this way.
//!
//! - **Modules, views and lists** ([`reads`]): discovery, view and list metadata,
//!   large-volume read requests (pages available over time, expiry, a concurrency cap, DELETE)
//!   and the transactional reads, with a switch per open question of the API.
//!
//! # Faults
//!
//! `--faults` (and `faults` per export in a config file) takes comma-separated items:
//!
//! | item | effect |
//! |---|---|
//! | `rate-limit=P` | 429 with `Retry-After`, as seconds or as an HTTP date (alternately) |
//! | `retry-after=DURATION` | the wait a 429 asks for (default `1s`) |
//! | `retry-after-form=seconds\|date` | only that `Retry-After` form (default: both, alternately) |
//! | `server-error=P` | 500 or 503 |
//! | `reset=P` | TCP reset in the middle of a chunk, file or dump download |
//! | `truncate=P` | download body ends before its `Content-Length` |
//! | `slow=P` | download body trickled at the `trickle` rate |
//! | `trickle=BYTES` | bytes per second of a slow body (default `64KiB`) |
//! | `bandwidth=BYTES` | per-connection cap, bytes per second (e.g. `4MB`) |
//! | `latency=DURATION` | delay before every answer (e.g. `50ms`) |
//! | `token-ttl=DURATION` | token lifetime (e.g. `20s`, to expire tokens mid-run) |
//! | `task-fail[=P]` | export task ends COMPLETE with `successful: false` and a failure dump |
//! | `task-stuck=DURATION` | export task stays IN_PROGRESS that much longer |
//! | `task-cancel[=P]` | export task is cancelled by the server (ends CANCELLED) |
//! | `unknown-enums` | `LOCKED` models, `GRID_ALL_PAGES` exports, fields no client knows |
//!
//! `P` is a probability; sizes are read by `units::parse_size` (`4MB` is 4,000,000
//! bytes, `4MiB` 4,194,304) and durations by `units::parse_duration`. Each decision
//! is a hash of the seed, the request's method, path and query, and how many times that same
//! request came before, so a run replays identically under the same `--seed`, whatever the
//! order in which concurrent requests arrive.
//! Example: `--faults rate-limit=0.05,server-error=0.02,reset=0.01,truncate=0.01,token-ttl=20s`.
//!
//! # Files
//!
//! Imports go one way: `server` → `api`, `auth` → `http`, `tasks` → `state` → `content` →
//! `config` → `format`, `objects`, with `faults`, `conn` and `body` at the bottom.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Simulator`] and the [`SimulatorHandle`] that observes and steers it |
//! | `server.rs` | the router: every request to the auth service or the API, then logged |
//! | `auth.rs` | the auth service: sign-in (Basic, certificate), refresh, validate, logout |
//! | [`oauth`] | the OAuth 2.0 service: device grant, refresh-token rotation, revocation |
//! | `api/` | the Integration API: discovery, exports and tasks, files and chunks, users, imports, processes and actions |
//! | `http.rs` | the endpoints' toolkit: request context, JSON and error answers, downloads |
//! | `body.rs` | download body transformations: cut short, trickled, gzip |
//! | `conn.rs` | connections with a bandwidth cap and a reset switch |
//! | `state.rs`, `tasks.rs` | the tenant's live state; export tasks and their life cycle |
//! | `config.rs` | [`SimulatorConfig`] from code or TOML |
//! | `objects.rs` | users' profiles, imports, processes, actions, the export result form |
//! | `content.rs`, `format.rs` | export files' bytes; their layout, encoding, fixed content |
//! | `faults.rs` | [`FaultSpec`] and the deterministic fault decisions |
//! | `reads/` | modules, views, lists: their config, generated records, read requests |
//!
//! # For tests
//!
//! The handle observes ([`SimulatorHandle::counters`], [`SimulatorHandle::task_log`],
//! [`SimulatorHandle::requests`], [`SimulatorHandle::export`],
//! [`SimulatorHandle::file_content`]) and steers ([`SimulatorHandle::expire_tokens`],
//! [`SimulatorHandle::set_faults`], [`SimulatorHandle::set_export_faults`],
//! [`SimulatorHandle::set_model_access`], ...) the running simulator.
//!
//! ```no_run
//! # async fn demo() -> anaplan_parquet::Result<()> {
//! use anaplan_parquet::Secret;
//! use anaplan_parquet::simulator::{Simulator, SimulatorConfig};
//!
//! let config = SimulatorConfig::default_tenant("demo@example.com", Secret::new("demo-password"), 10_000, 1 << 20, 42);
//! let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("serving on {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

mod api;
mod auth;
mod body;
pub mod config;
mod conn;
mod content;
mod faults;
mod format;
mod http;
pub mod oauth;
mod objects;
pub mod reads;
mod server;
mod state;
mod tasks;

pub use config::{
    DEFAULT_CHUNK_SIZE, DEFAULT_PASSWORD, DEFAULT_ROWS, DEFAULT_USERNAME, ExportConfig,
    ModelAccess, ModelConfig, SimulatorConfig, UserConfig, WorkspaceConfig,
};
pub use content::ExportContent;
pub use faults::{FAULTS_HELP, FaultKind, FaultSpec, RetryAfterForm};
pub use format::{Encoding, FixedContent, Layout};
pub use oauth::{Approval, OAuthClientConfig, OAuthConfig, OAuthCounters, RefreshHold};
pub use objects::{
    ActionConfig, ExportResultForm, ImportConfig, LOGIN_DATE_FORMAT, ModelActions, ProcessConfig,
    UserProfile,
};
pub use state::{Counters, ExportInfo, RequestRecord, TaskEvent};

use conn::SimListener;
use state::Shared;

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Validates `config`, binds `addr` (`127.0.0.1:0` picks a free port) and serves until the
    /// handle is shut down or dropped. Returns once connections are accepted.
    pub async fn start(config: SimulatorConfig, addr: SocketAddr) -> Result<SimulatorHandle> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("cannot listen on {addr}"), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read the listening address", e))?;
        let shared = Arc::new(Shared::new(config));
        let _ = shared.base_url.set(format!("http://{local}"));
        let listener = SimListener {
            inner: listener,
            bandwidth: Arc::clone(&shared.bandwidth),
        };
        let join = server::serve(listener, &shared);
        tracing::debug!("simulator listening on http://{local}");
        Ok(SimulatorHandle {
            shared,
            addr: local,
            join: Some(join),
        })
    }
}

/// A running simulator. Dropping it stops it (without waiting); [`SimulatorHandle::shutdown`]
/// stops it and waits.
#[derive(Debug)]
pub struct SimulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    join: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// `http://127.0.0.1:PORT`: the base of both the auth service and the API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes idle connections and waits (at most 5 s) for the others.
    pub async fn shutdown(mut self) {
        self.shared.stop.cancel();
        if let Some(join) = self.join.take() {
            let abort = join.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), join)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// A snapshot of the configuration, with every id resolved.
    pub fn config(&self) -> SimulatorConfig {
        self.shared.lock().config.clone()
    }

    // ---- observation ----

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        let mut c = self.shared.lock().counters.clone();
        c.download_bytes = self.shared.bytes_sent.load(Ordering::Relaxed);
        c
    }

    /// The requests answered so far, oldest first (the last 200,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// The token values issued so far (sign-ins; a refresh keeps the value), for tests that
    /// check a client never shows them.
    pub fn issued_tokens(&self) -> Vec<crate::secret::Secret> {
        let mut tokens: Vec<String> = self.shared.lock().tokens.keys().cloned().collect();
        tokens.sort();
        tokens.into_iter().map(crate::secret::Secret::new).collect()
    }

    /// Every task state change so far, in order.
    pub fn task_log(&self) -> Vec<TaskEvent> {
        self.shared.lock().task_log.clone()
    }

    /// Per model, the most tasks that were unfinished at the same time (from creation to
    /// COMPLETE or CANCELLED). The simulator runs one task per model at a time whatever the
    /// client does; this says whether the client itself kept to one export per model.
    pub fn task_concurrency(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        let mut open: std::collections::HashMap<String, std::collections::HashSet<String>> =
            std::collections::HashMap::new();
        for e in self.task_log() {
            let tasks = open.entry(e.model_id.clone()).or_default();
            match e.state.as_str() {
                "COMPLETE" | "CANCELLED" => {
                    tasks.remove(&e.task_id);
                }
                _ => {
                    tasks.insert(e.task_id.clone());
                }
            }
            let max = out.entry(e.model_id).or_insert(0);
            *max = (*max).max(tasks.len());
        }
        out
    }

    /// Every export.
    pub fn exports(&self) -> Vec<ExportInfo> {
        self.shared.lock().exports()
    }

    /// An export by id, by name, or as `model/export` (model and export by id or name).
    pub fn export(&self, key: &str) -> Option<ExportInfo> {
        self.shared.lock().find_export(key)
    }

    /// The id of the workspace with this name.
    pub fn workspace_id(&self, name: &str) -> Option<String> {
        let inner = self.shared.lock();
        inner
            .config
            .workspaces
            .iter()
            .find(|w| w.name == name)
            .and_then(|w| w.id.clone())
    }

    /// The id of the model with this name.
    pub fn model_id(&self, name: &str) -> Option<String> {
        let inner = self.shared.lock();
        inner
            .config
            .workspaces
            .iter()
            .flat_map(|w| w.models.iter())
            .find(|m| m.name == name)
            .and_then(|m| m.id.clone())
    }

    /// The content an export's next run will produce (built on first use): its bytes, size
    /// and chunking. Ground truth rows: `Generator::new(info.config.generator).rows()`.
    pub async fn export_content(&self, key: &str) -> Option<Arc<ExportContent>> {
        let info = self.export(key)?;
        Some(
            self.shared
                .content(content::ContentKey::of(&info.config))
                .await,
        )
    }

    /// The export's file as currently served (the last successful run), with its chunk size;
    /// `None` before any run completed.
    pub fn file_content(&self, key: &str) -> Option<(Arc<ExportContent>, u64)> {
        let info = self.export(key)?;
        let inner = self.shared.lock();
        inner
            .files
            .get(&(info.model_id, info.export_id))
            .map(|f| (Arc::clone(&f.content), f.chunk_size))
    }

    // ---- steering ----

    /// Makes every token issued so far expired (the next API call with one gets 401).
    pub fn expire_tokens(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for t in self.shared.lock().tokens.values_mut() {
            t.expires_at = past;
        }
    }

    /// Sets the lifetime of tokens issued or refreshed from now on (a `token-ttl` fault wins).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.lock().config.token_ttl = ttl;
    }

    /// Replaces the global faults.
    pub fn set_faults(&self, faults: FaultSpec) {
        self.shared.set_faults(faults);
    }

    /// Replaces the faults of one export (see [`SimulatorHandle::export`] for the key).
    pub fn set_export_faults(&self, export: &str, faults: FaultSpec) -> Result<()> {
        self.update_export(export, |e| e.faults = faults)
    }

    /// Changes an export's settings; the file changes at the next successful run.
    pub fn update_export(
        &self,
        export: &str,
        change: impl FnOnce(&mut ExportConfig),
    ) -> Result<()> {
        let mut inner = self.shared.lock();
        let info = inner
            .find_export(export)
            .ok_or_else(|| Error::usage(format!("no export {export:?}")))?;
        let e = inner
            .export_mut(&info.model_id, &info.export_id)
            .ok_or_else(|| Error::usage(format!("no export {export:?}")))?;
        change(e);
        Ok(())
    }

    /// Sets which models a user can open (the others answer 404 from now on).
    pub fn set_model_access(&self, username: &str, access: ModelAccess) -> Result<()> {
        let mut inner = self.shared.lock();
        let user = inner
            .user_mut(username)
            .ok_or_else(|| Error::usage(format!("no user {username:?}")))?;
        user.access = access;
        Ok(())
    }

    /// Removes one model (by id or name) from a user's access.
    pub fn revoke_model_access(&self, username: &str, model: &str) -> Result<()> {
        let mut inner = self.shared.lock();
        let all: Vec<(String, String)> = inner
            .config
            .workspaces
            .iter()
            .flat_map(|w| w.models.iter())
            .map(|m| (m.id.clone().unwrap_or_default(), m.name.clone()))
            .collect();
        let user = inner
            .user_mut(username)
            .ok_or_else(|| Error::usage(format!("no user {username:?}")))?;
        let allowed: Vec<String> = all
            .iter()
            .filter(|(id, name)| user.access.allows(id, name) && id != model && name != model)
            .map(|(id, _)| id.clone())
            .collect();
        user.access = ModelAccess::Only(allowed);
        Ok(())
    }

    /// Sets a model's `activeState` (any string: `LOCKED`, `ARCHIVED`, ...).
    pub fn set_model_state(&self, model: &str, state: &str) -> Result<()> {
        let mut inner = self.shared.lock();
        let m = inner
            .model_mut_by_key(model)
            .ok_or_else(|| Error::usage(format!("no model {model:?}")))?;
        state.clone_into(&mut m.active_state);
        Ok(())
    }

    /// Turns gzip answers on or off.
    pub fn set_gzip(&self, on: bool) {
        self.shared.lock().config.gzip = on;
    }

    /// Sets how long export tasks created from now on run.
    pub fn set_task_duration(&self, duration: Duration) {
        self.shared.lock().config.task_duration = duration;
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}
