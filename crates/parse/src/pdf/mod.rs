//! PDF notes: the file name says whose note it is (a [`PdfMapping`]), the extracted text is the
//! body. Pure: the text is extracted beforehand ([`extract_text`], which the binary runs in a child process
//! with limits) and handed in as an [`Extraction`] or an [`ExtractFailure`]; no I/O, no clock here.

mod text;

pub use text::extract_text;

use chrono::{DateTime, Utc};
use ingest_core::model::{Document, ParsedFile, ParsedMessage, PdfInfo, Record};
use ingest_core::time::Zone;
use std::time::Duration;

/// What the extractor read from a PDF.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extraction {
    pub pages: u32,
    pub text: String,
}

/// Why the extractor read nothing from a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractFailure {
    /// The extractor refused the file (truncated, encrypted, malformed): its reason.
    Unreadable(String),
    /// The extractor panicked or its process died.
    Crashed,
    /// The extractor did not finish within the time limit.
    TimedOut(Duration),
    /// The extractor could not be started (not the file's fault: the file is tried again later).
    Unavailable(String),
}

impl std::fmt::Display for ExtractFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExtractFailure::Unreadable(reason) => write!(f, "{reason}"),
            ExtractFailure::Crashed => write!(f, "the PDF extractor crashed on this file"),
            ExtractFailure::TimedOut(limit) => {
                write!(f, "the PDF extractor timed out after {}", humantime::format_duration(*limit))
            }
            ExtractFailure::Unavailable(reason) => write!(f, "{reason}"),
        }
    }
}

/// `text_status` of a PDF document whose text was extracted.
pub const TEXT_OK: &str = "ok";
/// `text_status` of a PDF with pages but no text (a scan): kept, with an empty text.
pub const NO_TEXT_LAYER: &str = "no_text_layer";
/// `text_status` of a PDF whose text could not be extracted: kept, with an empty text and the reason.
pub const TEXT_FAILED: &str = "failed";

/// One `[[pdf.mapping]]`, checked: which names it serves and how the name gives the patient,
/// the document type and the date.
#[derive(Debug, Clone)]
pub struct PdfMapping {
    pub name: String,
    /// The file-name glob as written (case-insensitive).
    pub pattern: String,
    pub matcher: globset::GlobMatcher,
    /// Named groups: `mrn` (required), `doc_type` and `date` (optional).
    pub file_name: regex::Regex,
    /// The strftime format of the `date` group, read in the configured zone.
    pub date_format: String,
    /// How the expected name looks, for the quarantine message.
    pub example: String,
}

/// How PDFs are read: the mappings (config, else built in), the extractor's time limit, and how
/// long a dropped PDF that nothing identifies waits for its documents manifest.
#[derive(Debug, Clone)]
pub struct PdfOptions {
    pub mappings: Vec<PdfMapping>,
    pub timeout: Duration,
    pub manifest_wait: Duration,
}

/// The default time limit of one extraction.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a dropped PDF whose name gives no MRN waits for a manifest that lists it.
pub const DEFAULT_MANIFEST_WAIT: Duration = Duration::from_secs(600);

impl Default for PdfOptions {
    fn default() -> Self {
        PdfOptions { mappings: built_in_mappings(), timeout: DEFAULT_TIMEOUT, manifest_wait: DEFAULT_MANIFEST_WAIT }
    }
}

/// The mapping for `NOTE_<MRN>_<DOCTYPE>_<YYYYMMDDHHMM>.pdf`.
pub fn built_in_mappings() -> Vec<PdfMapping> {
    let pattern = "NOTE_*.pdf";
    vec![PdfMapping {
        name: "notes".into(),
        pattern: pattern.into(),
        matcher: super::csv::glob(pattern).expect("built-in glob"),
        file_name: regex::Regex::new(
            r"(?i)^NOTE_(?<mrn>[A-Za-z0-9]+)_(?<doc_type>[A-Za-z0-9-]+)_(?<date>\d{12})\.pdf$",
        )
        .expect("built-in regex"),
        date_format: "%Y%m%d%H%M".into(),
        example: "NOTE_<MRN>_<DOCTYPE>_<YYYYMMDDHHMM>.pdf".into(),
    }]
}

/// What a PDF's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFacts {
    pub mrn: String,
    pub doc_type: Option<String>,
    pub date: Option<DateTime<Utc>>,
    /// From a documents manifest only; the file name is the title otherwise.
    pub title: Option<String>,
    pub author: Option<String>,
}

impl NameFacts {
    /// What a documents manifest says of a PDF.
    pub fn from_manifest(entry: &ingest_core::model::ManifestEntry) -> NameFacts {
        NameFacts {
            mrn: entry.mrn.clone(),
            doc_type: entry.doc_type.clone(),
            date: entry.authored_at,
            title: entry.title.clone(),
            author: entry.author.clone(),
        }
    }
}

