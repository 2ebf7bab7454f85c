//! Where Parquet goes. (Initial version: local files only; object stores come with issue 5.)
//!
//! A [`Destination`] is resolved once from `--output`. For each attempt at writing, the engine
//! calls [`Destination::begin`] and streams bytes into the returned [`DestinationWriter`], then
//! calls [`DestinationWriter::finish`] on success or [`DestinationWriter::abort`] on any failure.
//! Nothing is visible at the destination until `finish` returns, and an existing file is only
//! replaced at that moment.

use std::path::{Path, PathBuf};

use arrow::datatypes::Schema;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// A resolved output location.
#[derive(Clone, Debug)]
pub struct Destination {
    path: PathBuf,
}

/// What a successful write produced.
#[derive(Clone, Debug)]
pub struct Written {
    /// Where the data now is (a path or a redacted URL).
    pub location: String,
    /// Bytes written.
    pub bytes: u64,
}

impl Destination {
    /// Resolves `--output`.
    pub fn parse(output: &str) -> Result<Self> {
        if output.is_empty() {
            return Err(Error::usage("--output must not be empty"));
        }
        Ok(Destination {
            path: PathBuf::from(output),
        })
    }

    /// Where the output goes, for messages.
    pub fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// Starts one attempt at writing a file with `schema`.
    pub async fn begin(&self, _schema: &Schema) -> Result<DestinationWriter> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::Destination(format!(
                "cannot write {}: directory {} does not exist",
                self.path.display(),
                dir.display()
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(
                ".{}.",
                self.path
                    .file_name()
                    .map_or_else(|| "output".into(), |n| n.to_string_lossy())
            ))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| dest_io(&self.path, &e))?;
        let (file, tmp_path) = tmp.into_parts();
        Ok(DestinationWriter {
            file: tokio::fs::File::from_std(file),
            tmp: Some(tmp_path),
            target: self.path.clone(),
            bytes: 0,
        })
    }
}

fn dest_io(path: &Path, e: &std::io::Error) -> Error {
    Error::Destination(format!("cannot write {}: {e}", path.display()))
}

/// One in-progress write.
#[derive(Debug)]
pub struct DestinationWriter {
    file: tokio::fs::File,
    tmp: Option<tempfile::TempPath>,
    target: PathBuf,
    bytes: u64,
}

impl DestinationWriter {
    /// Appends bytes.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        self.file
            .write_all(&data)
            .await
            .map_err(|e| dest_io(&self.target, &e))?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Makes the data visible at the destination, replacing what was there.
    pub async fn finish(mut self) -> Result<Written> {
        self.file
            .sync_all()
            .await
            .map_err(|e| dest_io(&self.target, &e))?;
        let tmp = self.tmp.take().expect("finish called once");
        tmp.persist(&self.target)
            .map_err(|e| dest_io(&self.target, &e.error))?;
        Ok(Written {
            location: self.target.display().to_string(),
            bytes: self.bytes,
        })
    }

    /// Discards everything written by this attempt.
    pub async fn abort(mut self) -> Result<()> {
        if let Some(tmp) = self.tmp.take() {
            tmp.close().map_err(|e| dest_io(&self.target, &e))?;
        }
        Ok(())
    }
}
