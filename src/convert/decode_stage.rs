//! The decoder thread of a pass: text batches from the [`TextReader`], the inference sample,
//! the plan, and typed record batches for the encoder.
//!
//! A pass is in one of three modes. *Sampling*: batches are held and their values classified
//! until the sample is complete; then the plan is decided and the held batches are encoded.
//! *Encoding*: each batch is converted to the plan's types and sent on. *Scanning*: values are
//! only classified, after a value did not fit its column (the file being written is abandoned
//! and the widened plan decided at the end, see [`super::widen`]), or for the statistics of
//! the whole input (`--infer-rows all`, and `--print-schema` with it).

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;

use super::encode::{mostly_distinct, without_dictionary, writer_properties};
use super::options::EngineOptions;
use super::report::{Evidence, Inference};
use super::schema::{
    ColumnType, InferRows, Layout, MAX_SAMPLE_BYTES, Misfit, Origin, Plan, clean_header,
    convert_column, number_column, parse_f64_lenient,
};
use super::text::{TextBatch, TextReader};
use super::widen::ColumnScan;
use crate::error::{DataError, Error, Position, Result};
use crate::progress::Progress;
use crate::shutdown::Shutdown;
use crate::source::Piece;
use crate::summary::Widening;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 16_384;

/// Values quoted in error messages are cut to this many characters.
const QUOTED_CHARS: usize = 80;

/// What the reader sends the decoder.
pub(super) enum PieceMsg {
    /// The next piece of input.
    Piece(Piece),
    /// The input is complete.
    End,
}

/// What the decoder sends the encoder.
pub(super) enum EncodeMsg {
    /// The file's schema and writer properties, before any batch.
    Start(SchemaRef, Box<WriterProperties>),
    /// The next typed batch.
    Batch(RecordBatch),
    /// Every batch was sent: the file may be completed.
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

/// The inference sample: batches held until the plan is decided.
#[derive(Debug, Default)]
struct Sample {
    batches: Vec<TextBatch>,
    /// Data rows the statistics cover (all rows, once decided from the whole input).
    rows: u64,
    /// Bytes of text held in `batches`.
    bytes: usize,
    /// Rows that complete the sample.
    limit: usize,
}

impl Sample {
    /// Holds `batch`; true when the sample is complete.
    fn push(&mut self, batch: TextBatch) -> bool {
        self.rows += batch.num_rows() as u64;
        self.bytes += batch
            .columns
            .iter()
            .map(|c| c.values().len())
            .sum::<usize>();
        self.batches.push(batch);
        self.rows >= self.limit as u64 || self.bytes >= MAX_SAMPLE_BYTES
    }
}

/// A column has to be widened: the pass must run again with this plan.
#[derive(Debug)]
pub(super) struct Widened {
    /// The plan for the whole input.
    pub plan: Plan,
    /// The columns that widened, each with the first value that did not fit.
    pub widenings: Vec<Widening>,
    /// Decisions about the whole input.
    pub decisions: Vec<String>,
}

/// What the decoder decided by the end of its pass.
#[derive(Debug)]
pub(super) enum Decided {
    /// The plan held (it was written with, unless the pass only infers).
    Plan(Inference),
    /// A column has to be widened.
    Widen(Widened),
}

/// The decoder thread's state.
pub(super) struct DecodeStage {
    mode: Mode,
    /// False for schema-only passes: stop as soon as the plan is known.
    write: bool,
    /// The columns, once the header is read.
    columns: Option<ColumnScan>,
    sample: Sample,
    plan: Option<Plan>,
    schema: Option<SchemaRef>,
    /// True when the plan came from an earlier pass.
    forced: bool,
    widened: Option<Widened>,
    /// Key-value metadata of the file (the inference is added when encoding starts).
    metadata: Vec<KeyValue>,
    total_rows: u64,
    /// The layout of the options (for the decisions).
    layout: Layout,
    /// The encoder went away; its stage or the destination reports why.
    stopped: bool,
    tx: Option<mpsc::Sender<EncodeMsg>>,
}

impl DecodeStage {
    /// A stage for one pass: with the plan of an earlier pass (`forced`), or sampling, or
    /// scanning everything first (`scan_all`); `write` false when only the plan is wanted.
    pub(super) fn new(
        options: &EngineOptions,
        forced: Option<Plan>,
        scan_all: bool,
        write: bool,
        metadata: Vec<KeyValue>,
    ) -> Self {
        let limit = match options.schema.infer_rows {
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
            columns: None,
            sample: Sample {
                limit,
                ..Sample::default()
            },
            forced: forced.is_some(),
            plan: forced,
            schema: None,
            widened: None,
            metadata,
            total_rows: 0,
            layout: options.schema.layout,
            stopped: false,
            tx: None,
        }
    }

