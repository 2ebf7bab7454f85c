//! What the simulator serves: the tenant (workspaces, models, exports, users) and its behaviour
//! (token lifetime, page size, task durations, faults), from code or from a TOML file.
//!
//! # TOML
//!
//! ```toml
//! seed = 42                    # ids, export contents and fault decisions derive from it
//! token_ttl = "35m"
//! page_size = 5000             # default and largest `limit`
//! gzip = true                  # honour Accept-Encoding: gzip on downloads
//! task_duration = "2s"         # how long an export task runs (plus content preparation)
//! cert_freshness = "5m"        # allowed clock skew of a v2 certificate nonce
//! reject_when_busy = false     # 409 instead of queueing a second task on a busy model
//! faults = "rate-limit=0.02"   # global faults (see --help)
//!
//! [[users]]
//! username = "demo@example.com"
//! password = "demo-password"
//! certificates = ["certs/demo.pem"]   # PEM files (relative to this file) or inline PEM
//! models = ["*"]                      # model names or ids; "*" for all (the default)
//! admin = false                       # admins may GET /workspaces/{id}
//!
//! [[workspaces]]
//! name = "Financial Planning"
//!
//! [[workspaces.models]]
//! name = "FP&A"
//! active_state = "UNLOCKED"
//!
//! [[workspaces.models.exports]]
//! name = "Revenue - TSC.csv"
//! layout = "TABULAR_SINGLE_COLUMN"    # or TABULAR_MULTI_COLUMN
//! rows = 100000
//! seed = 1
//! dimensions = 4
//! numeric_only = false
//! quote_all = false
//! crlf = false
//! bom = false
//! encoding = "UTF-8"                  # or UTF-16LE
//! chunk_size = "10MiB"                # 10MB is 10,000,000 bytes, 10MiB 10,485,760
//! faults = "task-fail"
//! # content_file = "corpus/ragged.csv"  # serve this file's bytes exactly, instead of rows
//!
//! [[oauth.clients]]                   # OAuth device-grant clients; see `simulator::oauth::config`
//! client_id = "0123456789abcdef0123456789abcdef"
//! ```
//!
//! Users' `profile`, a model's `imports`, `processes` and `actions`, and `export_result` are
//! described in `objects.rs` ([`ModelActions`], [`UserProfile`], [`ExportResultForm`]).

use std::time::Duration;

use super::faults::FaultSpec;
use super::format::{Encoding, FixedContent, Layout};
use super::objects::{ExportResultForm, ModelActions, UserProfile};
pub use super::reads::config::{ModelReads, ReadsConfig, default_model_reads};
use crate::error::{Error, Result};
use crate::generate::{GeneratorConfig, MAX_DIMENSIONS};
use crate::secret::Secret;

/// Default export chunk size: 10 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 10 << 20;
/// Default token lifetime, as observed on the live API.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_mins(35);
/// Default (and largest) page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: usize = 5000;
/// Default username of the no-`--config` tenant.
pub const DEFAULT_USERNAME: &str = "demo@example.com";
/// Default password of the no-`--config` tenant (a documented demo credential).
pub const DEFAULT_PASSWORD: &str = "demo-password";
/// Rows of the main export of the default tenant.
pub const DEFAULT_ROWS: u64 = 100_000;

/// The whole simulated tenant and its behaviour.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Seed of ids, default export seeds and fault decisions.
    pub seed: u64,
    /// Lifetime of tokens (overridden by the `token-ttl` fault).
    pub token_ttl: Duration,
    /// Default and largest page size of list endpoints.
    pub page_size: usize,
    /// Compress downloads when the client sends `Accept-Encoding: gzip`.
    pub gzip: bool,
    /// How long an export task stays IN_PROGRESS (at least; preparing a big export's content
    /// index the first time takes longer).
    pub task_duration: Duration,
    /// How far the timestamp of a v2 certificate nonce may be from the server clock.
    pub cert_freshness: Duration,
    /// Report `currentPageSize: 1` on chunk lists, as in the published samples.
    pub chunk_page_size_quirk: bool,
    /// Answer 409 to a new export task while another task of the model is unfinished, instead
    /// of queueing it (the reference infers queueing; 409 is documented for busy models).
    pub reject_when_busy: bool,
    /// Global faults.
    pub faults: FaultSpec,
    /// The form of a finished export task's `result` (`export_result` in TOML).
    pub export_result: ExportResultForm,
    /// Users.
    pub users: Vec<UserConfig>,
    /// Workspaces, with their models and exports.
    pub workspaces: Vec<WorkspaceConfig>,
    /// The OAuth service: device-grant clients and refresh-token behaviour (`[oauth]`).
    pub oauth: super::oauth::config::OAuthConfig,
    /// How view and list reads behave (`[reads]`).
    pub reads: ReadsConfig,
}

