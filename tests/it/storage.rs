//! Destinations against a real S3-compatible server (s3s-fs on loopback, signatures checked) and
//! the local file system: every test reads the Parquet back and compares values.

use std::sync::Arc;

use anaplan_parquet::sink::{
    Destination, DestinationOptions, DestinationWriter, IfExists, WriteMode,
};
use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::support::s3::{ACCESS_KEY, Op, S3Server, SECRET_KEY};

const MIB: usize = 1 << 20;

fn schema(value_type: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Item", DataType::Utf8, true),
        Field::new("Line", DataType::Int64, true),
        Field::new("Value", value_type, true),
    ]))
}

/// `rows` deterministic rows; item names are distinct and poorly compressible so that a few
/// hundred thousand rows make a Parquet file of several MiB.
fn batch(rows: usize, seed: u64) -> RecordBatch {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let items: Vec<String> = (0..rows)
        .map(|i| format!("item-{seed}-{i}-{:016x}", next()))
        .collect();
    let lines: Vec<i64> = (0..rows).map(|i| i as i64).collect();
    let values: Vec<f64> = (0..rows)
        .map(|_| (next() % 1_000_000) as f64 / 7.0)
        .collect();
    RecordBatch::try_new(
        schema(DataType::Float64),
        vec![
            Arc::new(StringArray::from(items)),
            Arc::new(Int64Array::from(lines)),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap()
}

fn to_parquet(batch: &RecordBatch) -> Bytes {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

fn from_parquet(bytes: Bytes) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn assert_same_values(got: &RecordBatch, want: &RecordBatch) {
    assert_eq!(got.num_rows(), want.num_rows());
    assert_eq!(got.num_columns(), want.num_columns());
    for (i, (g, w)) in got.columns().iter().zip(want.columns()).enumerate() {
        assert_eq!(g.as_ref(), w.as_ref(), "column {i} differs");
    }
}

/// Streams `data` in uneven pieces, as the engine does.
async fn write_all(w: &mut DestinationWriter, data: &Bytes) {
    let piece = 3 * MIB / 2 + 17;
    let mut at = 0;
    while at < data.len() {
        let end = (at + piece).min(data.len());
        w.write(data.slice(at..end)).await.unwrap();
        at = end;
    }
}

async fn write_file(options: &DestinationOptions, data: &Bytes) -> anaplan_parquet::Result<String> {
    let dest = Destination::from_options(options)?;
    let mut w = dest.begin(&schema(DataType::Float64)).await?;
    write_all(&mut w, data).await;
    Ok(w.finish().await?.location)
}

fn small_options(s3: &S3Server, output: &str) -> DestinationOptions {
    let mut o = s3.options(output);
    o.upload_part_size = 5 * MIB;
    o
}

#[tokio::test]
async fn s3_single_put_round_trips() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let want = batch(1_000, 1);
    let data = to_parquet(&want);
    assert!(data.len() < 5 * MIB);

    let dest = Destination::from_options(&s3.options("s3://lake/sales/2026.parquet")).unwrap();
    let mut w = dest.begin(&want.schema()).await.unwrap();
    write_all(&mut w, &data).await;
    assert!(s3.keys("lake").is_empty(), "nothing visible before finish");
    let written = w.finish().await.unwrap();

    assert_eq!(written.location, "s3://lake/sales/2026.parquet");
    assert_eq!(written.bytes, data.len() as u64);
    assert!(written.retries.is_empty(), "{:?}", written.retries);
    assert_eq!(s3.keys("lake"), vec!["sales/2026.parquet"]);
    let back = s3.get("lake", "sales/2026.parquet").await;
    assert_same_values(&from_parquet(back), &want);
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn s3_multipart_round_trips_and_is_invisible_until_complete() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let want = batch(400_000, 2);
    let data = to_parquet(&want);
    assert!(
        data.len() > 2 * 5 * MIB,
        "{} bytes: not enough for 3 parts",
        data.len()
    );

    let mut o = small_options(&s3, "s3://lake/big.parquet");
    o.upload_concurrency = 2;
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&want.schema()).await.unwrap();
    write_all(&mut w, &data).await;

    // The multipart upload is in progress, and no object is visible yet.
    assert!(!s3.pending_uploads().is_empty());
    assert!(s3.keys("lake").is_empty(), "{:?}", s3.keys("lake"));

    let written = w.finish().await.unwrap();
    assert_eq!(written.bytes, data.len() as u64);
    assert_eq!(s3.keys("lake"), vec!["big.parquet"]);
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
    let back = s3.get("lake", "big.parquet").await;
    assert_eq!(back.len(), data.len());
    assert_same_values(&from_parquet(back), &want);
}

#[tokio::test]
async fn s3_part_upload_failing_once_is_retried_and_reported() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let want = batch(400_000, 3);
    let data = to_parquet(&want);
    s3.fail_part_uploads(1);

    let written_at = write_file(&small_options(&s3, "s3://lake/retried.parquet"), &data).await;
    assert_eq!(written_at.unwrap(), "s3://lake/retried.parquet");
    assert_eq!(s3.injected_faults(), 1);
    let back = s3.get("lake", "retried.parquet").await;
    assert_same_values(&from_parquet(back), &want);
    assert!(s3.pending_uploads().is_empty());

    // The retry is visible in what the writer reports.
    s3.fail_part_uploads(1);
    let progress = anaplan_parquet::Progress::new();
    let dest = Destination::from_options(&small_options(&s3, "s3://lake/retried2.parquet"))
        .unwrap()
        .with_progress(progress.clone());
    let mut w = dest.begin(&want.schema()).await.unwrap();
    write_all(&mut w, &data).await;
    let written = w.finish().await.unwrap();
    assert_eq!(
        written.retries,
        vec![("storage: HTTP 503 Service Unavailable".to_string(), 1)]
    );
    assert_eq!(progress.snapshot().retries, 1);
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_error_without_the_secret() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let data = to_parquet(&batch(100, 4));

    let o = s3.options_with_keys("s3://lake/x.parquet", ACCESS_KEY, "not-the-secret-xyz");
    let e = write_file(&o, &data).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("cannot write s3://lake/x.parquet: "), "{msg}");
    assert!(msg.contains("SignatureDoesNotMatch"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert!(!msg.contains("not-the-secret-xyz"), "{msg}");
    assert!(!msg.contains(SECRET_KEY), "{msg}");
    assert_eq!(e.exit_class().code(), 6);

    let o = s3.options_with_keys("s3://lake/x.parquet", "AKIAUNKNOWN", SECRET_KEY);
    let msg = write_file(&o, &data).await.unwrap_err().to_string();
    assert!(msg.contains("check the credentials"), "{msg}");
    assert!(!msg.contains(SECRET_KEY), "{msg}");

    assert!(s3.keys("lake").is_empty());
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn missing_bucket_gives_a_clear_error() {
    let s3 = S3Server::start().await;
    let data = to_parquet(&batch(100, 5));
    let e = write_file(&s3.options("s3://no-such-bucket/x.parquet"), &data)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("s3://no-such-bucket/x.parquet"), "{msg}");
    assert!(msg.contains("bucket does not exist"), "{msg}");
    assert_eq!(e.exit_class().code(), 6);

    // The same when the upload is a multipart one (the failure comes at its start).
    let big = to_parquet(&batch(400_000, 5));
    let e = write_file(&small_options(&s3, "s3://no-such-bucket/x.parquet"), &big).await;
    let msg = match e {
        Err(e) => e.to_string(),
        Ok(_) => panic!("wrote to a missing bucket"),
    };
    assert!(msg.contains("bucket does not exist"), "{msg}");
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn plain_http_endpoint_without_allow_http_is_refused_clearly() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let mut o = s3.options("s3://lake/x.parquet");
    o.allow_http = false;
    let e = Destination::from_options(&o).unwrap_err();
    // The library names the setting; each front end shows it in its own words.
    assert!(
        matches!(
            e,
            anaplan_parquet::error::Error::InvalidSetting {
                setting: "allow_http",
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains(&s3.endpoint), "{msg}");
    assert!(!msg.contains("builder error"), "{msg}");
    assert_eq!(e.exit_class().code(), 2);
}

#[tokio::test]
async fn abort_mid_upload_leaves_no_object_and_no_pending_upload() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let data = to_parquet(&batch(400_000, 6));
    let dest = Destination::from_options(&small_options(&s3, "s3://lake/x.parquet")).unwrap();

    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    w.write(data.slice(..11 * MIB)).await.unwrap();
    assert!(!s3.pending_uploads().is_empty(), "parts were uploaded");
    w.abort().await.unwrap();
    assert!(s3.keys("lake").is_empty());
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );

    // A writer dropped mid-upload (a cancelled task) is aborted in the background.
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    w.write(data.slice(..11 * MIB)).await.unwrap();
    drop(w);
    assert!(s3.pending_uploads_settled().await.is_empty());
    assert!(s3.keys("lake").is_empty());
}

#[tokio::test]
async fn replace_keeps_the_old_object_when_the_new_attempt_fails() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let old = batch(2_000, 7);
    let old_bytes = to_parquet(&old);
    let o = small_options(&s3, "s3://lake/x.parquet");
    write_file(&o, &old_bytes).await.unwrap();

    // A multipart attempt that is aborted half-way.
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&old.schema()).await.unwrap();
    w.write(to_parquet(&batch(400_000, 8)).slice(..12 * MIB))
        .await
        .unwrap();
    w.abort().await.unwrap();
    // A small attempt that is aborted.
    let mut w = dest.begin(&old.schema()).await.unwrap();
    w.write(Bytes::from_static(b"PAR1 partial")).await.unwrap();
    w.abort().await.unwrap();

    assert_eq!(s3.keys("lake"), vec!["x.parquet"]);
    assert_same_values(&from_parquet(s3.get("lake", "x.parquet").await), &old);
    assert!(s3.pending_uploads().is_empty());

    // And a successful run replaces it.
    let new = batch(3_000, 9);
    write_file(&o, &to_parquet(&new)).await.unwrap();
    assert_same_values(&from_parquet(s3.get("lake", "x.parquet").await), &new);
}

