//! CSV exports (census, demographics, results, orders, problems, allergies): bytes and a
//! [`CsvMapping`] in, records and per-row rejects out. Pure: no I/O, no clock.
//!
//! A mapping says which file names it serves (a glob), what kind of record each row is, which
//! header names (aliases) hold which field, the date formats, delimiter, quote and encoding, and
//! where the export time comes from. The header decides between mappings whose pattern matches:
//! the first whose required columns are all present is used.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ingest_core::model::{
    Allergy, FieldWarning, ManifestEntry, Medication, Observation, PanelAction, PanelEvent, ParsedFile, ParsedMessage,
    Patient, Problem, ProblemOrigin, Record, Reject,
};
use ingest_core::time::Zone;
use std::collections::BTreeMap;

/// What each row of a CSV file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// Today's panel: every row is a patient on it; a patient absent from the file leaves it.
    Census,
    Patients,
    Observations,
    Medications,
    Problems,
    Allergies,
    /// A documents manifest: each row names a PDF file and says whose it is.
    DocumentsManifest,
}

impl CsvKind {
    pub const ALL: [CsvKind; 7] = [
        CsvKind::Census,
        CsvKind::Patients,
        CsvKind::Observations,
        CsvKind::Medications,
        CsvKind::Problems,
        CsvKind::Allergies,
        CsvKind::DocumentsManifest,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            CsvKind::Census => "census",
            CsvKind::Patients => "patients",
            CsvKind::Observations => "observations",
            CsvKind::Medications => "medications",
            CsvKind::Problems => "problems",
            CsvKind::Allergies => "allergies",
            CsvKind::DocumentsManifest => "documents manifest",
        }
    }

    pub fn parse(name: &str) -> Option<CsvKind> {
        CsvKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Fields that every row needs a column for.
    pub fn required(&self) -> &'static [&'static str] {
        match self {
            CsvKind::Census | CsvKind::Patients => &["mrn"],
            CsvKind::Observations => &["mrn", "code", "value"],
            CsvKind::Medications => &["mrn", "name"],
            CsvKind::Problems => &["mrn", "description"],
            CsvKind::Allergies => &["mrn", "allergen"],
            CsvKind::DocumentsManifest => &["mrn", "file_name"],
        }
    }

    /// Fields read when their column is present (`exported_at` is accepted by every kind).
    pub fn optional(&self) -> &'static [&'static str] {
        match self {
            CsvKind::Census => &[
                "family_name",
                "given_name",
                "birth_date",
                "sex",
                "location",
                "attending",
                "visit_number",
                "admitted_at",
                "exported_at",
            ],
            CsvKind::Patients => &["family_name", "given_name", "birth_date", "sex", "exported_at"],
            CsvKind::Observations => &[
                "order_id",
                "code_system",
                "name",
                "value_type",
                "unit",
                "reference_range",
                "abnormal_flag",
                "status",
                "observed_at",
                "resulted_at",
                "comment",
                "exported_at",
            ],
            CsvKind::Medications => &[
                "order_id",
                "code",
                "code_system",
                "dose",
                "dose_unit",
                "route",
                "frequency",
                "status",
                "start_at",
                "end_at",
                "exported_at",
            ],
            CsvKind::Problems => &["code", "code_system", "status", "onset_at", "resolved_at", "exported_at"],
            CsvKind::Allergies => {
                &["code", "code_system", "allergy_type", "severity", "reaction", "identified_at", "exported_at"]
            }
            CsvKind::DocumentsManifest => &["doc_type", "title", "author", "authored_at", "exported_at"],
        }
    }

    pub fn knows(&self, field: &str) -> bool {
        self.required().contains(&field) || self.optional().contains(&field)
    }
}

/// A timestamp in the file name: the regex's `ts` group, read with a strftime `format` (in the
/// configured zone unless the format has an offset).
#[derive(Debug, Clone)]
pub struct FileNameTime {
    pub regex: regex::Regex,
    pub format: String,
}

/// A field built from the row otherwise than from one column.
#[derive(Debug, Clone)]
pub enum Derived {
    /// Several columns' non-empty values joined (`Unit`, `Room`, `Bed` → `7E-12-A`).
    Join { columns: Vec<String>, separator: String },
    /// A named group of a regex matched against one column (`NGUYEN, LINH T` → `NGUYEN`).
    Part { column: String, regex: regex::Regex, group: String },
    /// The same value for every row (a unit-specific census without a unit column).
    Constant(String),
}

impl Derived {
    /// The header names it reads.
    fn columns(&self) -> Vec<&str> {
        match self {
            Derived::Join { columns, .. } => columns.iter().map(String::as_str).collect(),
            Derived::Part { column, .. } => vec![column.as_str()],
            Derived::Constant(_) => Vec::new(),
        }
    }

    /// As `check-config` describes it.
    pub fn describe(&self) -> String {
        match self {
            Derived::Join { columns, separator } => format!("{} joined with {separator:?}", columns.join(" + ")),
            Derived::Part { column, regex, group } => format!("group {group} of /{}/ in {column}", regex.as_str()),
            Derived::Constant(value) => format!("always {value:?}"),
        }
    }
}

/// A report's word for a medication order's status, as HL7 orders are stored: `active`, `held`,
/// `discontinued`, `cancelled` or `completed`; another word is kept (lower-cased) and shown as
/// written, and such an order counts as current.
fn medication_status(status: &str) -> String {
    let word = status.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    match word.as_str() {
        "active" | "ordered" | "verified" | "in progress" | "current" | "a" => "active",
        "held" | "hold" | "on hold" | "on-hold" | "suspended" | "paused" | "hd" => "held",
        "discontinued" | "dc" | "d/c" | "stopped" | "stop" | "inactive" => "discontinued",
        "cancelled" | "canceled" | "ca" | "void" | "voided" | "entered in error" | "error" => "cancelled",
        "completed" | "complete" | "expired" | "finished" | "cm" => "completed",
        _ => return word,
    }
    .to_string()
}

/// A report's word for sex as HL7's PID-8 codes it (`Female` → `F`), so that a census and an ADT
/// saying the same do not read as a correction; another word is kept as written.
fn administrative_sex(sex: &str) -> String {
    match sex.trim().to_lowercase().as_str() {
        "f" | "female" | "woman" => "F",
        "m" | "male" | "man" => "M",
        "u" | "unknown" => "U",
        "o" | "other" => "O",
        "x" | "non-binary" | "nonbinary" => "X",
        _ => return sex.trim().to_string(),
    }
    .to_string()
}

/// A report's word for a result's status, as OBX-11 writes it: `F` final, `P` preliminary, `C`
/// corrected; another word is kept as written.
fn result_status(status: &str) -> String {
    match status.trim().to_lowercase().as_str() {
        "f" | "final" | "finalized" | "resulted" => "F",
        "p" | "prelim" | "preliminary" | "partial" | "pending" => "P",
        "c" | "corrected" | "amended" | "revised" => "C",
        _ => return status.trim().to_string(),
    }
    .to_string()
}

/// The regex of a `FAMILY, GIVEN MIDDLE` name: `part = "family"` or `"given"`. A name without a
/// comma (`MADONNA`) is a family name alone.
pub const NAME_PARTS: &str = r"^\s*(?<family>[^,]+?)\s*(?:,\s*(?<given>.*?))?\s*$";

