//! One pass over the input, and the passes of a run.
//!
//! ```text
//!  reader (async) ──Msg──► decoder thread ──EncodeMsg──► encoder thread ──Output──► uploader (async)
//!   source pieces,           transcode, decode,            Parquet writer            Destination
//!   tee/spool                infer, convert types                                    writer
//! ```
//!
//! Every channel is bounded and every stream ends with an explicit end marker: a stage that
//! sees its input close without the marker knows the run failed upstream and stops without
//! publishing. The first real error is kept in a shared slot; stages that stop because a
//! neighbour went away do not overwrite it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{
    BATCH_ROWS, EngineOptions, InferRows, Inference, InputEncoding, MAX_SAMPLE_BYTES, RunContext,
};
use crate::convert::text::decode::{CsvDecoder, TextBatch};
use crate::sink::{Sink, SinkWriter, Written};
use crate::convert::encode::{EncodeError, Output, ParquetEncoder, writer_properties};
use crate::error::{DataError, Error, Position, Result};
use crate::convert::schema::{ColumnStats, ColumnType, Origin, Plan, clean_header};
use crate::shutdown::Shutdown;
use crate::source::{FileSource, Piece, PieceStream, Source};
use crate::summary::{RunSummary, SummaryColumn, Widening};
use crate::convert::text::transcode::{Transcoded, Transcoder};
use crate::convert::schema::typed::{Fits, Misfit, classify, convert_column, number_column};

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

/// What the reader sends the decoder.
enum Msg {
    Piece(Piece),
    End,
}

/// What the decoder sends the encoder.
enum EncodeMsg {
    Start(SchemaRef, Box<WriterProperties>),
    Batch(RecordBatch),
    End,
}

/// How the decoder treats batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Collecting the inference sample.
    Sampling,
    /// Converting and sending batches to the encoder.
    Encoding,
    /// Only gathering statistics (after a widening, or for `--infer-rows all`).
    Scanning,
}

/// What a pass ended with.
enum PassEnd {
    /// The file was written.
    Written {
        written: Written,
        rows: u64,
        plan: Plan,
        decisions: Vec<String>,
    },
    /// A column has to be widened: run again with this plan.
    Widen {
        plan: Plan,
        widenings: Vec<Widening>,
        decisions: Vec<String>,
    },
    /// Statistics only (the `--infer-rows all` pre-pass, and `--print-schema`).
    Inferred(Inference),
}

/// How a pass reads its input.
enum Input<'a> {
    /// The source itself.
    Source(&'a dyn Source),
    /// A file written by an earlier pass (spool or `--keep-csv`).
    File(PathBuf),
}

/// Where the first pass copies the raw input, when it may be needed again or was asked for.
struct Tee {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    keep_as: Option<PathBuf>,
}

