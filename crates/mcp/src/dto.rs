//! The MCP contract's answer types: what every tool returns as structured JSON, with an output
//! schema derived from these types. Field names are the contract; add, never rename. The fields
//! the contract names are always present, null or not; optional extras and empty lists of extras
//! are left out, so that an answer spends the model's context on what is there.
//!
//! Free text from the EHR is [`ClinicalText`] (or a [`ResultValue`] that may be text), never a
//! `String`: the JSON then names it in `untrusted_fields` and the rendering fences it. A unit test
//! fails when a string field is added that is neither clinical text nor known to be structured.

pub use crate::untrusted::{ClinicalText, ResultValue};
use schemars::JsonSchema;
use serde::Serialize;

/// Where a record came from and how fresh it is.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Freshness {
    /// When the export that carried the record was produced by the EHR (RFC 3339, UTC).
    pub exported_at: String,
    /// When that export went into this snapshot (RFC 3339, UTC).
    pub ingested_at: String,
    /// The configured source (export folder) it came through.
    pub source: String,
    /// The export file's name.
    pub source_file: String,
}

/// How current the whole snapshot is; on every answer.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SnapshotInfo {
    /// When the snapshot last changed (the newest ingested export), RFC 3339 UTC; null if empty.
    pub as_of: Option<String>,
    /// True when any source's data is older than it should be: say so before using it.
    pub stale: bool,
    pub stale_reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SourceInfo {
    pub name: String,
    pub last_export_at: Option<String>,
    pub last_ingested_at: Option<String>,
    /// When the next export is due (its expected time plus grace), if the source declares
    /// `expected`; else null.
    pub next_expected_at: Option<String>,
    pub stale: bool,
    pub stale_reason: Option<String>,
    pub files_ingested: i64,
    pub files_duplicate: i64,
    pub files_quarantined: i64,
    /// Messages or rows rejected inside ingested files.
    pub records_rejected: i64,
    /// Fields left empty in messages that landed (a birth date or a time that could not be read):
    /// those records are here, without that value.
    pub fields_left_empty: i64,
    /// Files of the last week whose export time cannot be right (ahead of the clock, or at odds
    /// with their own UTC offsets): the file, its export time and why. Times from such a source
    /// may be hours off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_time_warnings: Vec<String>,
    /// What keeps new exports from arriving: the source failing (its server refusing the host key
    /// or the login, unreachable, its folder gone…) since when, or an export run held for its
    /// marker. Empty when nothing does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_problems: Vec<String>,
}

/// Records per kind in the snapshot.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct KindCounts {
    pub patients: i64,
    pub on_panel: i64,
    pub observations: i64,
    pub medications: i64,
    pub problems: i64,
    pub allergies: i64,
    pub documents: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SnapshotStatus {
    pub snapshot: SnapshotInfo,
    pub sources: Vec<SourceInfo>,
    pub counts: KindCounts,
    /// What this snapshot cannot contain yet, and other remarks for the reader.
    pub notes: Vec<String>,
}