/// One `[[csv.mapping]]`, checked.
#[derive(Debug, Clone)]
pub struct CsvMapping {
    pub name: String,
    /// The file-name glob as written (case-insensitive).
    pub pattern: String,
    pub matcher: globset::GlobMatcher,
    pub kind: CsvKind,
    /// Field → header names that may hold it (compared trimmed, case-insensitively).
    pub columns: BTreeMap<String, Vec<String>>,
    /// Fields built from several columns, part of one, or a constant (instead of `columns`).
    pub derived: BTreeMap<String, Derived>,
    /// A field's value when its cell (or cells) are empty.
    pub defaults: BTreeMap<String, String>,
    /// Date formats of one field, instead of `date_formats` (a birth date and an admission time
    /// are rarely written alike).
    pub field_formats: BTreeMap<String, Vec<String>>,
    /// Mapped optional fields whose column a file may lack. Any other mapped column missing from a
    /// file's header means the mapping does not fit that file (it is not silently left empty).
    pub may_lack: std::collections::BTreeSet<String>,
    /// strftime formats for dates and times, tried in order.
    pub date_formats: Vec<String>,
    pub delimiter: u8,
    pub quote: u8,
    /// Used when the file has no BOM (a UTF-8 or UTF-16 BOM always wins).
    pub encoding: &'static encoding_rs::Encoding,
    /// Where `exported_at` comes from when the header has no `exported_at` column.
    pub file_name_time: Option<FileNameTime>,
    /// Whether the mapping reads a file only when it knows every column of its header: set for
    /// the built-in mappings, used without a config, so that a file they would half read (a
    /// `Patient Name` column left unread, a bed letter taken for the location) is refused, not
    /// guessed at.
    pub whole_header: bool,
    /// Rows that are not records (a report's `Total Patients: 10` or `Printed …` footer): a regex
    /// over the row's cells joined with the delimiter. They are counted as not used.
    pub skip_rows: Option<regex::Regex>,
    /// For a census: header names whose non-empty cells are kept as the stay's notes (code
    /// status, isolation, diet), shown with the column name.
    pub extra: Vec<String>,
    /// For medications: each file is its patients' whole current list (an "active medication
    /// list" report), so an order a newer file no longer lists is no longer current.
    pub complete: bool,
}

impl CsvMapping {
    pub fn matches_name(&self, file_name: &str) -> bool {
        self.matcher.is_match(file_name)
    }

    /// The header names this mapping needs, one per required field and per mapped optional field
    /// it may not lack (its first alias).
    pub fn expected_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        let all =
            self.kind.required().iter().chain(self.kind.optional().iter().filter(|f| self.must_have(f))).flat_map(
                |f| match (self.columns.get(*f), self.derived.get(*f)) {
                    (Some(aliases), _) => aliases.first().cloned().into_iter().collect(),
                    (None, Some(derived)) => derived.columns().into_iter().map(str::to_string).collect(),
                    (None, None) => vec![(*f).to_string()],
                },
            );
        for column in all {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }

    /// The header names it reads, of any field.
    fn known_columns(&self) -> impl Iterator<Item = &str> {
        let aliases = self.columns.values().flatten().map(String::as_str);
        aliases.chain(self.derived.values().flat_map(Derived::columns)).chain(self.extra.iter().map(String::as_str))
    }

    /// Whether a file's header must have this field's column.
    fn must_have(&self, field: &str) -> bool {
        let mapped = self.columns.contains_key(field) || self.derived.contains_key(field);
        (self.kind.required().contains(&field) || mapped) && !self.may_lack.contains(field)
    }
}

/// Build a case-insensitive file-name matcher.
pub fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

/// The regex and format that read `NAME_20261124_0500.csv`.
fn built_in_file_name_time() -> FileNameTime {
    FileNameTime {
        regex: regex::Regex::new(r"(?<ts>\d{8}_\d{4})").expect("built-in regex"),
        format: "%Y%m%d_%H%M".into(),
    }
}

