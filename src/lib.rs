//! # anaplan-parquet
//!
//! Pulls data out of Anaplan exports and lands it as Parquet, on local disk or in an object
//! store, streaming with bounded memory and never leaving a partial file behind.
//!
//! ## Data flow
//!
//! ```text
//!  anaplan (auth, discovery, export task)          source (file, stdin)
//!        │ chunk ids                                      │
//!  fetch: ordered, concurrent, retried chunk GETs         │
//!        └──────────────────────┬─────────────────────────┘
//!                               ▼ Piece (bytes, chunk index)      [async reader task]
//!                      bounded channel (backpressure)
//!                               ▼                                  [decode thread]
//!  transcode (encoding → UTF-8, BOM) → decode (CSV → text columns)
//!      → schema (header, inference on a sample) → typed (text → typed Arrow arrays)
//!                               ▼ RecordBatch, bounded channel
//!  encode (Parquet writer, row groups bounded by rows and bytes)   [encode thread]
//!                               ▼ bytes, bounded channel
//!  destination (temp file + rename, or multipart upload; abort on failure)  [async]
//! ```
//!
//! A value after the inference sample that does not fit its column widens the column: the
//! first pass is abandoned (nothing is published), the rest of the input is scanned for the
//! final types, and a second pass writes the file ([`engine`]).
//!
//! ## Layout
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | command-line arguments, turned once into validated options; one file per command |
//! | [`engine`] | orchestration of one conversion: stages, threads, channels, replay, summary |
//! | [`source`] | input byte streams: file, stdin, memory |
//! | [`transcode`] | incremental decoding of UTF-16LE / Latin-1 / Windows-1252 to UTF-8, BOM, validation |
//! | [`decode`] | the push CSV decoder: bytes cut anywhere in, text columns out, positions kept |
//! | [`schema`] | header names, type inference, overrides |
//! | [`typed`] | text columns to typed Arrow arrays, and the `Value_number` companion |
//! | [`encode`] | Parquet writer properties and the writer feeding a channel |
//! | [`destination`] | local paths and object-store URLs, atomic publish, abort |
//! | [`anaplan`] | the Anaplan client: authentication, discovery, export tasks, chunks |
//! | [`retry`] | retry policy and classifier with jittered backoff and a time budget |
//! | [`fetch`] | concurrent, ordered, bounded chunk download as a [`source::Source`] |
//! | [`jobs`] | many exports from one jobs file |
//! | [`generate`] | deterministic synthetic Tabular Single Column exports |
//! | [`simulator`] | the embedded Anaplan simulator (auth service and Integration API) |
//! | [`error`] | the error type and exit codes |
//! | [`secret`], [`shutdown`], [`progress`], [`summary`], [`logging`] | small shared pieces |

#![deny(missing_docs)]

pub mod anaplan;
pub mod cli;
pub mod convert;
pub mod error;
pub mod export;
#[cfg(feature = "simulator")]
pub mod generate;
pub mod jobs;
pub mod logging;
pub mod progress;
pub mod retry;
pub mod secret;
pub(crate) mod settings;
pub mod shutdown;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod sink;
pub mod source;
pub mod summary;
pub mod units;

pub use error::{Error, Result};
