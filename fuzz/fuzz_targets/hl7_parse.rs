//! Fuzz target: any bytes through `ingest::parse::parse_file`, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ingest::parse::parse_file(data, &Default::default());
});
