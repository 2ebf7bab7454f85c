//! [`DestinationWriter`]: one attempt at writing a file, to a local temporary file or an
//! object-store upload, with the same four steps either way (write, prepare_finish, finish,
//! abort) and the same promise: nothing is visible until `finish`, nothing is left after
//! `abort`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::Written;
use super::errors::{NOTHING_WRITTEN, store_error};
use super::local::LocalWriter;
use super::multipart::StoreWriter;
use super::observe::UploadObserver;
use crate::error::{Error, Result};

/// One in-progress write. Call [`finish`](Self::finish) or [`abort`](Self::abort); a writer
/// dropped without either still cleans up (the temporary file is removed, and the multipart
/// upload is aborted in the background when a Tokio runtime is available).
#[derive(Debug)]
pub struct DestinationWriter {
    location: String,
    bytes: u64,
    kind: WriterKind,
    /// The destination's retry counter, and its count when this attempt began.
    observer: Option<(Arc<UploadObserver>, BTreeMap<String, u64>)>,
}

#[derive(Debug)]
enum WriterKind {
    Local(LocalWriter),
    Store(StoreWriter),
}

impl DestinationWriter {
    /// A writer of a local file at `location`.
    pub(super) fn local(location: String, writer: LocalWriter) -> Self {
        DestinationWriter {
            location,
            bytes: 0,
            kind: WriterKind::Local(writer),
            observer: None,
        }
    }

    /// A writer of an object at `location`, counting the retries `observer` sees from now on.
    pub(super) fn store(
        location: String,
        writer: StoreWriter,
        observer: &Arc<UploadObserver>,
    ) -> Self {
        DestinationWriter {
            location,
            bytes: 0,
            kind: WriterKind::Store(writer),
            observer: Some((Arc::clone(observer), observer.snapshot())),
        }
    }

    /// Where the data will be, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Bytes accepted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends bytes. Object stores upload a part whenever a part's worth is buffered, waiting
    /// while `upload_concurrency` parts are in flight (backpressure).
    ///
    /// On error the attempt is already cleaned up (temporary file removed, multipart upload
    /// aborted); calling [`abort`](Self::abort) afterwards is harmless. Cancel-safe: when the
    /// future is dropped (a stop while the destination is slow), [`abort`](Self::abort) still
    /// cleans up everything.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        let len = data.len() as u64;
        match &mut self.kind {
            WriterKind::Local(w) => {
                if w.is_closed() {
                    return Err(already_closed(&self.location));
                }
                w.write(&data).await?;
            }
            WriterKind::Store(w) => {
                if w.is_closed() {
                    return Err(already_closed(&self.location));
                }
                if let Err(e) = w.put(data).await {
                    return Err(upload_failed(w, &self.location, e).await);
                }
            }
        }
        self.bytes += len;
        Ok(())
    }

    /// Gets everything written so far to the destination short of publishing it: syncs the
    /// temporary file, or sends the last part of a multipart upload and waits for every part.
    /// [`finish`](Self::finish) then only publishes (a rename, one PUT of a file smaller than a
    /// part, or the upload's completion). Cancel-safe like [`write`](Self::write); after it, only
    /// `finish` or `abort`. On error the attempt is already cleaned up.
    pub async fn prepare_finish(&mut self) -> Result<()> {
        match &mut self.kind {
            WriterKind::Local(w) => {
                if w.is_closed() {
                    return Err(already_closed(&self.location));
                }
                w.flush().await
            }
            WriterKind::Store(w) => {
                if w.is_closed() {
                    return Err(already_closed(&self.location));
                }
                match w.flush().await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(upload_failed(w, &self.location, e).await),
                }
            }
        }
    }

    /// Makes the data visible at the destination (rename, single PUT, or completing the
    /// multipart upload), replacing what was there in replace mode.
    pub async fn finish(mut self) -> Result<Written> {
        match &mut self.kind {
            WriterKind::Local(w) => w.finish().await?,
            WriterKind::Store(w) => {
                if w.is_closed() {
                    return Err(already_closed(&self.location));
                }
                // A failed single PUT leaves nothing behind; a failed multipart upload (parts
                // or completion) is aborted.
                if let Err(e) = w.finish().await {
                    return Err(upload_failed(w, &self.location, e).await);
                }
            }
        }
        let retries = match &self.observer {
            Some((observer, baseline)) => observer.since(baseline),
            None => Vec::new(),
        };
        if !retries.is_empty() {
            tracing::info!(location = %self.location, ?retries, "upload finished after transient failures");
        }
        Ok(Written {
            location: self.location.clone(),
            bytes: self.bytes,
            retries,
        })
    }

    /// Discards everything written by this attempt: removes the temporary file, or aborts the
    /// multipart upload. An existing file or object at the destination is untouched.
    pub async fn abort(mut self) -> Result<()> {
        match &mut self.kind {
            WriterKind::Local(w) => w.abort()?,
            WriterKind::Store(w) => {
                if let Err(e) = w.abort().await {
                    return Err(store_error(
                        &self.location,
                        &format!("aborting the upload to {}", self.location),
                        e,
                        "; a lifecycle rule on the bucket will remove its parts",
                    ));
                }
            }
        }
        tracing::debug!(location = %self.location, "attempt aborted");
        Ok(())
    }
}

/// The error of a failed upload step, once the upload is aborted.
async fn upload_failed(w: &mut StoreWriter, location: &str, e: object_store::Error) -> Error {
    let err = store_error(
        location,
        &format!("upload to {location}"),
        e,
        NOTHING_WRITTEN,
    );
    w.abort_quietly(location).await;
    err
}

fn already_closed(location: &str) -> Error {
    Error::Internal(format!(
        "the write to {location} was already finished, aborted or failed"
    ))
}
