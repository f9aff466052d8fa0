//! The shared HL7 v2 corpus (about 630 messages from other projects' test suites, see its
//! README.md): no file makes the parser panic, and the message kinds we map give records.
//!
//! The corpus is `$INGEST_CORPUS`, else `../shared/corpus/hl7` beside the crate, else
//! `/work/shared/corpus/hl7`; `INGEST_CORPUS=skip` skips this test.

use chrono::{DateTime, NaiveDate, Utc};
use ingest::model::{
    Identifier, Observation, PanelAction, PanelEvent, ParsedFile, ParsedMessage, Patient, Record, Reject,
};
use ingest::parse::{FileError, ParseOptions, parse_file};
use ingest::time::{Zone, parse_rfc3339};
use std::collections::BTreeMap;
use std::panic;
use std::path::{Path, PathBuf};

fn corpus_dir() -> Option<PathBuf> {
    let configured = std::env::var_os("INGEST_CORPUS");
    if configured.as_deref() == Some("skip".as_ref()) {
        return None;
    }
    let candidates = match configured {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/hl7"),
            PathBuf::from("/work/shared/corpus/hl7"),
        ],
    };
    let found = candidates.iter().find(|dir| dir.is_dir()).cloned();
    assert!(
        found.is_some(),
        "no HL7 corpus at {candidates:?}: set INGEST_CORPUS to the directory holding it (the shared \
         corpus/hl7), or INGEST_CORPUS=skip to skip this test"
    );
    found
}

