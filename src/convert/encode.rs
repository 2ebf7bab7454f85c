//! Parquet encoding: the writer options, writer properties, and an encoder whose output flows into a bounded
//! channel as blocks of bytes, so encoding (on its own threads) and uploading (async) overlap
//! and a slow destination slows the encoder down instead of filling memory.
//!
//! Encoding costs more CPU than decoding (dictionary interning and statistics for every
//! text value), so the columns of each batch are encoded in parallel: the encoding thread and
//! one helper thread take column jobs from a shared queue, each job moving a column's
//! [`ArrowColumnWriter`] to whichever thread is free. Column chunks are closed the same way at
//! the end of a row group (the last pages and the dictionary pages are compressed then), and
//! the row group is assembled in column order on the encoding thread.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, mpsc as std_mpsc};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
    compute_leaves,
};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Parquet compression codecs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Codec {
    /// Zstandard (level 1).
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (raw).
    Lz4,
    /// Gzip.
    Gzip,
    /// No compression.
    None,
}

/// Parquet writer options.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// Compression codec.
    pub compression: Codec,
    /// Maximum rows per row group.
    pub row_group_rows: usize,
    /// Maximum encoded bytes per row group (bounds memory with wide text).
    pub row_group_bytes: usize,
    /// Extra key-value metadata (export names and ids, task id, ...).
    pub metadata: Vec<(String, String)>,
}

/// Default maximum rows per row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;
/// Default maximum encoded bytes per row group.
pub const DEFAULT_ROW_GROUP_BYTES: usize = 64 << 20;

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: Codec::Zstd,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            metadata: Vec::new(),
        }
    }
}

/// Size of the byte blocks handed to the destination.
const OUTPUT_BLOCK_BYTES: usize = 1 << 20;

/// The `created_by` string written into every file.
fn created_by() -> String {
    format!(
        "anaplan-parquet version {} (parquet-rs)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writer properties for `options`, with `metadata` as key-value metadata.
pub fn writer_properties(options: &ParquetOptions, metadata: Vec<KeyValue>) -> WriterProperties {
    let compression = match options.compression {
        Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")),
        Codec::Snappy => Compression::SNAPPY,
        Codec::Lz4 => Compression::LZ4_RAW,
        Codec::Gzip => Compression::GZIP(GzipLevel::default()),
        Codec::None => Compression::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
        .set_max_row_group_bytes(Some(options.row_group_bytes.max(1)))
        .set_created_by(created_by())
        .set_key_value_metadata(Some(metadata))
        .build()
}

/// `props` with `columns` written without a dictionary: `Value_number`, and the float columns
/// whose sample is mostly distinct ([`mostly_distinct`]). Such values (the numbers of a
/// measure) fill a dictionary's 1 MiB page limit early in every row group, which then falls
/// back to plain anyway, after hashing every value. Plain from the start is faster and smaller
/// (zstd, 2M generated rows: 7.0 against 7.4 MB for `Value_number`; 9.0 against 11.0 MB for a
/// numeric `Value`).
pub fn without_dictionary<'a>(
    props: WriterProperties,
    columns: impl IntoIterator<Item = &'a str>,
) -> WriterProperties {
    let mut builder = props.into_builder();
    for column in columns {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    builder.build()
}

/// Values of a column's sample looked at by [`mostly_distinct`].
const DISTINCT_SAMPLE: usize = 10_000;

/// Whether a column's sampled values are mostly distinct: at least half of the first
/// [`DISTINCT_SAMPLE`] non-null values (and at least 100 of them, else there is too little to
/// tell). A dictionary pays off only for repeated values; dimensions repeat, measures rarely do.
pub fn mostly_distinct<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut count = 0usize;
    for value in values.into_iter().flatten().take(DISTINCT_SAMPLE) {
        count += 1;
        seen.insert(value);
    }
    count >= 100 && seen.len() * 2 >= count
}

/// What the encoder sends downstream.
#[derive(Debug)]
pub enum Output {
    /// The schema, sent once before any bytes (the destination checks it before writing).
    Begin(SchemaRef),
    /// Encoded bytes, in order.
    Data(Bytes),
    /// A record batch, for a destination that takes batches instead of bytes
    /// ([`Sink::wants_bytes`](crate::sink::Sink::wants_bytes)).
    Rows(RecordBatch),
    /// The file's footer, just before the end: every row group's statistics, for a
    /// destination that records them ([`SinkWriter::footer`](crate::sink::SinkWriter::footer)).
    Footer(Arc<ParquetMetaData>),
    /// The file is complete: every byte was sent.
    End,
}

/// The marker inside the I/O error a [`ChannelWriter`] fails with when the destination side
/// went away: it tells that stop from a real encoding failure however the Parquet writer
/// wraps the error.
#[derive(Debug)]
struct DestinationStopped;

impl fmt::Display for DestinationStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("destination stopped")
    }
}