#[tokio::test]
async fn if_exists_fail_stops_before_writing() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let first = batch(500, 10);
    let mut o = s3.options("s3://lake/x.parquet");
    o.if_exists = IfExists::Fail;
    write_file(&o, &to_parquet(&first)).await.unwrap();

    let e = write_file(&o, &to_parquet(&batch(500, 11)))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("s3://lake/x.parquet already exists"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(e.exit_class().code(), 6);
    assert_same_values(&from_parquet(s3.get("lake", "x.parquet").await), &first);
}

fn append_options(s3: &S3Server, output: &str, by_date: bool) -> DestinationOptions {
    let mut o = s3.options(output);
    o.mode = WriteMode::Append;
    o.partition_by_date = by_date;
    o
}

/// Reads every part of a dataset, in key order, through the S3 API.
async fn read_dataset(s3: &S3Server, bucket: &str, prefix: &str) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for key in s3.keys(bucket) {
        if key.starts_with(prefix) && key.ends_with(".parquet") {
            out.push(from_parquet(s3.get(bucket, &key).await));
        }
    }
    out
}

/// Orders batches by their first item, so runs within one second compare regardless of ids.
fn by_first_item(mut batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
    let first = |b: &RecordBatch| {
        b.column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0)
            .to_string()
    };
    batches.sort_by_key(first);
    batches
}