/// Read the patient, type and date from the name with the first mapping whose pattern and regex
/// match it; `Err` lists the names each mapping expected.
pub fn identify(file_name: &str, mappings: &[PdfMapping], zone: Zone) -> Result<NameFacts, Vec<String>> {
    for m in mappings.iter().filter(|m| m.matcher.is_match(file_name)) {
        let Some(caps) = m.file_name.captures(file_name) else { continue };
        let Some(mrn) = caps.name("mrn").map(|g| g.as_str().trim()).filter(|s| !s.is_empty()) else { continue };
        let doc_type = caps.name("doc_type").map(|g| g.as_str().trim().to_string()).filter(|s| !s.is_empty());
        let date = caps
            .name("date")
            .and_then(|g| super::csv::parse_time(g.as_str(), std::slice::from_ref(&m.date_format), zone));
        return Ok(NameFacts { mrn: mrn.to_string(), doc_type, date, title: None, author: None });
    }
    Err(mappings.iter().map(|m| format!("{} ({})", m.example, m.name)).collect())
}

/// The export time a PDF's name gives (its `date`), for ordering a replay.
pub fn exported_at_hint(file_name: &str, mappings: &[PdfMapping], zone: Zone) -> Option<DateTime<Utc>> {
    identify(file_name, mappings, zone).ok()?.date
}

/// One PDF → one document (`pdf/<first 16 hex of its sha256>`, event `PDF`). A PDF whose text
/// could not be extracted is still a document (`text_status` `failed`, no text, the reason in
/// `text_error`): the note exists, and a person can open the original.
pub fn parse(
    facts: &NameFacts,
    file_name: &str,
    sha256: &str,
    extraction: &Result<Extraction, ExtractFailure>,
) -> ParsedFile {
    let (text, page_count, text_status, text_error) = match extraction {
        Ok(e) => {
            let text = e.text.trim().to_string();
            let status = if text.is_empty() { NO_TEXT_LAYER } else { TEXT_OK };
            (text, Some(e.pages), status, None)
        }
        Err(failure) => (String::new(), None, TEXT_FAILED, Some(failure.to_string())),
    };
    let document = Document {
        mrn: facts.mrn.clone(),
        document_id: format!("pdf/{}", &sha256[..sha256.len().min(16)]),
        parent_id: None,
        doc_type: facts.doc_type.clone(),
        title: Some(facts.title.clone().unwrap_or_else(|| file_name.to_string())),
        authored_at: facts.date,
        author: facts.author.clone(),
        status: None,
        event: "PDF".into(),
        text,
        pdf: Some(PdfInfo { page_count, text_status: text_status.into(), text_error, sha256: sha256.to_string() }),
    };
    ParsedFile {
        exported_at: facts.date.map(|t| (t, "file name")),
        export_time_note: None,
        messages: vec![ParsedMessage {
            index: 1,
            control_id: None,
            message_type: "PDF".into(),
            records: vec![Record::Document(document)],
        }],
        rejects: Vec::new(),
        warnings: Vec::new(),
        not_used: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("UTC").expect("zone")
    }

    #[test]
    fn the_built_in_name_gives_patient_type_and_date() {
        let facts = identify("NOTE_MRN57552_ECHO_202611240430.pdf", &built_in_mappings(), utc()).expect("name");
        assert_eq!(facts.mrn, "MRN57552");
        assert_eq!(facts.doc_type.as_deref(), Some("ECHO"));
        assert_eq!(facts.date.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-24T04:30:00+00:00"));
        let expected = identify("scan0001.pdf", &built_in_mappings(), utc()).expect_err("no MRN");
        assert_eq!(expected, ["NOTE_<MRN>_<DOCTYPE>_<YYYYMMDDHHMM>.pdf (notes)"]);
    }

    #[test]
    fn an_empty_text_is_kept_as_no_text_layer() {
        let facts = NameFacts { mrn: "M1".into(), doc_type: None, date: None, title: None, author: None };
        let file = parse(&facts, "x.pdf", "0123456789abcdef0123", &Ok(Extraction { pages: 2, text: " \n\n".into() }));
        let Record::Document(d) = &file.messages[0].records[0] else { panic!("{file:?}") };
        assert_eq!(d.document_id, "pdf/0123456789abcdef");
        assert_eq!(d.pdf.as_ref().map(|p| (p.page_count, p.text_status.as_str())), Some((Some(2), NO_TEXT_LAYER)));
        assert_eq!(d.text, "");
        let failed = parse(&facts, "x.pdf", "0123456789abcdef0123", &Err(ExtractFailure::Crashed));
        let Record::Document(d) = &failed.messages[0].records[0] else { panic!("{failed:?}") };
        let pdf = d.pdf.as_ref().expect("pdf info");
        assert_eq!((pdf.page_count, pdf.text_status.as_str()), (None, TEXT_FAILED));
        assert_eq!(pdf.text_error.as_deref(), Some("the PDF extractor crashed on this file"));
    }
}
