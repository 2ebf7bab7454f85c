//! # anaplan-parquet
//!
//! Pulls data out of Anaplan and lands it as Parquet, on local disk or in an object store,
//! streaming with bounded memory and never leaving a partial file behind.
//!
//! ## Data flow
//!
//! Everything runs one way, from where the bytes come from to where the Parquet goes:
//!
//! ```text
//!  cli (flags) ─┐                       jobs (a jobs file: many datasets, manifests, shards)
//!               ▼                          │
//!  settings: flags and jobs-file keys, validated once into the options below
//!               │                          │
//!  export: resolve names, run the task ────┤         (convert: a local file or stdin)
//!  read: a view or list: a read request ───┤         (pages as they become available)
//!      │      anaplan: the HTTP client (auth, discovery, tasks, chunks); knows no Parquet
//!      ▼
//!  source ─ the input seam (`Source`): ordered byte pieces with their chunk, replayable
//!      │    file · stdin · memory · an export's chunks downloaded concurrently, in order
//!      │    · a read request's pages, downloaded as they become available, in order
//!      ▼ bounded channel (backpressure)                                   [reader task]
//!  convert ─ the engine                                                   [decode thread]
//!      text: transcode to UTF-8 → push CSV decoder → TextReader (positions: chunk, line, column)
//!      schema: header, inference on a sample, the column plan, text → typed Arrow arrays
//!      encode: Parquet writer, row groups bounded by rows and bytes       [encode thread]
//!      replay: a late value that does not fit widens its column and writes a second pass
//!      ▼ bounded channel
//!  sink ─ the output seam (`Sink`): begin, write, commit or abort         [async]
//!         local file (temp + rename) · object store (one builder for S3, GCS, Azure;
//!         multipart upload) · append datasets · manifests
//! ```
//!
//! ## The two seams
//!
//! A new input is a [`Source`]: pieces of CSV bytes in order, each labelled with the chunk it
//! came from so errors can say where; sources that can be read again from the start say so,
//! and the engine spools the others when a late widening needs a second pass. A new output is
//! a [`Sink`]: the engine begins one file when it knows the schema, writes the encoded bytes,
//! and commits (publishing atomically) or aborts (leaving nothing). Neither seam requires a
//! change in the engine; see [`source`] and [`sink`] for examples.
//!
//! ```no_run
//! # async fn demo() -> anaplan_parquet::Result<()> {
//! use anaplan_parquet::convert::{self, EngineOptions, RunContext};
//! use anaplan_parquet::sink::Destination;
//! use anaplan_parquet::source::FileSource;
//!
//! let source = FileSource::new("export.csv");
//! let sink = Destination::parse("s3://lake/export.parquet")?;
//! let summary = convert::convert(&source, &sink, &EngineOptions::default(), &RunContext::default()).await?;
//! println!("{} rows, {} bytes", summary.rows, summary.bytes_out);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! | module | job |
//! |---|---|
//! | [`export`] | one export end to end: resolve names, run or adopt the task, download, convert |
//! | [`read`] | one view or list end to end: resolve names, a read request (or the transactional call), pages, convert, delete |
//! | [`mod@bench`] | `bench`: a sweep of settings over one export's file, the recommendation, the chart |
//! | [`jobs`] | many exports from one jobs file: checks, scheduling, shards, manifests |
//! | [`source`] | where CSV bytes come from: file, stdin, memory, an Anaplan file's chunks |
//! | [`anaplan`] | the Anaplan client: authentication (password, certificate, OAuth), discovery, export tasks, chunks |
//! | [`convert`] | the engine: `text` (transcode, CSV decoder, reader), `schema` (types, inference, plan, typing), `encode`, the pipeline, spool and replay |
//! | [`stages`] | where an export's time goes: download, upload and engine CPU meters, the bottleneck |
//! | [`sink`] | local paths and object-store URLs: atomic publish, abort, append datasets, manifests, Delta Lake tables |
//! | [`error`] | the error type, its structured payloads, and the exit codes |
//! | `simulator`, `generate` | the embedded Anaplan simulator and the synthetic export generator (feature `simulator`) |
//! | `cli`, `settings` | the command line: clap arguments, and the one settings layer flags and jobs files share |
//! | `embed` | the command line's arguments run in process, returning summaries and record-batch streams: the Python package's front end (`python/`; hidden, not a stable API) |
//! | [`Progress`], [`Shutdown`], [`Secret`], [`RetryConfig`], [`RunSummary`] | small shared pieces |
//!
//! ## Features
//!
//! - `simulator` (default): the simulator, the generator and the `simulator`, `demo` and
//!   `generate` commands (brings in axum).
//! - `certificate` (default; implied by `simulator`): certificate sign-in (rsa, x509-cert).
//!
//! `cargo build --no-default-features` builds the library and the CLI with password and OAuth
//! sign-in only.

#![deny(missing_docs)]

pub mod anaplan;
pub mod bench;
#[doc(hidden)]
pub mod cli;
pub mod convert;
#[doc(hidden)]
pub mod embed;
pub mod error;
pub mod export;
#[cfg(feature = "simulator")]
pub mod generate;
pub mod jobs;
mod local_file;
mod logging;
mod progress;
pub mod read;
mod retry;
mod secret;
pub(crate) mod settings;
mod shutdown;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sink;
pub mod source;
pub mod stages;
mod summary;
pub(crate) mod units;

pub use error::{Error, Result};
pub use progress::{Progress, ProgressSnapshot};
pub use retry::{RetryConfig, RetryStats};
pub use secret::Secret;
pub use shutdown::Shutdown;
pub use sink::{Sink, SinkWriter};
pub use source::Source;
pub use summary::{FirstMisfit, RunSummary, SummaryColumn, Widening};
