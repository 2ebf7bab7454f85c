//! The one integration-test binary: one module per area.

mod generate;
mod support;
