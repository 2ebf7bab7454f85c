//! Rounds: run ids, and the wait before the next round of `run --every`.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// The largest share of the period added as jitter.
pub const JITTER_FRACTION: f64 = 0.05;
/// The most jitter added, whatever the period.
pub const MAX_JITTER: Duration = Duration::from_mins(5);

/// A run id: the UTC start time and a random suffix, `20261124T053000Z-3f9a1c0d`. Sorts by
/// time; two runs started in the same second still differ.
pub fn run_id(at: SystemTime) -> String {
    format!(
        "{}-{:08x}",
        DateTime::<Utc>::from(at).format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    )
}

/// RFC 3339 UTC time to the second.
pub fn rfc3339(at: SystemTime) -> String {
    DateTime::<Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How long to wait after a round that took `took`, for rounds starting every `every`: the
/// rest of the period (nothing when the round overran it) plus a jitter of up to
/// [`JITTER_FRACTION`] of the period (at most [`MAX_JITTER`]), scaled by `random` in `[0, 1)`,
/// so that many schedulers started together do not hit Anaplan at the same instant.
pub fn next_delay(every: Duration, took: Duration, random: f64) -> Duration {
    let jitter = every
        .mul_f64(JITTER_FRACTION)
        .min(MAX_JITTER)
        .mul_f64(random.clamp(0.0, 1.0));
    every.saturating_sub(took) + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        let h = Duration::from_hours(1);
        // (every, took, random, expected)
        let cases = [
            (h, Duration::from_mins(10), 0.0, Duration::from_mins(50)),
            (h, Duration::from_mins(10), 1.0, Duration::from_mins(53)),
            (h, Duration::from_mins(70), 0.5, Duration::from_secs(90)),
            (
                Duration::from_hours(24),
                Duration::ZERO,
                1.0,
                Duration::from_mins(24 * 60 + 5),
            ),
            (
                Duration::from_secs(10),
                Duration::ZERO,
                1.0,
                Duration::from_millis(10_500),
            ),
        ];
        for (every, took, random, want) in cases {
            assert_eq!(
                next_delay(every, took, random),
                want,
                "{every:?} {took:?} {random}"
            );
        }
    }

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let a = run_id(t);
        let b = run_id(t);
        assert!(a.starts_with("20250615T150640Z-"), "{a}");
        assert_eq!(a.len(), "20250615T150640Z-".len() + 8);
        assert_ne!(a, b);
        assert!(run_id(t + Duration::from_secs(1)) > a);
        assert_eq!(rfc3339(t), "2025-06-15T15:06:40Z");
    }
}
