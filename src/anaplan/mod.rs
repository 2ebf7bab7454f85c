//! The Anaplan client: authentication, discovery, export tasks and chunk downloads.
//!
//! One [`AnaplanClient`] serves a whole run. It holds one `reqwest::Client` (connection pool,
//! rustls, gzip) built once with a connect and an idle-read timeout, plus a whole-request
//! timeout set on every call; one token (`auth`); and the retry policy ([`crate::RetryConfig`]).
//! Every call goes through one method (`call`), which adds the credentials, retries what is
//! transient, signs in again on a 401, and turns what is left into an [`Error`] whose variant
//! says what happened (not found, refused, gave up after retries) and whose payload carries
//! the details ([`crate::error::NotFound`], ...). URLs never carry a secret, and errors are
//! built without URLs from reqwest.
//!
//! | module | job |
//! |---|---|
//! | `auth` | credentials, sign-in (basic and CA certificate), token refresh, logout |
//! | [`oauth`] | OAuth 2.0: the device grant (`login`), refresh tokens and their token file |
//! | [`model`] | the API's JSON, read leniently (open enums, v2.0 envelope or v1.3 bare) |
//! | `discovery` | workspaces, models, exports, files, chunks; paging; names or ids |
//! | `lenient` | the one lenient field reader behind [`model`] |
//! | [`task`] | starting, polling and cancelling export tasks; failure dumps |
//! | [`views`] | modules, views, lists: discovery and metadata, names or ids |
//! | [`reads`] | large-volume read requests of views and lists; the transactional reads |
//!
//! The client knows nothing of CSV parsing, Parquet or destinations: the export use case
//! ([`crate::export`]) drives it, and [`crate::source::export`] reads an export's chunks
//! through it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER, USER_AGENT};
use url::Url;

use crate::error::{ApiError, Error, NotFound, Result, RetriesExhausted, Spent, Unauthenticated};
use crate::retry::{Failure, FailureKind, GiveUp, RetryConfig, RetryState, RetryStats};
use crate::secret::Secret;
use crate::shutdown::Shutdown;

mod auth;
pub(crate) mod discovery;
mod lenient;
pub mod model;
pub mod oauth;
pub mod reads;
pub mod task;
pub mod views;

pub use auth::{CertificateCredentials, Credentials};
pub use oauth::{DEFAULT_OAUTH_URL, OAuthCredentials, RefreshSource};

/// The default Integration API host.
pub const DEFAULT_API_URL: &str = "https://api.anaplan.com";
/// The default authentication service host.
pub const DEFAULT_AUTH_URL: &str = "https://auth.anaplan.com";

/// Which Integration API to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/2/0`: token authentication, enveloped JSON, paging.
    #[default]
    V2,
    /// `/1/3` (legacy): Basic credentials on every request, bare JSON.
    V1_3,
}

impl ApiVersion {
    /// The path prefix segments (`2/0` or `1/3`).
    fn segments(self) -> [&'static str; 2] {
        match self {
            ApiVersion::V2 => ["2", "0"],
            ApiVersion::V1_3 => ["1", "3"],
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiVersion::V2 => "2.0",
            ApiVersion::V1_3 => "1.3",
        })
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "2.0" | "2" | "2/0" | "v2" => Ok(ApiVersion::V2),
            "1.3" | "1/3" | "v1.3" => Ok(ApiVersion::V1_3),
            other => Err(Error::usage(format!(
                "unknown API version {other:?}: use 2.0 or 1.3"
            ))),
        }
    }
}

/// Everything needed to talk to Anaplan, validated.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Integration API base URL (`https://api.anaplan.com`, a regional host, or a simulator).
    pub api_url: String,
    /// Authentication service base URL.
    pub auth_url: String,
    /// API version.
    pub api_version: ApiVersion,
    /// Who signs in.
    pub credentials: Credentials,
    /// Retries and timeouts.
    pub retry: RetryConfig,
    /// Items per page of list calls (`limit`); the server's default (5000) when `None`.
    pub page_size: Option<u32>,
}

