//! Fault injection: the `--faults` syntax and the deterministic decisions.
//!
//! Every decision is a hash of `(seed, fault kind, request identity, attempt)`, where the
//! identity is the method and the path with its query, and the attempt counts earlier requests
//! with the same identity. The same client behaviour therefore meets the same faults on every
//! run, whatever the order in which concurrent requests arrive.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::units::{parse_duration, parse_size};

/// The faults to inject, globally (`--faults`) or for one export (its `faults` in the config).
///
/// Syntax: comma-separated `name=value` items, or bare `name` for flags; probabilities are in
/// `[0, 1]`, durations as `units::parse_duration` reads them (`250ms`, `2s`, `1m`), sizes as
/// `units::parse_size` reads them (`64kB` is 64,000 bytes, `64KiB` 65,536). See the
/// [module documentation](super) for the list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    /// `rate-limit=P`: answer 429 with `Retry-After` (seconds or an HTTP date, alternately).
    pub rate_limit: f64,
    /// `retry-after=DURATION`: the wait a 429 asks for (default 1 s).
    pub retry_after: Option<Duration>,
    /// `retry-after-form=seconds|date`: write `Retry-After` only in this form (default: the two
    /// forms alternately).
    pub retry_after_form: Option<RetryAfterForm>,
    /// `server-error=P`: answer 500 or 503.
    pub server_error: f64,
    /// `reset=P`: drop the connection (TCP reset) in the middle of a download body.
    pub reset: f64,
    /// `truncate=P`: end a download body before its `Content-Length`.
    pub truncate: f64,
    /// `slow=P`: trickle a download body at the `trickle` rate.
    pub slow: f64,
    /// `trickle=BYTES`: bytes per second of a slow body (default 64KiB).
    pub trickle: Option<u64>,
    /// `bandwidth=BYTES`: cap every connection at this many bytes per second.
    pub bandwidth: Option<u64>,
    /// `latency=DURATION`: wait this long before answering each request.
    pub latency: Option<Duration>,
    /// `token-ttl=DURATION`: lifetime of new tokens (and of refreshed ones).
    pub token_ttl: Option<Duration>,
    /// `task-fail[=P]`: an export task ends COMPLETE with `successful: false` and a failure dump.
    pub task_fail: f64,
    /// `task-stuck=DURATION`: an export task stays IN_PROGRESS (progress frozen) this much longer.
    pub task_stuck: Option<Duration>,
    /// `task-cancel[=P]`: an export task is cancelled by the server halfway (ends CANCELLED).
    pub task_cancel: f64,
    /// `unknown-enums`: models report `activeState: LOCKED`, each model gains an export of type
    /// `GRID_ALL_PAGES`, and objects carry fields no client knows.
    pub unknown_enums: bool,
}

/// The syntax, for `--help`.
pub const FAULTS_HELP: &str = "\
Faults (--faults, comma-separated; P is a probability in [0,1]):
  rate-limit=P          429 with Retry-After (seconds or an HTTP date, alternately)
  retry-after=DURATION  the wait a 429 asks for (default 1s)
  retry-after-form=F    seconds or date: only that Retry-After form (default: both, alternately)
  server-error=P        500 or 503
  reset=P               TCP reset in the middle of a chunk or file download
  truncate=P            download body cut short of its Content-Length
  slow=P                download body trickled at the trickle rate
  trickle=BYTES         bytes per second of a slow body (default 64KiB)
  bandwidth=BYTES       per-connection cap in bytes per second (e.g. 4MB)
  latency=DURATION      delay before every answer (e.g. 50ms)
  token-ttl=DURATION    token lifetime (default 35m), e.g. 20s for expiry mid-run
  task-fail[=P]         export task ends COMPLETE, successful:false, with a failure dump
  task-stuck=DURATION   export task stays IN_PROGRESS that much longer
  task-cancel[=P]       export task cancelled by the server (ends CANCELLED)
  unknown-enums         LOCKED model state, GRID_ALL_PAGES export, unknown fields
