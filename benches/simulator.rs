//! Generator throughput, and what the simulator's per-connection bandwidth cap makes
//! measurable: downloading an export's chunks one at a time against four at a time.
//!
//! `cargo bench --bench simulator`

use std::time::Duration;

use anaplan_parquet::Secret;
use anaplan_parquet::generate::{Generator, GeneratorConfig};
use anaplan_parquet::simulator::{Simulator, SimulatorConfig, SimulatorHandle};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};

fn generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    for (name, config) in [
        ("tsc", GeneratorConfig::default()),
        (
            "tsc_quote_all_crlf",
            GeneratorConfig {
                quote_all: true,
                crlf: true,
                ..GeneratorConfig::default()
            },
        ),
        (
            "numeric_8_dims",
            GeneratorConfig {
                numeric_only: true,
                dimensions: 8,
                ..GeneratorConfig::default()
            },
        ),
    ] {
        let generator = Generator::new(GeneratorConfig {
            rows: 400_000,
            ..config
        });
        let mut buf = Vec::with_capacity(64 << 20);
        let bytes = generator.write_all(&mut buf).unwrap();
        group.throughput(Throughput::Bytes(bytes));
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                for i in 0..generator.block_count() {
                    generator.write_block(i, &mut buf);
                }
                buf.len()
            });
        });
    }
    group.finish();
}

struct Served {
    sim: SimulatorHandle,
    token: String,
    chunks: Vec<String>,
    bytes: u64,
}

async fn serve(bandwidth: &str) -> Served {
    let mut config = SimulatorConfig::default_tenant(
        "demo@example.com",
        Secret::new("demo-password"),
        160_000,
        512 << 10,
        1,
    );
    config.task_duration = Duration::from_millis(10);
    config.gzip = false;
    config.faults = bandwidth.parse().unwrap();
    let sim = Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let auth: Value = http
        .post(format!("{base}/token/authenticate"))
        .basic_auth("demo@example.com", Some("demo-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = auth["tokenInfo"]["tokenValue"].as_str().unwrap().to_owned();
    let model = sim.model_id("FP&A").unwrap();
    let export = sim.export("Revenue - TSC.csv").unwrap().export_id;
    let tasks = format!("{base}/2/0/models/{model}/exports/{export}/tasks");
    let task: Value = http
        .post(&tasks)
        .header("Authorization", format!("AnaplanAuthToken {token}"))
        .json(&json!({"localeName": "en_US"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["task"]["taskId"].as_str().unwrap();
    loop {
        let t: Value = http
            .get(format!("{tasks}/{id}"))
            .header("Authorization", format!("AnaplanAuthToken {token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if t["task"]["taskState"] == "COMPLETE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (content, chunk) = sim.file_content("Revenue - TSC.csv").unwrap();
    let chunks = (0..content.chunk_count(chunk))
        .map(|k| format!("{base}/2/0/models/{model}/files/{export}/chunks/{k}"))
        .collect();
    Served {
        sim,
        token,
        chunks,
        bytes: content.len(),
    }
}

async fn download(http: &reqwest::Client, served: &Served, concurrency: usize) -> u64 {
    futures::stream::iter(served.chunks.iter())
        .map(|url| async move {
            http.get(url)
                .header(
                    "Authorization",
                    format!("AnaplanAuthToken {}", served.token),
                )
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len() as u64
        })
        .buffered(concurrency)
        .fold(0, |a, n| async move { a + n })
        .await
}

fn chunk_downloads(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("download_8MB_at_16MBps_per_connection");
    group.sample_size(10);
    let served = runtime.block_on(serve("bandwidth=16MiB"));
    group.throughput(Throughput::Bytes(served.bytes));
    let http = reqwest::Client::new();
    for concurrency in [1, 4] {
        group.bench_function(format!("{concurrency}_at_a_time"), |b| {
            b.to_async(&runtime)
                .iter(|| download(&http, &served, concurrency));
        });
    }
    group.finish();
    runtime.block_on(served.sim.shutdown());
}

criterion_group!(benches, generator, chunk_downloads);
criterion_main!(benches);