impl ConnectionConfig {
    /// A configuration with the default hosts, API 2.0 and default retries.
    pub fn new(credentials: Credentials) -> Self {
        ConnectionConfig {
            api_url: DEFAULT_API_URL.to_owned(),
            auth_url: DEFAULT_AUTH_URL.to_owned(),
            api_version: ApiVersion::V2,
            credentials,
            retry: RetryConfig::default(),
            page_size: None,
        }
    }
}

/// The client. Cheap to clone: clones share the connection pool, the token and the retry
/// counts.
#[derive(Clone)]
pub struct AnaplanClient {
    inner: Arc<Inner>,
}

/// Where and who, and the secrets it holds, each shown by [`Secret`]'s own `Debug` (which
/// redacts): nothing here redacts by hand, so `Secret` is the one place that must.
impl fmt::Debug for AnaplanClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self
            .inner
            .tokens
            .try_lock()
            .ok()
            .and_then(|state| state.token.clone());
        f.debug_struct("AnaplanClient")
            .field("api", &self.inner.api_base.as_str())
            .field("auth", &self.inner.auth_base.as_str())
            .field("version", &self.inner.version)
            .field("credentials", &self.inner.credentials)
            .field("basic", &self.inner.basic)
            .field("token", &token)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    auth_base: Url,
    version: ApiVersion,
    credentials: Credentials,
    /// v1.3 only: the Basic header sent on every request.
    basic: Option<Secret>,
    retry: RetryConfig,
    stats: RetryStats,
    page_size: Option<u32>,
    tokens: tokio::sync::Mutex<auth::TokenState>,
    /// Calls give up (as [`Error::Cancelled`]) once this is triggered.
    shutdown: std::sync::Mutex<Option<Shutdown>>,
}

/// How a call authenticates.
#[derive(Clone)]
pub(crate) enum CallAuth {
    /// The run's credentials: the token (v2.0) or Basic (v1.3).
    Api,
    /// A fixed `Authorization` value (sign-in, refresh, logout).
    Header(Secret),
}

/// One logical request.
#[derive(Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub body: Option<serde_json::Value>,
    /// Safe to send twice (GET, DELETE of a task, sign-in).
    pub idempotent: bool,
    /// What the call does, for messages (`list the models of workspace X`).
    pub what: String,
    pub auth: CallAuth,
    /// Whether a stop request ([`AnaplanClient::stop_on`]) ends the call early.
    pub interrupt: Interrupt,
}

/// Where a stop request may end a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// Anywhere: while a request is in flight or between attempts (reads).
    Anywhere,
    /// Only before an attempt and while waiting to retry: a request that may change something
    /// in Anaplan (starting a task) is never cut off with its outcome unknown.
    BetweenAttempts,
    /// Never: the calls made while stopping (cancelling a task, logging out).
    Never,
}

