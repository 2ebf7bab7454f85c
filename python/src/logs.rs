//! Log records to Python's `logging` (logger `anaplan_parquet`, or `anaplan_parquet.<module>`).
//!
//! The engine logs from its own threads; calling into Python there could deadlock against a
//! thread that holds the GIL while it waits for the engine (a consumer reading the stream).
//! So records are queued (bounded: the oldest are dropped past 10,000) and handed to
//! `logging` by the calling thread whenever it holds the GIL: while a call waits, and when it
//! returns. Only records at or above the Python logger's effective level are kept.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

const MAX_QUEUED: usize = 10_000;

/// Python's level numbers: 10 debug, 20 info, 30 warning, 40 error; 5 for trace.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(20);
static QUEUE: Mutex<VecDeque<(u8, String, String)>> = Mutex::new(VecDeque::new());

fn py_level(level: Level) -> u8 {
    match level {
        Level::TRACE => 5,
        Level::DEBUG => 10,
        Level::INFO => 20,
        Level::WARN => 30,
        Level::ERROR => 40,
    }
}

struct Forward;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for Forward {
    // The level follows the Python logger's, which can change between calls: ask every time
    // (the default would cache the first answer per call site).
    fn register_callsite(&self, metadata: &'static tracing::Metadata<'static>) -> Interest {
        if metadata.target().starts_with("anaplan_parquet") {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target().starts_with("anaplan_parquet")
            && py_level(*metadata.level()) >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let target = event.metadata().target().replace("::", ".");
        let mut q = QUEUE.lock().expect("log queue");
        if q.len() >= MAX_QUEUED {
            q.pop_front();
        }
        q.push_back((py_level(*event.metadata().level()), target, message.0));
    }
}

/// Installs the forwarding subscriber (once; a host that installed its own keeps it).
pub fn install() {
    let _ = tracing_subscriber::registry().with(Forward).try_init();
}

/// Reads the `anaplan_parquet` logger's effective level, so records below it are not even
/// formatted.
pub fn sync_level(py: Python<'_>) {
    let level = py
        .import("logging")
        .and_then(|l| l.call_method1("getLogger", ("anaplan_parquet",)))
        .and_then(|l| l.call_method0("getEffectiveLevel"))
        .and_then(|l| l.extract::<u32>());
    if let Ok(level) = level {
        MIN_LEVEL.store(level.min(50) as u8, Ordering::Relaxed);
    }
}

/// Hands the queued records to `logging`.
pub fn drain(py: Python<'_>) {
    let records: Vec<_> = QUEUE.lock().expect("log queue").drain(..).collect();
    if records.is_empty() {
        return;
    }
    let Ok(logging) = py.import("logging") else {
        return;
    };
    for (level, target, message) in records {
        if let Ok(logger) = logging.call_method1("getLogger", (target,)) {
            let _ = logger.call_method1("log", (level, message));
        }
    }
}
