//! Engine benchmarks on generated Tabular Single Column data (seeded, so every run sees the
//! same bytes): CSV reading (transcoding and decoding, batch-size sweep), typing, Parquet encoding (codec sweep), and
//! the whole `convert` pipeline (decode and encode on their own threads).
//!
//! `cargo bench --bench engine`. The 1 GB end-to-end figure and peak memory come from the
//! binary itself (see the README's benchmark section), not from here.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use anaplan_parquet::convert::internals::{
    Output, ParquetEncoder, TextBatch, convert_column, number_column, read_all, writer_properties,
};
use anaplan_parquet::convert::{
    self, Codec, ColumnType, CsvOptions, EngineOptions, ParquetOptions, RunContext,
};
use anaplan_parquet::generate::{Generator, GeneratorConfig};
use anaplan_parquet::sink::Destination;
use anaplan_parquet::source::MemorySource;
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const ROWS: u64 = 400_000;

fn data(numeric_only: bool) -> Vec<u8> {
    let g = Generator::new(GeneratorConfig {
        rows: ROWS,
        seed: 42,
        numeric_only,
        ..GeneratorConfig::default()
    });
    let mut out = Vec::new();
    g.write_all(&mut out).expect("in memory");
    out
}

/// The input in pieces of 1 MiB, as a file is read.
fn pieces(input: &[u8]) -> Vec<Bytes> {
    let whole = Bytes::copy_from_slice(input);
    (0..input.len())
        .step_by(1 << 20)
        .map(|start| whole.slice(start..input.len().min(start + (1 << 20))))
        .collect()
}

/// Transcodes (UTF-8: validates) and decodes every piece, as the engine's decoder thread does.
fn decode_all(pieces: &[Bytes], batch_rows: usize) -> Vec<TextBatch> {
    read_all(pieces, &CsvOptions::default(), batch_rows)
        .expect("valid")
        .1
}

fn bench_decode(c: &mut Criterion) {
    let input = data(false);
    let pieces = pieces(&input);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    for batch_rows in [4096usize, 16_384, 65_536] {
        group.bench_with_input(
            BenchmarkId::new("csv_to_text_columns", batch_rows),
            &batch_rows,
            |b, &n| b.iter(|| black_box(decode_all(&pieces, n))),
        );
    }
    group.finish();
}

fn typed_batches(input: &[u8]) -> Vec<RecordBatch> {
    let batches = decode_all(&pieces(input), 16_384);
    let header = Generator::new(GeneratorConfig::default()).header();
    let mut fields: Vec<Field> = header
        .iter()
        .map(|h| Field::new(h, DataType::Utf8, true))
        .collect();
    fields.push(Field::new("Value_number", DataType::Float64, true));
    let schema = Arc::new(Schema::new(fields));
    batches
        .iter()
        .map(|b| {
            let mut cols: Vec<ArrayRef> = b.columns.iter().map(|c| c.clone() as ArrayRef).collect();
            cols.push(number_column(b.columns.last().expect("value")));
            RecordBatch::try_new(schema.clone(), cols).expect("batch")
        })
        .collect()
}

fn bench_typing(c: &mut Criterion) {
    let input = data(true);
    let batches = decode_all(&pieces(&input), 16_384);
    let mut group = c.benchmark_group("typing");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    group.bench_function("value_to_float64", |b| {
        b.iter(|| {
            for batch in &batches {
                black_box(
                    convert_column(batch.columns.last().expect("value"), ColumnType::Float64).ok(),
                );
            }
        });
    });
    group.bench_function("value_number_companion", |b| {
        b.iter(|| {
            for batch in &batches {
                black_box(number_column(batch.columns.last().expect("value")));
            }
        });
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let input = data(false);
    let batches = typed_batches(&input);
    let schema = batches[0].schema();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    for (name, codec) in [
        ("zstd", Codec::Zstd),
        ("snappy", Codec::Snappy),
        ("none", Codec::None),
    ] {
        group.bench_function(BenchmarkId::new("parquet", name), |b| {
            b.iter(|| {
                let options = ParquetOptions {
                    compression: codec,
                    ..ParquetOptions::default()
                };
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Output>(1024);
                let drain = std::thread::spawn(move || {
                    let mut n = 0usize;
                    while let Some(m) = rx.blocking_recv() {
                        if let Output::Data(d) = m {
                            n += d.len();
                        }
                    }
                    n
                });
                let mut enc = ParquetEncoder::try_new(
                    schema.clone(),
                    writer_properties(&options, Vec::new()),
                    tx,
                )
                .expect("encoder");
                for batch in &batches {
                    enc.write(batch).expect("write");
                }
                enc.finish().expect("finish");
                black_box(drain.join().expect("drain"))
            });
        });
    }
    group.finish();
}

fn bench_convert(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("convert");
    group.sample_size(10);
    for (name, numeric_only) in [("mixed_values", false), ("numeric_values", true)] {
        let input = data(numeric_only);
        group.throughput(Throughput::Bytes(input.len() as u64));
        let pieces: Vec<Bytes> = input.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("bench.parquet");
        let dest = Destination::parse(out.to_str().expect("utf-8 path")).expect("destination");
        group.bench_function(BenchmarkId::new("zstd_to_local_file", name), |b| {
            b.to_async(&rt).iter(|| async {
                let source = MemorySource::new("bench", pieces.clone());
                convert::convert(
                    &source,
                    &dest,
                    &EngineOptions::default(),
                    &RunContext::default(),
                )
                .await
                .expect("converts")
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_typing,
    bench_encode,
    bench_convert
);
criterion_main!(benches);
