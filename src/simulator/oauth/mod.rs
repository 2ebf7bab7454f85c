//! The OAuth 2.0 service (device grant, refresh, revocation), served on the simulator's own
//! address beside `/token/...` and the API:
//!
//! | call | answer |
//! |---|---|
//! | `POST /oauth/device/code` `{client_id, scope}` | `{device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval}` |
//! | `POST /oauth/token` device grant `{grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code, client_id}` | tokens, or `authorization_pending`, `slow_down`, `expired_token`, `access_denied` |
//! | `POST /oauth/token` `{grant_type: "refresh_token", client_id, refresh_token}` | tokens; a rotatable client's old refresh token is refused from then on (`invalid_grant`, 403) |
//! | `POST /oauth/revoke` `{token, client_id}` | 200; the refresh token is refused from then on |
//!
//! Bodies may be JSON or form-encoded (clients send both). Token answers are
//! `{access_token, id_token, refresh_token, scope, expires_in, token_type: "Bearer"}`; errors
//! `{error, error_description}`. Access tokens join the tenant's token table, so the
//! Integration API accepts them under `AnaplanAuthToken` and `Bearer`, they expire with the
//! `token-ttl` fault and [`SimulatorHandle::expire_tokens`](super::SimulatorHandle::expire_tokens), and `issued_tokens` lists them.
//! The `rate-limit` and `server-error` faults apply to these calls too, before anything happens.
//!
//! What is unconfirmed about the live service (the status of `authorization_pending`, whether a
//! non-rotatable refresh repeats `refresh_token`, what reusing a rotated token does, the
//! revocation endpoint, whose path here follows RFC 7009) is a switch in [`OAuthConfig`].

use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::api::status_fault;
use super::http::{Ctx, json_response};
use super::state::{Inner, Token};
use crate::secret::Secret;

pub mod config;
pub(crate) mod state;

pub use config::{Approval, OAuthClientConfig, OAuthConfig};
use state::{DeviceCode, RefreshToken};
pub use state::{OAuthCounters, RefreshHold};

/// The device grant's `grant_type`.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// What RFC 8628 adds to the interval on each `slow_down`.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Routes `/oauth/...`.
pub(crate) async fn handle(ctx: &Ctx, body: Body) -> Response {
    if ctx.method != Method::POST {
        return oauth_error(
            ctx,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Method not allowed.",
        );
    }
    let faults = ctx.shared.lock().config.faults.clone();
    if let Some(response) = status_fault(ctx, &faults) {
        return response;
    }
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let fields = Fields::parse(&bytes);
    match ctx.path.trim_end_matches('/') {
        "/oauth/device/code" => device_code(ctx, &fields),
        "/oauth/token" => match fields.get("grant_type") {
            None => oauth_error(
                ctx,
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "Missing grant_type.",
            ),
            Some(DEVICE_GRANT) => poll(ctx, &fields),
            Some("refresh_token") => refresh(ctx, &fields).await,
            Some(_) => oauth_error(
                ctx,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type.",
            ),
        },
        "/oauth/revoke" => revoke(ctx, &fields),
        _ => oauth_error(ctx, StatusCode::NOT_FOUND, "invalid_request", "Not found."),
    }
}

