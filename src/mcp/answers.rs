//! Building answers: arguments in, DTOs out, from one read-only connection inside one read
//! transaction (so an answer never mixes two states of the snapshot). No rmcp here.

use super::dto::*;
use crate::config::{Config, RecordKind, Role};
use crate::store::{read, snapshot};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A clear, model-visible error (`isError: true`), not a protocol failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("unknown MRN {0:?}: no patient with this MRN is in the snapshot")]
    UnknownMrn(String),
    #[error("unknown document {0:?}: no document with this id is in the snapshot")]
    UnknownDocument(String),
    #[error("invalid argument `{0}`: {1}")]
    Invalid(&'static str, String),
    /// The arguments do not fit the tool's input schema.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    #[error("refused: role {role:?} may not {what}")]
    Refused { role: String, what: String },
    #[error("the snapshot could not be read: {0}")]
    Snapshot(String),
}

impl ToolError {
    /// A stable machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::UnknownMrn(_) => "unknown_mrn",
            ToolError::UnknownDocument(_) => "unknown_document",
            ToolError::Invalid(..) | ToolError::Arguments(_) => "invalid_argument",
            ToolError::Refused { .. } => "refused",
            ToolError::Snapshot(_) => "snapshot_unreadable",
        }
    }
}

impl From<rusqlite::Error> for ToolError {
    fn from(e: rusqlite::Error) -> Self {
        ToolError::Snapshot(e.to_string())
    }
}

/// What every answer needs besides its arguments.
#[derive(Debug)]
pub struct Context<'a> {
    pub conn: &'a Connection,
    pub config: &'a Config,
    pub role: &'a Role,
    pub now: DateTime<Utc>,
}

