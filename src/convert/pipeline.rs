//! One pass over the input: the stages, the channels between them, and how they stop.
//!
//! ```text
//!  reader (async) ──PieceMsg──► decoder thread ──EncodeMsg──► encoder thread ──Output──► uploader (async)
//!   source pieces,              text reader, sample,           Parquet writer            Sink
//!   spool copy                  plan, typed batches                                      writer
//! ```
//!
//! Every channel is bounded and every stream ends with an explicit end marker: a stage that
//! sees its input close without the marker knows the run failed upstream and stops without
//! publishing. The first real error is kept in a shared slot, as it is (errors are `Clone`, so
//! it keeps its variant when it crosses from a thread); stages that stop because a neighbour
//! went away do not overwrite it.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use parquet::file::metadata::KeyValue;
use tokio::sync::mpsc;

use super::decode_stage::{Decided, DecodeStage, EncodeMsg, PieceMsg, Widened};
use super::encode::{EncodeError, Output, ParquetEncoder};
use super::options::{EngineOptions, RunContext};
use super::report::Inference;
use super::schema::Plan;
use super::spool::Spool;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SinkWriter, Written};
use crate::source::PieceStream;

/// Pieces in flight between the reader and the decoder.
const PIECE_QUEUE: usize = 2;
/// Record batches in flight between the decoder and the encoder.
const BATCH_QUEUE: usize = 2;
/// Output blocks in flight between the encoder and the destination.
const OUTPUT_QUEUE: usize = 4;

/// The first error of a pass, shared by its stages.
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<Error>>>);

impl Failure {
    fn set(&self, e: Error) {
        let mut slot = self.0.lock().expect("failure slot");
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    fn take(&self) -> Option<Error> {
        self.0.lock().expect("failure slot").take()
    }
}

/// What a pass reads.
pub(super) struct Input<'a> {
    /// The pieces, from the start.
    pub stream: PieceStream,
    /// What they are, for the file's metadata.
    pub name: String,
    /// Where to copy them as they are read (the first pass of a spooled or kept input).
    pub tee: Option<&'a mut Spool>,
}

/// What a pass is for.
pub(super) struct Goal<'a> {
    /// Where to write; `None` to stop as soon as the plan is known (or, when `scan_all`,
    /// after reading everything).
    pub destination: Option<&'a dyn Sink>,
    /// The plan of an earlier pass, to write with.
    pub forced: Option<Plan>,
    /// Classify every row before deciding (`--infer-rows all`).
    pub scan_all: bool,
}

/// What a pass ended with.
pub(super) enum PassEnd {
    /// The file was written.
    Written {
        written: Written,
        rows: u64,
        plan: Plan,
        decisions: Vec<String>,
    },
    /// A column has to be widened: run again with this plan.
    Widen(Widened),
    /// Statistics only (the `--infer-rows all` pre-pass, and `--print-schema`).
    Inferred(Inference),
}