/// A user.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// Login name (an email address on Anaplan).
    pub username: String,
    /// Password for Basic authentication; `None` means certificate only.
    pub password: Option<Secret>,
    /// DER-encoded X.509 certificates the user may authenticate with.
    pub certificates: Vec<Vec<u8>>,
    /// The models the user can open.
    pub access: ModelAccess,
    /// Workspace administrator (may read `GET /workspaces/{id}`).
    pub admin: bool,
    /// What `/users` shows about the user (`profile` in TOML).
    pub profile: UserProfile,
}

/// Which models a user can open; any other model answers 404 on model-scoped calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelAccess {
    /// Every model.
    All,
    /// These models, by name or id.
    Only(Vec<String>),
}

impl ModelAccess {
    /// True when the model with this id and name is allowed.
    pub fn allows(&self, id: &str, name: &str) -> bool {
        match self {
            ModelAccess::All => true,
            ModelAccess::Only(list) => list.iter().any(|m| m == id || m == name),
        }
    }
}

/// A workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceConfig {
    /// 32 lowercase hex digits; derived from the seed and name when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// `sizeAllowance` in bytes.
    pub size_allowance: u64,
    /// Models.
    pub models: Vec<ModelConfig>,
}

/// A model.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// 32 uppercase hex digits; derived from the seed and names when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// `activeState` (open set: `UNLOCKED`, `LOCKED`, `ARCHIVED`, ...).
    pub active_state: String,
    /// Export actions.
    pub exports: Vec<ExportConfig>,
    /// Names of uploaded (import source) files listed with `chunkCount` 0.
    pub import_files: Vec<String>,
    /// Imports, processes and other actions (listed, not run).
    pub actions: ModelActions,
    /// Modules (with their views) and lists.
    pub reads: ModelReads,
}

/// An export action and the file it produces.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// `116` followed by 9 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name (also the name of its file).
    pub name: String,
    /// Layout of the file.
    pub layout: Layout,
    /// `exportType` to report instead of the layout's (e.g. `GRID_ALL_PAGES`).
    pub export_type: Option<String>,
    /// What to generate (rows, seed, dimensions, quoting, line ends, BOM).
    pub generator: GeneratorConfig,
    /// Character encoding of the file.
    pub encoding: Encoding,
    /// Chunk size in bytes.
    pub chunk_size: u64,
    /// Faults for requests about this export (tasks, its file), on top of the global ones.
    pub faults: FaultSpec,
    /// Task duration for this export, instead of the global one.
    pub task_duration: Option<Duration>,
    /// Bytes to serve as the file instead of generated rows (see [`ExportConfig::fixed`]).
    pub fixed_content: Option<FixedContent>,
}

impl ExportConfig {
    /// A Tabular Single Column export of `rows` rows with the given seed, default settings.
    pub fn tsc(name: impl Into<String>, rows: u64, seed: u64) -> Self {
        ExportConfig {
            id: None,
            name: name.into(),
            layout: Layout::TabularSingleColumn,
            export_type: None,
            generator: GeneratorConfig {
                rows,
                seed,
                ..GeneratorConfig::default()
            },
            encoding: Encoding::Utf8,
            chunk_size: DEFAULT_CHUNK_SIZE,
            faults: FaultSpec::default(),
            task_duration: None,
            fixed_content: None,
        }
    }

    /// A Tabular Single Column export whose file is exactly `bytes`, malformed or not, cut
    /// every `chunk_size` bytes like generated content. Its metadata takes the header names
    /// from the bytes' first record; set `encoding` to declare UTF-16LE (the bytes are never
    /// re-encoded).
    pub fn fixed(name: impl Into<String>, bytes: impl Into<bytes::Bytes>, chunk_size: u64) -> Self {
        ExportConfig {
            chunk_size,
            fixed_content: Some(FixedContent::new(bytes)),
            ..ExportConfig::tsc(name, 0, 0)
        }
    }
}

