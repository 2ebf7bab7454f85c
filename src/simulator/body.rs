//! Transformations of a download body: cut it short, trickle it, gzip it.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// The first `limit` bytes of a stream.
pub(super) fn take_bytes(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    limit: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold((Box::pin(stream), limit), |(mut stream, left)| async move {
        if left == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut piece) => {
                if piece.len() as u64 > left {
                    piece.truncate(left as usize);
                }
                let left = left - piece.len() as u64;
                Some((Ok(piece), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
}

/// A stream trickled at `rate` bytes per second, in pieces of 1/20 s.
pub(super) fn throttle(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    rate: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let piece = (rate / 20).max(1) as usize;
    stream
        .flat_map(move |item| {
            let parts: Vec<io::Result<Bytes>> = match item {
                Ok(mut b) => {
                    let mut v = Vec::new();
                    while !b.is_empty() {
                        let n = piece.min(b.len());
                        v.push(Ok(b.split_to(n)));
                    }
                    v
                }
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(parts)
        })
        .then(move |item| async move {
            if let Ok(b) = &item {
                tokio::time::sleep(Duration::from_secs_f64(b.len() as f64 / rate as f64)).await;
            }
            item
        })
}

/// Gzip-compresses a stream piece by piece (fast level: the simulator's CPU is shared with the
/// client under test).
pub(super) fn gzip_stream(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    use std::io::Write;
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    futures::stream::unfold(
        (Box::pin(stream), Some(encoder)),
        |(mut stream, encoder)| async move {
            let mut encoder = encoder?;
            loop {
                match stream.next().await {
                    Some(Ok(piece)) => {
                        if let Err(e) = encoder.write_all(&piece) {
                            return Some((Err(e), (stream, None)));
                        }
                        let out = std::mem::take(encoder.get_mut());
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (stream, Some(encoder))));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (stream, None))),
                    None => {
                        return match encoder.finish() {
                            Ok(out) => Some((Ok(Bytes::from(out)), (stream, None))),
                            Err(e) => Some((Err(e), (stream, None))),
                        };
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn take_and_gzip_streams() {
        let parts = || {
            futures::stream::iter(vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ])
        };
        let cut: Vec<Bytes> = take_bytes(parts(), 8).map(Result::unwrap).collect().await;
        assert_eq!(cut.concat(), b"hello wo");
        let zipped: Vec<Bytes> = gzip_stream(parts()).map(Result::unwrap).collect().await;
        let mut out = String::new();
        io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(zipped.concat().as_slice()),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "hello world");
    }
}
