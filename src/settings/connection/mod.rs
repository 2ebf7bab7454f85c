//! Connection settings for every command that talks to Anaplan: hosts, API version,
//! credentials, retries, and an optional TOML config file holding them.
//!
//! Each value comes from the first place that has it: a flag, then the environment, then the
//! config file, then the default. Credentials follow the same order as a whole: the first of
//! those places that names a certificate or a user decides the kind of sign-in
//! ([`credentials`]). A password is never a flag: it comes from `ANAPLAN_PASSWORD`, a password
//! file, or a prompt on a terminal.
//!
//! The config file ([`ConfigFile`]; `--config FILE` or `ANAPLAN_PARQUET_CONFIG`):
//!
//! ```toml
//! api_url = "https://api.anaplan.com"         # or a regional host
//! auth_url = "https://auth.anaplan.com"
//! api_version = "2.0"                         # or "1.3"
//! username = "me@example.com"                 # basic auth...
//! password_file = "/run/secrets/anaplan"      # ...with the password in a file
//! # password_env = "ANAPLAN_PROD_PASSWORD"    # ...or in this environment variable
//! # certificate = "cert.pem"                  # or certificate auth
//! # private_key = "key.pem"                   # passphrase: ANAPLAN_PRIVATE_KEY_PASSPHRASE,
//! # private_key_passphrase_env = "KEY_PASS"   # or the variable named here
//! # oauth_client_id = "0123456789abcdef0123456789abcdef"  # or OAuth (after `login`)...
//! # token_file = "/home/me/.config/anaplan-parquet/oauth-ID.json"  # ...its refresh token
//! # oauth_url = "https://us1a.app.anaplan.com"
//! workspace = "Finance"                       # defaults for --workspace and --model
//! model = "FP&A"
//! max_retries = 10
//! retry_timeout = "5m"
//! request_timeout = "5m"
//! read_timeout = "1m"
//! ```
//!
//! Relative paths in the file are relative to the file.

mod config_file;
mod credentials;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use config_file::ConfigFile;

use super::duration;
use crate::anaplan::{
    AnaplanClient, ApiVersion, ConnectionConfig, DEFAULT_API_URL, DEFAULT_AUTH_URL,
};
use crate::error::Result;
use crate::retry::RetryConfig;
use crate::secret::Secret;

/// The connection settings a front end gives (the command line's flags): the highest level,
/// above the environment and the config file. Durations are text, read by
/// [`crate::units::parse_duration`].
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionSettings {
    /// Integration API base URL.
    pub api_url: Option<String>,
    /// Authentication service base URL.
    pub auth_url: Option<String>,
    /// `2.0` or `1.3`.
    pub api_version: Option<String>,
    /// Basic auth user.
    pub username: Option<String>,
    /// File holding the password (first line).
    pub password_file: Option<PathBuf>,
    /// Certificate PEM.
    pub certificate: Option<PathBuf>,
    /// Private key PEM.
    pub private_key: Option<PathBuf>,
    /// OAuth device-grant client id.
    pub oauth_client_id: Option<String>,
    /// File holding the OAuth refresh token.
    pub token_file: Option<PathBuf>,
    /// OAuth service base URL.
    pub oauth_url: Option<String>,
    /// The config file to read (else `ANAPLAN_PARQUET_CONFIG`, else none).
    pub config: Option<PathBuf>,
    /// `max_retries`: retries of a failed request.
    pub max_retries: Option<u32>,
    /// `retry_timeout`: total time budget of one request.
    pub retry_timeout: Option<String>,
    /// `request_timeout`: time allowed for one attempt.
    pub request_timeout: Option<String>,
    /// `read_timeout`: time a response may stay silent.
    pub read_timeout: Option<String>,
}

/// The connection and the defaults found with it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The validated connection.
    pub config: ConnectionConfig,
    /// `workspace` from the config file.
    pub workspace: Option<String>,
    /// `model` from the config file.
    pub model: Option<String>,
}

