//! Benchmarks (filled in by their issues).

fn main() {}