#[tokio::test]
async fn append_runs_make_a_dataset_that_reads_as_one_table() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    // Files other tools leave in a dataset are ignored.
    s3.put_on_disk("lake", "sales/_SUCCESS", b"");
    s3.put_on_disk("lake", "sales/README.txt", b"not parquet");
    s3.put_on_disk("lake", "sales/_tmp/part-x.parquet", b"garbage");

    let runs: Vec<RecordBatch> = (0..3)
        .map(|i| batch(1_000 + i * 10, 20 + i as u64))
        .collect();
    let o = append_options(&s3, "s3://lake/sales/", false);
    let mut locations = Vec::new();
    for run in &runs {
        locations.push(write_file(&o, &to_parquet(run)).await.unwrap());
    }

    let parts: Vec<String> = s3
        .keys("lake")
        .into_iter()
        .filter(|k| k.starts_with("sales/part-"))
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    for (loc, key) in locations.iter().zip(&parts) {
        assert!(loc.starts_with("s3://lake/sales/part-"), "{loc}");
        assert!(
            parts.contains(&loc.trim_start_matches("s3://lake/").to_string()),
            "{key}"
        );
        // part-YYYYMMDDTHHMMSSZ-xxxxxxxx.parquet
        let name = key.trim_start_matches("sales/");
        assert_eq!(
            name.len(),
            "part-20261124T053000Z-3f9a1c0d.parquet".len(),
            "{name}"
        );
    }

    // One table: same schema everywhere, all rows back.
    let back = read_dataset(&s3, "lake", "sales/part-").await;
    let schemas: Vec<SchemaRef> = back.iter().map(RecordBatch::schema).collect();
    assert!(schemas.windows(2).all(|w| w[0].fields() == w[1].fields()));
    let table = arrow::compute::concat_batches(&schemas[0], &back).unwrap();
    assert_eq!(
        table.num_rows(),
        runs.iter().map(RecordBatch::num_rows).sum::<usize>()
    );
    for (got, want) in by_first_item(back).iter().zip(by_first_item(runs)) {
        assert_same_values(got, &want);
    }
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn append_with_date_partitions() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let o = append_options(&s3, "s3://lake/ds", true);
    let runs = [batch(100, 30), batch(200, 31)];
    let day_before = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for run in &runs {
        write_file(&o, &to_parquet(run)).await.unwrap();
    }
    let day_after = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let keys = s3.keys("lake");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in &keys {
        // The UTC date of the run (a run across midnight may see either day).
        let today = [&day_before, &day_after]
            .iter()
            .any(|d| k.starts_with(&format!("ds/export_date={d}/part-")));
        assert!(today && k.ends_with(".parquet"), "{k}");
    }
    let back = read_dataset(&s3, "lake", "ds/").await;
    for (got, want) in by_first_item(back).iter().zip(by_first_item(runs.to_vec())) {
        assert_same_values(got, &want);
    }

    // Switching layouts would break the table: refused before writing.
    let e = write_file(
        &append_options(&s3, "s3://lake/ds", false),
        &to_parquet(&runs[0]),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("--partition-by-date"), "{e}");
    assert_eq!(s3.keys("lake").len(), 2);

    // A data column with the partition's name is refused.
    let clash = Schema::new(vec![Field::new("export_date", DataType::Utf8, true)]);
    let e = Destination::from_options(&o)
        .unwrap()
        .begin(&clash)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("export_date"), "{e}");
}