/// Every corpus file below `dir`, sorted, without the SOURCE.md/README.md notes.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                pending.push(path);
            } else if name != "SOURCE.md" && name != "README.md" {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn options() -> ParseOptions {
    ParseOptions { zone: Zone::parse("America/New_York").expect("zone"), ..ParseOptions::default() }
}

/// What one file gave: its messages and rejects, or why the whole file was refused.
struct Outcome {
    messages: Vec<ParsedMessage>,
    rejects: Vec<Reject>,
    file_error: Option<String>,
}

fn parse(path: &Path) -> Outcome {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let result = panic::catch_unwind(|| parse_file(&bytes, &options()));
    let result = result.unwrap_or_else(|_| panic!("the parser panicked on {}", path.display()));
    match result {
        Ok((_, parsed)) => Outcome { messages: parsed.messages, rejects: parsed.rejects, file_error: None },
        Err(FileError::NothingUsable { rejects }) => Outcome { messages: Vec::new(), rejects, file_error: None },
        Err(e) => Outcome { messages: Vec::new(), rejects: Vec::new(), file_error: Some(e.to_string()) },
    }
}

/// A reject's reason without the values it quotes, to count rejects by kind.
fn reason_class(reject: &Reject) -> String {
    let reason = &reject.reason;
    let head = if reason.starts_with("unsupported message type") {
        "unsupported message type"
    } else {
        reason.split(['"', '(', ':']).next().unwrap_or_default().trim()
    };
    format!("{} {head}", reject.segment.as_deref().unwrap_or("-"))
}

fn patients(message: &ParsedMessage) -> impl Iterator<Item = &Patient> {
    message.records.iter().filter_map(|r| match r {
        Record::Patient(p) => Some(p),
        _ => None,
    })
}

/// Messages parsed across the corpus, measured at 205 (ADT and ORU^R01 are the kinds mapped so
/// far); the floor leaves room for stricter checks to come.
const MIN_MESSAGES: usize = 185;
/// ORU^R01 messages that gave observations, measured at 24.
const MIN_ORU_WITH_OBSERVATIONS: usize = 21;

#[test]
fn corpus_parses_without_panics_and_mapped_kinds_give_records() {
    let Some(dir) = corpus_dir() else {
        eprintln!("INGEST_CORPUS=skip: HL7 corpus test skipped");
        return;
    };
    let files = files(&dir);
    let mut messages = 0;
    let mut records: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rejects: BTreeMap<String, usize> = BTreeMap::new();
    let mut unsupported: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut oru_with_observations = 0;
    let mut adt_without_mrn = Vec::new();
    for path in &files {
        let outcome = parse(path);
        if let Some(error) = outcome.file_error {
            *refused.entry(error).or_default() += 1;
        }
        for reject in &outcome.rejects {
            *rejects.entry(reason_class(reject)).or_default() += 1;
            if let Some(kind) = reject.reason.strip_prefix("unsupported message type ") {
                *unsupported.entry(kind.split(' ').next().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
        for message in &outcome.messages {
            messages += 1;
            for record in &message.records {
                *records.entry(record.kind()).or_default() += 1;
            }
            let adt = ["ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08"].contains(&message.message_type.as_str());
            if adt && !patients(message).any(|p| !p.mrn.is_empty()) {
                adt_without_mrn.push(format!("{} #{}", path.display(), message.index));
            }
            let observations = message.records.iter().any(|r| matches!(r, Record::Observation(_)));
            if message.message_type == "ORU^R01" && observations {
                oru_with_observations += 1;
            }
        }
    }
    let rejected: usize = rejects.values().sum();
    eprintln!(
        "HL7 corpus {}: {} files, {messages} messages parsed, {rejected} rejected, {} files refused whole {refused:?}",
        dir.display(),
        files.len(),
        refused.values().sum::<usize>(),
    );
    eprintln!("  records {records:?}; ORU^R01 messages with observations: {oru_with_observations}");
    eprintln!("  rejects by reason {rejects:#?}");
    eprintln!("  unsupported message types {unsupported:?}");
    assert!(adt_without_mrn.is_empty(), "ADT messages without a patient MRN: {adt_without_mrn:?}");
    assert!(messages >= MIN_MESSAGES, "only {messages} messages parsed (expected at least {MIN_MESSAGES})");
    assert!(
        oru_with_observations >= MIN_ORU_WITH_OBSERVATIONS,
        "only {oru_with_observations} ORU^R01 messages gave observations (expected at least {MIN_ORU_WITH_OBSERVATIONS})"
    );
}

/// Parse one corpus file (relative to the corpus directory) that must parse.
fn parsed(relative: &str) -> Option<ParsedFile> {
    let path = corpus_dir()?.join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(parse_file(&bytes, &options()).unwrap_or_else(|e| panic!("{}: {e}", path.display())).1)
}

fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
    Some(parse_rfc3339(rfc3339).expect("RFC 3339"))
}

#[test]
fn adt_a04_with_a_bom_gives_patient_and_panel_event() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__ADT04-23.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    assert_eq!((message.message_type.as_str(), file.rejects.len()), ("ADT^A04", 0));
    let patient = Patient {
        mrn: "123456789".into(),
        identifiers: vec![Identifier { value: "123456789".into(), id_type: Some("MR".into()), authority: None }],
        family_name: Some("BROS".into()),
        given_name: Some("MARIO".into()),
        birth_date: NaiveDate::from_ymd_opt(1985, 1, 1),
        sex: Some("M".into()),
        registration: true,
    };
    let event = PanelEvent {
        mrn: "123456789".into(),
        action: PanelAction::Join,
        event: "A04".into(),
        // EVN-2 20010101000000+0700
        event_at: at("2000-12-31T17:00:00Z"),
        location: Some("ABCD-EFGH".into()),
        attending: Some("DINO, YOSHI".into()),
        visit_number: Some("0123456789".into()),
        admitted_at: at("2000-12-31T17:00:00Z"),
        discharged_at: None,
    };
    assert_eq!(message.records, vec![Record::Patient(patient), Record::Panel(event)]);
}

#[test]
fn oru_r01_cbc_gives_observations_with_units_ranges_and_flags() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__LRI_2.0-NG_CBC_Typ_Message.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    let mrns: Vec<&str> = patients(message).map(|p| p.mrn.as_str()).collect();
    assert_eq!(mrns, ["PATID1234"]);
    let observations: Vec<&Observation> = message
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Observation(o) => Some(o),
            _ => None,
        })
        .collect();
    // Every one of its 28 OBX segments.
    assert_eq!(observations.len(), 28);
    let hemoglobin = observations.iter().find(|o| o.code == "718-7").expect("hemoglobin");
    let expected = Observation {
        mrn: "PATID1234".into(),
        order_id: "R-991133".into(),
        code: "718-7".into(),
        code_system: Some("LN".into()),
        name: Some("Hemoglobin [Mass/volume] in Blood".into()),
        value_type: Some("NM".into()),
        value: Some("12.5".into()),
        numeric_value: Some(12.5),
        unit: Some("g/mL".into()),
        reference_range: Some("13 to 18".into()),
        abnormal_flag: Some("L".into()),
        status: Some("F".into()),
        // OBX-14 20110103143428-0800; OBR-22 20110104170028-0800.
        observed_at: at("2011-01-03T22:34:28Z"),
        resulted_at: at("2011-01-05T01:00:28Z"),
    };
    assert_eq!(**hemoglobin, expected);
}

#[test]
fn fhs_bhs_batch_gives_each_message_and_the_file_header_time() {
    let Some(file) = parsed("python-hl7/inline__tests__samples.py__L147.hl7") else {
        return;
    };
    // FHS-7 20070101123401 in America/New_York (EST).
    assert_eq!(file.exported_at, Some((parse_rfc3339("2007-01-01T17:34:01Z").expect("time"), "FHS-7")));
    let summary: Vec<(usize, Option<&str>, &str, Vec<&str>)> = file
        .messages
        .iter()
        .map(|m| {
            (m.index, m.control_id.as_deref(), m.message_type.as_str(), patients(m).map(|p| p.mrn.as_str()).collect())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some("12334456778890"), "ADT^A04", vec!["0000112234"]),
            (2, Some("12334456778891"), "ADT^A04", vec!["0000112234"]),
            (3, Some("12334456778890"), "ADT^A04", vec!["0000112234"]),
        ]
    );
    assert_eq!(file.rejects, vec![]);
}
