//! The one integration-test binary: one module per area.

mod cancel;
mod client;
mod convert;
mod engine;
mod export;
mod faults;
mod generate;
mod secrets;
mod simulator;
mod storage;
mod support;
