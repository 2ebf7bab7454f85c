//! The one integration-test binary: one module per area.

mod convert;
mod storage;
mod support;
