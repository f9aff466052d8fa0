//! In-process figures with criterion: HL7 framing + parse + normalize throughput on one core, and
//! the MCP answers for `list_panel` and `get_patient` on the 500-patient snapshot (query, JSON and
//! text rendering; no transport, no audit). The whole-process figures — replay against its ceiling,
//! the Python reference, latency during a replay, drop to queryable — are the other benches.
//!
//! Run: `cargo bench --bench in_process` (figures in the README). Criterion prints time per
//! iteration and, for the parse cases, messages/s and MB/s.

mod common;

use common::{PATIENTS, RESULTS_PER_PATIENT, mrn};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ingest_mcp::answers::{self, Context, ListPanelArgs, MrnArgs};
use ingest_mcp::render::{Render, Renderer};
use ingest_parse::ParseOptions;
use std::hint::black_box;
use std::path::PathBuf;

// The same allocator as the `ingest` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The message the crate survey (ARCHITECTURE.md, HL7 v2) timed parsers on: an ORU^R01 with 20 OBX, here 500 of them in a batch.
fn oru_batch(messages: usize) -> Vec<u8> {
    let mut out = String::from("FHS|^~\\&|LAB|H|||20261124050000\rBHS|^~\\&|LAB|H|||20261124050000\r");
    for i in 0..messages {
        out.push_str(&format!(
            "MSH|^~\\&|LAB|H|I|H|20261124050000||ORU^R01|L{i}|P|2.5.1\rPID|1||{}^^^H^MR||Family{i}^Given\r\
             OBR|1||F{i}^LAB|CMP^Metabolic panel^L|||20261124043000\r",
            mrn(i)
        ));
        for k in 1..=20 {
            out.push_str(&format!(
                "OBX|{k}|NM|{}^Analyte {k}^LN||{}.{}|mmol/L|1.0-9.0|{}|||F|||20261124044500\r",
                2000 + k,
                i % 9,
                k,
                if k % 7 == 0 { "H" } else { "N" }
            ));
        }
    }
    out.push_str(&format!("BTS|{messages}\rFTS|1\r"));
    out.into_bytes()
}

fn options() -> ParseOptions {
    ParseOptions { zone: ingest_core::time::Zone::parse("America/Chicago").expect("zone"), ..ParseOptions::default() }
}

fn parse_throughput(c: &mut Criterion) {
    let options = options();
    let mut group = c.benchmark_group("parse");

    let batch = oru_batch(500);
    group.throughput(Throughput::ElementsAndBytes { elements: 500, bytes: batch.len() as u64 });
    group.bench_function("oru_r01_20_obx x500", |b| {
        b.iter(|| ingest_parse::parse_named("lab.hl7", black_box(&batch), &options).expect("parses"))
    });

    // The generated export's HL7 files (ADT, ORU with 10–30 OBX, MDM, RDE), 8 MB.
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ingest::generate::Spec {
        out: dir.path().join("export"),
        patients: 500,
        days: 100_000,
        results_per_patient: 2,
        seed: 1,
        max_bytes: Some(8 << 20),
    };
    ingest::generate::generate(&spec).expect("generate");
    let files: Vec<(String, Vec<u8>)> = hl7_files(&spec.out)
        .into_iter()
        .map(|p| (p.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&p).expect("read")))
        .collect();
    let messages: usize = files
        .iter()
        .map(|(name, bytes)| ingest_parse::parse_named(name, bytes, &options).expect("parses").1.messages.len())
        .sum();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    group.throughput(Throughput::ElementsAndBytes { elements: messages as u64, bytes: bytes as u64 });
    group.sample_size(20);
    group.bench_function("generated export (8 MB of HL7)", |b| {
        b.iter(|| {
            for (name, bytes) in &files {
                black_box(ingest_parse::parse_named(name, black_box(bytes), &options).expect("parses"));
            }
        })
    });
    group.finish();
}

fn hl7_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "hl7") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn mcp_answers(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, _) = common::config_in(dir.path(), "").expect("config");
    let exports = dir.path().join("exports");
    common::write_panel_exports(&exports).expect("exports");
    let summary = ingest::replay::run(
        &config,
        &[exports],
        None,
        &tokio_util::sync::CancellationToken::new(),
        std::sync::Arc::new(ingest_core::time::SystemClock),
    )
    .expect("replay");
    assert_eq!(summary.records, PATIENTS * (RESULTS_PER_PATIENT + 3), "the snapshot is complete");
    let reader = ingest_store::open_reader(&config.snapshot).expect("reader");
    let role = config.mcp.role("clinician").cloned().expect("built-in role");
    let cx = || Context { db: reader.view(), config: &config, role: &role, now: chrono::Utc::now() };
    let mrns: Vec<String> = (0..PATIENTS).map(mrn).collect();

    let mut group = c.benchmark_group("mcp");
    group.bench_function("list_panel (50 per page)", |b| {
        b.iter(|| {
            let answer = answers::list_panel(&cx(), &ListPanelArgs::default()).expect("list_panel");
            let value = ingest_mcp::untrusted::answer_json(&answer).expect("json");
            value.to_string().len() + answer.render(&Renderer { zone: config.zone }).len()
        })
    });
    let mut i = 0;
    group.bench_function("get_patient", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % PATIENTS;
                MrnArgs { mrn: mrns[i].clone() }
            },
            |args| {
                let answer = answers::get_patient(&cx(), &args).expect("get_patient");
                let value = ingest_mcp::untrusted::answer_json(&answer).expect("json");
                value.to_string().len() + answer.render(&Renderer { zone: config.zone }).len()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parse_throughput, mcp_answers);
criterion_main!(benches);