/// A field and the header names that may hold it.
type Aliases = (&'static str, &'static [&'static str]);

/// The mappings used when the config names none: they serve `sample-exports/` and EHR reports
/// with the usual header names.
pub fn built_in_mappings() -> Vec<CsvMapping> {
    let formats: Vec<String> = [
        "%Y-%m-%dT%H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M %p",
        "%Y-%m-%d",
        "%m/%d/%Y",
        "%Y%m%d%H%M%S",
        "%Y%m%d",
    ]
    .map(String::from)
    .to_vec();
    let common: &[Aliases] = &[
        ("mrn", &["MRN", "Medical Record Number", "PatientID", "Patient ID"]),
        ("exported_at", &["Exported At", "Export Time", "Report Time"]),
        ("code", &["Code"]),
        ("code_system", &["Code System", "Coding System"]),
        ("status", &["Status"]),
    ];
    let specific: [(&str, CsvKind, &str, &[Aliases]); 7] = [
        (
            "census",
            CsvKind::Census,
            "census_*.csv",
            &[
                ("family_name", &["Last Name", "Family Name"]),
                ("given_name", &["First Name", "Given Name"]),
                ("birth_date", &["DOB", "Date of Birth", "Birth Date"]),
                ("sex", &["Sex", "Gender"]),
                ("location", &["Location", "Bed"]),
                ("attending", &["Attending", "Attending Physician"]),
                ("visit_number", &["Visit Number", "Encounter"]),
                ("admitted_at", &["Admitted", "Admit Date", "Admission Time"]),
            ],
        ),
        (
            "patients",
            CsvKind::Patients,
            "patients_*.csv",
            &[
                ("family_name", &["Last Name", "Family Name"]),
                ("given_name", &["First Name", "Given Name"]),
                ("birth_date", &["DOB", "Date of Birth", "Birth Date"]),
                ("sex", &["Sex", "Gender"]),
            ],
        ),
        (
            "labs",
            CsvKind::Observations,
            "labs_*.csv",
            &[
                ("order_id", &["Order ID", "Accession", "Order Number"]),
                ("code", &["Test Code", "LOINC", "Code"]),
                ("name", &["Test Name", "Test"]),
                ("value", &["Result", "Value"]),
                ("value_type", &["Value Type"]),
                ("unit", &["Units", "Unit"]),
                ("reference_range", &["Reference Range", "Ref Range"]),
                ("abnormal_flag", &["Flag", "Abnormal Flag"]),
                ("observed_at", &["Collected", "Collection Time", "Observed At"]),
                ("resulted_at", &["Resulted", "Result Time"]),
                ("comment", &["Comment", "Comments", "Result Comment"]),
            ],
        ),
        (
            "medications",
            CsvKind::Medications,
            "medications_*.csv",
            &[
                ("order_id", &["Order ID", "Order Number"]),
                ("name", &["Medication", "Drug"]),
                ("dose", &["Dose"]),
                ("dose_unit", &["Dose Unit", "Dose Units"]),
                ("route", &["Route"]),
                ("frequency", &["Frequency"]),
                ("start_at", &["Start", "Start Time"]),
                ("end_at", &["End", "Stop", "End Time"]),
            ],
        ),
        (
            "problems",
            CsvKind::Problems,
            "problems_*.csv",
            &[
                ("description", &["Problem", "Description"]),
                ("onset_at", &["Onset", "Onset Date"]),
                ("resolved_at", &["Resolved", "Resolved Date"]),
            ],
        ),
        (
            "allergies",
            CsvKind::Allergies,
            "allergies_*.csv",
            &[
                ("allergen", &["Allergen", "Allergy"]),
                ("allergy_type", &["Type", "Allergy Type"]),
                ("severity", &["Severity"]),
                ("reaction", &["Reaction"]),
                ("identified_at", &["Identified", "Noted"]),
            ],
        ),
        (
            "documents",
            CsvKind::DocumentsManifest,
            "documents_*.csv",
            &[
                ("file_name", &["File", "File Name", "Filename", "Document File"]),
                ("doc_type", &["Document Type", "Note Type", "Type"]),
                ("title", &["Title", "Description"]),
                ("author", &["Author", "Signed By"]),
                ("authored_at", &["Document Date", "Note Date", "Authored", "Date"]),
            ],
        ),
    ];
    let mut mappings: Vec<CsvMapping> = specific
        .into_iter()
        .map(|(name, kind, pattern, fields)| {
            let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (field, aliases) in fields.iter().chain(common) {
                if kind.knows(field) {
                    columns
                        .entry((*field).to_string())
                        .or_insert_with(|| aliases.iter().map(|a| (*a).to_string()).collect());
                }
            }
            CsvMapping {
                name: name.into(),
                pattern: pattern.into(),
                matcher: glob(pattern).expect("built-in glob"),
                kind,
                columns,
                date_formats: formats.clone(),
                delimiter: b',',
                quote: b'"',
                encoding: encoding_rs::UTF_8,
                file_name_time: Some(built_in_file_name_time()),
                derived: BTreeMap::new(),
                defaults: BTreeMap::new(),
                field_formats: BTreeMap::new(),
                // A built-in mapping knows many spellings; a file has whichever columns it has.
                may_lack: kind.optional().iter().map(|f| (*f).to_string()).collect(),
                whole_header: true,
                skip_rows: None,
                complete: false,
                extra: match kind {
                    CsvKind::Census => ["Code Status", "Isolation", "Diet"].map(String::from).to_vec(),
                    _ => Vec::new(),
                },
            }
        })
        .collect();
    // A census from a bed board: `NGUYEN, LINH T` in one column, the place in three.
    let mut bed_board = mappings[0].clone();
    bed_board.name = "census (bed board)".into();
    for field in ["family_name", "given_name", "location"] {
        bed_board.columns.remove(field);
        // What makes a bed board: the first census mapping reads the rest.
        bed_board.may_lack.remove(field);
    }
    let name_parts = regex::Regex::new(NAME_PARTS).expect("built-in regex");
    for (field, group) in [("family_name", "family"), ("given_name", "given")] {
        let regex = name_parts.clone();
        bed_board
            .derived
            .insert(field.into(), Derived::Part { column: "Patient Name".into(), regex, group: group.into() });
    }
    let place = ["Unit", "Room", "Bed"].map(String::from).to_vec();
    bed_board.derived.insert("location".into(), Derived::Join { columns: place, separator: "-".into() });
    mappings.insert(1, bed_board);
    mappings
}

/// Why no mapping could read a file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMismatch {
    /// Per mapping tried: its name and the columns it expected.
    pub expected: Vec<(String, Vec<String>)>,
    /// The header the file has (as the first mapping tried reads it).
    pub found: Vec<String>,
    /// Columns of the header that a built-in mapping which had its required columns does not
    /// know (see [`CsvMapping::whole_header`]); empty otherwise.
    pub unknown: Vec<String>,
}

/// The mappings that may serve a file: those whose pattern matches its name; for any other
/// `*.csv`, every mapping (the header decides).
pub fn candidates<'m>(file_name: &str, mappings: &'m [CsvMapping]) -> Vec<&'m CsvMapping> {
    let named: Vec<&CsvMapping> = mappings.iter().filter(|m| m.matches_name(file_name)).collect();
    if named.is_empty() && file_name.to_ascii_lowercase().ends_with(".csv") { mappings.iter().collect() } else { named }
}

/// Decode with the mapping's encoding; a BOM wins.
fn decode(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> String {
    encoding.decode(bytes).0.into_owned()
}

fn reader<'t>(text: &'t str, mapping: &CsvMapping) -> csv::Reader<&'t [u8]> {
    csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .quote(mapping.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
}

fn normalise(header: &str) -> String {
    header.trim().to_lowercase()
}

/// Field → column index, when every required field has a column.
fn resolve(header: &csv::StringRecord, mapping: &CsvMapping) -> Option<Resolved> {
    let names: Vec<String> = header.iter().map(normalise).collect();
    let position = |column: &str| names.iter().position(|n| *n == normalise(column));
    let mut found = Resolved::new();
    for field in mapping.kind.required().iter().chain(mapping.kind.optional()) {
        let at: Option<Vec<usize>> = match (mapping.columns.get(*field), mapping.derived.get(*field)) {
            (Some(aliases), _) => aliases.iter().find_map(|alias| position(alias)).map(|i| vec![i]),
            (None, Some(derived)) => derived.columns().into_iter().map(position).collect(),
            (None, None) => None,
        };
        let constant = matches!(mapping.derived.get(*field), Some(Derived::Constant(_)));
        match at {
            Some(at) => {
                found.insert(*field, at);
            }
            None if constant || mapping.defaults.contains_key(*field) => {
                found.insert(*field, Vec::new());
            }
            None if mapping.must_have(field) => return None,
            None => {}
        }
    }
    Some(found)
}

/// Field → the column indexes it reads (empty for a constant or a default only).
type Resolved = BTreeMap<&'static str, Vec<usize>>;

/// Pick the mapping for a file: the first candidate whose required columns are in the header.
fn choose<'m>(
    bytes: &[u8],
    candidates: &[&'m CsvMapping],
) -> Result<(&'m CsvMapping, String, Resolved), HeaderMismatch> {
    let mut unknown: Option<Vec<String>> = None;
    for mapping in candidates {
        let text = decode(bytes, mapping.encoding);
        let mut rdr = reader(&text, mapping);
        let mut header = csv::StringRecord::new();
        if rdr.read_record(&mut header).unwrap_or(false)
            && let Some(columns) = resolve(&header, mapping)
        {
            let left: Vec<String> = match mapping.whole_header {
                true => header
                    .iter()
                    .map(str::trim)
                    .filter(|h| !h.is_empty() && !mapping.known_columns().any(|k| normalise(k) == normalise(h)))
                    .map(str::to_string)
                    .collect(),
                false => Vec::new(),
            };
            if left.is_empty() {
                return Ok((mapping, text, columns));
            }
            // The fewest columns left unread: the nearest built-in mapping.
            if unknown.as_ref().is_none_or(|u| left.len() < u.len()) {
                unknown = Some(left);
            }
        }
    }
    let found = candidates
        .first()
        .and_then(|m| {
            let text = decode(bytes, m.encoding);
            let mut header = csv::StringRecord::new();
            reader(&text, m)
                .read_record(&mut header)
                .ok()
                .map(|_| header.iter().map(|h| h.trim().to_string()).collect())
        })
        .map(header_or_data)
        .unwrap_or_default();
    let expected = candidates.iter().map(|m| (m.name.clone(), m.expected_columns())).collect();
    Err(HeaderMismatch { expected, found, unknown: unknown.unwrap_or_default() })
}