/// A request body's fields, from JSON or a form.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(bytes: &[u8]) -> Fields {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) {
            return Fields(
                map.into_iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect(),
            );
        }
        Fields(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// `{error, error_description}` with `status`.
fn oauth_error(ctx: &Ctx, status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        ctx,
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn unknown_client(ctx: &Ctx) -> Response {
    oauth_error(
        ctx,
        StatusCode::FORBIDDEN,
        "unauthorized_client",
        "Unknown or invalid client_id.",
    )
}

/// A random opaque value (122 bits per uuid).
fn random_value(uuids: usize) -> String {
    let mut bytes = Vec::new();
    for _ in 0..uuids {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A user code shaped like the live ones (`1GMV-ATBA`): no vowels or look-alikes.
fn user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
    let bytes = uuid::Uuid::new_v4();
    let chars: String = bytes.as_bytes()[..8]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// Seconds as JSON: whole seconds as an integer (the live shape), shorter ones as a fraction
/// (so tests need not wait whole seconds).
fn seconds(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        json!(d.as_secs())
    } else {
        json!(d.as_secs_f64())
    }
}

fn device_code(ctx: &Ctx, fields: &Fields) -> Response {
    let Some(client_id) = fields.get("client_id") else {
        return oauth_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing client_id.",
        );
    };
    let base = ctx.shared.base_url();
    let mut inner = ctx.shared.lock();
    if inner.config.oauth.client(client_id).is_none() {
        return unknown_client(ctx);
    }
    let (ttl, interval) = (
        inner.config.oauth.device_code_ttl,
        inner.config.oauth.interval,
    );
    let code = random_value(2);
    let user = user_code();
    inner.oauth.counters.device_codes += 1;
    inner.oauth.device_codes.insert(
        code.clone(),
        DeviceCode {
            client_id: client_id.to_owned(),
            user_code: user.clone(),
            expires_at: Instant::now() + ttl,
            polls: 0,
            last_poll: None,
            interval,
            approved: false,
            used: false,
        },
    );
    drop(inner);
    let uri = format!("{base}/activate");
    json_response(
        ctx,
        StatusCode::OK,
        &json!({
            "device_code": code,
            "user_code": user,
            "verification_uri": uri,
            "verification_uri_complete": format!("{uri}?user_code={user}"),
            "expires_in": ttl.as_secs().max(1),
            "interval": seconds(interval),
        }),
    )
}

/// What a poll comes to.
enum PollOutcome {
    Error(StatusCode, &'static str, &'static str),
    Tokens(Value),
}

fn poll(ctx: &Ctx, fields: &Fields) -> Response {
    let outcome = {
        let mut inner = ctx.shared.lock();
        poll_locked(&mut inner, fields)
    };
    match outcome {
        PollOutcome::Error(status, error, description) => {
            oauth_error(ctx, status, error, description)
        }
        PollOutcome::Tokens(body) => json_response(ctx, StatusCode::OK, &body),
    }
}

fn poll_locked(inner: &mut Inner, fields: &Fields) -> PollOutcome {
    let (Some(code), Some(client_id)) = (fields.get("device_code"), fields.get("client_id")) else {
        return PollOutcome::Error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing device_code or client_id.",
        );
    };
    let Some(client) = inner.config.oauth.client(client_id).cloned() else {
        return PollOutcome::Error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "Unknown or invalid client_id.",
        );
    };
    let oauth = inner.config.oauth.clone();
    let pending = StatusCode::from_u16(oauth.pending_status).unwrap_or(StatusCode::BAD_REQUEST);
    inner.oauth.counters.polls += 1;
    let now = Instant::now();
    let Some(device) = inner.oauth.device_codes.get_mut(code) else {
        return PollOutcome::Error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid device code.",
        );
    };
    if device.client_id != client_id || device.used {
        return PollOutcome::Error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid device code.",
        );
    }
    if now >= device.expires_at {
        return PollOutcome::Error(
            StatusCode::BAD_REQUEST,
            "expired_token",
            "The device code has expired.",
        );
    }
    device.polls += 1;
    let too_fast = device
        .last_poll
        .is_some_and(|last| now.duration_since(last) < device.interval);
    device.last_poll = Some(now);
    let forced_slow_down = device.polls <= oauth.slow_down_polls;
    if too_fast || forced_slow_down {
        if too_fast {
            inner.oauth.counters.polls_too_fast += 1;
        }
        if forced_slow_down || oauth.enforce_interval {
            let device = inner.oauth.device_codes.get_mut(code).expect("found above");
            device.interval += SLOW_DOWN_STEP;
            inner.oauth.counters.slow_downs += 1;
            return PollOutcome::Error(pending, "slow_down", "Polling too fast; slow down.");
        }
    }
    let device = inner.oauth.device_codes.get_mut(code).expect("found above");
    // Polls that got slow_down do not count towards approval.
    let counted = device.polls.saturating_sub(oauth.slow_down_polls);
    let approved = match client.approve {
        Approval::Deny => {
            return PollOutcome::Error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "The user denied the request.",
            );
        }
        Approval::AfterPolls(n) => counted > n,
        Approval::Manual => device.approved,
    };
    if !approved {
        return PollOutcome::Error(
            pending,
            "authorization_pending",
            "The user has not yet approved the device.",
        );
    }
    let Some(username) = approving_user(inner, &client) else {
        return PollOutcome::Error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No user with a password can approve this device (the device grant is not available to SSO users).",
        );
    };
    let device = inner.oauth.device_codes.get_mut(code).expect("found above");
    device.used = true;
    inner.oauth.counters.device_grants += 1;
    let refresh = new_refresh_token(inner, &client, &username);
    PollOutcome::Tokens(token_answer(inner, &username, Some(&refresh)))
}

