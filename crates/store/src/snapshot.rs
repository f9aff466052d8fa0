//! What the MCP side reads: panel, patients, results, export runs — with the provenance of every
//! row. Plain row structs; `mcp` turns them into answers. Every query binds its arguments.

use crate::View;
use rusqlite::{OptionalExtension, Row, params};

/// Where a row's current content came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub exported_at: String,
    pub ingested_at: String,
    pub source: String,
    pub source_file: String,
    pub source_file_id: i64,
}

/// SQL that selects a provenance for table alias `x` joined with `source_files f`.
const PROVENANCE: &str = "x.exported_at, x.ingested_at, f.source, f.path, f.id";

fn provenance(row: &Row<'_>, at: usize) -> rusqlite::Result<Provenance> {
    let path: String = row.get(at + 3)?;
    Ok(Provenance {
        exported_at: row.get(at)?,
        ingested_at: row.get(at + 1)?,
        source: row.get(at + 2)?,
        source_file: path.rsplit('/').next().unwrap_or(&path).to_string(),
        source_file_id: row.get(at + 4)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRow {
    pub id: i64,
    pub mrn: String,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StayRow {
    pub source: String,
    pub active: Option<bool>,
    pub location: Option<String>,
    pub attending: Option<String>,
    pub visit_number: Option<String>,
    pub admitted_at: Option<String>,
    pub discharged_at: Option<String>,
    pub last_event: Option<String>,
    pub last_event_at: Option<String>,
    /// Whether an admission (A01/A04, a census listing, or the stay as it stood when history began)
    /// since the patient's last departure was in the exports read; false for a patient placed on
    /// the panel by an update (a feed that started mid-stay).
    pub admission_seen: bool,
    /// What the last census said beyond the panel fields (`Code Status: DNR · Isolation: Contact`).
    pub census_notes: Option<String>,
    /// The export time of the census that said them.
    pub census_notes_at: Option<String>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelEntry {
    pub patient: PatientRow,
    pub stay: StayRow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    pub id: i64,
    pub mrn: String,
    pub order_id: String,
    pub code: String,
    pub code_system: Option<String>,
    pub name: Option<String>,
    pub value_type: Option<String>,
    pub value: Option<String>,
    pub numeric_value: Option<f64>,
    pub unit: Option<String>,
    pub reference_range: Option<String>,
    pub abnormal_flag: Option<String>,
    pub status: Option<String>,
    pub observed_at: Option<String>,
    pub resulted_at: Option<String>,
    pub first_exported_at: String,
    pub provenance: Provenance,
    pub comment: Option<String>,
}

/// Filters and keyset paging for the panel. Order: location, then MRN.
#[derive(Debug, Clone, Default)]
pub struct PanelQuery<'a> {
    pub location: Option<&'a str>,
    pub attending: Option<&'a str>,
    /// Continue after this (location, mrn).
    pub after: Option<(String, String)>,
    pub limit: usize,
}

const PATIENT_COLUMNS: &str = "p.id, p.mrn, p.family_name, p.given_name, p.birth_date, p.sex, \
     p.exported_at, p.ingested_at, pf.source, pf.path, pf.id";

fn patient_row(row: &Row<'_>) -> rusqlite::Result<PatientRow> {
    let path: String = row.get(9)?;
    Ok(PatientRow {
        id: row.get(0)?,
        mrn: row.get(1)?,
        family_name: row.get(2)?,
        given_name: row.get(3)?,
        birth_date: row.get(4)?,
        sex: row.get(5)?,
        provenance: Provenance {
            exported_at: row.get(6)?,
            ingested_at: row.get(7)?,
            source: row.get(8)?,
            source_file: path.rsplit('/').next().unwrap_or(&path).to_string(),
            source_file_id: row.get(10)?,
        },
    })
}

const STAY_COLUMNS: &str = "x.source, x.active, x.location, x.attending, x.visit_number, x.admitted_at, \
     x.discharged_at, x.last_event, x.last_event_at, EXISTS (SELECT 1 FROM panel_history h \
     WHERE h.source = x.source AND h.patient_id = x.patient_id AND h.action IN ('join', 'current', 'transfer_in') \
     AND h.id > coalesce((SELECT max(l.id) FROM panel_history l WHERE l.source = x.source \
     AND l.patient_id = x.patient_id AND l.action IN ('leave', 'census_absent', 'cancel_admit', 'moved_off')), 0)), \
     x.census_notes, x.census_notes_exported_at";

fn stay_row(row: &Row<'_>, at: usize) -> rusqlite::Result<StayRow> {
    Ok(StayRow {
        source: row.get(at)?,
        active: row.get::<_, Option<i64>>(at + 1)?.map(|a| a == 1),
        location: row.get(at + 2)?,
        attending: row.get(at + 3)?,
        visit_number: row.get(at + 4)?,
        admitted_at: row.get(at + 5)?,
        discharged_at: row.get(at + 6)?,
        last_event: row.get(at + 7)?,
        last_event_at: row.get(at + 8)?,
        admission_seen: row.get(at + 9)?,
        census_notes: row.get(at + 10)?,
        census_notes_at: row.get(at + 11)?,
        provenance: provenance(row, at + 12)?,
    })
}

/// Patients on a panel now (`active = 1`), filtered and paged.
pub fn panel(View(conn): View<'_>, q: &PanelQuery<'_>) -> rusqlite::Result<Vec<PanelEntry>> {
    let sql = format!(
        "SELECT {PATIENT_COLUMNS}, {STAY_COLUMNS}, {PROVENANCE}
         FROM panel x
         JOIN patients p ON p.id = x.patient_id
         JOIN source_files pf ON pf.id = p.source_file_id
         JOIN source_files f ON f.id = x.source_file_id
         WHERE x.active = 1
           AND (?1 IS NULL OR x.location LIKE ?1 || '%' ESCAPE '\\')
           AND (?2 IS NULL OR x.attending LIKE '%' || ?2 || '%' ESCAPE '\\')
           AND (?3 IS NULL OR (ifnull(x.location, ''), p.mrn) > (?3, ?4))
         ORDER BY ifnull(x.location, ''), p.mrn
         LIMIT ?5"
    );
    let (after_location, after_mrn) = q.after.clone().unzip();
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![q.location.map(like_literal), q.attending.map(like_literal), after_location, after_mrn, q.limit as i64],
        |row| Ok(PanelEntry { patient: patient_row(row)?, stay: stay_row(row, 11)? }),
    )?;
    rows.collect()
}

/// Escape `%`, `_` and `\` so that user text is matched literally by LIKE.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub fn patient(View(conn): View<'_>, mrn: &str) -> rusqlite::Result<Option<PatientRow>> {
    conn.prepare_cached(&format!(
        "SELECT {PATIENT_COLUMNS} FROM patients p JOIN source_files pf ON pf.id = p.source_file_id WHERE p.mrn = ?1"
    ))?
    .query_row([mrn], patient_row)
    .optional()
}

/// (system, value) of every identifier of a patient.
pub fn identifiers(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT system, value FROM patient_identifiers WHERE patient_id = ?1 ORDER BY system, value")?;
    let rows = stmt.query_map([patient_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The patient's stays on every source's panel, current first.
pub fn stays(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<StayRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STAY_COLUMNS}, {PROVENANCE} FROM panel x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 ORDER BY x.active DESC, x.source"
    ))?;
    let rows = stmt.query_map([patient_id], |row| stay_row(row, 0))?;
    rows.collect()
}

const OBSERVATION_COLUMNS: &str = "o.id, p.mrn, o.order_id, o.code, o.code_system, o.name, o.value_type, o.value, \
     o.numeric_value, o.unit, o.reference_range, o.abnormal_flag, o.status, o.observed_at, o.resulted_at, \
     o.first_exported_at, o.exported_at, o.ingested_at, f.source, f.path, f.id, o.comment";

fn observation_row(row: &Row<'_>) -> rusqlite::Result<ObservationRow> {
    let observed_at: String = row.get(13)?;
    Ok(ObservationRow {
        id: row.get(0)?,
        mrn: row.get(1)?,
        order_id: row.get(2)?,
        code: row.get(3)?,
        code_system: row.get(4)?,
        name: row.get(5)?,
        value_type: row.get(6)?,
        value: row.get(7)?,
        numeric_value: row.get(8)?,
        unit: row.get(9)?,
        reference_range: row.get(10)?,
        abnormal_flag: row.get(11)?,
        status: row.get(12)?,
        observed_at: (!observed_at.is_empty()).then_some(observed_at),
        resulted_at: row.get(14)?,
        first_exported_at: row.get(15)?,
        provenance: provenance(row, 16)?,
        comment: row.get(21)?,
    })
}

/// Filters and keyset paging for results. Order: newest observed first.
#[derive(Debug, Clone, Default)]
pub struct ObservationQuery<'a> {
    pub patient_id: i64,
    /// Only results observed at or after this instant (RFC 3339).
    pub since: Option<&'a str>,
    pub code: Option<&'a str>,
    /// Continue after this (observed_at, id).
    pub after: Option<(String, i64)>,
    pub limit: usize,
}

pub fn observations(View(conn): View<'_>, q: &ObservationQuery<'_>) -> rusqlite::Result<Vec<ObservationRow>> {
    let (after_time, after_id) = q.after.clone().unzip();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OBSERVATION_COLUMNS}
         FROM observations o JOIN patients p ON p.id = o.patient_id JOIN source_files f ON f.id = o.source_file_id
         WHERE o.patient_id = ?1 AND o.deleted = 0
           AND (?2 IS NULL OR o.observed_at >= ?2)
           AND (?3 IS NULL OR o.code = ?3)
           AND (?4 IS NULL OR (o.observed_at, o.id) < (?4, ?5))
         ORDER BY o.observed_at DESC, o.id DESC
         LIMIT ?6"
    ))?;
    let rows = stmt.query_map(params![q.patient_id, q.since, q.code, after_time, after_id, q.limit as i64], |row| {
        observation_row(row)
    })?;
    rows.collect()
}