#[tokio::test]
async fn append_with_a_different_schema_fails_before_writing() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let o = append_options(&s3, "s3://lake/ds/", false);
    write_file(&o, &to_parquet(&batch(100, 40))).await.unwrap();
    let before = s3.keys("lake");

    let dest = Destination::from_options(&o).unwrap();
    let e = dest.begin(&schema(DataType::Int64)).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("schema mismatch"), "{msg}");
    assert!(
        msg.contains("column \"Value\" is Float64 in the dataset but Int64 in this run"),
        "{msg}"
    );
    assert!(msg.contains("--type") && msg.contains("--schema"), "{msg}");
    assert!(msg.contains("s3://lake/ds/part-"), "{msg}");
    assert_eq!(e.exit_class().code(), 5);
    assert_eq!(s3.keys("lake"), before);
    assert!(s3.pending_uploads().is_empty());

    // A corrupt part is reported, not skipped.
    s3.put_on_disk(
        "lake",
        "ds/part-broken.parquet",
        b"this is not parquet at all",
    );
    let e = dest.begin(&schema(DataType::Float64)).await.unwrap_err();
    assert!(e.to_string().contains("part-broken.parquet"), "{e}");
}

#[tokio::test]
async fn append_abort_then_begin_again_makes_exactly_one_part() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let o = {
        let mut o = append_options(&s3, "s3://lake/ds", false);
        o.upload_part_size = 5 * MIB;
        o
    };
    let dest = Destination::from_options(&o).unwrap();
    let first = to_parquet(&batch(400_000, 50));
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    w.write(first.slice(..11 * MIB)).await.unwrap();
    w.abort().await.unwrap();

    // The engine's second pass, after widening a column.
    let want = batch(1_000, 51);
    let mut w = dest.begin(&want.schema()).await.unwrap();
    write_all(&mut w, &to_parquet(&want)).await;
    w.finish().await.unwrap();

    let keys = s3.keys("lake");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_same_values(&from_parquet(s3.get("lake", &keys[0]).await), &want);
    assert!(s3.pending_uploads().is_empty());
}

