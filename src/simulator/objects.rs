//! The tenant's objects besides exports: users' profiles (what `/users` shows), a model's
//! import, process and other ("delete") actions, and the form of a finished export task's
//! `result`. Kept out of `config.rs` so that file stays about the tenant's shape.
//!
//! # TOML
//!
//! ```toml
//! export_result = "help"      # or "details": see ExportResultForm
//!
//! [[users]]
//! username = "jane.doe@example.com"
//! password = "x"
//! # every field optional; the defaults derive from the seed and the username
//! profile = { id = "0123456789abcdef0123456789abcdef", first_name = "Jane", last_name = "Doe", active = true, email_opt_in = false, last_login = "2026-11-30T08:15:42.000+0000" }
//!
//! [[workspaces.models.imports]]
//! name = "Sales from Sales Upload.csv"
//! import_type = "MODULE_DATA"          # open set: MODULE_DATA, HIERARCHY_DATA, ...
//! source_file = "Sales Upload.csv"     # one of the model's import_files (optional)
//! header_names = ["Region", "Month", "Sales"]
//!
//! [[workspaces.models.actions]]
//! name = "Delete old Sales"
//! action_type = "DELETE_BY_SELECTION"
//!
//! [[workspaces.models.processes]]
//! name = "Nightly Load"
//! actions = ["Sales from Sales Upload.csv", "Delete old Sales", "Revenue - TSC.csv"]
//! ```
//!
//! Ids left out are numbered within their model like exports: imports `112…`, actions
//! `117…`, processes `118…` (12 digits); user ids are 32 lowercase hex digits derived from the
//! seed and the username.

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The date form of `lastLoginDate` (and of the other model dates the simulator serves):
/// milliseconds and a `+0000` offset, which `%Y-%m-%dT%H:%M:%S.%f%z` parses.
pub const LOGIN_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// What `/users` tells about a user, beyond the username (which is the `email`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// 32 lowercase hex digits; derived from the seed and username when `None`.
    pub id: Option<String>,
    /// `firstName`; from the username's local part when `None` (`jane.doe` → `Jane`).
    pub first_name: Option<String>,
    /// `lastName`; from the username's local part when `None` (`jane.doe` → `Doe`, `demo` →
    /// `User`).
    pub last_name: Option<String>,
    /// `active` is false (the user still signs in: the simulator only reports it).
    pub inactive: bool,
    /// `emailOptIn`.
    pub email_opt_in: bool,
    /// `lastLoginDate` in [`LOGIN_DATE_FORMAT`]; derived from the seed and username when `None`.
    pub last_login: Option<String>,
}

impl UserProfile {
    /// The first and last names: the configured ones, or from the username's local part.
    pub fn names(&self, username: &str) -> (String, String) {
        let local = username.split('@').next().unwrap_or(username);
        let mut words = local
            .split(['.', '_', '-', '+'])
            .filter(|w| !w.is_empty())
            .map(capitalize);
        let first = words.next().unwrap_or_else(|| "Anaplan".to_owned());
        let rest: Vec<String> = words.collect();
        let last = if rest.is_empty() {
            "User".to_owned()
        } else {
            rest.join(" ")
        };
        (
            self.first_name.clone().unwrap_or(first),
            self.last_name.clone().unwrap_or(last),
        )
    }

    /// `lastLoginDate`: the configured one, or a time in the first half of 2026 picked by
    /// `pick` (a hash of the seed and username).
    pub fn last_login(&self, pick: u64) -> String {
        if let Some(d) = &self.last_login {
            return d.clone();
        }
        // 2026-01-01T00:00:00Z plus up to 180 days, in whole milliseconds.
        let base = 1_767_225_600_000_i64;
        let ms = base + (pick % (180 * 86_400_000)) as i64;
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .format(LOGIN_DATE_FORMAT)
            .to_string()
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How a finished export task's `result` looks. Neither form is confirmed for exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportResultForm {
    /// `{failureDumpAvailable, objectId, successful}`: Anaplan's help pages and Postman
    /// example for an export task.
    #[default]
    Help,
    /// The same plus `details: [{type: "exportSucceeded", ...}]` and a `nestedResults` entry
    /// carrying it, as a vendor connector's mock and a process task's result have them.
    Details,
}

impl ExportResultForm {
    /// `help` or `details`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "help" => Ok(ExportResultForm::Help),
            "details" => Ok(ExportResultForm::Details),
            other => Err(Error::usage(format!(
                "export_result {other:?} is not \"help\" or \"details\""
            ))),
        }
    }
}

