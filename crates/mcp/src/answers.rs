//! Building answers: arguments in, DTOs out, from one read-only connection inside one read
//! transaction (so an answer never mixes two states of the snapshot). No rmcp here.

use crate::dto::*;
use crate::render::{Render, Renderer};
use crate::trends::{self, Severity};
use chrono::{DateTime, Utc};
use ingest_config::{Config, RecordKind, Role};
use ingest_store::{FileStatus, View, read, snapshot};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    #[error("the answer would be over the size limit; narrow the question (a patient, a code, a shorter period)")]
    TooLarge,
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
            ToolError::TooLarge => "answer_too_large",
        }
    }
}

impl From<ingest_store::Error> for ToolError {
    fn from(e: ingest_store::Error) -> Self {
        ToolError::Snapshot(e.to_string())
    }
}

/// What every answer needs besides its arguments.
#[derive(Debug)]
pub struct Context<'a> {
    pub db: View<'a>,
    pub config: &'a Config,
    pub role: &'a Role,
    pub now: DateTime<Utc>,
}

/// Said with empty lists: absence in the snapshot is not absence in the chart.
pub(super) const ONLY_WHAT_WAS_EXPORTED: &str = "only what the EHR's exports carry is here (HL7 v2, CSV reports, PDF notes): an empty list does not mean the patient has none";

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
    /// Only this code, e.g. the LOINC `2823-3`: its results one by one, newest first.
    pub code: Option<String>,
    /// Without `code`: one trend line per code (the default, true), or every result (false).
    pub summary: Option<bool>,
    /// Page size of results (default 50); pages are also cut by the answer budget.
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationsArgs {
    pub mrn: String,
    /// Include stopped, completed and unlisted orders (default: current orders only).
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
    /// `next_cursor` of the previous page of a long text.
    pub cursor: Option<String>,
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

pub use crate::digest::PanelChangesArgs;

/// The longest text argument accepted (MRNs, codes, queries, cursors).
/// The longest text argument read (an MRN, a code, an id, search words, a location).
pub const MAX_ARG: usize = 256;
/// The longest cursor this server gives out is far shorter; a longer one is not ours.
pub const MAX_CURSOR: usize = 1024;

pub(super) fn check_text(name: &'static str, value: &str) -> Result<(), ToolError> {
    if value.is_empty() || value.chars().count() > MAX_ARG || value.chars().any(char::is_control) {
        return Err(ToolError::Invalid(name, format!("must be 1 to {MAX_ARG} printable characters")));
    }
    Ok(())
}

pub(super) fn check_time(name: &'static str, value: &str) -> Result<String, ToolError> {
    ingest_core::time::parse_rfc3339(value).map(ingest_core::time::rfc3339).ok_or_else(|| {
        ToolError::Invalid(name, format!("{value:?} is not an RFC 3339 time such as 2026-11-24T05:00:00Z"))
    })
}

impl Context<'_> {
    /// The answer budget in bytes (of the text and of the JSON, each).
    fn budget_bytes(&self) -> usize {
        super::budget::bytes_for(self.config.mcp.answer_budget)
    }

    /// The most leading items (of `max`) that `page(n)` can hold within the answer budget, in its
    /// JSON and in its text rendering; at least one, so that paging always moves on.
    pub(super) fn fitting<T: Serialize + Render>(
        &self,
        max: usize,
        page: impl Fn(usize) -> T,
    ) -> Result<usize, ToolError> {
        let fits = |n: usize| self.fits(&page(n));
        Ok(super::budget::largest_fitting(max, fits).max(max.min(1)))
    }

    /// Whether an answer is within the budget, in its JSON and in its text.
    pub(super) fn fits<T: Serialize + Render>(&self, answer: &T) -> bool {
        let json = super::untrusted::answer_json(answer).map_or(usize::MAX, |j| j.to_string().len());
        json.max(answer.render(&Renderer { zone: self.config.zone }).len()) <= self.budget_bytes()
    }

    /// How a result reads, with the configured critical limits.
    pub(super) fn severity(&self, o: &snapshot::ObservationRow) -> Severity {
        let (flag, _) = flag(o);
        trends::severity(&o.code, flag.as_deref(), o.numeric_value, &self.config.mcp.critical)
    }

    pub(super) fn observation(&self, o: &snapshot::ObservationRow) -> Observation {
        let mut answer = observation(o);
        (answer.abnormal_flag, answer.flag_from_range) = flag(o);
        answer.critical = self.severity(o) == Severity::Critical;
        answer
    }

    /// A medication order as it stands now: an order called active whose end has passed reads
    /// `completed` (and keeps what the export said in `exported_status`).
    fn medication(&self, m: &snapshot::MedicationRow) -> Medication {
        let mut answer = medication(m);
        let ended = m.end_at.as_deref().and_then(ingest_core::time::parse_rfc3339).is_some_and(|end| end <= self.now);
        if ended && m.status.as_deref().is_none_or(|s| s == "active") {
            answer.exported_status = answer.status.replace("completed".into());
        }
        answer
    }

    pub(super) fn limit(&self, asked: Option<usize>) -> Result<usize, ToolError> {
        let max = self.config.mcp.max_page_size;
        match asked {
            None => Ok(self.config.mcp.page_size),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(ToolError::Invalid("limit", format!("must be between 1 and {max}"))),
        }
    }

    pub(super) fn require(&self, kind: RecordKind) -> Result<(), ToolError> {
        if self.role.allows(kind) {
            Ok(())
        } else {
            Err(ToolError::Refused { role: self.role.name.clone(), what: format!("read {}", kind.as_str()) })
        }
    }

    fn patient(&self, mrn: &str) -> Result<snapshot::PatientRow, ToolError> {
        check_text("mrn", mrn)?;
        snapshot::patient(self.db, mrn)?.ok_or_else(|| ToolError::UnknownMrn(mrn.to_string()))
    }

    /// The snapshot's freshness: as of the newest ingest; stale when a source missed the deadline
    /// of its `expected` export (or, without one, its newest export is older than `stale_after`),
    /// or it never delivered one. See `ingest_core::schedule`.
    pub fn snapshot_info(&self) -> Result<SnapshotInfo, ToolError> {
        snapshot_of(self.db, self.config, self.now)
    }

    fn sources(&self) -> Result<Vec<SourceInfo>, ToolError> {
        sources(self.db, self.config, self.now)
    }
}