#[tokio::test]
async fn local_paths_and_file_urls_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let want = batch(5_000, 60);
    let data = to_parquet(&want);

    let path = dir.path().join("out.parquet");
    let url = format!("file://{}", path.display());
    for output in [path.to_str().unwrap(), url.as_str()] {
        let o = DestinationOptions::new(output);
        let location = write_file(&o, &data).await.unwrap();
        assert_eq!(location, path.display().to_string());
        assert_same_values(&from_parquet(std::fs::read(&path).unwrap().into()), &want);

        // A failed attempt: the temp file beside DEST is gone and DEST is unchanged.
        let dest = Destination::from_options(&o).unwrap();
        let mut w = dest.begin(&want.schema()).await.unwrap();
        w.write(data.slice(..1000)).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "temp file beside DEST: {names:?}");
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(".out.parquet.") && n.ends_with(".partial"))
        );
        w.abort().await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_same_values(&from_parquet(std::fs::read(&path).unwrap().into()), &want);
    }

    let e = write_file(
        &DestinationOptions::new(dir.path().join("missing/x.parquet").to_str().unwrap()),
        &data,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[tokio::test]
async fn local_append_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let mut o = DestinationOptions::new(ds.to_str().unwrap());
    o.mode = WriteMode::Append;
    o.partition_by_date = true;
    let runs = [batch(100, 70), batch(150, 71)];
    for run in &runs {
        write_file(&o, &to_parquet(run)).await.unwrap();
    }
    std::fs::write(ds.join("_SUCCESS"), b"").unwrap();

    let mut parts = Vec::new();
    for day in std::fs::read_dir(&ds).unwrap() {
        let day = day.unwrap().path();
        if day.is_dir() {
            assert!(
                day.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("export_date=")
            );
            for f in std::fs::read_dir(&day).unwrap() {
                parts.push(f.unwrap().path());
            }
        }
    }
    assert_eq!(parts.len(), 2, "{parts:?}");
    let back: Vec<RecordBatch> = parts
        .iter()
        .map(|p| from_parquet(std::fs::read(p).unwrap().into()))
        .collect();
    for (got, want) in by_first_item(back).iter().zip(by_first_item(runs.to_vec())) {
        assert_same_values(got, &want);
    }

    let e = Destination::from_options(&o)
        .unwrap()
        .begin(&schema(DataType::Utf8))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("\"Value\" is Float64 in the dataset but Utf8"),
        "{e}"
    );
}

