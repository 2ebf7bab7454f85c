//! (stub: filled in by issue 2)
