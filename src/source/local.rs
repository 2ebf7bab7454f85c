//! Local input: a file, standard input, or buffers already in memory.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tokio_util::io::ReaderStream;

use super::{Piece, PieceStream, Source};
use crate::error::{Error, Result};

/// Size of the buffers a local file or stdin is read in.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

/// A local CSV file.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A file source for `path` (opened lazily).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Source for FileSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(&self.path)
                .await
                .map_err(|e| Error::io(format!("cannot open {}", self.path.display()), e))?;
            let meta = file
                .metadata()
                .await
                .map_err(|e| Error::io(format!("cannot read {}", self.path.display()), e))?;
            if meta.is_dir() {
                return Err(Error::usage(format!(
                    "{} is a directory, not a CSV file",
                    self.path.display()
                )));
            }
            let shown = self.path.display().to_string();
            let stream = ReaderStream::with_capacity(file, READ_BUFFER_BYTES)
                .map_err(move |e| Error::io(format!("cannot read {shown}"), e))
                .map_ok(|data| Piece { data, chunk: None });
            Ok(stream.boxed())
        })
    }

    fn replayable(&self) -> bool {
        true
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn size_hint(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }
}

/// Standard input. It cannot be read twice, so the engine spools it when it may need a replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdinSource;

impl Source for StdinSource {
    fn describe(&self) -> String {
        "stdin".to_owned()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        Box::pin(async move {
            let stream = ReaderStream::with_capacity(tokio::io::stdin(), READ_BUFFER_BYTES)
                .map_err(|e| Error::io("cannot read stdin", e))
                .map_ok(|data| Piece { data, chunk: None });
            Ok(stream.boxed())
        })
    }

    fn replayable(&self) -> bool {
        false
    }
}

/// Bytes already in memory (tests, small inputs). Replayable.
#[derive(Clone, Debug)]
pub struct MemorySource {
    pieces: Vec<Bytes>,
    name: String,
}

impl MemorySource {
    /// A source that yields `pieces` in order, each as one piece.
    pub fn new(name: impl Into<String>, pieces: Vec<Bytes>) -> Self {
        MemorySource {
            pieces,
            name: name.into(),
        }
    }
}

impl Source for MemorySource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        let pieces = self.pieces.clone();
        Box::pin(async move {
            Ok(futures::stream::iter(
                pieces
                    .into_iter()
                    .map(|data| Ok(Piece { data, chunk: None })),
            )
            .boxed())
        })
    }

    fn replayable(&self) -> bool {
        true
    }

    fn size_hint(&self) -> Option<u64> {
        Some(self.pieces.iter().map(|p| p.len() as u64).sum())
    }
}