#[tokio::test]
async fn part_upload_failing_beyond_the_retry_budget_aborts_the_upload() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let old = batch(500, 80);
    let o = small_options(&s3, "s3://lake/x.parquet");
    write_file(&o, &to_parquet(&old)).await.unwrap();

    let mut o = o;
    o.max_retries = 1;
    s3.fail_part_uploads(usize::MAX);
    let data = to_parquet(&batch(400_000, 81));
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    let mut failure = None;
    for piece in data.chunks(MIB) {
        if let Err(e) = w.write(Bytes::copy_from_slice(piece)).await {
            failure = Some(e);
            break;
        }
    }
    let e = match failure {
        Some(e) => {
            // The writer cleaned up already; abort is harmless.
            w.abort().await.unwrap();
            e
        }
        None => w.finish().await.unwrap_err(),
    };
    let msg = e.to_string();
    assert!(
        msg.contains("upload to s3://lake/x.parquet failed"),
        "{msg}"
    );
    assert!(msg.contains("SlowDown"), "{msg}");
    assert!(msg.contains("after 1 retries"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(
        e.exit_class().code(),
        7,
        "transient: running again later may succeed"
    );
    assert!(
        s3.injected_faults() >= 2,
        "retried: {}",
        s3.injected_faults()
    );
    assert!(s3.pending_uploads_settled().await.is_empty());
    assert!(s3.seen(Op::AbortUpload) >= 1, "aborted");
    assert_same_values(&from_parquet(s3.get("lake", "x.parquet").await), &old);
}

/// The multipart upload of a failed completion is aborted (S3 keeps the parts of an upload that
/// is neither completed nor aborted), and the object that was there stays.
#[tokio::test]
async fn failed_completion_aborts_the_upload() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let old = batch(500, 90);
    let mut o = small_options(&s3, "s3://lake/x.parquet");
    o.max_retries = 1;
    write_file(&o, &to_parquet(&old)).await.unwrap();

    s3.fail(Op::CompleteUpload, usize::MAX);
    let data = to_parquet(&batch(400_000, 91));
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    write_all(&mut w, &data).await;
    w.prepare_finish().await.unwrap();
    assert!(!s3.pending_uploads().is_empty(), "a multipart upload");
    let e = w.finish().await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("upload to s3://lake/x.parquet"), "{msg}");
    assert!(msg.contains("SlowDown"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(e.exit_class().code(), 7, "{msg}");
    assert_eq!(s3.seen(Op::CompleteUpload), 2, "tried, and retried once");
    assert_eq!(s3.seen(Op::AbortUpload), 1, "aborted");
    // Aborted before `finish` returned, not in the background.
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
    assert_eq!(s3.keys("lake"), ["x.parquet"]);
    assert_same_values(&from_parquet(s3.get("lake", "x.parquet").await), &old);
}

/// A writer dropped while completing (a run stopped at that moment) aborts its upload too.
#[tokio::test]
async fn completion_given_up_midway_aborts_the_upload() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let mut o = small_options(&s3, "s3://lake/x.parquet");
    o.max_retries = 10;
    let data = to_parquet(&batch(400_000, 92));
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    write_all(&mut w, &data).await;
    w.prepare_finish().await.unwrap();
    s3.fail(Op::CompleteUpload, usize::MAX);
    // The completion is being retried when the caller stops waiting.
    let r = tokio::time::timeout(std::time::Duration::from_millis(300), w.finish()).await;
    assert!(r.is_err(), "still retrying the completion: {r:?}");
    assert!(s3.seen(Op::CompleteUpload) >= 1);
    assert!(
        s3.pending_uploads_settled().await.is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
    assert!(s3.keys("lake").is_empty(), "{:?}", s3.keys("lake"));
}

/// A failed abort cannot remove the parts: the error says so and points at the lifecycle rule.
#[tokio::test]
async fn failed_abort_is_reported_with_the_way_out() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let mut o = small_options(&s3, "s3://lake/x.parquet");
    o.max_retries = 1;
    let data = to_parquet(&batch(400_000, 93));
    let dest = Destination::from_options(&o).unwrap();
    let mut w = dest.begin(&schema(DataType::Float64)).await.unwrap();
    w.write(data.slice(..11 * MIB)).await.unwrap();
    s3.fail(Op::AbortUpload, usize::MAX);
    let e = w.abort().await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("aborting the upload to s3://lake/x.parquet"),
        "{msg}"
    );
    assert!(msg.contains("lifecycle rule"), "{msg}");
    assert!(!msg.contains(SECRET_KEY), "{msg}");
    assert_eq!(s3.seen(Op::AbortUpload), 2, "tried, and retried once");
    assert!(!s3.pending_uploads().is_empty(), "the abort really failed");
    assert!(s3.keys("lake").is_empty());
}

