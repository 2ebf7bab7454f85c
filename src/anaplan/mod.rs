//! The Anaplan client (stub: filled in by issue 4).
