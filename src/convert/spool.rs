//! The copy of the input that the first pass writes as it reads: a spool file in the temporary
//! directory when the source cannot be read twice (a later pass reads the spool instead), or
//! the `--keep-csv` file, written by the rule for local outputs ([`crate::local_file`]): beside
//! its target and renamed into place once the run succeeded, or through to a device or FIFO.
//!
//! Errors say whose file failed: the spool is the run's own (a [`Error::LocalIo`] naming the
//! temporary directory and `TMPDIR`), the kept copy is the user's output
//! ([`Error::Destination`]).

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::error::{Error, Result};
use crate::local_file::{LocalOutput, Pending, spool_file};
use crate::source::{Piece, PieceStream, READ_BUFFER_BYTES};

/// Whose file the copy is.
#[derive(Debug)]
enum Kind {
    /// A spool in the temporary directory `dir`, deleted when the run ends.
    Spool { dir: PathBuf },
    /// The `--keep-csv` copy (`target` as given), renamed into place at the end.
    Keep { target: PathBuf, pending: Pending },
    /// The `--keep-csv` copy written through to a character device or FIFO, which cannot be
    /// read back: a spool in `dir` is written beside it for the later passes.
    KeepThrough {
        target: PathBuf,
        device: tokio::fs::File,
        dir: PathBuf,
    },
}

/// The copy of the input being written.
#[derive(Debug)]
pub(super) struct Spool {
    /// The file the later passes read back.
    file: tokio::fs::File,
    path: PathBuf,
    /// A spool file, held only to be deleted on drop.
    _temp_file: Option<tempfile::TempPath>,
    kind: Kind,
}

impl Spool {
    /// A copy kept as `keep_as` (`--keep-csv`), or else a spool in the temporary directory.
    pub(super) fn create(keep_as: Option<&Path>) -> Result<Spool> {
        match keep_as {
            Some(target) => Spool::create_keep(target, &std::env::temp_dir()),
            None => Spool::create_in(&std::env::temp_dir()),
        }
    }

    /// A spool file in `dir`, the temporary directory.
    fn create_in(dir: &Path) -> Result<Spool> {
        let kind = Kind::Spool {
            dir: dir.to_path_buf(),
        };
        let (file, path) = Spool::spool_in(dir)?;
        Ok(Spool {
            file,
            path: path.to_path_buf(),
            _temp_file: Some(path),
            kind,
        })
    }

    fn spool_in(dir: &Path) -> Result<(tokio::fs::File, tempfile::TempPath)> {
        let tmp = spool_file(dir).map_err(|e| spool_error(dir, Step::Create, e))?;
        let (file, path) = tmp.into_parts();
        Ok((tokio::fs::File::from_std(file), path))
    }

