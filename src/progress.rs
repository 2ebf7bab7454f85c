//! Run counters shared between the stages of a run and whoever displays them.
//!
//! Stages only add to atomics; the command-line layer renders a progress bar (on a terminal)
//! or log lines from a snapshot. Nothing here prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one run. Cheap to clone (an `Arc`).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    inner: Arc<Counters>,
    /// CPU time of the engine's threads.
    engine_cpu: crate::stages::CpuMeter,
}

#[derive(Debug, Default)]
struct Counters {
    bytes_in: AtomicU64,
    bytes_total: AtomicU64,
    rows: AtomicU64,
    chunks_done: AtomicU64,
    chunks_total: AtomicU64,
    bytes_out: AtomicU64,
    retries: AtomicU64,
}

/// A consistent-enough copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Input bytes received so far.
    pub bytes_in: u64,
    /// Input size when known (0 when not).
    pub bytes_total: u64,
    /// Data rows decoded so far.
    pub rows: u64,
    /// Chunks fully received.
    pub chunks_done: u64,
    /// Chunks in the file (0 when not chunked).
    pub chunks_total: u64,
    /// Parquet bytes handed to the destination.
    pub bytes_out: u64,
    /// Retried requests so far.
    pub retries: u64,
}

impl Progress {
    /// Fresh counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The CPU time of the engine's threads working for this run.
    pub fn engine_cpu(&self) -> &crate::stages::CpuMeter {
        &self.engine_cpu
    }

    /// Adds received input bytes.
    pub fn add_bytes_in(&self, n: u64) {
        self.inner.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the expected input size.
    pub fn set_bytes_total(&self, n: u64) {
        self.inner.bytes_total.store(n, Ordering::Relaxed);
    }

    /// Adds decoded rows.
    pub fn add_rows(&self, n: u64) {
        self.inner.rows.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one more chunk received.
    pub fn add_chunk(&self) {
        self.inner.chunks_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of chunks in the file.
    pub fn set_chunks_total(&self, n: u64) {
        self.inner.chunks_total.store(n, Ordering::Relaxed);
    }

    /// Adds Parquet bytes written.
    pub fn add_bytes_out(&self, n: u64) {
        self.inner.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one retried request.
    pub fn add_retry(&self) {
        self.inner.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Resets the per-pass counters (input bytes, rows, chunks, output) before a replay.
    pub fn restart_pass(&self) {
        let c = &self.inner;
        c.bytes_in.store(0, Ordering::Relaxed);
        c.rows.store(0, Ordering::Relaxed);
        c.chunks_done.store(0, Ordering::Relaxed);
        c.bytes_out.store(0, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let c = &self.inner;
        ProgressSnapshot {
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_total: c.bytes_total.load(Ordering::Relaxed),
            rows: c.rows.load(Ordering::Relaxed),
            chunks_done: c.chunks_done.load(Ordering::Relaxed),
            chunks_total: c.chunks_total.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }
}