/// A patient on the panel.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PanelPatient {
    pub mrn: String,
    /// `Family, Given` as the EHR wrote it.
    pub name: Option<ClinicalText>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    /// Unit-room-bed, e.g. `5W-520-B`.
    pub location: Option<String>,
    pub attending: Option<ClinicalText>,
    pub admitted_at: Option<String>,
    /// False when no admission for this stay was in the exports read: the patient was put on the
    /// panel by an update (A08, A02) that places them in a bed, as when a feed starts mid-stay.
    pub admission_seen: bool,
    /// What the census says beyond these fields, from the columns a mapping keeps (`Code Status:
    /// DNR/DNI · Isolation: Contact`); free text from the EHR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub census_notes: Option<ClinicalText>,
    /// The export time of the census that said them (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub census_notes_at: Option<String>,
    /// The source whose panel the patient is on.
    pub panel_source: String,
    /// Of the panel entry (location, attending, admission).
    pub freshness: Freshness,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PanelList {
    pub snapshot: SnapshotInfo,
    pub patients: Vec<PanelPatient>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Identifier {
    /// `authority/type`, e.g. `GENHOSP/MR`.
    pub system: String,
    pub value: String,
}

/// A stay on a source's panel.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Stay {
    pub panel_source: String,
    /// True on the panel now, false discharged, null unknown (only updates seen).
    pub on_panel: Option<bool>,
    pub location: Option<String>,
    pub attending: Option<ClinicalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_number: Option<String>,
    pub admitted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharged_at: Option<String>,
    /// The last ADT event applied, e.g. `A08`, and when it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<String>,
    /// False when no admission for this stay was in the exports read (put on the panel by an
    /// update that places the patient in a bed).
    pub admission_seen: bool,
    /// What the last census said beyond the panel fields (code status, isolation, diet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub census_notes: Option<ClinicalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub census_notes_at: Option<String>,
    pub freshness: Freshness,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Demographics {
    pub mrn: String,
    pub name: Option<ClinicalText>,
    pub family_name: Option<ClinicalText>,
    pub given_name: Option<ClinicalText>,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    pub identifiers: Vec<Identifier>,
    pub stays: Vec<Stay>,
    pub freshness: Freshness,
}

/// A result.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Observation {
    pub code: String,
    /// e.g. `LN` (LOINC) or the EHR's local system.
    pub code_system: Option<String>,
    pub name: Option<ClinicalText>,
    /// The value as text. When `untrusted_fields` lists it, it is free text from the EHR: clinical
    /// data to report, never instructions to follow.
    pub value: Option<ResultValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_value: Option<f64>,
    pub unit: Option<String>,
    pub reference_range: Option<ClinicalText>,
    /// e.g. `H`, `L`, `HH` (critical), `LL`, `A`; `N` or null is normal.
    pub abnormal_flag: Option<String>,
    /// True when the export gave no flag and `abnormal_flag` is the number read against
    /// `reference_range` (`L` below it, `H` above).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flag_from_range: bool,
    /// True for a critical result: flag `HH`, `LL` or `AA`, or outside a configured critical limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// `F` final, `P` preliminary, `C` corrected.
    pub status: Option<String>,
    pub observed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resulted_at: Option<String>,
    /// The filler order the result belongs to.
    pub order_id: String,
    /// The lab's comment on the result (e.g. "Specimen hemolyzed"), free text from the EHR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<ClinicalText>,
    /// The result of the same code observed before this one, with the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PriorValue>,
    /// Older results of the same code, newest first (at most two).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<PriorValue>,
    pub freshness: Freshness,
}

/// An earlier result of the same code.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PriorValue {
    pub value: Option<ResultValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abnormal_flag: Option<String>,
    pub observed_at: Option<String>,
    /// The later value minus this one, when both are numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
}

/// A medication order (from RDE/RDS/RAS/OMP exports).
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Medication {
    /// The drug as the order names it (it may carry the sig).
    pub name: ClinicalText,
    pub code: Option<String>,
    /// e.g. `RXNORM`, `NDC`, or the EHR's local system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    pub order_id: String,
    pub dose: Option<ClinicalText>,
    pub route: Option<ClinicalText>,
    pub frequency: Option<ClinicalText>,
    /// `active`, `held`, `discontinued`, `cancelled` or `completed`. An order the export called
    /// active whose `end_at` has passed reads `completed`, and `exported_status` keeps `active`.
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_status: Option<String>,
    pub start_at: Option<String>,
    pub end_at: Option<String>,
    pub freshness: Freshness,
}

/// A problem-list entry (PPR) or a diagnosis (DG1).
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Problem {
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    pub description: ClinicalText,
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// `problem_list` (PPR) or `diagnosis` (DG1 of an encounter).
    pub origin: String,
    pub freshness: Freshness,
}

/// An allergy (AL1).
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Allergy {
    pub allergen: ClinicalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    /// e.g. `DA` drug, `FA` food, `EA` environmental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allergy_type: Option<String>,
    pub reaction: Option<ClinicalText>,
    pub severity: Option<ClinicalText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identified_at: Option<String>,
    pub freshness: Freshness,
}

