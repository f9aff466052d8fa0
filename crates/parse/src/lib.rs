//! Parsers: pure functions from a file's bytes to normalized records and per-message rejects.
//! No I/O, no SQLite, no clock: the pipeline reads the file and decides what to do with the result.

pub mod csv;
pub mod hl7;
pub mod pdf;

use ingest_core::model::{ParsedFile, Reject};
use ingest_core::time::Zone;

/// What a parser needs to know beyond the bytes.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// The zone of timestamps that carry no UTC offset.
    pub zone: Zone,
    /// Which PID-3 repetition is the MRN.
    pub mrn: MrnRule,
    /// How to read a file that is not valid UTF-8 and whose MSH-18 names no known charset.
    pub default_charset: &'static encoding_rs::Encoding,
    /// A file larger than this is not read (it is quarantined: [`FileError::TooLarge`]).
    pub max_file_bytes: u64,
    /// Whether an HL7 file's FHS/BHS must be closed by FTS/BTS (else it was cut short).
    pub require_batch_trailers: bool,
    /// HL7 message types (`VXU`, or `VXU^V04`) the snapshot does not use that are rejects all the
    /// same; any other unused type is counted as not used.
    pub reject_types: Vec<String>,
    /// How to read CSV files, by file name (`[[csv.mapping]]`, else the built-in mappings).
    pub csv: Vec<csv::CsvMapping>,
    /// How to read PDF notes (`[pdf]`, `[[pdf.mapping]]`, else the built-in mapping).
    pub pdf: pdf::PdfOptions,
    /// Per source with `locations`: the locations (globs) its panel holds.
    pub locations: std::collections::BTreeMap<String, globset::GlobSet>,
}

/// A source's panel holds its `locations` only: an event that places a patient elsewhere (a
/// hospital-wide ADT feed's other units, or a census row there) becomes
/// [`PanelAction::Elsewhere`], and a transfer (A02) into them [`PanelAction::TransferIn`]. A
/// discharge, a cancelled admission, and an event without a location are kept as they are.
pub fn keep_to_locations(file: &mut ParsedFile, locations: &globset::GlobSet) {
    use ingest_core::model::{PanelAction, Record};
    let records = file.messages.iter_mut().flat_map(|m| m.records.iter_mut());
    for record in records {
        let Record::Panel(event) = record else { continue };
        let placing = matches!(
            event.action,
            PanelAction::Join | PanelAction::Place | PanelAction::Update | PanelAction::CancelDischarge
        );
        match event.location.as_deref() {
            Some(location) if placing && !locations.is_match(location) => event.action = PanelAction::Elsewhere,
            Some(_) if event.event == "A02" && matches!(event.action, PanelAction::Place | PanelAction::Update) => {
                event.action = PanelAction::TransferIn;
            }
            _ => {}
        }
    }
}

/// `max_file_mb` when not set: far above any export seen (the largest generated day is ~2 MB).
pub const DEFAULT_MAX_FILE_MB: u64 = 512;

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            zone: Zone::Host,
            mrn: MrnRule::default(),
            default_charset: encoding_rs::WINDOWS_1252,
            max_file_bytes: DEFAULT_MAX_FILE_MB << 20,
            require_batch_trailers: true,
            reject_types: Vec::new(),
            csv: csv::built_in_mappings(),
            pdf: pdf::PdfOptions::default(),
            locations: Default::default(),
        }
    }
}

/// The MRN is the first PID-3 repetition whose identifier type (CX-5) is `id_type` and, when
/// `authority` is set, whose assigning authority (CX-4.1) matches; without such a repetition, the
/// first repetition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrnRule {
    pub id_type: String,
    pub authority: Option<String>,
}

impl Default for MrnRule {
    fn default() -> Self {
        MrnRule { id_type: "MR".into(), authority: None }
    }
}

/// The format of a file, told from its first bytes (names lie; content does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Hl7,
    Csv,
    Pdf,
    Unknown,
}

impl FileKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileKind::Hl7 => "hl7",
            FileKind::Csv => "csv",
            FileKind::Pdf => "pdf",
            FileKind::Unknown => "unknown",
        }
    }
}