/// A first row to quote in an error: as it is when it looks like a header; when most of its cells
/// hold digits it is likely a patient's row (a file without a header), and is not quoted.
fn header_or_data(cells: Vec<String>) -> Vec<String> {
    let numeric = cells.iter().filter(|c| c.bytes().any(|b| b.is_ascii_digit())).count();
    if numeric * 2 >= cells.len().max(1) {
        vec![format!("no header? the first row has digits in {numeric} of its {} cells (not shown)", cells.len())]
    } else {
        cells
    }
}

/// The kind of the mapping that would read a file starting with `prefix`.
pub fn kind_of(prefix: &[u8], candidates: &[&CsvMapping]) -> Option<CsvKind> {
    choose(prefix, candidates).ok().map(|(mapping, _, _)| mapping.kind)
}

/// Parse a CSV file with the first candidate mapping whose required columns its header has.
pub fn parse(
    file_name: &str,
    bytes: &[u8],
    candidates: &[&CsvMapping],
    zone: Zone,
) -> Result<ParsedFile, HeaderMismatch> {
    let (mapping, text, columns) = choose(bytes, candidates)?;
    let mut rdr = reader(&text, mapping);
    let mut header = csv::StringRecord::new();
    let _ = rdr.read_record(&mut header);
    let header_names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let ctx = Context { mapping, columns: &columns, header: &header_names, zone };

    let mut file = ParsedFile::default();
    let mut census: Vec<String> = Vec::new();
    // For a complete medication list: who was listed, what was listed, and who had a row rejected.
    let (mut listed, mut orders, mut unsure): (Vec<String>, Vec<(String, String)>, Vec<String>) = Default::default();
    // A row that could not be read at all names no one for sure: such a list takes nothing off.
    let mut unreadable: Option<(usize, usize)> = None;
    let mut index = 0;
    let mut record = csv::StringRecord::new();
    // With CRLF line ends the csv crate ends a record at the CR and counts lines one short; lines
    // are counted here from byte offsets instead (a record may start at the LF of the line before).
    let line_ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line_at = |byte: u64| 1 + line_ends.partition_point(|&end| (end as u64) <= byte);
    loop {
        let line = line_at(rdr.position().byte());
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                index += 1;
                let line = e.position().map_or(line, |p| line_at(p.byte()));
                file.rejects.push(reject(index, line, None, format!("unreadable CSV row: {e}"), String::new()));
                unreadable.get_or_insert((index, line));
                continue;
            }
        }
        index += 1;
        let line = record.position().map_or(line, |p| line_at(p.byte()));
        let raw = record.iter().collect::<Vec<_>>().join(&char::from(mapping.delimiter).to_string());
        if mapping.skip_rows.as_ref().is_some_and(|skip| skip.is_match(&raw)) {
            *file.not_used.entry("CSV row matching skip_rows".into()).or_default() += 1;
            continue;
        }
        if record.len() != header.len() {
            let reason = format!("wrong column count: {} fields, the header has {}", record.len(), header.len());
            file.rejects.push(reject(index, line, None, reason, raw));
            unreadable.get_or_insert((index, line));
            continue;
        }
        let row = Row { ctx: &ctx, record: &record, warnings: Default::default() };
        if mapping.kind == CsvKind::Census
            && let Some(mrn) = row.text("mrn")
        {
            // Even a rejected row names a patient who is on today's census.
            census.push(mrn);
        }
        if file.exported_at.is_none()
            && let Ok(Some(t)) = row.time("exported_at")
        {
            file.exported_at = Some((t, "CSV column"));
        }
        let result = row.records();
        if mapping.complete
            && let Some(mrn) = row.text("mrn")
        {
            match &result {
                Ok(records) => {
                    listed.push(mrn);
                    orders.extend(records.iter().filter_map(|r| match r {
                        Record::Medication(m) => Some((m.mrn.clone(), m.order_id.clone())),
                        _ => None,
                    }));
                }
                Err(_) => unsure.push(mrn),
            }
        }
        match result {
            Ok(records) => {
                file.warnings.extend(row.warnings.into_inner().into_iter().map(|(column, reason)| FieldWarning {
                    index,
                    line,
                    control_id: None,
                    field: Some(column),
                    reason,
                }));
                file.messages.push(ParsedMessage {
                    index,
                    control_id: None,
                    message_type: format!("CSV {}", mapping.kind.as_str()),
                    records,
                });
            }
            Err((segment, reason)) => file.rejects.push(reject(index, line, Some(segment), reason, raw)),
        }
    }
    if file.exported_at.is_none() {
        file.exported_at = file_name_time(file_name, mapping, zone).map(|t| (t, "file name"));
    }
    if mapping.kind == CsvKind::Census
        && let Some(last) = file.messages.last_mut()
    {
        census.sort();
        census.dedup();
        last.records.push(Record::Census { mrns: census });
    }
    if let (true, Some((index, line))) = (mapping.complete, unreadable) {
        file.warnings.push(FieldWarning {
            index,
            line,
            control_id: None,
            field: None,
            reason: "a row of this complete list could not be read, so whose orders it lists is not known for \
                     sure: the list takes no order off (its rows still land)"
                .into(),
        });
    } else if mapping.complete
        && let Some(last) = file.messages.last_mut()
    {
        listed.sort();
        listed.dedup();
        listed.retain(|mrn| !unsure.contains(mrn));
        orders.retain(|(mrn, _)| listed.contains(mrn));
        last.records.push(Record::MedicationList { mrns: listed, orders });
    }
    Ok(file)
}

/// The export time a CSV file declares (a column of its first row, else its name), read from its
/// first bytes only.
pub fn exported_at_hint(
    file_name: &str,
    prefix: &[u8],
    candidates: &[&CsvMapping],
    zone: Zone,
) -> Option<DateTime<Utc>> {
    let (mapping, text, columns) = choose(prefix, candidates).ok()?;
    let mut rdr = reader(&text, mapping);
    let mut header = csv::StringRecord::new();
    let _ = rdr.read_record(&mut header);
    let ctx = Context { mapping, columns: &columns, header: &[], zone };
    let mut record = csv::StringRecord::new();
    let from_column = match rdr.read_record(&mut record) {
        Ok(true) => Row { ctx: &ctx, record: &record, warnings: Default::default() }.time("exported_at").ok().flatten(),
        _ => None,
    };
    from_column.or_else(|| file_name_time(file_name, mapping, zone))
}

fn file_name_time(file_name: &str, mapping: &CsvMapping, zone: Zone) -> Option<DateTime<Utc>> {
    let rule = mapping.file_name_time.as_ref()?;
    let ts = rule.regex.captures(file_name)?.name("ts")?.as_str().to_string();
    parse_time(&ts, std::slice::from_ref(&rule.format), zone)
}

/// Read a date/time with the formats in order: with an offset, else a local time in `zone`, else a
/// date (midnight in `zone`).
pub fn parse_time(value: &str, formats: &[String], zone: Zone) -> Option<DateTime<Utc>> {
    for f in formats {
        if let Ok(t) = DateTime::parse_from_str(value, f) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(value, f) {
            return Some(zone.to_utc(t));
        }
        if let Ok(d) = NaiveDate::parse_from_str(value, f) {
            return Some(zone.to_utc(d.and_hms_opt(0, 0, 0)?));
        }
    }
    None
}

fn parse_date(value: &str, formats: &[String]) -> Option<NaiveDate> {
    formats.iter().find_map(|f| {
        NaiveDate::parse_from_str(value, f)
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(value, f).ok().map(|t| t.date()))
    })
}

