//! Local destinations (paths and `file://` URLs): the bytes go to a hidden temporary file beside
//! the target (`.NAME.XXXXXX.partial`), renamed over the target when the write is committed. On
//! abort, on error and on drop the temporary file is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::Schema;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use tokio::io::AsyncWriteExt;

use super::dataset::{PartName, check_dataset};
use super::errors::exists_error;
use super::options::{IfExists, WriteMode};
use crate::error::{DestinationError, DestinationErrorKind, Error, Result};

/// One attempt at writing a local file: a temporary file, renamed into place by `finish`.
#[derive(Debug)]
pub(super) struct LocalWriter {
    file: tokio::fs::File,
    /// `None` once the attempt failed, finished or was aborted.
    tmp: Option<tempfile::TempPath>,
    target: PathBuf,
    no_clobber: bool,
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
pub(super) async fn begin(
    path: &Path,
    mode: WriteMode,
    if_exists: IfExists,
    partition_by_date: bool,
    schema: &Schema,
) -> Result<(String, LocalWriter)> {
    let (target, no_clobber) = match mode {
        WriteMode::Replace => {
            check_replace(path, if_exists)?;
            (path.to_path_buf(), if_exists == IfExists::Fail)
        }
        WriteMode::Append => (begin_part(path, partition_by_date, schema).await?, true),
    };
    let dir = parent_dir(&target);
    check_dir(&target, &dir)?;
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let tmp = output_temp_file(&format!(".{name}."), &dir).map_err(|e| local_error(&target, e))?;
    let (file, tmp_path) = tmp.into_parts();
    tracing::debug!(target = %target.display(), temp = %tmp_path.display(), "writing");
    let writer = LocalWriter {
        file: tokio::fs::File::from_std(file),
        tmp: Some(tmp_path),
        target,
        no_clobber,
    };
    Ok((writer.target.display().to_string(), writer))
}

/// Append mode: checks the dataset directory and names the new part (creating its partition
/// directory).
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
    tokio::fs::create_dir_all(&target).await.map_err(|e| {
        let shown = target.display().to_string();
        DestinationError::io(shown.clone(), format!("cannot create {shown}: {e}"), e)
    })?;
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

/// Replace mode: `path` is not a directory, and `if_exists = fail` finds nothing there.
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
    Ok(())
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

/// The directory `path` is in (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl LocalWriter {
    /// True once the attempt failed, finished or was aborted.
    pub(super) fn is_closed(&self) -> bool {
        self.tmp.is_none()
    }

    /// Appends bytes to the temporary file; on error it is removed.
    pub(super) async fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Err(e) = self.file.write_all(data).await {
            drop(self.tmp.take());
            return Err(self.write_failed(e));
        }
        Ok(())
    }

    /// Syncs the temporary file; on error it is removed.
    pub(super) async fn flush(&mut self) -> Result<()> {
        if let Err(e) = self.sync().await {
            drop(self.tmp.take());
            return Err(self.write_failed(e));
        }
        Ok(())
    }

    /// Renames the temporary file over the target (or next to nothing, with no-clobber).
    pub(super) async fn finish(&mut self) -> Result<()> {
        let Some(tmp) = self.tmp.take() else {
            return Err(Error::Internal(format!(
                "the write to {} was already finished, aborted or failed",
                self.target.display()
            )));
        };
        if let Err(e) = self.sync().await {
            drop(tmp);
            return Err(self.write_failed(e));
        }
        let persisted = if self.no_clobber {
            tmp.persist_noclobber(&self.target)
        } else {
            tmp.persist(&self.target)
        };
        if let Err(e) = persisted {
            drop(e.path);
            let shown = self.target.display().to_string();
            if self.no_clobber && e.error.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(exists_error(&shown));
            }
            let message = format!(
                "cannot move the finished file into place at {shown}: {}; nothing was written",
                e.error
            );
            return Err(DestinationError::io(shown, message, e.error).into());
        }
        sync_parent(&self.target).await;
        Ok(())
    }

    /// Removes the temporary file, if any.
    pub(super) fn abort(&mut self) -> Result<()> {
        if let Some(tmp) = self.tmp.take() {
            tmp.close().map_err(|e| local_error(&self.target, e))?;
        }
        Ok(())
    }

    async fn sync(&mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_all().await
    }

    fn write_failed(&self, e: std::io::Error) -> Error {
        let shown = self.target.display().to_string();
        let message = format!("writing {shown} failed: {e}; nothing was written");
        DestinationError::io(shown, message, e).into()
    }
}

fn local_error(path: &Path, e: std::io::Error) -> Error {
    let shown = path.display().to_string();
    let message = format!("cannot write {shown}: {e}");
    DestinationError::io(shown, message, e).into()
}

/// A temporary file beside a local output (Parquet, manifest, kept CSV, generated CSV), renamed
/// over it when complete.
///
/// `tempfile` creates files with mode 0600; an output is created 0666 less the umask, as any
/// other program's output would be, so that the readers of a shared directory can open it.
/// (Spool files, which nobody else reads, stay private.)
pub(crate) fn output_temp_file(
    prefix: &str,
    dir: &Path,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".partial");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Makes a rename durable (best effort; not supported everywhere).
pub(super) async fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = tokio::fs::File::open(dir).await
    {
        let _ = d.sync_all().await;
    }
    #[cfg(not(unix))]
    let _ = path;
}