/// Append mode lists the dataset before writing: a listing that keeps failing stops the run
/// before anything is written.
#[tokio::test]
async fn failed_listing_stops_an_append_before_writing() {
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let mut o = append_options(&s3, "s3://lake/ds/", false);
    o.max_retries = 1;
    write_file(&o, &to_parquet(&batch(100, 94))).await.unwrap();
    let before = s3.keys("lake");
    assert!(s3.seen(Op::List) >= 1, "append lists the dataset");

    s3.fail(Op::List, usize::MAX);
    let e = write_file(&o, &to_parquet(&batch(100, 95)))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("listing the dataset s3://lake/ds/"), "{msg}");
    assert!(msg.contains("SlowDown"), "{msg}");
    assert!(msg.contains("nothing was written"), "{msg}");
    assert_eq!(e.exit_class().code(), 7, "{msg}");
    assert_eq!(s3.keys("lake"), before);
    assert_eq!(s3.seen(Op::CreateUpload), 0);
    assert!(s3.pending_uploads().is_empty());
}

/// `convert` through the real binary to the S3 server: credentials from the environment, the
/// object read back value by value; a widening pass aborts its first upload cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_cli_to_s3_round_trips_and_widening_leaves_no_upload_behind() {
    use crate::support::{bin, opts, sample, stderr};
    let s3 = S3Server::start().await;
    s3.create_bucket("lake");
    let endpoint = s3.endpoint.clone();
    let run_convert = move |input: std::path::PathBuf, key: &str, extra: Vec<String>| {
        let mut cmd = bin();
        cmd.arg("convert")
            .arg(input)
            .args(["-o", &format!("s3://lake/{key}")])
            .args([
                "--s3-endpoint",
                &endpoint,
                "--allow-http",
                "--s3-path-style",
            ])
            .args(["--s3-region", "us-east-1", "--upload-part-size", "5MiB"])
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd.output().expect("runs")
    };
    let o = tokio::task::spawn_blocking({
        let run_convert = run_convert.clone();
        move || run_convert(sample("tsc_sales.csv"), "sales/tsc.parquet", vec![])
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains(SECRET_KEY));
    let t = crate::support::Table::from_bytes(s3.get("lake", "sales/tsc.parquet").await);
    assert_eq!(t.num_rows(), 12);
    assert_eq!(t.strings("Value")[2], opts(&["Promo, Q1 launch"])[0]);

    // Late drift: the first attempt's upload is aborted, the second publishes. The first
    // attempt writes more than a part (5 MiB) before the late value, so its multipart upload
    // has started when it is abandoned.
    let dir = crate::support::tempdir();
    let input = dir.path().join("drift.csv");
    let rows = 300_000;
    let mut text = incompressible_csv(rows, 7);
    text.push_str("Comment,late text\n");
    std::fs::write(&input, text).unwrap();
    let uploads_before = s3.seen(Op::CreateUpload);
    let o = tokio::task::spawn_blocking(move || {
        run_convert(
            input,
            "drift.parquet",
            vec![
                "--infer-rows".into(),
                "1000".into(),
                "--row-group-rows".into(),
                "50000".into(),
            ],
        )
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("widened Value from int64 to utf8"),
        "{}",
        stderr(&o)
    );
    let t = crate::support::Table::from_bytes(s3.get("lake", "drift.parquet").await);
    assert_eq!(t.num_rows(), rows + 1);
    assert_eq!(t.strings("Value")[rows].as_deref(), Some("late text"));
    assert_eq!(
        s3.seen(Op::CreateUpload) - uploads_before,
        2,
        "each attempt was a multipart upload"
    );
    assert_eq!(s3.seen(Op::AbortUpload), 1, "the first attempt was aborted");
    assert_eq!(s3.seen(Op::CompleteUpload), 1, "the second was completed");
    assert!(
        s3.pending_uploads().is_empty(),
        "{:?}",
        s3.pending_uploads()
    );
    assert_eq!(s3.keys("lake"), ["drift.parquet", "sales/tsc.parquet"]);
}

/// `rows` rows of `Line Items,Value` that compress poorly (random hex names, random integers
/// of up to 15 digits): about 25 bytes of Parquet a row, so a few hundred thousand rows make
/// a file of more than one 5 MiB upload part.
pub(crate) fn incompressible_csv(rows: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut text = String::with_capacity(rows * 50 + 32);
    text.push_str("Line Items,Value\n");
    for _ in 0..rows {
        let (a, b) = (next(), next());
        let value = next() % 1_000_000_000_000_000;
        text.push_str(&format!("{a:016x}{b:016x},{value}\n"));
    }
    text
}
