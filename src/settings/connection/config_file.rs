//! The config file (`--config FILE`, `ANAPLAN_PARQUET_CONFIG`, or a jobs file's
//! `[connection]`): the lowest level of the connection settings, plus default workspace and
//! model. Its format is in the [parent module's docs](super).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::settings::{toml_error, without_values};

/// The config file's contents.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// API base URL.
    pub api_url: Option<String>,
    /// Auth base URL.
    pub auth_url: Option<String>,
    /// `2.0` or `1.3`.
    pub api_version: Option<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// File with the password.
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// Certificate PEM.
    pub certificate: Option<PathBuf>,
    /// Private key PEM.
    pub private_key: Option<PathBuf>,
    /// Name of an environment variable holding the private key's passphrase.
    pub private_key_passphrase_env: Option<String>,
    /// OAuth device-grant client id.
    pub oauth_client_id: Option<String>,
    /// File holding the OAuth refresh token.
    pub token_file: Option<PathBuf>,
    /// OAuth service base URL.
    pub oauth_url: Option<String>,
    /// Default workspace.
    pub workspace: Option<String>,
    /// Default model.
    pub model: Option<String>,
    /// Retries of a failed request.
    pub max_retries: Option<u32>,
    /// Total time budget per request (`5m`).
    pub retry_timeout: Option<String>,
    /// Time allowed per attempt (`5m`).
    pub request_timeout: Option<String>,
    /// Time a response may stay silent (`1m`).
    pub read_timeout: Option<String>,
    /// Never allowed: rejected with a hint (a password does not belong in a config file).
    #[serde(default)]
    pub(super) password: Option<toml::Value>,
    /// A password given in the file itself. Never read from a config file; set by callers
    /// that accept it from a file only the user can read (a private jobs file).
    #[serde(skip)]
    pub inline_password: Option<Secret>,
    /// A private-key passphrase given in the file itself (same rule as `inline_password`).
    #[serde(skip)]
    pub inline_private_key_passphrase: Option<Secret>,
    /// The file, for messages: `config file /etc/anaplan.toml`, `[connection]`.
    #[serde(skip)]
    pub origin: String,
}

impl ConfigFile {
    /// Reads and checks a config file; relative paths become relative to its directory.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let origin = format!("config file {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read the {origin}: {e}")))?;
        let mut file: ConfigFile = toml::from_str(&text)
            .map_err(|e| Error::usage(format!("{origin}: {}", toml_error(&e, &text))))?;
        if file.password.is_some() {
            return Err(Error::usage(format!(
                "{origin}: `password` is not accepted in a config file; use password_file, \
                 ANAPLAN_PASSWORD or the prompt"
            )));
        }
        file.origin = origin;
        file.relative_to(path.parent().unwrap_or(Path::new(".")));
        Ok(file)
    }

    /// Reads a jobs file's `[connection]` table (inline secrets already taken out of it).
    pub(crate) fn from_table(table: toml::Table, dir: &Path) -> Result<Self, String> {
        let mut file: ConfigFile =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    format!("[connection]: {}", without_values(e.message()))
                })?;
        "[connection]".clone_into(&mut file.origin);
        file.relative_to(dir);
        Ok(file)
    }

    /// Makes the file's relative paths relative to `dir`.
    fn relative_to(&mut self, dir: &Path) {
        for p in [
            &mut self.password_file,
            &mut self.certificate,
            &mut self.private_key,
            &mut self.token_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }

    /// Names a setting of this file in messages: `` `retry_timeout` in config file /x.toml ``.
    pub(crate) fn naming(&self) -> impl Fn(&str) -> String + '_ {
        move |key| {
            if self.origin.is_empty() {
                format!("`{key}`")
            } else {
                format!("`{key}` in {}", self.origin)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_checks() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let p = write("pw.toml", "username = \"a@x\"\npassword = \"hunter2\"\n");
        let e = ConfigFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("password_file") && !e.contains("hunter2"), "{e}");
        let p = write("typo.toml", "api_ulr = \"x\"\n");
        assert!(
            ConfigFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("api_ulr")
        );
        // A syntax error says where, without quoting the line (it may hold a secret).
        let p = write("broken.toml", "username = \"a@x\"\npassword = \"hunter2\n");
        let e = ConfigFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
        write("secret.txt", "s3cret\n");
        let p = write(
            "rel.toml",
            "username = \"a@x\"\npassword_file = \"secret.txt\"\n",
        );
        let f = ConfigFile::read(&p).unwrap();
        assert_eq!(f.password_file.unwrap(), dir.path().join("secret.txt"));
        assert!(f.origin.ends_with("rel.toml"), "{}", f.origin);
    }
}