/// Everyone on a panel now, or whose stay was last changed by an export after `since` and is off
/// the panel (discharged, or absent from a census), with their stays.
pub fn panel_with_recent_leavers(View(conn): View<'_>, since: Option<&str>) -> rusqlite::Result<Vec<PanelEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PATIENT_COLUMNS}, {STAY_COLUMNS}, {PROVENANCE}
         FROM panel x
         JOIN patients p ON p.id = x.patient_id
         JOIN source_files pf ON pf.id = p.source_file_id
         JOIN source_files f ON f.id = x.source_file_id
         WHERE x.active = 1 OR (x.active = 0 AND (?1 IS NULL OR x.exported_at > ?1))
         ORDER BY ifnull(x.location, ''), p.mrn"
    ))?;
    let rows =
        stmt.query_map(params![since], |row| Ok(PanelEntry { patient: patient_row(row)?, stay: stay_row(row, 11)? }))?;
    rows.collect()
}

/// One export time of a source, as the ledger has it: where the time came from, how many files
/// carried it, and when the last of them went in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportTime {
    pub source: String,
    pub exported_at: String,
    /// `FHS-7`, `BHS-7`, `MSH-7`, `file name`, `mtime`, …
    pub origin: String,
    pub files: i64,
    pub ingested_at: String,
}

