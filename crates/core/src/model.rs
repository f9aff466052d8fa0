//! Normalized records: what a parser produces and the store writes, independent of the wire format.
//!
//! Times are UTC (`DateTime<Utc>`); dates without a time (birth dates) are `NaiveDate`. Every record
//! names its patient by MRN; the store resolves the MRN to a patient row. Natural keys are documented
//! on each type: re-ingesting the same fact updates the row with that key, never adds a second one.

use chrono::{DateTime, NaiveDate, Utc};

/// One identifier from PID-3 (all repetitions are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub value: String,
    /// Identifier type code (CX-5), e.g. `MR`, `PI`, `AN`.
    pub id_type: Option<String>,
    /// Assigning authority (CX-4, first component).
    pub authority: Option<String>,
}

impl Identifier {
    /// The identifier system as stored: `authority/type`, with `-` for a missing part.
    pub fn system(&self) -> String {
        format!("{}/{}", self.authority.as_deref().unwrap_or("-"), self.id_type.as_deref().unwrap_or("-"))
    }
}

/// Demographics from PID. Natural key: `mrn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    pub mrn: String,
    pub identifiers: Vec<Identifier>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<String>,
    /// True when the message registers the patient (ADT): its demographics are authoritative.
    /// A result message's PID only fills fields the snapshot does not know yet.
    pub registration: bool,
}

/// What an ADT event does to the patient's panel membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelAction {
    /// A01 admit / A04 register: on the panel; a previous discharge no longer applies.
    Join,
    /// A03 discharge: off the panel; history stays.
    Leave,
    /// A08 and the like (A02 transfers: a new location): update the stay's details, membership
    /// unchanged.
    Update,
    /// An update (A08, A02, …) whose visit is inpatient (PV1-2 `I`) with a location (PV1-3) and no
    /// discharge time (PV1-45, even unreadable): it updates the stay like `Update`, and also puts
    /// on the panel a patient who is not on it (a feed that starts mid-stay never sent their A01),
    /// unless a newer export took them off.
    Place,
    /// A11 cancel admit: the admission did not happen; off the panel, admission time cleared.
    CancelAdmit,
    /// A13 cancel discharge: the discharge did not happen; back on the panel, discharge cleared.
    CancelDischarge,
    /// An event that places the patient outside the source's `locations` (another unit of a
    /// hospital-wide feed): off the panel if on it (moved off its units), else nothing at all.
    Elsewhere,
    /// With `locations`: a transfer (A02) into them. A patient not on the panel arrives (admitted
    /// elsewhere, not unseen); one on it moved within the units (an update).
    TransferIn,
}

/// The patient's current stay as an ADT event reports it. Natural key: (source, mrn).
#[derive(Debug, Clone, PartialEq)]
pub struct PanelEvent {
    pub mrn: String,
    pub action: PanelAction,
    /// The trigger event, e.g. `A01`.
    pub event: String,
    /// EVN-2, else MSH-7.
    pub event_at: Option<DateTime<Utc>>,
    /// PV1-3: the non-empty components point of care, room and bed, trimmed and joined with `-` (`5A-512-B`).
    pub location: Option<String>,
    /// PV1-7 rendered as a display name (`Family, Given` or the id).
    pub attending: Option<String>,
    /// PV1-19.
    pub visit_number: Option<String>,
    /// PV1-44.
    pub admitted_at: Option<DateTime<Utc>>,
    /// PV1-45.
    pub discharged_at: Option<DateTime<Utc>>,
}

/// One result (OBX under an OBR). Natural key: (mrn, order_id, code, observed_at).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub mrn: String,
    /// Filler order number (OBR-3), else placer (OBR-2), else the message control id.
    pub order_id: String,
    /// OBX-3.1 identifier.
    pub code: String,
    /// OBX-3.3 coding system, e.g. `LN` (LOINC) or a local system name.
    pub code_system: Option<String>,
    /// OBX-3.2 text.
    pub name: Option<String>,
    /// OBX-2, e.g. `NM`, `ST`.
    pub value_type: Option<String>,
    /// OBX-5 as text (repetitions joined with `~` decoded to `; `).
    pub value: Option<String>,
    /// OBX-5 as a number when the type is NM and it parses.
    pub numeric_value: Option<f64>,
    /// OBX-6.1 (else OBX-6.2).
    pub unit: Option<String>,
    /// OBX-7.
    pub reference_range: Option<String>,
    /// OBX-8 (repetitions joined with `,`), e.g. `H`, `LL`.
    pub abnormal_flag: Option<String>,
    /// OBX-11, e.g. `F` final, `P` preliminary, `C` corrected.
    pub status: Option<String>,
    /// OBX-14, else OBR-7.
    pub observed_at: Option<DateTime<Utc>>,
    /// OBR-22 (results reported), else OBX-19.
    pub resulted_at: Option<DateTime<Utc>>,
    /// The lab's comment: NTE-3 of the NTE segments after the OBX (those after the OBR, before its
    /// first OBX, come first: they speak for every result of the order), lines joined with `\n`.
    pub comment: Option<String>,
}