/// Runs one pass.
pub(super) async fn run_pass(
    input: Input<'_>,
    goal: Goal<'_>,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<PassEnd> {
    let Goal {
        destination,
        forced,
        scan_all,
    } = goal;
    let failure = Failure::default();
    let shutdown = run.shutdown.child();
    let (piece_tx, piece_rx) = mpsc::channel::<PieceMsg>(PIECE_QUEUE);
    let (batch_tx, batch_rx) = mpsc::channel::<EncodeMsg>(BATCH_QUEUE);
    let (out_tx, out_rx) = mpsc::channel::<Output>(OUTPUT_QUEUE);

    let mut metadata = vec![
        KeyValue::new(
            "anaplan_parquet.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        KeyValue::new("anaplan_parquet.source".to_owned(), input.name),
    ];
    metadata.extend(
        options
            .parquet
            .metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );

    let stage = DecodeStage::new(options, forced, scan_all, destination.is_some(), metadata);
    let decode = {
        let failure = failure.clone();
        let shutdown = shutdown.clone();
        let progress = run.progress.clone();
        let options = options.clone();
        let cpu = run.progress.engine_cpu().clone();
        tokio::task::spawn_blocking(move || {
            let _cpu = cpu.enter();
            let mut stage = stage;
            let r = stage.run(piece_rx, batch_tx, &options, &progress, &shutdown);
            if let Err(e) = r {
                failure.set(e);
                shutdown.stop();
            }
            stage.decided()
        })
    };
    let bytes = destination.is_none_or(Sink::wants_bytes);
    let encode = {
        let failure = failure.clone();
        let shutdown = shutdown.clone();
        let cpu = run.progress.engine_cpu().clone();
        tokio::task::spawn_blocking(move || {
            let _cpu = cpu.enter();
            let r = if bytes {
                encode_stage(batch_rx, out_tx)
            } else {
                batches_stage(batch_rx, &out_tx)
            };
            match r {
                Err(EncodeError::Failed(e)) => {
                    failure.set(e);
                    shutdown.stop();
                    None
                }
                Err(EncodeError::Stopped) => None,
                Ok(rows) => rows,
            }
        })
    };
    let reader = read_stage(input.stream, piece_tx, input.tee, run, &shutdown, &failure);
    let upload = upload_stage(out_rx, destination, run, &shutdown, &failure);
    let ((), written) = tokio::join!(reader, upload);
    let decided = decode
        .await
        .map_err(|e| Error::Internal(format!("the decoder thread failed: {e}")))?;
    let rows = encode
        .await
        .map_err(|e| Error::Internal(format!("the encoder thread failed: {e}")))?;

    if let Some(e) = failure.take() {
        return Err(e);
    }
    if run.shutdown.is_triggered() {
        return Err(run.shutdown.error());
    }
    let inference = match decided {
        Some(Decided::Widen(widened)) => return Ok(PassEnd::Widen(widened)),
        Some(Decided::Plan(inference)) => inference,
        None => return Err(Error::Internal("the pass ended without a schema".into())),
    };
    match (destination, written) {
        (None, _) => Ok(PassEnd::Inferred(inference)),
        (Some(_), Some(written)) => Ok(PassEnd::Written {
            written,
            rows: rows.unwrap_or(0),
            plan: inference.plan,
            decisions: inference.decisions,
        }),
        (Some(_), None) => Err(Error::Internal(
            "the pass ended without publishing and without an error".into(),
        )),
    }
}

/// Reads the input, copies it to the spool when there is one, and hands it to the decoder.
async fn read_stage(
    mut stream: PieceStream,
    tx: mpsc::Sender<PieceMsg>,
    mut tee: Option<&mut Spool>,
    run: &RunContext,
    shutdown: &Shutdown,
    failure: &Failure,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.triggered() => {
                if run.shutdown.is_triggered() {
                    failure.set(run.shutdown.error());
                }
                return;
            }
            next = stream.next() => next,
        };
        match next {
            Some(Ok(piece)) => {
                if let Some(t) = tee.as_deref_mut()
                    && let Err(e) = t.write(&piece.data).await
                {
                    failure.set(e);
                    shutdown.stop();
                    return;
                }
                run.progress.add_bytes_in(piece.data.len() as u64);
                if tx.send(PieceMsg::Piece(piece)).await.is_err() {
                    return;
                }
            }
            Some(Err(e)) => {
                failure.set(e);
                shutdown.stop();
                return;
            }
            None => {
                let _ = tx.send(PieceMsg::End).await;
                return;
            }
        }
    }
}

/// Encodes the decoder's batches; the rows written, or `None` when the file was abandoned.
fn encode_stage(
    rx: mpsc::Receiver<EncodeMsg>,
    tx: mpsc::Sender<Output>,
) -> Result<Option<u64>, EncodeError> {
    let mut rx = rx;
    let mut encoder: Option<ParquetEncoder> = None;
    let mut tx = Some(tx);
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            EncodeMsg::Start(schema, props) => {
                let tx = tx.take().ok_or_else(|| {
                    EncodeError::Failed(Error::Internal("the encoder was started twice".into()))
                })?;
                encoder = Some(ParquetEncoder::try_new(schema, *props, tx)?);
            }
            EncodeMsg::Batch(batch) => {
                encoder
                    .as_mut()
                    .ok_or_else(|| {
                        EncodeError::Failed(Error::Internal("a batch before the schema".into()))
                    })?
                    .write(&batch)?;
            }
            EncodeMsg::End => {
                return match encoder.take() {
                    Some(enc) => enc.finish().map(Some),
                    None => Ok(None),
                };
            }
        }
    }
    // The input closed without its end marker: abandon the file.
    Ok(None)
}