/// An import action: listed and described, not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportConfig {
    /// `112` followed by 9 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// `importType` (open set: `MODULE_DATA`, `HIERARCHY_DATA`, `LINE_ITEM_DEFINITION`,
    /// `USERS`, `VERSIONS`).
    pub import_type: String,
    /// The name of the model's import file it reads (`importDataSourceId` is that file's id);
    /// `None` for an import from another model or list.
    pub source_file: Option<String>,
    /// The source's column headers (`importMetadata.source.headerNames`).
    pub header_names: Vec<String>,
}

/// An "other" action (delete from list using selection, optimizer, ...): listed, not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionConfig {
    /// `117` followed by 9 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// `actionType` (open set: `DELETE_BY_SELECTION`, `OPTIMIZER`, ...).
    pub action_type: String,
}

/// A process: a sequence of the model's imports, exports and actions; listed, not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    /// `118` followed by 9 digits; numbered within the model when `None`.
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Its steps, in order: names or ids of the model's imports, exports and actions.
    pub steps: Vec<String>,
}

/// A model's actions besides exports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelActions {
    /// Import actions.
    pub imports: Vec<ImportConfig>,
    /// Processes.
    pub processes: Vec<ProcessConfig>,
    /// Other actions.
    pub actions: Vec<ActionConfig>,
}

impl ModelActions {
    /// The default tenant's FP&A actions: an import from its upload file, a hierarchy import,
    /// a delete action, and a process running the first import, the delete and `export`.
    pub fn demo(upload: &str, export: &str) -> Self {
        ModelActions {
            imports: vec![
                ImportConfig {
                    id: None,
                    name: format!("Sales from {upload}"),
                    import_type: "MODULE_DATA".into(),
                    source_file: Some(upload.to_owned()),
                    header_names: vec!["Region".into(), "Month".into(), "Sales".into()],
                },
                ImportConfig {
                    id: None,
                    name: "Regions from Sales Forecast".into(),
                    import_type: "HIERARCHY_DATA".into(),
                    source_file: None,
                    header_names: vec!["Region".into(), "Parent".into(), "Code".into()],
                },
            ],
            actions: vec![ActionConfig {
                id: None,
                name: "Delete old Sales".into(),
                action_type: "DELETE_BY_SELECTION".into(),
            }],
            processes: vec![ProcessConfig {
                id: None,
                name: "Nightly Load".into(),
                steps: vec![
                    format!("Sales from {upload}"),
                    "Delete old Sales".into(),
                    export.to_owned(),
                ],
            }],
        }
    }

    /// Numbers the imports, actions and processes without an id, skipping configured ids.
    pub(crate) fn resolve_ids(&mut self) {
        number(self.imports.iter_mut().map(|i| &mut i.id), "112");
        number(self.actions.iter_mut().map(|a| &mut a.id), "117");
        number(self.processes.iter_mut().map(|p| &mut p.id), "118");
    }

