//! The object-store writer: one PUT for a file smaller than a part, otherwise a multipart upload
//! with a bounded number of parts in flight, every wait of which may be given up and the upload
//! still aborted (S3 and GCS keep the parts of an upload that is merely dropped).

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutPayload};

use super::errors::redact_error;

/// How long an abort waits for the parts in flight to end before it stops them.
const IN_FLIGHT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// An upload to an object store whose every wait may be given up: bytes are buffered up to one
/// part; a file smaller than a part goes in one PUT at `finish`, a larger one becomes a
/// multipart upload with at most `concurrency` parts in flight. The multipart upload is created
/// and its parts sent by spawned tasks, so a caller that stops waiting (a dropped `put` or
/// `flush` future) loses nothing and can still abort it.
#[derive(Debug)]
pub(super) struct StoreWriter {
    store: Arc<dyn ObjectStore>,
    key: StorePath,
    part_size: usize,
    concurrency: usize,
    /// Bytes not yet handed to a part.
    buffer: Vec<Bytes>,
    buffered: usize,
    upload: Upload,
    /// The background abort of a dropped writer: if it is dropped in turn without running (its
    /// runtime shutting down), it gives up with a warning rather than spawn itself again,
    /// which would recurse until the stack overflows.
    detached: bool,
}

#[derive(Debug, Default)]
enum Upload {
    /// No multipart upload (yet): a small file is one PUT at `finish`.
    #[default]
    None,
    /// The multipart upload is being created.
    Creating(tokio::task::JoinHandle<object_store::Result<Box<dyn MultipartUpload>>>),
    /// Parts are uploading.
    Parts {
        upload: Box<dyn MultipartUpload>,
        tasks: tokio::task::JoinSet<object_store::Result<()>>,
        /// The last part is sent: no more data.
        sealed: bool,
    },
    /// Finished, failed or aborted.
    Closed,
}

impl StoreWriter {
    /// A writer of the object `key`, cut into parts of `part_size` bytes, at most
    /// `concurrency` of them in flight.
    pub(super) fn new(
        store: Arc<dyn ObjectStore>,
        key: StorePath,
        part_size: usize,
        concurrency: usize,
    ) -> Self {
        StoreWriter {
            store,
            key,
            part_size,
            concurrency,
            buffer: Vec::new(),
            buffered: 0,
            upload: Upload::None,
            detached: false,
        }
    }

    /// Finished, failed or aborted: only `abort` (harmless) is left.
    pub(super) fn is_closed(&self) -> bool {
        matches!(self.upload, Upload::Closed)
    }

    /// Buffers `data`, sending a part for every `part_size` bytes; waits while `concurrency`
    /// parts are in flight. Cancel-safe.
    pub(super) async fn put(&mut self, data: Bytes) -> object_store::Result<()> {
        if matches!(
            self.upload,
            Upload::Closed | Upload::Parts { sealed: true, .. }
        ) {
            return Err(closed_upload());
        }
        self.buffered += data.len();
        self.buffer.push(data);
        while self.buffered >= self.part_size {
            self.started().await?;
            let Upload::Parts { upload, tasks, .. } = &mut self.upload else {
                return Err(closed_upload());
            };
            while tasks.len() >= self.concurrency {
                join_part(tasks).await?;
            }
            let part = take_front(&mut self.buffer, &mut self.buffered, self.part_size);
            tasks.spawn(upload.put_part(part));
        }
        Ok(())
    }

    /// Sends what is buffered as the last part and waits for every part, when the file is a
    /// multipart upload (a small file waits for its PUT in `finish`). Cancel-safe; after it only
    /// `finish` or `abort`.
    pub(super) async fn flush(&mut self) -> object_store::Result<()> {
        if matches!(self.upload, Upload::None | Upload::Closed) {
            return Ok(());
        }
        self.started().await?;
        let Upload::Parts {
            upload,
            tasks,
            sealed,
        } = &mut self.upload
        else {
            return Err(closed_upload());
        };
        if !*sealed {
            *sealed = true;
            if self.buffered > 0 {
                let rest = self.buffered;
                tasks.spawn(upload.put_part(take_front(
                    &mut self.buffer,
                    &mut self.buffered,
                    rest,
                )));
            }
        }
        while !tasks.is_empty() {
            join_part(tasks).await?;
        }
        Ok(())
    }