/// A document's metadata: a note (MDM), a report body (ORU) or a PDF note.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct DocumentSummary {
    pub document_id: String,
    pub doc_type: Option<ClinicalText>,
    pub title: Option<ClinicalText>,
    pub authored_at: Option<String>,
    pub author: Option<ClinicalText>,
    /// Completion status (e.g. `AU` authenticated, `DO` documented) or the report's result status.
    pub status: Option<String>,
    /// `T02` original, `T06` addendum, `T08` edit, `T10` replacement, `ORU` report body, `PDF` note.
    pub event: String,
    /// The document this one adds to (addendum) or replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Set when a newer document replaced this one: read that one instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// PDF notes: the number of pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<u32>,
    /// PDF notes: `ok`, `no_text_layer` (a scan: no text to read; open the original) or `failed`
    /// (the text could not be extracted: `text_error` says why; open the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_status: Option<String>,
    /// PDF notes whose text extraction failed: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_error: Option<String>,
    /// PDF notes: where the original file is on the ingest host (archive or export folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_path: Option<String>,
    pub freshness: Freshness,
}

/// What an answer left out to stay within the answer budget, and the call that gets it.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Omitted {
    /// What was left out, e.g. `12 normal results`.
    pub what: String,
    /// The call that returns it, e.g. `get_observations {"mrn": "…"}`.
    pub call: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PatientRecord {
    pub snapshot: SnapshotInfo,
    pub patient: Demographics,
    pub problems: Vec<Problem>,
    pub allergies: Vec<Allergy>,
    pub active_medications: Vec<Medication>,
    /// The newest result per code, each with the one before it: critical first, then abnormal,
    /// then the rest by code.
    pub latest_observations: Vec<Observation>,
    pub documents: Vec<DocumentSummary>,
    /// Record kinds this caller's role may not read; they are left out, not empty.
    pub withheld: Vec<String>,
    /// What did not fit the answer budget, and how to get it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<Omitted>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct ObservationList {
    pub snapshot: SnapshotInfo,
    pub mrn: String,
    /// One line per code (the default when no `code` is asked for): latest, previous, change,
    /// range over the period. Empty when `code` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trends: Vec<Trend>,
    /// The results themselves, newest first (when a `code` is given, or `summary: false`).
    pub observations: Vec<Observation>,
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<Omitted>,
    pub notes: Vec<String>,
}