/// How current the snapshot is, for any answer (errors included).
pub fn snapshot_of(db: View<'_>, config: &Config, now: DateTime<Utc>) -> Result<SnapshotInfo, ToolError> {
    let sources = sources(db, config, now)?;
    Ok(SnapshotInfo {
        as_of: snapshot::as_of(db)?,
        stale: sources.iter().any(|s| s.stale),
        stale_reasons: sources.iter().filter_map(|s| s.stale_reason.clone()).collect(),
    })
}

fn sources(db: View<'_>, config: &Config, now: DateTime<Utc>) -> Result<Vec<SourceInfo>, ToolError> {
    let configured: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let statuses = read::sources(db, &configured)?;
    let health = ingest_store::health::load_all(db)?;
    Ok(statuses
        .into_iter()
        .map(|s| {
            let health = health.get(&s.name);
            let last = s.last_export_at.as_deref().and_then(ingest_core::time::parse_rfc3339);
            let freshness =
                ingest_core::health::freshness(config.freshness_rule(&s.name), &s.name, last, health, now, config.zone);
            let hold_limit = config.source(&s.name).filter(|c| c.run_marker.is_some()).map(|c| c.hold_limit);
            let n = |status: FileStatus| s.files.get(status.as_str()).copied().unwrap_or(0);
            SourceInfo {
                stale: freshness.stale.is_some(),
                stale_reason: freshness.stale,
                files_ingested: n(FileStatus::Ingested) + n(FileStatus::IngestedWithRejects),
                files_duplicate: n(FileStatus::Duplicate),
                files_quarantined: n(FileStatus::Quarantined),
                records_rejected: s.rejects,
                fields_left_empty: s.field_warnings,
                export_time_warnings: s
                    .export_time_warnings
                    .iter()
                    .map(|w| format!("file #{} (export time {}): {}", w.file_id, w.exported_at, w.warning))
                    .collect(),
                next_expected_at: freshness.next_deadline.map(ingest_core::time::rfc3339),
                health_problems: health
                    .map(|h| h.problems_for_assistant(config.zone, now, hold_limit))
                    .unwrap_or_default()
                    .into_iter()
                    .chain(ingest_core::health::recently_quarantined(&s.quarantined_at(), now, config.zone))
                    .collect(),
                name: s.name,
                last_export_at: s.last_export_at,
                last_ingested_at: s.last_ingested_at,
            }
        })
        .collect())
}

