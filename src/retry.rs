//! Retry policy: a small config, a classifier for failed attempts, and full-jitter exponential
//! backoff under a total time budget.
//!
//! The HTTP layer ([`crate::anaplan`]) turns every failed attempt into a `Failure`, classified
//! by kind (`FailureKind`), never by its text. A `RetryState`, one per logical request, then
//! decides whether to try again and after how long:
//!
//! - transient failures are retried: 429 (honouring `Retry-After`, as delta-seconds or as an
//!   HTTP date), 408, any 5xx, connection failures, resets, timeouts, broken or short bodies;
//! - everything else (400, 401, 403, 404, ...) is permanent and returned at once;
//! - a request that is not idempotent (the POST that starts an export task) is retried only
//!   when it certainly did not reach the server (connection refused, 429); otherwise the caller
//!   gets the failure and must find out what happened before trying again;
//! - retries stop after [`RetryConfig::max_retries`] or once the next wait would pass
//!   [`RetryConfig::retry_timeout`], measured from the first attempt.
//!
//! Every retry is counted in [`RetryStats`] by reason (for the run summary) and in the run's
//! [`Progress`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::progress::Progress;

/// How requests are retried, and how long each may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Upper bound of the first backoff; it doubles with every retry.
    pub initial_backoff: Duration,
    /// Upper bound of any one backoff (a `Retry-After` from the server may ask for longer).
    pub max_backoff: Duration,
    /// Total time budget of one request, retries included, from its first attempt.
    pub retry_timeout: Duration,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response (idle timeout).
    pub read_timeout: Duration,
    /// Time allowed for one whole attempt, body included.
    pub request_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            retry_timeout: Duration::from_mins(5),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_mins(1),
            request_timeout: Duration::from_mins(5),
        }
    }
}

impl RetryConfig {
    /// The backoff bound before retry number `retry` (0-based): `initial × 2^retry`, capped.
    pub(crate) fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// What went wrong with one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The server answered with an error status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No connection could be made: the request was never sent.
    Connect,
    /// The attempt took too long (connect, idle read or whole request).
    Timeout,
    /// The connection broke: reset, closed early, a body or decoding error.
    Transport,
    /// The body ended before its `Content-Length`.
    ShortBody {
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The server's TLS certificate could not be verified (unknown issuer, wrong name,
    /// expired): never retried, it will not become valid by trying again.
    Certificate,
    /// Anything else (a malformed request, a redirect loop): never retried.
    Other,
}

impl FailureKind {
    /// True when trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            FailureKind::Status { status, .. } => {
                *status == 429 || *status == 408 || (500..600).contains(status)
            }
            FailureKind::Connect
            | FailureKind::Timeout
            | FailureKind::Transport
            | FailureKind::ShortBody { .. } => true,
            FailureKind::Certificate | FailureKind::Other => false,
        }
    }

    /// True when the server certainly did not act on the request, so even a request that is
    /// not idempotent may be sent again.
    pub fn certainly_not_processed(&self) -> bool {
        matches!(
            self,
            FailureKind::Connect | FailureKind::Status { status: 429, .. }
        )
    }

    /// A short label for the run summary's retry counts.
    pub fn reason(&self) -> String {
        match self {
            FailureKind::Status { status: 429, .. } => "rate limited (429)".to_owned(),
            FailureKind::Status { status, .. } => format!("HTTP {status}"),
            FailureKind::Connect => "connection failed".to_owned(),
            FailureKind::Timeout => "timeout".to_owned(),
            FailureKind::Transport => "connection broken".to_owned(),
            FailureKind::ShortBody { .. } => "short body".to_owned(),
            FailureKind::Certificate => "untrusted certificate".to_owned(),
            FailureKind::Other => "other".to_owned(),
        }
    }

    /// The status code, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FailureKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One failed attempt: its kind and a description with no secret and no URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The class of failure.
    pub kind: FailureKind,
    /// What happened, for messages (for a status: the server's message, if any).
    pub detail: String,
}

impl Failure {
    /// A failure of `kind` described by `detail`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// Classifies a `reqwest` error. The URL is stripped from the description.
    pub fn from_reqwest(e: reqwest::Error) -> Self {
        let (connect, timeout) = (e.is_connect(), e.is_timeout());
        let transport = e.is_body() || e.is_decode() || e.is_request();
        let detail = crate::error::error_chain(&e.without_url());
        // rustls says `invalid peer certificate: ...` for every verification failure. The one
        // place a kind is read from text: reqwest has no certificate predicate, and the typed
        // `rustls::Error` (behind an `io::Error`) needs rustls as a direct dependency.
        let kind = if detail.contains("invalid peer certificate") {
            FailureKind::Certificate
        } else if connect {
            FailureKind::Connect
        } else if timeout {
            FailureKind::Timeout
        } else if transport {
            FailureKind::Transport
        } else {
            FailureKind::Other
        };
        Failure::new(kind, detail)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FailureKind::Status { status, .. } if self.detail.is_empty() => {
                write!(f, "HTTP {status}")
            }
            FailureKind::Status { status, .. } => write!(f, "HTTP {status}: {}", self.detail),
            FailureKind::ShortBody { expected, received } => {
                write!(f, "body cut short: received {received} of {expected} bytes")
            }
            _ => f.write_str(&self.detail),
        }
    }
}