fn reject(index: usize, line: usize, segment: Option<String>, reason: String, raw: String) -> Reject {
    Reject { index, line, control_id: None, segment, reason, raw }
}

struct Context<'a> {
    mapping: &'a CsvMapping,
    columns: &'a Resolved,
    /// The header as written, to name the column at fault.
    header: &'a [String],
    zone: Zone,
}

struct Row<'a> {
    ctx: &'a Context<'a>,
    record: &'a csv::StringRecord,
    /// Optional cells that could not be read, left empty: (column, reason).
    warnings: std::cell::RefCell<Vec<(String, String)>>,
}

/// (column at fault, reason)
type RowError = (String, String);

impl Row<'_> {
    /// The header name(s) a field is read from, to name it in a reject or a warning.
    fn column(&self, field: &str) -> String {
        let names: Vec<&str> = self
            .ctx
            .columns
            .get(field)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.ctx.header.get(i).map(String::as_str))
            .collect();
        if names.is_empty() { field.into() } else { names.join("+") }
    }

    /// One cell, trimmed; `None` when empty. A quoted field may span lines: its line breaks are
    /// kept as `\n`, whatever the file used.
    fn cell(&self, i: usize) -> Option<String> {
        let value = self.record.get(i)?.trim();
        (!value.is_empty()).then(|| value.replace("\r\n", "\n"))
    }

    /// The field's value: its column's cell, or what the mapping builds (joined columns, part of
    /// one, a constant), else its default; `None` when there is none.
    fn text(&self, field: &str) -> Option<String> {
        let at = self.ctx.columns.get(field)?;
        let value = match self.ctx.mapping.derived.get(field) {
            None => at.first().and_then(|&i| self.cell(i)),
            Some(Derived::Constant(value)) => Some(value.clone()),
            Some(Derived::Join { separator, .. }) => {
                let parts: Vec<String> = at.iter().filter_map(|&i| self.cell(i)).collect();
                (!parts.is_empty()).then(|| parts.join(separator))
            }
            Some(Derived::Part { regex, group, .. }) => at.first().and_then(|&i| self.cell(i)).and_then(|cell| {
                // A regex that matches without this (optional) group says the part is absent; one
                // that does not match at all says the cell is not what the mapping expects.
                let captures = regex.captures(&cell);
                let part = captures.as_ref().and_then(|c| c.name(group)).map(|m| m.as_str().trim().to_string());
                if captures.is_none() {
                    let reason =
                        format!("does not match the mapping's pattern for {field} (group {group}); left empty");
                    let mut warnings = self.warnings.borrow_mut();
                    let warning = (self.column(field), reason);
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
                part.filter(|v| !v.is_empty())
            }),
        };
        value.or_else(|| self.ctx.mapping.defaults.get(field).cloned())
    }

    fn required(&self, field: &str) -> Result<String, RowError> {
        self.text(field).ok_or_else(|| (self.column(field), format!("missing {}", field.replace('_', " "))))
    }

    /// The date formats of a field: its own, else the mapping's.
    fn formats(&self, field: &str) -> &[String] {
        self.ctx.mapping.field_formats.get(field).unwrap_or(&self.ctx.mapping.date_formats)
    }

    fn time(&self, field: &str) -> Result<Option<DateTime<Utc>>, RowError> {
        let Some(value) = self.text(field) else { return Ok(None) };
        let formats = self.formats(field);
        parse_time(&value, formats, self.ctx.zone).map(Some).ok_or_else(|| {
            (self.column(field), format!("unparsable date/time (formats tried: {})", formats.join(", ")))
        })
    }

    fn date(&self, field: &str) -> Result<Option<NaiveDate>, RowError> {
        let Some(value) = self.text(field) else { return Ok(None) };
        let formats = self.formats(field);
        parse_date(&value, formats)
            .map(Some)
            .ok_or_else(|| (self.column(field), format!("unparsable date (formats tried: {})", formats.join(", "))))
    }

    /// An optional cell's value: an unreadable one is left empty with a warning (the row lands).
    fn optional<T>(&self, value: Result<Option<T>, RowError>) -> Option<T> {
        value.unwrap_or_else(|(column, reason)| {
            self.warnings.borrow_mut().push((column, format!("{reason}; left empty")));
            None
        })
    }

    fn opt_time(&self, field: &str) -> Option<DateTime<Utc>> {
        self.optional(self.time(field))
    }

    fn patient(&self, mrn: &str, registration: bool) -> Patient {
        Patient {
            mrn: mrn.to_string(),
            identifiers: Vec::new(),
            family_name: self.text("family_name"),
            given_name: self.text("given_name"),
            birth_date: self.optional(self.date("birth_date")),
            sex: self.text("sex").map(|s| administrative_sex(&s)),
            registration,
        }
    }

    /// The mapping's `extra` columns this file has, with their non-empty cells; `None` when it
    /// has none of them (nothing is said, nothing is cleared).
    fn extra(&self) -> Option<Vec<(String, String)>> {
        let header = self.ctx.header;
        let present: Vec<usize> = self
            .ctx
            .mapping
            .extra
            .iter()
            .filter_map(|name| header.iter().position(|h| normalise(h) == normalise(name)))
            .collect();
        if present.is_empty() {
            return None;
        }
        Some(present.into_iter().filter_map(|i| Some((header[i].clone(), self.cell(i)?))).collect())
    }

    fn has_demographics(&self) -> bool {
        ["family_name", "given_name", "birth_date", "sex"].iter().any(|f| self.text(f).is_some())
    }

    /// The records of one row, or the column at fault and why.
    fn records(&self) -> Result<Vec<Record>, RowError> {
        let mrn = self.required("mrn")?;
        self.opt_time("exported_at");
        let t = |field| self.text(field);
        let records = match self.ctx.mapping.kind {
            CsvKind::Census => {
                let mut out = Vec::new();
                if self.has_demographics() {
                    // A census speaks for the patient's name, birth date and sex as an ADT
                    // registration does: a newer one corrects them, an older one fills gaps.
                    out.push(Record::Patient(self.patient(&mrn, true)));
                }
                // The stay's notes follow its panel row, which they belong to.
                let notes = self.extra().map(|notes| Record::CensusNotes { mrn: mrn.clone(), notes });
                out.push(Record::Panel(PanelEvent {
                    mrn,
                    action: PanelAction::Join,
                    // Not an ADT event: the panel keeps its last event.
                    event: String::new(),
                    event_at: None,
                    location: t("location"),
                    attending: t("attending"),
                    visit_number: t("visit_number"),
                    admitted_at: self.opt_time("admitted_at"),
                    discharged_at: None,
                }));
                out.extend(notes);
                out
            }
            CsvKind::Patients => vec![Record::Patient(self.patient(&mrn, true))],
            CsvKind::Observations => {
                let value = self.required("value")?;
                let numeric_value = value.parse::<f64>().ok().filter(|v| v.is_finite());
                let value_type =
                    t("value_type").or_else(|| Some(if numeric_value.is_some() { "NM" } else { "ST" }.to_string()));
                let order_id = t("order_id");
                let observed_at = self.opt_time("observed_at");
                if order_id.is_none() && observed_at.is_none() {
                    // Without an order id a result is known by patient, code and observed time;
                    // without both, it could not be told from the patient's other results of
                    // that code (it would replace them).
                    return Err((
                        self.column("observed_at"),
                        format!(
                            "no order id and no readable observed time (formats tried: {}): the result could not be \
                             told from the patient's other results of this code; map the export's order id column \
                             if it has one, or give this field the formats its times are written in",
                            self.formats("observed_at").join(", ")
                        ),
                    ));
                }
                vec![Record::Observation(Observation {
                    // Without an order id: a re-export with another time is another result.
                    order_id: order_id.unwrap_or_default(),
                    code: self.required("code")?,
                    code_system: t("code_system"),
                    name: t("name"),
                    numeric_value: numeric_value.filter(|_| value_type.as_deref() == Some("NM")),
                    value_type,
                    value: Some(value),
                    unit: t("unit"),
                    reference_range: t("reference_range"),
                    abnormal_flag: t("abnormal_flag"),
                    status: t("status").map(|s| result_status(&s)),
                    observed_at,
                    resulted_at: self.opt_time("resulted_at"),
                    comment: t("comment"),
                    mrn,
                })]
            }
            CsvKind::Medications => vec![Record::Medication(Medication {
                // Without an order id a medication order is known by its drug, start and route:
                // a re-export that writes one of them otherwise is another order.
                order_id: t("order_id").unwrap_or_else(|| {
                    let part = |f: &str| self.text(f).unwrap_or_default().to_lowercase();
                    format!("{}|{}|{}", part("name"), part("start_at"), part("route"))
                }),
                name: self.required("name")?,
                code: t("code"),
                code_system: t("code_system"),
                // "5" and "mg" in two columns are one dose, "5 mg".
                dose: match (t("dose"), t("dose_unit")) {
                    (Some(dose), Some(unit)) => Some(format!("{dose} {unit}")),
                    (dose, _) => dose,
                },
                route: t("route"),
                frequency: t("frequency"),
                // A complete list lists current orders: one without a status is active.
                status: t("status")
                    .map(|s| medication_status(&s))
                    .or_else(|| self.ctx.mapping.complete.then(|| "active".to_string())),
                start_at: self.opt_time("start_at"),
                end_at: self.opt_time("end_at"),
                mrn,
            })],
            CsvKind::Problems => vec![Record::Problem(Problem {
                description: self.required("description")?,
                code: t("code"),
                code_system: t("code_system"),
                status: t("status").map(|s| s.to_lowercase()),
                onset_at: self.opt_time("onset_at"),
                resolved_at: self.opt_time("resolved_at"),
                origin: ProblemOrigin::ProblemList,
                deleted: false,
                mrn,
            })],
            CsvKind::Allergies => vec![Record::Allergy(Allergy {
                allergen: self.required("allergen")?,
                code: t("code"),
                code_system: t("code_system"),
                allergy_type: t("allergy_type"),
                severity: t("severity"),
                reaction: t("reaction"),
                identified_at: self.opt_time("identified_at"),
                mrn,
            })],
            CsvKind::DocumentsManifest => {
                let file_name = self.required("file_name")?;
                if file_name.contains(['/', '\\']) || file_name == ".." {
                    return Err((self.column("file_name"), "a file name, not a path, is expected".into()));
                }
                vec![Record::ManifestEntry(ManifestEntry {
                    file_name,
                    doc_type: t("doc_type"),
                    title: t("title"),
                    author: t("author"),
                    authored_at: self.opt_time("authored_at"),
                    mrn,
                })]
            }
        };
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("UTC").expect("zone")
    }

    fn run(name: &str, bytes: &[u8]) -> Result<ParsedFile, HeaderMismatch> {
        let mappings = built_in_mappings();
        let c = candidates(name, &mappings);
        parse(name, bytes, &c, utc())
    }

    fn records(file: &ParsedFile) -> Vec<&Record> {
        file.messages.iter().flat_map(|m| &m.records).collect()
    }

    #[test]
    fn a_census_joins_every_row_and_lists_the_mrns_and_the_export_time_comes_from_the_name() {
        let csv = "MRN,Last Name,First Name,Location,Attending,Admitted\r\n\
                   MRN2,Beta,Bo,5W-502-A,\"Orsolini, Marco\",2026-11-22 16:10\r\n\
                   MRN1,Alpha,Al,5W-501-A,\"Fairweather, Helena\",2026-11-19 14:30\r\n";
        let file = run("census_5W_20261124_0500.csv", csv.as_bytes()).expect("parsed");
        assert!(file.rejects.is_empty(), "{:?}", file.rejects);
        assert_eq!(
            file.exported_at.map(|(t, o)| (t.to_rfc3339(), o)),
            Some(("2026-11-24T05:00:00+00:00".into(), "file name"))
        );
        let all = records(&file);
        let Record::Panel(p) = all[1] else { panic!("{all:?}") };
        assert_eq!(p.attending.as_deref(), Some("Orsolini, Marco"));
        assert_eq!(p.admitted_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-22T16:10:00+00:00"));
        assert_eq!(all.last(), Some(&&Record::Census { mrns: vec!["MRN1".into(), "MRN2".into()] }));
    }

    #[test]
    fn a_rejected_census_row_still_keeps_its_patient_on_the_panel() {
        // An unreadable admission time leaves the row a census row, without that time; a row that
        // cannot be read at all (a wrong column count) is a reject and lists nobody.
        let csv = "MRN,Admitted\nMRN1,2026-11-22 08:00\nMRN2,not a date\nMRN3,x,y\n";
        let file = run("census_5W_20261124_0500.csv", csv.as_bytes()).expect("parsed");
        assert_eq!(file.rejects.len(), 1, "{:?}", file.rejects);
        let warned: Vec<(usize, Option<&str>)> = file.warnings.iter().map(|w| (w.line, w.field.as_deref())).collect();
        assert_eq!(warned, [(3, Some("Admitted"))], "an unreadable admission time is left empty");
        assert_eq!(records(&file).last(), Some(&&Record::Census { mrns: vec!["MRN1".into(), "MRN2".into()] }));
    }

    #[test]
    fn quoted_fields_keep_commas_and_newlines_and_line_numbers_count_physical_lines() {
        let csv = "MRN,Order ID,Test Code,Test Name,Result,Collected\n\
                   MRN1,F1,600-7,\"Culture, blood\",\"No growth.\nFinal to follow.\",2026-11-24 03:00\n\
                   ,F1,2345-7,Glucose,98,2026-11-24 03:00\n\
                   MRN1,F1,2345-7,Glucose,98,yesterday\n\
                   MRN1,F1,2345-7\n";
        let file = run("labs_x.csv", csv.as_bytes()).expect("parsed");
        let Record::Observation(o) = records(&file)[0] else { panic!() };
        assert_eq!(o.name.as_deref(), Some("Culture, blood"));
        assert_eq!(o.value.as_deref(), Some("No growth.\nFinal to follow."));
        assert_eq!(o.value_type.as_deref(), Some("ST"));
        let got: Vec<(usize, usize, Option<&str>)> =
            file.rejects.iter().map(|r| (r.index, r.line, r.segment.as_deref())).collect();
        assert_eq!(got, [(2, 4, Some("MRN")), (4, 6, None)]);
        assert!(file.rejects[1].reason.starts_with("wrong column count"), "{:?}", file.rejects[1]);
        // "yesterday" is no collection time: the result lands without one, warned.
        let warned: Vec<(usize, usize, Option<&str>)> =
            file.warnings.iter().map(|w| (w.index, w.line, w.field.as_deref())).collect();
        assert_eq!(warned, [(3, 5, Some("Collected"))]);
        // The same file with CRLF line ends (as Windows-side exports write them): the same lines.
        let file = run("labs_x.csv", csv.replace('\n', "\r\n").as_bytes()).expect("parsed");
        let got: Vec<(usize, usize)> = file.rejects.iter().map(|r| (r.index, r.line)).collect();
        assert_eq!(got, [(2, 4), (4, 6)]);
        assert_eq!(file.warnings.iter().map(|w| (w.index, w.line)).collect::<Vec<_>>(), [(3, 5)]);
    }

    #[test]
    fn a_documents_manifest_row_names_a_pdf_and_a_path_is_a_reject() {
        let csv = "File,MRN,Document Type,Title,Author,Document Date\n\
                   scan_17.pdf,MRN1,Consult,Outside consult,Dr. Vale,2026-11-20 10:00\n\
                   ../scan_18.pdf,MRN1,Consult,,,\n";
        let file = run("documents_x.csv", csv.as_bytes()).expect("parsed");
        let Record::ManifestEntry(e) = records(&file)[0] else { panic!("{file:?}") };
        assert_eq!((e.file_name.as_str(), e.mrn.as_str()), ("scan_17.pdf", "MRN1"));
        assert_eq!((e.doc_type.as_deref(), e.author.as_deref()), (Some("Consult"), Some("Dr. Vale")));
        assert_eq!(e.authored_at.map(ingest_core::time::rfc3339).as_deref(), Some("2026-11-20T10:00:00Z"));
        assert_eq!(
            file.rejects.iter().map(|r| (r.line, r.segment.as_deref())).collect::<Vec<_>>(),
            [(3, Some("File"))]
        );
    }

    #[test]
    fn windows_1252_and_a_utf8_bom_are_decoded() {
        let mut latin = b"MRN;Nom\nMRN1;Ren\xe9e\n".to_vec();
        let mut mapping = built_in_mappings().into_iter().find(|m| m.kind == CsvKind::Patients).expect("patients");
        mapping.delimiter = b';';
        mapping.encoding = encoding_rs::WINDOWS_1252;
        mapping.columns.insert("given_name".into(), vec!["Nom".into()]);
        let file = parse("p.csv", &latin, &[&mapping], utc()).expect("parsed");
        let Record::Patient(p) = records(&file)[0] else { panic!() };
        assert_eq!(p.given_name.as_deref(), Some("Renée"));

        latin = b"\xef\xbb\xbfMRN;Nom\nMRN1;Ren\xc3\xa9e\n".to_vec();
        let file = parse("p.csv", &latin, &[&mapping], utc()).expect("a BOM wins over the mapping's encoding");
        let Record::Patient(p) = records(&file)[0] else { panic!() };
        assert_eq!(p.given_name.as_deref(), Some("Renée"));
    }

    #[test]
    fn a_mapped_column_missing_from_the_header_does_not_fit_unless_the_mapping_marks_it_optional() {
        let mut mapping = built_in_mappings().into_iter().find(|m| m.kind == CsvKind::Census).expect("census");
        mapping.columns = [("mrn", "MRN"), ("location", "Bed"), ("attending", "Attending MD")]
            .into_iter()
            .map(|(f, c)| (f.to_string(), vec![c.to_string()]))
            .collect();
        mapping.may_lack.clear();
        let csv = "MRN,Bed\nM1,7E-12-A\n";
        let err = parse("census_x.csv", csv.as_bytes(), &[&mapping], Zone::Host).expect_err("attending is mapped");
        assert_eq!(
            err.expected,
            [("census".to_string(), vec!["MRN".to_string(), "Bed".into(), "Attending MD".into()])]
        );
        assert_eq!(err.found, ["MRN", "Bed"]);
        mapping.may_lack.insert("attending".into());
        let file = parse("census_x.csv", csv.as_bytes(), &[&mapping], Zone::Host).expect("attending may be lacking");
        assert!(file.rejects.is_empty());
    }

    #[test]
    fn an_unknown_header_names_the_columns_each_mapping_expected() {
        let err = run("report.csv", b"Name,Score\nx,1\n").expect_err("no mapping");
        let labs = err.expected.iter().find(|(n, _)| n == "labs").expect("labs tried");
        assert_eq!(labs.1, ["MRN", "Test Code", "Result"]);
        assert_eq!(err.expected.len(), built_in_mappings().len());
    }

    #[test]
    fn a_first_row_that_looks_like_a_patient_is_not_quoted_and_a_part_that_does_not_match_is_warned() {
        assert_eq!(header_or_data(vec!["MRN".into(), "Bed".into()]), ["MRN", "Bed"]);
        let quoted = header_or_data(vec!["M1".into(), "NGUYEN".into(), "1962-03-05".into()]);
        assert_eq!(quoted, ["no header? the first row has digits in 2 of its 3 cells (not shown)"]);

        let mut mapping = built_in_mappings().into_iter().find(|m| m.kind == CsvKind::Census).expect("census");
        mapping.columns = [("mrn", "MRN")].into_iter().map(|(f, c)| (f.to_string(), vec![c.to_string()])).collect();
        let part = |group: &str| Derived::Part {
            column: "Patient Name".into(),
            regex: regex::Regex::new(NAME_PARTS).expect("regex"),
            group: group.into(),
        };
        mapping.derived.insert("family_name".into(), part("family"));
        mapping.derived.insert("given_name".into(), part("given"));
        // A name without a comma is a family name alone, not a miss.
        let csv = "MRN,Patient Name\nM1,MADONNA\n";
        let file = parse("census_x.csv", csv.as_bytes(), &[&mapping], Zone::Host).expect("parsed");
        assert!(file.warnings.is_empty(), "{:?}", file.warnings);
        let Record::Patient(p) = records(&file)[0] else { panic!("{file:?}") };
        assert_eq!((p.family_name.as_deref(), p.given_name.as_deref()), (Some("MADONNA"), None));
        // A pattern that does not match the cell at all is warned.
        let regex = regex::Regex::new(r"^(?<family>[^,]+),").expect("regex");
        mapping.derived.insert(
            "family_name".into(),
            Derived::Part { column: "Patient Name".into(), regex, group: "family".into() },
        );
        mapping.derived.remove("given_name");
        let csv = "MRN,Patient Name\nM1,NGUYEN LINH\n";
        let file = parse("census_x.csv", csv.as_bytes(), &[&mapping], Zone::Host).expect("parsed");
        let warned: Vec<(Option<&str>, &str)> =
            file.warnings.iter().map(|w| (w.field.as_deref(), w.reason.as_str())).collect();
        assert_eq!(
            warned,
            [(Some("Patient Name"), "does not match the mapping's pattern for family_name (group family); left empty")]
        );
    }

    #[test]
    fn without_a_config_a_file_with_a_column_no_built_in_mapping_knows_is_refused_not_guessed() {
        // A bed board's census: the name in one column, the place in three. The first census
        // mapping would read `Bed` as the location and no name at all; the bed-board one knows
        // every column.
        let csv = "MRN,Patient Name,Unit,Room,Bed,Attending\nM1,\"NGUYEN, LINH T\",7E,12,A,\"Orsolini, Marco\"\n";
        let file = run("census_7E_20261124_0500.csv", csv.as_bytes()).expect("the bed-board mapping reads it");
        assert!(file.warnings.is_empty() && file.rejects.is_empty(), "{file:?}");
        let all = records(&file);
        let (Record::Patient(p), Record::Panel(e)) = (all[0], all[1]) else { panic!("{all:?}") };
        assert_eq!((p.family_name.as_deref(), p.given_name.as_deref()), (Some("NGUYEN"), Some("LINH T")));
        assert_eq!(e.location.as_deref(), Some("7E-12-A"));

        // One column more, which no built-in mapping knows: refused, naming it.
        let csv = "MRN,Patient Name,Unit,Room,Bed,Fall Risk\nM1,\"NGUYEN, LINH T\",7E,12,A,High\n";
        let err = run("census_7E_20261124_0500.csv", csv.as_bytes()).expect_err("a guess is refused");
        assert_eq!(err.unknown, ["Fall Risk"]);
        let message = crate::FileError::CsvHeader { expected: err.expected, found: err.found, unknown: err.unknown };
        assert!(
            message
                .to_string()
                .contains("not known: Fall Risk (the header has: MRN, Patient Name, Unit, Room, Bed, Fall Risk)"),
            "{message}"
        );
        // A configured mapping reads what it maps and leaves the rest: the site chose.
        let mut configured = built_in_mappings().into_iter().find(|m| m.name.contains("bed")).expect("bed board");
        configured.whole_header = false;
        let file = parse("census_7E.csv", csv.as_bytes(), &[&configured], Zone::Host).expect("configured");
        assert_eq!(file.messages.len(), 1);
    }

    #[test]
    fn a_complete_list_names_what_it_lists_and_a_row_it_cannot_read_makes_it_take_nothing_off() {
        let mut mapping = built_in_mappings().into_iter().find(|m| m.kind == CsvKind::Medications).expect("meds");
        mapping.complete = true;
        let list = |file: &ParsedFile| {
            records(file).into_iter().find_map(|r| match r {
                Record::MedicationList { mrns, orders } => Some((mrns.clone(), orders.len())),
                _ => None,
            })
        };
        // No status column: a complete list lists current orders.
        let csv = "MRN,Order ID,Medication\nM1,O1,Heparin\nM2,O2,Insulin\n";
        let file = parse("medications_x.csv", csv.as_bytes(), &[&mapping], utc()).expect("parsed");
        assert_eq!(list(&file), Some((vec!["M1".to_string(), "M2".to_string()], 2)));
        let Record::Medication(m) = records(&file)[0] else { panic!("{file:?}") };
        assert_eq!(m.status.as_deref(), Some("active"));
        // A row with a wrong column count: whose it is cannot be trusted, so nothing is taken off.
        let csv = "MRN,Order ID,Medication\nM1,O1,Heparin\nM2,O2,Insulin,extra\n";
        let file = parse("medications_x.csv", csv.as_bytes(), &[&mapping], utc()).expect("parsed");
        assert_eq!(list(&file), None);
        assert_eq!(file.warnings.iter().map(|w| w.line).collect::<Vec<_>>(), [3]);
        assert!(file.warnings[0].reason.contains("the list takes no order off"), "{:?}", file.warnings);
    }

    #[test]
    fn a_report_s_status_words_read_as_hl7_statuses_and_an_unknown_word_is_kept() {
        let medications = ["Active", "On Hold", "ON-HOLD", "D/C", "Stopped", "Expired", "Canceled", "Pending verify"];
        let read: Vec<String> = medications.iter().map(|s| medication_status(s)).collect();
        assert_eq!(
            read,
            ["active", "held", "held", "discontinued", "discontinued", "completed", "cancelled", "pending verify"]
        );
        let results: Vec<String> =
            ["Final", "Prelim", "Corrected", "F", "In lab"].iter().map(|s| result_status(s)).collect();
        assert_eq!(results, ["F", "P", "C", "F", "In lab"]);
        let sexes: Vec<String> =
            ["Female", "male", "F", "Unknown", "Intersex"].iter().map(|s| administrative_sex(s)).collect();
        assert_eq!(sexes, ["F", "M", "F", "U", "Intersex"]);
    }

    #[test]
    fn labs_and_medications_without_order_ids_land_keyed_by_what_they_have() {
        let labs = "MRN,Test Code,Test Name,Result,Collected\nM1,2345-7,Glucose,182,2026-12-03 04:10\n";
        let file = run("labs_x.csv", labs.as_bytes()).expect("no order id needed");
        let Record::Observation(o) = records(&file)[0] else { panic!("{file:?}") };
        assert_eq!((o.order_id.as_str(), o.code.as_str(), o.value.as_deref()), ("", "2345-7", Some("182")));
        let meds = "MRN,Medication,Dose,Dose Unit,Route\nM1,Heparin,5000,units,SC\n";
        let file = run("medications_x.csv", meds.as_bytes()).expect("no order id needed");
        let Record::Medication(m) = records(&file)[0] else { panic!("{file:?}") };
        assert_eq!((m.order_id.as_str(), m.dose.as_deref()), ("heparin||sc", Some("5000 units")));
        // Without an order id and without a collection time a result cannot be told from others.
        let labs = "MRN,Test Code,Result\nM1,2345-7,182\n";
        let file = run("labs_x.csv", labs.as_bytes()).expect("parsed");
        assert_eq!(file.rejects.len(), 1, "{file:?}");
    }

    #[test]
    fn each_kind_makes_its_record() {
        let cases: [(&str, &str, &str); 4] = [
            (
                "medications_1.csv",
                "MRN,Order ID,Medication,Status,Start\nM,RX1,Apixaban,Active,2026-11-24 08:00\n",
                "medication",
            ),
            ("problems_1.csv", "MRN,Code,Problem,Onset\nM,I10,Hypertension,2019-01-01\n", "problem"),
            ("allergies_1.csv", "MRN,Allergen,Reaction\nM,Penicillin,Hives\n", "allergy"),
            ("patients_1.csv", "MRN,Last Name,DOB\nM,Alpha,1950-02-14\n", "patient"),
        ];
        for (name, csv, kind) in cases {
            let file = run(name, csv.as_bytes()).expect(name);
            assert!(file.rejects.is_empty(), "{name}: {:?}", file.rejects);
            assert_eq!(records(&file).iter().map(|r| r.kind()).collect::<Vec<_>>(), [kind], "{name}");
        }
    }

    // The same entry point as the cargo-fuzz target `csv_parse`, run here on every `cargo test`.
    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_under_any_csv_name_never_panic(
            pick in 0usize..6,
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
        ) {
            let names = ["census_5W_20261124_0500.csv", "labs_5W_20261124_0500.csv", "medications_5W_20261124_0500.csv",
                "allergies_5W_20261124_0500.csv", "problems_5W_20261124_0500.csv", "documents_5W_20261124_0500.csv"];
            let _ = crate::parse_named(names[pick], &bytes, &crate::ParseOptions::default());
        }

        #[test]
        fn a_real_header_with_arbitrary_rows_never_panics(rows in "[A-Za-z0-9,\"\r\n ;:./-]{0,2000}") {
            let text = format!("MRN,Order ID,Test Code,Code System,Test Name,Result,Units,Reference Range,Flag,Status,Collected,Resulted\n{rows}");
            let _ = crate::parse_named("labs_5W_20261124_0500.csv", text.as_bytes(), &crate::ParseOptions::default());
        }
    }
}