/// Why a whole file cannot be ingested (it goes to quarantine). Per-message problems are
/// [`ingest_core::model::Reject`]s instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    /// An HL7 batch whose header and trailer segments do not match up: most likely cut short.
    #[error("the batch envelope does not hold ({problem}): the file may be cut short, so none of it was taken")]
    Envelope { problem: String },
    /// A symbolic link, a FIFO, a device or a folder where a file was expected: never followed or read.
    #[error("not a regular file ({what}): it was not read")]
    NotAFile { what: &'static str },
    #[error("the file is {size} bytes, more than max_file_mb allows ({limit} bytes): it was not read")]
    TooLarge { size: u64, limit: u64 },
    /// A file name that is not UTF-8 or holds control characters: no EHR export is named so, and
    /// such a name would be garbled in the ledger or forge lines in a log.
    #[error("the file name {what}: the file was not read")]
    BadName { what: &'static str },
    /// `head` shows the first bytes, for the quarantine report only (never logged: it may be PHI).
    #[error("not a recognised export: expected an HL7 v2 file starting with MSH, FHS or BHS")]
    Unrecognised { head: String },
    #[error("no message in the file could be ingested ({} rejected; first: line {}: {})",
        rejects.len(), rejects.first().map_or(1, |r| r.line),
        rejects.first().map_or("no MSH segment", |r| r.reason.as_str()))]
    NothingUsable { rejects: Vec<Reject> },
    /// A CSV file whose header has the required columns of no mapping for its name.
    #[error("{}", csv_header(expected, found, unknown))]
    CsvHeader { expected: Vec<(String, Vec<String>)>, found: Vec<String>, unknown: Vec<String> },
    /// A CSV file with a header and no row at all (a census of nobody would empty the panel).
    #[error("the CSV file has a header but no rows")]
    CsvNoRows,
    /// A PDF whose name gives no patient and that no documents manifest lists.
    #[error("the PDF's file name gives no MRN and no documents manifest lists it: expected {} or a row in a documents manifest CSV", expected.join(" or "))]
    PdfName { expected: Vec<String> },
    /// [`parse_named`] was handed a PDF: its text must be extracted first ([`parse_pdf`]).
    #[error("a PDF's text must be extracted before it is parsed")]
    PdfNotExtracted,
}

fn csv_header(expected: &[(String, Vec<String>)], found: &[String], unknown: &[String]) -> String {
    if !unknown.is_empty() {
        return format!(
            "no [[csv.mapping]] is configured, and the built-in mappings read a file only when they know every \
             column of its header; not known: {} (the header has: {}). Configure a [[csv.mapping]] for this \
             file; `ingest check-config` shows how it will be read",
            unknown.join(", "),
            found.join(", ")
        );
    }
    let expected: Vec<String> =
        expected.iter().map(|(name, columns)| format!("{name} expected {}", columns.join(", "))).collect();
    format!("the CSV header matches no mapping: {}; the header has: {}", expected.join("; "), found.join(", "))
}

/// Tell the format of a file from its first bytes.
pub fn sniff(bytes: &[u8]) -> FileKind {
    if hl7::looks_like_hl7(bytes) {
        FileKind::Hl7
    } else if looks_like_pdf(bytes) {
        FileKind::Pdf
    } else {
        FileKind::Unknown
    }
}

/// `%PDF-` within the first 1024 bytes (readers accept leading junk up to there).
fn looks_like_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-")
}

/// Tell the format of a file from its first bytes, then its name: HL7 content is HL7 whatever the
/// name; otherwise a name that a CSV mapping serves (or any `*.csv`) is CSV.
pub fn sniff_named(file_name: &str, bytes: &[u8], options: &ParseOptions) -> FileKind {
    match sniff(bytes) {
        FileKind::Unknown if !csv::candidates(file_name, &options.csv).is_empty() => FileKind::Csv,
        kind => kind,
    }
}

/// Parse a whole file whose name is not known (HL7 only): see [`parse_named`].
pub fn parse_file(bytes: &[u8], options: &ParseOptions) -> Result<(FileKind, ParsedFile), FileError> {
    parse_named("", bytes, options)
}