/// Parses a `Retry-After` header: delta-seconds (`120`) or an HTTP date. A date in the past
/// means "now". `None` when the value is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(1e9)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Why a request is not retried any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// The failure is not transient.
    Permanent,
    /// The request is not idempotent and may have reached the server.
    Unsafe,
    /// `max_retries` retries were made.
    TooManyRetries,
    /// The next wait would pass the total time budget.
    OutOfTime,
}

/// The retry bookkeeping of one logical request.
#[derive(Debug)]
pub(crate) struct RetryState {
    config: RetryConfig,
    started: Instant,
    retries: u32,
    rng: fastrand::Rng,
}

impl RetryState {
    /// Starts the clock for a request.
    pub fn new(config: &RetryConfig) -> Self {
        RetryState {
            config: config.clone(),
            started: Instant::now(),
            retries: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The same, with a seeded jitter.
    #[cfg(test)]
    fn with_seed(config: &RetryConfig, seed: u64) -> Self {
        RetryState {
            rng: fastrand::Rng::with_seed(seed),
            ..RetryState::new(config)
        }
    }

    /// Retries made so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Time since the first attempt.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// After a failed attempt: how long to wait before the next one, or why not to retry.
    /// Counts the retry when it returns a delay.
    pub fn next_delay(&mut self, kind: &FailureKind, idempotent: bool) -> Result<Duration, GiveUp> {
        if !kind.is_transient() {
            return Err(GiveUp::Permanent);
        }
        if !idempotent && !kind.certainly_not_processed() {
            return Err(GiveUp::Unsafe);
        }
        if self.retries >= self.config.max_retries {
            return Err(GiveUp::TooManyRetries);
        }
        let cap = self.config.backoff_cap(self.retries);
        let jittered = Duration::from_secs_f64(cap.as_secs_f64() * self.rng.f64());
        let delay = match kind {
            // The server said when; a little jitter keeps concurrent clients apart.
            FailureKind::Status {
                retry_after: Some(after),
                ..
            } => *after + jittered.min(Duration::from_millis(250)),
            _ => jittered,
        };
        if self.started.elapsed() + delay > self.config.retry_timeout {
            return Err(GiveUp::OutOfTime);
        }
        self.retries += 1;
        Ok(delay)
    }
}

/// Retry counts by reason, shared by every request of a client, plus the run's progress
/// counters. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RetryStats {
    inner: Arc<Mutex<StatsInner>>,
}

#[derive(Debug, Default)]
struct StatsInner {
    counts: BTreeMap<String, u64>,
    progress: Option<Progress>,
}

impl RetryStats {
    /// Empty counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also counts every retry from now on in `progress`.
    pub fn attach(&self, progress: &Progress) {
        self.lock().progress = Some(progress.clone());
    }

    /// Counts one retry caused by `kind`.
    pub(crate) fn record(&self, kind: &FailureKind) {
        let mut inner = self.lock();
        *inner.counts.entry(kind.reason()).or_default() += 1;
        if let Some(p) = &inner.progress {
            p.add_retry();
        }
    }