/// The user who approves a client's codes: its configured user, else the first with a password.
fn approving_user(inner: &Inner, client: &OAuthClientConfig) -> Option<String> {
    match &client.user {
        Some(u) => inner
            .user(u)
            .filter(|u| u.password.is_some())
            .map(|u| u.username.clone()),
        None => inner
            .config
            .users
            .iter()
            .find(|u| u.password.is_some())
            .map(|u| u.username.clone()),
    }
}

fn new_refresh_token(inner: &mut Inner, client: &OAuthClientConfig, username: &str) -> String {
    let value = random_value(3);
    inner.oauth.refresh_tokens.insert(
        value.clone(),
        RefreshToken {
            client_id: client.client_id.clone(),
            username: username.to_owned(),
            expires_at: client.refresh_token_ttl.map(|ttl| SystemTime::now() + ttl),
            rotated_at: None,
            revoked: false,
        },
    );
    value
}

/// Issues an access token (valid on the API) and builds the token answer.
fn token_answer(inner: &mut Inner, username: &str, refresh: Option<&str>) -> Value {
    let ttl = match (
        inner.config.faults.token_ttl,
        inner.config.oauth.access_token_ttl,
    ) {
        (Some(fault), _) => fault,
        (None, Some(ttl)) => ttl,
        (None, None) => inner.token_ttl(),
    };
    let access = random_value(3);
    inner.tokens.insert(
        access.clone(),
        Token {
            username: username.to_owned(),
            token_id: uuid::Uuid::new_v4().to_string(),
            refresh_token_id: uuid::Uuid::new_v4().to_string(),
            expires_at: SystemTime::now() + ttl,
            logged_out: false,
        },
    );
    inner.oauth.access_tokens.push(access.clone());
    let mut body = json!({
        "access_token": access,
        "id_token": format!("eyJhbGciOiJSUzI1NiJ9.{}.{}", random_value(1), random_value(1)),
        "scope": "openid email offline_access",
        "expires_in": ttl.as_secs().max(1),
        "token_type": "Bearer",
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    body
}

async fn refresh(ctx: &Ctx, fields: &Fields) -> Response {
    let (outcome, hold) = {
        let mut inner = ctx.shared.lock();
        let outcome = refresh_locked(&mut inner, fields);
        let hold = match (&outcome, inner.oauth.hold) {
            (PollOutcome::Tokens(_), Some(RefreshHold::AfterRotation)) => {
                inner.oauth.counters.held += 1;
                Some(inner.oauth.release.subscribe())
            }
            _ => None,
        };
        (outcome, hold)
    };
    if let Some(mut release) = hold {
        // Parked until the test releases it (after killing the client, typically).
        let _ = release.changed().await;
    }
    match outcome {
        PollOutcome::Error(status, error, description) => {
            oauth_error(ctx, status, error, description)
        }
        PollOutcome::Tokens(body) => json_response(ctx, StatusCode::OK, &body),
    }
}

fn refresh_locked(inner: &mut Inner, fields: &Fields) -> PollOutcome {
    let (Some(value), Some(client_id)) = (fields.get("refresh_token"), fields.get("client_id"))
    else {
        return PollOutcome::Error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing refresh_token or client_id.",
        );
    };
    let Some(client) = inner.config.oauth.client(client_id).cloned() else {
        return PollOutcome::Error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "Unknown or invalid client_id.",
        );
    };
    let grace = inner.config.oauth.rotation_grace;
    let echo = inner.config.oauth.echo_non_rotatable;
    let now = SystemTime::now();
    let usable = inner.oauth.refresh_tokens.get(value).is_some_and(|t| {
        t.client_id == client_id
            && !t.revoked
            && t.expires_at.is_none_or(|at| now < at)
            && t.rotated_at.is_none_or(|at| now < at + grace)
    });
    if !usable {
        inner.oauth.counters.refused_refreshes += 1;
        return PollOutcome::Error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Unknown, expired, revoked or already used refresh token.",
        );
    }
    let username = inner.oauth.refresh_tokens[value].username.clone();
    inner.oauth.counters.refreshes += 1;
    let next = if client.rotatable {
        let token = inner.oauth.refresh_tokens.get_mut(value).expect("usable");
        if token.rotated_at.is_none() {
            token.rotated_at = Some(now);
        }
        inner.oauth.counters.rotations += 1;
        Some(new_refresh_token(inner, &client, &username))
    } else {
        echo.then(|| value.to_owned())
    };
    PollOutcome::Tokens(token_answer(inner, &username, next.as_deref()))
}

