//! Destination throughput: the same bytes written to a local file (temp file + rename) and
//! uploaded to a real S3-compatible server on loopback (s3s-fs, signed requests, multipart),
//! in the few-MiB blocks the engine sends. Sweeps part size and upload concurrency.
//!
//! `cargo bench --bench upload`; `UPLOAD_BENCH_MIB` sets the size written per iteration
//! (default 64).

use std::time::Duration;

use anaplan_parquet::sink::{Destination, DestinationOptions, StorageOption};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/it/support/s3.rs"]
mod s3;

const BLOCK: usize = 4 << 20;

fn data(mib: usize) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut v = vec![0u8; mib << 20];
    rng.fill(&mut v);
    Bytes::from(v)
}

async fn write(dest: &Destination, schema: &Schema, data: &Bytes) {
    let mut w = dest.begin(schema).await.expect("begin");
    let mut at = 0;
    while at < data.len() {
        let end = (at + BLOCK).min(data.len());
        w.write(data.slice(at..end)).await.expect("write");
        at = end;
    }
    w.finish().await.expect("finish");
}

fn bench_upload(c: &mut Criterion) {
    let mib: usize = std::env::var("UPLOAD_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let payload = data(mib);
    let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);

    let server = rt.block_on(s3::S3Server::start());
    server.create_bucket("bench");
    let dir = tempfile::tempdir().expect("temp dir");

    let mut g = c.benchmark_group("upload");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));

    let local = Destination::parse(dir.path().join("out.parquet").to_str().unwrap()).unwrap();
    g.bench_function("local_file", |b| {
        b.to_async(&rt).iter(|| write(&local, &schema, &payload));
    });

    for (part_mib, concurrency, unsigned) in [
        (8, 4, false),
        (16, 4, false),
        (8, 1, false),
        (8, 8, false),
        (8, 4, true),
    ] {
        let mut o: DestinationOptions = server.options("s3://bench/out.parquet");
        o.upload_part_size = part_mib << 20;
        o.upload_concurrency = concurrency;
        if unsigned {
            // No SHA-256 of each part on the client (the signature covers headers only).
            o.storage_options
                .push(StorageOption::parse("unsigned_payload=true").unwrap());
        }
        let unsigned = if unsigned { "/unsigned_payload" } else { "" };
        let dest = Destination::from_options(&o).unwrap();
        g.bench_function(
            format!("s3s_fs/part_{part_mib}MiB/concurrency_{concurrency}{unsigned}"),
            |b| {
                b.to_async(&rt).iter(|| write(&dest, &schema, &payload));
            },
        );
    }
    g.finish();
    assert!(server.pending_uploads().is_empty());
}

criterion_group!(benches, bench_upload);
criterion_main!(benches);
