//! OAuth 2.0 sign-in: the device grant once (`login`), then refresh tokens for every run.
//!
//! # The wire (from the API notes; **(c)** confirmed by a named public source, **(u)** not)
//!
//! The OAuth service lives on the regional web host (`https://us1a.app.anaplan.com`), not on
//! `auth.anaplan.com` (c: the Anaplan OpenAPI project's live tests). Every call is a `POST`
//! with a JSON body and no `Authorization` header (c: Anaplan Connect's Feign client); the
//! simulator also takes form bodies (some SDKs send them).
//!
//! - `POST /oauth/device/code` `{"client_id", "scope": "openid profile email offline_access"}`
//!   answers `{device_code, user_code, verification_uri, verification_uri_complete,
//!   expires_in: 900, interval: 5}` (c). An unknown or missing client id gets 400 or 403 (c).
//! - `POST /oauth/token` `{"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
//!   device_code, client_id}` polls. While the user has not approved: an error body with
//!   `authorization_pending` (c) (its HTTP status is (u); RFC 8628 says 400, so any 4xx is
//!   read by its `error` field). `slow_down` adds 5 s to the interval, `expired_token` and
//!   `access_denied` end the wait (RFC 8628) (u: in the OpenAPI enum, never seen live).
//! - `POST /oauth/token` `{"grant_type": "refresh_token", client_id, refresh_token}` (no
//!   secret for a device client) (c). The answer (all grants) is `{access_token, id_token,
//!   refresh_token, scope, expires_in: 2100, token_type: "Bearer"}`, `expires_in` in seconds (c).
//! - **Rotatable** clients return a new refresh token on every refresh and the old one must not
//!   be used again (c, live); what reusing it does is (u) (the simulator answers
//!   `invalid_grant`, 403). **Non-rotatable** tokens work indefinitely; whether the answer
//!   repeats `refresh_token` or leaves it out is (u), so the old token is kept when it is
//!   absent or unchanged — and then the token file is never rewritten.
//! - A refused refresh gets 403 in Anaplan Connect's experience, 400/401 elsewhere (c): any 4xx
//!   with `invalid_grant` (or no readable body) means "sign in again with `login`".
//! - The access token travels as `Authorization: AnaplanAuthToken <access_token>` exactly like
//!   an auth-service token (Anaplan Connect, APAPI, anaplan-sdk) (c); the Integration API also
//!   accepts `Bearer` (c, live).
//! - Revocation: no Anaplan source documents it (u). `logout` posts RFC 7009's
//!   `POST /oauth/revoke {token, client_id, token_type_hint: "refresh_token"}` and deletes the
//!   token file whatever the answer.
//! - The device grant does not work for SSO users: they need an Exception User with a password
//!   (c: Anaplan help, "Create an OAuth 2.0 client").
//!
//! # Refreshing
//!
//! The access token is refreshed with the refresh token when a fifth of its life (at most
//! 5 minutes) is left, and on a 401, single-flight behind the client's token lock (see the
//! `auth` module). A refresh call is retried on 429, 5xx and network failures like any
//! other: if the first attempt did reach the server and rotated the token, the retry is
//! refused, which is no worse than not retrying. Ctrl-C does not interrupt a refresh: the
//! call and the save of a rotated token finish before the run stops.
//!
//! From a token file (see `token_file`): the file is locked, read, the token exchanged, and a
//! new refresh token written atomically before the lock is released. The old token is
//! overwritten only by the rename that puts the new one in place. What no client can make safe
//! is a kill between the server rotating the token and the rename: the server has then
//! invalidated the token in the file (unless it allows reuse for a while, which Anaplan's
//! documentation does not say). The window is one HTTP answer plus one small file write.
//!
//! From `ANAPLAN_REFRESH_TOKEN` (containers): a rotated token is kept in memory for the rest
//! of the run only, with a warning, since the variable cannot be updated — use a token file
//! (a writable volume) with rotatable clients.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{RETRY_AFTER, USER_AGENT};
use serde::Deserialize;
use url::Url;

use super::{AGENT, AnaplanClient, CallError, call_error, sign_in_refused};
use crate::error::{Error, Result};
use crate::retry::{Failure, FailureKind, RetryState};
use crate::secret::Secret;

pub(crate) mod credentials;
mod device;
pub(crate) mod token_file;

