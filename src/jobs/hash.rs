//! The content hash of an export, computed while it streams, and the early stop of
//! `--skip-unchanged`.
//!
//! [`HashingSource`] wraps a [`Source`] and hashes every piece (SHA-256 of the raw bytes, as
//! downloaded) on its way to the engine. Each [`Source::open`] starts a fresh hash, so a
//! second pass over the input (a widened column) gives the same digest. When a pass reaches
//! the end of the input, the digest is final: it is kept for the manifest, and if it equals
//! the digest the dataset's last manifest recorded, the stream ends with an error instead of
//! its end. The engine then abandons the output before publishing it (as for any failure:
//! nothing is written), and [`HashingSource::unchanged`] tells the caller that this was a
//! skip, not a failure.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::source::{Piece, PieceStream, Source};

/// Pieces at least this large are hashed on a blocking thread, off the I/O runtime.
const BLOCKING_HASH_BYTES: usize = 1 << 20;

/// A source whose bytes are hashed as they pass.
pub struct HashingSource<S> {
    inner: S,
    expected: Option<String>,
    outcome: Arc<Mutex<Outcome>>,
}

#[derive(Debug, Default)]
struct Outcome {
    digest: Option<String>,
    unchanged: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Source> HashingSource<S> {
    /// Hashes `inner`. With `expected` (the digest of the last run), a pass that reads the
    /// whole input and finds the same digest stops the run before anything is published.
    pub fn new(inner: S, expected: Option<String>) -> Self {
        HashingSource {
            inner,
            expected,
            outcome: Arc::new(Mutex::new(Outcome::default())),
        }
    }

    /// SHA-256 (lower-case hex) of the whole input, once a pass has read all of it.
    pub fn digest(&self) -> Option<String> {
        lock(&self.outcome).digest.clone()
    }

    /// True when the input equalled the expected digest (and the run was stopped for it).
    pub fn unchanged(&self) -> bool {
        lock(&self.outcome).unchanged
    }
}

impl<S: Source> Source for HashingSource<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
        Box::pin(async move {
            let stream = self.inner.open().await?;
            let hasher = Arc::new(Mutex::new(Sha256::new()));
            let h = Arc::clone(&hasher);
            let hashed = stream.and_then(move |piece: Piece| {
                let h = Arc::clone(&h);
                async move {
                    if piece.data.len() >= BLOCKING_HASH_BYTES {
                        let data = piece.data.clone();
                        tokio::task::spawn_blocking(move || lock(&h).update(&data))
                            .await
                            .map_err(|e| Error::Internal(format!("hashing failed: {e}")))?;
                    } else {
                        lock(&h).update(&piece.data);
                    }
                    Ok(piece)
                }
            });
            let outcome = Arc::clone(&self.outcome);
            let expected = self.expected.clone();
            let end = futures::stream::once(async move {
                let digest = hex::encode(lock(&hasher).clone().finalize());
                let unchanged = expected.as_deref() == Some(digest.as_str());
                let mut o = lock(&outcome);
                o.digest = Some(digest);
                o.unchanged = unchanged;
                unchanged.then(|| {
                    Err(Error::Internal(
                        "the export is unchanged since the last run; not writing it".into(),
                    ))
                })
            })
            .filter_map(futures::future::ready);
            Ok(hashed.chain(end).boxed())
        })
    }

    fn replayable(&self) -> bool {
        self.inner.replayable()
    }

    fn size_hint(&self) -> Option<u64> {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::source::MemorySource;

    /// SHA-256 of "hello world".
    const HELLO: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    fn source(expected: Option<&str>) -> HashingSource<MemorySource> {
        HashingSource::new(
            MemorySource::new(
                "mem",
                vec![Bytes::from_static(b"hello"), Bytes::from_static(b" world")],
            ),
            expected.map(str::to_owned),
        )
    }

    async fn drain(s: &HashingSource<MemorySource>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut stream = s.open().await?;
        while let Some(p) = stream.next().await {
            out.extend_from_slice(&p?.data);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn hashes_what_passes_and_every_pass_alike() {
        let s = source(None);
        assert_eq!(s.digest(), None);
        assert_eq!(drain(&s).await.unwrap(), b"hello world");
        assert_eq!(s.digest().as_deref(), Some(HELLO));
        assert!(!s.unchanged());
        drain(&s).await.unwrap();
        assert_eq!(s.digest().as_deref(), Some(HELLO));
        // A different expected digest: the stream ends normally.
        let s = source(Some(&"0".repeat(64)));
        assert!(drain(&s).await.is_ok());
        assert!(!s.unchanged());
    }

    #[tokio::test]
    async fn the_same_digest_ends_the_stream_with_an_error() {
        let s = source(Some(HELLO));
        let e = drain(&s).await.unwrap_err();
        assert!(e.to_string().contains("unchanged"), "{e}");
        assert!(s.unchanged());
        assert_eq!(s.digest().as_deref(), Some(HELLO));
    }

    #[tokio::test]
    async fn large_pieces_are_hashed_the_same_off_the_runtime() {
        let big = Bytes::from(vec![b'x'; BLOCKING_HASH_BYTES + 3]);
        let s = HashingSource::new(
            MemorySource::new("mem", vec![Bytes::from_static(b"a"), big.clone()]),
            None,
        );
        let mut stream = s.open().await.unwrap();
        while stream.next().await.is_some() {}
        let mut all = b"a".to_vec();
        all.extend_from_slice(&big);
        assert_eq!(s.digest(), Some(hex::encode(Sha256::digest(&all))));
    }
}