/// Every export time of the files that went in, per source and origin, newest first.
pub fn export_times(View(conn): View<'_>) -> rusqlite::Result<Vec<ExportTime>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, exported_at, exported_at_origin, count(*), max(ingested_at) FROM source_files
         WHERE status IN ('ingested', 'ingested_with_rejects')
         GROUP BY source, exported_at, exported_at_origin ORDER BY source, exported_at DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ExportTime {
            source: r.get(0)?,
            exported_at: r.get(1)?,
            origin: r.get(2)?,
            files: r.get(3)?,
            ingested_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// What one export said of a stay (`panel_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StayHistoryRow {
    pub source: String,
    /// `join`, `leave`, `update`, `cancel_admit`, `cancel_discharge`, `census_absent` or `current`.
    pub action: String,
    pub event: Option<String>,
    pub event_at: Option<String>,
    pub location: Option<String>,
    pub attending: Option<String>,
    pub admitted_at: Option<String>,
    pub discharged_at: Option<String>,
    pub provenance: Provenance,
}

/// Everything the exports said of a patient's stays, per source in export order; within one
/// export, ADT events (in event order) before the census.
pub fn stay_history(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<StayHistoryRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.source, x.action, x.event, x.event_at, x.location, x.attending, x.admitted_at, x.discharged_at,
                {PROVENANCE}
         FROM panel_history x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 ORDER BY x.source, x.exported_at, x.event IS NULL, ifnull(x.event_at, ''), x.id"
    ))?;
    let rows = stmt.query_map([patient_id], |r| {
        Ok(StayHistoryRow {
            source: r.get(0)?,
            action: r.get(1)?,
            event: r.get(2)?,
            event_at: r.get(3)?,
            location: r.get(4)?,
            attending: r.get(5)?,
            admitted_at: r.get(6)?,
            discharged_at: r.get(7)?,
            provenance: provenance(r, 8)?,
        })
    })?;
    rows.collect()
}

