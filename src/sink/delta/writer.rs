//! [`DeltaWriter`]: the run's data file on its way into a Delta table. The bytes go through
//! the same uploader as plain Parquet; the record batches feed the file's statistics; `commit`
//! completes the upload and commits it to the log, and removes the file again when the commit
//! fails.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use delta_kernel::schema::StructType;
use delta_kernel_default_engine::stats::FileStatsAccumulator;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use super::commit::{self, CommitRequest, NewFile};
use super::{DeltaTable, blocking, schema};
use crate::error::{Error, Result};
use crate::sink::errors::{NOTHING_WRITTEN, store_error};
use crate::sink::multipart::StoreWriter;
use crate::sink::{SinkWriter, Written};

/// Where the run's file goes and what it holds.
pub(super) struct FilePlan {
    /// Relative to the table root.
    pub path: String,
    /// `export_date` → `YYYY-MM-DD`.
    pub partition: Option<(String, String)>,
    /// The file's columns.
    pub data: StructType,
    /// The same, as the encoder writes them.
    pub arrow: arrow::datatypes::SchemaRef,
}

/// One attempt at adding a file to a Delta table; see [`SinkWriter`].
pub(crate) struct DeltaWriter {
    table: Arc<DeltaTable>,
    plan: FilePlan,
    key: StorePath,
    location: String,
    upload: StoreWriter,
    bytes: u64,
    stats: FileStatsAccumulator,
    batches: u64,
    baseline: Option<std::collections::BTreeMap<String, u64>>,
}

impl DeltaWriter {
    pub(super) fn new(table: Arc<DeltaTable>, plan: FilePlan) -> Self {
        let mut key = table.key.clone();
        for part in plan.path.split('/') {
            key = key.join(part);
        }
        let location = format!("{}{}", table.display, plan.path);
        let upload = StoreWriter::new(
            Arc::clone(&table.store),
            key.clone(),
            table.part_size,
            table.concurrency,
        );
        let stats = FileStatsAccumulator::new(&schema::stats_columns(&plan.data), &plan.data);
        let baseline = table.observer.as_ref().map(|o| o.snapshot());
        tracing::debug!(%location, "writing a Delta data file");
        DeltaWriter {
            table,
            plan,
            key,
            location,
            upload,
            bytes: 0,
            stats,
            batches: 0,
            baseline,
        }
    }

    async fn failed(&mut self, doing: &str, e: object_store::Error) -> Error {
        let err = store_error(
            &self.location,
            &format!("{doing} {}", self.location),
            e,
            NOTHING_WRITTEN,
        );
        self.upload.abort_quietly(&self.location).await;
        err
    }

    async fn publish(mut self) -> Result<Written> {
        if let Err(e) = self.upload.finish().await {
            return Err(self.failed("upload to", e).await);
        }
        // From here the file exists but no reader sees it until the commit names it; any
        // failure removes it again.
        let result = self.commit_file().await;
        if result.is_err()
            && let Err(e) = self.table.store.delete(&self.key).await
        {
            tracing::warn!(location = %self.location, "could not remove the uncommitted data file: {e}");
        }
        let version = result?;
        let retries = match (&self.table.observer, &self.baseline) {
            (Some(o), Some(b)) => o.since(b),
            _ => Vec::new(),
        };
        tracing::info!(table = %self.table.display, version, "committed");
        Ok(Written {
            location: format!("{} (version {version})", self.table.describe()),
            bytes: self.bytes,
            retries,
        })
    }

    async fn commit_file(&mut self) -> Result<u64> {
        let mut stats = std::mem::replace(
            &mut self.stats,
            FileStatsAccumulator::new(&[], &StructType::try_new([]).expect("empty schema")),
        );
        if self.batches == 0 {
            // A file without rows still carries numRecords = 0.
            let empty = RecordBatch::new_empty(Arc::clone(&self.plan.arrow));
            stats
                .merge(&empty)
                .map_err(|e| Error::Internal(format!("statistics: {e}")))?;
        }
        let stats = stats
            .finish()
            .map_err(|e| Error::Internal(format!("statistics: {e}")))?
            .ok_or_else(|| Error::Internal("a data file without statistics".into()))?;
        let request = CommitRequest {
            root: self.table.root.clone(),
            data: self.plan.data.clone(),
            mode: self.table.mode,
            schema_mode: self.table.schema_mode,
            file: NewFile {
                path: self.plan.path.clone(),
                size: self.bytes,
                modification_time: chrono::Utc::now().timestamp_millis(),
                partition: self.plan.partition.clone(),
                stats,
            },
            provenance: self.table.provenance(),
            display: self.table.display.clone(),
        };
        let table = Arc::clone(&self.table);
        blocking(move || commit::commit(&table.engine(), &request)).await
    }
}

impl SinkWriter for DeltaWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let n = data.len() as u64;
            if let Err(e) = self.upload.put(data).await {
                return Err(self.failed("upload to", e).await);
            }
            self.bytes += n;
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.upload.flush().await {
                Ok(()) => Ok(()),
                Err(e) => Err(self.failed("upload to", e).await),
            }
        })
    }

    fn observe(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches += 1;
        self.stats
            .merge(batch)
            .map_err(|e| Error::Internal(format!("statistics of {}: {e}", self.location)))
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<Written>> {
        Box::pin(self.publish())
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move {
            if let Err(e) = self.upload.abort().await {
                return Err(store_error(
                    &self.location,
                    &format!("aborting the upload to {}", self.location),
                    e,
                    "; a lifecycle rule on the bucket will remove its parts",
                ));
            }
            Ok(())
        })
    }
}
