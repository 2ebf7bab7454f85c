//! Who signs in: the credentials picked from the flags, the environment and the config file,
//! and the secrets read for them (a password, a private key and its passphrase). No message
//! here ever holds a secret: files and environment variables are named, never their contents.

use std::path::{Path, PathBuf};

use super::{ConfigFile, ConnectionSettings, Context};
use crate::anaplan::{
    CertificateCredentials, Credentials, DEFAULT_OAUTH_URL, OAuthCredentials, RefreshSource,
};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Picks the credentials: the first level (flags, environment, file) naming a certificate or
/// a user decides.
pub(super) fn credentials(
    flags: &ConnectionSettings,
    file: &ConfigFile,
    cx: &Context<'_>,
) -> Result<Credentials> {
    let env = cx.env;
    struct Level {
        name: &'static str,
        username: Option<String>,
        certificate: Option<PathBuf>,
        private_key: Option<PathBuf>,
        oauth_client_id: Option<String>,
    }
    let levels = [
        Level {
            name: "the command line",
            username: flags.username.clone(),
            certificate: flags.certificate.clone(),
            private_key: flags.private_key.clone(),
            oauth_client_id: flags.oauth_client_id.clone(),
        },
        Level {
            name: "the environment",
            username: env("ANAPLAN_USERNAME"),
            certificate: env("ANAPLAN_CERTIFICATE").map(PathBuf::from),
            private_key: env("ANAPLAN_PRIVATE_KEY").map(PathBuf::from),
            oauth_client_id: env("ANAPLAN_OAUTH_CLIENT_ID"),
        },
        Level {
            name: "the config file",
            username: file.username.clone(),
            certificate: file.certificate.clone(),
            private_key: file.private_key.clone(),
            oauth_client_id: file.oauth_client_id.clone(),
        },
    ];
    // A key without its certificate is useless at any level; fill the key from lower levels
    // only for a certificate found at a higher one.
    let any_key = || levels.iter().find_map(|l| l.private_key.clone());
    for level in &levels {
        if let Some(client_id) = &level.oauth_client_id {
            if level.username.is_some() || level.certificate.is_some() {
                return Err(Error::usage(format!(
                    "{} gives both an OAuth client id and a {}; choose one",
                    level.name,
                    if level.username.is_some() {
                        "user name"
                    } else {
                        "certificate"
                    }
                )));
            }
            return oauth_credentials(client_id, flags, file, env);
        }
        match (&level.certificate, &level.username) {
            (Some(_), Some(_)) => {
                return Err(Error::usage(format!(
                    "{} gives both a user name and a certificate; choose one",
                    level.name
                )));
            }
            (Some(cert), None) => {
                let key = level.private_key.clone().or_else(any_key).ok_or_else(|| {
                    Error::usage("certificate auth needs --private-key (or ANAPLAN_PRIVATE_KEY)")
                })?;
                return certificate_credentials(cert, &key, file, env);
            }
            (None, Some(user)) => {
                let password = password(flags, file, user, cx)?;
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
         --password-file), --certificate and --private-key, or --oauth-client-id (after `login`)",
    ))
}

/// OAuth credentials: the refresh token from `--token-file`, `ANAPLAN_REFRESH_TOKEN` (the
/// token itself), `ANAPLAN_REFRESH_TOKEN_FILE`, the config file's `token_file`, or the default
/// token file of the client. The file is read when the token is first needed.
fn oauth_credentials(
    client_id: &str,
    flags: &ConnectionSettings,
    file: &ConfigFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials> {
    let client_id = client_id.trim();
    if client_id.is_empty() || client_id.chars().any(char::is_whitespace) {
        return Err(Error::usage(
            "the OAuth client id must be non-empty and without spaces",
        ));
    }
    let source = if let Some(path) = &flags.token_file {
        RefreshSource::File(path.clone())
    } else if let Some(token) = env("ANAPLAN_REFRESH_TOKEN") {
        RefreshSource::Value(Secret::new(token.trim()))
    } else if let Some(path) = env("ANAPLAN_REFRESH_TOKEN_FILE") {
        RefreshSource::File(PathBuf::from(path))
    } else if let Some(path) = &file.token_file {
        RefreshSource::File(path.clone())
    } else {
        RefreshSource::File(crate::anaplan::oauth::default_path(client_id, env)?)
    };
    let oauth_url = [
        flags.oauth_url.clone(),
        env("ANAPLAN_OAUTH_URL"),
        file.oauth_url.clone(),
    ]
    .into_iter()
    .flatten()
    .find(|v| !v.trim().is_empty())
    .unwrap_or_else(|| DEFAULT_OAUTH_URL.to_owned());
    Ok(Credentials::OAuth(OAuthCredentials {
        client_id: client_id.to_owned(),
        oauth_url,
        source,
    }))
}

/// The password: `--password-file`, `ANAPLAN_PASSWORD`, `ANAPLAN_PASSWORD_FILE`, the config
/// file's `password_env`, its inline password (a private jobs file), its `password_file`, or a
/// prompt on a terminal.
fn password(
    flags: &ConnectionSettings,
    file: &ConfigFile,
    user: &str,
    cx: &Context<'_>,
) -> Result<Secret> {
    let env = cx.env;
    if let Some(path) = &flags.password_file {
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
