//! The one integration-test binary: one module per area.

mod convert;
mod engine;
mod generate;
mod simulator;
mod storage;
mod support;
