//! Fuzz target: any bytes as a PDF note. The daemon extracts a PDF's text in a child process
//! (`ingest extract-pdf`) that catches a panic (silently: its message may quote the file) and runs
//! under memory and time limits. This target does the child's work in process, with the child's
//! silent hook around pdf-extract only — libfuzzer-sys's own hook would abort on a panic that the
//! child survives — and then builds the document from the outcome, under libFuzzer's hook: a
//! panic there is a crash. A hang or an out-of-memory in pdf-extract is what the child's limits
//! end; libFuzzer reports them (`-timeout`, `-rss_limit_mb`) so that they can be looked at.
#![no_main]

use ingest_parse::pdf::{ExtractFailure, NameFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| ingest_parse::pdf::extract_text(data));
    std::panic::set_hook(fuzzer_hook);
    let extraction = match outcome {
        Ok(Ok(extraction)) => Ok(extraction),
        Ok(Err(reason)) => Err(ExtractFailure::Unreadable(reason)),
        Err(_) => Err(ExtractFailure::Crashed),
    };
    let facts = NameFacts { mrn: "MRN00001".into(), doc_type: None, date: None, title: None, author: None };
    let _ = ingest_parse::pdf::parse(&facts, "NOTE_MRN00001_CONSULT_202611240500.pdf", &"0".repeat(64), &extraction);
});