pub(super) fn freshness(p: &snapshot::Provenance) -> Freshness {
    Freshness {
        exported_at: p.exported_at.clone(),
        ingested_at: p.ingested_at.clone(),
        source: p.source.clone(),
        source_file: p.source_file.clone(),
    }
}

pub(super) fn display_name(family: &Option<String>, given: &Option<String>) -> Option<ClinicalText> {
    match (family, given) {
        (Some(f), Some(g)) => Some(ClinicalText::new(format!("{f}, {g}"))),
        (Some(f), None) => Some(ClinicalText::new(f.as_str())),
        (None, Some(g)) => Some(ClinicalText::new(g.as_str())),
        (None, None) => None,
    }
}

/// A result's abnormal flag: the export's, else (for a number with a written reference range) the
/// value against that range; and whether it came from the range.
fn flag(o: &snapshot::ObservationRow) -> (Option<String>, bool) {
    let exported = o.abnormal_flag.as_deref().map(str::trim).filter(|f| !f.is_empty());
    match (exported, o.numeric_value, o.reference_range.as_deref()) {
        (Some(flag), _, _) => (Some(flag.to_string()), false),
        (None, Some(value), Some(range)) => match trends::range_flag(value, range) {
            Some(flag) => (Some(flag.to_string()), true),
            None => (None, false),
        },
        _ => (None, false),
    }
}

fn observation(o: &snapshot::ObservationRow) -> Observation {
    Observation {
        code: o.code.clone(),
        code_system: o.code_system.clone(),
        name: ClinicalText::opt(&o.name),
        value: o.value.as_deref().map(ResultValue::of),
        value_type: o.value_type.clone(),
        numeric_value: o.numeric_value,
        unit: o.unit.clone(),
        reference_range: ClinicalText::opt(&o.reference_range),
        abnormal_flag: o.abnormal_flag.clone(),
        flag_from_range: false,
        critical: false,
        status: o.status.clone(),
        observed_at: o.observed_at.clone(),
        resulted_at: o.resulted_at.clone(),
        order_id: o.order_id.clone(),
        comment: ClinicalText::opt(&o.comment),
        previous: None,
        earlier: Vec::new(),
        freshness: freshness(&o.provenance),
    }
}

fn medication(m: &snapshot::MedicationRow) -> Medication {
    Medication {
        name: ClinicalText::new(m.name.as_str()),
        code: m.code.clone(),
        code_system: m.code_system.clone(),
        order_id: m.order_id.clone(),
        dose: ClinicalText::opt(&m.dose),
        route: ClinicalText::opt(&m.route),
        frequency: ClinicalText::opt(&m.frequency),
        status: m.status.clone(),
        exported_status: None,
        start_at: m.start_at.clone(),
        end_at: m.end_at.clone(),
        freshness: freshness(&m.provenance),
    }
}

fn problem(p: &snapshot::ProblemRow) -> Problem {
    Problem {
        code: p.code.clone(),
        code_system: p.code_system.clone(),
        description: ClinicalText::new(p.description.as_str()),
        status: p.status.clone(),
        onset_at: p.onset_at.clone(),
        resolved_at: p.resolved_at.clone(),
        origin: p.origin.clone(),
        freshness: freshness(&p.provenance),
    }
}

