//! An Anaplan export's file as a [`Source`]: its chunks downloaded concurrently, handed over
//! in order, each piece labelled with its chunk index.
//!
//! An export task writes a file of the model (its id is usually the export's id, see
//! [`FileRef`]); the file is stored as numbered chunks, listed with
//! [`ExportSource::list`] and yielded one [`Piece`] per chunk with `chunk: Some(index)`, the
//! index in the chunk list (0-based), which is what error positions show.
//!
//! `stream::iter(chunks).map(download).buffered(N)` keeps at most `N` chunk downloads in
//! flight and yields them strictly in chunk order, so memory is bounded by `N` chunks (plus
//! what the engine's bounded channel holds) however large the export. Each chunk is fetched
//! whole, retried as a unit ([`crate::RetryConfig`]) and checked against its Content-Length before it
//! is yielded: the engine never sees a partial or a repeated chunk. Fetching the chunks again
//! is how the engine reads the input a second time ([`Source::replayable`]).
//!
//! Several sources can share one connection budget ([`ExportSource::with_budget`]): a chunk
//! download waits for a permit of the shared semaphore (first come, first served), so a run
//! of many exports keeps to one total of connections and a large export cannot starve the
//! others.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;

use crate::anaplan::AnaplanClient;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::source::meter::DownloadMeter;
use crate::source::{Piece, PieceStream, Source};

/// The default number of chunks downloaded at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// The ids that name one file of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    /// Workspace id.
    pub workspace_id: String,
    /// Model id.
    pub model_id: String,
    /// File id (for an export's output: the export id).
    pub file_id: String,
}

/// A chunked Anaplan file, read through the client.
#[derive(Clone, Debug)]
pub struct ExportSource {
    client: AnaplanClient,
    file: Arc<FileRef>,
    chunk_ids: Arc<Vec<String>>,
    concurrency: usize,
    progress: Progress,
    name: String,
    budget: Option<Arc<Semaphore>>,
    meter: Option<DownloadMeter>,
}

impl ExportSource {
    /// A source for `file` whose chunks are `chunk_ids`, in order.
    pub fn new(
        client: AnaplanClient,
        file: FileRef,
        chunk_ids: Vec<String>,
        concurrency: usize,
        progress: Progress,
    ) -> Self {
        let name = format!(
            "Anaplan file {} of model {} ({} chunks)",
            file.file_id,
            file.model_id,
            chunk_ids.len()
        );
        ExportSource {
            client,
            file: Arc::new(file),
            chunk_ids: Arc::new(chunk_ids),
            concurrency: concurrency.max(1),
            progress,
            name,
            budget: None,
            meter: None,
        }
    }

    /// Lists the file's chunks and builds the source.
    pub async fn list(
        client: AnaplanClient,
        file: FileRef,
        concurrency: usize,
        progress: Progress,
    ) -> Result<Self> {
        let chunks = client
            .chunks(&file.workspace_id, &file.model_id, &file.file_id)
            .await?;
        let ids = chunks.into_iter().map(|c| c.id).collect();
        Ok(ExportSource::new(client, file, ids, concurrency, progress))
    }

    /// Renames the source (for logs and the summary).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Shares a connection budget with other sources: each chunk download holds one permit of
    /// `budget` while it runs (on top of this source's own concurrency limit).
    pub fn with_budget(mut self, budget: Arc<Semaphore>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Counts the chunk downloads (bytes, latency) and how long the reader waits for them
    /// into `meter`.
    pub fn with_meter(mut self, meter: DownloadMeter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The chunk ids, in order.
    pub fn chunk_ids(&self) -> &[String] {
        &self.chunk_ids
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunk_ids.len()
    }

    /// Downloads at most this many chunks at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
}

impl Source for ExportSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        let client = self.client.clone();
        let file = Arc::clone(&self.file);
        let ids = Arc::clone(&self.chunk_ids);
        let progress = self.progress.clone();
        let concurrency = self.concurrency;
        let budget = self.budget.clone();
        let meter = self.meter.clone();
        Box::pin(async move {
            progress.set_chunks_total(ids.len() as u64);
            tracing::debug!(
                "downloading {} chunks of file {}, {concurrency} at a time",
                ids.len(),
                file.file_id
            );
            let downloads = (0..ids.len()).map(move |index| {
                let client = client.clone();
                let file = Arc::clone(&file);
                let ids = Arc::clone(&ids);
                let budget = budget.clone();
                let meter = meter.clone();
                async move {
                    let _permit = match budget {
                        Some(b) => Some(b.acquire_owned().await.map_err(|_| {
                            Error::Internal("the connection budget was closed".into())
                        })?),
                        None => None,
                    };
                    let id = &ids[index];
                    let started = meter.as_ref().map(DownloadMeter::chunk_started);
                    let data = client
                        .chunk(&file.workspace_id, &file.model_id, &file.file_id, id)
                        .await?;
                    if let (Some(m), Some(t)) = (&meter, started) {
                        m.chunk_done(t, data.len() as u64);
                    }
                    Ok::<_, Error>(Piece {
                        data,
                        chunk: Some(index as u64),
                    })
                }
            });
            let stream = futures::stream::iter(downloads)
                .buffered(concurrency)
                .inspect_ok(move |_| progress.add_chunk())
                .boxed();
            Ok(match &self.meter {
                Some(m) => m.watch(stream),
                None => stream,
            })
        })
    }

    fn replayable(&self) -> bool {
        true
    }
}