impl Tee {
    async fn create(keep_as: Option<&Path>) -> Result<Tee> {
        let tmp = match keep_as {
            Some(target) => {
                let dir = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                crate::sink::output_temp_file(".anaplan-parquet-keep.", &dir).map_err(
                    |e| Error::Destination(format!("cannot write {}: {e}", target.display())),
                )?
            }
            None => tempfile::Builder::new()
                .prefix("anaplan-parquet-spool.")
                .tempfile()
                .map_err(|e| Error::io("cannot create a spool file in the temp directory", e))?,
        };
        let (file, path) = tmp.into_parts();
        Ok(Tee {
            file: tokio::fs::File::from_std(file),
            path,
            keep_as: keep_as.map(Path::to_path_buf),
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .await
            .map_err(|e| Error::io("cannot write the spool file", e))
    }

    async fn close(&mut self) -> Result<()> {
        self.file
            .flush()
            .await
            .map_err(|e| Error::io("cannot write the spool file", e))
    }
}

pub(super) async fn convert(
    source: &dyn Source,
    destination: &dyn Sink,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<RunSummary> {
    let started = Instant::now();
    if let Some(n) = source.size_hint() {
        run.progress.set_bytes_total(n);
    }
    let needs_tee = options.keep_input.is_some() || !source.replayable();
    let mut tee = if needs_tee {
        Some(Tee::create(options.keep_input.as_deref()).await?)
    } else {
        None
    };
    let mut passes = 0u32;
    let mut forced: Option<Plan> = None;
    let mut widenings: Vec<Widening> = Vec::new();
    let mut pre_decisions: Vec<String> = Vec::new();
    let mut input = Input::Source(source);

    if options.schema.infer_rows == InferRows::All {
        passes += 1;
        let end = run_pass(&input, None, None, tee.as_mut(), options, run, true).await?;
        let PassEnd::Inferred(inf) = end else {
            return Err(Error::Internal("the inference pass wrote a file".into()));
        };
        pre_decisions = inf.decisions;
        forced = Some(inf.plan);
        if let Some(t) = tee.as_mut() {
            t.close().await?;
            input = Input::File(t.path.to_path_buf());
        }
        run.progress.restart_pass();
    }

    loop {
        passes += 1;
        let tee_now = if matches!(input, Input::Source(_)) {
            tee.as_mut()
        } else {
            None
        };
        let end = run_pass(
            &input,
            Some(destination),
            forced.clone(),
            tee_now,
            options,
            run,
            false,
        )
        .await?;
        match end {
            PassEnd::Written {
                written,
                rows,
                plan,
                decisions,
            } => {
                if let Some(t) = tee.take() {
                    finish_tee(t).await?;
                }
                // Decisions made over the whole input (widening, `--infer-rows all`) describe
                // the final schema better than the forced pass can.
                let all_decisions = if pre_decisions.is_empty() {
                    decisions
                } else {
                    pre_decisions
                };
                let snapshot = run.progress.snapshot();
                return Ok(RunSummary {
                    source: source.describe(),
                    output: written.location.clone(),
                    rows,
                    columns: plan.describe().len(),
                    bytes_in: snapshot.bytes_in,
                    bytes_out: written.bytes,
                    elapsed: started.elapsed(),
                    passes,
                    schema: plan
                        .describe()
                        .into_iter()
                        .map(|(name, data_type)| SummaryColumn { name, data_type })
                        .collect(),
                    decisions: all_decisions,
                    widenings,
                    retries: written.retries,
                });
            }
            PassEnd::Widen {
                plan,
                widenings: w,
                decisions,
            } => {
                pre_decisions = decisions;
                if forced.is_some()
                    && passes > 2 + u32::from(options.schema.infer_rows == InferRows::All)
                {
                    return Err(Error::Internal(
                        "the input changed between passes (a column had to be widened twice)"
                            .into(),
                    ));
                }
                for wd in &w {
                    tracing::info!(
                        "widening column {:?} from {} to {}: row {} (line {}) holds {:?}; writing again with the wider type",
                        wd.column,
                        wd.from,
                        wd.to,
                        wd.row,
                        wd.line,
                        wd.value
                    );
                }
                widenings.extend(w);
                forced = Some(plan);
                if let Some(t) = tee.as_mut() {
                    t.close().await?;
                    input = Input::File(t.path.to_path_buf());
                }
                run.progress.restart_pass();
            }
            PassEnd::Inferred(_) => {
                return Err(Error::Internal("a writing pass returned no file".into()));
            }
        }
    }
}

async fn finish_tee(mut tee: Tee) -> Result<()> {
    tee.close().await?;
    if let Some(target) = &tee.keep_as {
        let target = target.clone();
        tee.path.persist(&target).map_err(|e| {
            Error::Destination(format!("cannot write {}: {}", target.display(), e.error))
        })?;
    }
    Ok(())
}

pub(super) async fn infer(
    source: &dyn Source,
    options: &EngineOptions,
    run: &RunContext,
) -> Result<Inference> {
    let scan_all = options.schema.infer_rows == InferRows::All;
    match run_pass(
        &Input::Source(source),
        None,
        None,
        None,
        options,
        run,
        scan_all,
    )
    .await?
    {
        PassEnd::Inferred(inf) => Ok(inf),
        _ => Err(Error::Internal("inference wrote a file".into())),
    }
}

/// Runs one pass. Without a destination, the pass stops as soon as the plan is known (or, when
/// `scan_all`, reads everything first) and returns [`PassEnd::Inferred`].
async fn run_pass(
    input: &Input<'_>,
    destination: Option<&dyn Sink>,
    forced: Option<Plan>,
    tee: Option<&mut Tee>,
    options: &EngineOptions,
    run: &RunContext,
    scan_all: bool,
) -> Result<PassEnd> {
    let stream: PieceStream = match input {
        Input::Source(s) => s.open().await?,
        Input::File(p) => FileSource::new(p).open().await?,
    };
    let failure = Failure::default();
    let shutdown = run.shutdown.child();
    let (piece_tx, piece_rx) = mpsc::channel::<Msg>(PIECE_QUEUE);
    let (batch_tx, batch_rx) = mpsc::channel::<EncodeMsg>(BATCH_QUEUE);
    let (out_tx, out_rx) = mpsc::channel::<Output>(OUTPUT_QUEUE);

    let source_name = match input {
        Input::Source(s) => s.describe(),
        Input::File(_) => String::from("spooled input"),
    };
    let mut metadata = vec![
        KeyValue::new(
            "anaplan_parquet.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        KeyValue::new("anaplan_parquet.source".to_owned(), source_name),
    ];
    metadata.extend(
        options
            .parquet
            .metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );

    let mut stage = DecodeStage::new(options, forced, scan_all, destination.is_some());
    stage.metadata = metadata;
    let decode = {
        let failure = failure.clone();
        let shutdown = shutdown.clone();
        let progress = run.progress.clone();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            let mut stage = stage;
            let r = stage.run(piece_rx, batch_tx, &options, &progress, &shutdown);
            if let Err(e) = &r {
                failure.set(e.clone());
                shutdown.stop();
            }
            r.map(|()| stage)
        })
    };
    let encode = {
        let failure = failure.clone();
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            let r = encode_stage(batch_rx, out_tx);
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
    let reader = read_stage(stream, piece_tx, tee, run, &shutdown, &failure);
    let upload = upload_stage(out_rx, destination, run, &shutdown, &failure);
    let ((), written) = tokio::join!(reader, upload);
    let stage = decode
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
    let stage = stage?;
    if let Some(plan) = stage.widen_to.clone() {
        return Ok(PassEnd::Widen {
            plan,
            widenings: stage.widenings.clone(),
            decisions: stage.widen_decisions.clone(),
        });
    }
    let plan = stage
        .plan
        .clone()
        .ok_or_else(|| Error::Internal("the pass ended without a schema".into()))?;
    match (destination, written) {
        (None, _) => Ok(PassEnd::Inferred(Inference {
            plan,
            decisions: stage.decisions(),
            sample_rows: stage.sample_rows_seen,
        })),
        (Some(_), Some(written)) => Ok(PassEnd::Written {
            written,
            rows: rows.unwrap_or(0),
            plan,
            decisions: stage.decisions(),
        }),
        (Some(_), None) => Err(Error::Internal(
            "the pass ended without publishing and without an error".into(),
        )),
    }
}


async fn read_stage(
    mut stream: PieceStream,
    tx: mpsc::Sender<Msg>,
    mut tee: Option<&mut Tee>,
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
                if tx.send(Msg::Piece(piece)).await.is_err() {
                    return;
                }
            }
            Some(Err(e)) => {
                failure.set(e);
                shutdown.stop();
                return;
            }
            None => {
                let _ = tx.send(Msg::End).await;
                return;
            }
        }
    }
}

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