/// Where values come from besides the settings given: the environment, and how to ask for a
/// password.
pub(crate) struct Context<'a> {
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Asks for a password (`None` when there is no terminal).
    pub prompt: &'a dyn Fn(&str) -> Option<Secret>,
}

impl Context<'static> {
    /// The process environment and a terminal prompt.
    pub(crate) fn process() -> Self {
        Context {
            env: &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            prompt: &|user| {
                if !std::io::stdin().is_terminal() {
                    return None;
                }
                rpassword::prompt_password(format!("Anaplan password for {user}: "))
                    .ok()
                    .map(Secret::new)
            },
        }
    }
}

impl ConnectionSettings {
    /// Resolves the connection with the process environment and the config file, and builds
    /// the client.
    pub(crate) fn client(&self) -> Result<(AnaplanClient, Resolved)> {
        let resolved = self.resolve_with(&Context::process())?;
        let client = AnaplanClient::new(resolved.config.clone())?;
        Ok((client, resolved))
    }

    /// Resolves the connection with the given environment and prompt; the config file is
    /// [`ConnectionSettings::config`], else `ANAPLAN_PARQUET_CONFIG`.
    pub(crate) fn resolve_with(&self, cx: &Context<'_>) -> Result<Resolved> {
        let config_path = self
            .config
            .clone()
            .or_else(|| (cx.env)("ANAPLAN_PARQUET_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(p) => ConfigFile::read(p)?,
            None => ConfigFile::default(),
        };
        self.resolve_with_file(file, cx)
    }

    /// Resolves the connection with `file` as the config-file level (a jobs file's
    /// `[connection]`); [`ConnectionSettings::config`] and `ANAPLAN_PARQUET_CONFIG` are not
    /// read. A bad value of this level is an [`Error::InvalidSetting`](crate::error::Error);
    /// one of the file is named as the file's key.
    pub(crate) fn resolve_with_file(&self, file: ConfigFile, cx: &Context<'_>) -> Result<Resolved> {
        let env = cx.env;
        let api_url = first([
            self.api_url.clone(),
            env("ANAPLAN_API_URL"),
            file.api_url.clone(),
        ])
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let auth_url = first([
            self.auth_url.clone(),
            env("ANAPLAN_AUTH_URL"),
            file.auth_url.clone(),
        ])
        .unwrap_or_else(|| DEFAULT_AUTH_URL.to_owned());
        let api_version = match first([
            self.api_version.clone(),
            env("ANAPLAN_API_VERSION"),
            file.api_version.clone(),
        ]) {
            Some(v) => v.parse::<ApiVersion>()?,
            None => ApiVersion::V2,
        };

        let mut retry = RetryConfig::default();
        if let Some(n) = self.max_retries.or(file.max_retries) {
            retry.max_retries = n;
        }
        let durations = [
            (
                "retry_timeout",
                &self.retry_timeout,
                &file.retry_timeout,
                &mut retry.retry_timeout,
            ),
            (
                "request_timeout",
                &self.request_timeout,
                &file.request_timeout,
                &mut retry.request_timeout,
            ),
            (
                "read_timeout",
                &self.read_timeout,
                &file.read_timeout,
                &mut retry.read_timeout,
            ),
        ];
        for (setting, given, in_file, value) in durations {
            if let Some(d) = level_duration(setting, given, &file, in_file)? {
                *value = d;
            }
        }

        let credentials = credentials::credentials(self, &file, cx)?;
        let mut config = ConnectionConfig::new(credentials);
        config.api_url = api_url;
        config.auth_url = auth_url;
        config.api_version = api_version;
        config.retry = retry;
        Ok(Resolved {
            config,
            workspace: file.workspace,
            model: file.model,
        })
    }
}

/// A duration setting from the highest level that has it: as given (a bad value stays an
/// invalid setting for the front end to name), else from the file (named as its key).
#[allow(clippy::ref_option)] // the two levels are read side by side
fn level_duration(
    setting: &'static str,
    given: &Option<String>,
    file: &ConfigFile,
    in_file: &Option<String>,
) -> Result<Option<Duration>> {
    if let Some(text) = given {
        return duration(setting, text).map(Some);
    }
    in_file
        .as_deref()
        .map(|text| duration(setting, text).map_err(|e| e.naming_setting(file.naming())))
        .transpose()
}

fn first<const N: usize>(values: [Option<String>; N]) -> Option<String> {
    values.into_iter().flatten().find(|v| !v.trim().is_empty())
}

/// The user and password of basic credentials (tests).
#[cfg(test)]
pub(crate) fn basic(r: &Resolved) -> (String, String) {
    match &r.config.credentials {
        crate::anaplan::Credentials::Basic { username, password } => {
            (username.clone(), password.expose().to_owned())
        }
        _ => panic!("expected basic"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::anaplan::Credentials;
    use crate::error::Error;

    #[test]
    fn oauth_credentials_from_each_level() {
        use crate::anaplan::RefreshSource;
        let resolve = |given: ConnectionSettings, file: ConfigFile, vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let env = move |k: &str| vars.get(k).cloned();
            let cx = Context {
                env: &env,
                prompt: &|_| None,
            };
            given.resolve_with_file(file, &cx)
        };
        let oauth = |r: Result<Resolved>| match r.unwrap().config.credentials {
            Credentials::OAuth(c) => c,
            other => panic!("expected OAuth, got {other:?}"),
        };
        // Environment: the client id, the default token file under XDG_CONFIG_HOME.
        let c = oauth(resolve(
            ConnectionSettings::default(),
            ConfigFile::default(),
            &[
                ("ANAPLAN_OAUTH_CLIENT_ID", "cid"),
                ("XDG_CONFIG_HOME", "/cfg"),
            ],
        ));
        assert_eq!(c.client_id, "cid");
        assert_eq!(c.oauth_url, crate::anaplan::DEFAULT_OAUTH_URL);
        assert!(
            matches!(&c.source, RefreshSource::File(p) if p == Path::new("/cfg/anaplan-parquet/oauth-cid.json")),
            "{c:?}"
        );
        // The token itself in the environment wins over a token file from the environment or
        // the file, and never shows in Debug.
        let file = ConfigFile {
            oauth_client_id: Some("cid".into()),
            token_file: Some("/jobs/t.json".into()),
            oauth_url: Some("http://o".into()),
            ..ConfigFile::default()
        };
        let c = oauth(resolve(
            ConnectionSettings::default(),
            file.clone(),
            &[("ANAPLAN_REFRESH_TOKEN", "rt-secret-1"), ("HOME", "/h")],
        ));
        assert!(matches!(&c.source, RefreshSource::Value(v) if v.expose() == "rt-secret-1"));
        assert!(!format!("{c:?}").contains("rt-secret-1"));
        assert_eq!(c.oauth_url, "http://o");
        // The config file's token file, then a flag above everything.
        let c = oauth(resolve(ConnectionSettings::default(), file.clone(), &[]));
        assert!(matches!(&c.source, RefreshSource::File(p) if p == Path::new("/jobs/t.json")));
        let flags = ConnectionSettings {
            token_file: Some("/flag.json".into()),
            oauth_url: Some("http://flag".into()),
            ..ConnectionSettings::default()
        };
        let c = oauth(resolve(flags, file, &[("ANAPLAN_REFRESH_TOKEN", "x")]));
        assert!(matches!(&c.source, RefreshSource::File(p) if p == Path::new("/flag.json")));
        assert_eq!(c.oauth_url, "http://flag");
        // A user and a client id at one level: choose one.
        let e = resolve(
            ConnectionSettings::default(),
            ConfigFile::default(),
            &[
                ("ANAPLAN_OAUTH_CLIENT_ID", "cid"),
                ("ANAPLAN_USERNAME", "u@x"),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("choose one"), "{e}");
        // A client id on the command line beats a user in the environment.
        let flags = ConnectionSettings {
            oauth_client_id: Some("cid".into()),
            ..ConnectionSettings::default()
        };
        oauth(resolve(
            flags,
            ConfigFile::default(),
            &[("ANAPLAN_USERNAME", "u@x"), ("HOME", "/h")],
        ));
    }

    #[test]
    fn a_bad_duration_is_named_by_its_level() {
        let env = |k: &str| (k == "ANAPLAN_PASSWORD").then(|| "pw".to_owned());
        let cx = Context {
            env: &env,
            prompt: &|_| None,
        };
        let given = ConnectionSettings {
            username: Some("u@x".into()),
            retry_timeout: Some("soon".into()),
            ..ConnectionSettings::default()
        };
        let e = given
            .resolve_with_file(ConfigFile::default(), &cx)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidSetting {
                    setting: "retry_timeout",
                    ..
                }
            ),
            "{e}"
        );
        let file = ConfigFile {
            read_timeout: Some("later".into()),
            origin: "config file c.toml".into(),
            ..ConfigFile::default()
        };
        let given = ConnectionSettings {
            username: Some("u@x".into()),
            ..ConnectionSettings::default()
        };
        let e = given.resolve_with_file(file, &cx).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with("`read_timeout` in config file c.toml: not a duration: \"later\""),
            "{e}"
        );
    }

