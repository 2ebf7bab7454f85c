//! `bench`: runs an export's download and conversion over a sweep of settings and says which
//! to use.
//!
//! The export task runs once (or a finished one is adopted); every run of the sweep then
//! downloads that same file again, so the model is not asked to export again. Each run is an
//! ordinary measured conversion ([`crate::export::convert_measured`]), so its figures are the
//! stage breakdown an `export` summary shows. The recommendation takes the fastest setting and
//! names the fewest connections that come close to it: beyond that point more connections only
//! add load on Anaplan.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::anaplan::AnaplanClient;
use crate::convert::{Codec, EngineOptions, RunContext};
use crate::error::Result;
use crate::export::{ExportJob, PreparedExport, convert_measured, download_plan};
use crate::shutdown::Shutdown;
use crate::sink::Sink;
use crate::source::meter::DownloadMeter;
use crate::stages::{StageTimes, mb_per_s, secs};

pub mod chart;
mod font;
mod png;
mod recommend;
mod shapes;

pub use chart::{ChartFormat, write_chart};
pub use recommend::{NEAR_BEST, Recommendation, recommend};

/// One measured run of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRun {
    /// Chunks downloaded at once.
    pub concurrency: usize,
    /// Chunk size of the simulated export file (simulator runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    /// Parquet compression codec.
    pub compression: String,
    /// Rows written.
    pub rows: u64,
    /// CSV bytes read.
    pub bytes_in: u64,
    /// Parquet bytes written.
    pub bytes_out: u64,
    /// Wall time of the download and conversion (from listing the chunks to the published
    /// file), seconds.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// `bytes_in` over `elapsed`, MB/s (10^6 bytes): the throughput compared across runs.
    pub mb_per_s: f64,
    /// Where the time went (sign-in and task wait are 0: they happen once, before the sweep).
    pub stages: StageTimes,
}

/// What the sweep varies (for one file: the simulator's chunk size is varied by the caller,
/// one simulated file per size).
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Connection counts, in the order to run them.
    pub concurrency: Vec<usize>,
    /// Codecs, by name.
    pub compression: Vec<(String, Codec)>,
}

/// Runs every setting of `sweep` on the prepared file, one after the other, and reports each
/// run to `on_run` as it ends.
#[allow(clippy::too_many_arguments)]
pub async fn sweep(
    client: &AnaplanClient,
    job: &ExportJob,
    prepared: &PreparedExport,
    chunk_size: Option<u64>,
    sweep: &Sweep,
    options: &EngineOptions,
    destination: &dyn Sink,
    shutdown: &Shutdown,
    on_run: &(dyn Fn(&BenchRun) + Sync),
) -> Result<Vec<BenchRun>> {
    let mut runs = Vec::new();
    for (name, codec) in &sweep.compression {
        for &concurrency in &sweep.concurrency {
            if shutdown.is_triggered() {
                return Err(shutdown.error());
            }
            let mut job = job.clone();
            job.concurrency = concurrency;
            let mut options = options.clone();
            options.parquet.compression = *codec;
            let run = RunContext {
                shutdown: shutdown.child(),
                ..RunContext::default()
            };
            let started = Instant::now();
            let (source, options) = download_plan(client, &job, prepared, options, &run).await?;
            let downloads = DownloadMeter::new();
            let source = source.with_meter(downloads.clone());
            let summary = convert_measured(
                client,
                &source,
                &downloads,
                destination,
                &options,
                &run,
                (Duration::ZERO, Duration::ZERO),
            )
            .await?;
            let elapsed = started.elapsed();
            let bench_run = BenchRun {
                concurrency,
                chunk_size,
                compression: name.clone(),
                rows: summary.rows,
                bytes_in: summary.bytes_in,
                bytes_out: summary.bytes_out,
                elapsed,
                mb_per_s: mb_per_s(summary.bytes_in, elapsed),
                stages: summary.stages.unwrap_or_default(),
            };
            on_run(&bench_run);
            runs.push(bench_run);
        }
    }
    Ok(runs)
}

/// The whole result, as `bench --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// What was measured (the export, or the simulated profile).
    pub target: String,
    /// Signing in, once before the sweep (the first file's, for several simulated files).
    #[serde(serialize_with = "secs")]
    pub sign_in: Duration,
    /// Running (or adopting) the export task, once before the sweep.
    #[serde(serialize_with = "secs")]
    pub task_wait: Duration,
    /// One entry per setting.
    pub runs: Vec<BenchRun>,
    /// The setting to use; `None` when nothing was measured.
    pub recommendation: Option<Recommendation>,
}

impl BenchReport {
    /// The table of runs, a row per setting.
    pub fn table_rows(&self) -> Vec<Vec<String>> {
        self.runs
            .iter()
            .map(|r| {
                let s = &r.stages;
                let d = &s.download;
                vec![
                    r.concurrency.to_string(),
                    r.chunk_size
                        .map_or_else(|| "-".to_owned(), crate::summary::human_bytes),
                    r.compression.clone(),
                    format!("{:.1}", r.mb_per_s),
                    format!("{:.2}", r.elapsed.as_secs_f64()),
                    format!("{:.2}", d.input_wait.as_secs_f64()),
                    s.conversion_cpu
                        .map_or_else(|| "?".to_owned(), |c| format!("{:.2}", c.as_secs_f64())),
                    format!("{:.2}", s.upload.as_secs_f64()),
                    format!(
                        "{:.0}/{:.0}/{:.0}",
                        d.chunk_latency.p50.as_secs_f64() * 1000.0,
                        d.chunk_latency.p95.as_secs_f64() * 1000.0,
                        d.chunk_latency.max.as_secs_f64() * 1000.0
                    ),
                    d.retries.to_string(),
                    s.bottleneck.name().to_owned(),
                ]
            })
            .collect()
    }

    /// The table's header.
    pub const TABLE_HEADER: [&'static str; 11] = [
        "conns",
        "chunk",
        "codec",
        "MB/s",
        "wall s",
        "wait chunks s",
        "CPU s",
        "upload s",
        "chunk ms p50/p95/max",
        "retries",
        "bottleneck",
    ];
}