/// The decoder thread's state.
struct DecodeStage {
    mode: Mode,
    /// False for schema-only passes: stop as soon as the plan is known.
    write: bool,
    /// Cleaned header, once read.
    header: Option<Vec<String>>,
    /// Which columns are inferred (the others are dimensions or forced).
    inferred: Vec<bool>,
    sample: Vec<TextBatch>,
    sample_limit: usize,
    sample_rows_seen: u64,
    /// Bytes of text held in `sample`.
    sample_bytes: usize,
    stats: Vec<ColumnStats>,
    plan: Option<Plan>,
    schema: Option<SchemaRef>,
    /// True when the plan came from an earlier pass.
    forced: bool,
    /// Per column: non-null values converted so far (seeds statistics after a widening).
    non_null: Vec<u64>,
    /// Per column: integers converted that a float cannot hold exactly (an int64 column that
    /// holds one cannot widen to float64; inference counts them as text).
    inexact_ints: Vec<u64>,
    /// Per column: the first value that did not fit after the sample.
    misfits: Vec<Option<Widening>>,
    widenings: Vec<Widening>,
    widen_to: Option<Plan>,
    /// Decisions about the whole input, made when widening.
    widen_decisions: Vec<String>,
    metadata: Vec<KeyValue>,
    /// (raw offset, chunk) where each labelled piece starts.
    chunks: Vec<(u64, u64)>,
    raw_offset: u64,
    /// (decoded offset, chunk) where the text of each labelled piece starts: the chunk of a
    /// decoder error when decoded offsets are not raw offsets (encodings other than UTF-8).
    decoded_chunks: Vec<(u64, u64)>,
    decoded_offset: u64,
    utf8: bool,
    total_rows: u64,
    /// The encoder went away; its stage or the destination reports why.
    stopped: bool,
    tx: Option<mpsc::Sender<EncodeMsg>>,
}

