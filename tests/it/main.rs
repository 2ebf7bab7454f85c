//! The one integration-test binary: one module per area.

mod generate;
mod simulator;
mod support;