pub use credentials::{OAuthCredentials, RefreshSource};

pub use device::{DevicePrompt, LoginOutcome, LogoutOutcome};
pub use token_file::default_path;

/// The default OAuth service (Anaplan's documented host for the US region).
pub const DEFAULT_OAUTH_URL: &str = "https://us1a.app.anaplan.com";

/// The scope every client asks for (`offline_access` brings the refresh token).
const SCOPE: &str = "openid profile email offline_access";

/// The token answer.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default, deserialize_with = "secret_opt")]
    access_token: Option<Secret>,
    #[serde(default, deserialize_with = "secret_opt")]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

fn secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(Secret::new))
}

/// An OAuth error body: `{error, error_description}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl ErrorBody {
    fn of(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// `code: description` (the service's words; they never hold a token).
    fn text(&self, status: u16) -> String {
        match (self.error.is_empty(), self.error_description.is_empty()) {
            (true, _) => format!("HTTP {status}"),
            (false, true) => format!("{} (HTTP {status})", self.error),
            (false, false) => format!(
                "{}: {} (HTTP {status})",
                self.error,
                crate::units::shorten(&self.error_description, 200)
            ),
        }
    }
}

/// Seconds from a JSON number or numeric text.
fn seconds(v: Option<&serde_json::Value>) -> Option<Duration> {
    let s = match v? {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(1e7)))
}

/// The access token's life when `expires_in` is missing (Anaplan gives 2100 s).
const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_mins(35);

/// An HTTP answer of the OAuth service that is not transient: its status and body.
struct Answer {
    status: u16,
    body: Bytes,
}

/// A refreshed access token, and the refresh token the answer carried (if any).
struct Exchanged {
    access: Secret,
    lifetime: Duration,
    refresh: Option<Secret>,
}

impl AnaplanClient {
    fn oauth(&self) -> Result<&OAuthCredentials> {
        match &self.inner.credentials {
            super::Credentials::OAuth(c) => Ok(c),
            _ => Err(Error::usage(
                "this needs OAuth credentials: --oauth-client-id (or ANAPLAN_OAUTH_CLIENT_ID)",
            )),
        }
    }

    /// `{oauth}/{segments...}`.
    fn oauth_endpoint(creds: &OAuthCredentials, segments: &[&str]) -> Result<Url> {
        let mut url = super::parse_base_url(&creds.oauth_url, "--oauth-url")?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        Ok(url)
    }

    /// POSTs JSON to the OAuth service with retries for transient failures (429, 5xx, network);
    /// any other answer is returned as is.
    async fn oauth_post(&self, url: Url, body: &serde_json::Value, what: &str) -> Result<Answer> {
        let mut state = RetryState::new(&self.inner.retry);
        loop {
            let attempt = async {
                let response = self
                    .inner
                    .http
                    .post(url.clone())
                    .header(USER_AGENT, AGENT)
                    .timeout(self.inner.retry.request_timeout)
                    .json(body)
                    .send()
                    .await
                    .map_err(Failure::from_reqwest)?;
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()));
                let body = response.bytes().await.map_err(Failure::from_reqwest)?;
                if status == 429 || status >= 500 {
                    let detail = ErrorBody::of(&body).text(status);
                    return Err(Failure::new(
                        FailureKind::Status {
                            status,
                            retry_after,
                        },
                        detail,
                    ));
                }
                Ok(Answer { status, body })
            }
            .await;
            let failure = match attempt {
                Ok(answer) => return Ok(answer),
                Err(f) => f,
            };
            match state.next_delay(&failure.kind, true) {
                Ok(delay) => {
                    self.inner.stats.record(&failure.kind);
                    tracing::info!(
                        "{what}: {failure}; retry {} of {} in {:.1}s",
                        state.retries(),
                        self.inner.retry.max_retries,
                        delay.as_secs_f64()
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(why) => {
                    return Err(call_error(
                        what,
                        CallError::GaveUp {
                            failure,
                            why,
                            retries: state.retries(),
                            elapsed: state.elapsed(),
                        },
                    ));
                }
            }
        }
    }

