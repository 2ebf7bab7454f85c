//! The device grant (`login`) and revocation (`logout`).
//!
//! `login` asks for a device code, shows the user where to approve it, and polls at the
//! interval the service asked for: `authorization_pending` waits another interval,
//! `slow_down` adds 5 s to it (RFC 8628), `expired_token` and `access_denied` end the wait, as
//! does the code's own `expires_in` running out. The refresh token is then saved to the token
//! file (created private) under the file's lock.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::{
    AnaplanClient, ErrorBody, OAuthCredentials, RefreshSource, SCOPE, exchanged, refused, seconds,
    token_file,
};
use crate::anaplan::auth::host_of;
use crate::anaplan::{bad_answer, sign_in_refused};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// What the user must do to approve the sign-in.
#[derive(Clone, Debug)]
pub struct DevicePrompt {
    /// The code the user confirms (shown to them; not a secret).
    pub user_code: String,
    /// Where to enter it.
    pub verification_uri: String,
    /// The same with the code filled in, when the service gives it.
    pub verification_uri_complete: Option<String>,
    /// How long the code is valid.
    pub expires_in: Duration,
}

/// A finished `login`.
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    /// Where the refresh token was saved.
    pub token_file: PathBuf,
    /// Polls it took.
    pub polls: u32,
}

/// A finished `logout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The service revoked the token and the file is deleted.
    Revoked,
    /// The file is deleted; the service did not confirm the revocation (why, in its words).
    DeletedOnly(String),
    /// There was no token file.
    NothingToDo,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    #[serde(deserialize_with = "super::secret_opt", default)]
    device_code: Option<Secret>,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// RFC 8628: the interval when the service names none, and what `slow_down` adds.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

impl AnaplanClient {
    /// The token file `login` and `logout` work on.
    fn token_path(creds: &OAuthCredentials) -> Result<PathBuf> {
        match &creds.source {
            RefreshSource::File(p) => Ok(p.clone()),
            RefreshSource::Value(_) => Err(Error::usage(
                "login and logout work on a token file, but ANAPLAN_REFRESH_TOKEN is set: unset \
                 it, or give --token-file",
            )),
        }
    }

    /// Runs the device grant: `show` gets the prompt once; the refresh token is saved to the
    /// token file.
    pub async fn device_login(&self, show: &mut dyn FnMut(&DevicePrompt)) -> Result<LoginOutcome> {
        let creds = self.oauth()?;
        let path = Self::token_path(creds)?;
        let url = Self::oauth_endpoint(creds, &["oauth", "device", "code"])?;
        let what = format!("start the device sign-in at {}", host_of(&url));
        let answer = self
            .oauth_post(
                url,
                &serde_json::json!({"client_id": creds.client_id, "scope": SCOPE}),
                &what,
            )
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(refused(&what, creds, &answer));
        }
        let code: DeviceCodeAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| bad_answer(&what, format!("unexpected answer: {e}")))?;
        let device_code = code
            .device_code
            .ok_or_else(|| bad_answer(&what, "the answer has no device_code"))?;
        if code.user_code.is_empty() || code.verification_uri.is_empty() {
            return Err(bad_answer(
                &what,
                "the answer has no user_code or verification_uri",
            ));
        }
        let expires_in = seconds(code.expires_in.as_ref()).unwrap_or(Duration::from_mins(15));
        let mut interval = seconds(code.interval.as_ref()).unwrap_or(DEFAULT_INTERVAL);
        show(&DevicePrompt {
            user_code: code.user_code,
            verification_uri: code.verification_uri,
            verification_uri_complete: code.verification_uri_complete,
            expires_in,
        });
        // A little past the code's life, so the service's own `expired_token` is what ends it.
        let deadline = Instant::now() + expires_in + interval * 2;
        let url = Self::oauth_endpoint(creds, &["oauth", "token"])?;
        let what = format!("wait for the sign-in to be approved at {}", host_of(&url));
        let body = serde_json::json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code.expose(),
            "client_id": creds.client_id,
        });
        let mut polls = 0;
        let got = loop {
            if Instant::now() + interval > deadline {
                return Err(sign_in_refused(
                    &what,
                    "the code expired before it was approved: run `login` again",
                ));
            }
            tokio::time::sleep(interval).await;
            polls += 1;
            let answer = self.oauth_post(url.clone(), &body, &what).await?;
            if (200..300).contains(&answer.status) {
                break exchanged(&answer.body, &what)?;
            }
            let error = ErrorBody::of(&answer.body);
            match error.error.as_str() {
                "authorization_pending" => {
                    tracing::debug!("not approved yet; polling again in {:?}", interval);
                }
                "slow_down" => {
                    interval += SLOW_DOWN_STEP;
                    tracing::debug!("asked to slow down; polling every {:?}", interval);
                }
                "expired_token" => {
                    return Err(sign_in_refused(
                        &what,
                        "the code expired before it was approved: run `login` again",
                    ));
                }
                "access_denied" => {
                    return Err(sign_in_refused(
                        &what,
                        format!(
                            "the sign-in was denied ({}). Users who sign in with SSO cannot use \
                             the device grant: they need an Exception User with a password",
                            error.text(answer.status)
                        ),
                    ));
                }
                _ => return Err(refused(&what, creds, &answer)),
            }
        };
        let refresh = got.refresh.ok_or_else(|| {
            sign_in_refused(
                &what,
                "Anaplan returned no refresh token (the client must allow offline_access)",
            )
        })?;
        token_file::create_dir(&path)?;
        let lock = token_file::lock(&path).await;
        token_file::write(&path, &creds.client_id, &refresh, false)?;
        drop(lock);
        Ok(LoginOutcome {
            token_file: path,
            polls,
        })
    }

    /// Revokes the token file's refresh token (best effort) and deletes the file.
    pub async fn device_logout(&self) -> Result<LogoutOutcome> {
        let creds = self.oauth()?;
        let path = Self::token_path(creds)?;
        if !path.exists() {
            return Ok(LogoutOutcome::NothingToDo);
        }
        let lock = token_file::lock(&path).await;
        let stored = token_file::read(&path, &creds.client_id)?;
        let url = Self::oauth_endpoint(creds, &["oauth", "revoke"])?;
        let what = format!("revoke the refresh token at {}", host_of(&url));
        let body = serde_json::json!({
            "token": stored.refresh_token.expose(),
            "token_type_hint": "refresh_token",
            "client_id": creds.client_id,
        });
        let outcome = match self.oauth_post(url, &body, &what).await {
            Ok(a) if (200..300).contains(&a.status) => LogoutOutcome::Revoked,
            Ok(a) => LogoutOutcome::DeletedOnly(ErrorBody::of(&a.body).text(a.status)),
            Err(e) => LogoutOutcome::DeletedOnly(e.to_string()),
        };
        std::fs::remove_file(&path)
            .map_err(|e| Error::local_io(format!("cannot delete {}", path.display()), e))?;
        let _ = std::fs::remove_file(token_file::lock_path(&path));
        drop(lock);
        Ok(outcome)
    }
}