/// A result withdrawn by the lab (OBX-11 `D` deleted or `X` cannot be obtained): the row with this
/// natural key is removed, if no fresher export has replaced it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRemoval {
    pub mrn: String,
    pub order_id: String,
    pub code: String,
    pub observed_at: Option<DateTime<Utc>>,
}

/// An allergy (AL1). Natural key: (mrn, allergen code, else allergen text).
#[derive(Debug, Clone, PartialEq)]
pub struct Allergy {
    pub mrn: String,
    /// AL1-3.1, when coded.
    pub code: Option<String>,
    /// AL1-3.3.
    pub code_system: Option<String>,
    /// AL1-3.2, else AL1-3.1.
    pub allergen: String,
    /// AL1-2, e.g. `DA` drug, `FA` food, `EA` environmental.
    pub allergy_type: Option<String>,
    /// AL1-4, e.g. `SV` severe, `MO` moderate, `MI` mild.
    pub severity: Option<String>,
    /// AL1-5 repetitions joined with `; `.
    pub reaction: Option<String>,
    /// AL1-6.
    pub identified_at: Option<DateTime<Utc>>,
}

/// Where a problem-list entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemOrigin {
    /// DG1 in an ADT message.
    Diagnosis,
    /// PRB in a PPR^PC1 message.
    ProblemList,
}

/// A diagnosis or problem. Natural key: (mrn, code, else description).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub mrn: String,
    pub code: Option<String>,
    /// e.g. `I10` (ICD-10), `SCT` (SNOMED CT).
    pub code_system: Option<String>,
    pub description: String,
    /// e.g. `active`, `resolved`; DG1-6 diagnosis type (`A` admitting, `W` working, `F` final) for
    /// diagnoses.
    pub status: Option<String>,
    pub onset_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub origin: ProblemOrigin,
    /// PRB-1 `DE`: the entry was deleted from the problem list.
    pub deleted: bool,
}

/// A medication order (RDE/RDS/RAS/OMP). Natural key: (mrn, order_id).
#[derive(Debug, Clone, PartialEq)]
pub struct Medication {
    pub mrn: String,
    /// ORC-3 filler order number, else ORC-2 placer.
    pub order_id: String,
    /// The give code's text (RXE-2.2 / RXO-1.2 / RXG-4.2 / RXA-5.2), else its code.
    pub name: String,
    pub code: Option<String>,
    /// e.g. `RXNORM`, `NDC`, or a local system.
    pub code_system: Option<String>,
    /// Amount and units, e.g. `500 mg`.
    pub dose: Option<String>,
    /// RXR-1 text, else code.
    pub route: Option<String>,
    /// TQ1-3 / ORC-7 repeat pattern, e.g. `Q8H`.
    pub frequency: Option<String>,
    /// `active`, `held`, `discontinued`, `cancelled`, `completed`, from ORC-1/ORC-5 (or a report's
    /// status word read as one of them); `unlisted` when a complete medication list dropped it.
    pub status: Option<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
}

/// A clinical document: an MDM note (TXA + OBX text), an ORU report body (TX/FT/ED) or a PDF note.
/// Natural key: `document_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub mrn: String,
    /// TXA-12 unique document number, else `order_id/code` for an ORU report.
    pub document_id: String,
    /// TXA-13 for an addendum (T06) or a replacement (T10): the document it adds to or replaces.
    pub parent_id: Option<String>,
    /// TXA-2 / OBX-3 text, e.g. `Progress Note`, `Radiology Report`.
    pub doc_type: Option<String>,
    pub title: Option<String>,
    /// TXA-4 activity time (else TXA-6 origination), OBX-14 for reports.
    pub authored_at: Option<DateTime<Utc>>,
    /// TXA-5 / TXA-9 originator, as a display name.
    pub author: Option<String>,
    /// TXA-17 completion status (`DO`, `AU`, `PA`, …), or the result status for reports.
    pub status: Option<String>,
    /// The trigger: `T02` original, `T04` status change, `T06` addendum, `T08` edit, `T10` replace;
    /// `ORU` for a report body, `PDF` for a PDF note.
    pub event: String,
    /// The full text, escapes decoded, lines joined with `\n`. Untrusted clinical text.
    pub text: String,
    /// What is kept of a PDF note beyond its text; `None` for HL7 documents.
    pub pdf: Option<PdfInfo>,
}

