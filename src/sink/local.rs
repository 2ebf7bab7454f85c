//! Local destinations (paths and `file://` URLs), written by the rule of [`crate::local_file`]:
//! the bytes go to a hidden temporary file beside the target
//! (`.NAME.anaplan-parquet-XXXXXX.partial`), renamed over the target when the write is
//! committed (through a symlink, over the link's target); a character device or FIFO is written
//! directly. On abort, on error and on drop the temporary file is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::Schema;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use tokio::io::AsyncWriteExt;

use super::dataset::{PartName, check_dataset};
use super::errors::exists_error;
use super::options::{IfExists, WriteMode};
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};
use crate::local_file::{LocalOutput, Pending, Stream};

/// One attempt at writing a local file: a temporary file renamed into place by `finish`, or a
/// character device or FIFO written through (see [`crate::local_file`]).
#[derive(Debug)]
pub(super) struct LocalWriter {
    file: tokio::fs::File,
    /// `None` once the attempt failed, finished or was aborted (dropping it removes the
    /// temporary file).
    pending: Option<Pending>,
    /// The path as given (or the new part's), for messages.
    target: PathBuf,
    no_clobber: bool,
    /// Set when an attempt written through to a FIFO is abandoned (see [`begin`]).
    fifo_spent: Arc<AtomicBool>,
}

/// Checks, before any data moves, that `path` can be written in `mode`.
pub(super) fn check(path: &Path, mode: WriteMode, if_exists: IfExists) -> Result<()> {
    let dir = match mode {
        WriteMode::Append if path.is_dir() => return Ok(()),
        WriteMode::Append => parent_dir(path),
        WriteMode::Replace => {
            check_replace(path, if_exists)?;
            parent_dir(path)
        }
    };
    check_dir(path, &dir)
}

/// Starts one attempt at writing `path` (replace) or a new part under `path` (append, after
/// checking the dataset's existing parts have `schema`). Returns where the data will be.
///
/// A FIFO cannot take bytes back: once an attempt written to one was abandoned (`fifo_spent`,
/// shared by the destination's attempts), its reader has seen a partial stream end, so
/// another attempt is refused.
pub(super) async fn begin(
    path: &Path,
    mode: WriteMode,
    if_exists: IfExists,
    partition_by_date: bool,
    schema: &Schema,
    fifo_spent: &Arc<AtomicBool>,
) -> Result<(String, LocalWriter)> {
    let (target, no_clobber) = match mode {
        WriteMode::Replace => {
            check_replace(path, if_exists)?;
            check_dir(path, &parent_dir(path))?;
            (path.to_path_buf(), if_exists == IfExists::Fail)
        }
        WriteMode::Append => {
            // A new dataset directory is created (when the part is published) only in an
            // existing directory.
            check(path, mode, if_exists)?;
            (begin_part(path, partition_by_date, schema).await?, true)
        }
    };
    // Only a FIFO's writer sets it; checked before opening, which would wait for a reader
    // that is gone.
    if fifo_spent.load(Ordering::SeqCst) {
        let shown = target.display().to_string();
        return Err(DestinationError::new(
            DestinationErrorKind::Io,
            shown.clone(),
            format!(
                "cannot write {shown} again: it is a FIFO, and the abandoned first attempt (a \
                 column widened after the inference sample) already went to its reader; run \
                 again with --infer-rows all"
            ),
        )
        .into());
    }
    let create_dirs = mode == WriteMode::Append;
    let opening = target.clone();
    // Opening a FIFO waits for its reader: off the runtime's threads.
    let output = tokio::task::spawn_blocking(move || LocalOutput::open(&opening, create_dirs))
        .await
        .map_err(|e| Error::Internal(format!("opening the output failed: {e}")))??;
    let LocalOutput { file, pending } = output;
    tracing::debug!(
        target = %pending.target().display(),
        temp = ?pending.temp(),
        through = ?pending.stream(),
        "writing"
    );
    let writer = LocalWriter {
        file: tokio::fs::File::from_std(file),
        pending: Some(pending),
        target,
        no_clobber,
        fifo_spent: Arc::clone(fifo_spent),
    };
    Ok((writer.target.display().to_string(), writer))
}

/// Append mode: checks the dataset directory and names the new part. The dataset and partition
/// directories are created only when the part is published (see [`LocalOutput::open`]).
async fn begin_part(path: &Path, partition_by_date: bool, schema: &Schema) -> Result<PathBuf> {
    if path.exists() && !path.is_dir() {
        return Err(DestinationError::new(
            DestinationErrorKind::Io,
            path.display().to_string(),
            format!(
                "cannot append to {}: it is a file, and --mode append needs a dataset directory",
                path.display()
            ),
        )
        .into());
    }
    if path.is_dir() {
        let store = dataset_store(path)?;
        let display = format!("{}/", path.display());
        check_dataset(
            &store,
            &StorePath::default(),
            &display,
            schema,
            partition_by_date,
        )
        .await?;
    }
    let part = PartName::now();
    let mut target = path.to_path_buf();
    if partition_by_date {
        target.push(part.partition_dir());
    }
    target.push(part.file_name());
    Ok(target)
}