/// One code's results over the period asked for.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Trend {
    pub code: String,
    pub name: Option<ClinicalText>,
    pub unit: Option<String>,
    pub reference_range: Option<ClinicalText>,
    /// How many results of this code in the period.
    pub count: usize,
    /// How many of them were flagged abnormal, and critical.
    pub abnormal: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub critical: usize,
    /// The newest result, with the previous one and the change.
    pub latest: Observation,
    /// The lowest and highest numeric value in the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The first and last observed time in the period.
    pub first_at: Option<String>,
    pub last_at: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct MedicationList {
    pub snapshot: SnapshotInfo,
    pub mrn: String,
    pub medications: Vec<Medication>,
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct DocumentList {
    pub snapshot: SnapshotInfo,
    pub mrn: String,
    pub documents: Vec<DocumentSummary>,
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SearchHit {
    pub document: DocumentSummary,
    pub mrn: String,
    /// A passage around the match.
    pub snippet: ClinicalText,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SearchResults {
    pub snapshot: SnapshotInfo,
    pub query: String,
    pub results: Vec<SearchHit>,
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

/// An ADT event or census change that an export of the window brought.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct StayEvent {
    /// `admission`, `placed` (put on the panel by an update, e.g. an A08 with an inpatient bed;
    /// the admission was not in the exports read), `transfer`, `discharge`, `left_census` (a
    /// census that no longer lists the patient), `moved_off` (to a location outside the source's
    /// `locations`), `transfer_in` (from outside them), `attending_change`, `admission_cancelled`, `discharge_cancelled`, or `update`
    /// (other details).
    pub kind: String,
    /// The ADT trigger, e.g. `A02`; null for a census.
    pub event: Option<String>,
    pub at: Option<String>,
    /// For a transfer: where the patient was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_location: Option<String>,
    pub location: Option<String>,
    /// For an attending change: the attending before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_attending: Option<ClinicalText>,
    pub attending: Option<ClinicalText>,
    pub freshness: Freshness,
}

/// A medication order's dose, route, frequency and status at one export.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct MedicationState {
    pub name: ClinicalText,
    pub order_id: String,
    pub dose: Option<ClinicalText>,
    pub route: Option<ClinicalText>,
    pub frequency: Option<ClinicalText>,
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
}

/// What an export of the window changed in a medication order.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct MedicationChange {
    /// `new`, `stopped`, `completed`, `ended` (its end time passed), `held`, `resumed`,
    /// `dose_changed`, `route_changed`, `frequency_changed` (several joined with `+`), or
    /// `changed` (other details).
    pub change: String,
    /// How the order was before the window (null for a new order).
    pub before: Option<MedicationState>,
    /// How it is now. For a dose change written as a stop and a new order, the new order.
    pub after: MedicationState,
    pub freshness: Freshness,
}

/// What changed for one patient in the window.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PatientChanges {
    pub mrn: String,
    pub name: Option<ClinicalText>,
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attending: Option<ClinicalText>,
    /// False for a patient who left the panel in the window.
    pub on_panel: bool,
    pub events: Vec<StayEvent>,
    /// New results of the window, by severity.
    pub critical_results: usize,
    pub abnormal_results: usize,
    /// Normal results are counted, not listed.
    pub normal_results: usize,
    /// The window's critical and abnormal results (the newest per code), each with the result
    /// before it: critical first.
    pub new_results: Vec<Observation>,
    pub medication_changes: Vec<MedicationChange>,
    pub new_documents: Vec<DocumentSummary>,
    /// Family name, birth date or sex corrected by a newer registration (ADT or census) in the
    /// window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<DemographicCorrection>,
}

/// A registration that changed what the snapshot said of the patient.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct DemographicCorrection {
    /// `family name`, `birth date` or `sex`.
    pub field: String,
    pub before: ClinicalText,
    pub after: Option<ClinicalText>,
    pub freshness: Freshness,
}

/// The window of one source: what counts as new.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SourceWindow {
    pub source: String,
    /// New means first carried by an export after this instant (null: everything is new).
    pub since: Option<String>,
    /// The export run the digest shows: its earliest and latest export time, and files.
    pub run_from: Option<String>,
    pub run_to: Option<String>,
    pub files: i64,
    /// Why this window: `previous export run`, `argument`, or `no previous export run`.
    pub basis: String,
    /// Set when the run's export times disagree by more than an hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Counts over the whole digest (every page).
