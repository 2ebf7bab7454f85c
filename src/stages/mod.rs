//! Where an export's time goes: sign-in, the task (Anaplan's own export time), the download,
//! the conversion and the upload, and which of them held the run up.
//!
//! Download, conversion and upload overlap (chunks stream through the engine to the
//! destination), so their wall times do not add up. The bottleneck is decided by waiting: the
//! time the engine waited for its next chunk is charged to the download, the time it spent
//! in the destination's calls to the upload, and the rest of that overlapped span to the
//! conversion. Sign-in and the task run before it, on their own. The stage with the most time
//! charged is the bottleneck.

use std::time::Duration;

use serde::Serialize;

pub mod cpu;

pub use cpu::CpuMeter;

/// Bytes per second in MB/s (10^6 bytes), 0 for no time.
pub fn mb_per_s(bytes: u64, wall: Duration) -> f64 {
    let s = wall.as_secs_f64();
    if s > 0.0 { bytes as f64 / 1e6 / s } else { 0.0 }
}

/// Seconds as a number, rounded to the millisecond.
pub(crate) fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round3(d.as_secs_f64()))
}

#[allow(clippy::ref_option)] // the signature serde's `serialize_with` calls
fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => secs(d, s),
        None => s.serialize_none(),
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round3(d.as_secs_f64() * 1000.0))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A stage of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Signing in.
    SignIn,
    /// Resolving names, running the export task in Anaplan and waiting for it.
    TaskWait,
    /// Downloading the chunks.
    Download,
    /// Decoding, typing and encoding (the engine).
    #[default]
    Conversion,
    /// Writing to the destination.
    Upload,
}

impl Stage {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Stage::SignIn => "sign_in",
            Stage::TaskWait => "task_wait",
            Stage::Download => "download",
            Stage::Conversion => "conversion",
            Stage::Upload => "upload",
        }
    }
}

/// Percentiles of the chunk download latencies (request to last byte, retries included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latencies {
    /// Median, milliseconds.
    #[serde(serialize_with = "millis")]
    pub p50: Duration,
    /// 95th percentile, milliseconds.
    #[serde(serialize_with = "millis")]
    pub p95: Duration,
    /// Slowest, milliseconds.
    #[serde(serialize_with = "millis")]
    pub max: Duration,
}

impl Latencies {
    /// The percentiles of `samples` (nearest rank); zeros for none.
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Latencies::default();
        }
        let mut v = samples.to_vec();
        v.sort_unstable();
        let rank = |p: f64| {
            let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[i - 1]
        };
        Latencies {
            p50: rank(0.50),
            p95: rank(0.95),
            max: v[v.len() - 1],
        }
    }
}

/// The download stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DownloadStage {
    /// Bytes downloaded (every pass).
    pub bytes: u64,
    /// From the first chunk request to the last chunk's arrival, seconds.
    #[serde(serialize_with = "secs")]
    pub wall: Duration,
    /// `bytes` over `wall`, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Chunks downloaded (every pass).
    pub chunks: u64,
    /// Per-chunk latency.
    pub chunk_latency: Latencies,
    /// Retried requests of the client during the run.
    pub retries: u64,
    /// How long the engine waited for its next chunk, seconds.
    #[serde(serialize_with = "secs")]
    pub input_wait: Duration,
}

/// Where an export's time went. Every time is in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// Signing in (0 when the client was already signed in).
    #[serde(serialize_with = "secs")]
    pub sign_in: Duration,
    /// Resolving the names, running the export task and waiting for it: mostly Anaplan's own
    /// export time.
    #[serde(serialize_with = "secs")]
    pub task_wait: Duration,
    /// The download.
    pub download: DownloadStage,
    /// CPU time of the engine's threads (all cores summed); `null` where the platform does
    /// not tell a thread's CPU time.
    #[serde(serialize_with = "opt_secs")]
    pub conversion_cpu: Option<Duration>,
    /// Time spent in the destination's calls (writes and publishing).
    #[serde(serialize_with = "secs")]
    pub upload: Duration,
    /// Wall time of the overlapped download, conversion and upload.
    #[serde(serialize_with = "secs")]
    pub transfer: Duration,
    /// The stage the run spent the most time waiting on (see the module documentation).
    pub bottleneck: Stage,
}

impl StageTimes {
    /// The time charged to each stage, for the bottleneck: download and upload by the
    /// engine's waits, conversion the rest of the transfer.
    pub fn charged(&self) -> [(Stage, Duration); 5] {
        let download = self.download.input_wait.min(self.transfer);
        let upload = self.upload.min(self.transfer.saturating_sub(download));
        let conversion = self.transfer.saturating_sub(download + upload);
        [
            (Stage::SignIn, self.sign_in),
            (Stage::TaskWait, self.task_wait),
            (Stage::Download, download),
            (Stage::Conversion, conversion),
            (Stage::Upload, upload),
        ]
    }

    /// Sets [`StageTimes::bottleneck`] from the charged times.
    pub fn decide(mut self) -> Self {
        self.bottleneck = self
            .charged()
            .into_iter()
            .max_by_key(|(_, d)| *d)
            .map_or(Stage::Conversion, |(s, _)| s);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(ms).collect();
        let l = Latencies::of(&v);
        assert_eq!((l.p50, l.p95, l.max), (ms(50), ms(95), ms(100)));
        let l = Latencies::of(&[ms(7)]);
        assert_eq!((l.p50, l.p95, l.max), (ms(7), ms(7), ms(7)));
        assert_eq!(Latencies::of(&[]), Latencies::default());
    }

    #[test]
    fn the_bottleneck_is_the_stage_with_the_most_time_charged() {
        let mut t = StageTimes {
            sign_in: ms(100),
            task_wait: ms(2000),
            transfer: ms(10_000),
            upload: ms(500),
            ..StageTimes::default()
        };
        t.download.input_wait = ms(8000);
        assert_eq!(t.clone().decide().bottleneck, Stage::Download);
        t.download.input_wait = ms(1000);
        assert_eq!(t.clone().decide().bottleneck, Stage::Conversion);
        t.upload = ms(7000);
        assert_eq!(t.clone().decide().bottleneck, Stage::Upload);
        t.transfer = ms(1000);
        assert_eq!(t.clone().decide().bottleneck, Stage::TaskWait);
        let json = serde_json::to_value(t.decide()).unwrap();
        assert_eq!(json["bottleneck"], "task_wait");
        assert_eq!(json["download"]["input_wait"], 1.0);
    }
}
