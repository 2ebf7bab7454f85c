//! The one integration-test binary: one module per area.

mod cancel;
mod client;
mod convert;
mod corpus;
mod engine;
mod export;
mod faults;
mod generate;
mod jobs;
mod layout;
mod memory;
mod promises;
mod secrets;
mod simulator;
mod storage;
mod support;
mod uploads;
