//! The embedded Anaplan simulator (stub: filled in by issue 3).
