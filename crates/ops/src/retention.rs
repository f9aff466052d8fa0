//! Retention (minimum necessary): what is no longer needed is deleted.
//!
//! - **Archived exports** older than `archive_days` (by when they were ingested, which is when they
//!   were moved into `archive/`) are deleted, and their ledger rows say so (`expired: …`). Files in
//!   the archive's day folders that have no ledger row (export-run markers) go once their day is
//!   past the same limit. The raw text kept with each rejected message of a file that old is
//!   cleared too: it is a copy of the export.
//! - **Patients off every panel** (no panel row with `active = 1`) for longer than `patient_days`
//!   are purged with everything the snapshot holds about them. The time they left is the newest
//!   export that said anything of their panel membership or demographics (the discharge, the census
//!   that no longer listed them); a patient never on a panel counts from the newest export of their
//!   demographics.
//!
//! The ledger of files, the rejects' positions and reasons, and the audit log stay: they are the
//! record of what was received and who read what. Each pass that removes anything appends one line
//! to the audit log, with the policy and counts and no MRN, name or file name.

use chrono::{DateTime, Utc};
use ingest_audit::{AuditEntry, AuditLog};
use ingest_config::RetentionConfig;
use ingest_core::time::rfc3339;
use ingest_store as store;
use ingest_store::Writer;
use ingest_store::write::EXPIRED;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The audit identity of a purge.
pub const IDENTITY: &str = "ingest:retention";

/// What one pass removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purge {
    /// Archived export files deleted.
    pub archive_files: u64,
    pub archive_bytes: u64,
    /// Files in expired archive day folders that no ledger row names (export-run markers).
    pub other_files: u64,
    /// Rejected messages whose raw text was cleared.
    pub reject_texts: u64,
    pub patients: u64,
    /// Rows removed per table (`observations`, `documents`, …, `document_manifest`, `patients`).
    pub records: BTreeMap<String, u64>,
}

impl Purge {
    pub fn is_empty(&self) -> bool {
        self.archive_files == 0 && self.other_files == 0 && self.reject_texts == 0 && self.patients == 0
    }