    /// Checks ids (prefix and 12 digits), unique names, import source files among
    /// `import_files`, and process steps among the imports, `exports` (names and ids) and
    /// actions.
    pub(crate) fn validate(
        &self,
        model: &str,
        import_files: &[String],
        exports: &[(Option<&str>, &str)],
    ) -> Result<()> {
        let bad = |what: &str, id: &str, prefix: &str| {
            Error::usage(format!(
                "{what} id {id} in model {model:?} must be {prefix} followed by 9 digits"
            ))
        };
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        let all = self
            .imports
            .iter()
            .map(|i| ("import", "112", i.id.as_deref(), i.name.as_str()))
            .chain(
                self.actions
                    .iter()
                    .map(|a| ("action", "117", a.id.as_deref(), a.name.as_str())),
            )
            .chain(
                self.processes
                    .iter()
                    .map(|p| ("process", "118", p.id.as_deref(), p.name.as_str())),
            );
        for (what, prefix, id, name) in all {
            if let Some(id) = id {
                if !(id.len() == 12
                    && id.starts_with(prefix)
                    && id.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(bad(what, id, prefix));
                }
                if !ids.insert(id) {
                    return Err(Error::usage(format!(
                        "{what} id {id} is used twice in model {model:?}"
                    )));
                }
            }
            if !names.insert((what, name)) {
                return Err(Error::usage(format!(
                    "{what} {name:?} is listed twice in model {model:?}"
                )));
            }
        }
        for i in &self.imports {
            if let Some(f) = &i.source_file
                && !import_files.contains(f)
            {
                return Err(Error::usage(format!(
                    "import {:?}: source_file {f:?} is not one of model {model:?}'s import_files",
                    i.name
                )));
            }
        }
        for p in &self.processes {
            for step in &p.steps {
                let known = self
                    .imports
                    .iter()
                    .any(|i| i.name == *step || i.id.as_deref() == Some(step))
                    || self
                        .actions
                        .iter()
                        .any(|a| a.name == *step || a.id.as_deref() == Some(step))
                    || exports
                        .iter()
                        .any(|(id, name)| *name == step || *id == Some(step.as_str()));
                if !known {
                    return Err(Error::usage(format!(
                        "process {:?}: step {step:?} is no import, export or action of model {model:?}",
                        p.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Gives every `None` id `prefix` + 9 digits, counting from 0 and skipping ids in use.
fn number<'a>(ids: impl Iterator<Item = &'a mut Option<String>>, prefix: &str) {
    let ids: Vec<&mut Option<String>> = ids.collect();
    let mut used: HashSet<String> = ids.iter().filter_map(|i| (*i).clone()).collect();
    let mut next = 0u64;
    for id in ids {
        if id.is_none() {
            loop {
                let candidate = format!("{prefix}{next:09}");
                next += 1;
                if used.insert(candidate.clone()) {
                    *id = Some(candidate);
                    break;
                }
            }
        }
    }
}

// ---- TOML shapes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    active: Option<bool>,
    #[serde(default)]
    email_opt_in: bool,
    last_login: Option<String>,
}

impl RawProfile {
    pub(crate) fn into_profile(self, username: &str) -> Result<UserProfile> {
        if let Some(id) = &self.id
            && !(id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return Err(Error::usage(format!(
                "user {username}: profile id {id:?} must be 32 lowercase hex digits"
            )));
        }
        if let Some(d) = &self.last_login
            && chrono::DateTime::parse_from_str(d, LOGIN_DATE_FORMAT).is_err()
        {
            return Err(Error::usage(format!(
                "user {username}: last_login {d:?} is not like 2026-11-30T08:15:42.000+0000"
            )));
        }
        Ok(UserProfile {
            id: self.id,
            first_name: self.first_name,
            last_name: self.last_name,
            inactive: self.active == Some(false),
            email_opt_in: self.email_opt_in,
            last_login: self.last_login,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawImport {
    id: Option<String>,
    name: String,
    import_type: Option<String>,
    source_file: Option<String>,
    #[serde(default)]
    header_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    id: Option<String>,
    name: String,
    action_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProcess {
    id: Option<String>,
    name: String,
    #[serde(default)]
    actions: Vec<String>,
}

/// A model's actions from its TOML tables.
pub(crate) fn model_actions(
    imports: Vec<RawImport>,
    processes: Vec<RawProcess>,
    actions: Vec<RawAction>,
) -> ModelActions {
    ModelActions {
        imports: imports
            .into_iter()
            .map(|i| ImportConfig {
                id: i.id,
                name: i.name,
                import_type: i.import_type.unwrap_or_else(|| "MODULE_DATA".into()),
                source_file: i.source_file,
                header_names: i.header_names,
            })
            .collect(),
        processes: processes
            .into_iter()
            .map(|p| ProcessConfig {
                id: p.id,
                name: p.name,
                steps: p.actions,
            })
            .collect(),
        actions: actions
            .into_iter()
            .map(|a| ActionConfig {
                id: a.id,
                name: a.name,
                action_type: a
                    .action_type
                    .unwrap_or_else(|| "DELETE_BY_SELECTION".into()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_username_unless_configured() {
        let p = UserProfile::default();
        assert_eq!(
            p.names("jane.doe@example.com"),
            ("Jane".into(), "Doe".into())
        );
        assert_eq!(p.names("demo@example.com"), ("Demo".into(), "User".into()));
        let p = UserProfile {
            first_name: Some("Ann".into()),
            ..UserProfile::default()
        };
        assert_eq!(p.names("demo@example.com"), ("Ann".into(), "User".into()));
    }

    #[test]
    fn derived_login_dates_parse_with_the_clients_format() {
        let p = UserProfile::default();
        for pick in [0, 1, 12_345_678_901, u64::MAX] {
            let d = p.last_login(pick);
            assert!(
                chrono::DateTime::parse_from_str(&d, LOGIN_DATE_FORMAT).is_ok(),
                "{d}"
            );
            assert!(d.starts_with("2026-") && d.ends_with("+0000"), "{d}");
        }
    }

    #[test]
    fn ids_are_numbered_around_configured_ones_and_checked() {
        let mut a = ModelActions::demo("Up.csv", "E.csv");
        a.imports[1].id = Some("112000000000".into());
        a.resolve_ids();
        assert_eq!(a.imports[0].id.as_deref(), Some("112000000001"));
        assert_eq!(a.actions[0].id.as_deref(), Some("117000000000"));
        assert_eq!(a.processes[0].id.as_deref(), Some("118000000000"));
        let files = vec!["Up.csv".to_owned()];
        a.validate("M", &files, &[(None, "E.csv")]).unwrap();
        assert!(a.validate("M", &[], &[(None, "E.csv")]).is_err());
        assert!(a.validate("M", &files, &[]).is_err());
        a.actions[0].id = Some("118000000009".into());
        assert!(a.validate("M", &files, &[(None, "E.csv")]).is_err());
    }
}
