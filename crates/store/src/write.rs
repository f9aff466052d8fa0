//! Writing the snapshot: the ledger rows and one transaction per file with all its records.
//!
//! Precedence lives here, in SQL: a row is replaced only by a record from an export at least as new
//! (`exported_at`). Where a newer record leaves a field empty, the older value stays; where an
//! older record has a value the newer row lacks, it fills the gap. So the result does not depend on
//! the order in which exports are ingested.

use crate::Writer;
use chrono::{DateTime, Utc};
use ingest_core::faults;
use ingest_core::model::{
    Allergy, Document, FieldWarning, ManifestEntry, Medication, Observation, ObservationRemoval, PanelAction,
    PanelEvent, ParsedFile, Patient, Problem, ProblemOrigin, Reject,
};
use ingest_core::time::rfc3339;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// What the ledger knows of a file before it is ingested.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub source: String,
    pub path: String,
    pub size: u64,
    pub mtime: DateTime<Utc>,
    pub sha256: String,
    pub kind: &'static str,
    pub exported_at: DateTime<Utc>,
    pub exported_at_origin: &'static str,
    pub received_at: DateTime<Utc>,
    /// Where the file goes once its transaction commits: an archive or quarantine path, `kept`,
    /// `deleted` or `replayed in place`. Written with the ledger row, so that a crash between the
    /// commit and the move leaves a row that says what is left to do (see `Pipeline::finish_pending`).
    pub disposition: Option<String>,
    /// Why the export time is doubtful (see `schedule::doubtful_export_time`).
    pub export_time_warning: Option<String>,
}

/// The ledger statuses (`source_files.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Ingested,
    IngestedWithRejects,
    Duplicate,
    Quarantined,
}

impl FileStatus {
    pub const ALL: [FileStatus; 4] =
        [FileStatus::Ingested, FileStatus::IngestedWithRejects, FileStatus::Duplicate, FileStatus::Quarantined];

    /// A ledger row's `status`.
    pub fn parse(status: &str) -> Option<FileStatus> {
        FileStatus::ALL.into_iter().find(|s| s.as_str() == status)
    }

    /// Whether the file's records went into the snapshot.
    pub fn landed(&self) -> bool {
        matches!(self, FileStatus::Ingested | FileStatus::IngestedWithRejects)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Ingested => "ingested",
            FileStatus::IngestedWithRejects => "ingested_with_rejects",
            FileStatus::Duplicate => "duplicate",
            FileStatus::Quarantined => "quarantined",
        }
    }
}

/// What one file's transaction wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub file_id: i64,
    pub status: FileStatus,
    pub messages: usize,
    pub records: usize,
    pub rejects: usize,
    /// Fields left empty (unreadable, not needed to identify their record).
    pub warnings: usize,
    /// Messages of types the snapshot does not use.
    pub not_used: usize,
    /// PDF documents kept without text because extraction failed (`text_status` `failed`).
    pub text_failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Shutdown was asked for mid-file: the transaction was rolled back, nothing of the file remains.
    #[error("interrupted; the file's transaction was rolled back")]
    Cancelled,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// The ledger row of an earlier ingest of the same bytes, if any.
pub fn find_ingested(Writer(conn): &Writer, sha256: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM source_files WHERE sha256 = ?1 AND status IN ('ingested', 'ingested_with_rejects')
         ORDER BY id LIMIT 1",
        [sha256],
        |r| r.get(0),
    )
    .optional()
}

/// What this source's documents manifest says of the PDF named `file_name`, if it lists it, and
/// that manifest's export time.
pub fn manifest_entry(
    Writer(conn): &Writer,
    source: &str,
    file_name: &str,
) -> rusqlite::Result<Option<(ManifestEntry, DateTime<Utc>)>> {
    conn.query_row(
        "SELECT file_name, mrn, doc_type, title, author, authored_at, exported_at FROM document_manifest
         WHERE source = ?1 AND file_name = ?2",
        [source, file_name],
        |r| {
            let exported_at: String = r.get(6)?;
            let exported_at = ingest_core::time::parse_rfc3339(&exported_at).unwrap_or_default();
            let entry = ManifestEntry {
                file_name: r.get(0)?,
                mrn: r.get(1)?,
                doc_type: r.get(2)?,
                title: r.get(3)?,
                author: r.get(4)?,
                authored_at: r.get::<_, Option<String>>(5)?.as_deref().and_then(ingest_core::time::parse_rfc3339),
            };
            Ok((entry, exported_at))
        },
    )
    .optional()
}

/// Whether this exact file (source, path, size, mtime) already has a ledger row: a file kept in
/// place after ingest is not taken again at each rescan.
pub fn seen_unchanged(
    Writer(conn): &Writer,
    source: &str,
    path: &str,
    size: u64,
    mtime: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM source_files WHERE source = ?1 AND path = ?2 AND size = ?3 AND mtime = ?4)",
        params![source, path, size as i64, rfc3339(mtime)],
        |r| r.get(0),
    )
}

/// A ledger row for a file whose bytes were already ingested.
pub fn record_duplicate(Writer(conn): &Writer, meta: &FileMeta, of: i64, now: DateTime<Utc>) -> rusqlite::Result<i64> {
    let id = insert_ledger_row(conn, meta, FileStatus::Duplicate, Some(of), &Counts::default(), None, now)?;
    faults::point("duplicate recorded");
    Ok(id)
}

/// A ledger row (and the message rejects that explain it) for a file that could not be ingested.
pub fn record_quarantined(
    Writer(conn): &mut Writer,
    meta: &FileMeta,
    error: &str,
    rejects: &[Reject],
    now: DateTime<Utc>,
) -> rusqlite::Result<i64> {
    // A savepoint: its own transaction, or nested in an export run's.
    let tx = conn.savepoint()?;
    let counts = Counts { rejects: rejects.len(), ..Counts::default() };
    let id = insert_ledger_row(&tx, meta, FileStatus::Quarantined, None, &counts, Some(error), now)?;
    insert_rejects(&tx, id, rejects)?;
    faults::point("quarantine row written, not committed");
    tx.commit()?;
    faults::point("quarantine row committed");
    Ok(id)
}

/// A file's ledger row, as much of it as finishing an interrupted move or rewriting a quarantine
/// report needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub id: i64,
    pub source: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub kind: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub error: Option<String>,
    pub disposition: Option<String>,
}

