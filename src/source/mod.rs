//! Where CSV bytes come from: the crate's input seam.
//!
//! A [`Source`] hands the engine ([`crate::convert`]) its input as an ordered stream of
//! [`Piece`]s: byte buffers exactly as received, each labelled with its origin (the Anaplan
//! chunk it belongs to) so a data error can say where it is. The engine transcodes, decodes
//! and types the bytes; a source does nothing but deliver them in order.
//!
//! A source that can deliver the same bytes again from the start says so
//! ([`Source::replayable`]): when a late value widens a column's type, the engine reads the
//! input a second time instead of keeping it all in memory. A source that cannot (stdin) is
//! spooled to a temporary file by the engine, so it works either way.
//!
//! | source | what it reads | replayable |
//! |---|---|---|
//! | [`FileSource`] | a local CSV file | yes |
//! | [`StdinSource`] | standard input | no (spooled) |
//! | [`MemorySource`] | buffers in memory (tests, small inputs) | yes |
//! | [`ExportSource`] | an Anaplan export's file, its chunks downloaded concurrently ([`export`]) | yes (downloaded again) |
//! | [`PageSource`] | a view's or list's read request, its pages downloaded concurrently as they become available ([`pages`]) | yes (while the request lives) |
//!
//! Adding a source means implementing [`Source`]; the engine does not change.
//!
//! ```
//! use anaplan_parquet::Result;
//! use anaplan_parquet::source::{Piece, PieceStream, Source};
//! use bytes::Bytes;
//! use futures::future::BoxFuture;
//! use futures::{StreamExt, TryStreamExt};
//!
//! /// CSV pages held in memory, each page labelled as a chunk of its own.
//! struct Pages(Vec<&'static str>);
//!
//! impl Source for Pages {
//!     fn describe(&self) -> String {
//!         format!("{} pages", self.0.len())
//!     }
//!
//!     fn open(&self) -> BoxFuture<'_, Result<PieceStream>> {
//!         let pieces = self.0.clone().into_iter().enumerate().map(|(i, page)| {
//!             Ok(Piece { data: Bytes::from_static(page.as_bytes()), chunk: Some(i as u64) })
//!         });
//!         Box::pin(async move { Ok(futures::stream::iter(pieces).boxed()) })
//!     }
//!
//!     fn replayable(&self) -> bool {
//!         true // open() can be called again and yields the same bytes
//!     }
//! }
//!
//! # futures::executor::block_on(async {
//! let source = Pages(vec!["Region,Value\nNorth,1\n", "South,2\n"]);
//! // The engine reads it like this (`convert::convert(&source, &sink, &options, &run)`).
//! let pieces: Vec<Piece> = source.open().await?.try_collect().await?;
//! assert_eq!(pieces[1].chunk, Some(1));
//! assert_eq!(&pieces[1].data[..], b"South,2\n");
//! # Ok::<(), anaplan_parquet::Error>(())
//! # }).unwrap();
//! ```

use std::path::Path;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::error::Result;

pub mod export;
mod local;
pub mod meter;
pub mod pages;

pub use export::{ExportSource, FileRef};
pub use local::{FileSource, MemorySource, READ_BUFFER_BYTES, StdinSource};
pub use pages::{PageOptions, PageSource};

/// One piece of input, in order: a read buffer, or a whole Anaplan chunk.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The bytes, exactly as received (not yet transcoded).
    pub data: Bytes,
    /// The Anaplan chunk these bytes belong to, for error positions (`None` for local input).
    pub chunk: Option<u64>,
}

/// An ordered stream of pieces; an error ends the input.
pub type PieceStream = BoxStream<'static, Result<Piece>>;

/// A source of CSV bytes: the engine's input.
///
/// The stream from [`Source::open`] yields the input's bytes in order, in pieces of any size
/// (a piece may end inside a row or a character). An error in the stream ends the run with
/// that error. `Send + Sync` because the engine reads on its own task.
pub trait Source: Send + Sync {
    /// What the source is, for logs and Parquet metadata. Never holds a secret.
    fn describe(&self) -> String;

    /// Opens the byte stream from the start.
    fn open(&self) -> BoxFuture<'_, Result<PieceStream>>;

    /// True when [`Source::open`] may be called again to read the same bytes once more; the
    /// engine spools a source that is not, when it may need a second pass.
    fn replayable(&self) -> bool;

    /// The input size in bytes, when known up front (for progress).
    fn size_hint(&self) -> Option<u64> {
        None
    }

    /// The local file the input is read from, if it is one: the engine refuses to write its
    /// output (or the `--keep-csv` copy) over it.
    fn local_path(&self) -> Option<&Path> {
        None
    }
}