/// Said with empty lists: absence in the snapshot is not absence in the chart.
const ONLY_WHAT_WAS_EXPORTED: &str = "only what the EHR's exports carry is here (HL7 v2, CSV reports, PDF notes): an empty list does not mean the patient has none";

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPanelArgs {
    /// Only patients whose location starts with this, e.g. `5W` or `5W-520`.
    pub location: Option<String>,
    /// Only patients whose attending's name contains this.
    pub attending: Option<String>,
    /// Page size (default 50).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MrnArgs {
    /// The patient's medical record number.
    pub mrn: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationsArgs {
    pub mrn: String,
    /// Only results observed at or after this time (RFC 3339, e.g. `2026-11-23T00:00:00Z`).
    pub since: Option<String>,
    /// Only this code, e.g. the LOINC `2823-3`.
    pub code: Option<String>,
    /// Page size (default 50).
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationsArgs {
    pub mrn: String,
    /// Include stopped and completed orders (default: active only).
    pub include_inactive: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentsArgs {
    pub mrn: String,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadDocumentArgs {
    pub document_id: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words to find in notes and reports.
    pub query: String,
    /// Only this patient's documents.
    pub mrn: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelChangesArgs {
    /// Changes after this time (RFC 3339). Default: the previous export run, i.e. what the latest
    /// export brought.
    pub since: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The longest text argument accepted (MRNs, codes, queries, cursors).
const MAX_ARG: usize = 256;

fn check_text(name: &'static str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() || value.len() > MAX_ARG || value.chars().any(char::is_control) {
        return Err(ToolError::Invalid(name, format!("must be 1 to {MAX_ARG} printable characters")));
    }
    Ok(())
}

fn check_time(name: &'static str, value: &str) -> Result<String, ToolError> {
    crate::time::parse_rfc3339(value).map(crate::time::rfc3339).ok_or_else(|| {
        ToolError::Invalid(name, format!("{value:?} is not an RFC 3339 time such as 2026-11-24T05:00:00Z"))
    })
}

impl Context<'_> {
    fn limit(&self, asked: Option<usize>) -> Result<usize, ToolError> {
        let max = self.config.mcp.max_page_size;
        match asked {
            None => Ok(self.config.mcp.page_size),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(ToolError::Invalid("limit", format!("must be between 1 and {max}"))),
        }
    }

    fn require(&self, kind: RecordKind) -> Result<(), ToolError> {
        if self.role.allows(kind) {
            Ok(())
        } else {
            Err(ToolError::Refused { role: self.role.name.clone(), what: format!("read {}", kind.as_str()) })
        }
    }

    fn patient(&self, mrn: &str) -> Result<snapshot::PatientRow, ToolError> {
        check_text("mrn", mrn)?;
        snapshot::patient(self.conn, mrn)?.ok_or_else(|| ToolError::UnknownMrn(mrn.to_string()))
    }

    /// The snapshot's freshness: as of the newest ingest; stale when a source missed the deadline
    /// of its `expected` export (or, without one, its newest export is older than `stale_after`),
    /// or it never delivered one. See `crate::schedule`.
    pub fn snapshot_info(&self) -> Result<SnapshotInfo, ToolError> {
        let sources = self.sources()?;
        Ok(SnapshotInfo {
            as_of: snapshot::as_of(self.conn)?,
            stale: sources.iter().any(|s| s.stale),
            stale_reasons: sources.iter().filter_map(|s| s.stale_reason.clone()).collect(),
        })
    }

    fn sources(&self) -> Result<Vec<SourceInfo>, ToolError> {
        let configured: Vec<String> = self.config.sources.iter().map(|s| s.name.clone()).collect();
        let statuses = read::sources(self.conn, &configured)?;
        Ok(statuses
            .into_iter()
            .map(|s| {
                let freshness = source_freshness(
                    self.config,
                    &s.name,
                    s.last_export_at.as_deref().and_then(crate::time::parse_rfc3339),
                    self.now,
                );
                let n = |status: &str| s.files.get(status).copied().unwrap_or(0);
                SourceInfo {
                    stale: freshness.stale.is_some(),
                    stale_reason: freshness.stale,
                    files_ingested: n("ingested") + n("ingested_with_rejects"),
                    files_duplicate: n("duplicate"),
                    files_quarantined: n("quarantined"),
                    records_rejected: s.rejects,
                    next_expected_at: freshness.next_deadline.map(crate::time::rfc3339),
                    name: s.name,
                    last_export_at: s.last_export_at,
                    last_ingested_at: s.last_ingested_at,
                }
            })
            .collect())
    }
}

/// A source's freshness by its configuration: its `expected` schedule, else its `stale_after`
/// (a source that is in the snapshot but no longer configured: the default `stale_after`).
pub fn source_freshness(
    config: &crate::config::Config,
    name: &str,
    last_export: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> crate::schedule::Freshness {
    use crate::schedule::{judge_age, judge_expected};
    match config.source(name) {
        Some(source) => match &source.expected {
            Some(expected) => judge_expected(name, expected, last_export, now, config.zone),
            None => judge_age(name, source.stale_after, last_export, now),
        },
        None => judge_age(name, crate::config::DEFAULT_STALE_AFTER, last_export, now),
    }
}

fn freshness(p: &snapshot::Provenance) -> Freshness {
    Freshness {
        exported_at: p.exported_at.clone(),
        ingested_at: p.ingested_at.clone(),
        source: p.source.clone(),
        source_file: p.source_file.clone(),
    }
}

fn display_name(family: &Option<String>, given: &Option<String>) -> Option<String> {
    match (family, given) {
        (Some(f), Some(g)) => Some(format!("{f}, {g}")),
        (Some(f), None) => Some(f.clone()),
        (None, Some(g)) => Some(g.clone()),
        (None, None) => None,
    }
}

/// 0 critical (`HH`, `LL`, `AA`, `>`, `<`), 1 other abnormal, 2 normal or unflagged.
fn severity(o: &Observation) -> u8 {
    match o.abnormal_flag.as_deref() {
        Some("HH" | "LL" | "AA" | ">" | "<") => 0,
        Some(f) if !f.is_empty() && f != "N" => 1,
        _ => 2,
    }
}

/// Value types whose text is written by people, not chosen from a code list.
const FREE_TEXT_TYPES: &[&str] = &["ST", "TX", "FT"];

fn observation(o: &snapshot::ObservationRow) -> Observation {
    let free_text = o.value.is_some() && o.value_type.as_deref().is_none_or(|t| FREE_TEXT_TYPES.contains(&t));
    Observation {
        code: o.code.clone(),
        code_system: o.code_system.clone(),
        name: o.name.clone(),
        value: o.value.clone(),
        value_type: o.value_type.clone(),
        numeric_value: o.numeric_value,
        unit: o.unit.clone(),
        reference_range: o.reference_range.clone(),
        abnormal_flag: o.abnormal_flag.clone(),
        status: o.status.clone(),
        observed_at: o.observed_at.clone(),
        resulted_at: o.resulted_at.clone(),
        order_id: o.order_id.clone(),
        untrusted_fields: if free_text { vec!["value".into()] } else { Vec::new() },
        freshness: freshness(&o.provenance),
    }
}

fn medication(m: &snapshot::MedicationRow) -> Medication {
    Medication {
        name: m.name.clone(),
        code: m.code.clone(),
        code_system: m.code_system.clone(),
        order_id: m.order_id.clone(),
        dose: m.dose.clone(),
        route: m.route.clone(),
        frequency: m.frequency.clone(),
        status: m.status.clone(),
        start_at: m.start_at.clone(),
        end_at: m.end_at.clone(),
        freshness: freshness(&m.provenance),
    }
}

fn problem(p: &snapshot::ProblemRow) -> Problem {
    Problem {
        code: p.code.clone(),
        code_system: p.code_system.clone(),
        description: p.description.clone(),
        status: p.status.clone(),
        onset_at: p.onset_at.clone(),
        resolved_at: p.resolved_at.clone(),
        origin: p.origin.clone(),
        freshness: freshness(&p.provenance),
    }
}

fn allergy(a: &snapshot::AllergyRow) -> Allergy {
    Allergy {
        allergen: a.allergen.clone(),
        code: a.code.clone(),
        code_system: a.code_system.clone(),
        allergy_type: a.allergy_type.clone(),
        reaction: a.reaction.clone(),
        severity: a.severity.clone(),
        identified_at: a.identified_at.clone(),
        freshness: freshness(&a.provenance),
    }
}

fn document_summary(d: &snapshot::DocumentRow) -> DocumentSummary {
    DocumentSummary {
        document_id: d.document_id.clone(),
        doc_type: d.doc_type.clone(),
        title: d.title.clone(),
        authored_at: d.authored_at.clone(),
        author: d.author.clone(),
        status: d.status.clone(),
        event: d.event.clone(),
        parent_id: d.parent_id.clone(),
        replaced_by: d.replaced_by.clone(),
        page_count: d.page_count,
        text_status: d.text_status.clone(),
        text_error: d.text_error.clone(),
        original_path: d.original_path.clone(),
        freshness: freshness(&d.provenance),
    }
}

/// How many documents `get_patient` lists (the rest through `get_documents`).
const PATIENT_DOCUMENTS: usize = 20;

fn stay(s: &snapshot::StayRow) -> Stay {
    Stay {
        panel_source: s.source.clone(),
        on_panel: s.active,
        location: s.location.clone(),
        attending: s.attending.clone(),
        visit_number: s.visit_number.clone(),
        admitted_at: s.admitted_at.clone(),
        discharged_at: s.discharged_at.clone(),
        last_event: s.last_event.clone(),
        last_event_at: s.last_event_at.clone(),
        freshness: freshness(&s.provenance),
    }
}

/// Cursors are opaque to the client: hex of a small JSON array.
fn encode_cursor(parts: &serde_json::Value) -> String {
    parts.to_string().bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor<T: serde::de::DeserializeOwned>(cursor: &str) -> Result<T, ToolError> {
    let invalid = || ToolError::Invalid("cursor", "not a cursor this server gave out".into());
    if cursor.len() > 2 * MAX_ARG || !cursor.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> =
        (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect();
    serde_json::from_slice(&bytes.ok_or_else(invalid)?).map_err(|_| invalid())
}

pub fn snapshot_status(cx: &Context<'_>) -> Result<SnapshotStatus, ToolError> {
    let sources = cx.sources()?;
    let counts = read::counts(cx.conn)?;
    Ok(SnapshotStatus {
        snapshot: cx.snapshot_info()?,
        sources,
        counts: KindCounts {
            patients: counts.patients,
            on_panel: counts.on_panel,
            observations: counts.observations,
            medications: counts.medications,
            problems: counts.problems,
            allergies: counts.allergies,
            documents: counts.documents,
        },
        notes: vec![ONLY_WHAT_WAS_EXPORTED.to_string()],
    })
}

pub fn list_panel(cx: &Context<'_>, args: &ListPanelArgs) -> Result<PanelList, ToolError> {
    cx.require(RecordKind::Panel)?;
    cx.require(RecordKind::Patients)?;
    for (name, value) in [("location", &args.location), ("attending", &args.attending)] {
        if let Some(v) = value {
            check_text(name, v)?;
        }
    }
    let limit = cx.limit(args.limit)?;
    let after = args.cursor.as_deref().map(decode_cursor::<(String, String)>).transpose()?;
    let mut rows = snapshot::panel(
        cx.conn,
        &snapshot::PanelQuery {
            location: args.location.as_deref(),
            attending: args.attending.as_deref(),
            after,
            limit: limit + 1,
        },
    )?;
    let next_cursor = page_cursor(&mut rows, limit, |e| {
        serde_json::json!([e.stay.location.clone().unwrap_or_default(), e.patient.mrn])
    });
    let patients: Vec<PanelPatient> = rows
        .iter()
        .map(|e| PanelPatient {
            mrn: e.patient.mrn.clone(),
            name: display_name(&e.patient.family_name, &e.patient.given_name),
            birth_date: e.patient.birth_date.clone(),
            sex: e.patient.sex.clone(),
            location: e.stay.location.clone(),
            attending: e.stay.attending.clone(),
            admitted_at: e.stay.admitted_at.clone(),
            panel_source: e.stay.source.clone(),
            freshness: freshness(&e.stay.provenance),
        })
        .collect();
    let mut notes = Vec::new();
    if patients.is_empty() {
        notes.push("no patient on the panel matches".to_string());
    }
    Ok(PanelList { snapshot: cx.snapshot_info()?, patients, next_cursor, notes })
}

/// Trim `rows` to `limit`; if there was more, the cursor of the last row kept.
fn page_cursor<T>(rows: &mut Vec<T>, limit: usize, key: impl Fn(&T) -> serde_json::Value) -> Option<String> {
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    }
}

pub fn get_patient(cx: &Context<'_>, args: &MrnArgs) -> Result<PatientRecord, ToolError> {
    cx.require(RecordKind::Patients)?;
    let p = cx.patient(&args.mrn)?;
    let identifiers =
        snapshot::identifiers(cx.conn, p.id)?.into_iter().map(|(system, value)| Identifier { system, value }).collect();
    let stays = if cx.role.allows(RecordKind::Panel) {
        snapshot::stays(cx.conn, p.id)?.iter().map(stay).collect()
    } else {
        Vec::new()
    };
    let latest_observations = if cx.role.allows(RecordKind::Observations) {
        snapshot::latest_observations(cx.conn, p.id)?.iter().map(observation).collect()
    } else {
        Vec::new()
    };
    let allows = |k| cx.role.allows(k);
    let problems = if allows(RecordKind::Problems) {
        snapshot::problems(cx.conn, p.id)?.iter().map(problem).collect()
    } else {
        Vec::new()
    };
    let allergies = if allows(RecordKind::Allergies) {
        snapshot::allergies(cx.conn, p.id)?.iter().map(allergy).collect()
    } else {
        Vec::new()
    };
    let active_medications = if allows(RecordKind::Medications) {
        snapshot::medications(cx.conn, p.id, false, None)?.iter().map(medication).collect()
    } else {
        Vec::new()
    };
    let documents = if allows(RecordKind::Documents) {
        snapshot::documents(cx.conn, p.id, None, 0, PATIENT_DOCUMENTS)?.iter().map(document_summary).collect()
    } else {
        Vec::new()
    };
    let withheld: Vec<String> = RecordKind::ALL
        .into_iter()
        .filter(|k| *k != RecordKind::Patients && !cx.role.allows(*k))
        .map(|k| k.as_str().to_string())
        .collect();
    Ok(PatientRecord {
        snapshot: cx.snapshot_info()?,
        patient: Demographics {
            name: display_name(&p.family_name, &p.given_name),
            mrn: p.mrn.clone(),
            family_name: p.family_name.clone(),
            given_name: p.given_name.clone(),
            birth_date: p.birth_date.clone(),
            sex: p.sex.clone(),
            identifiers,
            stays,
            freshness: freshness(&p.provenance),
        },
        problems,
        allergies,
        active_medications,
        latest_observations,
        documents,
        withheld,
        notes: vec![
            ONLY_WHAT_WAS_EXPORTED.to_string(),
            format!("documents: the {PATIENT_DOCUMENTS} newest; get_documents pages through all"),
        ],
    })
}

pub fn get_observations(cx: &Context<'_>, args: &ObservationsArgs) -> Result<ObservationList, ToolError> {
    cx.require(RecordKind::Observations)?;
    let p = cx.patient(&args.mrn)?;
    let since = args.since.as_deref().map(|s| check_time("since", s)).transpose()?;
    if let Some(code) = &args.code {
        check_text("code", code)?;
    }
    let limit = cx.limit(args.limit)?;
    let after = args.cursor.as_deref().map(decode_cursor::<(String, i64)>).transpose()?;
    let mut rows = snapshot::observations(
        cx.conn,
        &snapshot::ObservationQuery {
            patient_id: p.id,
            since: since.as_deref(),
            code: args.code.as_deref(),
            after,
            limit: limit + 1,
        },
    )?;
    let next_cursor =
        page_cursor(&mut rows, limit, |o| serde_json::json!([o.observed_at.clone().unwrap_or_default(), o.id]));
    let mut notes = Vec::new();
    if rows.is_empty() {
        notes.push("no result matches".to_string());
    }
    Ok(ObservationList {
        snapshot: cx.snapshot_info()?,
        mrn: p.mrn,
        observations: rows.iter().map(observation).collect(),
        next_cursor,
        notes,
    })
}

pub fn get_medications(cx: &Context<'_>, args: &MedicationsArgs) -> Result<MedicationList, ToolError> {
    cx.require(RecordKind::Medications)?;
    let p = cx.patient(&args.mrn)?;
    let limit = cx.limit(args.limit)?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let all = snapshot::medications(cx.conn, p.id, args.include_inactive.unwrap_or(false), None)?;
    let (medications, next_cursor) = page_by_offset(all.iter().map(medication).collect(), offset, limit);
    let mut notes = vec![ONLY_WHAT_WAS_EXPORTED.to_string()];
    if !args.include_inactive.unwrap_or(false) {
        notes.push("active and held orders only; include_inactive shows stopped ones".into());
    }
    Ok(MedicationList { snapshot: cx.snapshot_info()?, mrn: p.mrn, medications, next_cursor, notes })
}

/// One page of an already-ordered list, and the cursor of the next.
fn page_by_offset<T>(all: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, Option<String>) {
    let total = all.len();
    let page: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
    let next = (offset + page.len() < total).then(|| encode_cursor(&serde_json::json!(offset + page.len())));
    (page, next)
}

pub fn get_documents(cx: &Context<'_>, args: &DocumentsArgs) -> Result<DocumentList, ToolError> {
    cx.require(RecordKind::Documents)?;
    let p = cx.patient(&args.mrn)?;
    let limit = cx.limit(args.limit)?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let mut rows = snapshot::documents(cx.conn, p.id, None, offset, limit + 1)?;
    let next_cursor = (rows.len() > limit).then(|| encode_cursor(&serde_json::json!(offset + limit)));
    rows.truncate(limit);
    Ok(DocumentList {
        snapshot: cx.snapshot_info()?,
        mrn: p.mrn,
        documents: rows.iter().map(document_summary).collect(),
        next_cursor,
        notes: vec![ONLY_WHAT_WAS_EXPORTED.to_string(), "read_document gives a document's full text".into()],
    })
}

pub fn read_document(cx: &Context<'_>, args: &ReadDocumentArgs) -> Result<Document, ToolError> {
    cx.require(RecordKind::Documents)?;
    check_text("document_id", &args.document_id)?;
    let (row, text, addenda) = snapshot::document(cx.conn, &args.document_id)?
        .ok_or_else(|| ToolError::UnknownDocument(args.document_id.clone()))?;
    Ok(Document {
        snapshot: cx.snapshot_info()?,
        mrn: row.mrn.clone(),
        document: document_summary(&row),
        text,
        addenda,
        untrusted_fields: vec!["text".into()],
    })
}

/// User words → an FTS5 query that matches all of them, each quoted (no FTS syntax gets through).
fn fts_query(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(16)
        .map(|t| format!("\"{t}\""))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

pub fn search_documents(cx: &Context<'_>, args: &SearchArgs) -> Result<SearchResults, ToolError> {
    cx.require(RecordKind::Documents)?;
    check_text("query", &args.query)?;
    let patient_id = args.mrn.as_deref().map(|m| cx.patient(m)).transpose()?.map(|p| p.id);
    let limit = cx.limit(args.limit)?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let fts = fts_query(&args.query).ok_or_else(|| ToolError::Invalid("query", "needs at least one word".into()))?;
    let mut rows = snapshot::search_documents(cx.conn, &fts, patient_id, offset, limit + 1)?;
    let next_cursor = (rows.len() > limit).then(|| encode_cursor(&serde_json::json!(offset + limit)));
    rows.truncate(limit);
    let mut notes = vec![ONLY_WHAT_WAS_EXPORTED.to_string()];
    if rows.is_empty() {
        notes.push("no document contains all of these words".into());
    }
    Ok(SearchResults {
        snapshot: cx.snapshot_info()?,
        query: args.query.clone(),
        results: rows
            .iter()
            .map(|(d, snippet)| SearchHit {
                document: document_summary(d),
                mrn: d.mrn.clone(),
                snippet: snippet.clone(),
            })
            .collect(),
        next_cursor,
        notes,
    })
}

pub fn panel_changes(cx: &Context<'_>, args: &PanelChangesArgs) -> Result<PanelChanges, ToolError> {
    cx.require(RecordKind::Panel)?;
    cx.require(RecordKind::Patients)?;
    let (since, since_basis) = match &args.since {
        Some(s) => (Some(check_time("since", s)?), "argument"),
        None => match snapshot::export_runs(cx.conn, 2)?.get(1) {
            Some(previous) => (Some(previous.clone()), "previous export run"),
            None => (None, "no previous export run"),
        },
    };
    let limit = cx.limit(args.limit)?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let with_results = cx.role.allows(RecordKind::Observations);
    let after = |t: &Option<String>| match (t, &since) {
        (Some(t), Some(s)) => t > s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let mut changes = Vec::new();
    for entry in snapshot::panel_with_recent_leavers(cx.conn, since.as_deref())? {
        let s = &entry.stay;
        let mut events = Vec::new();
        let event = |kind: &str, trigger: &[&str], at: &Option<String>| StayEvent {
            kind: kind.into(),
            event: s.last_event.clone().filter(|e| trigger.is_empty() || trigger.contains(&e.as_str())),
            at: at.clone(),
            location: s.location.clone(),
            attending: s.attending.clone(),
            freshness: freshness(&s.provenance),
        };
        if after(&s.admitted_at) {
            events.push(event("admission", &["A01", "A04"], &s.admitted_at));
        }
        if s.active == Some(false) && after(&s.discharged_at) {
            events.push(event("discharge", &["A03"], &s.discharged_at));
        }
        if after(&s.last_event_at) && !matches!(s.last_event.as_deref(), Some("A01" | "A03" | "A04")) {
            events.push(event("update", &[], &s.last_event_at));
        }
        let mut new_results: Vec<Observation> = if with_results {
            snapshot::observations_new_since(cx.conn, entry.patient.id, since.as_deref())?
                .iter()
                .map(observation)
                .collect()
        } else {
            Vec::new()
        };
        new_results.sort_by_key(severity);
        let abnormal_results = new_results.iter().filter(|o| severity(o) < 2).count();
        let new_documents: Vec<DocumentSummary> = if cx.role.allows(RecordKind::Documents) {
            snapshot::documents(cx.conn, entry.patient.id, since.as_deref(), 0, PATIENT_DOCUMENTS)?
                .iter()
                .map(document_summary)
                .collect()
        } else {
            Vec::new()
        };
        let medication_changes: Vec<Medication> = if cx.role.allows(RecordKind::Medications) {
            snapshot::medications(cx.conn, entry.patient.id, true, since.as_deref())?.iter().map(medication).collect()
        } else {
            Vec::new()
        };
        if events.is_empty() && new_results.is_empty() && new_documents.is_empty() && medication_changes.is_empty() {
            continue;
        }
        changes.push(PatientChanges {
            mrn: entry.patient.mrn.clone(),
            name: display_name(&entry.patient.family_name, &entry.patient.given_name),
            location: s.location.clone(),
            on_panel: s.active == Some(true),
            events,
            new_results,
            abnormal_results,
            new_documents,
            medication_changes,
        });
    }
    changes.sort_by_key(|c| {
        let critical = c.new_results.iter().filter(|o| severity(o) == 0).count();
        (std::cmp::Reverse(critical), std::cmp::Reverse(c.abnormal_results))
    });
    let total = changes.len();
    let patients: Vec<PatientChanges> = changes.into_iter().skip(offset).take(limit).collect();
    let next_cursor =
        (offset + patients.len() < total).then(|| encode_cursor(&serde_json::json!(offset + patients.len())));
    let mut notes = vec![ONLY_WHAT_WAS_EXPORTED.to_string()];
    if !with_results {
        notes.push(format!("results withheld: role {:?} may not read observations", cx.role.name));
    }
    Ok(PanelChanges {
        snapshot: cx.snapshot_info()?,
        since,
        since_basis: since_basis.into(),
        patients,
        next_cursor,
        notes,
    })
}
