//! The decoding path (transcoder, CSV decoder, inference, typing) on arbitrary bytes, whole and
//! split: see `anaplan_parquet_fuzz::check_decode`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anaplan_parquet_fuzz::check_decode(data);
});