impl SimulatorConfig {
    /// An empty tenant with the default behaviour (no users, no workspaces).
    pub fn empty(seed: u64) -> Self {
        SimulatorConfig {
            seed,
            token_ttl: DEFAULT_TOKEN_TTL,
            page_size: DEFAULT_PAGE_SIZE,
            gzip: true,
            task_duration: Duration::from_millis(1500),
            cert_freshness: Duration::from_mins(5),
            chunk_page_size_quirk: true,
            reject_when_busy: false,
            faults: FaultSpec::default(),
            export_result: ExportResultForm::default(),
            users: Vec::new(),
            workspaces: Vec::new(),
            oauth: super::oauth::config::OAuthConfig::default(),
            reads: ReadsConfig::default(),
        }
    }

    /// The tenant served without `--config`:
    ///
    /// - workspace **Financial Planning**
    ///   - model **FP&A**: `Revenue - TSC.csv` (`rows` rows, `chunk_size`), `Headcount -
    ///     TSC.csv` (2,000 numeric rows, quoted everywhere, CRLF), `Margin Summary - TMC.csv`
    ///     (Tabular Multiple Column), `Empty - TSC.csv` (header only)
    ///   - model **Sales Forecast**: `Pipeline - TSC (Excel).csv` (5,000 rows, 8 dimensions,
    ///     UTF-16LE with BOM)
    /// - workspace **Operations**
    ///   - model **Supply Chain**: `Inventory - TSC.csv`; the user has no access to it (404)
    ///
    /// User `username`/`password` can open every model but Supply Chain; `admin@example.com`
    /// with the same password can open all of them and is a workspace administrator.
    pub fn default_tenant(
        username: &str,
        password: Secret,
        rows: u64,
        chunk_size: u64,
        seed: u64,
    ) -> Self {
        let mut config = SimulatorConfig::empty(seed);
        let derive = |n: u64| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(n);
        let small_chunks = chunk_size.min(64 << 10);
        let main = ExportConfig {
            chunk_size,
            ..ExportConfig::tsc("Revenue - TSC.csv", rows, seed)
        };
        let headcount = ExportConfig {
            generator: GeneratorConfig {
                rows: 2000,
                seed: derive(1),
                numeric_only: true,
                quote_all: true,
                crlf: true,
                ..GeneratorConfig::default()
            },
            chunk_size: small_chunks,
            ..ExportConfig::tsc("Headcount - TSC.csv", 0, 0)
        };
        let margin = ExportConfig {
            layout: Layout::TabularMultiColumn,
            generator: GeneratorConfig {
                rows: 1100,
                seed: derive(2),
                ..GeneratorConfig::default()
            },
            chunk_size: small_chunks,
            ..ExportConfig::tsc("Margin Summary - TMC.csv", 0, 0)
        };
        let empty = ExportConfig::tsc("Empty - TSC.csv", 0, derive(3));
        let pipeline = ExportConfig {
            generator: GeneratorConfig {
                rows: 5000,
                seed: derive(4),
                dimensions: 8,
                bom: true,
                ..GeneratorConfig::default()
            },
            encoding: Encoding::Utf16Le,
            chunk_size: small_chunks,
            ..ExportConfig::tsc("Pipeline - TSC (Excel).csv", 0, 0)
        };
        let inventory = ExportConfig::tsc("Inventory - TSC.csv", 1000, derive(5));
        config.workspaces = vec![
            WorkspaceConfig {
                id: None,
                name: "Financial Planning".into(),
                size_allowance: 10 << 30,
                models: vec![
                    ModelConfig {
                        id: None,
                        name: "FP&A".into(),
                        active_state: "UNLOCKED".into(),
                        exports: vec![main, headcount, margin, empty],
                        import_files: vec!["Sales Upload.csv".into()],
                        actions: ModelActions::demo("Sales Upload.csv", "Revenue - TSC.csv"),
                        reads: default_model_reads(seed),
                    },
                    ModelConfig {
                        id: None,
                        name: "Sales Forecast".into(),
                        active_state: "UNLOCKED".into(),
                        exports: vec![pipeline],
                        import_files: Vec::new(),
                        actions: ModelActions::default(),
                        reads: ModelReads::default(),
                    },
                ],
            },
            WorkspaceConfig {
                id: None,
                name: "Operations".into(),
                size_allowance: 5 << 30,
                models: vec![ModelConfig {
                    id: None,
                    name: "Supply Chain".into(),
                    active_state: "UNLOCKED".into(),
                    exports: vec![inventory],
                    import_files: Vec::new(),
                    actions: ModelActions::default(),
                    reads: ModelReads::default(),
                }],
            },
        ];
        config.users = vec![
            UserConfig {
                username: username.to_owned(),
                password: Some(password.clone()),
                certificates: Vec::new(),
                access: ModelAccess::Only(vec!["FP&A".into(), "Sales Forecast".into()]),
                admin: false,
                profile: UserProfile::default(),
            },
            UserConfig {
                username: "admin@example.com".into(),
                password: Some(password),
                certificates: Vec::new(),
                access: ModelAccess::All,
                admin: true,
                profile: UserProfile::default(),
            },
        ];
        config
    }