impl DecodeStage {
    fn new(options: &EngineOptions, forced: Option<Plan>, scan_all: bool, write: bool) -> Self {
        let sample_limit = match options.schema.infer_rows {
            InferRows::Rows(n) => n,
            InferRows::All => usize::MAX,
        };
        let mode = if forced.is_some() {
            Mode::Encoding
        } else if scan_all {
            Mode::Scanning
        } else {
            Mode::Sampling
        };
        DecodeStage {
            mode,
            write,
            header: None,
            inferred: Vec::new(),
            sample: Vec::new(),
            sample_limit,
            sample_rows_seen: 0,
            sample_bytes: 0,
            stats: Vec::new(),
            forced: forced.is_some(),
            plan: forced,
            schema: None,
            non_null: Vec::new(),
            inexact_ints: Vec::new(),
            misfits: Vec::new(),
            widenings: Vec::new(),
            widen_to: None,
            widen_decisions: Vec::new(),
            metadata: Vec::new(),
            chunks: Vec::new(),
            raw_offset: 0,
            decoded_chunks: Vec::new(),
            decoded_offset: 0,
            utf8: options.csv.encoding == InputEncoding::Utf8,
            total_rows: 0,
            stopped: false,
            tx: None,
        }
    }

    fn run(
        &mut self,
        rx: mpsc::Receiver<Msg>,
        tx: mpsc::Sender<EncodeMsg>,
        options: &EngineOptions,
        progress: &crate::progress::Progress,
        shutdown: &Shutdown,
    ) -> Result<()> {
        self.tx = Some(tx);
        let r = self.run_inner(rx, options, progress, shutdown);
        // Whatever happened, the encoder must see its input close now.
        self.tx = None;
        r
    }

