//! Parquet encoding: writer properties, and a writer whose output flows into a bounded channel
//! as blocks of bytes, so encoding (on its own thread) and uploading (async) overlap and a slow
//! destination slows the encoder down instead of filling memory.

use std::io::{self, Write};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tokio::sync::mpsc;

use crate::engine::{Codec, ParquetOptions};
use crate::error::{Error, Result};

/// Size of the byte blocks handed to the destination.
pub const OUTPUT_BLOCK_BYTES: usize = 1 << 20;

/// The `created_by` string written into every file.
pub fn created_by() -> String {
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

/// What the encoder sends downstream.
#[derive(Debug)]
pub enum Output {
    /// The schema, sent once before any bytes (the destination checks it before writing).
    Begin(SchemaRef),
    /// Encoded bytes, in order.
    Data(Bytes),
    /// The file is complete: every byte was sent.
    End,
}

/// `io::Write` into a bounded channel, in blocks. Blocks the encoding thread when the channel
/// is full. Fails with `BrokenPipe` when the receiver is gone.
#[derive(Debug)]
pub struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Output>,
}

impl ChannelWriter {
    /// A writer sending blocks of [`OUTPUT_BLOCK_BYTES`] into `tx`.
    pub fn new(tx: mpsc::Sender<Output>) -> Self {
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
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "destination stopped"))
    }

    /// Sends what is buffered, then the end marker.
    pub fn finish(&mut self) -> io::Result<()> {
        self.send_buf()?;
        self.tx
            .blocking_send(Output::End)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "destination stopped"))
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

/// Encodes record batches into a Parquet file written to a channel.
pub struct ParquetEncoder {
    writer: ArrowWriter<ChannelWriter>,
}

impl std::fmt::Debug for ParquetEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetEncoder").finish_non_exhaustive()
    }
}

/// How an encoder stopped.
#[derive(Debug)]
pub enum EncodeError {
    /// The destination side went away (it reports its own error).
    Stopped,
    /// Encoding failed.
    Failed(Error),
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(map_parquet)`
fn map_parquet(e: parquet::errors::ParquetError) -> EncodeError {
    match &e {
        parquet::errors::ParquetError::External(inner)
            if inner
                .downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) =>
        {
            EncodeError::Stopped
        }
        _ if e.to_string().contains("destination stopped") => EncodeError::Stopped,
        _ => EncodeError::Failed(Error::Internal(format!("Parquet encoding failed: {e}"))),
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
        let writer = ArrowWriter::try_new(ChannelWriter::new(tx), schema, Some(props))
            .map_err(map_parquet)?;
        Ok(ParquetEncoder { writer })
    }

    /// Encodes one batch (row groups are flushed as they fill).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), EncodeError> {
        self.writer.write(batch).map_err(map_parquet)
    }

    /// Writes the footer and sends the end marker. Returns the rows written.
    pub fn finish(self) -> Result<u64, EncodeError> {
        let mut writer = self.writer;
        let meta = writer.finish().map_err(map_parquet)?;
        let rows = meta
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum();
        // `finish` flushed everything into the channel writer; send the rest and the end.
        writer
            .inner_mut()
            .finish()
            .map_err(|_| EncodeError::Stopped)?;
        Ok(rows)
    }
}
