//! Test support: temp dirs, the in-process simulator, the S3 server.

pub mod sim;
