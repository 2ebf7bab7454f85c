//! The simulator's mutable state: the tenant with resolved ids, tokens, tasks, export files,
//! counters and logs. One mutex guards it; no lock is held across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::config::{ExportConfig, ModelConfig, SimulatorConfig, UserConfig, WorkspaceConfig};
use super::content::{ContentKey, ExportContent};
use super::faults::{FaultKind, FaultSpec, hash};

/// Everything shared by the request handlers and the handle.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Built export contents, by what decides their bytes.
    contents: Mutex<HashMap<ContentKey, Arc<tokio::sync::OnceCell<Arc<ExportContent>>>>>,
    /// Per-connection bandwidth cap in bytes per second (0: none), read by every connection.
    pub bandwidth: Arc<AtomicU64>,
    /// `http://ADDR`, set once bound.
    pub base_url: OnceLock<String>,
    /// Bytes of download bodies handed to connections.
    pub bytes_sent: AtomicU64,
    /// Cancelled when the simulator shuts down (stops task drivers).
    pub stop: CancellationToken,
    /// View and list read requests.
    pub reads: super::reads::ReadStore,
}

pub(crate) struct Inner {
    pub config: SimulatorConfig,
    pub tokens: HashMap<String, Token>,
    pub tasks: Vec<Task>,
    pub queues: HashMap<String, ModelQueue>,
    pub task_counters: HashMap<String, u64>,
    pub task_log: Vec<TaskEvent>,
    /// The file of each export (by model id and export id): the content of the last successful
    /// task run.
    pub files: HashMap<(String, String), ExportFile>,
    pub attempts: HashMap<String, u64>,
    pub seen_nonces: HashSet<Vec<u8>>,
    pub counters: Counters,
    pub requests: VecDeque<RequestRecord>,
    /// Device codes and refresh tokens of the OAuth service.
    pub oauth: super::oauth::state::OAuthState,
}

/// Most request records kept (the oldest are dropped).
const REQUEST_LOG_LIMIT: usize = 200_000;

/// An export's file: the content of its last successful run, cut in chunks of `chunk_size`.
#[derive(Clone, Debug)]
pub(crate) struct ExportFile {
    pub content: Arc<ExportContent>,
    pub chunk_size: u64,
}

impl ExportFile {
    pub fn chunk_count(&self) -> u64 {
        self.content.chunk_count(self.chunk_size)
    }
}

/// A token issued by `/token/authenticate`.
#[derive(Clone, Debug)]
#[allow(clippy::struct_field_names)]
pub(crate) struct Token {
    pub username: String,
    pub token_id: String,
    pub refresh_token_id: String,
    pub expires_at: SystemTime,
    pub logged_out: bool,
}

/// Task states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskState {
    NotStarted,
    InProgress,
    Complete,
    Cancelling,
    Cancelled,
}

impl TaskState {
    pub fn api_name(self) -> &'static str {
        match self {
            TaskState::NotStarted => "NOT_STARTED",
            TaskState::InProgress => "IN_PROGRESS",
            TaskState::Complete => "COMPLETE",
            TaskState::Cancelling => "CANCELLING",
            TaskState::Cancelled => "CANCELLED",
        }
    }
}

/// One export task.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    pub model_id: String,
    pub export_id: String,
    pub created_ms: u64,
    pub state: TaskState,
    pub started: Option<Instant>,
    pub duration: Duration,
    pub stuck: Duration,
    pub will_fail: bool,
    pub will_cancel: bool,
    pub cancel: CancellationToken,
    pub successful: Option<bool>,
    pub dump: Option<bytes::Bytes>,
}

/// The queue of one model: tasks run one at a time.
#[derive(Debug, Default)]
pub(crate) struct ModelQueue {
    pub pending: VecDeque<String>,
    pub running: bool,
}

/// A task state change, for tests (tasks of one model must never overlap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEvent {
    /// Model id.
    pub model_id: String,
    /// Export id.
    pub export_id: String,
    /// Task id.
    pub task_id: String,
    /// The new state (`NOT_STARTED`, `IN_PROGRESS`, `COMPLETE`, `CANCELLING`, `CANCELLED`).
    pub state: String,
    /// When.
    pub at: Instant,
}

/// One request as answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status code.
    pub status: u16,
    /// Body size announced or produced (bytes; for downloads, before any fault cut it).
    pub bytes: u64,
    /// The fault injected into this answer, if any.
    pub fault: Option<FaultKind>,
}

/// Counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Successful `/token/authenticate` calls (Basic and certificate).
    pub authentications: u64,
    /// Of which with a certificate.
    pub certificate_authentications: u64,
    /// Failed `/token/authenticate` calls.
    pub authentication_failures: u64,
    /// Successful `/token/refresh` calls.
    pub refreshes: u64,
    /// `/token/validate` calls answered 200.
    pub validations: u64,
    /// `/token/logout` calls answered 204.
    pub logouts: u64,
    /// API requests refused with 401.
    pub unauthorized: u64,
    /// All requests.
    pub requests: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Bytes of download bodies sent (after any fault cut them).
    pub download_bytes: u64,
}

/// A resolved export: where it lives and how it is set up.
#[derive(Clone, Debug)]
pub struct ExportInfo {
    /// Workspace id.
    pub workspace_id: String,
    /// Model id.
    pub model_id: String,
    /// Export id (also its file id).
    pub export_id: String,
    /// The export's settings (generator config, layout, encoding, chunk size, faults).
    pub config: ExportConfig,
}

impl Shared {
    pub fn new(mut config: SimulatorConfig) -> Self {
        resolve_ids(&mut config);
        let bandwidth = Arc::new(AtomicU64::new(config.faults.bandwidth.unwrap_or(0)));
        Shared {
            inner: Mutex::new(Inner {
                config,
                tokens: HashMap::new(),
                tasks: Vec::new(),
                queues: HashMap::new(),
                task_counters: HashMap::new(),
                task_log: Vec::new(),
                files: HashMap::new(),
                attempts: HashMap::new(),
                seen_nonces: HashSet::new(),
                counters: Counters::default(),
                requests: VecDeque::new(),
                oauth: super::oauth::state::OAuthState::default(),
            }),
            contents: Mutex::new(HashMap::new()),
            bandwidth,
            base_url: OnceLock::new(),
            bytes_sent: AtomicU64::new(0),
            stop: CancellationToken::new(),
            reads: super::reads::ReadStore::default(),
        }
    }

    /// Locks the state (a poisoned lock is still usable: every update is a whole assignment).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map_or("http://127.0.0.1", String::as_str)
    }

    /// The content for `key`, built once (on a blocking thread) and shared.
    pub async fn content(&self, key: ContentKey) -> Arc<ExportContent> {
        let cell = {
            let mut map = self
                .contents
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(map.entry(key.clone()).or_default())
        };
        Arc::clone(
            cell.get_or_init(|| async move {
                let built = tokio::task::spawn_blocking(move || ExportContent::build(key)).await;
                Arc::new(built.expect("building export content panicked"))
            })
            .await,
        )
    }

    /// Sets the global faults (and the bandwidth cap they carry).
    pub fn set_faults(&self, faults: FaultSpec) {
        self.bandwidth
            .store(faults.bandwidth.unwrap_or(0), Ordering::Relaxed);
        self.lock().config.faults = faults;
    }
}

impl Inner {
    /// The attempt number of this request identity (0 for the first).
    pub fn next_attempt(&mut self, identity: &str) -> u64 {
        let n = self.attempts.entry(identity.to_owned()).or_insert(0);
        let a = *n;
        *n += 1;
        a
    }

    pub fn count_fault(&mut self, kind: FaultKind) {
        *self.counters.faults.entry(kind).or_insert(0) += 1;
    }