Decisions are a hash of (--seed, request path and query, attempt number): a run replays
exactly under the same seed. 429/5xx apply to /2/0 and /1/3 requests, reset/truncate/slow
to chunk, file and dump downloads.
BYTES: 64kB, 4MB are powers of 1000 (64,000, 4,000,000); 64KiB, 4MiB powers of 1024.
Example: --faults rate-limit=0.05,server-error=0.02,reset=0.01,truncate=0.01,token-ttl=20s";

impl FaultSpec {
    /// True when no fault is set.
    pub fn is_empty(&self) -> bool {
        *self == FaultSpec::default()
    }

    /// This spec with `other`'s settings on top: the larger probability, `other`'s value for
    /// optional settings it sets, either flag.
    pub(crate) fn merged(&self, other: &FaultSpec) -> FaultSpec {
        FaultSpec {
            rate_limit: self.rate_limit.max(other.rate_limit),
            retry_after: other.retry_after.or(self.retry_after),
            retry_after_form: other.retry_after_form.or(self.retry_after_form),
            server_error: self.server_error.max(other.server_error),
            reset: self.reset.max(other.reset),
            truncate: self.truncate.max(other.truncate),
            slow: self.slow.max(other.slow),
            trickle: other.trickle.or(self.trickle),
            bandwidth: other.bandwidth.or(self.bandwidth),
            latency: other.latency.or(self.latency),
            token_ttl: other.token_ttl.or(self.token_ttl),
            task_fail: self.task_fail.max(other.task_fail),
            task_stuck: other.task_stuck.or(self.task_stuck),
            task_cancel: self.task_cancel.max(other.task_cancel),
            unknown_enums: self.unknown_enums || other.unknown_enums,
        }
    }

    /// The wait a 429 asks for.
    pub(crate) fn retry_after(&self) -> Duration {
        self.retry_after.unwrap_or(Duration::from_secs(1))
    }

    /// The trickle rate of a slow body, bytes per second.
    pub(crate) fn trickle(&self) -> u64 {
        self.trickle.unwrap_or(64 * 1024).max(1)
    }
}