    /// Checks ids and names: unique, well formed.
    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for u in &self.users {
            if !names.insert(u.username.as_str()) {
                return Err(Error::usage(format!("user {} is listed twice", u.username)));
            }
            if u.password.is_none() && u.certificates.is_empty() {
                return Err(Error::usage(format!(
                    "user {} has neither a password nor a certificate",
                    u.username
                )));
            }
        }
        let mut workspace_ids = std::collections::HashSet::new();
        let mut model_ids = std::collections::HashSet::new();
        for w in &self.workspaces {
            if let Some(id) = &w.id {
                check_hex(id, false, "workspace id")?;
                if !workspace_ids.insert(id.clone()) {
                    return Err(Error::usage(format!("workspace id {id} is used twice")));
                }
            }
            for m in &w.models {
                if let Some(id) = &m.id {
                    check_hex(id, true, "model id")?;
                    if !model_ids.insert(id.clone()) {
                        return Err(Error::usage(format!("model id {id} is used twice")));
                    }
                }
                let exports: Vec<(Option<&str>, &str)> = m
                    .exports
                    .iter()
                    .map(|e| (e.id.as_deref(), e.name.as_str()))
                    .collect();
                m.actions.validate(&m.name, &m.import_files, &exports)?;
                m.reads
                    .clone()
                    .resolve()
                    .map_err(|e| Error::usage(format!("model {:?}: {e}", m.name)))?;
                let mut export_ids = std::collections::HashSet::new();
                for e in &m.exports {
                    if let Some(id) = &e.id
                        && !(id.len() == 12
                            && id.starts_with("116")
                            && id.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Err(Error::usage(format!(
                            "export id {id} must be 116 followed by 9 digits"
                        )));
                    }
                    if !export_ids.insert(e.name.as_str()) {
                        return Err(Error::usage(format!(
                            "export {:?} is listed twice in model {:?}",
                            e.name, m.name
                        )));
                    }
                    if e.chunk_size == 0 {
                        return Err(Error::usage(format!(
                            "export {:?}: chunk_size is 0",
                            e.name
                        )));
                    }
                    if e.generator.dimensions > MAX_DIMENSIONS {
                        return Err(Error::usage(format!(
                            "export {:?}: at most {MAX_DIMENSIONS} dimensions",
                            e.name
                        )));
                    }
                }
            }
        }
        if self.page_size == 0 {
            return Err(Error::usage("page_size must be at least 1"));
        }
        self.reads.validate()?;
        self.oauth.validate()
    }
}

fn check_hex(id: &str, upper: bool, what: &str) -> Result<()> {
    let ok = id.len() == 32
        && id.bytes().all(|b| {
            b.is_ascii_digit()
                || if upper {
                    (b'A'..=b'F').contains(&b)
                } else {
                    (b'a'..=b'f').contains(&b)
                }
        });
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{what} {id:?} must be 32 {} hex digits",
            if upper { "uppercase" } else { "lowercase" }
        )))
    }
}