impl std::error::Error for DestinationStopped {}

fn destination_stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, DestinationStopped)
}

/// True when `e`, or an error it wraps, is a [`DestinationStopped`].
fn is_destination_stopped(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<DestinationStopped>()
            || err
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .is_some_and(<dyn std::error::Error + Send + Sync>::is::<DestinationStopped>)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// `io::Write` into a bounded channel, in blocks. Blocks the encoding thread when the channel
/// is full. Fails with a [`DestinationStopped`] error when the receiver is gone.
#[derive(Debug)]
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Output>,
}

impl ChannelWriter {
    /// A writer sending blocks of [`OUTPUT_BLOCK_BYTES`] into `tx`.
    fn new(tx: mpsc::Sender<Output>) -> Self {
        ChannelWriter {
            buf: Vec::with_capacity(OUTPUT_BLOCK_BYTES),
            tx,
        }
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(OUTPUT_BLOCK_BYTES));
        self.tx
            .blocking_send(Output::Data(Bytes::from(block)))
            .map_err(|_| destination_stopped())
    }

    /// Sends what is buffered, the footer, then the end marker.
    fn finish(&mut self, footer: Arc<ParquetMetaData>) -> io::Result<()> {
        self.send_buf()?;
        self.tx
            .blocking_send(Output::Footer(footer))
            .map_err(|_| destination_stopped())?;
        self.tx
            .blocking_send(Output::End)
            .map_err(|_| destination_stopped())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= OUTPUT_BLOCK_BYTES {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Parquet flushes after every row group; blocks are sent when full, not on flush, so
        // small row groups do not make small uploads.
        Ok(())
    }
}

/// Threads that encode columns, the encoding thread included.
const ENCODE_THREADS: usize = 2;

/// How an encoder stopped.
#[derive(Debug)]
pub enum EncodeError {
    /// The destination side went away (it reports its own error).
    Stopped,
    /// Encoding failed.
    Failed(Error),
}