fn revoke(ctx: &Ctx, fields: &Fields) -> Response {
    let (Some(value), Some(client_id)) = (fields.get("token"), fields.get("client_id")) else {
        return oauth_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing token or client_id.",
        );
    };
    let mut inner = ctx.shared.lock();
    if inner.config.oauth.client(client_id).is_none() {
        drop(inner);
        return unknown_client(ctx);
    }
    if let Some(t) = inner.oauth.refresh_tokens.get_mut(value)
        && t.client_id == client_id
        && !t.revoked
    {
        t.revoked = true;
        inner.oauth.counters.revocations += 1;
    }
    drop(inner);
    // RFC 7009: 200 whether or not the token was known.
    json_response(ctx, StatusCode::OK, &json!({}))
}

impl super::SimulatorHandle {
    /// Approves the device code with this user code (for clients set to manual approval).
    /// False when no such code is waiting.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        let mut inner = self.shared.lock();
        let found = inner
            .oauth
            .device_codes
            .values_mut()
            .find(|d| d.user_code == user_code && !d.used);
        found.map(|d| d.approved = true).is_some()
    }

    /// The user codes handed out so far (they are shown to users, not secret).
    pub fn user_codes(&self) -> Vec<String> {
        let inner = self.shared.lock();
        inner
            .oauth
            .device_codes
            .values()
            .map(|d| d.user_code.clone())
            .collect()
    }

    /// What the OAuth service did so far.
    pub fn oauth_counters(&self) -> OAuthCounters {
        self.shared.lock().oauth.counters.clone()
    }

    /// Every OAuth secret issued so far (device codes, refresh tokens, access tokens), for
    /// tests that check a client never shows them.
    pub fn oauth_secrets(&self) -> Vec<Secret> {
        let inner = self.shared.lock();
        let o = &inner.oauth;
        o.device_codes
            .keys()
            .chain(o.refresh_tokens.keys())
            .chain(o.access_tokens.iter())
            .map(|v| Secret::new(v.clone()))
            .collect()
    }

    /// True when the refresh token would be accepted now.
    pub fn refresh_token_usable(&self, value: &Secret) -> bool {
        let inner = self.shared.lock();
        let grace = inner.config.oauth.rotation_grace;
        let now = SystemTime::now();
        inner
            .oauth
            .refresh_tokens
            .get(value.expose())
            .is_some_and(|t| {
                !t.revoked
                    && t.expires_at.is_none_or(|at| now < at)
                    && t.rotated_at.is_none_or(|at| now < at + grace)
            })
    }

    /// Makes every refresh token issued so far expired.
    pub fn expire_refresh_tokens(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for t in self.shared.lock().oauth.refresh_tokens.values_mut() {
            t.expires_at = Some(past);
        }
    }

    /// Parks successful refresh answers at `hold` (or stops parking with `None`); parked
    /// answers wait for [`SimulatorHandle::release_refreshes`](super::SimulatorHandle::release_refreshes).
    pub fn hold_refreshes(&self, hold: Option<RefreshHold>) {
        self.shared.lock().oauth.hold = hold;
    }

    /// Lets every parked refresh answer go.
    pub fn release_refreshes(&self) {
        let release = std::sync::Arc::clone(&self.shared.lock().oauth.release);
        release.send_modify(|n| *n += 1);
    }

    /// Changes the OAuth settings from now on (clients, rotation grace, ...).
    pub fn set_oauth(&self, oauth: OAuthConfig) {
        self.shared.lock().config.oauth = oauth;
    }
}