    pub fn record(&mut self, record: RequestRecord) {
        self.counters.requests += 1;
        if self.requests.len() >= REQUEST_LOG_LIMIT {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }

    pub fn user(&self, username: &str) -> Option<&UserConfig> {
        self.config.users.iter().find(|u| u.username == username)
    }

    pub fn user_mut(&mut self, username: &str) -> Option<&mut UserConfig> {
        self.config
            .users
            .iter_mut()
            .find(|u| u.username == username)
    }

    /// The lifetime of new tokens.
    pub fn token_ttl(&self) -> Duration {
        self.config
            .faults
            .token_ttl
            .unwrap_or(self.config.token_ttl)
    }

    /// The workspace with this id.
    pub fn workspace(&self, id: &str) -> Option<&WorkspaceConfig> {
        self.config
            .workspaces
            .iter()
            .find(|w| w.id.as_deref() == Some(id))
    }

    /// The model with this id, with its workspace.
    pub fn model(&self, id: &str) -> Option<(&WorkspaceConfig, &ModelConfig)> {
        self.config.workspaces.iter().find_map(|w| {
            w.models
                .iter()
                .find(|m| m.id.as_deref() == Some(id))
                .map(|m| (w, m))
        })
    }

    /// The model with this id or name.
    pub fn model_mut_by_key(&mut self, key: &str) -> Option<&mut ModelConfig> {
        self.config
            .workspaces
            .iter_mut()
            .flat_map(|w| w.models.iter_mut())
            .find(|m| m.id.as_deref() == Some(key) || m.name == key)
    }

    /// Every export, resolved.
    pub fn exports(&self) -> Vec<ExportInfo> {
        let mut out = Vec::new();
        for w in &self.config.workspaces {
            for m in &w.models {
                for e in &m.exports {
                    out.push(ExportInfo {
                        workspace_id: w.id.clone().unwrap_or_default(),
                        model_id: m.id.clone().unwrap_or_default(),
                        export_id: e.id.clone().unwrap_or_default(),
                        config: e.clone(),
                    });
                }
            }
        }
        out
    }

    /// The export found by id or name (the first match across models), or `model/export`.
    pub fn find_export(&self, key: &str) -> Option<ExportInfo> {
        let all = self.exports();
        if let Some((model, export)) = key.split_once('/') {
            let model_id = self
                .config
                .workspaces
                .iter()
                .flat_map(|w| w.models.iter())
                .find(|m| m.id.as_deref() == Some(model) || m.name == model)
                .and_then(|m| m.id.clone())?;
            return all.into_iter().find(|e| {
                e.model_id == model_id && (e.export_id == export || e.config.name == export)
            });
        }
        all.into_iter()
            .find(|e| e.export_id == key || e.config.name == key)
    }

    pub fn export_mut(&mut self, model_id: &str, export_id: &str) -> Option<&mut ExportConfig> {
        self.config
            .workspaces
            .iter_mut()
            .flat_map(|w| w.models.iter_mut())
            .filter(|m| m.id.as_deref() == Some(model_id))
            .flat_map(|m| m.exports.iter_mut())
            .find(|e| e.id.as_deref() == Some(export_id))
    }

    pub fn log_task(&mut self, task_index: usize, state: TaskState) {
        let t = &mut self.tasks[task_index];
        t.state = state;
        let event = TaskEvent {
            model_id: t.model_id.clone(),
            export_id: t.export_id.clone(),
            task_id: t.id.clone(),
            state: state.api_name().to_owned(),
            at: Instant::now(),
        };
        tracing::debug!(task = %event.task_id, export = %event.export_id, state = %event.state, "task");
        self.task_log.push(event);
    }

    pub fn task_index(&self, id: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.id == id)
    }
}

/// Fills in missing ids: users and workspaces 32 lowercase hex, models 32 uppercase hex,
/// exports `116` + 9 digits numbered within their model (imports, actions and processes
/// likewise), all derived from the seed and names.
fn resolve_ids(config: &mut SimulatorConfig) {
    let seed = config.seed;
    for u in &mut config.users {
        if u.profile.id.is_none() {
            u.profile.id = Some(hex128(seed, "user", &u.username, false));
        }
    }
    for w in &mut config.workspaces {
        if w.id.is_none() {
            w.id = Some(hex128(seed, "workspace", &w.name, false));
        }
        let wid = w.id.clone().unwrap_or_default();
        for m in &mut w.models {
            if m.id.is_none() {
                m.id = Some(hex128(seed, "model", &format!("{wid}/{}", m.name), true));
            }
            m.actions.resolve_ids();
            // Checked by `SimulatorConfig::validate`.
            let _ = m.reads.resolve();
            let mut used: HashSet<String> = m.exports.iter().filter_map(|e| e.id.clone()).collect();
            let mut next = 0u64;
            for e in &mut m.exports {
                if e.id.is_none() {
                    loop {
                        let id = format!("116{next:09}");
                        next += 1;
                        if used.insert(id.clone()) {
                            e.id = Some(id);
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// 32 hex digits derived from `(seed, kind, name)`.
pub(crate) fn hex128(seed: u64, kind: &str, name: &str, upper: bool) -> String {
    let a = hash(seed, kind, name, 0);
    let b = hash(seed, kind, name, 1);
    if upper {
        format!("{a:016X}{b:016X}")
    } else {
        format!("{a:016x}{b:016x}")
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