fn internal(what: &str) -> EncodeError {
    EncodeError::Failed(Error::Internal(what.to_owned()))
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(map_parquet)`
fn map_parquet(e: parquet::errors::ParquetError) -> EncodeError {
    if is_destination_stopped(&e) {
        EncodeError::Stopped
    } else {
        EncodeError::Failed(Error::Internal(format!("Parquet encoding failed: {e}")))
    }
}

/// What a job does with its column's writer.
enum Work {
    /// Encode the column's share of a batch.
    Write(Vec<ArrowLeafColumn>),
    /// Close the column chunk at the end of a row group (its last page and its dictionary
    /// page are compressed here, on whichever thread is free, not one after another on the
    /// encoding thread).
    Close,
}

/// One job on one column: its writer travels with the job.
struct Job {
    column: usize,
    writer: ArrowColumnWriter,
    work: Work,
    done: std_mpsc::Sender<Done>,
}

/// What comes back from a job.
enum Finished {
    /// The writer, for the next batch (both boxed: they are large, and moved between threads).
    Writer(Box<ArrowColumnWriter>),
    /// The closed column chunk, to append to the row group.
    Chunk(Box<ArrowColumnChunk>),
}

/// A finished job.
struct Done {
    column: usize,
    result: parquet::errors::Result<Finished>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// A tiny pool: helpers wait for jobs; the encoding thread also works the queue.
struct Pool {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Pool {
    fn push(&self, jobs: Vec<Job>) {
        self.queue.lock().expect("pool").jobs.extend(jobs);
        self.ready.notify_all();
    }

    /// The next job, without waiting.
    fn try_pop(&self) -> Option<Job> {
        self.queue.lock().expect("pool").jobs.pop_front()
    }

    /// The next job, waiting for one; `None` once closed.
    fn pop(&self) -> Option<Job> {
        let mut q = self.queue.lock().expect("pool");
        loop {
            if let Some(job) = q.jobs.pop_front() {
                return Some(job);
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).expect("pool");
        }
    }

    fn close(&self) {
        self.queue.lock().expect("pool").closed = true;
        self.ready.notify_all();
    }
}

fn run_job(job: Job) {
    let Job {
        column,
        mut writer,
        work,
        done,
    } = job;
    let result = match work {
        Work::Write(leaves) => leaves
            .iter()
            .try_for_each(|leaf| writer.write(leaf))
            .map(|()| Finished::Writer(Box::new(writer))),
        Work::Close => writer.close().map(|c| Finished::Chunk(Box::new(c))),
    };
    let _ = done.send(Done { column, result });
}

/// Encodes record batches into a Parquet file written to a channel, columns in parallel.
pub struct ParquetEncoder {
    file: SerializedFileWriter<ChannelWriter>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    writers: Vec<Option<ArrowColumnWriter>>,
    row_group: usize,
    buffered_rows: usize,
    max_rows: usize,
    max_bytes: usize,
    pool: Arc<Pool>,
    helpers: Vec<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for ParquetEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetEncoder")
            .field("row_group", &self.row_group)
            .field("buffered_rows", &self.buffered_rows)
            .finish_non_exhaustive()
    }
}

impl Drop for ParquetEncoder {
    fn drop(&mut self) {
        self.pool.close();
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

impl ParquetEncoder {
    /// Starts a file: announces the schema downstream, then opens the writer.
    pub fn try_new(
        schema: SchemaRef,
        props: WriterProperties,
        tx: mpsc::Sender<Output>,
    ) -> Result<Self, EncodeError> {
        tx.blocking_send(Output::Begin(schema.clone()))
            .map_err(|_| EncodeError::Stopped)?;
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
        let max_bytes = props.max_row_group_bytes().unwrap_or(usize::MAX);
        // The Arrow writer adds the encoded Arrow schema to the footer; its lower-level parts
        // then let us encode columns on several threads.
        let (file, factory) =
            ArrowWriter::try_new(ChannelWriter::new(tx), schema.clone(), Some(props))
                .and_then(ArrowWriter::into_serialized_writer)
                .map_err(map_parquet)?;
        let pool = Arc::new(Pool {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
        });
        let helpers = (1..ENCODE_THREADS)
            .map(|i| {
                let pool = Arc::clone(&pool);
                // The helpers' CPU time counts for the run this encoder works for.
                let cpu = crate::stages::CpuMeter::current();
                std::thread::Builder::new()
                    .name(format!("parquet-encode-{i}"))
                    .spawn(move || {
                        let _cpu = crate::stages::cpu::enter_optional(cpu.as_ref());
                        while let Some(job) = pool.pop() {
                            run_job(job);
                        }
                    })
                    .map_err(|e| {
                        EncodeError::Failed(Error::Internal(format!(
                            "cannot start an encoding thread: {e}"
                        )))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut encoder = ParquetEncoder {
            file,
            factory,
            schema,
            writers: Vec::new(),
            row_group: 0,
            buffered_rows: 0,
            max_rows,
            max_bytes,
            pool,
            helpers,
        };
        encoder.open_row_group()?;
        Ok(encoder)
    }

    fn open_row_group(&mut self) -> Result<(), EncodeError> {
        self.writers = self
            .factory
            .create_column_writers(self.row_group)
            .map_err(map_parquet)?
            .into_iter()
            .map(Some)
            .collect();
        self.buffered_rows = 0;
        Ok(())
    }

    fn estimated_bytes(&self) -> usize {
        self.writers
            .iter()
            .flatten()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }

    /// Encodes one batch, splitting it where a row group fills up, by rows or by bytes. The
    /// bytes a slice will take are estimated from the row group so far (or, in a new row group,
    /// from the batch's own size), so a row group of long texts does not overshoot its byte
    /// bound by most of a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let room = self.max_rows - self.buffered_rows;
            let fit = self.rows_that_fit(&rest);
            if fit == 0 {
                self.close_row_group()?;
                self.open_row_group()?;
                continue;
            }
            let take = room.min(rest.num_rows()).min(fit);
            let part = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            self.write_columns(&part)?;
            self.buffered_rows += take;
            if self.buffered_rows >= self.max_rows || self.estimated_bytes() >= self.max_bytes {
                self.close_row_group()?;
                self.open_row_group()?;
            }
        }
        Ok(())
    }

    /// About how many rows of `batch` still fit in the row group's byte bound (at least one in
    /// an empty row group; 0 when it is full).
    fn rows_that_fit(&self, batch: &RecordBatch) -> usize {
        if self.buffered_rows == 0 {
            let raw: usize = batch
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum();
            let per_row = (raw / batch.num_rows().max(1)).max(1);
            return (self.max_bytes / per_row).max(1);
        }
        let used = self.estimated_bytes();
        let per_row = (used / self.buffered_rows).max(1);
        self.max_bytes.saturating_sub(used) / per_row
    }

    fn write_columns(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        let mut work = Vec::with_capacity(batch.num_columns());
        for (field, array) in self.schema.fields().iter().zip(batch.columns()) {
            work.push(Work::Write(
                compute_leaves(field, array).map_err(map_parquet)?,
            ));
        }
        for (column, finished) in self.run_jobs(work)?.into_iter().enumerate() {
            let Finished::Writer(writer) = finished else {
                return Err(internal("a write job returned no writer"));
            };
            self.writers[column] = Some(*writer);
        }
        Ok(())
    }

    /// Runs one job per column on the pool (this thread works the queue too) and returns what
    /// each gave back, in column order; the first error when any failed.
    fn run_jobs(&mut self, work: Vec<Work>) -> Result<Vec<Finished>, EncodeError> {
        let (done_tx, done_rx) = std_mpsc::channel();
        let mut jobs = Vec::with_capacity(work.len());
        for (column, work) in work.into_iter().enumerate() {
            let writer = self.writers[column]
                .take()
                .ok_or_else(|| internal("column writer missing"))?;
            jobs.push(Job {
                column,
                writer,
                work,
                done: done_tx.clone(),
            });
        }
        drop(done_tx);
        let n = jobs.len();
        self.pool.push(jobs);
        while let Some(job) = self.pool.try_pop() {
            run_job(job);
        }
        let mut finished: Vec<Option<Finished>> = (0..n).map(|_| None).collect();
        let mut first_error = None;
        for _ in 0..n {
            let done = done_rx
                .recv()
                .map_err(|_| internal("an encoding thread stopped"))?;
            match done.result {
                Ok(f) => finished[done.column] = Some(f),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(map_parquet(e));
        }
        finished
            .into_iter()
            .map(|f| f.ok_or_else(|| internal("a column job did not finish")))
            .collect()
    }

    fn close_row_group(&mut self) -> Result<(), EncodeError> {
        let work = (0..self.writers.len()).map(|_| Work::Close).collect();
        let chunks = self.run_jobs(work)?;
        self.writers.clear();
        let mut row_group = self.file.next_row_group().map_err(map_parquet)?;
        for finished in chunks {
            let Finished::Chunk(chunk) = finished else {
                return Err(internal("a close job returned no column chunk"));
            };
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(map_parquet)?;
        }
        row_group.close().map_err(map_parquet)?;
        self.row_group += 1;
        Ok(())
    }

    /// Writes the last row group and the footer, and sends the end marker. Returns the rows
    /// written.
    pub fn finish(mut self) -> Result<u64, EncodeError> {
        if self.buffered_rows > 0 {
            self.close_row_group()?;
        }
        let meta = self.file.finish().map_err(map_parquet)?;
        let rows = meta
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum();
        // `finish` flushed everything into the channel writer; send the rest and the end.
        self.file
            .inner_mut()
            .finish(Arc::new(meta))
            .map_err(|_| EncodeError::Stopped)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::errors::ParquetError;

    use super::*;

    #[test]
    fn mostly_distinct_needs_half_of_a_large_enough_sample_distinct() {
        let numbers: Vec<String> = (0..1_000).map(|i| format!("{i}.5")).collect();
        assert!(mostly_distinct(numbers.iter().map(|s| Some(s.as_str()))));
        // Two values each: exactly half distinct still counts; fewer does not.
        let pairs: Vec<String> = (0..1_000).map(|i| format!("{}", i / 2)).collect();
        assert!(mostly_distinct(pairs.iter().map(|s| Some(s.as_str()))));
        let triples: Vec<String> = (0..1_000).map(|i| format!("{}", i / 3)).collect();
        assert!(!mostly_distinct(triples.iter().map(|s| Some(s.as_str()))));
        // Nulls are not values; 99 values are too few to tell.
        let few = numbers[..99].iter().map(|s| Some(s.as_str()));
        assert!(!mostly_distinct(
            few.chain(std::iter::repeat_n(None, 5_000))
        ));
        // Only the first 10,000 values are looked at.
        let late = std::iter::repeat_n("1", 10_000).chain(numbers.iter().map(String::as_str));
        assert!(!mostly_distinct(late.map(Some)));
    }

    #[test]
    fn the_stop_marker_is_found_however_it_is_wrapped() {
        let direct = ParquetError::from(destination_stopped());
        assert!(is_destination_stopped(&direct));
        let through_arrow = ParquetError::from(arrow::error::ArrowError::IoError(
            "writing".into(),
            destination_stopped(),
        ));
        assert!(is_destination_stopped(&through_arrow));
        // A broken pipe of some other making, or a message that merely says so, is a failure.
        let other = ParquetError::from(io::Error::new(io::ErrorKind::BrokenPipe, "pipe"));
        assert!(!is_destination_stopped(&other));
        let text = ParquetError::General("destination stopped".into());
        assert!(!is_destination_stopped(&text));
    }

    #[test]
    fn an_encoder_whose_destination_went_away_stops_without_an_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..50_000));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let props = writer_properties(&ParquetOptions::default(), Vec::new());
        let drain = std::thread::spawn(move || {
            // Take the schema, then go away.
            assert!(matches!(rx.blocking_recv(), Some(Output::Begin(_))));
        });
        let mut encoder = ParquetEncoder::try_new(schema, props, tx).unwrap();
        drain.join().unwrap();
        let result = (0..64)
            .try_for_each(|_| encoder.write(&batch))
            .and_then(|()| encoder.finish().map(drop));
        assert!(matches!(result, Err(EncodeError::Stopped)), "{result:?}");
    }
}
