//! Local input: a file, standard input, or buffers already in memory.
//!
//! Whether a local path can be read twice comes from what the path is, decided once when its
//! source is made: a regular file is opened again for each pass; anything else (a FIFO, a
//! character device, a socket, `/dev/stdin`, `/proc/self/fd/N`, a shell's `<(cmd)`) is a
//! stream that yields its bytes once, so the engine spools it like stdin.
//!
//! Streams are opened and read on a thread of their own, never on the runtime's blocking
//! pool: opening a FIFO waits for its writer and a read may wait forever, and neither may hold
//! up a stop. When the run stops, the stream is dropped and the thread is left to end on its
//! own (at its next read, or with the process).

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::io::ReaderStream;

use super::{Piece, PieceStream, Source};
use crate::error::{Error, Result};

/// Size of the buffers a local file or stdin is read in.
pub const READ_BUFFER_BYTES: usize = 1 << 20;

/// Read buffers a stream's thread may have ready before the engine takes them.
const STREAM_BUFFERS: usize = 4;

/// What a local path is, for reading it: decided once, when its source is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathKind {
    /// A regular file (or a path that does not exist yet, or a directory: opening says why
    /// it cannot be read): opened again for each pass.
    Regular,
    /// Anything else: a FIFO, a character or block device, a socket. Read once, on a thread.
    Stream,
}

impl PathKind {
    /// What `path` is, following symbolic links (`/dev/stdin` is whatever stdin is).
    fn of(path: &Path) -> PathKind {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() && !m.is_dir() => PathKind::Stream,
            _ => PathKind::Regular,
        }
    }
}

/// A local CSV file, or a path to a stream (FIFO, `/dev/stdin`, `<(cmd)`).
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    kind: PathKind,
}

impl FileSource {
    /// A source for `path` (opened lazily). What the path is, a regular file that can be
    /// read again or a stream that cannot, is decided here, once.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let kind = PathKind::of(&path);
        FileSource { path, kind }
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
        if self.kind == PathKind::Stream {
            let path = self.path.clone();
            return read_on_thread(self.describe(), move || std::fs::File::open(path));
        }
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
        self.kind == PathKind::Regular
    }

    fn local_path(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn size_hint(&self) -> Option<u64> {
        match self.kind {
            PathKind::Regular => std::fs::metadata(&self.path).ok().map(|m| m.len()),
            PathKind::Stream => None,
        }
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
        read_on_thread(self.describe(), || Ok(std::io::stdin()))
    }

    fn replayable(&self) -> bool {
        false
    }
}

/// Opens a stream with `open` and reads it on a thread of its own, handing the buffers over
/// a bounded channel. The future completes once the stream is open (a FIFO waits for its
/// writer here); dropping it, or the stream, lets the thread go without waiting for it.
fn read_on_thread<R, F>(name: String, open: F) -> BoxFuture<'static, Result<PieceStream>>
where
    R: Read,
    F: FnOnce() -> std::io::Result<R> + Send + 'static,
{
    let (opened_tx, opened_rx) = oneshot::channel::<std::io::Result<()>>();
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(STREAM_BUFFERS);
    let shown = name.clone();
    let spawned = std::thread::Builder::new()
        .name("anaplan-parquet-input".into())
        .spawn(move || {
            let mut reader = match open() {
                Ok(r) => r,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            if opened_tx.send(Ok(())).is_err() {
                return; // the run stopped while the stream was being opened
            }
            let mut buf = vec![0u8; READ_BUFFER_BYTES];
            loop {
                let item = match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(Error::io(format!("cannot read {shown}"), e)),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
    Box::pin(async move {
        spawned
            .map_err(|e| Error::Internal(format!("cannot start a thread to read {name}: {e}")))?;
        match opened_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::io(format!("cannot open {name}"), e)),
            Err(_) => return Err(Error::Internal(format!("the reader of {name} stopped"))),
        }
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .map_ok(|data| Piece { data, chunk: None });
        Ok(stream.boxed())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(source: &dyn Source) -> Vec<u8> {
        let pieces: Vec<Piece> = source.open().await.unwrap().try_collect().await.unwrap();
        pieces.iter().flat_map(|p| p.data.to_vec()).collect()
    }

    #[tokio::test]
    async fn what_a_path_is_decides_whether_it_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, b"x\n1\n").unwrap();
        let regular = FileSource::new(&file);
        assert!(regular.replayable());
        assert_eq!(regular.size_hint(), Some(4));
        assert_eq!(read_all(&regular).await, b"x\n1\n");
        assert_eq!(read_all(&regular).await, b"x\n1\n");
        // Not there yet: opening it says so.
        assert!(FileSource::new(dir.path().join("missing")).replayable());
        // A character device is a stream, read once on a thread of its own.
        let device = FileSource::new("/dev/null");
        assert!(!device.replayable());
        assert_eq!(device.size_hint(), None);
        assert!(read_all(&device).await.is_empty());
    }

    #[tokio::test]
    async fn a_stream_that_cannot_be_opened_says_which() {
        let e = read_on_thread("the input".into(), || {
            Err::<std::fs::File, _>(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        })
        .await
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("cannot open the input"), "{e}");
    }
}