/// Parse a whole file; `file_name` (no directory) chooses the CSV mapping. A file whose every
/// message was rejected is a [`FileError`], so that it is quarantined rather than recorded as
/// ingested with nothing in it.
pub fn parse_named(file_name: &str, bytes: &[u8], options: &ParseOptions) -> Result<(FileKind, ParsedFile), FileError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    match sniff_named(file_name, bytes, options) {
        FileKind::Hl7 => {
            let parsed = hl7::parse(bytes, options).map_err(|problem| FileError::Envelope { problem })?;
            // Messages of types the snapshot does not use count for nothing here: a file whose every
            // used message was rejected is refused whole.
            let nothing_used = parsed.messages.iter().all(|m| m.records.is_empty());
            if parsed.messages.is_empty() || (nothing_used && !parsed.rejects.is_empty()) {
                return Err(FileError::NothingUsable { rejects: parsed.rejects });
            }
            Ok((FileKind::Hl7, parsed))
        }
        FileKind::Csv => {
            let candidates = csv::candidates(file_name, &options.csv);
            let parsed = csv::parse(file_name, bytes, &candidates, options.zone).map_err(|m| FileError::CsvHeader {
                expected: m.expected,
                found: m.found,
                unknown: m.unknown,
            })?;
            if parsed.messages.is_empty() {
                return Err(if parsed.rejects.is_empty() {
                    FileError::CsvNoRows
                } else {
                    FileError::NothingUsable { rejects: parsed.rejects }
                });
            }
            Ok((FileKind::Csv, parsed))
        }
        FileKind::Pdf => Err(FileError::PdfNotExtracted),
        FileKind::Unknown => Err(FileError::Unrecognised { head: describe_head(bytes) }),
    }
}

/// Parse a PDF note from what its source's documents manifest (`listed`) or else its name says, and
/// what the extractor read (or why it could not: the document is then kept with `text_status`
/// `failed`): one document, or a [`FileError`] (nothing identifies the PDF) that quarantines it.
pub fn parse_pdf(
    file_name: &str,
    sha256: &str,
    listed: Option<&ingest_core::model::ManifestEntry>,
    extraction: Result<pdf::Extraction, pdf::ExtractFailure>,
    options: &ParseOptions,
) -> Result<(FileKind, ParsedFile), FileError> {
    let facts = match listed {
        Some(entry) => pdf::NameFacts::from_manifest(entry),
        None => pdf::identify(file_name, &options.pdf.mappings, options.zone)
            .map_err(|expected| FileError::PdfName { expected })?,
    };
    Ok((FileKind::Pdf, pdf::parse(&facts, file_name, sha256, &extraction)))
}

/// What each row of a CSV file is, told from its name and first bytes (`None`: not a CSV export).
pub fn csv_kind(file_name: &str, prefix: &[u8], options: &ParseOptions) -> Option<csv::CsvKind> {
    if sniff_named(file_name, prefix, options) != FileKind::Csv {
        return None;
    }
    csv::kind_of(prefix, &csv::candidates(file_name, &options.csv))
}

/// The first bytes of a file, printable, for an error message (no more than 16 bytes: never PHI-sized).
pub fn describe_head(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let text: String = head.escape_ascii().to_string();
    format!("\"{text}\"")
}

/// The export time that a file's header declares, read from its first bytes only (the whole file is
/// not needed to order a replay). `prefix` may end mid-message.
pub fn exported_at_hint(
    file_name: &str,
    prefix: &[u8],
    options: &ParseOptions,
) -> Option<(chrono::DateTime<chrono::Utc>, &'static str)> {
    match sniff_named(file_name, prefix, options) {
        FileKind::Hl7 => {
            // Cut at the last segment end so that a truncated tail does not become a reject.
            let end = prefix.iter().rposition(|&b| b == b'\r' || b == b'\n').map_or(prefix.len(), |i| i + 1);
            hl7::header_exported_at(&prefix[..end], options)
        }
        FileKind::Csv => {
            let candidates = csv::candidates(file_name, &options.csv);
            csv::exported_at_hint(file_name, prefix, &candidates, options.zone).map(|t| (t, "CSV"))
        }
        FileKind::Pdf => {
            pdf::exported_at_hint(file_name, &options.pdf.mappings, options.zone).map(|t| (t, "file name"))
        }
        FileKind::Unknown => None,
    }
}