const LEDGER_ROW: &str =
    "SELECT id, source, path, size, sha256, kind, received_at, status, error, disposition FROM source_files";

fn ledger_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LedgerRow> {
    let received_at: String = r.get(6)?;
    Ok(LedgerRow {
        id: r.get(0)?,
        source: r.get(1)?,
        path: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        sha256: r.get(4)?,
        kind: r.get(5)?,
        received_at: ingest_core::time::parse_rfc3339(&received_at).unwrap_or_default(),
        status: r.get(7)?,
        error: r.get(8)?,
        disposition: r.get(9)?,
    })
}

/// The newest ledger row of this exact file (source, path, size, mtime), if it has one.
pub fn row_of_file(
    Writer(conn): &Writer,
    source: &str,
    path: &str,
    size: u64,
    mtime: DateTime<Utc>,
) -> rusqlite::Result<Option<LedgerRow>> {
    conn.prepare_cached(&format!(
        "{LEDGER_ROW} WHERE source = ?1 AND path = ?2 AND size = ?3 AND mtime = ?4 ORDER BY id DESC LIMIT 1"
    ))?
    .query_row(params![source, path, size as i64, rfc3339(mtime)], ledger_row)
    .optional()
}

/// The row of an earlier quarantine of these bytes at this path, if any.
pub fn quarantined_before(
    Writer(conn): &Writer,
    source: &str,
    path: &str,
    sha256: &str,
) -> rusqlite::Result<Option<LedgerRow>> {
    conn.prepare_cached(&format!(
        "{LEDGER_ROW} WHERE source = ?1 AND path = ?2 AND sha256 = ?3 AND status = 'quarantined' ORDER BY id LIMIT 1"
    ))?
    .query_row(params![source, path, sha256], ledger_row)
    .optional()
}

/// The message rejects recorded for a file, in file order.
pub fn rejects_of(Writer(conn): &Writer, file_id: i64) -> rusqlite::Result<Vec<Reject>> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_index, line, control_id, segment, reason, raw FROM rejects WHERE source_file_id = ?1 ORDER BY id",
    )?;
    stmt.query_map([file_id], |r| {
        Ok(Reject {
            index: r.get::<_, i64>(0)? as usize,
            line: r.get::<_, i64>(1)? as usize,
            control_id: r.get(2)?,
            segment: r.get(3)?,
            reason: r.get(4)?,
            raw: r.get(5)?,
        })
    })?
    .collect()
}

/// A ledger disposition of an archived file that retention deleted starts with this.
pub const EXPIRED: &str = "expired:";

/// Correct where a file goes (its planned place was taken by the time it was moved).
pub fn set_disposition(Writer(conn): &Writer, file_id: i64, disposition: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE source_files SET disposition = ?2 WHERE id = ?1", params![file_id, disposition])?;
    Ok(())
}

/// Write a parsed file: its ledger row, every record (with precedence) and its rejects, in one
/// transaction. `cancelled` is asked between messages; if it says yes, everything is rolled back.
pub fn write_file(
    Writer(conn): &mut Writer,
    meta: &FileMeta,
    parsed: &ParsedFile,
    now: DateTime<Utc>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Written, WriteError> {
    // A savepoint: its own transaction, or nested in an export run's.
    let tx = conn.savepoint()?;
    let counts = Counts {
        messages: parsed.messages.len(),
        records: parsed.record_count(),
        rejects: parsed.rejects.len(),
        warnings: parsed.warnings.len(),
    };
    let status = if counts.rejects == 0 { FileStatus::Ingested } else { FileStatus::IngestedWithRejects };
    let file_id = insert_ledger_row(&tx, meta, status, None, &counts, None, now)?;
    faults::point("ledger row written, no record yet");
    let stamp = Stamp { file_id, exported_at: rfc3339(meta.exported_at), ingested_at: rfc3339(now) };
    let mut writer = RecordWriter {
        tx: &tx,
        stamp: &stamp,
        source: &meta.source,
        patient_ids: HashMap::new(),
        observation_upsert: None,
    };
    for message in &parsed.messages {
        if cancelled() {
            return Err(WriteError::Cancelled);
        }
        for record in &message.records {
            writer.write(record)?;
        }
        faults::point("a message written, file not committed");
    }
    drop(writer);
    insert_rejects(&tx, file_id, &parsed.rejects)?;
    insert_warnings(&tx, file_id, &parsed.warnings)?;
    for (message_type, count) in &parsed.not_used {
        tx.prepare_cached("INSERT INTO unused_messages (source_file_id, message_type, count) VALUES (?1, ?2, ?3)")?
            .execute(params![file_id, message_type, *count as i64])?;
    }
    faults::point("file written, not committed");
    tx.commit()?;
    faults::point("file committed");
    let text_failed = parsed
        .messages
        .iter()
        .flat_map(|m| &m.records)
        .filter(|r| matches!(r, ingest_core::model::Record::Document(d) if d.pdf.as_ref().is_some_and(|p| p.text_error.is_some())))
        .count();
    Ok(Written {
        file_id,
        status,
        messages: counts.messages,
        records: counts.records,
        rejects: counts.rejects,
        warnings: counts.warnings,
        not_used: parsed.not_used.values().sum(),
        text_failed,
    })
}

#[derive(Debug, Default)]
struct Counts {
    messages: usize,
    records: usize,
    rejects: usize,
    warnings: usize,
}

fn insert_ledger_row(
    conn: &Connection,
    meta: &FileMeta,
    status: FileStatus,
    duplicate_of: Option<i64>,
    counts: &Counts,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO source_files (source, path, size, mtime, sha256, kind, exported_at, exported_at_origin,
             received_at, ingested_at, status, duplicate_of, messages, records, rejects, error, disposition,
             export_time_warning, warnings)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        meta.source,
        meta.path,
        meta.size as i64,
        rfc3339(meta.mtime),
        meta.sha256,
        meta.kind,
        rfc3339(meta.exported_at),
        meta.exported_at_origin,
        rfc3339(meta.received_at),
        rfc3339(now),
        status.as_str(),
        duplicate_of,
        counts.messages as i64,
        counts.records as i64,
        counts.rejects as i64,
        error,
        meta.disposition,
        meta.export_time_warning,
        counts.warnings as i64,
    ])?;
    Ok(conn.last_insert_rowid())
}

