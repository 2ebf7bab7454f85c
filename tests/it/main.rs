//! The one integration-test binary: one module per area.

mod azure;
mod cancel;
mod client;
mod convert;
mod corpus;
mod delta;
mod engine;
mod exactness;
mod export;
mod faults;
mod generate;
mod inputs;
mod jobs;
mod layout;
mod local_targets;
mod locations;
mod memory;
mod promises;
mod secrets;
mod simulator;
mod storage;
mod support;
mod uploads;
