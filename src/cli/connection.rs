//! Connection flags shared by every command that talks to Anaplan: hosts, API version,
//! credentials, retries, and the config file holding them. They are the highest level of the
//! connection settings ([`crate::settings::connection`], which documents the config file and
//! the order of the sources: flags, then the environment, then the config file).

use std::path::PathBuf;

use clap::Args;

use super::as_flags;
use crate::anaplan::AnaplanClient;
use crate::error::Result;
use crate::settings::{ConfigFile, ConnectionSettings, Context, Resolved};

/// How to reach Anaplan and who signs in.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Anaplan connection")]
pub(crate) struct ConnectionArgs {
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

    /// OAuth device-grant client id, for OAuth sign-in after `login` [env:
    /// ANAPLAN_OAUTH_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub oauth_client_id: Option<String>,

    /// File holding the OAuth refresh token (private, 0600) [env: ANAPLAN_REFRESH_TOKEN_FILE]
    /// [default: ~/.config/anaplan-parquet/oauth-ID.json]. Or the token itself in
    /// ANAPLAN_REFRESH_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// OAuth service base URL.
    #[arg(
        long,
        value_name = "URL",
        help = "OAuth service base URL [env: ANAPLAN_OAUTH_URL] [default: https://us1a.app.anaplan.com]"
    )]
    pub oauth_url: Option<String>,

    /// TOML file with connection settings and defaults [env: ANAPLAN_PARQUET_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Retries of a failed request [default: 10].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,

    /// Total time budget of one request, retries included, e.g. `5m` [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub retry_timeout: Option<String>,

    /// Time allowed for one attempt of one request, body included [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// Time a response may stay silent (no bytes received) before the attempt counts as failed
    /// and is retried [default: 1m].
    #[arg(long, value_name = "DURATION")]
    pub read_timeout: Option<String>,
}

impl ConnectionArgs {
    /// The flags as the highest level of the connection settings.
    pub(crate) fn settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            api_url: self.api_url.clone(),
            auth_url: self.auth_url.clone(),
            api_version: self.api_version.clone(),
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            oauth_client_id: self.oauth_client_id.clone(),
            token_file: self.token_file.clone(),
            oauth_url: self.oauth_url.clone(),
            config: self.config.clone(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout.clone(),
            request_timeout: self.request_timeout.clone(),
            read_timeout: self.read_timeout.clone(),
        }
    }

    /// Resolves the connection (flags, environment, config file) and builds the client.
    pub(crate) fn client(&self) -> Result<(AnaplanClient, Resolved)> {
        self.settings().client().map_err(as_flags)
    }

    /// Resolves the connection with `file` as the config-file level (a jobs file's
    /// `[connection]`).
    pub(crate) fn resolve_with_file(&self, file: ConfigFile, cx: &Context<'_>) -> Result<Resolved> {
        self.settings()
            .resolve_with_file(file, cx)
            .map_err(as_flags)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::anaplan::{ApiVersion, Credentials, DEFAULT_API_URL, DEFAULT_AUTH_URL};
    use crate::error::Error;
    use crate::retry::RetryConfig;
    use crate::secret::Secret;
    use crate::settings::connection::basic;

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
        cli.conn.settings().resolve_with(&cx).map_err(as_flags)
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
        let r = cli.conn.settings().resolve_with(&cx).unwrap();
        assert_eq!(basic(&r).1, "typed-for-me@x");
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
    fn a_config_file_by_flag_and_bad_durations_by_level() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        write("secret.txt", "s3cret\n");
        let p = write(
            "rel.toml",
            "username = \"a@x\"\npassword_file = \"secret.txt\"\n",
        );
        let r = resolve(&["--config", p.to_str().unwrap()], &[]).unwrap();
        assert_eq!(basic(&r).1, "s3cret");
        let pw = [("ANAPLAN_PASSWORD", "p")];
        let bad = write("bad.toml", "username = \"a@x\"\nretry_timeout = \"soon\"\n");
        let e = resolve(&["--config", bad.to_str().unwrap()], &pw).unwrap_err();
        assert!(
            e.to_string().starts_with("`retry_timeout` in config file ")
                && e.to_string().contains("not a duration: \"soon\""),
            "{e}"
        );
        let e = resolve(&["-u", "a@x", "--retry-timeout", "soon"], &pw).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--retry-timeout: not a duration: \"soon\""),
            "{e}"
        );
    }
}
