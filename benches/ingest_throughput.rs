//! Ingest throughput on a synthetic export (`ingest generate`), three figures measured in one run:
//!
//! The export's HL7 files only (its CSV and PDF files are left out):
//!
//! 1. parse: HL7 framing + parse + normalize of every HL7 file, in memory, one thread;
//! 2. replay: `ingest --replay` end to end through the library (read, sha256, ledger, parse,
//!    one transaction per file with precedence, fsync), into a fresh snapshot;
//! 3. ceiling: the same parsed records written with plain prepared INSERTs, one transaction per
//!    file, into a fresh snapshot with the same schema (patients and observations into their tables,
//!    every other record as one row of a scratch table): what SQLite alone costs.
//!
//! `BENCH_MB` (default 64) sets the export's size; `BENCH_SEED` its seed. Run with
//! `cargo bench --bench ingest_throughput`; `BENCH_MB=1024` for the 1 GB figure.

use ingest::model::Record;
use ingest::parse::{self, ParseOptions};
use rusqlite::params;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

fn main() -> anyhow::Result<()> {
    // PDF text is extracted by `ingest extract-pdf` in a child process: the built binary, not this one.
    ingest::pdf::use_extractor(Path::new(env!("CARGO_BIN_EXE_ingest")));
    let mb = env_u64("BENCH_MB", 64);
    let dir = tempfile::tempdir()?;
    let exports = dir.path().join("exports");
    let started = Instant::now();
    let spec = ingest::generate::Spec {
        out: exports.clone(),
        patients: 500,
        days: 100_000,
        results_per_patient: 2,
        seed: env_u64("BENCH_SEED", 1),
        max_bytes: Some(mb << 20),
    };
    let written = ingest::generate::generate(&spec)?;
    println!(
        "export: {} days · {} files · {:.1} MB · {} HL7 messages · {} OBX (generated in {:.1} s)",
        written.days,
        written.files,
        written.bytes as f64 / 1048576.0,
        written.hl7_messages,
        written.obx,
        started.elapsed().as_secs_f64()
    );
    let options = ParseOptions {
        zone: ingest::time::Zone::parse("America/Chicago").map_err(anyhow::Error::msg)?,
        ..ParseOptions::default()
    };

    // The figures are for HL7 (the CSV and PDF files of the export are left out).
    let hl7_paths: Vec<PathBuf> =
        files_under(&exports).into_iter().filter(|p| p.extension().is_some_and(|e| e == "hl7")).collect();

    // 1. Parse, one thread, bytes already in memory.
    let hl7: Vec<(String, Vec<u8>)> = hl7_paths
        .iter()
        .map(|p| (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), std::fs::read(p)))
        .map(|(n, b)| b.map(|b| (n, b)))
        .collect::<Result<_, _>>()?;
    let hl7_bytes: usize = hl7.iter().map(|(_, b)| b.len()).sum();
    let t = Instant::now();
    let mut messages = 0usize;
    let mut records = 0usize;
    for (name, bytes) in &hl7 {
        let (_, parsed) = parse::parse_named(name, bytes, &options).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        messages += parsed.messages.len();
        records += parsed.record_count();
    }
    let parse_s = t.elapsed().as_secs_f64();
    println!(
        "1. parse (1 thread):  {messages} messages, {records} records in {parse_s:.2} s: {:.0} messages/s, {:.1} MB/s",
        messages as f64 / parse_s,
        hl7_bytes as f64 / 1048576.0 / parse_s
    );

    // 2. Replay end to end.
    let replay_dir = dir.path().join("replay");
    let config_text = format!("data_dir = {:?}\ntime_zone = \"America/Chicago\"\n", replay_dir.display().to_string());
    let config = ingest::config::Config::from_toml(&config_text, ingest::config::Origin::BuiltIn, dir.path())?;
    let t = Instant::now();
    let summary = ingest::replay::run(&config, &hl7_paths, None, &tokio_util::sync::CancellationToken::new())?;
    let replay_s = t.elapsed().as_secs_f64();
    let replay_rate = summary.records as f64 / replay_s;
    println!(
        "2. replay (e2e):      {} files ({} duplicate), {} records in {replay_s:.2} s: {replay_rate:.0} records/s, {:.0} messages/s, {:.1} MB/s",
        summary.files_found,
        summary.duplicate,
        summary.records,
        messages as f64 / replay_s,
        hl7_bytes as f64 / 1048576.0 / replay_s
    );

    // 3. Ceiling: parse everything first (not timed), then plain inserts.
    let mut parsed_files = Vec::new();
    for path in &hl7_paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(path)?;
        if let Ok((_, parsed)) = parse::parse_named(&name, &bytes, &options) {
            parsed_files.push((path.display().to_string(), bytes.len(), parsed));
        }
    }
    let mut conn = ingest::store::open_writer(&dir.path().join("ceiling/snapshot.db"))?;
    conn.execute_batch("CREATE TABLE ceiling_other (kind TEXT NOT NULL, payload TEXT NOT NULL)")?;
    let t = Instant::now();
    let mut ids: HashMap<String, i64> = HashMap::new();
    let mut ceiling_records = 0usize;
    for (path, size, parsed) in &parsed_files {
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO source_files (source, path, size, mtime, sha256, kind, exported_at, exported_at_origin,
                 received_at, ingested_at, status)
             VALUES ('bench', ?1, ?2, '', '', 'hl7', '', '', '', '', 'ingested')",
            params![path, *size as i64],
        )?;
        let file_id = tx.last_insert_rowid();
        {
            let mut patient = tx.prepare_cached(
                "INSERT INTO patients (mrn, family_name, given_name, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, '', '') ON CONFLICT (mrn) DO NOTHING",
            )?;
            let mut patient_id = tx.prepare_cached("SELECT id FROM patients WHERE mrn = ?1")?;
            let mut observation = tx.prepare_cached(
                "INSERT OR REPLACE INTO observations (patient_id, order_id, code, code_system, name, value_type, value,
                     numeric_value, unit, reference_range, abnormal_flag, status, observed_at, resulted_at,
                     first_exported_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, '', ?14, '', '')",
            )?;
            let mut other = tx.prepare_cached("INSERT INTO ceiling_other (kind, payload) VALUES (?1, ?2)")?;
            let mut id_of = |mrn: &str| -> rusqlite::Result<i64> {
                if let Some(id) = ids.get(mrn) {
                    return Ok(*id);
                }
                patient.execute(params![mrn, None::<String>, None::<String>, file_id])?;
                let id: i64 = patient_id.query_row([mrn], |r| r.get(0))?;
                ids.insert(mrn.to_string(), id);
                Ok(id)
            };
            for record in parsed.messages.iter().flat_map(|m| &m.records) {
                ceiling_records += 1;
                match record {
                    Record::Patient(p) => {
                        id_of(&p.mrn)?;
                    }
                    Record::Observation(o) => {
                        let id = id_of(&o.mrn)?;
                        observation.execute(params![
                            id,
                            o.order_id,
                            o.code,
                            o.code_system,
                            o.name,
                            o.value_type,
                            o.value,
                            o.numeric_value,
                            o.unit,
                            o.reference_range,
                            o.abnormal_flag,
                            o.status,
                            o.observed_at.map(ingest::time::rfc3339).unwrap_or_default(),
                            file_id
                        ])?;
                    }
                    other_record => {
                        other.execute(params![other_record.kind(), format!("{other_record:?}")])?;
                    }
                }
            }
        }
        tx.commit()?;
    }
    let ceiling_s = t.elapsed().as_secs_f64();
    let ceiling_rate = ceiling_records as f64 / ceiling_s;
    println!("3. ceiling (inserts): {ceiling_records} records in {ceiling_s:.2} s: {ceiling_rate:.0} records/s");
    println!(
        "replay / ceiling = {:.2} (target ≥ 0.50); parse share of the replay ≈ {:.0}%",
        replay_rate / ceiling_rate,
        100.0 * parse_s / replay_s
    );
    Ok(())
}