/// A PDF note's page count, whether its text could be read, and its sha256 (the original file is
/// found through the document's ledger row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    /// `None` when the extractor could not read the file.
    pub page_count: Option<u32>,
    /// `ok`, `no_text_layer` (a scan: kept with an empty text) or `failed` (see `text_error`).
    pub text_status: String,
    /// Why the text could not be extracted (encrypted, unreadable, the extractor crashed or timed out).
    pub text_error: Option<String>,
    pub sha256: String,
}

/// A documents-manifest row: whose the PDF named `file_name` is, and what it is. A PDF whose own
/// name carries no MRN is identified by the manifest of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The PDF's file name, without a directory.
    pub file_name: String,
    pub mrn: String,
    pub doc_type: Option<String>,
    pub title: Option<String>,
    pub author: Option<String>,
    pub authored_at: Option<DateTime<Utc>>,
}

/// A record that a message contributes to the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Patient(Patient),
    Panel(PanelEvent),
    Observation(Observation),
    ObservationRemoval(ObservationRemoval),
    Allergy(Allergy),
    Problem(Problem),
    Medication(Medication),
    Document(Document),
    ManifestEntry(ManifestEntry),
    /// A census file's full list of the patients on its source's panel today: the others leave
    /// the panel (unless a fresher export says otherwise).
    Census {
        mrns: Vec<String>,
    },
    /// What a census row says of the stay beyond the panel fields: (column, value) of the
    /// mapping's `extra` columns that are not empty (none: whatever the last census said is gone).
    CensusNotes {
        mrn: String,
        notes: Vec<(String, String)>,
    },
    /// A medication list that is each listed patient's whole current list: their orders of this
    /// source's lists that an older list had and this one lacks are no longer current.
    MedicationList {
        /// The patients whose every row landed (one with a rejected row is left alone).
        mrns: Vec<String>,
        /// (MRN, order id) of each order listed.
        orders: Vec<(String, String)>,
    },
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Patient(_) => "patient",
            Record::Panel(_) => "panel",
            Record::Observation(_) => "observation",
            Record::ObservationRemoval(_) => "observation_removal",
            Record::Allergy(_) => "allergy",
            Record::Problem(_) => "problem",
            Record::Medication(_) => "medication",
            Record::Document(_) => "document",
            Record::ManifestEntry(_) => "manifest_entry",
            Record::Census { .. } => "census",
            Record::MedicationList { .. } => "medication_list",
            Record::CensusNotes { .. } => "census_notes",
        }
    }
}

/// One message (HL7) or row (CSV) that was understood.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    /// 1-based position of the message in the file.
    pub index: usize,
    /// MSH-10, when present.
    pub control_id: Option<String>,
    /// e.g. `ADT^A01`, `ORU^R01`.
    pub message_type: String,
    pub records: Vec<Record>,
}

/// One message or row that could not be understood; the rest of the file still lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based position of the message in the file.
    pub index: usize,
    /// 1-based line of the file where the message starts.
    pub line: usize,
    pub control_id: Option<String>,
    /// The segment (and field) at fault, e.g. `PID-3`, when known.
    pub segment: Option<String>,
    pub reason: String,
    /// The message as it appeared in the file.
    pub raw: String,
}

/// A field that could not be read and was left empty: its message or row still landed. Where, and
/// why; never the field's value (PHI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldWarning {
    /// 1-based position of the message (or row) in the file.
    pub index: usize,
    /// 1-based line of the file where the message (or row) starts.
    pub line: usize,
    pub control_id: Option<String>,
    /// The field, e.g. `PID-7`.
    pub field: Option<String>,
    pub reason: String,
}

/// Where a file's `exported_at` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportedAtOrigin {
    /// FHS-7, BHS-7 or MSH-7 of the first message, named by the segment; for CSV, `CSV column`
    /// or `file name`.
    Header(&'static str),
    /// The file's modification time (no header carried a usable timestamp).
    Mtime,
}

impl ExportedAtOrigin {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExportedAtOrigin::Header(s) => s,
            ExportedAtOrigin::Mtime => "mtime",
        }
    }
}

/// A parsed file: what it says about its export, the messages understood, and those rejected.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedFile {
    /// From FHS-7, else BHS-7, else the first MSH-7; `None` means use the file's mtime.
    pub exported_at: Option<(DateTime<Utc>, &'static str)>,
    /// Why the export time is doubtful, as the file itself shows (a header time without a UTC
    /// offset against messages that carry a different one).
    pub export_time_note: Option<String>,
    pub messages: Vec<ParsedMessage>,
    pub rejects: Vec<Reject>,
    /// Fields left empty in messages that landed.
    pub warnings: Vec<FieldWarning>,
    /// Messages of types the snapshot does not use (`VXU^V04`, `ORM^O01`, …), counted by type: read,
    /// not rejected, no records.
    pub not_used: std::collections::BTreeMap<String, usize>,
}

impl ParsedFile {
    pub fn record_count(&self) -> usize {
        self.messages.iter().map(|m| m.records.len()).sum()
    }
}