/// Parses PEM text holding one or more certificates into DER.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    use x509_cert::der::Encode;
    let certs = x509_cert::Certificate::load_pem_chain(pem)
        .map_err(|e| Error::usage(format!("not a PEM certificate: {e}")))?;
    certs
        .iter()
        .map(|c| {
            c.to_der()
                .map_err(|e| Error::usage(format!("bad certificate: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn toml_round_trip_of_the_documented_example() {
        let text = r#"
seed = 42
token_ttl = "20s"
page_size = 100
gzip = false
task_duration = 1
faults = "rate-limit=0.02"

[[users]]
username = "demo@example.com"
password = "demo-password"
models = ["FP&A"]

[[users]]
username = "robot@example.com"
password = "x"

[[workspaces]]
name = "Financial Planning"
size_allowance = "1GiB"

[[workspaces.models]]
name = "FP&A"
active_state = "LOCKED"
import_files = ["Upload.csv"]

[[workspaces.models.exports]]
name = "Revenue - TSC.csv"
rows = 100000
seed = 1
quote_all = true
encoding = "UTF-16LE"
chunk_size = "1MiB"
faults = "task-fail"
task_duration = "250ms"

[[workspaces.models.exports]]
name = "Grid.csv"
layout = "TABULAR_MULTI_COLUMN"
export_type = "GRID_ALL_PAGES"

[[workspaces.models.exports]]
name = "Recorded.csv"
content_file = "recorded.csv"
"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recorded.csv"), b"a,b\n1,\"2").unwrap();
        let c = SimulatorConfig::from_toml_str(text, dir.path()).unwrap();
        assert_eq!(c.seed, 42);
        assert_eq!(c.token_ttl, Duration::from_secs(20));
        assert_eq!(c.page_size, 100);
        assert!(!c.gzip);
        assert_eq!(c.task_duration, Duration::from_secs(1));
        assert!((c.faults.rate_limit - 0.02).abs() < 1e-12);
        assert_eq!(c.users[0].access, ModelAccess::Only(vec!["FP&A".into()]));
        assert_eq!(c.users[1].access, ModelAccess::All);
        assert_eq!(
            c.users[0].password.as_ref().unwrap().expose(),
            "demo-password"
        );
        let m = &c.workspaces[0].models[0];
        assert_eq!(c.workspaces[0].size_allowance, 1 << 30);
        assert_eq!(m.active_state, "LOCKED");
        let e = &m.exports[0];
        assert_eq!(e.generator.rows, 100_000);
        assert!(e.generator.quote_all);
        assert_eq!(e.encoding, Encoding::Utf16Le);
        assert_eq!(e.chunk_size, 1 << 20);
        assert!((e.faults.task_fail - 1.0).abs() < 1e-12);
        assert_eq!(e.task_duration, Some(Duration::from_millis(250)));
        assert_eq!(m.exports[1].layout, Layout::TabularMultiColumn);
        assert_eq!(m.exports[1].export_type.as_deref(), Some("GRID_ALL_PAGES"));
        assert_eq!(m.exports[1].fixed_content, None);
        let fixed = m.exports[2].fixed_content.as_ref().expect("content_file");
        assert_eq!(fixed.bytes().as_ref(), b"a,b\n1,\"2");
        let missing = text.replace("recorded.csv\"", "missing.csv\"");
        let err = SimulatorConfig::from_toml_str(&missing, dir.path()).unwrap_err();
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }

    #[test]
    fn bad_configs_are_usage_errors() {
        for text in [
            "nonsense = 1",
            "[[users]]\nusername = \"a\"",
            "[[workspaces]]\nname = \"w\"\nid = \"XYZ\"",
            "[[workspaces]]\nname = \"w\"\n[[workspaces.models]]\nname = \"m\"\n[[workspaces.models.exports]]\nname = \"e\"\nlayout = \"GRID\"",
            "faults = \"explode=1\"",
        ] {
            let err = SimulatorConfig::from_toml_str(text, Path::new(".")).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{text}: {err:?}");
        }
    }

    #[test]
    fn default_tenant_is_valid() {
        let c = SimulatorConfig::default_tenant(
            DEFAULT_USERNAME,
            Secret::new(DEFAULT_PASSWORD),
            DEFAULT_ROWS,
            DEFAULT_CHUNK_SIZE,
            0,
        );
        c.validate().unwrap();
        assert_eq!(c.workspaces.len(), 2);
        assert_eq!(c.users[0].username, DEFAULT_USERNAME);
    }
}