/// Every version of a patient's medication orders as the exports carried them, per order in export
/// order.
pub fn medication_history(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<MedicationRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.order_id, x.name, x.code, x.code_system, x.dose, x.route, x.frequency, x.status, x.start_at, x.end_at,
                {PROVENANCE}
         FROM medication_history x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 ORDER BY x.order_id, x.exported_at, x.id"
    ))?;
    let rows = stmt.query_map([patient_id], medication_row)?;
    rows.collect()
}

/// A correction of a patient's name, birth date or sex by a newer registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemographicChangeRow {
    /// `family_name`, `birth_date` or `sex`.
    pub field: String,
    pub before: String,
    pub after: Option<String>,
    pub provenance: Provenance,
}

/// A patient's demographic corrections, oldest first.
pub fn demographic_changes(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<DemographicChangeRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.field, x.before, x.after, {PROVENANCE}
         FROM demographic_changes x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 ORDER BY x.exported_at, x.id"
    ))?;
    let rows = stmt.query_map([patient_id], |row| {
        Ok(DemographicChangeRow {
            field: row.get(0)?,
            before: row.get(1)?,
            after: row.get(2)?,
            provenance: provenance(row, 3)?,
        })
    })?;
    rows.collect()
}

/// Every result of a patient that is not withdrawn, by code, newest observed first.
pub fn results_by_code(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<ObservationRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OBSERVATION_COLUMNS}
         FROM observations o JOIN patients p ON p.id = o.patient_id JOIN source_files f ON f.id = o.source_file_id
         WHERE o.patient_id = ?1 AND o.deleted = 0
         ORDER BY o.code, o.observed_at DESC, o.id DESC"
    ))?;
    let rows = stmt.query_map([patient_id], observation_row)?;
    rows.collect()
}

/// When the snapshot last changed: the newest commit of a file that went in.
pub fn as_of(View(conn): View<'_>) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT max(ingested_at) FROM source_files WHERE status IN ('ingested', 'ingested_with_rejects')",
        [],
        |r| r.get(0),
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicationRow {
    pub order_id: String,
    pub name: String,
    pub code: Option<String>,
    pub code_system: Option<String>,
    pub dose: Option<String>,
    pub route: Option<String>,
    pub frequency: Option<String>,
    pub status: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub provenance: Provenance,
}

/// A patient's medication orders, newest start first. `changed_after`: only orders started or
/// ended after that instant, or stopped by a later export.
pub fn medications(
    View(conn): View<'_>,
    patient_id: i64,
    include_inactive: bool,
    changed_after: Option<&str>,
) -> rusqlite::Result<Vec<MedicationRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.order_id, x.name, x.code, x.code_system, x.dose, x.route, x.frequency, x.status, x.start_at,
                x.end_at, {PROVENANCE}
         FROM medications x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 AND (?2 OR ifnull(x.status, 'active') NOT IN ('discontinued', 'cancelled', 'completed', 'unlisted'))
           AND (?3 IS NULL OR x.start_at > ?3 OR x.end_at > ?3
                OR (x.exported_at > ?3 AND x.status IN ('discontinued', 'cancelled', 'completed')))
         ORDER BY ifnull(x.start_at, '') DESC, x.order_id"
    ))?;
    let rows = stmt.query_map(params![patient_id, include_inactive, changed_after], medication_row)?;
    rows.collect()
}