    /// Runs the pass: pieces from `rx`, batches to `tx`.
    pub(super) fn run(
        &mut self,
        rx: mpsc::Receiver<PieceMsg>,
        tx: mpsc::Sender<EncodeMsg>,
        options: &EngineOptions,
        progress: &Progress,
        shutdown: &Shutdown,
    ) -> Result<()> {
        self.tx = Some(tx);
        let r = self.run_inner(rx, options, progress, shutdown);
        // Whatever happened, the encoder must see its input close now.
        self.tx = None;
        r
    }

    /// What the pass decided; `None` when it ended before a plan (it failed or was stopped).
    pub(super) fn decided(self) -> Option<Decided> {
        if let Some(widened) = self.widened {
            return Some(Decided::Widen(widened));
        }
        let decisions = self.evidence()?.decisions();
        Some(Decided::Plan(Inference {
            plan: self.plan?,
            decisions,
            sample_rows: self.sample.rows,
        }))
    }

    fn run_inner(
        &mut self,
        mut rx: mpsc::Receiver<PieceMsg>,
        options: &EngineOptions,
        progress: &Progress,
        shutdown: &Shutdown,
    ) -> Result<()> {
        let mut reader = TextReader::new(&options.csv, BATCH_ROWS);
        loop {
            if shutdown.is_triggered() || self.stopped || self.done_early() {
                return Ok(());
            }
            // `None`: the reader stopped early and reports why.
            let Some(msg) = rx.blocking_recv() else {
                return Ok(());
            };
            let end = match msg {
                PieceMsg::Piece(piece) => {
                    reader.feed(&piece.data, piece.chunk);
                    false
                }
                PieceMsg::End => {
                    reader.finish();
                    true
                }
            };
            while let Some(batch) = reader.next_batch()? {
                self.take_header(&reader, options);
                self.handle_batch(batch, options, progress)?;
                if self.stopped || self.done_early() {
                    return Ok(());
                }
            }
            self.take_header(&reader, options);
            if end {
                return self.end_of_input(options);
            }
        }
    }

    /// True when a schema-only pass has what it came for.
    fn done_early(&self) -> bool {
        !self.write && self.plan.is_some() && self.mode != Mode::Scanning
    }

    fn take_header(&mut self, reader: &TextReader, options: &EngineOptions) {
        if self.columns.is_none()
            && let Some(raw) = reader.header()
        {
            self.columns = Some(ColumnScan::new(clean_header(raw), &options.schema));
        }
    }

    fn columns(&mut self) -> &mut ColumnScan {
        self.columns
            .as_mut()
            .expect("the header comes before any row")
    }