fn insert_rejects(conn: &Connection, file_id: i64, rejects: &[Reject]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO rejects (source_file_id, message_index, line, control_id, segment, reason, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in rejects {
        insert.execute(params![file_id, r.index as i64, r.line as i64, r.control_id, r.segment, r.reason, r.raw])?;
    }
    Ok(())
}

fn insert_warnings(conn: &Connection, file_id: i64, warnings: &[FieldWarning]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO field_warnings (source_file_id, message_index, line, control_id, field, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for w in warnings {
        insert.execute(params![file_id, w.index as i64, w.line as i64, w.control_id, w.field, w.reason])?;
    }
    Ok(())
}

/// The provenance every clinical row carries.
struct Stamp {
    file_id: i64,
    exported_at: String,
    ingested_at: String,
}

struct RecordWriter<'t> {
    tx: &'t Connection,
    stamp: &'t Stamp,
    source: &'t str,
    /// MRN → patients.id for the patients this file has written or looked up (rows are never
    /// deleted inside a file's transaction).
    patient_ids: HashMap<String, i64>,
    observation_upsert: Option<rusqlite::CachedStatement<'t>>,
}

/// `col = value from the fresher of (row, record), else the other's`, for an ON CONFLICT clause on
/// table `t`. Newer-or-equal exports win, and empty fields never erase known ones.
macro_rules! fresher {
    ($t:literal, $col:literal) => {
        concat!(
            $col,
            " = CASE WHEN excluded.exported_at >= ",
            $t,
            ".exported_at THEN coalesce(excluded.",
            $col,
            ", ",
            $t,
            ".",
            $col,
            ") ELSE coalesce(",
            $t,
            ".",
            $col,
            ", excluded.",
            $col,
            ") END"
        )
    };
}

/// `col = the fresher record's value`, empty or not: a result is replaced whole (a correction may
/// clear a flag).
macro_rules! replaced {
    ($t:literal, $col:literal) => {
        concat!(
            $col,
            " = CASE WHEN excluded.exported_at >= ",
            $t,
            ".exported_at THEN excluded.",
            $col,
            " ELSE ",
            $t,
            ".",
            $col,
            " END"
        )
    };
}

/// The provenance columns of an ON CONFLICT clause: they follow the fresher export.
macro_rules! provenance {
    ($t:literal) => {
        concat!(
            "source_file_id = CASE WHEN excluded.exported_at >= ",
            $t,
            ".exported_at THEN excluded.source_file_id ELSE ",
            $t,
            ".source_file_id END, ingested_at = CASE WHEN excluded.exported_at >= ",
            $t,
            ".exported_at THEN excluded.ingested_at ELSE ",
            $t,
            ".ingested_at END, exported_at = max(",
            $t,
            ".exported_at, excluded.exported_at)"
        )
    };
}

/// A demographic column of `patients`. A registration (ADT) from an export at least as new as the
/// last registration, or the first registration at all, is authoritative: its values win, and its
/// empty fields keep what is known. Anything else (an older registration, a result message's PID)
/// only fills fields that are still empty. `keep` columns (provenance) follow the authoritative
/// record without filling.
macro_rules! demographics {
    (@wins) => {
        "(excluded.registered = 1 AND (patients.registered = 0 OR excluded.exported_at >= patients.exported_at))"
    };
    ($col:literal) => {
        concat!(
            $col, " = CASE WHEN ", demographics!(@wins), " THEN coalesce(excluded.", $col, ", patients.", $col,
            ") ELSE coalesce(patients.", $col, ", excluded.", $col, ") END"
        )
    };
    (keep $col:literal) => {
        concat!($col, " = CASE WHEN ", demographics!(@wins), " THEN excluded.", $col, " ELSE patients.", $col, " END")
    };
}

impl RecordWriter<'_> {
    fn write(&mut self, record: &ingest_core::model::Record) -> rusqlite::Result<()> {
        use ingest_core::model::Record;
        match record {
            Record::Patient(p) => self.patient(p).map(drop),
            Record::Panel(e) => self.panel(e),
            Record::Observation(o) => self.observation(o),
            Record::ObservationRemoval(r) => self.observation_removal(r),
            Record::Allergy(a) => self.allergy(a),
            Record::Problem(p) => self.problem(p),
            Record::Medication(m) => self.medication(m),
            Record::Document(d) => self.document(d),
            Record::ManifestEntry(e) => self.manifest_entry(e),
            Record::Census { mrns } => self.census(mrns),
            Record::MedicationList { mrns, orders } => self.medication_list(mrns, orders),
            Record::CensusNotes { mrn, notes } => self.census_notes(mrn, notes),
        }
    }

    /// A census: this source's panel rows for patients not in `mrns` leave the panel, unless a
    /// fresher export wrote them. The row takes this export's time, so that an older census
    /// replayed later does not bring the patient back.
    fn census(&mut self, mrns: &[String]) -> rusqlite::Result<()> {
        let s = self.stamp;
        let listed = serde_json::to_string(mrns).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.census_history(&listed)?;
        self.tx
            .prepare_cached(
                "UPDATE panel SET active = 0, source_file_id = ?3, exported_at = ?4, ingested_at = ?5
                 WHERE source = ?1 AND active = 1 AND exported_at <= ?4
                   AND patient_id NOT IN (SELECT id FROM patients WHERE mrn IN (SELECT value FROM json_each(?2)))",
            )?
            .execute(params![self.source, listed, s.file_id, s.exported_at, s.ingested_at])?;
        Ok(())
    }

    /// A census row's notes on the stay (its panel row is written just before), under their own
    /// export time: the newer census's word stands, whatever ADT said since.
    fn census_notes(&mut self, mrn: &str, notes: &[(String, String)]) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(mrn)?;
        let text: Vec<String> = notes.iter().map(|(column, value)| format!("{column}: {value}")).collect();
        self.tx
            .prepare_cached(
                "UPDATE panel SET census_notes = ?3, census_notes_exported_at = ?4
                 WHERE source = ?1 AND patient_id = ?2 AND ifnull(census_notes_exported_at, '') <= ?4",
            )?
            .execute(params![self.source, patient_id, (!text.is_empty()).then(|| text.join(" · ")), s.exported_at])?;
        Ok(())
    }

    /// Before a census takes the absent off the panel: one `census_absent` history row each.
    fn census_history(&mut self, listed: &str) -> rusqlite::Result<()> {
        let s = self.stamp;
        self.tx
            .prepare_cached(
                "INSERT INTO panel_history (source, patient_id, action, location, attending, admitted_at,
                     source_file_id, exported_at, ingested_at)
                 SELECT source, patient_id, 'census_absent', location, attending, admitted_at, ?3, ?4, ?5
                 FROM panel
                 WHERE source = ?1 AND active = 1 AND exported_at <= ?4
                   AND patient_id NOT IN (SELECT id FROM patients WHERE mrn IN (SELECT value FROM json_each(?2)))",
            )?
            .execute(params![self.source, listed, s.file_id, s.exported_at, s.ingested_at])?;
        Ok(())
    }

    /// The patient row for an MRN, created (with nothing but the MRN) if this is the first mention.
    fn patient_id(&mut self, mrn: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.patient_ids.get(mrn) {
            return Ok(*id);
        }
        let existing = self
            .tx
            .prepare_cached("SELECT id FROM patients WHERE mrn = ?1")?
            .query_row([mrn], |r| r.get(0))
            .optional()?;
        match existing {
            Some(id) => {
                self.patient_ids.insert(mrn.to_string(), id);
                Ok(id)
            }
            None => self.patient(&Patient {
                mrn: mrn.to_string(),
                identifiers: Vec::new(),
                family_name: None,
                given_name: None,
                birth_date: None,
                sex: None,
                registration: false,
            }),
        }
    }

    fn patient(&mut self, p: &Patient) -> rusqlite::Result<i64> {
        let s = self.stamp;
        let id: i64 = self
            .tx
            .prepare_cached(concat!(
                "INSERT INTO patients (mrn, family_name, given_name, birth_date, sex, registered, source_file_id,
                     exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (mrn) DO UPDATE SET ",
                demographics!("family_name"),
                ", ",
                demographics!("given_name"),
                ", ",
                demographics!("birth_date"),
                ", ",
                demographics!("sex"),
                ", ",
                demographics!(keep "source_file_id"),
                ", ",
                demographics!(keep "exported_at"),
                ", ",
                demographics!(keep "ingested_at"),
                ", ",
                "registered = max(patients.registered, excluded.registered)
                 RETURNING id"
            ))?
            .query_row(
                params![
                    p.mrn,
                    p.family_name,
                    p.given_name,
                    p.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
                    p.sex,
                    p.registration,
                    s.file_id,
                    s.exported_at,
                    s.ingested_at
                ],
                |r| r.get(0),
            )?;
        let mut insert = self.tx.prepare_cached(concat!(
            "INSERT INTO patient_identifiers (patient_id, system, value, id_type, authority, source_file_id, exported_at, ingested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (patient_id, system, value) DO UPDATE SET ",
            provenance!("patient_identifiers")
        ))?;
        for ident in &p.identifiers {
            insert.execute(params![
                id,
                ident.system(),
                ident.value,
                ident.id_type,
                ident.authority,
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        }
        self.patient_ids.insert(p.mrn.clone(), id);
        Ok(id)
    }

    fn panel(&mut self, e: &PanelEvent) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&e.mrn)?;
        if e.action == PanelAction::Elsewhere {
            // Another unit's patient is none of this panel's business; one of its own who moved
            // there (by an export not older than the panel's word) leaves it.
            let on_panel: Option<bool> = self
                .tx
                .prepare_cached(
                    "SELECT ifnull(active, 0) = 1 AND exported_at <= ?3 FROM panel WHERE source = ?1 AND patient_id = ?2",
                )?
                .query_row(params![self.source, patient_id, s.exported_at], |r| r.get(0))
                .optional()?;
            if on_panel != Some(true) {
                return Ok(());
            }
        }
        let active = match e.action {
            PanelAction::Join | PanelAction::CancelDischarge => Some(1),
            PanelAction::Leave | PanelAction::CancelAdmit | PanelAction::Elsewhere => Some(0),
            PanelAction::Update => None,
            // On the panel if not on it: no row yet, or off it by an older export, or moved off its
            // units earlier in this one (a round trip through another unit).
            PanelAction::Place | PanelAction::TransferIn => {
                let moved_off: bool = self
                    .tx
                    .prepare_cached(
                        "SELECT ifnull((SELECT action = 'moved_off' FROM panel_history WHERE source = ?1 AND patient_id = ?2
                             ORDER BY id DESC LIMIT 1), 0)",
                    )?
                    .query_row(params![self.source, patient_id], |r| r.get(0))?;
                let current: Option<(Option<i64>, String, Option<String>)> = self
                    .tx
                    .prepare_cached(
                        "SELECT active, exported_at, discharged_at FROM panel WHERE source = ?1 AND patient_id = ?2",
                    )?
                    .query_row(params![self.source, patient_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                match current {
                    None => Some(1),
                    // Known only from updates: placed, unless a newer one says the stay ended.
                    Some((None, exported_at, discharged)) if exported_at <= s.exported_at || discharged.is_none() => {
                        Some(1)
                    }
                    Some((Some(0), exported_at, _)) if exported_at < s.exported_at || moved_off => Some(1),
                    Some(_) => None,
                }
            }
        };
        let cancels_admission = e.action == PanelAction::CancelAdmit;
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO panel (source, patient_id, active, location, attending, visit_number, admitted_at,
                     discharged_at, last_event, last_event_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (source, patient_id) DO UPDATE SET ",
                fresher!("panel", "active"), ", ",
                fresher!("panel", "location"), ", ",
                fresher!("panel", "attending"), ", ",
                fresher!("panel", "visit_number"), ", ",
                // A fresher cancelled admission (A11) clears the admission time.
                "admitted_at = CASE WHEN excluded.exported_at >= panel.exported_at AND ?14 THEN NULL ELSE ",
                "CASE WHEN excluded.exported_at >= panel.exported_at THEN coalesce(excluded.admitted_at, panel.admitted_at)
                     ELSE coalesce(panel.admitted_at, excluded.admitted_at) END END, ",
                // A fresher admission starts a new stay: the old discharge no longer applies.
                "discharged_at = CASE WHEN excluded.exported_at >= panel.exported_at AND excluded.active = 1
                     THEN excluded.discharged_at ELSE ",
                "CASE WHEN excluded.exported_at >= panel.exported_at THEN coalesce(excluded.discharged_at, panel.discharged_at)
                     ELSE coalesce(panel.discharged_at, excluded.discharged_at) END END, ",
                fresher!("panel", "last_event"), ", ",
                fresher!("panel", "last_event_at"), ", ",
                // A newer admission starts a new stay: the last stay's census notes (a code status)
                // are not this one's.
                "census_notes = CASE WHEN ?15 AND excluded.exported_at > ifnull(panel.census_notes_exported_at, '')
                     THEN NULL ELSE panel.census_notes END, ",
                provenance!("panel")
            ))?
            .execute(params![
                self.source,
                patient_id,
                active,
                e.location,
                e.attending,
                e.visit_number,
                e.admitted_at.map(rfc3339),
                e.discharged_at.map(rfc3339),
                // A census row is no event: the panel keeps its last one.
                (!e.event.is_empty()).then_some(&e.event),
                e.event_at.map(rfc3339),
                s.file_id,
                s.exported_at,
                s.ingested_at,
                cancels_admission,
                e.action == PanelAction::Join && !e.event.is_empty()
            ])?;
        let action = match e.action {
            PanelAction::Join => "join",
            PanelAction::Leave => "leave",
            // An update that put the patient on the panel: an arrival whose admission was not seen.
            PanelAction::Place if active == Some(1) => "place",
            PanelAction::TransferIn if active == Some(1) => "transfer_in",
            PanelAction::Update | PanelAction::Place | PanelAction::TransferIn => "update",
            PanelAction::CancelAdmit => "cancel_admit",
            PanelAction::CancelDischarge => "cancel_discharge",
            PanelAction::Elsewhere => "moved_off",
        };
        self.tx
            .prepare_cached(
                "INSERT INTO panel_history (source, patient_id, action, event, event_at, location, attending,
                     admitted_at, discharged_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                self.source,
                patient_id,
                action,
                (!e.event.is_empty()).then_some(&e.event),
                e.event_at.map(rfc3339),
                e.location,
                e.attending,
                e.admitted_at.map(rfc3339),
                e.discharged_at.map(rfc3339),
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        Ok(())
    }

    fn observation(&mut self, o: &Observation) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&o.mrn)?;
        // Nine records in ten are results: their statement is looked up once per file, not once
        // per result (rusqlite's cache hashes and copies the statement's 1.5 KB of text each time).
        let tx = self.tx;
        let upsert = match &mut self.observation_upsert {
            Some(upsert) => upsert,
            None => self.observation_upsert.insert(tx.prepare_cached(concat!(
                "INSERT INTO observations (patient_id, order_id, code, code_system, name, value_type, value, numeric_value,
                     unit, reference_range, abnormal_flag, status, observed_at, resulted_at, source_file_id, exported_at,
                     ingested_at, first_exported_at, deleted, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?16, 0, ?18)
                 ON CONFLICT (patient_id, order_id, code, observed_at) DO UPDATE SET
                     first_exported_at = min(observations.first_exported_at, excluded.first_exported_at), ",
                replaced!("observations", "code_system"), ", ",
                replaced!("observations", "name"), ", ",
                replaced!("observations", "value_type"), ", ",
                replaced!("observations", "value"), ", ",
                replaced!("observations", "numeric_value"), ", ",
                replaced!("observations", "unit"), ", ",
                replaced!("observations", "reference_range"), ", ",
                replaced!("observations", "abnormal_flag"), ", ",
                replaced!("observations", "status"), ", ",
                replaced!("observations", "resulted_at"), ", ",
                replaced!("observations", "deleted"), ", ",
                replaced!("observations", "comment"), ", ",
                provenance!("observations")
            ))?),
        };
        upsert.execute(params![
            patient_id,
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
            o.observed_at.map(rfc3339).unwrap_or_default(),
            o.resulted_at.map(rfc3339),
            s.file_id,
            s.exported_at,
            s.ingested_at,
            o.comment
        ])?;
        Ok(())
    }

    /// OBX-11 D/X: the result is withdrawn. A tombstone row, so an older export cannot revive it.
    fn observation_removal(&mut self, r: &ObservationRemoval) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&r.mrn)?;
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO observations (patient_id, order_id, code, observed_at, status, deleted, source_file_id,
                     exported_at, ingested_at, first_exported_at)
                 VALUES (?1, ?2, ?3, ?4, 'D', 1, ?5, ?6, ?7, ?6)
                 ON CONFLICT (patient_id, order_id, code, observed_at) DO UPDATE SET
                     first_exported_at = min(observations.first_exported_at, excluded.first_exported_at), ",
                replaced!("observations", "status"),
                ", ",
                replaced!("observations", "deleted"),
                ", ",
                provenance!("observations")
            ))?
            .execute(params![
                patient_id,
                r.order_id,
                r.code,
                r.observed_at.map(rfc3339).unwrap_or_default(),
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        Ok(())
    }

    fn allergy(&mut self, a: &Allergy) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&a.mrn)?;
        let key = a.code.clone().unwrap_or_else(|| a.allergen.to_lowercase());
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO allergies (patient_id, allergen_key, code, code_system, allergen, allergy_type, severity,
                     reaction, identified_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (patient_id, allergen_key) DO UPDATE SET ",
                fresher!("allergies", "code_system"),
                ", ",
                fresher!("allergies", "allergen"),
                ", ",
                fresher!("allergies", "allergy_type"),
                ", ",
                fresher!("allergies", "severity"),
                ", ",
                fresher!("allergies", "reaction"),
                ", ",
                fresher!("allergies", "identified_at"),
                ", ",
                provenance!("allergies")
            ))?
            .execute(params![
                patient_id,
                key,
                a.code,
                a.code_system,
                a.allergen,
                a.allergy_type,
                a.severity,
                a.reaction,
                a.identified_at.map(rfc3339),
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        Ok(())
    }

    fn problem(&mut self, p: &Problem) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&p.mrn)?;
        let key = p.code.clone().unwrap_or_else(|| p.description.to_lowercase());
        let origin = match p.origin {
            ProblemOrigin::Diagnosis => "diagnosis",
            ProblemOrigin::ProblemList => "problem_list",
        };
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO problems (patient_id, problem_key, code, code_system, description, status, onset_at,
                     resolved_at, origin, deleted, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (patient_id, problem_key) DO UPDATE SET ",
                fresher!("problems", "code_system"),
                ", ",
                fresher!("problems", "description"),
                ", ",
                fresher!("problems", "status"),
                ", ",
                fresher!("problems", "onset_at"),
                ", ",
                fresher!("problems", "resolved_at"),
                ", ",
                replaced!("problems", "origin"),
                ", ",
                replaced!("problems", "deleted"),
                ", ",
                provenance!("problems")
            ))?
            .execute(params![
                patient_id,
                key,
                p.code,
                p.code_system,
                p.description,
                p.status,
                p.onset_at.map(rfc3339),
                p.resolved_at.map(rfc3339),
                origin,
                p.deleted,
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        Ok(())
    }

    fn medication(&mut self, m: &Medication) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&m.mrn)?;
        let (start_at, end_at) = (m.start_at.map(rfc3339), m.end_at.map(rfc3339));
        let values = params![
            patient_id,
            m.order_id,
            m.name,
            m.code,
            m.code_system,
            m.dose,
            m.route,
            m.frequency,
            m.status,
            start_at,
            end_at,
            s.file_id,
            s.exported_at,
            s.ingested_at
        ];
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO medications (patient_id, order_id, name, code, code_system, dose, route, frequency, status,
                     start_at, end_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (patient_id, order_id) DO UPDATE SET ",
                fresher!("medications", "name"), ", ",
                fresher!("medications", "code"), ", ",
                fresher!("medications", "code_system"), ", ",
                fresher!("medications", "dose"), ", ",
                fresher!("medications", "route"), ", ",
                fresher!("medications", "frequency"), ", ",
                fresher!("medications", "status"), ", ",
                fresher!("medications", "start_at"), ", ",
                fresher!("medications", "end_at"), ", ",
                provenance!("medications")
            ))?
            .execute(values)?;
        // What this export said of the order, whatever precedence made of the current row.
        self.tx
            .prepare_cached(
                "INSERT INTO medication_history (patient_id, order_id, name, code, code_system, dose, route, frequency,
                     status, start_at, end_at, source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(values)?;
        Ok(())
    }

    /// A complete medication list: each listed patient's current orders from this source's older
    /// lists that this one lacks become `unlisted` (with a history row, so the digest says so).
    fn medication_list(&mut self, mrns: &[String], orders: &[(String, String)]) -> rusqlite::Result<()> {
        let s = self.stamp;
        let json = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
        let (patients, listed) =
            (serde_json::to_string(mrns).map_err(json)?, serde_json::to_string(orders).map_err(json)?);
        // ?1 patients, ?2 (MRN, order id) pairs listed, ?3 source, ?4 this export.
        const UNLISTED: &str = "FROM medications m JOIN patients p ON p.id = m.patient_id
             WHERE p.mrn IN (SELECT value FROM json_each(?1))
               AND ifnull(m.status, 'active') NOT IN ('discontinued', 'cancelled', 'completed', 'unlisted')
               AND (m.end_at IS NULL OR m.end_at > ?4)
               AND m.exported_at < ?4
               AND m.source_file_id IN (SELECT id FROM source_files WHERE source = ?3 AND kind = 'csv')
               AND NOT EXISTS (SELECT 1 FROM json_each(?2) j WHERE j.value ->> 0 = p.mrn AND j.value ->> 1 = m.order_id)";
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO medication_history (patient_id, order_id, name, code, code_system, dose, route, frequency,
                     status, start_at, end_at, source_file_id, exported_at, ingested_at)
                 SELECT m.patient_id, m.order_id, m.name, m.code, m.code_system, m.dose, m.route, m.frequency,
                     'unlisted', m.start_at, m.end_at, ?5, ?4, ?6 {UNLISTED}"
            ))?
            .execute(params![patients, listed, self.source, s.exported_at, s.file_id, s.ingested_at])?;
        self.tx
            .prepare_cached(&format!(
                "UPDATE medications SET status = 'unlisted', source_file_id = ?5, exported_at = ?4, ingested_at = ?6
                 WHERE id IN (SELECT m.id {UNLISTED})"
            ))?
            .execute(params![patients, listed, self.source, s.exported_at, s.file_id, s.ingested_at])?;
        Ok(())
    }

    /// A documents-manifest row: the fresher manifest's word on a file name wins.
    fn manifest_entry(&mut self, e: &ManifestEntry) -> rusqlite::Result<()> {
        let s = self.stamp;
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO document_manifest (source, file_name, mrn, doc_type, title, author, authored_at,
                     source_file_id, exported_at, ingested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (source, file_name) DO UPDATE SET ",
                replaced!("document_manifest", "mrn"),
                ", ",
                replaced!("document_manifest", "doc_type"),
                ", ",
                replaced!("document_manifest", "title"),
                ", ",
                replaced!("document_manifest", "author"),
                ", ",
                replaced!("document_manifest", "authored_at"),
                ", ",
                provenance!("document_manifest"),
            ))?
            .execute(params![
                self.source,
                e.file_name,
                e.mrn,
                e.doc_type,
                e.title,
                e.author,
                e.authored_at.map(rfc3339),
                s.file_id,
                s.exported_at,
                s.ingested_at
            ])?;
        Ok(())
    }

    /// A document (new, edited, addendum or replacement). A replacement (T10) marks the document it
    /// replaces, whichever of the two arrives first.
    fn document(&mut self, d: &Document) -> rusqlite::Result<()> {
        let s = self.stamp;
        let patient_id = self.patient_id(&d.mrn)?;
        self.tx
            .prepare_cached(concat!(
                "INSERT INTO documents (patient_id, document_id, parent_id, doc_type, title, authored_at, author, status,
                     event, text, replaced_by, first_exported_at, source_file_id, exported_at, ingested_at,
                     page_count, text_status, sha256, text_error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                     (SELECT document_id FROM documents WHERE parent_id = ?2 AND event = 'T10' LIMIT 1),
                     ?12, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT (document_id) DO UPDATE SET ",
                fresher!("documents", "parent_id"), ", ",
                fresher!("documents", "doc_type"), ", ",
                fresher!("documents", "title"), ", ",
                fresher!("documents", "authored_at"), ", ",
                fresher!("documents", "author"), ", ",
                fresher!("documents", "status"), ", ",
                fresher!("documents", "page_count"), ", ",
                fresher!("documents", "text_status"), ", ",
                fresher!("documents", "sha256"), ", ",
                replaced!("documents", "text_error"), ", ",
                // A status change (T04) carries no text: the text stays.
                "text = CASE WHEN excluded.exported_at >= documents.exported_at AND excluded.text != ''
                     THEN excluded.text ELSE documents.text END, ",
                replaced!("documents", "event"), ", ",
                "first_exported_at = min(documents.first_exported_at, excluded.first_exported_at), ",
                provenance!("documents")
            ))?
            .execute(params![
                patient_id,
                d.document_id,
                d.parent_id,
                d.doc_type,
                d.title,
                d.authored_at.map(rfc3339),
                d.author,
                d.status,
                d.event,
                d.text,
                s.file_id,
                s.exported_at,
                s.ingested_at,
                d.pdf.as_ref().and_then(|p| p.page_count),
                d.pdf.as_ref().map(|p| p.text_status.as_str()),
                d.pdf.as_ref().map(|p| p.sha256.as_str()),
                d.pdf.as_ref().and_then(|p| p.text_error.as_deref())
            ])?;
        if let (Some(parent), "T10") = (&d.parent_id, d.event.as_str()) {
            self.tx
                .prepare_cached("UPDATE documents SET replaced_by = ?2 WHERE document_id = ?1")?
                .execute(params![parent, d.document_id])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_core::model::{Document, Medication, Observation, ObservationRemoval, ParsedMessage, Record};
    use ingest_core::time::parse_rfc3339;

    fn at(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).expect("time")
    }

    fn meta(n: u32, exported_at: &str) -> FileMeta {
        FileMeta {
            source: "ward".into(),
            path: format!("/in/f{n}.hl7"),
            size: 1,
            mtime: at(exported_at),
            sha256: format!("{n:064}"),
            kind: "hl7",
            exported_at: at(exported_at),
            exported_at_origin: "FHS-7",
            received_at: at(exported_at),
            disposition: None,
            export_time_warning: None,
        }
    }

    fn file(records: Vec<Record>) -> ParsedFile {
        ParsedFile {
            exported_at: None,
            export_time_note: None,
            messages: vec![ParsedMessage { index: 1, control_id: None, message_type: "X".into(), records }],
            rejects: Vec::new(),
            warnings: Vec::new(),
            not_used: Default::default(),
        }
    }

    fn write(conn: &mut Writer, n: u32, exported_at: &str, records: Vec<Record>) {
        write_file(conn, &meta(n, exported_at), &file(records), at(exported_at), &|| false).expect("write");
    }

    fn strings(Writer(conn): &Writer, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(sql).expect(sql);
        stmt.query_map([], |r| r.get::<_, String>(0)).expect(sql).map(|r| r.expect("row")).collect()
    }

    fn potassium(value: &str) -> Record {
        Record::Observation(Observation {
            mrn: "M1".into(),
            order_id: "O1".into(),
            code: "2823-3".into(),
            code_system: Some("LN".into()),
            name: None,
            value_type: Some("NM".into()),
            value: Some(value.into()),
            numeric_value: value.parse().ok(),
            unit: None,
            reference_range: None,
            abnormal_flag: None,
            status: Some("F".into()),
            observed_at: Some(at("2026-11-23T10:00:00Z")),
            resulted_at: None,
            comment: None,
        })
    }

    fn removal() -> Record {
        Record::ObservationRemoval(ObservationRemoval {
            mrn: "M1".into(),
            order_id: "O1".into(),
            code: "2823-3".into(),
            observed_at: Some(at("2026-11-23T10:00:00Z")),
        })
    }

    fn open() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = crate::open_writer(&dir.path().join("s.db")).expect("open");
        (dir, conn)
    }

    #[test]
    fn a_withdrawn_result_stays_withdrawn_whatever_the_order_of_exports() {
        for order in [[1, 2], [2, 1]] {
            let (_dir, mut conn) = open();
            for n in order {
                match n {
                    1 => write(&mut conn, 1, "2026-11-23T11:00:00Z", vec![potassium("4.1")]),
                    _ => write(&mut conn, 2, "2026-11-24T11:00:00Z", vec![removal()]),
                }
            }
            assert_eq!(strings(&conn, "SELECT status || deleted FROM observations"), ["D1"], "order {order:?}");
        }
        // A fresher result after a withdrawal brings it back.
        let (_dir, mut conn) = open();
        write(&mut conn, 1, "2026-11-23T11:00:00Z", vec![removal()]);
        write(&mut conn, 2, "2026-11-24T11:00:00Z", vec![potassium("4.4")]);
        assert_eq!(strings(&conn, "SELECT value || deleted FROM observations"), ["4.40"]);
    }

    fn note(id: &str, parent: Option<&str>, event: &str, text: &str) -> Record {
        Record::Document(Document {
            mrn: "M1".into(),
            document_id: id.into(),
            parent_id: parent.map(str::to_string),
            doc_type: Some("Progress Note".into()),
            title: None,
            authored_at: Some(at("2026-11-23T09:00:00Z")),
            author: None,
            status: Some("AU".into()),
            event: event.into(),
            text: text.into(),
            pdf: None,
        })
    }

    #[test]
    fn a_replacement_marks_the_replaced_document_in_either_order_and_search_finds_the_text() {
        for order in [[1, 2], [2, 1]] {
            let (_dir, mut conn) = open();
            for n in order {
                match n {
                    1 => write(
                        &mut conn,
                        1,
                        "2026-11-23T11:00:00Z",
                        vec![note("D1", None, "T02", "cellulitis left leg")],
                    ),
                    _ => write(&mut conn, 2, "2026-11-24T11:00:00Z", vec![note("D2", Some("D1"), "T10", "erysipelas")]),
                }
            }
            assert_eq!(
                strings(
                    &conn,
                    "SELECT document_id || '>' || ifnull(replaced_by, '-') FROM documents ORDER BY document_id"
                ),
                ["D1>D2", "D2>-"],
                "order {order:?}"
            );
            assert_eq!(
                strings(
                    &conn,
                    "SELECT d.document_id FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid
                                WHERE documents_fts MATCH 'cellulitis'"
                ),
                ["D1"]
            );
        }
    }

    #[test]
    fn a_status_change_without_text_keeps_the_text() {
        let (_dir, mut conn) = open();
        write(&mut conn, 1, "2026-11-23T11:00:00Z", vec![note("D1", None, "T02", "the note")]);
        write(&mut conn, 2, "2026-11-24T11:00:00Z", vec![note("D1", None, "T04", "")]);
        assert_eq!(strings(&conn, "SELECT event || ':' || text FROM documents"), ["T04:the note"]);
    }

    fn order(status: &str, name: Option<&str>) -> Record {
        Record::Medication(Medication {
            mrn: "M1".into(),
            order_id: "RX1".into(),
            name: name.unwrap_or("").into(),
            code: None,
            code_system: None,
            dose: Some("5 mg".into()),
            route: None,
            frequency: None,
            status: Some(status.into()),
            start_at: None,
            end_at: None,
        })
    }

    #[test]
    fn a_newer_discontinuation_wins_and_an_older_order_does_not_restart_it() {
        let (_dir, mut conn) = open();
        write(&mut conn, 2, "2026-11-24T11:00:00Z", vec![order("discontinued", Some("Amlodipine"))]);
        write(&mut conn, 1, "2026-11-23T11:00:00Z", vec![order("active", Some("Amlodipine"))]);
        assert_eq!(strings(&conn, "SELECT name || ' ' || status FROM medications"), ["Amlodipine discontinued"]);
    }

    #[test]
    fn a_cancelled_admission_and_a_cancelled_discharge_undo_their_events() {
        let event = |action, admitted: Option<&str>, discharged: Option<&str>| {
            Record::Panel(PanelEvent {
                mrn: "M1".into(),
                action,
                event: "X".into(),
                event_at: None,
                location: Some("5W-1-A".into()),
                attending: None,
                visit_number: None,
                admitted_at: admitted.map(at),
                discharged_at: discharged.map(at),
            })
        };
        let (_dir, mut conn) = open();
        write(&mut conn, 1, "2026-11-22T11:00:00Z", vec![event(PanelAction::Join, Some("2026-11-22T08:00:00Z"), None)]);
        write(&mut conn, 2, "2026-11-23T11:00:00Z", vec![event(PanelAction::CancelAdmit, None, None)]);
        assert_eq!(strings(&conn, "SELECT active || ifnull(admitted_at, '-') FROM panel"), ["0-"]);

        write(&mut conn, 3, "2026-11-24T11:00:00Z", vec![event(PanelAction::Join, Some("2026-11-24T08:00:00Z"), None)]);
        write(
            &mut conn,
            4,
            "2026-11-24T12:00:00Z",
            vec![event(PanelAction::Leave, None, Some("2026-11-24T12:00:00Z"))],
        );
        write(&mut conn, 5, "2026-11-24T13:00:00Z", vec![event(PanelAction::CancelDischarge, None, None)]);
        assert_eq!(
            strings(&conn, "SELECT active || ' ' || admitted_at || ' ' || ifnull(discharged_at, '-') FROM panel"),
            ["1 2026-11-24T08:00:00Z -"]
        );
    }

    #[test]
    fn an_update_that_places_a_patient_in_a_bed_puts_them_on_the_panel_unless_a_newer_export_took_them_off() {
        let event = |mrn: &str, action| {
            Record::Panel(PanelEvent {
                mrn: mrn.into(),
                action,
                event: "A08".into(),
                event_at: None,
                location: Some("7E-12-A".into()),
                attending: None,
                visit_number: None,
                admitted_at: None,
                discharged_at: None,
            })
        };
        let active = |conn: &Writer| {
            strings(
                conn,
                "SELECT p.mrn || ifnull(x.active, '?') FROM panel x JOIN patients p ON p.id = x.patient_id ORDER BY p.mrn",
            )
        };
        let (_dir, mut conn) = open();
        // Go-live: the first export's A08s are for patients admitted before the feed existed.
        write(
            &mut conn,
            1,
            "2026-11-23T11:00:00Z",
            vec![event("M1", PanelAction::Place), event("M2", PanelAction::Update)],
        );
        assert_eq!(active(&conn), ["M11", "M2?"], "a placing update puts M1 on; a plain update does not");
        // M3 was discharged by a newer export: an older placing update does not bring them back.
        write(&mut conn, 3, "2026-11-24T11:00:00Z", vec![event("M3", PanelAction::Leave)]);
        write(&mut conn, 2, "2026-11-23T11:00:00Z", vec![event("M3", PanelAction::Place)]);
        // M1 discharged, then placed by a newer export (readmitted without an A01 in the feed).
        write(&mut conn, 4, "2026-11-24T11:00:00Z", vec![event("M1", PanelAction::Leave)]);
        write(&mut conn, 5, "2026-11-25T11:00:00Z", vec![event("M1", PanelAction::Place)]);
        assert_eq!(active(&conn), ["M11", "M2?", "M30"]);
    }

    #[test]
    fn a_census_takes_the_absent_off_the_panel_and_an_older_census_does_not_bring_them_back() {
        let join = |mrn: &str| {
            Record::Panel(PanelEvent {
                mrn: mrn.into(),
                action: PanelAction::Join,
                event: String::new(),
                event_at: None,
                location: None,
                attending: None,
                visit_number: None,
                admitted_at: None,
                discharged_at: None,
            })
        };
        let census = |mrns: &[&str]| {
            let mut records: Vec<Record> = mrns.iter().map(|m| join(m)).collect();
            records.push(Record::Census { mrns: mrns.iter().map(|m| m.to_string()).collect() });
            records
        };
        let active = |conn: &Writer| {
            strings(conn, "SELECT p.mrn || x.active FROM panel x JOIN patients p ON p.id = x.patient_id ORDER BY p.mrn")
        };
        let (_dir, mut conn) = open();
        write(&mut conn, 1, "2026-11-23T11:00:00Z", census(&["M1", "M2"]));
        // A fresher ADT admit of M3 is not undone by an older census that does not list M3.
        write(&mut conn, 2, "2026-11-24T12:00:00Z", vec![join("M3")]);
        write(&mut conn, 3, "2026-11-24T11:00:00Z", census(&["M1"]));
        assert_eq!(active(&conn), ["M11", "M20", "M31"]);
        // Yesterday's census replayed late: M2 stays off.
        write(&mut conn, 4, "2026-11-23T11:00:00Z", census(&["M1", "M2"]));
        assert_eq!(active(&conn), ["M11", "M20", "M31"]);
        assert_eq!(strings(&conn, "SELECT ifnull(last_event, '-') FROM panel GROUP BY last_event"), ["-"]);
        // The history says what each export did: M2 left with the census of the 24th, once.
        assert_eq!(
            strings(
                &conn,
                "SELECT p.mrn || ' ' || h.action || ' ' || h.exported_at FROM panel_history h
                 JOIN patients p ON p.id = h.patient_id WHERE h.action = 'census_absent'"
            ),
            ["M2 census_absent 2026-11-24T11:00:00Z"]
        );
    }
}
