//! The shared HL7 v2 corpus (about 630 messages from other projects' test suites, see its
//! SOURCE.md files): no file makes the parser panic, the message kinds we map give records (a
//! table per message type is printed: `cargo test corpus -- --nocapture`), and chosen files give
//! exactly the records they should.
//!
//! The corpus is `$INGEST_CORPUS`, else `../shared/corpus/hl7` beside the crate, else
//! `/work/shared/corpus/hl7`; `INGEST_CORPUS=skip` skips this test.

use chrono::{DateTime, NaiveDate, Utc};
use ingest_core::model::{
    Document, Identifier, Medication, Observation, PanelAction, PanelEvent, ParsedFile, ParsedMessage, Patient,
    Problem, ProblemOrigin, Record, Reject,
};
use ingest_core::time::{Zone, parse_rfc3339, rfc3339};
use ingest_parse::{FileError, ParseOptions, parse_file};
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

/// `TYPE^TRIGGER` of a rejected message, read from its raw MSH (as [`ParsedMessage::message_type`]
/// is, without the message structure); `(no MSH)` for segments outside any message.
fn rejected_type(reject: &Reject) -> String {
    let Some(msh) = reject.raw.lines().next().filter(|line| line.starts_with("MSH")) else {
        return "(no MSH)".into();
    };
    let mut declared = msh.chars().skip(3);
    let (Some(field), component) = (declared.next(), declared.next()) else {
        return "(no MSH-9)".into();
    };
    let msh9 = msh.split(field).nth(8).unwrap_or_default();
    let parts: Vec<&str> = match component {
        Some(c) if c != field => msh9.split(c).take(2).collect(),
        _ => vec![msh9],
    };
    let parts: Vec<&str> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() { "(no MSH-9)".into() } else { parts.join("^") }
}

fn patients(message: &ParsedMessage) -> impl Iterator<Item = &Patient> {
    message.records.iter().filter_map(|r| match r {
        Record::Patient(p) => Some(p),
        _ => None,
    })
}

/// Floors, 90% of what the corpus gave when they were measured (in parentheses), so that stricter
/// checks to come have some room but a mapping that stops working fails the test.
/// Messages mapped across the corpus (282).
const MIN_MESSAGES: usize = 253;
/// ORU^R01 messages that gave observations (29).
const MIN_ORU_WITH_OBSERVATIONS: usize = 26;
/// Records of the kinds issue 4 added: documents (19), medications (43), problems (51),
/// allergies (48).
const MIN_RECORDS: [(&str, usize); 4] = [("document", 17), ("medication", 38), ("problem", 45), ("allergy", 43)];

/// What the corpus gave, per message type and per record kind.
#[derive(Default)]
struct Tally {
    /// Message type → (mapped, rejected, rejected that are a bare MSH segment: fragments cut out of
    /// other projects' test code).
    by_type: BTreeMap<String, (usize, usize, usize)>,
    /// Message type → reject reason class → count.
    reasons: BTreeMap<String, BTreeMap<String, usize>>,
    records: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn print(&self) {
        let (mapped, rejected, bare) = self
            .by_type
            .values()
            .fold((0, 0, 0), |(m, r, b), (mapped, rejected, bare)| (m + mapped, r + rejected, b + bare));
        eprintln!(
            "  {mapped} of {} messages mapped cleanly, {rejected} rejected ({bare} of them a bare MSH segment)",
            mapped + rejected
        );
        eprintln!("  {:<14} {:>6} {:>8} {:>4}  main reject reasons", "message type", "mapped", "rejected", "bare");
        for (kind, (mapped, rejected, bare)) in &self.by_type {
            let mut reasons: Vec<(&String, &usize)> = self.reasons.get(kind).into_iter().flatten().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let reasons: Vec<String> = reasons.iter().take(3).map(|(reason, n)| format!("{reason} ×{n}")).collect();
            eprintln!("  {kind:<14} {mapped:>6} {rejected:>8} {bare:>4}  {}", reasons.join("; "));
        }
        eprintln!("  records by kind {:?}", self.records);
    }
}