    fn run_inner(
        &mut self,
        mut rx: mpsc::Receiver<Msg>,
        options: &EngineOptions,
        progress: &crate::progress::Progress,
        shutdown: &Shutdown,
    ) -> Result<()> {
        let mut transcoder = Transcoder::new(options.csv.encoding);
        let mut decoder = CsvDecoder::new(options.csv.delimiter, BATCH_ROWS);
        loop {
            if shutdown.is_triggered() || self.stopped || self.done_early() {
                return Ok(());
            }
            // `None`: the reader stopped early and reports why.
            let Some(msg) = rx.blocking_recv() else {
                return Ok(());
            };
            match msg {
                Msg::Piece(piece) => {
                    if let Some(c) = piece.chunk {
                        self.chunks.push((self.raw_offset, c));
                        self.decoded_chunks.push((self.decoded_offset, c));
                    }
                    self.raw_offset += piece.data.len() as u64;
                    let out = transcoder.feed(&piece.data);
                    self.feed(out, &transcoder, &mut decoder, options, progress)?;
                }
                Msg::End => {
                    let out = transcoder.finish();
                    self.feed(out, &transcoder, &mut decoder, options, progress)?;
                    if self.done_early() || self.stopped {
                        return Ok(());
                    }
                    let skipped = transcoder.skipped();
                    decoder.finish().map_err(|e| self.data_error(e, skipped))?;
                    self.take_header(&decoder, options);
                    if let Some(batch) = decoder.flush() {
                        self.handle_batch(batch, options, progress)?;
                    }
                    return self.end_of_input(options);
                }
            }
        }
    }

    /// True when a schema-only pass has what it came for.
    fn done_early(&self) -> bool {
        !self.write && self.plan.is_some() && self.mode != Mode::Scanning
    }

    fn feed(
        &mut self,
        out: Transcoded,
        transcoder: &Transcoder,
        decoder: &mut CsvDecoder,
        options: &EngineOptions,
        progress: &crate::progress::Progress,
    ) -> Result<()> {
        let skipped = transcoder.skipped();
        for part in &out.parts {
            self.decoded_offset += part.len() as u64;
            let mut rest: &[u8] = part;
            while !rest.is_empty() {
                let used = decoder
                    .decode(rest)
                    .map_err(|e| self.data_error(e, skipped))?;
                rest = &rest[used..];
                self.take_header(decoder, options);
                if !rest.is_empty()
                    && let Some(batch) = decoder.flush()
                {
                    self.handle_batch(batch, options, progress)?;
                    if self.stopped || self.done_early() {
                        return Ok(());
                    }
                }
            }
        }
        if let Some(err) = out.error {
            let mut position = decoder.position();
            position.byte = Some(err.byte);
            position.chunk = self.chunk_of(err.byte);
            return Err(DataError::new(err.message, position).into());
        }
        Ok(())
    }

    /// Maps a decoder error's position to the raw input (bytes, chunk). For encodings other
    /// than UTF-8 the raw byte is unknown, but the chunk whose text holds it is not.
    fn data_error(&self, mut e: DataError, skipped: u64) -> Error {
        let decoded = e.position.byte;
        if self.utf8 {
            e.position.byte = decoded.map(|b| b + skipped);
            e.position.chunk = e.position.byte.and_then(|b| self.chunk_of(b));
        } else {
            e.position.byte = None;
            e.position.chunk = decoded.and_then(|b| chunk_at(&self.decoded_chunks, b));
        }
        e.into()
    }

    fn chunk_of(&self, raw: u64) -> Option<u64> {
        chunk_at(&self.chunks, raw)
    }

    fn take_header(&mut self, decoder: &CsvDecoder, options: &EngineOptions) {
        if self.header.is_some() {
            return;
        }
        if let Some(raw) = decoder.header() {
            self.set_header(clean_header(raw), options);
        }
    }

