//! The simulator's TOML config file: its shapes (what a user may write) and how they become a
//! [`SimulatorConfig`]. Kept apart from `config.rs`, which holds the validated configuration
//! the simulator runs on and the default tenant.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::config::{
    DEFAULT_CHUNK_SIZE, ExportConfig, ModelAccess, ModelConfig, SimulatorConfig, UserConfig,
    WorkspaceConfig, certificates_from_pem,
};
use super::faults::FaultSpec;
use super::format::{Encoding, FixedContent, Layout};
use super::objects::{
    ExportResultForm, RawAction, RawImport, RawProcess, RawProfile, UserProfile, model_actions,
};
use super::reads::config::{RawList, RawModule, RawReads, model_reads};
use crate::error::{Error, Result};
use crate::generate::GeneratorConfig;
use crate::secret::Secret;
use crate::units::{parse_duration, parse_size};

impl SimulatorConfig {
    /// Reads a TOML config; relative certificate paths are resolved against the file's folder.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_toml_str(&text, base)
            .map_err(|e| Error::usage(format!("{}: {e}", path.display())))
    }

    /// Parses a TOML config; relative certificate paths are resolved against `base`.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self> {
        // Its users' passwords are in it: say where the error is without quoting the line.
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| Error::usage(crate::settings::toml_error(&e, text)))?;
        raw.into_config(base)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    seed: Option<u64>,
    token_ttl: Option<RawDuration>,
    page_size: Option<usize>,
    gzip: Option<bool>,
    task_duration: Option<RawDuration>,
    cert_freshness: Option<RawDuration>,
    chunk_page_size_quirk: Option<bool>,
    reject_when_busy: Option<bool>,
    faults: Option<String>,
    export_result: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    workspaces: Vec<RawWorkspace>,
    oauth: Option<super::oauth::config::RawOAuth>,
    reads: Option<RawReads>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    password: Option<String>,
    #[serde(default)]
    certificates: Vec<String>,
    models: Option<Vec<String>>,
    #[serde(default)]
    admin: bool,
    profile: Option<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    id: Option<String>,
    name: String,
    size_allowance: Option<RawSize>,
    #[serde(default)]
    models: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: Option<String>,
    name: String,
    active_state: Option<String>,
    #[serde(default)]
    exports: Vec<RawExport>,
    #[serde(default)]
    import_files: Vec<String>,
    #[serde(default)]
    imports: Vec<RawImport>,
    #[serde(default)]
    processes: Vec<RawProcess>,
    #[serde(default)]
    actions: Vec<RawAction>,
    #[serde(default)]
    modules: Vec<RawModule>,
    #[serde(default)]
    lists: Vec<RawList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    id: Option<String>,
    name: String,
    layout: Option<String>,
    export_type: Option<String>,
    rows: Option<u64>,
    seed: Option<u64>,
    dimensions: Option<usize>,
    #[serde(default)]
    numeric_only: bool,
    #[serde(default)]
    quote_all: bool,
    #[serde(default)]
    crlf: bool,
    #[serde(default)]
    bom: bool,
    encoding: Option<String>,
    chunk_size: Option<RawSize>,
    faults: Option<String>,
    task_duration: Option<RawDuration>,
    content_file: Option<String>,
}

/// A duration as `"2s"` or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

impl RawDuration {
    fn get(&self, what: &str) -> Result<Duration> {
        match self {
            RawDuration::Seconds(s) => Ok(Duration::from_secs(*s)),
            RawDuration::Text(t) => {
                parse_duration(t).map_err(|e| Error::usage(format!("{what}: {e}")))
            }
        }
    }
}

/// A size as a number of bytes or text such as `"10MiB"` ([`parse_size`]).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

impl RawSize {
    fn get(&self, what: &str) -> Result<u64> {
        match self {
            RawSize::Bytes(b) => Ok(*b),
            RawSize::Text(t) => parse_size(t).map_err(|e| Error::usage(format!("{what}: {e}"))),
        }
    }
}

