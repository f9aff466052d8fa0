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
//! Then, on the same files:
//!
//! 4. the Python reference pipeline (`benches/python/`, python-hl7 + sqlite3, the same
//!    normalization and upserts) against the replay, both into fresh snapshots, on the export's
//!    first `BENCH_PYTHON_MB` (default 32) of HL7: Python needs about an hour for 1 GB;
//! 5. daemon start-to-ready on the replayed snapshot: `ingest run` spawned, until it sends
//!    `READY=1` (sd_notify, to a socket of the bench's) and until `/readyz` answers 200.
//!
//! `BENCH_MB` (default 64) sets the export's size; `BENCH_SEED` its seed. Run with
//! `cargo bench --bench ingest_throughput`; `BENCH_MB=1024` for the 1 GB figure. `BENCH_PYTHON=0`
//! leaves out the Python pipeline (it needs `python3` with `venv` and PyPI to make `.venv-bench`).

use ingest_core::model::Record;
use ingest_parse::ParseOptions;
use rusqlite::params;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The same allocator as the `ingest` binary, so that the in-process figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    ingest_pipeline::pdf::use_extractor(Path::new(env!("CARGO_BIN_EXE_ingest")));
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
        zone: ingest_core::time::Zone::parse("America/Chicago").map_err(anyhow::Error::msg)?,
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
        let (_, parsed) =
            ingest_parse::parse_named(name, bytes, &options).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
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
    let (summary, replay_s) = replay(&replay_dir, &hl7_paths)?;
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
        if let Ok((_, parsed)) = ingest_parse::parse_named(&name, &bytes, &options) {
            parsed_files.push((path.display().to_string(), bytes.len(), parsed));
        }
    }
    // The schema from the store's writer; then a connection of the bench's own, set as the writer
    // sets its own (WAL is the file's; the rest is the connection's), for plain SQL.
    let ceiling = dir.path().join("ceiling/snapshot.db");
    drop(ingest_store::open_writer(&ceiling)?);
    let mut conn = rusqlite::Connection::open(&ceiling)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
    )?;
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
                            o.observed_at.map(ingest_core::time::rfc3339).unwrap_or_default(),
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

    // 4. The Python reference pipeline and the replay on the same first files.
    if env_u64("BENCH_PYTHON", 1) != 0 {
        let budget = env_u64("BENCH_PYTHON_MB", 32) << 20;
        let mut subset = Vec::new();
        let mut subset_bytes = 0u64;
        for path in &hl7_paths {
            subset_bytes += std::fs::metadata(path)?.len();
            subset.push(path.clone());
            if subset_bytes >= budget {
                break;
            }
        }
        let (rust, rust_s) = replay(&dir.path().join("replay-subset"), &subset)?;
        let rust_rate = rust.records as f64 / rust_s;
        let python = python_reference(&dir.path().join("python.db"), &subset)?;
        let python_rate = python["records_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "4. python reference:  {} files, {:.1} MB, {} records: python {python_rate:.0} records/s \
             ({} s), replay {rust_rate:.0} records/s ({rust_s:.2} s): replay / python = {:.1} (target ≥ 20)",
            subset.len(),
            subset_bytes as f64 / 1048576.0,
            rust.records,
            python["seconds"],
            rust_rate / python_rate
        );
        if python["records"].as_u64() != Some(rust.records as u64) {
            println!("   ! the two pipelines counted different records: python {}", python["records"]);
        }
    }

    // 5. Daemon start-to-ready on the replayed snapshot.
    let ready = start_to_ready(&replay_dir)?;
    println!(
        "5. start to ready:    {:.0} ms to READY=1, {:.0} ms to /readyz 200 (snapshot {:.0} MB)",
        ready.0.as_secs_f64() * 1000.0,
        ready.1.as_secs_f64() * 1000.0,
        std::fs::metadata(replay_dir.join("snapshot.db"))?.len() as f64 / 1048576.0
    );
    Ok(())
}

/// `--replay` of `paths` into a fresh snapshot under `data_dir`: the summary and the seconds.
fn replay(data_dir: &Path, paths: &[PathBuf]) -> anyhow::Result<(ingest::replay::Summary, f64)> {
    let config_text = format!("data_dir = {:?}\ntime_zone = \"America/Chicago\"\n", data_dir.display().to_string());
    let config = ingest_config::Config::from_toml(&config_text, ingest_config::Origin::BuiltIn, data_dir)?;
    let t = Instant::now();
    let summary = ingest::replay::run(
        &config,
        paths,
        None,
        &tokio_util::sync::CancellationToken::new(),
        std::sync::Arc::new(ingest_core::time::SystemClock),
    )?;
    Ok((summary, t.elapsed().as_secs_f64()))
}

/// Run `benches/python/reference_pipeline.py` from `.venv-bench` (made on first use) on `paths`;
/// its JSON summary line.
fn python_reference(db: &Path, paths: &[PathBuf]) -> anyhow::Result<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv-bench");
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?;
        anyhow::ensure!(made.success(), "python3 -m venv {} failed", venv.display());
    }
    let installed = std::process::Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("benches/python/requirements.txt"))
        .status()?;
    anyhow::ensure!(installed.success(), "pip install -r benches/python/requirements.txt failed");
    let out = std::process::Command::new(&python)
        .arg(root.join("benches/python/reference_pipeline.py"))
        .arg("--db")
        .arg(db)
        .arg("--migrations")
        .arg(root.join("migrations"))
        .args(["--source", "inbox", "--time-zone", "America/Chicago"])
        .args(paths)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(out.status.success(), "the Python reference pipeline failed: {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(last)?)
}

/// Spawn `ingest run` on the snapshot in `data_dir` (its inbox empty, MCP over HTTP on a free
/// port) and time it to `READY=1` on a notify socket of ours, and to the first 200 from `/readyz`.
fn start_to_ready(data_dir: &Path) -> anyhow::Result<(Duration, Duration)> {
    use std::io::{Read as _, Write as _};
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = data_dir.join("ready.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ntime_zone = \"America/Chicago\"\n[mcp]\nport = {port}\n",
            data_dir.display().to_string()
        ),
    )?;
    let socket_path = data_dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("INGEST_LOG", "warn")
        .spawn()?;
    let mut notified = None;
    let mut buf = [0u8; 4096];
    while notified.is_none() {
        let n = socket.recv(&mut buf)?;
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            notified = Some(started.elapsed());
        }
    }
    let served = loop {
        let answered = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply.starts_with("HTTP/1.1 200"))
        });
        if matches!(answered, Ok(true)) {
            break started.elapsed();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the daemon never answered /readyz");
        std::thread::sleep(Duration::from_millis(2));
    };
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    child.wait()?;
    Ok((notified.unwrap_or_default(), served))
}