    fn set_header(&mut self, header: Vec<String>, options: &EngineOptions) {
        let last = header.len().saturating_sub(1);
        self.inferred = header
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let forced = options.schema.overrides.iter().any(|(n, _)| n == name);
                !forced && (options.schema.layout == crate::convert::schema::Layout::Generic || i == last)
            })
            .collect();
        self.stats = vec![ColumnStats::default(); header.len()];
        self.non_null = vec![0; header.len()];
        self.inexact_ints = vec![0; header.len()];
        self.misfits = vec![None; header.len()];
        self.header = Some(header);
    }

    fn handle_batch(
        &mut self,
        batch: TextBatch,
        options: &EngineOptions,
        progress: &crate::progress::Progress,
    ) -> Result<()> {
        let n = batch.num_rows();
        self.total_rows += n as u64;
        progress.add_rows(n as u64);
        match self.mode {
            Mode::Sampling => {
                for (j, col) in batch.columns.iter().enumerate() {
                    if self.inferred[j] {
                        self.stats[j].observe_array(col);
                    }
                }
                self.sample_rows_seen += n as u64;
                self.sample_bytes += batch
                    .columns
                    .iter()
                    .map(|c| c.values().len())
                    .sum::<usize>();
                self.sample.push(batch);
                if self.sample_rows_seen >= self.sample_limit as u64
                    || self.sample_bytes >= MAX_SAMPLE_BYTES
                {
                    self.decide(options)?;
                    if self.write {
                        self.start_encoding(options)?;
                    }
                }
                Ok(())
            }
            Mode::Encoding => {
                if self.schema.is_none() {
                    self.start_encoding(options)?;
                }
                self.encode_batch(&batch)
            }
            Mode::Scanning => {
                self.scan_batch(&batch);
                Ok(())
            }
        }
    }

    /// Decides the plan from the sample and switches to encoding.
    fn decide(&mut self, options: &EngineOptions) -> Result<()> {
        let header = self.header.as_ref().expect("header before the plan");
        self.plan = Some(Plan::decide(header, &self.stats, &options.schema)?);
        self.mode = Mode::Encoding;
        Ok(())
    }

    fn start_encoding(&mut self, options: &EngineOptions) -> Result<()> {
        let plan = self.plan.as_ref().expect("plan before encoding");
        let schema = plan.arrow_schema();
        let mut metadata = self.metadata.clone();
        metadata.push(KeyValue::new(
            "anaplan_parquet.inference".to_owned(),
            self.inference_json(),
        ));
        let props = writer_properties(&options.parquet, metadata);
        self.schema = Some(Arc::clone(&schema));
        self.send(EncodeMsg::Start(schema, Box::new(props)));
        for batch in std::mem::take(&mut self.sample) {
            if self.stopped || self.mode != Mode::Encoding {
                if self.mode == Mode::Scanning {
                    self.scan_batch(&batch);
                    continue;
                }
                break;
            }
            self.encode_batch(&batch)?;
        }
        Ok(())
    }

    fn send(&mut self, msg: EncodeMsg) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.blocking_send(msg).is_ok());
        if !sent {
            self.stopped = true;
        }
    }

    fn encode_batch(&mut self, batch: &TextBatch) -> Result<()> {
        let plan = self.plan.as_ref().expect("plan while encoding");
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(plan.columns.len() + 1);
        for (j, planned) in plan.columns.iter().enumerate() {
            match convert_column(&batch.columns[j], planned.ty) {
                Ok(array) => columns.push(array),
                Err(Misfit { row }) => {
                    let text = &batch.columns[j];
                    if planned.origin != Origin::Inferred {
                        return Err(DataError::new(
                            format!(
                                "value {:?} is not a valid {} (the type forced for this column)",
                                shorten(text.value(row)),
                                planned.ty
                            ),
                            Position {
                                line: Some(batch.lines[row]),
                                column: Some(j + 1),
                                column_name: Some(planned.name.clone()),
                                ..Position::default()
                            },
                        )
                        .into());
                    }
                    if self.forced {
                        return Err(Error::Internal(format!(
                            "the input changed between passes: column {:?} has {:?} at line {}",
                            planned.name,
                            shorten(text.value(row)),
                            batch.lines[row]
                        )));
                    }
                    self.start_widening();
                    self.scan_batch(batch);
                    return Ok(());
                }
            }
        }
        for (j, array) in columns.iter().enumerate() {
            self.non_null[j] += (array.len() - array.null_count()) as u64;
            if plan.columns[j].ty == ColumnType::Int64 {
                let text = &batch.columns[j];
                // Up to 15 characters, an integer always fits a float.
                self.inexact_ints[j] += (0..text.len())
                    .filter(|&r| {
                        text.is_valid(r)
                            && text.value(r).len() > 15
                            && !classify(text.value(r)).contains(ColumnType::Float64)
                    })
                    .count() as u64;
            }
        }
        if let Some((src, _)) = &plan.value_number {
            columns.push(number_column(&batch.columns[*src]));
        }
        let schema = Arc::clone(self.schema.as_ref().expect("schema while encoding"));
        let record = RecordBatch::try_new(schema, columns)
            .map_err(|e| Error::Internal(format!("cannot assemble a record batch: {e}")))?;
        self.send(EncodeMsg::Batch(record));
        Ok(())
    }

    /// A value did not fit: abandon this attempt and gather the final types from the rest.
    fn start_widening(&mut self) {
        self.mode = Mode::Scanning;
        // Closing the channel without its end marker abandons the file downstream.
        self.tx = None;
        let plan = self.plan.as_ref().expect("plan while encoding");
        for (j, planned) in plan.columns.iter().enumerate() {
            if self.inferred[j] {
                self.stats[j] = seeded_stats(planned.ty, self.non_null[j], self.inexact_ints[j]);
            }
        }
    }

    fn scan_batch(&mut self, batch: &TextBatch) {
        let planned: Vec<Option<ColumnType>> = match &self.plan {
            Some(p) => p.columns.iter().map(|c| Some(c.ty)).collect(),
            None => vec![None; batch.columns.len()],
        };
        for (j, col) in batch.columns.iter().enumerate() {
            if !self.inferred[j] {
                continue;
            }
            for r in 0..col.len() {
                if col.is_null(r) {
                    continue;
                }
                let v = col.value(r);
                let fits = classify(v);
                self.stats[j].observe_classified(fits);
                if let Some(ty) = planned[j]
                    && !fits.contains(ty)
                    && self.misfits[j].is_none()
                {
                    self.misfits[j] = Some(Widening {
                        column: self
                            .header
                            .as_ref()
                            .map_or_else(String::new, |h| h[j].clone()),
                        from: ty.name().to_owned(),
                        to: String::new(),
                        row: batch.first_row + r as u64 + 1,
                        line: batch.lines[r],
                        value: shorten(v),
                    });
                }
            }
        }
    }

    fn end_of_input(&mut self, options: &EngineOptions) -> Result<()> {
        if self.header.is_none() {
            match &options.schema.fallback_header {
                Some(h) => self.set_header(clean_header(h), options),
                None => {
                    return Err(DataError::new(
                        "empty input: there is no header line",
                        Position::default(),
                    )
                    .into());
                }
            }
        }
        match self.mode {
            Mode::Sampling => {
                self.decide(options)?;
                if self.write {
                    self.start_encoding(options)?;
                    if self.mode == Mode::Scanning {
                        return self.finish_widening(options);
                    }
                    self.send(EncodeMsg::End);
                }
            }
            Mode::Encoding => {
                if self.write {
                    if self.schema.is_none() {
                        self.start_encoding(options)?;
                    }
                    self.send(EncodeMsg::End);
                }
            }
            Mode::Scanning => {
                if self.plan.is_some() {
                    return self.finish_widening(options);
                }
                // The `--infer-rows all` pre-pass: decide from everything.
                self.sample_rows_seen = self.total_rows;
                let header = self.header.as_ref().expect("header");
                self.plan = Some(Plan::decide(header, &self.stats, &options.schema)?);
                self.mode = Mode::Encoding;
            }
        }
        Ok(())
    }

    fn finish_widening(&mut self, options: &EngineOptions) -> Result<()> {
        let old = self.plan.clone().expect("plan before widening");
        let header = self.header.clone().expect("header before widening");
        let mut new = Plan::decide(&header, &self.stats, &options.schema)?;
        if old.value_number.is_some() {
            new.value_number.clone_from(&old.value_number);
        }
        for (j, (o, n)) in old.columns.iter().zip(&new.columns).enumerate() {
            if o.ty != n.ty
                && let Some(mut w) = self.misfits[j].take()
            {
                n.ty.name().clone_into(&mut w.to);
                self.widenings.push(w);
            }
        }
        // Describe the final types with statistics of the whole input.
        self.plan = Some(new.clone());
        self.sample_rows_seen = self.total_rows;
        self.widen_decisions = self.decisions();
        self.plan = Some(old);
        self.widen_to = Some(new);
        Ok(())
    }

    fn inference_json(&self) -> String {
        let plan = self.plan.as_ref().expect("plan");
        let columns: Vec<serde_json::Value> = plan
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let origin = match c.origin {
                    Origin::Dimension => "dimension",
                    Origin::Inferred => "inferred",
                    Origin::Override => "forced",
                };
                let mut v =
                    serde_json::json!({"name": c.name, "type": c.ty.name(), "origin": origin});
                if c.origin == Origin::Inferred && !self.forced {
                    v["values"] = serde_json::Value::String(self.stats[j].describe_mix());
                }
                v
            })
            .collect();
        serde_json::json!({
            "sample_rows": self.sample_rows_seen,
            "columns": columns,
            "value_number": plan.value_number.as_ref().map(|(_, n)| n),
        })
        .to_string()
    }

    fn decisions(&self) -> Vec<String> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if !self.forced {
            out.push(if self.sample_rows_seen >= self.total_rows {
                format!("types inferred from all {} rows", self.total_rows)
            } else {
                format!(
                    "types inferred from the first {} rows",
                    self.sample_rows_seen
                )
            });
        }
        let dims: Vec<&str> = plan
            .columns
            .iter()
            .filter(|c| c.origin == Origin::Dimension)
            .map(|c| c.name.as_str())
            .collect();
        if !dims.is_empty() {
            out.push(format!("dimensions kept as text: {}", dims.join(", ")));
        }
        for (j, c) in plan.columns.iter().enumerate() {
            match c.origin {
                Origin::Override => out.push(format!("{}: {} (forced)", c.name, c.ty)),
                Origin::Inferred if !self.forced => out.push(format!(
                    "{}: {} ({})",
                    c.name,
                    c.ty,
                    self.stats[j].describe_mix()
                )),
                _ => {}
            }
        }
        if let Some((src, name)) = &plan.value_number {
            out.push(format!(
                "added {name} (float64): the numbers of {}, null where it holds text, booleans or dates",
                plan.columns[*src].name
            ));
        }
        out
    }
}