fn medication_row(r: &Row<'_>) -> rusqlite::Result<MedicationRow> {
    Ok(MedicationRow {
        order_id: r.get(0)?,
        name: r.get(1)?,
        code: r.get(2)?,
        code_system: r.get(3)?,
        dose: r.get(4)?,
        route: r.get(5)?,
        frequency: r.get(6)?,
        status: r.get(7)?,
        start_at: r.get(8)?,
        end_at: r.get(9)?,
        provenance: provenance(r, 10)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRow {
    pub code: Option<String>,
    pub code_system: Option<String>,
    pub description: String,
    pub status: Option<String>,
    pub onset_at: Option<String>,
    pub resolved_at: Option<String>,
    pub origin: String,
    pub provenance: Provenance,
}

pub fn problems(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<ProblemRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.code, x.code_system, x.description, x.status, x.onset_at, x.resolved_at, x.origin, {PROVENANCE}
         FROM problems x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 AND x.deleted = 0 ORDER BY x.origin DESC, x.description"
    ))?;
    let rows = stmt.query_map([patient_id], |r| {
        Ok(ProblemRow {
            code: r.get(0)?,
            code_system: r.get(1)?,
            description: r.get(2)?,
            status: r.get(3)?,
            onset_at: r.get(4)?,
            resolved_at: r.get(5)?,
            origin: r.get(6)?,
            provenance: provenance(r, 7)?,
        })
    })?;
    rows.collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllergyRow {
    pub code: Option<String>,
    pub code_system: Option<String>,
    pub allergen: String,
    pub allergy_type: Option<String>,
    pub severity: Option<String>,
    pub reaction: Option<String>,
    pub identified_at: Option<String>,
    pub provenance: Provenance,
}

pub fn allergies(View(conn): View<'_>, patient_id: i64) -> rusqlite::Result<Vec<AllergyRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT x.code, x.code_system, x.allergen, x.allergy_type, x.severity, x.reaction, x.identified_at, {PROVENANCE}
         FROM allergies x JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 ORDER BY x.allergen"
    ))?;
    let rows = stmt.query_map([patient_id], |r| {
        Ok(AllergyRow {
            code: r.get(0)?,
            code_system: r.get(1)?,
            allergen: r.get(2)?,
            allergy_type: r.get(3)?,
            severity: r.get(4)?,
            reaction: r.get(5)?,
            identified_at: r.get(6)?,
            provenance: provenance(r, 7)?,
        })
    })?;
    rows.collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub id: i64,
    pub mrn: String,
    pub document_id: String,
    pub parent_id: Option<String>,
    pub doc_type: Option<String>,
    pub title: Option<String>,
    pub authored_at: Option<String>,
    pub author: Option<String>,
    pub status: Option<String>,
    pub event: String,
    pub replaced_by: Option<String>,
    pub first_exported_at: String,
    pub provenance: Provenance,
    /// PDF notes only: pages, `ok`, `no_text_layer` or `failed` (and why), and where the original
    /// file is now.
    pub page_count: Option<u32>,
    pub text_status: Option<String>,
    pub text_error: Option<String>,
    pub original_path: Option<String>,
}

/// A PDF's original is where its ledger row says the pipeline left it: the archive path, or the
/// path it was read from when kept or replayed in place; nowhere once deleted.
const DOCUMENT_COLUMNS: &str = "x.id, p.mrn, x.document_id, x.parent_id, x.doc_type, x.title, x.authored_at, x.author, \
     x.status, x.event, x.replaced_by, x.first_exported_at, x.exported_at, x.ingested_at, f.source, f.path, f.id, \
     x.page_count, x.text_status, x.text_error, \
     CASE WHEN x.event != 'PDF' OR f.disposition = 'deleted' THEN NULL \
          WHEN f.disposition IS NULL OR f.disposition IN ('kept', 'replayed in place') THEN f.path \
          ELSE f.disposition END";

/// The index of the first column after [`DOCUMENT_COLUMNS`].
const AFTER_DOCUMENT_COLUMNS: usize = 21;

