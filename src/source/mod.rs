//! Where CSV bytes come from: a local file, stdin, or (see [`crate::source::export`]) an Anaplan export
//! file downloaded chunk by chunk.
//!
//! A [`Source`] opens a stream of [`Piece`]s in input order. Sources that can be read again from
//! the start (a file, an export whose chunks can be fetched again) say so with
//! [`Source::replayable`]; the engine spools the others to a temporary file so a late type
//! change can be handled by a second pass.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio_util::io::ReaderStream;

use crate::error::{Error, Result};

pub mod export;

/// Size of the buffers a local file or stdin is read in.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

/// One piece of input, in order: a read buffer, or a whole Anaplan chunk.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The bytes, exactly as received (not yet transcoded).
    pub data: Bytes,
    /// The Anaplan chunk these bytes belong to, for error positions.
    pub chunk: Option<u64>,
}

/// An ordered stream of pieces.
pub type PieceStream = BoxStream<'static, Result<Piece>>;

/// A source of CSV bytes.
pub trait Source: Send + Sync {
    /// What the source is, for logs and Parquet metadata. Never holds a secret.
    fn describe(&self) -> String;

    /// Opens the byte stream from the start.
    fn open(&self) -> BoxFuture<'_, Result<PieceStream>>;

    /// True when [`Source::open`] may be called again to read the same bytes once more.
    fn replayable(&self) -> bool;

    /// The input size in bytes, when known up front.
    fn size_hint(&self) -> Option<u64> {
        None
    }
}

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
