//! Test helpers for the mapping modules: messages built from synthetic segments, parsed through the
//! whole HL7 path (framing, delimiters, hl7-parser, mapping).

use crate::{MrnRule, ParseOptions};
use chrono::{DateTime, NaiveDate, Utc};
use ingest_core::model::{Identifier, ParsedFile, Patient, Record, Reject};
use ingest_core::time::{Zone, parse_rfc3339};

pub fn options() -> ParseOptions {
    ParseOptions {
        zone: Zone::parse("America/Chicago").expect("zone"),
        mrn: MrnRule::default(),
        ..ParseOptions::default()
    }
}

pub fn parse_with(segments: &[String], options: &ParseOptions) -> ParsedFile {
    super::super::parse(segments.join("\r").as_bytes(), options).expect("the envelope holds")
}

/// The records of a one-message file that must not be rejected.
pub fn records(segments: &[String]) -> Vec<Record> {
    let mut file = parse_with(segments, &options());
    assert_eq!(file.rejects, Vec::<Reject>::new());
    assert_eq!(file.messages.len(), 1);
    file.messages.remove(0).records
}

/// The records of a one-message file that must land, and its warnings as (field, reason).
pub fn warned(segments: &[String]) -> (Vec<Record>, Vec<(String, String)>) {
    let mut file = parse_with(segments, &options());
    assert_eq!(file.rejects, Vec::<Reject>::new());
    assert_eq!(file.messages.len(), 1);
    let warnings = file.warnings.iter().map(|w| (w.field.clone().unwrap_or_default(), w.reason.clone())).collect();
    (file.messages.remove(0).records, warnings)
}

/// The (segment, reason) of a one-message file that must be rejected.
pub fn rejected(segments: &[String]) -> (Option<String>, String) {
    let file = parse_with(segments, &options());
    assert_eq!(file.messages, vec![]);
    let reject = file.rejects.first().expect("a reject");
    (reject.segment.clone(), reject.reason.clone())
}

/// A segment with the given 1-based fields set, the others empty.
pub fn seg(id: &str, fields: &[(usize, &str)]) -> String {
    let len = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut values = vec![""; len];
    for (n, value) in fields {
        values[n - 1] = value;
    }
    format!("{id}|{}", values.join("|"))
}

pub fn msh(message_type: &str) -> String {
    format!("MSH|^~\\&|EHR|GENHOSP|INGEST|PANEL|20261124050000||{message_type}|CTL001|P|2.5")
}

pub fn pid() -> String {
    seg(
        "PID",
        &[
            (1, "1"),
            (3, "7654321^^^GENHOSP^MR~999001111^^^SSA^SS"),
            (5, "Testpatient^Alex^Q"),
            (7, "19700315"),
            (8, "F"),
        ],
    )
}

pub fn obx(fields: &[(usize, &str)]) -> String {
    seg("OBX", fields)
}

pub fn stay() -> String {
    seg(
        "PV1",
        &[
            (1, "1"),
            (2, "I"),
            (3, "5A^512^B^GENHOSP"),
            (7, "1234^Careful^Casey^^^Dr"),
            (19, "V0001^^^GENHOSP^VN"),
            (44, "202611232200"),
        ],
    )
}

pub fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
    Some(parse_rfc3339(rfc3339).expect("RFC 3339"))
}

pub fn test_patient() -> Patient {
    Patient {
        mrn: "7654321".into(),
        identifiers: vec![
            Identifier { value: "7654321".into(), id_type: Some("MR".into()), authority: Some("GENHOSP".into()) },
            Identifier { value: "999001111".into(), id_type: Some("SS".into()), authority: Some("SSA".into()) },
        ],
        family_name: Some("Testpatient".into()),
        given_name: Some("Alex".into()),
        birth_date: NaiveDate::from_ymd_opt(1970, 3, 15),
        sex: Some("F".into()),
        registration: true,
    }
}

/// The same patient as a result or order message names them: demographics only fill gaps.
pub fn mentioned_patient() -> Patient {
    Patient { registration: false, ..test_patient() }
}

/// The records of one kind, unwrapped by `pick`.
pub fn only<T: Clone>(records: &[Record], pick: impl Fn(&Record) -> Option<&T>) -> Vec<T> {
    records.iter().filter_map(pick).cloned().collect()
}