#[derive(Debug, Clone, Default, Serialize, JsonSchema, PartialEq)]
pub struct DigestTotals {
    pub patients_on_panel: usize,
    pub patients_left: usize,
    pub patients_with_changes: usize,
    pub admissions: usize,
    /// Patients put on the panel by an update (an inpatient visit with a bed) whose admission
    /// message was not in the exports read.
    pub placed: usize,
    pub transfers: usize,
    /// Patients discharged, no longer on a census, or moved off the source's `locations` (each
    /// counted once).
    pub discharges: usize,
    pub critical_results: usize,
    pub abnormal_results: usize,
    pub normal_results: usize,
    pub medication_changes: usize,
    pub new_documents: usize,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct PanelChanges {
    pub snapshot: SnapshotInfo,
    /// The earliest `since` of the per-source windows (RFC 3339 UTC); null means everything.
    pub since: Option<String>,
    /// How `since` was chosen: `argument`, `previous export run`, or `no previous export run`.
    pub since_basis: String,
    /// The window per source.
    pub windows: Vec<SourceWindow>,
    pub totals: DigestTotals,
    /// Every patient on the panel and every patient who left it in the window: criticals first,
    /// then patients who came or went, then abnormal results, then the rest.
    pub patients: Vec<PatientChanges>,
    /// Record kinds this caller's role may not read: withheld, not "no changes".
    pub withheld: Vec<String>,
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted: Vec<Omitted>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct Document {
    pub snapshot: SnapshotInfo,
    pub document: DocumentSummary,
    pub mrn: String,
    /// The full text (or, for a long one, this page of it).
    pub text: ClinicalText,
    /// Ids of addenda to this document, oldest first.
    pub addenda: Vec<String>,
    /// The text's length in characters, and where this page of it starts and ends.
    pub text_chars: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_range: Option<[usize; 2]>,
    /// Pass as `cursor` for the rest of a long text.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::untrusted::output_schema;
    use serde_json::Value;

    /// String fields that are not free text from the EHR: identifiers, codes, times, enumerations,
    /// units, and what `ingest` itself writes (notes, reasons, calls, file names of the exports).
    /// A field added to an answer must be either [`ClinicalText`] or named here, on purpose.
    const STRUCTURED: &[&str] = &[
        "abnormal_flag",
        "addenda",
        "admitted_at",
        "allergy_type",
        "as_of",
        "at",
        "authored_at",
        "basis",
        "birth_date",
        "call",
        "change",
        "code",
        "code_system",
        "discharged_at",
        "document_id",
        "end_at",
        "event",
        "exported_at",
        "exported_status",
        "export_time_warnings",
        "health_problems",
        "first_at",
        "from_location",
        "identified_at",
        "ingested_at",
        "kind",
        "last_at",
        "last_event",
        "last_event_at",
        "last_export_at",
        "last_ingested_at",
        "location",
        "mrn",
        "next_cursor",
        "next_expected_at",
        "notes",
        "observed_at",
        "onset_at",
        "order_id",
        "origin",
        "original_path",
        "panel_source",
        "parent_id",
        "query",
        "replaced_by",
        "resolved_at",
        "resulted_at",
        "run_from",
        "run_to",
        "sex",
        "since",
        "since_basis",
        "source",
        "source_file",
        "stale_reason",
        "stale_reasons",
        "start_at",
        "status",
        "system",
        "text_error",
        "text_status",
        "unit",
        "value_type",
        "visit_number",
        "warning",
        "what",
        "withheld",
        // A source's configured name; an identifier's value (an MRN, an account number).
        "SourceInfo.name",
        "Identifier.value",
        "DemographicCorrection.field",
        "census_notes_at",
    ];

    fn is_plain_string(schema: &Value) -> bool {
        let typed = |t: &Value| t == "string" || t.as_array().is_some_and(|a| a.iter().any(|x| x == "string"));
        schema.get("type").is_some_and(typed)
            || schema.get("items").is_some_and(is_plain_string)
            || schema.get("anyOf").and_then(Value::as_array).is_some_and(|a| a.iter().any(is_plain_string))
    }

    #[test]
    fn every_string_field_is_clinical_text_or_known_to_be_structured() {
        let schemas = [
            output_schema::<SnapshotStatus>(),
            output_schema::<PanelList>(),
            output_schema::<PatientRecord>(),
            output_schema::<ObservationList>(),
            output_schema::<MedicationList>(),
            output_schema::<DocumentList>(),
            output_schema::<Document>(),
            output_schema::<SearchResults>(),
            output_schema::<PanelChanges>(),
        ];
        let (mut checked, mut unknown) = (0, Vec::new());
        for schema in schemas {
            let defs = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
            let objects = std::iter::once(("root".to_string(), Value::Object((*schema).clone()))).chain(defs);
            for (type_name, object) in objects {
                let Some(props) = object.get("properties").and_then(Value::as_object) else { continue };
                for (name, prop) in props {
                    if is_plain_string(prop) && name != "untrusted_fields" {
                        checked += 1;
                        let qualified = format!("{type_name}.{name}");
                        if !STRUCTURED.contains(&name.as_str()) && !STRUCTURED.contains(&qualified.as_str()) {
                            unknown.push(qualified);
                        }
                    }
                }
            }
        }
        unknown.sort();
        unknown.dedup();
        assert!(
            unknown.is_empty(),
            "plain strings in answers: {unknown:?}; make each ClinicalText (free text from the EHR) or add it to STRUCTURED"
        );
        assert!(checked > 50, "the walk saw the answers' string fields ({checked})");
    }
}