    fn records_total(&self) -> u64 {
        self.records.values().sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("retention: snapshot: {0}")]
    Sqlite(#[from] ingest_store::Error),
    #[error("retention: {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("retention: {0}")]
    Audit(#[from] ingest_audit::AuditError),
}

/// The two cut-offs for `now`: archived files ingested before the first, patients who left every
/// panel before the second, go.
pub fn cutoffs(policy: &RetentionConfig, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let days = |n: u32| chrono::Duration::days(i64::from(n));
    (now - days(policy.archive_days), now - days(policy.patient_days))
}

/// One pass: delete what is older than the policy allows (with `dry_run`, only count it).
pub fn apply(
    conn: &mut Writer,
    archive_dir: &Path,
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Purge, RetentionError> {
    let mut purge = Purge::default();
    // What is deleted is overwritten, not left in free pages of the file for anyone with a copy
    // of it to read back; the pipeline's own writes go back to the faster default afterwards.
    let secure_before = store::purge::secure_delete(conn, !dry_run)?;
    let result = purge_all(conn, archive_dir, policy, now, dry_run, &mut purge);
    store::purge::secure_delete(conn, secure_before)?;
    result?;
    Ok(purge)
}

fn purge_all(
    conn: &mut Writer,
    archive_dir: &Path,
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    dry_run: bool,
    purge: &mut Purge,
) -> Result<(), RetentionError> {
    let (archive_cutoff, patient_cutoff) = cutoffs(policy, now);
    (purge.patients, purge.records) = store::purge::off_panel_patients(conn, &rfc3339(patient_cutoff), dry_run)?;
    expire_archive(conn, archive_dir, &rfc3339(archive_cutoff), now, dry_run, purge)?;
    sweep_day_folders(archive_dir, archive_cutoff.date_naive(), dry_run, purge)?;
    purge.reject_texts = store::purge::reject_texts_before(conn, &rfc3339(archive_cutoff), dry_run)?;
    if !dry_run && (purge.patients > 0 || purge.reject_texts > 0) {
        store::purge::settle_after_purge(conn, purge.records.get("documents").is_some_and(|n| *n > 0))?;
    }
    Ok(())
}

/// Archived files ingested before `cutoff`: deleted, then their ledger row says so. A crash in
/// between leaves a row whose file is gone, which the next pass finishes.
fn expire_archive(
    conn: &Writer,
    archive_dir: &Path,
    cutoff: &str,
    now: DateTime<Utc>,
    dry_run: bool,
    purge: &mut Purge,
) -> Result<(), RetentionError> {
    let prefix = format!("{}/", archive_dir.display());
    for (id, disposition) in store::purge::archived_before(conn, &prefix, cutoff)? {
        let path = PathBuf::from(&disposition);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => {
                purge.archive_files += 1;
                purge.archive_bytes += meta.len();
                if !dry_run {
                    std::fs::remove_file(&path).map_err(io(&path))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        if !dry_run {
            let note = format!("{EXPIRED} deleted by retention at {} (was {disposition})", rfc3339(now));
            store::write::set_disposition(conn, id, &note)?;
        }
    }
    Ok(())
}

/// Day folders `archive/SOURCE/YYYY/MM/DD` dated before `cutoff`: whatever is left in them (files
/// no ledger row names) goes, then the empty folders.
fn sweep_day_folders(
    archive_dir: &Path,
    cutoff: chrono::NaiveDate,
    dry_run: bool,
    purge: &mut Purge,
) -> Result<(), RetentionError> {
    for source in subdirs(archive_dir)? {
        for year in subdirs(&source)? {
            for month in subdirs(&year)? {
                for day in subdirs(&month)? {
                    let date = [&year, &month, &day].map(|d| d.file_name().and_then(|n| n.to_str()).unwrap_or(""));
                    let Ok(date) = chrono::NaiveDate::parse_from_str(&date.join("-"), "%Y-%m-%d") else { continue };
                    if date >= cutoff {
                        continue;
                    }
                    for entry in std::fs::read_dir(&day).map_err(io(&day))? {
                        let path = entry.map_err(io(&day))?.path();
                        if path.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                            purge.other_files += 1;
                            if !dry_run {
                                std::fs::remove_file(&path).map_err(io(&path))?;
                            }
                        }
                    }
                    if !dry_run {
                        // Only empty folders go; one with a subfolder someone made stays.
                        for dir in [&day, &month, &year] {
                            let _ = std::fs::remove_dir(dir);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The subdirectories of `dir` (none if it does not exist).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, RetentionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        if entry.file_type().map_err(io(dir))?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RetentionError + '_ {
    move |source| RetentionError::Io { path: path.display().to_string(), source }
}

/// The audit line of a pass: the policy, the cut-offs and the counts; no MRN, name or file name.
pub fn audit_entry(purge: &Purge, policy: &RetentionConfig, now: DateTime<Utc>, trigger: &str) -> AuditEntry {
    let (archive_cutoff, patient_cutoff) = cutoffs(policy, now);
    AuditEntry {
        identity: IDENTITY.into(),
        role: "system".into(),
        transport: trigger.into(),
        tool: "retention".into(),
        arguments: serde_json::json!({
            "archive_days": policy.archive_days,
            "patient_days": policy.patient_days,
            "archived_before": rfc3339(archive_cutoff),
            "off_panel_before": rfc3339(patient_cutoff),
            "purged": purge,
        }),
        mrns: Vec::new(),
        result: "ok".into(),
        // Rows removed, the patients' own included.
        records: purge.records_total(),
        ..AuditEntry::default()
    }
}

/// A pass as the daemon and `ingest retention` run it: apply, then (if anything went) one audit
/// line and one log line.
pub fn run_pass(
    conn: &mut Writer,
    archive_dir: &Path,
    audit: &AuditLog,
    policy: &RetentionConfig,
    now: DateTime<Utc>,
    trigger: &str,
) -> Result<Purge, RetentionError> {
    let purge = apply(conn, archive_dir, policy, now, false)?;
    if purge.is_empty() {
        tracing::debug!(trigger, "retention: nothing older than the limits");
        return Ok(purge);
    }
    audit.append(audit_entry(&purge, policy, now, trigger))?;
    tracing::info!(
        trigger,
        patients = purge.patients,
        records = purge.records_total(),
        archive_files = purge.archive_files,
        archive_bytes = purge.archive_bytes,
        other_files = purge.other_files,
        reject_texts = purge.reject_texts,
        archive_days = policy.archive_days,
        patient_days = policy.patient_days,
        "retention: purged what is older than the limits (one audit line)"
    );
    Ok(purge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn policy() -> RetentionConfig {
        RetentionConfig {
            enabled: true,
            archive_days: 30,
            patient_days: 30,
            schedule: ingest_core::schedule::Cron::parse("17 * * * *").expect("cron"),
        }
    }

    fn at(t: &str) -> DateTime<Utc> {
        ingest_core::time::parse_rfc3339(t).expect("time")
    }

    /// A snapshot with one ledger row and four patients: on the panel, discharged 31 days ago,
    /// discharged 29 days ago, and never on a panel (demographics 40 days old).
    /// The writer, and a connection of the test's own to fill the snapshot and look into it.
    fn snapshot() -> (Writer, Connection) {
        snapshot_in(&tempfile::tempdir().expect("tempdir").keep())
    }

    fn snapshot_in(dir: &Path) -> (Writer, Connection) {
        let writer = ingest_store::open_writer(&dir.join("s.db")).expect("open");
        let conn = Connection::open(dir.join("s.db")).expect("the test's connection");
        conn.execute_batch(
            "INSERT INTO source_files (id, source, path, size, mtime, sha256, kind, exported_at, exported_at_origin,
                 received_at, ingested_at, status)
             VALUES (1, 'ward', 'x', 1, '', '', 'hl7', '', 'mtime', '', '2026-11-01T00:00:00Z', 'ingested');
             INSERT INTO patients (id, mrn, family_name, source_file_id, exported_at, ingested_at) VALUES
                 (1, 'ON', 'Onward', 1, '2026-10-01T05:00:00Z', ''),
                 (2, 'OLD', 'Zyxwvutsrq', 1, '2026-10-01T05:00:00Z', ''),
                 (3, 'RECENT', 'Recentia', 1, '2026-10-01T05:00:00Z', ''),
                 (4, 'NOPANEL', 'Nopanelli', 1, '2026-10-22T05:00:00Z', '');
             INSERT INTO panel (source, patient_id, active, source_file_id, exported_at, ingested_at) VALUES
                 ('ward', 1, 1, 1, '2026-10-01T05:00:00Z', ''),
                 ('ward', 2, 0, 1, '2026-10-31T05:00:00Z', ''),
                 ('icu', 2, 0, 1, '2026-10-20T05:00:00Z', ''),
                 ('ward', 3, 0, 1, '2026-11-02T05:00:00Z', '');
             INSERT INTO observations (patient_id, order_id, code, observed_at, first_exported_at, source_file_id,
                 exported_at, ingested_at)
             SELECT id, 'o', 'K', '', '', 1, '', '' FROM patients;
             INSERT INTO documents (patient_id, document_id, event, text, first_exported_at, source_file_id,
                 exported_at, ingested_at)
             VALUES (2, 'D2', 'T02', 'potassium low, quixotically', '', 1, '', ''),
                    (3, 'D3', 'T02', 'potassium fine', '', 1, '', '');",
        )
        .expect("rows");
        (writer, conn)
    }

    /// The snapshot, an empty archive, and the time of the pass: 1 December, 06:00Z.
    fn pass_setup() -> (Writer, Connection, tempfile::TempDir, DateTime<Utc>) {
        let (writer, conn) = snapshot();
        (writer, conn, tempfile::tempdir().expect("archive"), at("2026-12-01T06:00:00Z"))
    }

    fn mrns(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT mrn FROM patients ORDER BY id").expect("prepare");
        stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
    }

    #[test]
    fn patients_off_every_panel_longer_than_the_limit_go_with_all_their_records() {
        let (mut writer, conn, archive, now) = pass_setup();

        let dry = apply(&mut writer, archive.path(), &policy(), now, true).expect("dry run");
        assert_eq!((dry.patients, dry.records["observations"], dry.records["documents"]), (2, 2, 1));
        assert_eq!(mrns(&conn).len(), 4, "a dry run changes nothing");

        let purge = apply(&mut writer, archive.path(), &policy(), now, false).expect("purge");
        assert_eq!(purge, dry);
        // OLD left both panels 31 days ago; NOPANEL's demographics are 40 days old. RECENT left 29
        // days ago and ON is on the panel, however old its rows.
        assert_eq!(mrns(&conn), ["ON", "RECENT"]);
        assert_eq!(purge.records["panel"], 2);
        let left: i64 = conn.query_row("SELECT count(*) FROM observations", [], |r| r.get(0)).expect("count");
        assert_eq!(left, 2);
        // The full-text index forgot the purged note.
        let hits: Vec<String> = conn
            .prepare(
                "SELECT d.document_id FROM documents_fts f JOIN documents d ON d.id = f.rowid
                 WHERE documents_fts MATCH 'potassium'",
            )
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(hits, ["D3"]);
        assert!(apply(&mut writer, archive.path(), &policy(), now, false).expect("again").is_empty());
    }

    #[test]
    fn what_is_purged_cannot_be_read_back_from_the_snapshot_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut writer, conn) = snapshot_in(dir.path());
        let archive = tempfile::tempdir().expect("archive");
        let files = || {
            let mut bytes = std::fs::read(dir.path().join("s.db")).expect("db");
            bytes.extend(std::fs::read(dir.path().join("s.db-wal")).unwrap_or_default());
            bytes
        };
        let holds = |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
        assert!(holds(&files(), "Zyxwvutsrq") && holds(&files(), "quixotically"), "the test would see them");
        apply(&mut writer, archive.path(), &policy(), at("2026-12-01T06:00:00Z"), false).expect("purge");
        let after = files();
        for gone in ["Zyxwvutsrq", "Nopanelli", "quixotically"] {
            assert!(!holds(&after, gone), "{gone} is still in the snapshot's files");
        }
        assert!(holds(&after, "Recentia"), "a patient within the limit was touched");
        let was_on = ingest_store::purge::secure_delete(&writer, false).expect("pragma");
        assert!(!was_on, "the writer's connection is back to the default");
    }

    #[test]
    fn the_audit_entry_has_counts_and_no_mrn() {
        let (mut writer, _, archive, now) = pass_setup();
        let purge = apply(&mut writer, archive.path(), &policy(), now, false).expect("purge");
        let entry = audit_entry(&purge, &policy(), now, "schedule");
        let line = serde_json::to_string(&entry).expect("json");
        for mrn in ["OLD", "NOPANEL", "potassium"] {
            assert!(!line.contains(mrn), "{line}");
        }
        assert_eq!(entry.arguments["purged"]["patients"], 2);
        assert_eq!(entry.arguments["off_panel_before"], "2026-11-01T06:00:00Z");
        assert_eq!(entry.records, purge.records.values().sum::<u64>());
        assert_eq!(purge.records["patients"], 2);
    }

    #[test]
    fn old_day_folders_lose_their_leftover_files_and_then_the_folders() {
        let archive = tempfile::tempdir().expect("archive");
        let old = archive.path().join("ward/2026/10/30");
        let young = archive.path().join("ward/2026/11/02");
        for dir in [&old, &young] {
            std::fs::create_dir_all(dir).expect("mkdir");
            std::fs::write(dir.join("RUN.done"), "").expect("marker");
        }
        let mut purge = Purge::default();
        let cutoff = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        sweep_day_folders(archive.path(), cutoff, false, &mut purge).expect("sweep");
        assert_eq!(purge.other_files, 1);
        assert!(!archive.path().join("ward/2026/10").exists());
        assert!(young.join("RUN.done").exists());
    }
}