fn document_row(r: &Row<'_>) -> rusqlite::Result<DocumentRow> {
    Ok(DocumentRow {
        id: r.get(0)?,
        mrn: r.get(1)?,
        document_id: r.get(2)?,
        parent_id: r.get(3)?,
        doc_type: r.get(4)?,
        title: r.get(5)?,
        authored_at: r.get(6)?,
        author: r.get(7)?,
        status: r.get(8)?,
        event: r.get(9)?,
        replaced_by: r.get(10)?,
        first_exported_at: r.get(11)?,
        provenance: provenance(r, 12)?,
        page_count: r.get(17)?,
        text_status: r.get(18)?,
        text_error: r.get(19)?,
        original_path: r.get(20)?,
    })
}

/// A patient's documents, newest first; `new_after`: only those first exported after it.
pub fn documents(
    View(conn): View<'_>,
    patient_id: i64,
    new_after: Option<&str>,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<Vec<DocumentRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DOCUMENT_COLUMNS}
         FROM documents x JOIN patients p ON p.id = x.patient_id JOIN source_files f ON f.id = x.source_file_id
         WHERE x.patient_id = ?1 AND (?2 IS NULL OR x.first_exported_at > ?2)
         ORDER BY ifnull(x.authored_at, '') DESC, x.id DESC LIMIT ?4 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(params![patient_id, new_after, offset as i64, limit as i64], document_row)?;
    rows.collect()
}

/// One document with its text, and the ids of its addenda.
pub fn document(
    View(conn): View<'_>,
    document_id: &str,
) -> rusqlite::Result<Option<(DocumentRow, String, Vec<String>)>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {DOCUMENT_COLUMNS}, x.text
             FROM documents x JOIN patients p ON p.id = x.patient_id JOIN source_files f ON f.id = x.source_file_id
             WHERE x.document_id = ?1"
        ))?
        .query_row([document_id], |r| Ok((document_row(r)?, r.get::<_, String>(AFTER_DOCUMENT_COLUMNS)?)))
        .optional()?;
    let Some((row, text)) = found else { return Ok(None) };
    let mut stmt = conn.prepare_cached(
        "SELECT document_id FROM documents WHERE parent_id = ?1 AND event != 'T10' ORDER BY authored_at, id",
    )?;
    let addenda = stmt.query_map([document_id], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some((row, text, addenda)))
}