impl Call {
    pub(crate) fn get(url: Url, what: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            url,
            body: None,
            idempotent: true,
            what: what.into(),
            auth: CallAuth::Api,
            interrupt: Interrupt::Anywhere,
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: Bytes,
}

/// Why a call failed, before it becomes an [`Error`].
#[derive(Debug)]
pub(crate) enum CallError {
    /// The last attempt failed and no retry is left (or allowed).
    GaveUp {
        failure: Failure,
        why: GiveUp,
        retries: u32,
        elapsed: Duration,
    },
    /// Nothing to retry: signing in failed, the credentials were rejected, ...
    Fatal(Error),
}

/// How many times one call may meet a 401 and sign in again (or take the token another call
/// just got). More than once: with many requests in flight, the new token can itself be
/// rejected (expired or revoked again) before this call's retry reaches Anaplan. Bad
/// credentials still end the call at the first failed sign-in.
const MAX_REAUTHENTICATIONS: u32 = 3;

/// The User-Agent sent on every request.
const AGENT: &str = concat!("anaplan-parquet/", env!("CARGO_PKG_VERSION"));

impl AnaplanClient {
    /// Builds the client. Nothing is sent until the first call; credentials are checked
    /// (certificate against key) by the caller when building [`Credentials`].
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let api_root = parse_base_url(&config.api_url, "--api-url")?;
        let auth_base = parse_base_url(&config.auth_url, "--auth-url")?;
        if let Credentials::OAuth(c) = &config.credentials {
            parse_base_url(&c.oauth_url, "--oauth-url")?;
        }
        let mut api_base = api_root;
        api_base
            .path_segments_mut()
            .map_err(|()| Error::usage("--api-url cannot be a base URL"))?
            .extend(config.api_version.segments());
        let basic = match (&config.credentials, config.api_version) {
            (Credentials::Basic { username, password }, ApiVersion::V1_3) => {
                Some(auth::basic_header(username, password))
            }
            (Credentials::Certificate(_), ApiVersion::V1_3) => {
                return Err(Error::usage(
                    "API 1.3 supports only basic authentication (user name and password); use \
                     --api-version 2.0 with a certificate",
                ));
            }
            (Credentials::OAuth(_), ApiVersion::V1_3) => {
                return Err(Error::usage(
                    "API 1.3 supports only basic authentication (user name and password); use \
                     --api-version 2.0 with OAuth",
                ));
            }
            _ => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(config.retry.connect_timeout)
            .read_timeout(config.retry.read_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(AnaplanClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                auth_base,
                version: config.api_version,
                credentials: config.credentials,
                basic,
                retry: config.retry,
                stats: RetryStats::new(),
                page_size: config.page_size,
                tokens: tokio::sync::Mutex::new(auth::TokenState::default()),
                shutdown: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The API version in use.
    pub fn api_version(&self) -> ApiVersion {
        self.inner.version
    }

    /// Retry counts of every call made so far (shared by all clones).
    pub fn retry_stats(&self) -> &RetryStats {
        &self.inner.stats
    }

    /// From now on (for every clone), calls give up with [`Error::Cancelled`] once `shutdown`
    /// is triggered, instead of finishing their request or waiting out a retry (a `Retry-After`
    /// may ask for minutes). Starting a task is never cut off mid-request; cancelling a task
    /// and logging out still go through.
    pub fn stop_on(&self, shutdown: &Shutdown) {
        *self
            .inner
            .shutdown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(shutdown.clone());
    }

    fn stop_signal(&self, interrupt: Interrupt) -> Option<Shutdown> {
        if interrupt == Interrupt::Never {
            return None;
        }
        self.inner
            .shutdown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `{api}/{version}/{segments...}`.
    pub(crate) fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.api_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `{auth}/{segments...}`.
    pub(crate) fn auth_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.auth_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends a call with retries; the body of a 2xx answer, or a semantic error.
    pub(crate) async fn call(&self, call: &Call) -> Result<Reply> {
        self.call_raw(call)
            .await
            .map_err(|e| call_error(&call.what, e))
    }

    /// GET returning JSON.
    pub(crate) async fn get_json(&self, url: Url, what: &str) -> Result<serde_json::Value> {
        let reply = self.call(&Call::get(url, what)).await?;
        parse_json(&reply.body, what)
    }

    /// Sends a call with retries, keeping the failure when it gives up.
    pub(crate) async fn call_raw(&self, call: &Call) -> Result<Reply, CallError> {
        let mut state = RetryState::new(&self.inner.retry);
        let mut reauthentications = 0;
        let stop = self.stop_signal(call.interrupt);
        loop {
            if let Some(stop) = &stop
                && stop.is_triggered()
            {
                return Err(CallError::Fatal(stop.error()));
            }
            let (header, generation) = match &call.auth {
                CallAuth::Header(h) => (h.clone(), None),
                CallAuth::Api => {
                    if let Some(basic) = &self.inner.basic {
                        (basic.clone(), None)
                    } else {
                        let token = self.token().await.map_err(CallError::Fatal)?;
                        (
                            Secret::new(format!("AnaplanAuthToken {}", token.value.expose())),
                            Some(token.generation),
                        )
                    }
                }
            };
            let attempt = self.attempt(call, &header);
            let outcome = match &stop {
                Some(stop) if call.interrupt == Interrupt::Anywhere => tokio::select! {
                    biased;
                    () = stop.triggered() => return Err(CallError::Fatal(stop.error())),
                    outcome = attempt => outcome,
                },
                _ => attempt.await,
            };
            let failure = match outcome {
                Ok(reply) => return Ok(reply),
                Err(f) => f,
            };
            if failure.kind.status() == Some(401)
                && let Some(generation) = generation
                && reauthentications < MAX_REAUTHENTICATIONS
            {
                reauthentications += 1;
                tracing::info!(
                    "{}: the token was rejected (401); signing in again",
                    call.what
                );
                self.reauthenticate(generation)
                    .await
                    .map_err(CallError::Fatal)?;
                continue;
            }
            match state.next_delay(&failure.kind, call.idempotent) {
                Ok(delay) => {
                    self.inner.stats.record(&failure.kind);
                    tracing::info!(
                        "{}: {failure}; retry {} of {} in {:.1}s",
                        call.what,
                        state.retries(),
                        self.inner.retry.max_retries,
                        delay.as_secs_f64()
                    );
                    match &stop {
                        Some(stop) => tokio::select! {
                            () = stop.triggered() => return Err(CallError::Fatal(stop.error())),
                            () = tokio::time::sleep(delay) => {}
                        },
                        None => tokio::time::sleep(delay).await,
                    }
                }
                Err(why) => {
                    return Err(CallError::GaveUp {
                        failure,
                        why,
                        retries: state.retries(),
                        elapsed: state.elapsed(),
                    });
                }
            }
        }
    }

    /// One attempt: send, read the whole body, check its length.
    async fn attempt(&self, call: &Call, authorization: &Secret) -> Result<Reply, Failure> {
        let mut auth = HeaderValue::from_str(authorization.expose()).map_err(|_| {
            Failure::new(
                FailureKind::Other,
                "the credentials are not valid header text",
            )
        })?;
        auth.set_sensitive(true);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, auth)
            .header(USER_AGENT, AGENT)
            .timeout(self.inner.retry.request_timeout);
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        if let Some(accept) = reads::csv_accept(&call.url) {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        let response = request.send().await.map_err(Failure::from_reqwest)?;
        let status = response.status();
        let expected = response.content_length();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()));
        let body = read_body(response, expected).await?;
        if status.is_success() {
            if let Some(expected) = expected
                && expected != body.len() as u64
            {
                return Err(Failure::new(
                    FailureKind::ShortBody {
                        expected,
                        received: body.len() as u64,
                    },
                    "",
                ));
            }
            return Ok(Reply { body });
        }
        let detail = model::error_message(&body)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned());
        Err(Failure::new(
            FailureKind::Status {
                status: status.as_u16(),
                retry_after,
            },
            detail,
        ))
    }
}

/// Reads a response body into one buffer, copying each frame as it arrives.
///
/// `Response::bytes` keeps every frame hyper hands over and joins them at the end; on a slow
/// connection the frames are small and each one pins a read buffer many times its size, which
/// was measured to take a 4 MB chunk trickling at 4 MB/s to 150 MB of memory. Copying frames
/// into a buffer sized from `Content-Length` (capped, in case the header lies) frees hyper's
/// buffers at once and holds the body in one allocation.
async fn read_body(
    mut response: reqwest::Response,
    expected: Option<u64>,
) -> Result<Bytes, Failure> {
    const MAX_PRESIZE: u64 = 64 << 20;
    let capacity = expected.map_or(64 << 10, |n| n.min(MAX_PRESIZE)) as usize;
    let mut body = Vec::with_capacity(capacity);
    while let Some(frame) = response.chunk().await.map_err(Failure::from_reqwest)? {
        body.extend_from_slice(&frame);
    }
    Ok(body.into())
}

/// Turns a call's failure into the error the user sees: the variant from the failure's kind
/// and why it was not retried, never from its text.
pub(crate) fn call_error(what: &str, e: CallError) -> Error {
    let call = what.to_owned();
    match e {
        CallError::Fatal(e) => e,
        CallError::GaveUp {
            failure,
            why: GiveUp::TooManyRetries | GiveUp::OutOfTime,
            retries,
            elapsed,
        } => RetriesExhausted {
            call,
            spent: Some(Spent { retries, elapsed }),
            last: failure.to_string(),
        }
        .into(),
        CallError::GaveUp { failure, .. } => match failure.kind {
            FailureKind::Status { status: 404, .. } => NotFound::Call {
                call,
                message: failure.detail,
            }
            .into(),
            FailureKind::Status { status: 401, .. } => Unauthenticated::Rejected {
                call,
                message: failure.detail,
            }
            .into(),
            FailureKind::Status { status, .. } => ApiError::Status {
                call,
                status,
                message: failure.detail,
            }
            .into(),
            FailureKind::Certificate => Error::Usage(format!(
                "{what}: the server's TLS certificate cannot be verified ({failure}); check \
                 --api-url and --auth-url, or the proxy between here and Anaplan"
            )),
            FailureKind::Other => Error::Internal(format!("{what}: {failure}")),
            // Transient, but not retried: a request that must not be sent twice.
            FailureKind::Connect
            | FailureKind::Timeout
            | FailureKind::Transport
            | FailureKind::ShortBody { .. } => {
                RetriesExhausted::new(call, failure.to_string()).into()
            }
        },
    }
}

/// An [`Error::Unauthenticated`]: signing in with `call` was refused for `reason`.
pub(crate) fn sign_in_refused(call: impl Into<String>, reason: impl Into<String>) -> Error {
    Unauthenticated::SignIn {
        call: call.into(),
        reason: reason.into(),
    }
    .into()
}

/// An [`Error::Api`] for an answer of `call` that cannot be read.
pub(crate) fn bad_answer(call: impl Into<String>, problem: impl Into<String>) -> Error {
    ApiError::Answer {
        call: call.into(),
        problem: problem.into(),
    }
    .into()
}

/// Parses a JSON answer.
pub(crate) fn parse_json(body: &[u8], what: &str) -> Result<serde_json::Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| bad_answer(what, format!("the answer is not JSON: {e}")))
}