/// The chunk of the last piece starting at or before `offset`, in (start, chunk) pairs.
fn chunk_at(starts: &[(u64, u64)], offset: u64) -> Option<u64> {
    let idx = starts.partition_point(|&(start, _)| start <= offset);
    idx.checked_sub(1).map(|i| starts[i].1)
}

/// Statistics for values that all fitted `ty`: the starting point of a scan after a widening.
/// `inexact_ints`: how many of them are integers a float cannot hold (text to inference).
fn seeded_stats(ty: ColumnType, non_null: u64, inexact_ints: u64) -> ColumnStats {
    let fits = match ty {
        ColumnType::Int64 if inexact_ints > 0 => Fits::NONE.with(ColumnType::Int64),
        ColumnType::Int64 => Fits::NONE.with(ColumnType::Int64).with(ColumnType::Float64),
        ColumnType::Utf8 => Fits::NONE,
        other => Fits::NONE.with(other),
    };
    let mut s = ColumnStats {
        fits,
        non_null,
        ..ColumnStats::default()
    };
    match ty {
        ColumnType::Int64 => s.numeric = non_null - inexact_ints,
        ColumnType::Float64 => s.numeric = non_null,
        ColumnType::Boolean => s.boolean = non_null,
        ColumnType::Date32 | ColumnType::Timestamp => s.temporal = non_null,
        ColumnType::Utf8 => {}
    }
    s
}

/// Values quoted in messages are cut to a readable length.
fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    if v.chars().count() <= MAX {
        v.to_owned()
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