    /// Retries so far, by reason, in a stable order.
    pub fn counts(&self) -> Vec<(String, u64)> {
        self.lock()
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Total retries so far.
    pub fn total(&self) -> u64 {
        self.lock().counts.values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StatsInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> FailureKind {
        FailureKind::Status {
            status,
            retry_after: None,
        }
    }

    fn short() -> FailureKind {
        FailureKind::ShortBody {
            expected: 10,
            received: 3,
        }
    }

    #[test]
    fn classifier_table() {
        // (failure, retried when idempotent, retried when not idempotent)
        let table = [
            (status(429), true, true),
            (status(408), true, false),
            (status(500), true, false),
            (status(502), true, false),
            (status(503), true, false),
            (status(504), true, false),
            (status(599), true, false),
            (status(400), false, false),
            (status(401), false, false),
            (status(403), false, false),
            (status(404), false, false),
            (status(405), false, false),
            (status(409), false, false),
            (FailureKind::Connect, true, true),
            (FailureKind::Timeout, true, false),
            (FailureKind::Transport, true, false),
            (short(), true, false),
            (FailureKind::Certificate, false, false),
            (FailureKind::Other, false, false),
        ];
        let config = RetryConfig::default();
        for (kind, idem, non_idem) in table {
            let mut s = RetryState::new(&config);
            assert_eq!(
                s.next_delay(&kind, true).is_ok(),
                idem,
                "{kind:?} idempotent"
            );
            let mut s = RetryState::new(&config);
            assert_eq!(
                s.next_delay(&kind, false).is_ok(),
                non_idem,
                "{kind:?} not idempotent"
            );
        }
        let mut s = RetryState::new(&config);
        assert_eq!(s.next_delay(&status(404), true), Err(GiveUp::Permanent));
        assert_eq!(s.next_delay(&status(500), false), Err(GiveUp::Unsafe));
        assert_eq!(s.retries(), 0);
    }

    #[test]
    fn reasons_are_short_labels() {
        for (kind, label) in [
            (status(429), "rate limited (429)"),
            (status(503), "HTTP 503"),
            (FailureKind::Connect, "connection failed"),
            (FailureKind::Timeout, "timeout"),
            (FailureKind::Transport, "connection broken"),
            (short(), "short body"),
        ] {
            assert_eq!(kind.reason(), label);
        }
    }

    #[test]
    fn retry_after_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        let table: [(&str, Option<Duration>); 7] = [
            ("0", Some(Duration::ZERO)),
            ("7", Some(Duration::from_secs(7))),
            (" 120 ", Some(Duration::from_mins(2))),
            ("1.5", Some(Duration::from_millis(1500))),
            (&in_90s, Some(Duration::from_secs(90))),
            (&past, Some(Duration::ZERO)),
            ("soon", None),
        ];
        for (value, expected) in table {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_cap_doubles_then_saturates() {
        let config = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RetryConfig::default()
        };
        let caps: Vec<u128> = (0..6).map(|r| config.backoff_cap(r).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(config.backoff_cap(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_under_the_cap_and_varies() {
        let config = RetryConfig {
            max_retries: 1000,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            retry_timeout: Duration::from_secs(1_000_000),
            ..RetryConfig::default()
        };
        let mut s = RetryState::with_seed(&config, 7);
        let mut seen = std::collections::HashSet::new();
        for retry in 0..200 {
            let cap = config.backoff_cap(retry);
            let d = s.next_delay(&FailureKind::Transport, true).unwrap();
            assert!(d <= cap, "retry {retry}: {d:?} > {cap:?}");
            seen.insert(d.as_micros());
        }
        assert!(seen.len() > 150, "full jitter should spread the delays");
    }

    #[test]
    fn retry_after_is_honoured() {
        let config = RetryConfig::default();
        let mut s = RetryState::with_seed(&config, 1);
        let kind = FailureKind::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(40)),
        };
        let d = s.next_delay(&kind, true).unwrap();
        // Longer than max_backoff (30 s): the server's word wins while the budget allows.
        assert!(d >= Duration::from_secs(40) && d <= Duration::from_millis(40_250));
    }

    #[test]
    fn max_retries_is_a_hard_limit() {
        let config = RetryConfig {
            max_retries: 3,
            ..RetryConfig::default()
        };
        let mut s = RetryState::new(&config);
        for _ in 0..3 {
            assert!(s.next_delay(&status(503), true).is_ok());
        }
        assert_eq!(
            s.next_delay(&status(503), true),
            Err(GiveUp::TooManyRetries)
        );
        assert_eq!(s.retries(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_budget_counts_from_the_first_attempt() {
        let config = RetryConfig {
            max_retries: 100,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
            retry_timeout: Duration::from_secs(10),
            ..RetryConfig::default()
        };
        let mut s = RetryState::with_seed(&config, 3);
        tokio::time::advance(Duration::from_secs(9)).await;
        // 9 s gone: a wait of up to 1 s may still fit, a Retry-After of 5 s does not.
        let long = FailureKind::Status {
            status: 503,
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(s.next_delay(&long, true), Err(GiveUp::OutOfTime));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            s.next_delay(&FailureKind::Timeout, true),
            Err(GiveUp::OutOfTime)
        );
        assert!(s.elapsed() >= Duration::from_secs(11));
    }

    #[test]
    fn stats_count_by_reason_and_feed_progress() {
        let stats = RetryStats::new();
        let progress = Progress::new();
        stats.record(&status(503));
        stats.attach(&progress);
        stats.record(&status(503));
        stats.record(&FailureKind::Timeout);
        assert_eq!(
            stats.counts(),
            vec![("HTTP 503".to_owned(), 2), ("timeout".to_owned(), 1)]
        );
        assert_eq!(stats.total(), 3);
        assert_eq!(progress.snapshot().retries, 2);
    }

    #[test]
    fn failure_display() {
        assert_eq!(
            Failure::new(status(503), "Service Unavailable").to_string(),
            "HTTP 503: Service Unavailable"
        );
        assert_eq!(Failure::new(status(500), "").to_string(), "HTTP 500");
        assert_eq!(
            Failure::new(short(), "").to_string(),
            "body cut short: received 3 of 10 bytes"
        );
    }
}