/// A dataset directory, read through the same interface as a bucket prefix.
pub(super) fn dataset_store(path: &Path) -> Result<Arc<dyn ObjectStore>> {
    match LocalFileSystem::new_with_prefix(path) {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(DestinationError::new(
            DestinationErrorKind::Io,
            path.display().to_string(),
            format!("cannot read dataset directory {}: {e}", path.display()),
        )
        .with_cause(e)
        .into()),
    }
}

/// Replace mode: `path` is not a directory, `if_exists = fail` finds nothing there, and what is
/// there may be written ([`crate::local_file::resolve`]).
fn check_replace(path: &Path, if_exists: IfExists) -> Result<()> {
    if path.is_dir() {
        return Err(DestinationError::new(
            DestinationErrorKind::Io,
            path.display().to_string(),
            format!(
                "cannot write {}: it is a directory (use --mode append to add parts to a \
                 dataset directory)",
                path.display()
            ),
        )
        .into());
    }
    if if_exists == IfExists::Fail && path.exists() {
        return Err(exists_error(&path.display().to_string()));
    }
    // A socket, a block device (or a link to one) is refused before any data moves.
    crate::local_file::resolve(path).map(drop)
}

fn check_dir(target: &Path, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(DestinationError::new(
        DestinationErrorKind::NotFound,
        target.display().to_string(),
        format!(
            "cannot write {}: directory {} does not exist",
            target.display(),
            dir.display()
        ),
    )
    .into())
}

pub(super) use crate::local_file::parent_dir;

impl LocalWriter {
    /// True once the attempt failed, finished or was aborted.
    pub(super) fn is_closed(&self) -> bool {
        self.pending.is_none()
    }

    /// Appends bytes; on error the temporary file is removed.
    pub(super) async fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Err(e) = self.file.write_all(data).await {
            self.close();
            return Err(self.write_failed(e));
        }
        Ok(())
    }

    /// Syncs what was written; on error the temporary file is removed.
    pub(super) async fn flush(&mut self) -> Result<()> {
        if let Err(e) = self.sync().await {
            self.close();
            return Err(self.write_failed(e));
        }
        Ok(())
    }

    /// Renames the temporary file over the target (or next to nothing, with no-clobber);
    /// written through, only flushes.
    pub(super) async fn finish(&mut self) -> Result<()> {
        if self.pending.is_none() {
            return Err(Error::Internal(format!(
                "the write to {} was already finished, aborted or failed",
                self.target.display()
            )));
        }
        if let Err(e) = self.sync().await {
            self.close();
            return Err(self.write_failed(e));
        }
        let Some(mut pending) = self.pending.take() else {
            return Err(Error::Internal("the output vanished".into()));
        };
        let no_clobber = self.no_clobber;
        let committed = tokio::task::spawn_blocking(move || pending.commit(no_clobber))
            .await
            .map_err(|e| Error::Internal(format!("publishing the output failed: {e}")))?;
        if let Err(e) = committed {
            let shown = self.target.display().to_string();
            if self.no_clobber && e.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(exists_error(&shown));
            }
            let message = format!(
                "cannot move the finished file into place at {shown}: {e}; nothing was written"
            );
            return Err(DestinationError::io(shown, message, e).into());
        }
        Ok(())
    }

    /// Removes the temporary file, if any. Written through, the bytes already went out: a
    /// FIFO's reader has a partial stream, so the destination takes no further attempt.
    pub(super) fn abort(&mut self) -> Result<()> {
        if let Some(mut pending) = self.pending.take() {
            if pending.stream() == Some(Stream::Fifo) {
                self.fifo_spent.store(true, Ordering::SeqCst);
            }
            pending
                .discard()
                .map_err(|e| local_error(&self.target, e))?;
        }
        Ok(())
    }

    /// Ends a failed attempt: removes the temporary file (dropping it).
    fn close(&mut self) {
        if let Some(pending) = self.pending.take()
            && pending.stream() == Some(Stream::Fifo)
        {
            self.fifo_spent.store(true, Ordering::SeqCst);
        }
    }

    async fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        match &self.pending {
            Some(p) if p.stream().is_some() => Ok(()),
            _ => self.file.sync_all().await,
        }
    }

    fn write_failed(&self, e: std::io::Error) -> Error {
        let shown = self.target.display().to_string();
        let message = match self.pending.as_ref().and_then(Pending::stream) {
            Some(_) => format!("writing {shown} failed: {e}"),
            None => format!("writing {shown} failed: {e}; nothing was written"),
        };
        DestinationError::io(shown, message, e).into()
    }
}

fn local_error(path: &Path, e: std::io::Error) -> Error {
    let shown = path.display().to_string();
    let message = format!("cannot write {shown}: {e}");
    DestinationError::io(shown, message, e).into()
}