/// For a destination that wants no bytes ([`Sink::wants_bytes`]): passes the decoder's batches
/// on without encoding them; the rows passed, or `None` when the output was abandoned.
fn batches_stage(
    mut rx: mpsc::Receiver<EncodeMsg>,
    tx: &mpsc::Sender<Output>,
) -> Result<Option<u64>, EncodeError> {
    let mut rows = 0u64;
    while let Some(msg) = rx.blocking_recv() {
        let out = match msg {
            EncodeMsg::Start(schema, _) => Output::Begin(schema),
            EncodeMsg::Batch(batch) => {
                rows += batch.num_rows() as u64;
                Output::Rows(batch)
            }
            EncodeMsg::End => {
                tx.blocking_send(Output::End)
                    .map_err(|_| EncodeError::Stopped)?;
                return Ok(Some(rows));
            }
        };
        tx.blocking_send(out).map_err(|_| EncodeError::Stopped)?;
    }
    Ok(None)
}

/// Hands the encoded bytes to the destination and publishes the file once it is complete.
async fn upload_stage(
    mut rx: mpsc::Receiver<Output>,
    destination: Option<&dyn Sink>,
    run: &RunContext,
    shutdown: &Shutdown,
    failure: &Failure,
) -> Option<Written> {
    /// What one message led to.
    enum Step {
        Continue,
        /// Everything is at the destination but for publishing it.
        Ready,
        Failed(Error),
        /// The input ended early, or a stop was asked for while waiting on the destination.
        Stopped,
    }
    let mut writer: Option<Box<dyn SinkWriter>> = None;
    loop {
        let msg = tokio::select! {
            () = shutdown.triggered() => None,
            msg = rx.recv() => msg,
        };
        // Every wait on the destination gives way to a stop: a slow destination must not hold
        // up a signal (the writer's waits are cancel-safe, and it is aborted below).
        let step = match msg {
            Some(Output::Begin(schema)) => match destination {
                Some(d) => tokio::select! {
                    () = shutdown.triggered() => Step::Stopped,
                    begun = d.begin(&schema) => match begun {
                        Ok(w) => {
                            writer = Some(w);
                            Step::Continue
                        }
                        Err(e) => Step::Failed(e),
                    },
                },
                None => Step::Failed(Error::Internal("output without a destination".into())),
            },
            Some(Output::Data(bytes)) => match writer.as_mut() {
                Some(w) => {
                    let n = bytes.len() as u64;
                    tokio::select! {
                        () = shutdown.triggered() => Step::Stopped,
                        r = w.write(bytes) => match r {
                            Ok(()) => {
                                run.progress.add_bytes_out(n);
                                Step::Continue
                            }
                            Err(e) => Step::Failed(e),
                        },
                    }
                }
                None => Step::Failed(Error::Internal(
                    "output before the destination opened".into(),
                )),
            },
            Some(Output::Rows(batch)) => match writer.as_mut() {
                Some(w) => match w.observe(&batch) {
                    Ok(()) => Step::Continue,
                    Err(e) => Step::Failed(e),
                },
                None => Step::Failed(Error::Internal("rows before the destination opened".into())),
            },
            Some(Output::Footer(footer)) => match writer.as_mut() {
                Some(w) => match w.footer(&footer) {
                    Ok(()) => Step::Continue,
                    Err(e) => Step::Failed(e),
                },
                None => Step::Failed(Error::Internal(
                    "a footer before the destination opened".into(),
                )),
            },
            Some(Output::End) => match writer.as_mut() {
                Some(w) => tokio::select! {
                    () = shutdown.triggered() => Step::Stopped,
                    r = w.flush() => match r {
                        Ok(()) => Step::Ready,
                        Err(e) => Step::Failed(e),
                    },
                },
                None => Step::Failed(Error::Internal("end of output without a file".into())),
            },
            None => Step::Stopped,
        };
        match step {
            Step::Continue => {}
            Step::Ready => {
                let Some(w) = writer.take() else {
                    failure.set(Error::Internal("end of output without a file".into()));
                    return None;
                };
                // Publishing is the commit point: a rename, or one request.
                return match w.commit().await {
                    Ok(written) => Some(written),
                    Err(e) => {
                        failure.set(e);
                        shutdown.stop();
                        None
                    }
                };
            }
            Step::Failed(e) => {
                failure.set(e);
                shutdown.stop();
                if let Some(w) = writer.take()
                    && let Err(e) = w.abort().await
                {
                    tracing::warn!("could not clean up the abandoned output: {e}");
                }
                return None;
            }
            Step::Stopped => {
                if let Some(w) = writer.take()
                    && let Err(e) = w.abort().await
                {
                    tracing::warn!("could not clean up the abandoned output: {e}");
                }
                if run.shutdown.is_triggered() {
                    failure.set(run.shutdown.error());
                }
                return None;
            }
        }
    }
}
