//! The one integration-test binary: one module per area.

mod cancel;
mod client;
mod convert;
mod corpus;
mod engine;
mod export;
mod faults;
mod generate;
mod inputs;
mod jobs;
mod layout;
mod secrets;
mod simulator;
mod storage;
mod support;