    /// Makes the object visible: one PUT, or the multipart upload's completion.
    ///
    /// The multipart upload is kept until its completion succeeds: when the completion fails
    /// (or its future is dropped), [`abort`](Self::abort) and `Drop` still find the upload and
    /// abort it, since S3 keeps the parts of an upload that is neither completed nor aborted.
    pub(super) async fn finish(&mut self) -> object_store::Result<()> {
        self.flush().await?;
        match &mut self.upload {
            Upload::None => {
                self.upload = Upload::Closed;
                let payload: PutPayload = std::mem::take(&mut self.buffer).into_iter().collect();
                self.buffered = 0;
                self.store.put(&self.key, payload).await.map(|_| ())
            }
            Upload::Parts { upload, .. } => {
                upload.complete().await?;
                self.upload = Upload::Closed;
                Ok(())
            }
            Upload::Creating(_) | Upload::Closed => Err(closed_upload()),
        }
    }

    /// Stops every part and aborts the multipart upload, if any.
    pub(super) async fn abort(&mut self) -> object_store::Result<()> {
        self.buffer.clear();
        self.buffered = 0;
        match std::mem::replace(&mut self.upload, Upload::Closed) {
            Upload::None | Upload::Closed => Ok(()),
            Upload::Creating(handle) => match handle.await {
                Ok(Ok(mut upload)) => upload.abort().await,
                // It was never created.
                Ok(Err(_)) | Err(_) => Ok(()),
            },
            Upload::Parts {
                mut upload,
                mut tasks,
                ..
            } => {
                // A part whose body has been sent can still be stored after the abort (S3 says
                // so of parts in progress), leaving it behind: let the parts in flight end first,
                // for a moment, then stop the rest.
                let _ = tokio::time::timeout(IN_FLIGHT_GRACE, async {
                    while tasks.join_next().await.is_some() {}
                })
                .await;
                tasks.shutdown().await;
                upload.abort().await
            }
        }
    }

    /// [`abort`](Self::abort) after a failure: a failed abort is only logged, since the
    /// failure that caused it is what the caller reports.
    pub(super) async fn abort_quietly(&mut self, location: &str) {
        if let Err(e) = self.abort().await {
            tracing::warn!(
                %location,
                "aborting the multipart upload failed: {}; a lifecycle rule on the bucket will \
                 remove its parts",
                redact_error(&e)
            );
        }
    }

    /// Creates the multipart upload if needed and waits until it exists. Cancel-safe: the
    /// creation runs in its own task.
    async fn started(&mut self) -> object_store::Result<()> {
        if let Upload::None = self.upload {
            let store = Arc::clone(&self.store);
            let key = self.key.clone();
            self.upload = Upload::Creating(tokio::spawn(async move {
                store
                    .put_multipart_opts(&key, PutMultipartOptions::default())
                    .await
            }));
        }
        if let Upload::Creating(handle) = &mut self.upload {
            let created = handle.await;
            self.upload = Upload::Closed;
            let upload = created.map_err(|e| object_store::Error::Generic {
                store: "upload",
                source: Box::new(e),
            })??;
            self.upload = Upload::Parts {
                upload,
                tasks: tokio::task::JoinSet::new(),
                sealed: false,
            };
        }
        Ok(())
    }
}

fn closed_upload() -> object_store::Error {
    object_store::Error::Generic {
        store: "upload",
        source: "the upload was already finished, aborted or failed".into(),
    }
}