    /// The kept copy, written by the rule for local outputs ([`LocalOutput`]): a temporary
    /// file beside `target` renamed to it by [`Spool::finish`], or a device or FIFO written
    /// through (then with a spool in `tmp_dir` to read back).
    fn create_keep(target: &Path, tmp_dir: &Path) -> Result<Spool> {
        let LocalOutput { file, pending } = LocalOutput::open(target, false)?;
        let target = target.to_path_buf();
        if pending.stream().is_some() {
            let (spool, path) = Spool::spool_in(tmp_dir)?;
            return Ok(Spool {
                file: spool,
                path: path.to_path_buf(),
                _temp_file: Some(path),
                kind: Kind::KeepThrough {
                    target,
                    device: tokio::fs::File::from_std(file),
                    dir: tmp_dir.to_path_buf(),
                },
            });
        }
        let Some(path) = pending.temp().map(Path::to_path_buf) else {
            return Err(Error::Internal("a kept copy without its file".into()));
        };
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
            path,
            _temp_file: None,
            kind: Kind::Keep { target, pending },
        })
    }

    /// Appends the next piece of input.
    pub(super) async fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Kind::KeepThrough { device, target, .. } = &mut self.kind {
            device
                .write_all(data)
                .await
                .map_err(|e| keep_error(target, e))?;
        }
        let written = self.file.write_all(data).await;
        written.map_err(|e| self.error(Step::Write, e))
    }

    /// Makes everything written so far readable through [`Spool::replay`].
    pub(super) async fn flush(&mut self) -> Result<()> {
        if let Kind::KeepThrough { device, target, .. } = &mut self.kind {
            device.flush().await.map_err(|e| keep_error(target, e))?;
        }
        let flushed = self.file.flush().await;
        flushed.map_err(|e| self.error(Step::Write, e))
    }

    /// The copy, read from the start (call [`Spool::flush`] first).
    pub(super) async fn replay(&self) -> Result<PieceStream> {
        let path = self.path.clone();
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::local_io(format!("cannot read {} back", path.display()), e))?;
        let stream = ReaderStream::with_capacity(file, READ_BUFFER_BYTES)
            .map_err(move |e| Error::local_io(format!("cannot read {} back", path.display()), e))
            .map_ok(|data| Piece { data, chunk: None });
        Ok(stream.boxed())
    }

    /// The run succeeded: a kept copy is renamed into place; a spool is deleted.
    pub(super) async fn finish(mut self) -> Result<()> {
        self.flush().await?;
        if let Kind::Keep { target, pending } = &mut self.kind {
            let file = self.file.into_std().await;
            pending
                .sync(&file)
                .and_then(|()| pending.commit(false))
                .map_err(|e| keep_error(target, e))?;
        }
        Ok(())
    }

    /// `step` failed with `e`, said of the file being written.
    fn error(&self, step: Step, e: std::io::Error) -> Error {
        match &self.kind {
            Kind::Spool { dir } | Kind::KeepThrough { dir, .. } => spool_error(dir, step, e),
            Kind::Keep { target, .. } => keep_error(target, e),
        }
    }
}

/// What was being done to the copy when it failed.
#[derive(Clone, Copy, Debug)]
enum Step {
    Create,
    Write,
}

/// The run's own spool in `dir` failed.
fn spool_error(dir: &Path, step: Step, e: std::io::Error) -> Error {
    let doing = match step {
        Step::Create => "cannot create a spool file",
        Step::Write => "cannot write the spool file",
    };
    Error::local_io(
        format!(
            "{doing} in the temporary directory {} (set TMPDIR to use another)",
            dir.display()
        ),
        e,
    )
}

/// The user's kept copy at `target` failed.
fn keep_error(target: &Path, e: std::io::Error) -> Error {
    let shown = target.display().to_string();
    let message = format!("cannot write {shown}: {e}");
    Error::from(crate::error::DestinationError::io(shown, message, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    async fn read_back(spool: &Spool) -> Vec<u8> {
        let pieces: Vec<Piece> = spool.replay().await.unwrap().try_collect().await.unwrap();
        assert!(pieces.iter().all(|p| p.chunk.is_none()));
        pieces.iter().flat_map(|p| p.data.to_vec()).collect()
    }

    #[tokio::test]
    async fn a_spool_reads_back_what_was_written_and_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::create_in(dir.path()).unwrap();
        spool.write(b"a,b\n").await.unwrap();
        spool.write(b"1,2\n").await.unwrap();
        spool.flush().await.unwrap();
        assert_eq!(read_back(&spool).await, b"a,b\n1,2\n");
        // Read twice: each replay starts from the beginning.
        assert_eq!(read_back(&spool).await, b"a,b\n1,2\n");
        spool.finish().await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_kept_copy_is_renamed_into_place_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("raw.csv");
        let mut keep = Spool::create(Some(&target)).unwrap();
        keep.write(b"x\n1\n").await.unwrap();
        keep.flush().await.unwrap();
        assert!(!target.exists());
        assert_eq!(read_back(&keep).await, b"x\n1\n");
        keep.finish().await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"x\n1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failures_say_whose_file_it_is() {
        let missing = Path::new("/nonexistent/anaplan-parquet-test");
        let e = Spool::create_in(missing).unwrap_err();
        assert_eq!(e.exit_class(), ExitClass::LocalIo, "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/anaplan-parquet-test") && msg.contains("TMPDIR"),
            "{msg}"
        );
        let e = Spool::create(Some(&missing.join("raw.csv"))).unwrap_err();
        assert_eq!(e.exit_class(), ExitClass::Destination, "{e}");
        assert!(e.to_string().contains("raw.csv"), "{e}");
    }
}