    /// Exchanges a refresh token for an access token.
    async fn refresh_grant(&self, creds: &OAuthCredentials, refresh: &Secret) -> Result<Exchanged> {
        let url = Self::oauth_endpoint(creds, &["oauth", "token"])?;
        let what = format!(
            "refresh the OAuth access token at {}",
            super::auth::host_of(&url)
        );
        let body = serde_json::json!({
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "refresh_token": refresh.expose(),
        });
        let answer = self.oauth_post(url, &body, &what).await?;
        if (200..300).contains(&answer.status) {
            return exchanged(&answer.body, &what);
        }
        Err(refused(&what, creds, &answer))
    }

    /// A new access token from the refresh token (the OAuth "sign-in"): from the token file
    /// under its lock, or from the token given in the environment. `rotated` keeps a
    /// rotated environment token for the rest of the run.
    pub(crate) async fn oauth_access_token(
        &self,
        rotated: &mut Option<Secret>,
    ) -> Result<(Secret, Duration)> {
        let creds = self.oauth()?;
        match &creds.source {
            RefreshSource::Value(given) => {
                let current = rotated.clone().unwrap_or_else(|| given.clone());
                let got = self.refresh_grant(creds, &current).await?;
                if let Some(new) = got.refresh
                    && new != current
                {
                    if rotated.is_none() {
                        tracing::warn!(
                            "Anaplan rotated the refresh token from ANAPLAN_REFRESH_TOKEN: the new \
                             one is kept for this run only, and the one in the environment no \
                             longer works; use a token file (ANAPLAN_REFRESH_TOKEN_FILE) with a \
                             rotatable client"
                        );
                    }
                    *rotated = Some(new);
                }
                Ok((got.access, got.lifetime))
            }
            RefreshSource::File(path) => {
                let lock = token_file::lock(path).await;
                // Read only now: a process that held the lock before may have rotated it.
                let stored = token_file::read(path, &creds.client_id)?;
                if let Some(id) = &stored.client_id
                    && *id != creds.client_id
                {
                    return Err(Error::usage(format!(
                        "the token file {} belongs to OAuth client {id}, not {}: use \
                         --token-file for each client",
                        path.display(),
                        creds.client_id
                    )));
                }
                let got = self.refresh_grant(creds, &stored.refresh_token).await?;
                if let Some(new) = got.refresh
                    && new != stored.refresh_token
                {
                    token_file::write(path, &creds.client_id, &new, stored.bare).inspect_err(
                        |e| {
                            tracing::error!(
                                "Anaplan rotated the refresh token but it could not be saved \
                                 ({e}); this run goes on, the next one needs `login` again"
                            );
                        },
                    )?;
                    tracing::debug!("saved the rotated refresh token");
                }
                drop(lock);
                Ok((got.access, got.lifetime))
            }
        }
    }
}

/// The access token (and any refresh token) of a successful token answer.
fn exchanged(body: &[u8], what: &str) -> Result<Exchanged> {
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|e| super::bad_answer(what, format!("unexpected answer: {e}")))?;
    let access = answer
        .access_token
        .ok_or_else(|| super::bad_answer(what, "the answer has no access_token"))?;
    let lifetime = seconds(answer.expires_in.as_ref())
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_ACCESS_LIFETIME);
    Ok(Exchanged {
        access,
        lifetime,
        refresh: answer.refresh_token,
    })
}

/// The error for a refused OAuth call, by the service's `error` code.
fn refused(what: &str, creds: &OAuthCredentials, answer: &Answer) -> Error {
    let body = ErrorBody::of(&answer.body);
    let said = body.text(answer.status);
    let login = format!(
        "run `anaplan-parquet login --oauth-client-id {}` again",
        creds.client_id
    );
    let reason = match body.error.as_str() {
        "unauthorized_client" | "invalid_client" => format!(
            "Anaplan does not accept OAuth client id {} ({said}): check --oauth-client-id \
             and --oauth-url, and that a Tenant Security Administrator registered it as a \
             device-grant client",
            creds.client_id
        ),
        "invalid_grant" | "expired_token" | "access_denied" | "" => format!(
            "the refresh token was refused ({said}): it expired, was revoked, or was already \
             used; {login}"
        ),
        _ => format!("{said}; if this persists, {login}"),
    };
    if answer.status == 404 {
        return sign_in_refused(
            what,
            format!(
                "no OAuth service there (HTTP 404): check --oauth-url (Anaplan's is \
                 {DEFAULT_OAUTH_URL} or your region's app host)"
            ),
        );
    }
    sign_in_refused(what, reason)
}
