//! Fuzz target: any bytes as a PDF note. The daemon extracts a PDF's text in a child process
//! (`ingest extract-pdf`) that catches a panic and runs under memory and time limits; this target
//! does what the child does, in process — a panic is caught as the child catches it — and then
//! builds the document from the outcome, which must never panic. A hang or an out-of-memory here
//! is what the child's time and memory limits end; libFuzzer reports them (`-timeout`,
//! `-rss_limit_mb`) so that they can be looked at.
#![no_main]

use ingest::parse::pdf::{ExtractFailure, NameFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let extraction = match std::panic::catch_unwind(|| ingest::pdf::extract_text(data)) {
        Ok(Ok(extraction)) => Ok(extraction),
        Ok(Err(reason)) => Err(ExtractFailure::Unreadable(reason)),
        Err(_) => Err(ExtractFailure::Crashed),
    };
    let facts = NameFacts { mrn: "MRN00001".into(), doc_type: None, date: None, title: None, author: None };
    let _ = ingest::parse::pdf::parse(&facts, "NOTE_MRN00001_CONSULT_202611240500.pdf", &"0".repeat(64), &extraction);
});
