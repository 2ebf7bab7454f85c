//! The one integration-test binary: one module per area.

mod client;
mod export;
mod generate;
mod simulator;
mod support;
