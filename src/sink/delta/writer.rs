//! [`DeltaWriter`]: the run's data file on its way into a Delta table. The bytes go through
//! the same uploader as plain Parquet; the file's footer gives its statistics; `commit`
//! completes the upload and commits it to the log, and removes the file again when the commit
//! fails.

use std::sync::Arc;

use arrow::array::StructArray;
use bytes::Bytes;
use delta_kernel::schema::StructType;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use parquet::file::metadata::ParquetMetaData;

use super::commit::{self, CommitRequest, NewFile};
use super::{DeltaTable, blocking, stats};
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
    /// From the footer, once the encoder has written it.
    stats: Option<StructArray>,
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
        let baseline = table.observer.as_ref().map(|o| o.snapshot());
        tracing::debug!(%location, "writing a Delta data file");
        DeltaWriter {
            table,
            plan,
            key,
            location,
            upload,
            bytes: 0,
            stats: None,
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
        let stats = self
            .stats
            .take()
            .ok_or_else(|| Error::Internal("a data file without its footer".into()))?;
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

    fn footer(&mut self, footer: &ParquetMetaData) -> Result<()> {
        self.stats = Some(stats::from_footer(
            footer,
            &self.plan.arrow,
            &self.plan.data,
        )?);
        Ok(())
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