fn allergy(a: &snapshot::AllergyRow) -> Allergy {
    Allergy {
        allergen: ClinicalText::new(a.allergen.as_str()),
        code: a.code.clone(),
        code_system: a.code_system.clone(),
        allergy_type: a.allergy_type.clone(),
        reaction: ClinicalText::opt(&a.reaction),
        severity: ClinicalText::opt(&a.severity),
        identified_at: a.identified_at.clone(),
        freshness: freshness(&a.provenance),
    }
}

pub(super) fn document_summary(d: &snapshot::DocumentRow) -> DocumentSummary {
    DocumentSummary {
        document_id: d.document_id.clone(),
        doc_type: ClinicalText::opt(&d.doc_type),
        title: ClinicalText::opt(&d.title),
        authored_at: d.authored_at.clone(),
        author: ClinicalText::opt(&d.author),
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
        attending: ClinicalText::opt(&s.attending),
        visit_number: s.visit_number.clone(),
        admitted_at: s.admitted_at.clone(),
        discharged_at: s.discharged_at.clone(),
        last_event: s.last_event.clone(),
        last_event_at: s.last_event_at.clone(),
        admission_seen: s.admission_seen,
        census_notes: ClinicalText::opt(&s.census_notes),
        census_notes_at: s.census_notes_at.clone(),
        freshness: freshness(&s.provenance),
    }
}