impl RawConfig {
    fn into_config(self, base: &Path) -> Result<SimulatorConfig> {
        let seed = self.seed.unwrap_or(0);
        let mut config = SimulatorConfig::empty(seed);
        if let Some(d) = &self.token_ttl {
            config.token_ttl = d.get("token_ttl")?;
        }
        if let Some(p) = self.page_size {
            config.page_size = p;
        }
        if let Some(g) = self.gzip {
            config.gzip = g;
        }
        if let Some(d) = &self.task_duration {
            config.task_duration = d.get("task_duration")?;
        }
        if let Some(d) = &self.cert_freshness {
            config.cert_freshness = d.get("cert_freshness")?;
        }
        if let Some(q) = self.chunk_page_size_quirk {
            config.chunk_page_size_quirk = q;
        }
        if let Some(r) = self.reject_when_busy {
            config.reject_when_busy = r;
        }
        if let Some(f) = &self.faults {
            config.faults = f.parse()?;
        }
        if let Some(r) = &self.export_result {
            config.export_result = ExportResultForm::parse(r)?;
        }
        if let Some(oauth) = self.oauth {
            config.oauth = oauth.into_config()?;
        }
        if let Some(r) = self.reads {
            config.reads = r.into_config()?;
        }
        for u in self.users {
            let mut certificates = Vec::new();
            for c in &u.certificates {
                let pem = if c.contains("-----BEGIN") {
                    c.as_bytes().to_vec()
                } else {
                    let p = base.join(c);
                    std::fs::read(&p)
                        .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?
                };
                certificates.extend(certificates_from_pem(&pem)?);
            }
            let profile = match u.profile {
                Some(p) => p.into_profile(&u.username)?,
                None => UserProfile::default(),
            };
            config.users.push(UserConfig {
                username: u.username,
                password: u.password.map(Secret::new),
                certificates,
                access: match u.models {
                    None => ModelAccess::All,
                    Some(list) if list.iter().any(|m| m == "*") => ModelAccess::All,
                    Some(list) => ModelAccess::Only(list),
                },
                admin: u.admin,
                profile,
            });
        }
        for (wi, w) in self.workspaces.into_iter().enumerate() {
            let mut models = Vec::new();
            for (mi, m) in w.models.into_iter().enumerate() {
                let mut exports = Vec::new();
                for (ei, e) in m.exports.into_iter().enumerate() {
                    let layout = match e.layout.as_deref() {
                        None | Some("TABULAR_SINGLE_COLUMN") => Layout::TabularSingleColumn,
                        Some("TABULAR_MULTI_COLUMN") => Layout::TabularMultiColumn,
                        Some(other) => {
                            return Err(Error::usage(format!(
                                "export {:?}: layout {other:?} is not TABULAR_SINGLE_COLUMN or TABULAR_MULTI_COLUMN",
                                e.name
                            )));
                        }
                    };
                    let encoding = match e
                        .encoding
                        .as_deref()
                        .map(str::to_ascii_uppercase)
                        .as_deref()
                    {
                        None | Some("UTF-8" | "UTF8") => Encoding::Utf8,
                        Some("UTF-16LE" | "UTF16LE") => Encoding::Utf16Le,
                        Some(other) => {
                            return Err(Error::usage(format!(
                                "export {:?}: encoding {other:?} is not UTF-8 or UTF-16LE",
                                e.name
                            )));
                        }
                    };
                    let default_seed = seed
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .wrapping_add(((wi as u64) << 40) | ((mi as u64) << 20) | ei as u64);
                    exports.push(ExportConfig {
                        id: e.id,
                        layout,
                        export_type: e.export_type,
                        generator: GeneratorConfig {
                            rows: e.rows.unwrap_or(1000),
                            seed: e.seed.unwrap_or(default_seed),
                            dimensions: e.dimensions.unwrap_or(4),
                            numeric_only: e.numeric_only,
                            quote_all: e.quote_all,
                            crlf: e.crlf,
                            bom: e.bom,
                        },
                        encoding,
                        chunk_size: match &e.chunk_size {
                            Some(s) => s.get("chunk_size")?,
                            None => DEFAULT_CHUNK_SIZE,
                        },
                        faults: match &e.faults {
                            Some(f) => f.parse()?,
                            None => FaultSpec::default(),
                        },
                        task_duration: e
                            .task_duration
                            .as_ref()
                            .map(|d| d.get("task_duration"))
                            .transpose()?,
                        fixed_content: match &e.content_file {
                            Some(f) => {
                                let p = base.join(f);
                                let bytes = std::fs::read(&p).map_err(|err| {
                                    Error::io(format!("cannot read {}", p.display()), err)
                                })?;
                                Some(FixedContent::new(bytes))
                            }
                            None => None,
                        },
                        name: e.name,
                    });
                }
                let reads = model_reads(
                    m.modules,
                    m.lists,
                    seed.wrapping_add(((wi as u64) << 40) | ((mi as u64) << 20)),
                )
                .map_err(|e| Error::usage(format!("model {:?}: {e}", m.name)))?;
                models.push(ModelConfig {
                    id: m.id,
                    name: m.name,
                    active_state: m.active_state.unwrap_or_else(|| "UNLOCKED".into()),
                    exports,
                    import_files: m.import_files,
                    actions: model_actions(m.imports, m.processes, m.actions),
                    reads,
                });
            }
            config.workspaces.push(WorkspaceConfig {
                id: w.id,
                name: w.name,
                size_allowance: match &w.size_allowance {
                    Some(s) => s.get("size_allowance")?,
                    None => 10 << 30,
                },
                models,
            });
        }
        config.validate()?;
        Ok(config)
    }
}