/// Parses a base URL given by the user: http(s), no credentials in it, trailing `/2/0` or
/// `/1/3` tolerated (the version is added by the client).
fn parse_base_url(raw: &str, flag: &str) -> Result<Url> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| Error::usage(format!("{flag} {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::usage(format!("{flag} must be an http or https URL")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::usage(format!(
            "{flag} must not contain credentials; use the username and password options"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = path
        .strip_suffix("/2/0")
        .or_else(|| path.strip_suffix("/1/3"))
        .unwrap_or(&path)
        .to_owned();
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(api: &str, version: ApiVersion) -> AnaplanClient {
        let mut config = ConnectionConfig::new(Credentials::Basic {
            username: "u@example.com".into(),
            password: Secret::new("hunter2-secret"),
        });
        api.clone_into(&mut config.api_url);
        config.api_version = version;
        AnaplanClient::new(config).unwrap()
    }

    #[test]
    fn urls_are_built_from_segments() {
        for (base, version, expected) in [
            (
                "https://api.anaplan.com",
                ApiVersion::V2,
                "https://api.anaplan.com/2/0/workspaces/w%2F1/models",
            ),
            (
                "https://api.anaplan.com/",
                ApiVersion::V2,
                "https://api.anaplan.com/2/0/workspaces/w%2F1/models",
            ),
            (
                "https://api.anaplan.com/2/0/",
                ApiVersion::V2,
                "https://api.anaplan.com/2/0/workspaces/w%2F1/models",
            ),
            (
                "http://127.0.0.1:9999/prefix",
                ApiVersion::V1_3,
                "http://127.0.0.1:9999/prefix/1/3/workspaces/w%2F1/models",
            ),
        ] {
            let c = client(base, version);
            assert_eq!(
                c.api_url(&["workspaces", "w/1", "models"]).as_str(),
                expected,
                "{base}"
            );
        }
        let c = client("https://api.anaplan.com", ApiVersion::V2);
        assert_eq!(
            c.auth_url(&["token", "authenticate"]).as_str(),
            "https://auth.anaplan.com/token/authenticate"
        );
    }

    #[test]
    fn base_urls_are_checked() {
        for (raw, ok) in [
            ("https://api.anaplan.com", true),
            ("http://127.0.0.1:1234", true),
            ("ftp://x", false),
            ("api.anaplan.com", false),
            ("https://user:pw@api.anaplan.com", false),
        ] {
            assert_eq!(parse_base_url(raw, "--api-url").is_ok(), ok, "{raw}");
        }
        let err = parse_base_url("https://user:hunter2@x", "--api-url").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn certificates_need_api_2() {
        let creds = CertificateCredentials::from_pem(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/client/cert.pem"
            ))
            .unwrap(),
            &Secret::new(
                std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/client/key-pkcs8.pem"
                ))
                .unwrap(),
            ),
            None,
        )
        .unwrap();
        let mut config = ConnectionConfig::new(Credentials::Certificate(Box::new(creds)));
        config.api_version = ApiVersion::V1_3;
        assert!(matches!(AnaplanClient::new(config), Err(Error::Usage(_))));
    }

    #[test]
    fn call_errors_map_to_semantic_variants() {
        let gave_up = |status: u16, why| CallError::GaveUp {
            failure: Failure::new(
                FailureKind::Status {
                    status,
                    retry_after: None,
                },
                "msg",
            ),
            why,
            retries: 3,
            elapsed: Duration::from_secs(2),
        };
        let call = || "do a thing".to_owned();
        let message = || "msg".to_owned();
        // (failure, the error it becomes, its message, its exit code)
        let table: [(CallError, Error, &str, u8); 7] = [
            (
                gave_up(404, GiveUp::Permanent),
                NotFound::Call {
                    call: call(),
                    message: message(),
                }
                .into(),
                "do a thing: not found, or no access (HTTP 404: msg)",
                4,
            ),
            (
                gave_up(401, GiveUp::Permanent),
                Unauthenticated::Rejected {
                    call: call(),
                    message: message(),
                }
                .into(),
                "authentication failed: do a thing: Anaplan rejected the credentials (HTTP 401: msg)",
                3,
            ),
            (
                gave_up(403, GiveUp::Permanent),
                ApiError::Status {
                    call: call(),
                    status: 403,
                    message: message(),
                }
                .into(),
                "do a thing: permission denied (HTTP 403: msg)",
                4,
            ),
            (
                gave_up(400, GiveUp::Permanent),
                ApiError::Status {
                    call: call(),
                    status: 400,
                    message: message(),
                }
                .into(),
                "do a thing: HTTP 400: msg",
                4,
            ),
            (
                gave_up(503, GiveUp::TooManyRetries),
                RetriesExhausted {
                    call: call(),
                    spent: Some(Spent {
                        retries: 3,
                        elapsed: Duration::from_secs(2),
                    }),
                    last: "HTTP 503: msg".into(),
                }
                .into(),
                "do a thing: gave up after 3 retries in 2.0s; last error: HTTP 503: msg",
                7,
            ),
            (
                CallError::GaveUp {
                    failure: Failure::new(FailureKind::Timeout, "operation timed out"),
                    why: GiveUp::Unsafe,
                    retries: 0,
                    elapsed: Duration::ZERO,
                },
                RetriesExhausted::new(call(), "operation timed out").into(),
                "do a thing: operation timed out",
                7,
            ),
            (
                CallError::GaveUp {
                    failure: Failure::new(FailureKind::Other, "redirect loop"),
                    why: GiveUp::Permanent,
                    retries: 0,
                    elapsed: Duration::ZERO,
                },
                Error::Internal("do a thing: redirect loop".into()),
                "internal error: do a thing: redirect loop",
                1,
            ),
        ];
        for (failure, expected, text, code) in table {
            let err = call_error("do a thing", failure);
            assert_eq!(format!("{err:?}"), format!("{expected:?}"));
            assert_eq!(err.to_string(), text);
            assert_eq!(err.exit_class().code(), code, "{err}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let c = client("https://api.anaplan.com", ApiVersion::V1_3);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("aHVudGVy"),
            "{debug}"
        );
        assert!(debug.contains("u@example.com"));
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!("2.0".parse::<ApiVersion>().unwrap(), ApiVersion::V2);
        assert_eq!("1.3".parse::<ApiVersion>().unwrap(), ApiVersion::V1_3);
        assert!("3.0".parse::<ApiVersion>().is_err());
    }
}
