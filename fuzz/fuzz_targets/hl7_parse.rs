//! Fuzz target: any bytes through `ingest_parse::parse_file`, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Built once, as the daemon does (building them compiles the mappings' patterns).
static OPTIONS: std::sync::LazyLock<ingest_parse::ParseOptions> = std::sync::LazyLock::new(Default::default);

fuzz_target!(|data: &[u8]| {
    let _ = ingest_parse::parse_file(data, &OPTIONS);
});
