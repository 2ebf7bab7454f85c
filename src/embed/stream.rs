//! An export, view or list as a stream of Arrow record batches instead of a Parquet file: the
//! engine runs as for a file (same sources, decoding, types and bounded channels), and its
//! typed batches go to a bounded channel the host reads from.
//!
//! # A late widening
//!
//! The schema is handed out before the first batch, so a column cannot change type once the
//! stream has begun. When a value after the `infer_rows` sample does not fit its column (a
//! late widening, which for a file starts a second pass), the stream fails with a data error
//! that names the column, the two types and the ways out: `infer_rows="all"` (the whole input
//! is scanned first, then streamed: the first batch comes later) or `types={column: type}`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::anaplan::AnaplanClient;
use crate::convert::{EngineOptions, RunContext};
use crate::error::{DataError, Error, Position, Result};
use crate::export::{ExportJob, export_into};
use crate::read::ReadJob;
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SinkWriter, Written};

/// Record batches in flight between the engine and the host (the engine waits when the host
/// is this far behind).
pub const STREAM_QUEUE: usize = 4;

/// What the stream's channel carries.
enum Message {
    Batch(RecordBatch),
    /// The run ended: its `--json` summary, or why it failed.
    End(Result<serde_json::Value>),
}

/// One step of reading a [`BatchStream`].
#[derive(Debug)]
pub enum Next {
    /// The next batch.
    Batch(RecordBatch),
    /// Nothing yet after the wait asked for (check for interrupts, then ask again).
    Pending,
    /// The end: every batch was read.
    End,
    /// The run failed; no more batches.
    Failed(Error),
}

/// The record batches of a running export, view or list read. Dropping it cancels the run
/// (the downloads stop, a read request is deleted, nothing is written anywhere).
#[derive(Debug)]
pub struct BatchStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<Message>,
    runtime: tokio::runtime::Handle,
    shutdown: Shutdown,
    summary: Option<serde_json::Value>,
    ended: bool,
}

impl BatchStream {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The next batch, waiting at most `wait` (from a thread outside the runtime).
    pub fn next_blocking(&mut self, wait: Duration) -> Next {
        if self.ended {
            return Next::End;
        }
        let rx = &mut self.rx;
        let got = self
            .runtime
            .block_on(async { tokio::time::timeout(wait, rx.recv()).await });
        match got {
            Err(_) => Next::Pending,
            Ok(Some(Message::Batch(b))) => Next::Batch(b),
            Ok(Some(Message::End(Ok(summary)))) => {
                self.ended = true;
                self.summary = Some(summary);
                Next::End
            }
            Ok(Some(Message::End(Err(e)))) => {
                self.ended = true;
                Next::Failed(e)
            }
            Ok(None) => {
                self.ended = true;
                Next::Failed(Error::Internal("the run ended without a summary".into()))
            }
        }
    }

    /// The run's `--json` summary, once every batch was read.
    pub fn summary(&self) -> Option<&serde_json::Value> {
        self.summary.as_ref()
    }

    /// Stops the run (as a stop request: the run fails with `interrupted by SIGINT`).
    pub fn interrupt(&self) {
        self.shutdown.trigger(crate::error::Signal::Interrupt);
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        if !self.ended {
            self.shutdown.stop();
        }
    }
}