impl FromStr for FaultSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut spec = FaultSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let bad = |what: &str| Error::usage(format!("fault `{item}`: {what}"));
            let prob = |v: Option<&str>, default: Option<f64>| -> Result<f64> {
                match v {
                    None => default.ok_or_else(|| bad("needs a probability, e.g. =0.05")),
                    Some(v) => {
                        let p: f64 = v.parse().map_err(|_| bad("not a number"))?;
                        if (0.0..=1.0).contains(&p) {
                            Ok(p)
                        } else {
                            Err(bad("probability must be between 0 and 1"))
                        }
                    }
                }
            };
            let dur = |v: Option<&str>| -> Result<Duration> {
                let v = v.ok_or_else(|| bad("needs a duration, e.g. =2s"))?;
                parse_duration(v).map_err(|e| bad(&e))
            };
            let size = |v: Option<&str>| -> Result<u64> {
                let v = v.ok_or_else(|| bad("needs a size in bytes, e.g. =4MB"))?;
                parse_size(v).map_err(|e| bad(&e))
            };
            match name {
                "rate-limit" => spec.rate_limit = prob(value, None)?,
                "retry-after" => spec.retry_after = Some(dur(value)?),
                "retry-after-form" => {
                    spec.retry_after_form = Some(match value {
                        Some("seconds") => RetryAfterForm::Seconds,
                        Some("date") => RetryAfterForm::Date,
                        _ => return Err(bad("needs `seconds` or `date`")),
                    });
                }
                "server-error" => spec.server_error = prob(value, None)?,
                "reset" => spec.reset = prob(value, None)?,
                "truncate" => spec.truncate = prob(value, None)?,
                "slow" => spec.slow = prob(value, None)?,
                "trickle" => spec.trickle = Some(size(value)?.max(1)),
                "bandwidth" => spec.bandwidth = Some(size(value)?.max(1)),
                "latency" => spec.latency = Some(dur(value)?),
                "token-ttl" => spec.token_ttl = Some(dur(value)?),
                "task-fail" => spec.task_fail = prob(value, Some(1.0))?,
                "task-stuck" => spec.task_stuck = Some(dur(value)?),
                "task-cancel" => spec.task_cancel = prob(value, Some(1.0))?,
                "unknown-enums" => {
                    if value.is_some() {
                        return Err(bad("takes no value"));
                    }
                    spec.unknown_enums = true;
                }
                _ => return Err(bad("unknown fault (see --help)")),
            }
        }
        Ok(spec)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let mut prob = |name: &str, p: f64| {
            if p > 0.0 {
                parts.push(format!("{name}={p}"));
            }
        };
        prob("rate-limit", self.rate_limit);
        prob("server-error", self.server_error);
        prob("reset", self.reset);
        prob("truncate", self.truncate);
        prob("slow", self.slow);
        prob("task-fail", self.task_fail);
        prob("task-cancel", self.task_cancel);
        let d = |d: Duration| humantime::format_duration(d).to_string();
        if let Some(v) = self.retry_after {
            parts.push(format!("retry-after={}", d(v)));
        }
        if let Some(form) = self.retry_after_form {
            parts.push(format!(
                "retry-after-form={}",
                match form {
                    RetryAfterForm::Seconds => "seconds",
                    RetryAfterForm::Date => "date",
                }
            ));
        }
        if let Some(v) = self.trickle {
            parts.push(format!("trickle={v}"));
        }
        if let Some(v) = self.bandwidth {
            parts.push(format!("bandwidth={v}"));
        }
        if let Some(v) = self.latency {
            parts.push(format!("latency={}", d(v)));
        }
        if let Some(v) = self.token_ttl {
            parts.push(format!("token-ttl={}", d(v)));
        }
        if let Some(v) = self.task_stuck {
            parts.push(format!("task-stuck={}", d(v)));
        }
        if self.unknown_enums {
            parts.push("unknown-enums".into());
        }
        f.write_str(&parts.join(","))
    }
}

/// The form of a 429's `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfterForm {
    /// Delta-seconds (`1`).
    Seconds,
    /// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    Date,
}

/// The fault kinds, as counted on the handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// 429 with `Retry-After` in seconds.
    RateLimitSeconds,
    /// 429 with `Retry-After` as an HTTP date.
    RateLimitDate,
    /// 500.
    ServerError500,
    /// 503.
    ServerError503,
    /// Connection reset mid-body.
    Reset,
    /// Body shorter than its `Content-Length`.
    Truncate,
    /// Trickled body.
    Slow,
    /// Task ended COMPLETE with `successful: false`.
    TaskFail,
    /// Task held IN_PROGRESS.
    TaskStuck,
    /// Task cancelled by the server.
    TaskCancel,
}

impl FaultKind {
    /// The name used in `--faults` and logs.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::RateLimitSeconds => "rate-limit (seconds)",
            FaultKind::RateLimitDate => "rate-limit (http-date)",
            FaultKind::ServerError500 => "server-error (500)",
            FaultKind::ServerError503 => "server-error (503)",
            FaultKind::Reset => "reset",
            FaultKind::Truncate => "truncate",
            FaultKind::Slow => "slow",
            FaultKind::TaskFail => "task-fail",
            FaultKind::TaskStuck => "task-stuck",
            FaultKind::TaskCancel => "task-cancel",
        }
    }
}

/// A uniform number in `[0, 1)` decided by `(seed, salt, identity, attempt)`.
pub(crate) fn roll(seed: u64, salt: &str, identity: &str, attempt: u64) -> f64 {
    (hash(seed, salt, identity, attempt) >> 11) as f64 / (1u64 << 53) as f64
}

