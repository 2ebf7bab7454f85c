//! Connection options shared by every command that talks to Anaplan: hosts, API version,
//! credentials, retries, and an optional TOML config file holding them.
//!
//! Each value comes from the first place that has it: a flag, then the environment, then the
//! config file, then the default. Credentials follow the same order as a whole: the first of
//! those places that names a certificate or a user decides the kind of sign-in. A password is
//! never a flag: it comes from `ANAPLAN_PASSWORD`, a password file, or a prompt on a terminal.
//!
//! The config file (`--config FILE` or `ANAPLAN_PARQUET_CONFIG`):
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
//! workspace = "Finance"                       # defaults for --workspace and --model
//! model = "FP&A"
//! max_retries = 10
//! retry_timeout = "5m"
//! request_timeout = "5m"
//! read_timeout = "1m"
//! ```
//!
//! Relative paths in the file are relative to the file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::anaplan::{
    AnaplanClient, ApiVersion, CertificateCredentials, ConnectionConfig, Credentials,
    DEFAULT_API_URL, DEFAULT_AUTH_URL,
};
use crate::error::{Error, Result};
use crate::retry::RetryConfig;
use crate::secret::Secret;

/// How to reach Anaplan and who signs in.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Anaplan connection")]
pub struct ConnectionArgs {
    /// Integration API base URL.
    #[arg(
        long,
        value_name = "URL",
        help = "Integration API base URL [env: ANAPLAN_API_URL] [default: https://api.anaplan.com]"
    )]
    pub api_url: Option<String>,

    /// Authentication service base URL.
    #[arg(
        long,
        value_name = "URL",
        help = "Authentication service base URL [env: ANAPLAN_AUTH_URL] [default: https://auth.anaplan.com]"
    )]
    pub auth_url: Option<String>,

    /// Integration API version: 2.0, or 1.3 (legacy; basic auth only) [env: ANAPLAN_API_VERSION]
    /// [default: 2.0].
    #[arg(long, value_name = "2.0|1.3")]
    pub api_version: Option<String>,

    /// User name (email) for basic auth [env: ANAPLAN_USERNAME]. The password comes from
    /// ANAPLAN_PASSWORD, --password-file, or a prompt; never from a flag.
    #[arg(long, short = 'u', value_name = "EMAIL")]
    pub username: Option<String>,

    /// File holding the password (first line) [env: ANAPLAN_PASSWORD_FILE].
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// CA-issued certificate (PEM) for certificate auth [env: ANAPLAN_CERTIFICATE].
    #[arg(long, value_name = "PEM")]
    pub certificate: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, encrypted PKCS#8 or PKCS#1)
    /// [env: ANAPLAN_PRIVATE_KEY]. Passphrase: ANAPLAN_PRIVATE_KEY_PASSPHRASE.
    #[arg(long, value_name = "PEM")]
    pub private_key: Option<PathBuf>,

    /// TOML file with connection settings and defaults [env: ANAPLAN_PARQUET_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Retries of a failed request [default: 10].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,

    /// Total time budget of one request, retries included, e.g. `5m` [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_timeout: Option<Duration>,

    /// Time allowed for one attempt of one request, body included [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,

    /// Time a response may stay silent (no bytes received) before the attempt counts as failed
    /// and is retried [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,
}

/// Parses `5s`, `200ms`, `1h 30m`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("not a duration: {s:?} ({e}; try 30s or 5m)"))
}

/// The config file's contents.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
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
    password: Option<toml::Value>,
    /// A password given in the file itself. Never read from a config file; set by callers
    /// that accept it from a file only the user can read (a private jobs file).
    #[serde(skip)]
    pub inline_password: Option<Secret>,
    /// A private-key passphrase given in the file itself (same rule as `inline_password`).
    #[serde(skip)]
    pub inline_private_key_passphrase: Option<Secret>,
}

impl ConfigFile {
    /// Reads and checks a config file; relative paths become relative to its directory.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        let mut file: ConfigFile = toml::from_str(&text)
            .map_err(|e| Error::usage(format!("config file {}: {e}", path.display())))?;
        if file.password.is_some() {
            return Err(Error::usage(format!(
                "config file {}: `password` is not accepted in a config file; use password_file, \
                 ANAPLAN_PASSWORD or the prompt",
                path.display()
            )));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut file.password_file,
            &mut file.certificate,
            &mut file.private_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(file)
    }
}

