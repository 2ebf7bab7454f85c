//! The real engine (`convert::convert` to a local file) on arbitrary bytes, whole and cut into
//! chunks: see `anaplan_parquet_fuzz::check_engine`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anaplan_parquet_fuzz::check_engine(data);
});