/// A 64-bit hash of `(seed, salt, identity, attempt)`, stable across runs and Rust versions
/// (FNV-1a then a SplitMix64 finaliser).
pub(crate) fn hash(seed: u64, salt: &str, identity: &str, attempt: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01B3);
        }
        h ^= 0xFF;
        h = h.wrapping_mul(0x0100_0000_01B3);
    };
    eat(&seed.to_le_bytes());
    eat(salt.as_bytes());
    eat(identity.as_bytes());
    eat(&attempt.to_le_bytes());
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let spec: FaultSpec =
            "rate-limit=0.05,server-error=0.02,reset=0.01,truncate=0.01,token-ttl=20s"
                .parse()
                .unwrap();
        assert!((spec.rate_limit - 0.05).abs() < 1e-12);
        assert!((spec.server_error - 0.02).abs() < 1e-12);
        assert!((spec.reset - 0.01).abs() < 1e-12);
        assert!((spec.truncate - 0.01).abs() < 1e-12);
        assert_eq!(spec.token_ttl, Some(Duration::from_secs(20)));
        assert_eq!(spec.to_string().parse::<FaultSpec>().unwrap(), spec);
    }

    #[test]
    fn parses_flags_sizes_and_durations() {
        let spec: FaultSpec =
            "task-fail, task-cancel=0.5, unknown-enums, bandwidth=4MiB, trickle=10KiB, latency=50ms, task-stuck=2s, retry-after-form=date"
                .parse()
                .unwrap();
        assert_eq!(spec.retry_after_form, Some(RetryAfterForm::Date));
        assert_eq!(spec.to_string().parse::<FaultSpec>().unwrap(), spec);
        assert!((spec.task_fail - 1.0).abs() < 1e-12);
        assert!((spec.task_cancel - 0.5).abs() < 1e-12);
        assert!(spec.unknown_enums);
        assert_eq!(spec.bandwidth, Some(4 << 20));
        assert_eq!(spec.trickle, Some(10 << 10));
        assert_eq!(spec.latency, Some(Duration::from_millis(50)));
        assert_eq!(spec.task_stuck, Some(Duration::from_secs(2)));
        assert!("".parse::<FaultSpec>().unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_items() {
        for bad in [
            "rate-limit",
            "rate-limit=2",
            "rate-limit=x",
            "nonsense=1",
            "latency=soon",
            "bandwidth=lots",
            "unknown-enums=1",
            "retry-after-form=minutes",
        ] {
            let err = bad.parse::<FaultSpec>().unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn merge_takes_the_stronger_setting() {
        let a: FaultSpec = "rate-limit=0.1,latency=10ms".parse().unwrap();
        let b: FaultSpec = "rate-limit=0.05,task-fail,latency=20ms".parse().unwrap();
        let m = a.merged(&b);
        assert!((m.rate_limit - 0.1).abs() < 1e-12);
        assert!((m.task_fail - 1.0).abs() < 1e-12);
        assert_eq!(m.latency, Some(Duration::from_millis(20)));
    }

    #[test]
    fn rolls_are_deterministic_and_spread() {
        assert_eq!(hash(1, "a", "GET /x", 0), hash(1, "a", "GET /x", 0));
        assert_ne!(hash(1, "a", "GET /x", 0), hash(2, "a", "GET /x", 0));
        assert_ne!(hash(1, "a", "GET /x", 0), hash(1, "a", "GET /x", 1));
        assert_ne!(hash(1, "a", "GET /x", 0), hash(1, "b", "GET /x", 0));
        assert!((0.0..1.0).contains(&roll(1, "a", "GET /x", 0)));
        let n = 10_000;
        let hits = (0..n).filter(|&i| roll(7, "k", "GET /y", i) < 0.1).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }

    #[test]
    fn sizes_are_decimal_or_binary_as_written() {
        let spec: FaultSpec = "bandwidth=4MB,trickle=64KiB".parse().unwrap();
        assert_eq!(spec.bandwidth, Some(4_000_000));
        assert_eq!(spec.trickle, Some(65_536));
        let spec: FaultSpec = "bandwidth=123".parse().unwrap();
        assert_eq!(spec.bandwidth, Some(123));
        assert!("bandwidth=5 parsecs".parse::<FaultSpec>().is_err());
    }
}