/// The connection and the defaults found with it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The validated connection.
    pub config: ConnectionConfig,
    /// `workspace` from the config file.
    pub workspace: Option<String>,
    /// `model` from the config file.
    pub model: Option<String>,
}

/// Where values come from besides the flags: the environment, and how to ask for a password.
pub struct Context<'a> {
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Asks for a password (`None` when there is no terminal).
    pub prompt: &'a dyn Fn(&str) -> Option<Secret>,
}

impl Context<'static> {
    /// The process environment and a terminal prompt.
    pub fn process() -> Self {
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

impl ConnectionArgs {
    /// Resolves the connection from the flags, the process environment and the config file.
    pub fn resolve(&self) -> Result<Resolved> {
        self.resolve_with(&Context::process())
    }

    /// Resolves and builds the client.
    pub fn client(&self) -> Result<(AnaplanClient, Resolved)> {
        let resolved = self.resolve()?;
        let client = AnaplanClient::new(resolved.config.clone())?;
        Ok((client, resolved))
    }

    /// Resolves the connection with the given environment and prompt (tests).
    pub fn resolve_with(&self, cx: &Context<'_>) -> Result<Resolved> {
        let env = cx.env;
        let config_path = self
            .config
            .clone()
            .or_else(|| env("ANAPLAN_PARQUET_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(p) => ConfigFile::read(p)?,
            None => ConfigFile::default(),
        };
        self.resolve_with_file(file, cx)
    }

    /// Resolves the connection with `file` as the config-file level (a jobs file's
    /// `[connection]`); `--config` and `ANAPLAN_PARQUET_CONFIG` are not read.
    pub fn resolve_with_file(&self, file: ConfigFile, cx: &Context<'_>) -> Result<Resolved> {
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
        if let Some(d) = self.retry_timeout.or(file_duration(
            file.retry_timeout.as_deref(),
            "retry_timeout",
        )?) {
            retry.retry_timeout = d;
        }
        if let Some(d) = self.request_timeout.or(file_duration(
            file.request_timeout.as_deref(),
            "request_timeout",
        )?) {
            retry.request_timeout = d;
        }
        if let Some(d) = self
            .read_timeout
            .or(file_duration(file.read_timeout.as_deref(), "read_timeout")?)
        {
            retry.read_timeout = d;
        }

        let credentials = self.credentials(&file, cx)?;
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

    /// Picks the credentials: the first level (flags, environment, file) naming a certificate
    /// or a user decides.
    fn credentials(&self, file: &ConfigFile, cx: &Context<'_>) -> Result<Credentials> {
        let env = cx.env;
        struct Level {
            name: &'static str,
            username: Option<String>,
            certificate: Option<PathBuf>,
            private_key: Option<PathBuf>,
        }
        let levels = [
            Level {
                name: "the command line",
                username: self.username.clone(),
                certificate: self.certificate.clone(),
                private_key: self.private_key.clone(),
            },
            Level {
                name: "the environment",
                username: env("ANAPLAN_USERNAME"),
                certificate: env("ANAPLAN_CERTIFICATE").map(PathBuf::from),
                private_key: env("ANAPLAN_PRIVATE_KEY").map(PathBuf::from),
            },
            Level {
                name: "the config file",
                username: file.username.clone(),
                certificate: file.certificate.clone(),
                private_key: file.private_key.clone(),
            },
        ];
        // A key without its certificate is useless at any level; fill the key from lower
        // levels only for a certificate found at a higher one.
        let any_key = || levels.iter().find_map(|l| l.private_key.clone());
        for level in &levels {
            match (&level.certificate, &level.username) {
                (Some(_), Some(_)) => {
                    return Err(Error::usage(format!(
                        "{} gives both a user name and a certificate; choose one",
                        level.name
                    )));
                }
                (Some(cert), None) => {
                    let key = level.private_key.clone().or_else(any_key).ok_or_else(|| {
                        Error::usage(
                            "certificate auth needs --private-key (or ANAPLAN_PRIVATE_KEY)",
                        )
                    })?;
                    return certificate_credentials(cert, &key, file, env);
                }
                (None, Some(user)) => {
                    let password = self.password(file, user, cx)?;
                    return Ok(Credentials::Basic {
                        username: user.clone(),
                        password,
                    });
                }
                (None, None) => {}
            }
        }
        Err(Error::usage(
            "no Anaplan credentials: set ANAPLAN_USERNAME and ANAPLAN_PASSWORD (or --username with \
             --password-file), or --certificate and --private-key",
        ))
    }

    /// The password: `--password-file`, `ANAPLAN_PASSWORD`, `ANAPLAN_PASSWORD_FILE`, the config
    /// file's `password_env`, its inline password (a private jobs file), its `password_file`, or
    /// a prompt on a terminal.
    fn password(&self, file: &ConfigFile, user: &str, cx: &Context<'_>) -> Result<Secret> {
        let env = cx.env;
        if let Some(path) = &self.password_file {
            return read_password_file(path);
        }
        if let Some(p) = env("ANAPLAN_PASSWORD") {
            return Ok(Secret::new(p));
        }
        if let Some(path) = env("ANAPLAN_PASSWORD_FILE") {
            return read_password_file(Path::new(&path));
        }
        if let Some(name) = &file.password_env {
            return named_env_secret(env, name, "password_env");
        }
        if let Some(p) = &file.inline_password {
            return Ok(p.clone());
        }
        if let Some(path) = &file.password_file {
            return read_password_file(path);
        }
        match (cx.prompt)(user) {
            Some(p) if !p.is_empty() => Ok(p),
            Some(_) => Err(Error::usage("the password is empty")),
            None => Err(Error::usage(format!(
                "no password for {user}: set ANAPLAN_PASSWORD or use --password-file (there is no \
                 terminal to ask on)"
            ))),
        }
    }
}

fn first<const N: usize>(values: [Option<String>; N]) -> Option<String> {
    values.into_iter().flatten().find(|v| !v.trim().is_empty())
}

fn file_duration(v: Option<&str>, key: &str) -> Result<Option<Duration>> {
    v.map(|s| parse_duration(s).map_err(|e| Error::usage(format!("config file `{key}`: {e}"))))
        .transpose()
}

/// The value of the environment variable `name`, which the config file's `key` names.
fn named_env_secret(env: &dyn Fn(&str) -> Option<String>, name: &str, key: &str) -> Result<Secret> {
    match env(name) {
        Some(v) => Ok(Secret::new(v)),
        None => Err(Error::usage(format!(
            "`{key}` names the environment variable {name}, which is not set (or empty)"
        ))),
    }
}

fn read_password_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    let line = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if line.is_empty() {
        return Err(Error::usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(line))
}

fn certificate_credentials(
    cert: &Path,
    key: &Path,
    file: &ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials> {
    let cert_pem = std::fs::read_to_string(cert).map_err(|e| {
        Error::usage(format!(
            "cannot read the certificate {}: {e}",
            cert.display()
        ))
    })?;
    let key_pem = std::fs::read_to_string(key).map(Secret::new).map_err(|e| {
        Error::usage(format!(
            "cannot read the private key {}: {e}",
            key.display()
        ))
    })?;
    let passphrase = match (
        env("ANAPLAN_PRIVATE_KEY_PASSPHRASE"),
        &file.private_key_passphrase_env,
    ) {
        (Some(p), _) => Some(Secret::new(p)),
        (None, Some(name)) => Some(named_env_secret(env, name, "private_key_passphrase_env")?),
        (None, None) => file.inline_private_key_passphrase.clone(),
    };
    let creds = CertificateCredentials::from_pem(&cert_pem, &key_pem, passphrase.as_ref())
        .map_err(|e| Error::usage(format!("{} / {}: {e}", cert.display(), key.display())))?;
    Ok(Credentials::Certificate(Box::new(creds)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        conn: ConnectionArgs,
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client")
    }

    fn resolve(flags: &[&str], env: &[(&str, &str)]) -> Result<Resolved> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(flags.iter().copied()))
            .map_err(|e| Error::usage(e.to_string()))?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        let cx = Context {
            env: &lookup,
            prompt: &|_| None,
        };
        cli.conn.resolve_with(&cx)
    }

    fn basic(r: &Resolved) -> (String, String) {
        match &r.config.credentials {
            Credentials::Basic { username, password } => {
                (username.clone(), password.expose().to_owned())
            }
            Credentials::Certificate(_) => panic!("expected basic"),
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            "api_url = \"http://file-api\"\nauth_url = \"http://file-auth\"\napi_version = \"1.3\"\n\
             username = \"file@x\"\nworkspace = \"W\"\nmodel = \"M\"\nmax_retries = 3\nretry_timeout = \"7s\"\n",
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        let pw = ("ANAPLAN_PASSWORD", "pw");
        // (flags, env, expected api_url, auth_url, version, user)
        type Row<'a> = (
            Vec<&'a str>,
            Vec<(&'a str, &'a str)>,
            &'a str,
            &'a str,
            ApiVersion,
            &'a str,
        );
        let table: Vec<Row> = vec![
            (
                vec!["-u", "flag@x"],
                vec![pw],
                DEFAULT_API_URL,
                DEFAULT_AUTH_URL,
                ApiVersion::V2,
                "flag@x",
            ),
            (
                vec!["--config", cfg],
                vec![pw],
                "http://file-api",
                "http://file-auth",
                ApiVersion::V1_3,
                "file@x",
            ),
            (
                vec!["--config", cfg],
                vec![
                    pw,
                    ("ANAPLAN_API_URL", "http://env-api"),
                    ("ANAPLAN_USERNAME", "env@x"),
                ],
                "http://env-api",
                "http://file-auth",
                ApiVersion::V1_3,
                "env@x",
            ),
            (
                vec![
                    "--api-url",
                    "http://flag-api",
                    "--api-version",
                    "2.0",
                    "-u",
                    "flag@x",
                ],
                vec![
                    pw,
                    ("ANAPLAN_PARQUET_CONFIG", cfg),
                    ("ANAPLAN_API_URL", "http://env-api"),
                    ("ANAPLAN_AUTH_URL", "http://env-auth"),
                    ("ANAPLAN_USERNAME", "env@x"),
                ],
                "http://flag-api",
                "http://env-auth",
                ApiVersion::V2,
                "flag@x",
            ),
        ];
        for (flags, env, api, auth, version, user) in table {
            let r = resolve(&flags, &env).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
            assert_eq!(r.config.api_url, api, "{flags:?} {env:?}");
            assert_eq!(r.config.auth_url, auth, "{flags:?} {env:?}");
            assert_eq!(r.config.api_version, version, "{flags:?} {env:?}");
            assert_eq!(basic(&r).0, user, "{flags:?} {env:?}");
        }
        let r = resolve(&["--config", cfg, "--max-retries", "5"], &[pw]).unwrap();
        assert_eq!(
            (r.workspace.as_deref(), r.model.as_deref()),
            (Some("W"), Some("M"))
        );
        assert_eq!(r.config.retry.max_retries, 5);
        assert_eq!(r.config.retry.retry_timeout, Duration::from_secs(7));
        assert_eq!(
            r.config.retry.read_timeout,
            RetryConfig::default().read_timeout
        );
        let r = resolve(&["--config", cfg, "--read-timeout", "250ms"], &[pw]).unwrap();
        assert_eq!(r.config.retry.read_timeout, Duration::from_millis(250));
    }

    #[test]
    fn password_sources_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let flag_file = dir.path().join("flag-pw");
        std::fs::write(&flag_file, "from-flag-file\nignored second line\n").unwrap();
        let env_file = dir.path().join("env-pw");
        std::fs::write(&env_file, "from-env-file\r\n").unwrap();
        let ff = flag_file.to_str().unwrap();
        let ef = env_file.to_str().unwrap();
        let user = ("ANAPLAN_USERNAME", "u@x");
        for (flags, env, expected) in [
            (
                vec!["--password-file", ff],
                vec![user, ("ANAPLAN_PASSWORD", "from-env")],
                "from-flag-file",
            ),
            (
                vec![],
                vec![
                    user,
                    ("ANAPLAN_PASSWORD", "from-env"),
                    ("ANAPLAN_PASSWORD_FILE", ef),
                ],
                "from-env",
            ),
            (
                vec![],
                vec![user, ("ANAPLAN_PASSWORD_FILE", ef)],
                "from-env-file",
            ),
        ] {
            let r = resolve(&flags, &env).unwrap();
            assert_eq!(basic(&r).1, expected, "{flags:?} {env:?}");
        }
        // No password anywhere and no terminal: a clear usage error.
        let e = resolve(&[], &[user]).unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().contains("ANAPLAN_PASSWORD"),
            "{e}"
        );
        // A prompt answers when there is a terminal.
        let cli = Cli::try_parse_from(["x", "-u", "me@x"]).unwrap();
        let cx = Context {
            env: &|_| None,
            prompt: &|user| Some(Secret::new(format!("typed-for-{user}"))),
        };
        let r = cli.conn.resolve_with(&cx).unwrap();
        assert_eq!(basic(&r).1, "typed-for-me@x");
    }

    #[test]
    fn a_given_file_names_its_secrets_by_environment_variable() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
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
        let r = cli.conn.resolve_with_file(file.clone(), &cx).unwrap();
        assert_eq!(basic(&r), ("jobs@x".into(), "from-named-env".into()));
        assert_eq!(r.config.api_url, "http://jobs-api");
        // An inline password (a private jobs file) when no variable is named.
        let inline = ConfigFile {
            password_env: None,
            ..file.clone()
        };
        let r = cli.conn.resolve_with_file(inline, &cx).unwrap();
        assert_eq!(basic(&r).1, "inline");
        // A named variable that is not set is an error naming the variable, not the value.
        let unset = ConfigFile {
            password_env: Some("MISSING_PW".into()),
            ..file
        };
        let e = cli.conn.resolve_with_file(unset, &cx).unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().contains("MISSING_PW"),
            "{e}"
        );
        // The key's passphrase from a named variable.
        let f = fixtures();
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
        let r = cli.conn.resolve_with_file(cert.clone(), &cx).unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
        let inline = ConfigFile {
            private_key_passphrase_env: None,
            inline_private_key_passphrase: Some(Secret::new("correct-horse")),
            ..cert
        };
        let r = cli.conn.resolve_with_file(inline, &cx).unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
    }

    #[test]
    fn there_is_no_password_flag() {
        assert!(Cli::try_parse_from(["x", "--password", "hunter2"]).is_err());
    }

    #[test]
    fn certificates() {
        let f = fixtures();
        let cert = f.join("cert.pem");
        let key = f.join("key-encrypted.pem");
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let r = resolve(
            &["--certificate", cert, "--private-key", key],
            &[
                ("ANAPLAN_PRIVATE_KEY_PASSPHRASE", "correct-horse"),
                ("ANAPLAN_USERNAME", "env@x"),
            ],
        )
        .unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
        // From the environment, key included.
        let r = resolve(
            &[],
            &[
                ("ANAPLAN_CERTIFICATE", cert),
                ("ANAPLAN_PRIVATE_KEY", key),
                ("ANAPLAN_PRIVATE_KEY_PASSPHRASE", "correct-horse"),
            ],
        )
        .unwrap();
        assert!(matches!(r.config.credentials, Credentials::Certificate(_)));
        // A user on the command line beats a certificate in the environment.
        let r = resolve(
            &["-u", "flag@x"],
            &[
                ("ANAPLAN_CERTIFICATE", cert),
                ("ANAPLAN_PRIVATE_KEY", key),
                ("ANAPLAN_PASSWORD", "pw"),
            ],
        )
        .unwrap();
        assert_eq!(basic(&r).0, "flag@x");
        // Errors: both at one level, a certificate without a key, a wrong passphrase.
        for (flags, env, needle) in [
            (
                vec!["-u", "a@x", "--certificate", cert, "--private-key", key],
                vec![],
                "choose one",
            ),
            (vec!["--certificate", cert], vec![], "--private-key"),
            (
                vec!["--certificate", cert, "--private-key", key],
                vec![("ANAPLAN_PRIVATE_KEY_PASSPHRASE", "nope")],
                "wrong passphrase",
            ),
            (vec![], vec![], "no Anaplan credentials"),
        ] {
            let e = resolve(&flags, &env).unwrap_err().to_string();
            assert!(e.contains(needle), "{flags:?}: {e}");
            assert!(!e.contains("nope"), "{e}");
        }
    }

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
        write("secret.txt", "s3cret\n");
        let p = write(
            "rel.toml",
            "username = \"a@x\"\npassword_file = \"secret.txt\"\n",
        );
        let f = ConfigFile::read(&p).unwrap();
        assert_eq!(f.password_file.unwrap(), dir.path().join("secret.txt"));
        let r = resolve(&["--config", p.to_str().unwrap()], &[]).unwrap();
        assert_eq!(basic(&r).1, "s3cret");
        let bad = write("bad.toml", "username = \"a@x\"\nretry_timeout = \"soon\"\n");
        assert!(
            resolve(
                &["--config", bad.to_str().unwrap()],
                &[("ANAPLAN_PASSWORD", "p")]
            )
            .is_err()
        );
    }
}