/// Cursors are opaque to the client: hex of a small JSON array.
pub(super) fn encode_cursor(parts: &serde_json::Value) -> String {
    parts.to_string().bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn decode_cursor<T: serde::de::DeserializeOwned>(cursor: &str) -> Result<T, ToolError> {
    let invalid = || ToolError::Invalid("cursor", "not a cursor this server gave out".into());
    if cursor.len() > MAX_CURSOR || !cursor.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> =
        (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect();
    serde_json::from_slice(&bytes.ok_or_else(invalid)?).map_err(|_| invalid())
}

pub fn snapshot_status(cx: &Context<'_>) -> Result<SnapshotStatus, ToolError> {
    let sources = cx.sources()?;
    let counts = read::counts(cx.db)?;
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
    let rows = snapshot::panel(
        cx.db,
        &snapshot::PanelQuery {
            location: args.location.as_deref(),
            attending: args.attending.as_deref(),
            after,
            limit: limit + 1,
        },
    )?;
    let patients: Vec<PanelPatient> = rows
        .iter()
        .map(|e| PanelPatient {
            mrn: e.patient.mrn.clone(),
            name: display_name(&e.patient.family_name, &e.patient.given_name),
            birth_date: e.patient.birth_date.clone(),
            sex: e.patient.sex.clone(),
            location: e.stay.location.clone(),
            attending: ClinicalText::opt(&e.stay.attending),
            admitted_at: e.stay.admitted_at.clone(),
            admission_seen: e.stay.admission_seen,
            census_notes: ClinicalText::opt(&e.stay.census_notes),
            census_notes_at: e.stay.census_notes_at.clone(),
            panel_source: e.stay.source.clone(),
            freshness: freshness(&e.stay.provenance),
        })
        .collect();
    let mut notes = Vec::new();
    if patients.is_empty() {
        notes.push("no patient on the panel matches".to_string());
    }
    let snapshot = cx.snapshot_info()?;
    let page = |n: usize| PanelList {
        snapshot: snapshot.clone(),
        patients: patients[..n].to_vec(),
        next_cursor: (n < patients.len()).then(|| {
            let last = &patients[n - 1];
            encode_cursor(&serde_json::json!([last.location.clone().unwrap_or_default(), last.mrn]))
        }),
        notes: notes.clone(),
    };
    let n = cx.fitting(patients.len().min(limit), page)?;
    Ok(page(n))
}

/// Each code's results, newest first, as the snapshot holds them (withdrawn ones left out).
fn results_by_code(cx: &Context<'_>, patient_id: i64) -> Result<Vec<Vec<Observation>>, ToolError> {
    let rows = snapshot::results_by_code(cx.db, patient_id)?;
    Ok(rows.chunk_by(|a, b| a.code == b.code).map(|same| same.iter().map(|o| cx.observation(o)).collect()).collect())
}

/// Newest per code with the one before it: critical first, then abnormal, then by code.
fn latest_with_previous(by_code: &[Vec<Observation>]) -> Vec<Observation> {
    let mut latest: Vec<Observation> = by_code
        .iter()
        .filter_map(|results| {
            let (newest, older) = results.split_first()?;
            Some(trends::with_history(newest.clone(), &older[..older.len().min(1)]))
        })
        .collect();
    latest.sort_by(|a, b| trends::of(a).cmp(&trends::of(b)).then_with(|| a.code.cmp(&b.code)));
    latest
}

pub fn get_patient(cx: &Context<'_>, args: &MrnArgs) -> Result<PatientRecord, ToolError> {
    cx.require(RecordKind::Patients)?;
    let p = cx.patient(&args.mrn)?;
    let identifiers: Vec<Identifier> =
        snapshot::identifiers(cx.db, p.id)?.into_iter().map(|(system, value)| Identifier { system, value }).collect();
    let allows = |k| cx.role.allows(k);
    let stays =
        if allows(RecordKind::Panel) { snapshot::stays(cx.db, p.id)?.iter().map(stay).collect() } else { Vec::new() };
    let latest =
        if allows(RecordKind::Observations) { latest_with_previous(&results_by_code(cx, p.id)?) } else { Vec::new() };
    let problems = if allows(RecordKind::Problems) {
        snapshot::problems(cx.db, p.id)?.iter().map(problem).collect()
    } else {
        Vec::new()
    };
    let allergies = if allows(RecordKind::Allergies) {
        snapshot::allergies(cx.db, p.id)?.iter().map(allergy).collect()
    } else {
        Vec::new()
    };
    let active_medications: Vec<Medication> = if allows(RecordKind::Medications) {
        snapshot::medications(cx.db, p.id, false, None)?
            .iter()
            .map(|m| cx.medication(m))
            .filter(|m| m.exported_status.is_none())
            .collect()
    } else {
        Vec::new()
    };
    let documents: Vec<DocumentSummary> = if allows(RecordKind::Documents) {
        snapshot::documents(cx.db, p.id, None, 0, PATIENT_DOCUMENTS)?.iter().map(document_summary).collect()
    } else {
        Vec::new()
    };
    let withheld: Vec<String> = RecordKind::ALL
        .into_iter()
        .filter(|k| *k != RecordKind::Patients && !cx.role.allows(*k))
        .map(|k| k.as_str().to_string())
        .collect();
    let abnormal = latest.iter().filter(|o| trends::of(o) != Severity::Normal).count();
    let snapshot = cx.snapshot_info()?;
    let record = |results: usize, docs: usize| {
        let mut omitted = Vec::new();
        if results < latest.len() {
            let left = latest.len() - results;
            let kind = if results >= abnormal { "normal " } else { "" };
            omitted.push(Omitted {
                what: format!("{left} {kind}latest results (of {})", latest.len()),
                call: format!("get_observations {{\"mrn\": {:?}}} (one trend line per code)", p.mrn),
            });
        }
        if docs < documents.len() {
            omitted.push(Omitted {
                what: format!("{} of the {} newest documents", documents.len() - docs, documents.len()),
                call: format!("get_documents {{\"mrn\": {:?}}}", p.mrn),
            });
        }
        PatientRecord {
            snapshot: snapshot.clone(),
            patient: Demographics {
                name: display_name(&p.family_name, &p.given_name),
                mrn: p.mrn.clone(),
                family_name: ClinicalText::opt(&p.family_name),
                given_name: ClinicalText::opt(&p.given_name),
                birth_date: p.birth_date.clone(),
                sex: p.sex.clone(),
                identifiers: identifiers.clone(),
                stays: stays.clone(),
                freshness: freshness(&p.provenance),
            },
            problems: problems.clone(),
            allergies: allergies.clone(),
            active_medications: active_medications.clone(),
            latest_observations: latest[..results].to_vec(),
            documents: documents[..docs].to_vec(),
            withheld: withheld.clone(),
            omitted,
            notes: vec![
                ONLY_WHAT_WAS_EXPORTED.to_string(),
                format!("documents: the {PATIENT_DOCUMENTS} newest; get_documents pages through all"),
            ],
        }
    };
    // Over the budget, normal results go first, then documents, then abnormal results.
    let all = (latest.len(), documents.len());
    let (results, docs) = if cx.fits(&record(all.0, all.1)) {
        all
    } else if cx.fits(&record(abnormal, all.1)) {
        (cx.fitting(all.0, |n| record(n.max(abnormal), all.1))?.max(abnormal), all.1)
    } else if cx.fits(&record(abnormal, 0)) {
        (abnormal, cx.fitting(all.1, |d| record(abnormal, d))?)
    } else {
        (cx.fitting(abnormal, |n| record(n, 0))?, 0)
    };
    Ok(record(results, docs))
}

pub fn get_observations(cx: &Context<'_>, args: &ObservationsArgs) -> Result<ObservationList, ToolError> {
    cx.require(RecordKind::Observations)?;
    let p = cx.patient(&args.mrn)?;
    let since = args.since.as_deref().map(|s| check_time("since", s)).transpose()?;
    if let Some(code) = &args.code {
        check_text("code", code)?;
    }
    let limit = cx.limit(args.limit)?;
    let snapshot = cx.snapshot_info()?;
    let in_period = |o: &Observation| since.as_deref().is_none_or(|s| o.observed_at.as_deref().is_some_and(|t| t >= s));
    let by_code = results_by_code(cx, p.id)?;
    if args.code.is_none() && args.summary != Some(false) {
        // One trend line per code, critical first, then abnormal, then by code.
        let mut trends: Vec<Trend> = by_code
            .iter()
            .filter_map(|results| {
                let period: Vec<Observation> = results.iter().filter(|o| in_period(o)).cloned().collect();
                let older = results.iter().skip_while(|o| in_period(o)).take(1);
                let mut t = trends::trend(&period)?;
                if t.count == 1 {
                    // The one before the period still gives the change.
                    t.latest = trends::with_history(t.latest.clone(), &older.cloned().collect::<Vec<_>>());
                }
                Some(t)
            })
            .collect();
        trends.sort_by(|a, b| {
            let rank = |t: &Trend| (t.critical == 0, trends::of(&t.latest), t.abnormal == 0);
            rank(a).cmp(&rank(b)).then_with(|| a.code.cmp(&b.code))
        });
        let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
        let rest: Vec<Trend> = trends.iter().skip(offset).take(limit).cloned().collect();
        let mut notes = vec![
            "one line per code: the latest result with the one before it; get_observations with \
                              `code` lists one code's results"
                .to_string(),
        ];
        if trends.is_empty() {
            notes.push("no result matches".into());
        }
        let page = |n: usize| ObservationList {
            snapshot: snapshot.clone(),
            mrn: p.mrn.clone(),
            trends: rest[..n].to_vec(),
            observations: Vec::new(),
            next_cursor: (offset + n < trends.len()).then(|| encode_cursor(&serde_json::json!(offset + n))),
            omitted: omitted_codes(offset + n, trends.len()),
            notes: notes.clone(),
        };
        let n = cx.fitting(rest.len(), page)?;
        return Ok(page(n));
    }
    let after = args.cursor.as_deref().map(decode_cursor::<(String, i64)>).transpose()?;
    let rows = snapshot::observations(
        cx.db,
        &snapshot::ObservationQuery {
            patient_id: p.id,
            since: since.as_deref(),
            code: args.code.as_deref(),
            after,
            limit: limit + 1,
        },
    )?;
    let by_code: HashMap<&str, &Vec<Observation>> =
        by_code.iter().filter_map(|r| Some((r.first()?.code.as_str(), r))).collect();
    let observations: Vec<(i64, Observation)> = rows
        .iter()
        .map(|row| {
            // The result of the same code just before this one.
            let same = |o: &&Observation| o.observed_at == row.observed_at && o.order_id == row.order_id;
            let older: Vec<Observation> = by_code
                .get(row.code.as_str())
                .and_then(|r| r.iter().skip_while(|o| !same(o)).nth(1))
                .into_iter()
                .cloned()
                .collect();
            (row.id, trends::with_history(cx.observation(row), &older))
        })
        .collect();
    let mut notes = Vec::new();
    if observations.is_empty() {
        notes.push("no result matches".to_string());
    }
    let page = |n: usize| ObservationList {
        snapshot: snapshot.clone(),
        mrn: p.mrn.clone(),
        trends: Vec::new(),
        observations: observations[..n].iter().map(|(_, o)| o.clone()).collect(),
        next_cursor: (n < observations.len()).then(|| {
            let (id, last) = &observations[n - 1];
            encode_cursor(&serde_json::json!([last.observed_at.clone().unwrap_or_default(), id]))
        }),
        omitted: Vec::new(),
        notes: notes.clone(),
    };
    let n = cx.fitting(observations.len().min(limit), page)?;
    Ok(page(n))
}

fn omitted_codes(shown: usize, total: usize) -> Vec<Omitted> {
    if shown >= total {
        return Vec::new();
    }
    vec![Omitted {
        what: format!("{} more codes (of {total})", total - shown),
        call: "get_observations with the same arguments and cursor = next_cursor".into(),
    }]
}

pub fn get_medications(cx: &Context<'_>, args: &MedicationsArgs) -> Result<MedicationList, ToolError> {
    cx.require(RecordKind::Medications)?;
    let p = cx.patient(&args.mrn)?;
    let limit = cx.limit(args.limit)?;
    let include_inactive = args.include_inactive.unwrap_or(false);
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let all: Vec<Medication> = snapshot::medications(cx.db, p.id, include_inactive, None)?
        .iter()
        .map(|m| cx.medication(m))
        .filter(|m| include_inactive || m.exported_status.is_none())
        .collect();
    let rest: Vec<Medication> = all.iter().skip(offset).take(limit).cloned().collect();
    let mut notes = vec![ONLY_WHAT_WAS_EXPORTED.to_string()];
    if !include_inactive {
        notes.push("current orders only (not discontinued, cancelled, completed, or gone from a complete medication list; an order past its end_at is completed); include_inactive shows the others".into());
    }
    let snapshot = cx.snapshot_info()?;
    let page = |n: usize| MedicationList {
        snapshot: snapshot.clone(),
        mrn: p.mrn.clone(),
        medications: rest[..n].to_vec(),
        next_cursor: (offset + n < all.len()).then(|| encode_cursor(&serde_json::json!(offset + n))),
        notes: notes.clone(),
    };
    let n = cx.fitting(rest.len(), page)?;
    Ok(page(n))
}

pub fn get_documents(cx: &Context<'_>, args: &DocumentsArgs) -> Result<DocumentList, ToolError> {
    cx.require(RecordKind::Documents)?;
    let p = cx.patient(&args.mrn)?;
    let limit = cx.limit(args.limit)?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let rows = snapshot::documents(cx.db, p.id, None, offset, limit + 1)?;
    let documents: Vec<DocumentSummary> = rows.iter().map(document_summary).collect();
    let snapshot = cx.snapshot_info()?;
    let page = |n: usize| DocumentList {
        snapshot: snapshot.clone(),
        mrn: p.mrn.clone(),
        documents: documents[..n].to_vec(),
        next_cursor: (n < documents.len()).then(|| encode_cursor(&serde_json::json!(offset + n))),
        notes: vec![ONLY_WHAT_WAS_EXPORTED.to_string(), "read_document gives a document's full text".into()],
    };
    let n = cx.fitting(documents.len().min(limit), page)?;
    Ok(page(n))
}

/// A long text is read in pieces of at most this many characters, cut at line ends where a line
/// allows.
const TEXT_PIECE: usize = 2_000;

/// The text's pieces: (start, end) character offsets.
fn text_pieces(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let hard_end = (start + TEXT_PIECE).min(chars.len());
        let end = if hard_end == chars.len() {
            hard_end
        } else {
            chars[start..hard_end].iter().rposition(|c| *c == '\n').map_or(hard_end, |i| start + i + 1)
        };
        pieces.push((start, end));
        start = end;
    }
    pieces
}

pub fn read_document(cx: &Context<'_>, args: &ReadDocumentArgs) -> Result<Document, ToolError> {
    cx.require(RecordKind::Documents)?;
    check_text("document_id", &args.document_id)?;
    let (row, text, addenda) = snapshot::document(cx.db, &args.document_id)?
        .ok_or_else(|| ToolError::UnknownDocument(args.document_id.clone()))?;
    let first = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let pieces = text_pieces(&text);
    if first > pieces.len() || (first > 0 && first == pieces.len()) {
        return Err(ToolError::Invalid("cursor", "not a cursor this server gave out".into()));
    }
    let text_chars = text.chars().count();
    let snapshot = cx.snapshot_info()?;
    let page = |n: usize| {
        let last = first + n;
        let (from, to) = match (pieces.get(first), last.checked_sub(1).and_then(|l| pieces.get(l))) {
            (Some((from, _)), Some((_, to))) => (*from, *to),
            _ => (0, 0),
        };
        Document {
            snapshot: snapshot.clone(),
            mrn: row.mrn.clone(),
            document: document_summary(&row),
            text: ClinicalText::new(text.chars().skip(from).take(to - from).collect::<String>()),
            addenda: addenda.clone(),
            text_chars,
            text_range: (from > 0 || to < text_chars).then_some([from, to]),
            next_cursor: (last < pieces.len()).then(|| encode_cursor(&serde_json::json!(last))),
        }
    };
    let n = cx.fitting(pieces.len() - first, page)?;
    Ok(page(n))
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
    let limit = cx.limit(args.limit.or(Some(SEARCH_PAGE)))?;
    let offset = args.cursor.as_deref().map(decode_cursor::<usize>).transpose()?.unwrap_or(0);
    let fts = fts_query(&args.query).ok_or_else(|| ToolError::Invalid("query", "needs at least one word".into()))?;
    let rows = snapshot::search_documents(cx.db, &fts, patient_id, offset, limit + 1)?;
    let hits: Vec<SearchHit> = rows
        .iter()
        .map(|(d, snippet)| SearchHit {
            document: document_summary(d),
            mrn: d.mrn.clone(),
            snippet: ClinicalText::new(snippet.as_str()),
        })
        .collect();
    let mut notes = vec![ONLY_WHAT_WAS_EXPORTED.to_string()];
    if hits.is_empty() {
        notes.push("no document contains all of these words".into());
    }
    let snapshot = cx.snapshot_info()?;
    let page = |n: usize| SearchResults {
        snapshot: snapshot.clone(),
        query: args.query.clone(),
        results: hits[..n].to_vec(),
        next_cursor: (n < hits.len()).then(|| encode_cursor(&serde_json::json!(offset + n))),
        notes: notes.clone(),
    };
    let n = cx.fitting(hits.len().min(limit), page)?;
    Ok(page(n))
}

/// Search hits per page unless `limit` says otherwise: pointers to documents, not the documents.
const SEARCH_PAGE: usize = 10;

pub use crate::digest::panel_changes;

#[cfg(test)]
mod tests;
