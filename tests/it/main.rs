//! The one integration-test binary: one module per area.

mod client;
mod convert;
mod corpus;
mod engine;
mod export;
mod generate;
mod jobs;
mod simulator;
mod storage;
mod support;