    fn handle_batch(
        &mut self,
        batch: TextBatch,
        options: &EngineOptions,
        progress: &Progress,
    ) -> Result<()> {
        let n = batch.num_rows() as u64;
        self.total_rows += n;
        progress.add_rows(n);
        match self.mode {
            Mode::Sampling => {
                self.columns().observe_sample(&batch);
                if self.sample.push(batch) {
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

    /// Decides the plan from the statistics so far and switches to encoding.
    fn decide(&mut self, options: &EngineOptions) -> Result<()> {
        let columns = self.columns.as_ref().expect("header before the plan");
        self.plan = Some(Plan::decide(
            columns.header(),
            columns.stats(),
            &options.schema,
        )?);
        self.mode = Mode::Encoding;
        Ok(())
    }

    /// What the plan was decided from, once there is one.
    fn evidence(&self) -> Option<Evidence<'_>> {
        Some(Evidence {
            plan: self.plan.as_ref()?,
            stats: self.columns.as_ref().map_or(&[], ColumnScan::stats),
            from_earlier_pass: self.forced,
            sample_rows: self.sample.rows,
            total_rows: self.total_rows,
            layout: self.layout,
        })
    }

    /// The columns written without a dictionary: `Value_number`, and the float columns whose
    /// held sample is mostly distinct (none when no sample is held, as in a second pass).
    fn plain_columns(&self, plan: &Plan) -> Vec<String> {
        let batches = &self.sample.batches;
        let floats = plan.columns.iter().enumerate().filter(|(i, c)| {
            c.ty == ColumnType::Float64
                && !batches.is_empty()
                && mostly_distinct(batches.iter().flat_map(|b| b.columns[*i].iter()))
        });
        floats
            .map(|(_, c)| c.name.clone())
            .chain(plan.value_number.iter().map(|(_, name)| name.clone()))
            .collect()
    }

    fn start_encoding(&mut self, options: &EngineOptions) -> Result<()> {
        let evidence = self.evidence().expect("plan before encoding");
        let schema = evidence.plan.arrow_schema();
        let mut metadata = self.metadata.clone();
        metadata.push(KeyValue::new(
            "anaplan_parquet.inference".to_owned(),
            evidence.metadata_json(),
        ));
        let plain = self.plain_columns(evidence.plan);
        let props = without_dictionary(
            writer_properties(&options.parquet, metadata),
            plain.iter().map(String::as_str),
        );
        self.schema = Some(Arc::clone(&schema));
        self.send(EncodeMsg::Start(schema, Box::new(props)));
        for batch in std::mem::take(&mut self.sample.batches) {
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
                    let text = batch.columns[j].value(row);
                    let value = crate::units::shorten(text, QUOTED_CHARS);
                    if planned.origin != Origin::Inferred {
                        let numeric = matches!(planned.ty, ColumnType::Int64 | ColumnType::Float64);
                        let why = if numeric && parse_f64_lenient(text).is_some() {
                            // `1e-400`, `0.1234567890123456789`, `-0` as int64: a number, but
                            // the type would change it.
                            format!(
                                "is a number that {} does not hold exactly (it would be altered; force utf8 to keep the text)",
                                planned.ty
                            )
                        } else {
                            format!("is not a valid {}", planned.ty)
                        };
                        return Err(DataError::new(
                            format!("value {value:?} {why} (the type forced for this column)"),
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
                            "the input changed between passes: column {:?} has {value:?} at line {}",
                            planned.name, batch.lines[row]
                        )));
                    }
                    self.start_widening();
                    self.scan_batch(batch);
                    return Ok(());
                }
            }
        }
        let scan = self
            .columns
            .as_mut()
            .expect("the header comes before any row");
        for (j, array) in columns.iter().enumerate() {
            scan.count_converted(j, &batch.columns[j], array, plan.columns[j].ty);
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
        self.columns
            .as_mut()
            .expect("the header comes before any row")
            .seed_from_converted(plan);
    }

    fn scan_batch(&mut self, batch: &TextBatch) {
        self.columns
            .as_mut()
            .expect("the header comes before any row")
            .scan(batch, self.plan.as_ref());
    }

    fn end_of_input(&mut self, options: &EngineOptions) -> Result<()> {
        if self.columns.is_none() {
            let Some(h) = &options.schema.fallback_header else {
                return Err(DataError::new(
                    "empty input: there is no header line",
                    Position::default(),
                )
                .into());
            };
            self.columns = Some(ColumnScan::new(clean_header(h), &options.schema));
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
                self.sample.rows = self.total_rows;
                self.decide(options)?;
            }
        }
        Ok(())
    }

    /// The scan after a misfit is complete: decide the plan for the whole input.
    fn finish_widening(&mut self, options: &EngineOptions) -> Result<()> {
        let old = self.plan.as_ref().expect("plan before widening");
        let columns = self.columns.as_mut().expect("header before widening");
        let (plan, widenings) = columns.widen(old, &options.schema)?;
        // Describe the final types with statistics of the whole input.
        self.sample.rows = self.total_rows;
        let decisions = Evidence {
            plan: &plan,
            stats: columns.stats(),
            from_earlier_pass: self.forced,
            sample_rows: self.total_rows,
            total_rows: self.total_rows,
            layout: self.layout,
        }
        .decisions();
        self.widened = Some(Widened {
            plan,
            widenings,
            decisions,
        });
        Ok(())
    }
}