#[test]
fn corpus_parses_without_panics_and_mapped_kinds_give_records() {
    let Some(dir) = corpus_dir() else {
        eprintln!("INGEST_CORPUS=skip: HL7 corpus test skipped");
        return;
    };
    let files = files(&dir);
    let mut tally = Tally::default();
    let mut rejects: BTreeMap<String, usize> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut oru_with_observations = 0;
    let mut adt_without_mrn = Vec::new();
    let mut quoted_nulls = Vec::new();
    for path in &files {
        let outcome = parse(path);
        if let Some(error) = outcome.file_error {
            *refused.entry(error).or_default() += 1;
        }
        for reject in &outcome.rejects {
            let kind = rejected_type(reject);
            *rejects.entry(reason_class(reject)).or_default() += 1;
            *tally.reasons.entry(kind.clone()).or_default().entry(reason_class(reject)).or_default() += 1;
            let counts = tally.by_type.entry(kind).or_default();
            counts.1 += 1;
            if reject.raw.starts_with("MSH") && !reject.raw.contains('\r') {
                counts.2 += 1;
            }
        }
        for message in &outcome.messages {
            tally.by_type.entry(message.message_type.clone()).or_default().0 += 1;
            for record in &message.records {
                *tally.records.entry(record.kind()).or_default() += 1;
                if format!("{record:?}").contains("\"\\\"\\\"\"") {
                    quoted_nulls.push(format!("{} #{}", path.display(), message.index));
                }
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
    let messages: usize = tally.by_type.values().map(|(mapped, _, _)| mapped).sum();
    let rejected: usize = rejects.values().sum();
    eprintln!(
        "HL7 corpus {}: {} files, {messages} messages parsed, {rejected} rejected, {} files refused whole {refused:?}",
        dir.display(),
        files.len(),
        refused.values().sum::<usize>(),
    );
    tally.print();
    eprintln!("  ORU^R01 messages with observations: {oru_with_observations}");
    eprintln!("  rejects by reason {rejects:#?}");
    assert!(adt_without_mrn.is_empty(), "ADT messages without a patient MRN: {adt_without_mrn:?}");
    assert!(quoted_nulls.is_empty(), "the HL7 null \"\" came through as text: {quoted_nulls:?}");
    assert!(messages >= MIN_MESSAGES, "only {messages} messages parsed (expected at least {MIN_MESSAGES})");
    assert!(
        oru_with_observations >= MIN_ORU_WITH_OBSERVATIONS,
        "only {oru_with_observations} ORU^R01 messages gave observations (expected at least {MIN_ORU_WITH_OBSERVATIONS})"
    );
    for (kind, floor) in MIN_RECORDS {
        let count = tally.records.get(kind).copied().unwrap_or_default();
        assert!(count >= floor, "only {count} {kind} records (expected at least {floor})");
    }
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
        comment: None,
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

/// The records of one kind in a message.
fn of_kind<T: Clone>(message: &ParsedMessage, pick: impl Fn(&Record) -> Option<&T>) -> Vec<T> {
    message.records.iter().filter_map(pick).cloned().collect()
}

fn documents(message: &ParsedMessage) -> Vec<Document> {
    of_kind(message, |r| match r {
        Record::Document(d) => Some(d),
        _ => None,
    })
}

#[test]
fn mdm_t02_gives_a_document_from_txa_and_its_29_text_lines() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__MDM-T02-03.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    assert_eq!((message.message_type.as_str(), file.rejects.len()), ("MDM^T02", 0));
    let mrns: Vec<&str> = patients(message).map(|p| p.mrn.as_str()).collect();
    assert_eq!(mrns, ["3196695816"]);
    let [document] = documents(message).try_into().expect("one document");
    let lines: Vec<&str> = document.text.lines().collect();
    assert_eq!(
        (lines.len(), lines.first().copied(), lines.last().copied()),
        (
            29,
            Some("Toilet cylinder crackers model step-mother visor opening communication"),
            Some("Reminder shofar congo vibration mother-in-law bondsman suspect")
        )
    );
    let expected = Document {
        mrn: "3196695816".into(),
        // TXA-12; TXA-13 is empty.
        document_id: "2RWRVAJ627408".into(),
        parent_id: None,
        // TXA-2 `DS` has no text, and there is no TXA-16 file name.
        doc_type: Some("DS".into()),
        title: None,
        // TXA-4 20210801090642+0215.
        authored_at: at("2021-08-01T06:51:42Z"),
        // TXA-5.
        author: Some("Woolfson, Kathleen".into()),
        status: Some("IP".into()),
        event: "T02".into(),
        text: document.text.clone(),
        pdf: None,
    };
    assert_eq!(document, expected);
}

#[test]
fn mdm_t06_addendum_names_its_parent_document() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__MDM-T06-02.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    let [document] = documents(message).try_into().expect("one document");
    assert_eq!(
        (
            document.event.as_str(),
            document.document_id.as_str(),
            document.parent_id.as_deref(),
            document.author.as_deref()
        ),
        (
            "T06",
            "1.2.840.317.5947431.51.20080131160038",
            Some("1.2.840.317.5947431.51.20080131155715"),
            // No TXA-5: TXA-9, an id without a name.
            Some("IvanDoctorovich")
        )
    );
    assert_eq!(document.text.lines().count(), 2);
}

#[test]
fn rde_o11_gives_a_medication_from_orc_and_rxe() {
    let Some(file) = parsed(
        "linuxforhealth-hl7v2-fhir-converter/inline__src__test__java__io__github__linuxforhealth__hl7__segments__Hl7MedicationRequestFHIRConversionTest.java__L111.hl7",
    ) else {
        return;
    };
    let message = file.messages.first().expect("one message");
    assert_eq!((message.message_type.as_str(), file.rejects.len()), ("RDE^O11", 0));
    let medications: Vec<Medication> = of_kind(message, |r| match r {
        Record::Medication(m) => Some(m),
        _ => None,
    });
    let expected = Medication {
        mrn: "1234".into(),
        // ORC-3 P800006^RX (ORC-2 is F800006^OE).
        order_id: "P800006".into(),
        // RXE-2 wins over RXO-1.
        name: "Testosterone Cypionate".into(),
        code: Some("62756-017".into()),
        code_system: Some("NDC".into()),
        dose: Some("100 mg".into()),
        route: None,
        // ORC-7 10^BID^D4^^^R.
        frequency: Some("BID".into()),
        // ORC-5 ER is no status: ORC-1 NW.
        status: Some("active".into()),
        // RXE-1.4 20180622230000, New York summer time.
        start_at: at("2018-06-23T03:00:00Z"),
        end_at: None,
    };
    assert_eq!(medications, vec![expected]);
}

#[test]
fn rde_o11_with_two_orders_gives_two_medications_with_route_and_timing() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__RDE-O11-02.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    let summary: Vec<String> = of_kind(message, |r| match r {
        Record::Medication(m) => Some(m),
        _ => None,
    })
    .into_iter()
    .map(|m: Medication| {
        let (start, end) = (m.start_at.map(rfc3339), m.end_at.map(rfc3339));
        format!("{} | {:?} | {:?} | {:?} | {:?}", m.order_id, m.dose, m.route, start, end)
    })
    .collect();
    // RXE-3 and RXE-5 43^mg/hr (a number as the unit's code: its text); the RXR and TQ1 after RXE;
    // TQ1-7 and TQ1-8 at +0215.
    assert_eq!(
        summary,
        [
            r#"1163422591 | Some("5 mg/hr") | Some("Intravenous") | Some("2019-11-04T08:15:00Z") | Some("2019-11-04T09:15:00Z")"#,
            r#"1422591 | Some("8 mg/hr") | Some("Intraperitoneal") | Some("2022-11-04T08:15:00Z") | Some("2022-11-04T09:15:00Z")"#,
        ]
    );
}

#[test]
fn ppr_pc1_gives_a_problem_from_prb() {
    let Some(file) = parsed(
        "linuxforhealth-hl7v2-fhir-converter/inline__src__test__java__io__github__linuxforhealth__hl7__segments__Hl7IdentifierFHIRConversionTest.java__L256.hl7",
    ) else {
        return;
    };
    let message = file.messages.first().expect("one message");
    assert_eq!((message.message_type.as_str(), file.rejects.len()), ("PPR^PC1", 0));
    let problems: Vec<Problem> = of_kind(message, |r| match r {
        Record::Problem(p) => Some(p),
        _ => None,
    });
    let expected = Problem {
        mrn: "000054321".into(),
        code: Some("K80.00".into()),
        code_system: Some("I10".into()),
        description: "Cholelithiasis".into(),
        // PRB-14 remission^Remission^…condition-clinical.
        status: Some("Remission".into()),
        // PRB-16 20170102074000 and PRB-9 20180310074000, New York winter time.
        onset_at: at("2017-01-02T12:40:00Z"),
        resolved_at: at("2018-03-10T12:40:00Z"),
        origin: ProblemOrigin::ProblemList,
        deleted: false,
    };
    assert_eq!(problems, vec![expected]);
}

#[test]
fn ppr_pc3_prb_de_deletes_the_problem() {
    let Some(file) = parsed("fhir-converter/data__SampleData__Hl7v2__PC1-Problem-Delete-v2.3.1.hl7") else {
        return;
    };
    let message = file.messages.first().expect("one message");
    let problems: Vec<Problem> = of_kind(message, |r| match r {
        Record::Problem(p) => Some(p),
        _ => None,
    });
    let summary: Vec<(&str, Option<&str>, bool)> =
        problems.iter().map(|p| (p.description.as_str(), p.code.as_deref(), p.deleted)).collect();
    assert_eq!(summary, [("HYPOCHONDRIASIS", Some("300.7"), true)]);
}
