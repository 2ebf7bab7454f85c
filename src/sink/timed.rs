//! Destinations for measuring: one that times the engine's calls (how long the engine waited
//! for the upload), and one that keeps nothing (`bench --discard`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use parquet::file::metadata::ParquetMetaData;

use super::{Sink, SinkWriter, Written};
use crate::error::Result;

/// Time the engine spent in the destination's calls (writes, flush, publishing). Cheap to
/// clone; clones share the total.
#[derive(Clone, Debug, Default)]
pub struct UploadMeter {
    nanos: Arc<AtomicU64>,
}

impl UploadMeter {
    /// A meter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, d: Duration) {
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The time counted so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
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

    fn wants_bytes(&self) -> bool {
        self.inner.wants_bytes()
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

    fn footer(&mut self, footer: &ParquetMetaData) -> Result<()> {
        self.inner.footer(footer)
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