/// Starts the run on the current runtime and returns once the schema is known (or the run
/// failed before it was).
pub(super) async fn start(
    client: AnaplanClient,
    job: ExportJob,
    read: Option<ReadJob>,
    options: EngineOptions,
    run: RunContext,
) -> Result<BatchStream> {
    let (schema_tx, schema_rx) = oneshot::channel();
    let (tx, mut rx) = mpsc::channel(STREAM_QUEUE);
    let sink = StreamSink {
        first: Mutex::new(Some(schema_tx)),
        schema: Mutex::new(None),
        tx: tx.clone(),
    };
    let shutdown = run.shutdown.clone();
    tokio::spawn(async move {
        let result = match read {
            Some(read) => crate::read::read_into(&client, &read, &sink, options, &run)
                .await
                .and_then(|r| crate::cli::read::report_json(&r)),
            None => export_into(&client, &job, &sink, options, &run, &|_| {})
                .await
                .and_then(|r| crate::cli::export::report_json(&r)),
        };
        client.logout().await;
        drop(sink);
        let _ = tx.send(Message::End(result)).await;
    });
    // The run ends before a schema: its error (or, oddly, its summary).
    let Ok(schema) = schema_rx.await else {
        loop {
            match rx.recv().await {
                Some(Message::End(Err(e))) => return Err(e),
                Some(Message::End(Ok(_))) | None => {
                    return Err(Error::Internal("the run ended without a schema".into()));
                }
                Some(Message::Batch(_)) => {}
            }
        }
    };
    Ok(BatchStream {
        schema,
        rx,
        runtime: tokio::runtime::Handle::current(),
        shutdown,
        summary: None,
        ended: false,
    })
}

/// The engine's destination for a stream: it takes the batches and drops the bytes.
struct StreamSink {
    first: Mutex<Option<oneshot::Sender<SchemaRef>>>,
    schema: Mutex<Option<SchemaRef>>,
    tx: mpsc::Sender<Message>,
}

impl Sink for StreamSink {
    fn describe(&self) -> String {
        "a record-batch stream".to_owned()
    }

    fn begin<'a>(&'a self, schema: &'a Schema) -> BoxFuture<'a, Result<Box<dyn SinkWriter>>> {
        Box::pin(async move {
            let mut given = self.schema.lock().expect("stream schema");
            if let Some(first) = given.as_ref() {
                return Err(widened(first, schema));
            }
            let schema = Arc::new(schema.clone());
            *given = Some(Arc::clone(&schema));
            if let Some(first) = self.first.lock().expect("stream schema").take() {
                let _ = first.send(schema);
            }
            let writer: Box<dyn SinkWriter> = Box::new(StreamWriter {
                tx: self.tx.clone(),
                rows: 0,
            });
            Ok(writer)
        })
    }

    fn wants_bytes(&self) -> bool {
        false
    }
}

/// The error of a second pass: the columns whose type changed after the stream began.
fn widened(first: &Schema, now: &Schema) -> Error {
    let changed: Vec<String> = first
        .fields()
        .iter()
        .zip(now.fields().iter())
        .filter(|(a, b)| a.data_type() != b.data_type())
        .map(|(a, b)| format!("{:?} from {} to {}", a.name(), a.data_type(), b.data_type()))
        .collect();
    let what = if changed.is_empty() {
        "the schema changed".to_owned()
    } else {
        format!(
            "a value after the inference sample widened {}",
            changed.join(", ")
        )
    };
    DataError::new(
        format!(
            "{what}, but the stream had already begun with the first types: pass \
             infer_rows=\"all\" (the whole input is scanned before the first batch) or \
             types={{column: type}} for that column"
        ),
        Position::default(),
    )
    .into()
}

struct StreamWriter {
    tx: mpsc::Sender<Message>,
    rows: u64,
}

impl SinkWriter for StreamWriter {
    fn write(&mut self, _data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        let rows = self.rows;
        Box::pin(async move {
            Ok(Written {
                location: format!("a record-batch stream ({rows} rows)"),
                bytes: 0,
                retries: Vec::new(),
            })
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        // The destination stage (async) calls this: wait while the host is behind, which
        // holds up the engine behind it (backpressure). The embedding runtime is
        // multi-threaded, so the wait blocks this worker only.
        let tx = &self.tx;
        let batch = batch.clone();
        tokio::task::block_in_place(|| tx.blocking_send(Message::Batch(batch)))
            .map_err(|_| Error::Cancelled(crate::error::Signal::Interrupt))
    }
}
