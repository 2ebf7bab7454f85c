//! Destination options shared by `convert`, `export` and `run` (`--output`, object-store flags).
