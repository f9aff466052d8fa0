//! Fuzz target: any bytes as each kind of CSV export (the first byte picks the file name, and so
//! the mapping) through `ingest_parse::parse_named`, which must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "census_5W_20261124_0500.csv",
    "labs_5W_20261124_0500.csv",
    "medications_5W_20261124_0500.csv",
    "allergies_5W_20261124_0500.csv",
    "problems_5W_20261124_0500.csv",
    "documents_5W_20261124_0500.csv",
];

/// Built once, as the daemon does (building them compiles the mappings' patterns).
static OPTIONS: std::sync::LazyLock<ingest_parse::ParseOptions> = std::sync::LazyLock::new(Default::default);

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let _ = ingest_parse::parse_named(name, bytes, &OPTIONS);
});