    #[test]
    fn a_given_file_names_its_secrets_by_environment_variable() {
        let given = ConnectionSettings::default();
        let env: HashMap<&str, &str> = [("PROD_PW", "from-named-env")].into();
        let lookup = |k: &str| env.get(k).map(|v| (*v).to_owned());
        let cx = Context {
            env: &lookup,
            prompt: &|_| None,
        };
        let file = ConfigFile {
            username: Some("jobs@x".into()),
            password_env: Some("PROD_PW".into()),
            inline_password: Some(Secret::new("inline")),
            api_url: Some("http://jobs-api".into()),
            ..ConfigFile::default()
        };
        let r = given.resolve_with_file(file.clone(), &cx).unwrap();
        assert_eq!(basic(&r), ("jobs@x".into(), "from-named-env".into()));
        assert_eq!(r.config.api_url, "http://jobs-api");
        // An inline password (a private jobs file) when no variable is named.
        let inline = ConfigFile {
            password_env: None,
            ..file.clone()
        };
        let r = given.resolve_with_file(inline, &cx).unwrap();
        assert_eq!(basic(&r).1, "inline");
        // A named variable that is not set is an error naming the variable, not the value.
        let unset = ConfigFile {
            password_env: Some("MISSING_PW".into()),
            ..file
        };
        let e = given.resolve_with_file(unset, &cx).unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().contains("MISSING_PW"),
            "{e}"
        );
        // The key's passphrase from a named variable.
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client");
        let env: HashMap<&str, &str> = [("KEY_PASS", "correct-horse")].into();
        let lookup = |k: &str| env.get(k).map(|v| (*v).to_owned());
        let cx = Context {
            env: &lookup,
            prompt: &|_| None,
        };
        let cert = ConfigFile {
            certificate: Some(f.join("cert.pem")),
            private_key: Some(f.join("key-encrypted.pem")),
            private_key_passphrase_env: Some("KEY_PASS".into()),
            ..ConfigFile::default()
        };
        let r = given.resolve_with_file(cert.clone(), &cx).unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
        let inline = ConfigFile {
            private_key_passphrase_env: None,
            inline_private_key_passphrase: Some(Secret::new("correct-horse")),
            ..cert
        };
        let r = given.resolve_with_file(inline, &cx).unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
    }
}
