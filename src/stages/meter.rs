//! Meters that watch a run from outside the engine: the chunk downloads (bytes, latency, how
//! long the engine waited for its next piece) and the destination's writes (how long the
//! engine waited for the upload).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};

use super::{DownloadStage, Latencies};
use crate::error::Result;
use crate::sink::{Sink, SinkWriter, Written};
use crate::source::{Piece, PieceStream};

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

/// Bytes per second in MB/s (10^6 bytes), 0 for no time.
pub fn mb_per_s(bytes: u64, wall: Duration) -> f64 {
    let s = wall.as_secs_f64();
    if s > 0.0 { bytes as f64 / 1e6 / s } else { 0.0 }
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

/// Time the engine spent in the destination's calls (writes, flush, publishing). Cheap to
/// clone; clones share the total.
#[derive(Clone, Debug, Default)]
pub struct UploadMeter {
    nanos: Arc<std::sync::atomic::AtomicU64>,
}

impl UploadMeter {
    /// A meter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, d: Duration) {
        self.nanos
            .fetch_add(d.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// The time counted so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn time<T>(&self, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.add(started.elapsed());
        out
    }
}

/// A destination whose calls are timed into an [`UploadMeter`].
pub struct TimedSink<'a> {
    inner: &'a dyn Sink,
    meter: UploadMeter,
}

impl<'a> TimedSink<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Sink, meter: UploadMeter) -> Self {
        TimedSink { inner, meter }
    }
}

impl Sink for TimedSink<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn begin<'a>(&'a self, schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>> {
        Box::pin(async move {
            let inner = self.meter.time(self.inner.begin(schema)).await?;
            let writer: Box<dyn SinkWriter> = Box::new(TimedWriter {
                inner,
                meter: self.meter.clone(),
            });
            Ok(writer)
        })
    }

    fn local_paths(&self) -> Vec<std::path::PathBuf> {
        self.inner.local_paths()
    }

    fn observes_batches(&self) -> bool {
        self.inner.observes_batches()
    }
}

struct TimedWriter {
    inner: Box<dyn SinkWriter>,
    meter: UploadMeter,
}

impl SinkWriter for TimedWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        let meter = self.meter.clone();
        let fut = self.inner.write(data);
        Box::pin(async move { meter.time(fut).await })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        let meter = self.meter.clone();
        let fut = self.inner.flush();
        Box::pin(async move { meter.time(fut).await })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        let TimedWriter { inner, meter } = *self;
        let fut = inner.commit();
        Box::pin(async move { meter.time(fut).await })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        self.inner.abort()
    }

    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner.observe(batch)
    }
}

/// A destination that keeps nothing (`bench --discard`): the engine writes the whole file,
/// the bytes are counted and dropped, so a run measures download and conversion alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardSink;

/// What [`DiscardSink`] reports as its location.
pub const DISCARDED: &str = "(discarded)";

impl Sink for DiscardSink {
    fn describe(&self) -> String {
        DISCARDED.to_owned()
    }

    fn begin<'a>(&'a self, _schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>> {
        Box::pin(async move {
            let writer: Box<dyn SinkWriter> = Box::new(DiscardWriter { bytes: 0 });
            Ok(writer)
        })
    }
}

struct DiscardWriter {
    bytes: u64,
}

impl SinkWriter for DiscardWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        self.bytes += data.len() as u64;
        Box::pin(async { Ok(()) })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        let bytes = self.bytes;
        Box::pin(async move {
            Ok(Written {
                location: DISCARDED.to_owned(),
                bytes,
                retries: Vec::new(),
            })
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}
