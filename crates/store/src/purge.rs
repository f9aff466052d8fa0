//! The SQL of retention: what is past the limits, and deleting it so that it cannot be
//! read back. The policy, the files and the audit line are the retention module's (in the binary).

use crate::Writer;
use rusqlite::params;
use std::collections::BTreeMap;

/// The snapshot's tables that hold a patient's records, children first.
const PATIENT_TABLES: &[&str] = &[
    "observations",
    "medications",
    "medication_history",
    "panel_history",
    "demographic_changes",
    "problems",
    "allergies",
    "documents",
    "patient_identifiers",
    "panel",
];

/// Patients on no panel (no row with `active = 1`) whose newest panel or demographics export is
/// older than `cutoff` (RFC 3339): purged with every row of theirs, in one transaction, or with
/// `dry_run` only counted. Returns how many patients, and the rows per table (`patients` and
/// `document_manifest` included).
pub fn off_panel_patients(
    Writer(conn): &mut Writer,
    cutoff: &str,
    dry_run: bool,
) -> rusqlite::Result<(u64, BTreeMap<String, u64>)> {
    let tx = conn.transaction()?;
    tx.execute("DROP TABLE IF EXISTS temp.retention_purge", [])?;
    tx.execute(
        "CREATE TEMP TABLE retention_purge AS
         SELECT p.id, p.mrn FROM patients p
         WHERE NOT EXISTS (SELECT 1 FROM panel x WHERE x.patient_id = p.id AND x.active = 1)
           AND max(p.exported_at, ifnull((SELECT max(x.exported_at) FROM panel x WHERE x.patient_id = p.id), ''))
               < ?1",
        [cutoff],
    )?;
    let patients = tx.query_row("SELECT count(*) FROM temp.retention_purge", [], |r| r.get::<_, i64>(0))? as u64;
    let mut rows = BTreeMap::new();
    if patients > 0 {
        let mut purge = |table: &str, filter: &str| -> rusqlite::Result<()> {
            let n: i64 = tx.query_row(&format!("SELECT count(*) FROM {table} WHERE {filter}"), [], |r| r.get(0))?;
            if !dry_run {
                tx.execute(&format!("DELETE FROM {table} WHERE {filter}"), [])?;
            }
            rows.insert(table.to_string(), n as u64);
            Ok(())
        };
        for table in PATIENT_TABLES {
            purge(table, "patient_id IN (SELECT id FROM temp.retention_purge)")?;
        }
        // A documents manifest names whose each PDF is by MRN.
        purge("document_manifest", "mrn IN (SELECT mrn FROM temp.retention_purge)")?;
        purge("patients", "id IN (SELECT id FROM temp.retention_purge)")?;
    }
    tx.execute("DROP TABLE temp.retention_purge", [])?;
    if dry_run {
        tx.rollback()?
    } else {
        tx.commit()?
    }
    Ok((patients, rows))
}

/// Ledger rows of files moved under `archive_prefix` (a directory path ending in `/`) and
/// ingested before `cutoff`: `(id, disposition)`, oldest first.
pub fn archived_before(
    Writer(conn): &Writer,
    archive_prefix: &str,
    cutoff: &str,
) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare(
        "SELECT id, disposition FROM source_files
         WHERE ingested_at < ?1 AND substr(disposition, 1, length(?2)) = ?2 ORDER BY id",
    )?
    .query_map(params![cutoff, archive_prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Clear the raw text kept with rejected messages of files ingested before `cutoff` (with
/// `dry_run`, only count them).
pub fn reject_texts_before(Writer(conn): &Writer, cutoff: &str, dry_run: bool) -> rusqlite::Result<u64> {
    let filter = "raw <> '' AND source_file_id IN (SELECT id FROM source_files WHERE ingested_at < ?1)";
    Ok(if dry_run {
        conn.query_row(&format!("SELECT count(*) FROM rejects WHERE {filter}"), [cutoff], |r| r.get::<_, i64>(0))?
            as u64
    } else {
        conn.execute(&format!("UPDATE rejects SET raw = '' WHERE {filter}"), [cutoff])? as u64
    })
}

/// Turn SQLite's `secure_delete` on or off (deleted content overwritten rather than left in free
/// pages); returns the setting before.
pub fn secure_delete(Writer(conn): &Writer, on: bool) -> rusqlite::Result<bool> {
    let before: i64 = conn.query_row("PRAGMA secure_delete", [], |r| r.get(0))?;
    conn.pragma_update(None, "secure_delete", on)?;
    Ok(before != 0)
}

/// After a purge: merge the full-text index (it keeps a deleted note's words in older segments
/// until they are merged) when documents went, and checkpoint and truncate the write-ahead log,
/// whose frames hold old page images (as far as readers allow: one mid-query keeps the log until
/// the next checkpoint).
pub fn settle_after_purge(Writer(conn): &Writer, documents_deleted: bool) -> rusqlite::Result<()> {
    if documents_deleted {
        conn.execute("INSERT INTO documents_fts (documents_fts) VALUES ('optimize')", [])?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
}