/// Waits for one part upload to end.
async fn join_part(
    tasks: &mut tokio::task::JoinSet<object_store::Result<()>>,
) -> object_store::Result<()> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(object_store::Error::Generic {
            store: "upload",
            source: Box::new(e),
        }),
        None => Ok(()),
    }
}

/// The first `n` buffered bytes (at most what is buffered), as one payload.
fn take_front(buffer: &mut Vec<Bytes>, buffered: &mut usize, n: usize) -> PutPayload {
    let mut part = Vec::new();
    let mut need = n.min(*buffered);
    *buffered -= need;
    let mut rest = std::mem::take(buffer).into_iter();
    for mut b in rest.by_ref() {
        if need == 0 {
            buffer.push(b);
            break;
        }
        if b.len() > need {
            buffer.push(b.split_off(need));
        }
        need -= b.len();
        part.push(b);
    }
    buffer.extend(rest);
    part.into_iter().collect()
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if matches!(self.upload, Upload::None | Upload::Closed) {
            return;
        }
        if self.detached {
            self.upload = Upload::Closed;
            tracing::warn!(
                "an upload could not be aborted: its runtime stopped first; a lifecycle rule on \
                 the bucket will remove its parts"
            );
            return;
        }
        // Dropped mid-upload (a panic, or a cancelled task): S3 keeps the parts of an upload
        // that is not aborted, so abort it in the background.
        let mut writer = StoreWriter {
            store: Arc::clone(&self.store),
            key: self.key.clone(),
            part_size: self.part_size,
            concurrency: self.concurrency,
            buffer: Vec::new(),
            buffered: 0,
            upload: std::mem::take(&mut self.upload),
            detached: true,
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!("aborting an abandoned upload failed: {}", redact_error(&e));
                }
            });
        } else {
            writer.upload = Upload::Closed;
            tracing::warn!(
                "an upload was abandoned outside a Tokio runtime and could not be aborted; \
                 a lifecycle rule on the bucket will remove its parts"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer in the middle of a multipart upload, on an in-memory store.
    async fn writer_mid_upload() -> StoreWriter {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let mut w = StoreWriter::new(store, StorePath::from("x.parquet"), 4, 1);
        w.put(Bytes::from_static(b"0123456789")).await.unwrap();
        assert!(matches!(w.upload, Upload::Parts { .. }));
        w
    }

    #[test]
    fn a_writer_dropped_as_its_runtime_shuts_down_gives_up_without_recursing() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let w = writer_mid_upload().await;
            // Still holding the writer when the runtime goes away.
            tokio::spawn(async move {
                let _w = w;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
        });
        // Dropping the runtime drops the task, hence the writer; its background abort cannot
        // run either, and is dropped in turn.
        drop(rt);
    }

    #[test]
    fn parts_are_cut_at_the_byte_across_buffered_blocks() {
        // (blocks, part size, expected parts): cut anywhere, nothing lost or reordered.
        let table: [(&[&str], usize, &[&str]); 4] = [
            (&["abc", "defg", "h"], 3, &["abc", "def", "gh"]),
            (&["abcdefgh"], 3, &["abc", "def", "gh"]),
            (&["a", "b", "c", "d"], 2, &["ab", "cd"]),
            (&["abc"], 10, &["abc"]),
        ];
        for (blocks, size, expected) in table {
            let mut buffer: Vec<Bytes> =
                blocks.iter().map(|b| Bytes::from(b.to_string())).collect();
            let mut buffered: usize = blocks.iter().map(|b| b.len()).sum();
            let mut parts = Vec::new();
            while buffered > 0 {
                let part = take_front(&mut buffer, &mut buffered, size);
                let bytes: Vec<u8> = part.iter().flat_map(|b| b.iter().copied()).collect();
                parts.push(String::from_utf8(bytes).unwrap());
            }
            assert_eq!(parts, expected, "{blocks:?} by {size}");
            assert!(buffer.is_empty());
        }
    }
}
