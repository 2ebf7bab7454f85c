//! A meter that watches a run's chunk downloads from outside the engine: bytes, latency, and
//! how long the engine waited for its next piece.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};

use super::{Piece, PieceStream};
use crate::error::Result;
use crate::stages::{DownloadStage, Latencies, mb_per_s};

/// What the chunk downloads of a run did. Cheap to clone; clones share the figures.
#[derive(Clone, Debug, Default)]
pub struct DownloadMeter {
    inner: Arc<Mutex<DownloadFigures>>,
}

#[derive(Debug, Default)]
struct DownloadFigures {
    first_start: Option<Instant>,
    last_end: Option<Instant>,
    bytes: u64,
    latencies: Vec<Duration>,
    input_wait: Duration,
}

impl DownloadMeter {
    /// A meter with nothing counted.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DownloadFigures> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A chunk request starts now; pass the instant to [`DownloadMeter::chunk_done`].
    pub fn chunk_started(&self) -> Instant {
        let now = Instant::now();
        self.lock().first_start.get_or_insert(now);
        now
    }

    /// A chunk of `bytes` bytes arrived whole (retries included in its latency).
    pub fn chunk_done(&self, started: Instant, bytes: u64) {
        let now = Instant::now();
        let mut f = self.lock();
        f.bytes += bytes;
        f.latencies.push(now - started);
        f.last_end = Some(f.last_end.map_or(now, |t| t.max(now)));
    }

    /// The engine waited this long for its next piece.
    pub fn add_input_wait(&self, waited: Duration) {
        self.lock().input_wait += waited;
    }

    /// `stream`, counting how long its reader waits for each piece.
    pub fn watch(&self, stream: PieceStream) -> PieceStream {
        WaitTimed {
            inner: stream,
            waiting_since: None,
            meter: self.clone(),
        }
        .boxed()
    }

    /// The figures so far; `retries` come from the client's counts.
    pub fn stage(&self, retries: u64) -> DownloadStage {
        let f = self.lock();
        let wall = match (f.first_start, f.last_end) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        DownloadStage {
            bytes: f.bytes,
            wall,
            mb_per_s: mb_per_s(f.bytes, wall),
            chunks: f.latencies.len() as u64,
            chunk_latency: Latencies::of(&f.latencies),
            retries,
            input_wait: f.input_wait,
        }
    }
}

/// See [`DownloadMeter::watch`].
struct WaitTimed {
    inner: PieceStream,
    waiting_since: Option<Instant>,
    meter: DownloadMeter,
}

impl Stream for WaitTimed {
    type Item = Result<Piece>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => {
                this.waiting_since.get_or_insert_with(Instant::now);
                Poll::Pending
            }
            Poll::Ready(item) => {
                if let Some(since) = this.waiting_since.take() {
                    this.meter.add_input_wait(since.elapsed());
                }
                Poll::Ready(item)
            }
        }
    }
}