/// Full-text search (`fts_query` in FTS5 syntax, built by the caller from quoted terms), best
/// matches first, with a snippet around the match.
pub fn search_documents(
    View(conn): View<'_>,
    fts_query: &str,
    patient_id: Option<i64>,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<Vec<(DocumentRow, String)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DOCUMENT_COLUMNS}, snippet(documents_fts, 1, '[', ']', ' … ', 24)
         FROM documents_fts
         JOIN documents x ON x.id = documents_fts.rowid
         JOIN patients p ON p.id = x.patient_id JOIN source_files f ON f.id = x.source_file_id
         WHERE documents_fts MATCH ?1 AND (?2 IS NULL OR x.patient_id = ?2)
         ORDER BY bm25(documents_fts), x.id LIMIT ?4 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(params![fts_query, patient_id, offset as i64, limit as i64], |r| {
        Ok((document_row(r)?, r.get::<_, String>(AFTER_DOCUMENT_COLUMNS)?))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    //! The MCP side's queries on a snapshot the writer filled from parsed HL7: filters, keyset
    //! paging, and the provenance every row carries.

    use super::*;
    use crate::write::{FileMeta, write_file};

    fn at(t: &str) -> chrono::DateTime<chrono::Utc> {
        ingest_core::time::parse_rfc3339(t).expect("time")
    }

    fn admission(mrn: &str, bed: &str, attending: &str) -> String {
        format!(
            "MSH|^~\\&|EHR|HOSP|INGEST|WARD|20261124050000+0000||ADT^A01|{mrn}|P|2.5\r\
             PID|1||{mrn}^^^HOSP^MR||Doe^{mrn}\r\
             PV1|1|I|{bed}||||1^{attending}^A\r"
        )
    }

    fn result(mrn: &str, value: &str, observed: &str) -> String {
        format!(
            "MSH|^~\\&|LAB|HOSP|INGEST|WARD|{observed}+0000||ORU^R01|{mrn}{observed}|P|2.5\r\
             PID|1||{mrn}^^^HOSP^MR\rOBR|1|O{observed}|O{observed}|BMP\r\
             OBX|1|NM|2823-3^Potassium^LN||{value}|mmol/L|3.5-5.1||||F|||{observed}+0000\r"
        )
    }

    /// A snapshot written from `files` (name, HL7 text), each its own export at 05:00Z.
    fn snapshot(files: &[(&str, String)]) -> (tempfile::TempDir, crate::Writer) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = crate::open_writer(&dir.path().join("s.db")).expect("writer");
        for (n, (name, text)) in files.iter().enumerate() {
            let options = ingest_parse::ParseOptions::default();
            let (_, parsed) = ingest_parse::parse_named(name, text.as_bytes(), &options).expect("parse");
            let exported = at("2026-11-24T05:00:00Z");
            let meta = FileMeta {
                source: "ward".into(),
                path: format!("/drop/{name}"),
                size: text.len() as u64,
                mtime: exported,
                sha256: format!("{n:064}"),
                kind: "hl7",
                exported_at: exported,
                exported_at_origin: "MSH-7",
                received_at: exported,
                disposition: None,
                export_time_warning: None,
            };
            write_file(&mut writer, &meta, &parsed, exported, &|| false).expect("write");
        }
        (dir, writer)
    }

    #[test]
    fn the_panel_filters_by_location_and_attending_and_pages_by_location_then_mrn() {
        let (_dir, writer) = snapshot(&[
            ("a.hl7", admission("M3", "5W^520^B", "House")),
            ("b.hl7", admission("M1", "5W^501^A", "Cuddy")),
            ("c.hl7", admission("M2", "6E^601^A", "House")),
        ]);
        let mrns = |q: &PanelQuery<'_>| -> Vec<String> {
            panel(writer.view(), q).expect("panel").into_iter().map(|e| e.patient.mrn).collect()
        };
        assert_eq!(mrns(&PanelQuery { limit: 10, ..PanelQuery::default() }), ["M1", "M3", "M2"]);
        assert_eq!(mrns(&PanelQuery { location: Some("5W"), limit: 10, ..PanelQuery::default() }), ["M1", "M3"]);
        assert_eq!(mrns(&PanelQuery { attending: Some("House"), limit: 10, ..PanelQuery::default() }), ["M3", "M2"]);
        let first = panel(writer.view(), &PanelQuery { limit: 1, ..PanelQuery::default() }).expect("page");
        let after = (first[0].stay.location.clone().expect("location"), first[0].patient.mrn.clone());
        assert_eq!(mrns(&PanelQuery { after: Some(after), limit: 10, ..PanelQuery::default() }), ["M3", "M2"]);
    }

    #[test]
    fn results_come_newest_first_with_the_file_they_came_from() {
        let (_dir, writer) = snapshot(&[
            ("adt.hl7", admission("M1", "5W^501^A", "House")),
            ("oru1.hl7", result("M1", "3.1", "20261123040000")),
            ("oru2.hl7", result("M1", "2.9", "20261124040000")),
        ]);
        let id = patient(writer.view(), "M1").expect("query").expect("M1").id;
        let q = ObservationQuery { patient_id: id, since: None, code: Some("2823-3"), after: None, limit: 10 };
        let rows = observations(writer.view(), &q).expect("results");
        let values: Vec<_> = rows.iter().map(|r| r.value.as_deref().unwrap_or_default()).collect();
        assert_eq!(values, ["2.9", "3.1"]);
        assert_eq!(rows[0].provenance.source_file, "oru2.hl7");
        assert_eq!(
            (rows[0].provenance.source.as_str(), rows[0].provenance.exported_at.as_str()),
            ("ward", "2026-11-24T05:00:00Z")
        );
        let since = ObservationQuery { since: Some("2026-11-24T00:00:00Z"), ..q };
        assert_eq!(observations(writer.view(), &since).expect("since").len(), 1);
    }
}
