//! The one integration-test binary: one module per area.

mod convert;
mod engine;
mod storage;
mod support;
