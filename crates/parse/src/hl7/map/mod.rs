//! Mapping one message's segments to normalized records, one module per message family; a message
//! of any other type is *not used* (counted, not a reject, unless `hl7.reject_types` names it). Shared here: the patient (PID), times, coded values, names.
//!
//! | message | module | records |
//! |---|---|---|
//! | ADT (A01 A02 A03 A04 A08 A11 A13; A28 A31 and others patient only) | `adt` | patient, panel event, allergies (AL1), diagnoses (DG1) |
//! | ORU^R01 | `oru` | patients, observations, removals (OBX-11 D/X), report documents (TX/FT/ED) |
//! | MDM T01–T10 | `mdm` | patient, a document (TXA + OBX text) |
//! | RDE^O11/O25, RDS^O13, RAS^O17, OMP^O09 | `pharmacy` | patient, a medication per order (ORC group) |
//! | PPR^PC1/PC2/PC3 | `ppr` | patient, problems (PRB) |

mod adt;
mod mdm;
mod oru;
mod pharmacy;
mod ppr;
#[cfg(test)]
mod testkit;

use super::message::Seg;
use super::{Fault, ts};
use crate::{MrnRule, ParseOptions};
use chrono::{DateTime, NaiveDate, Utc};
use hl7_parser::message::Repeat;
use ingest_core::model::{Identifier, Patient, Record};
use ingest_core::time::Zone;

/// What a message yields.
#[derive(Debug)]
pub(super) struct Mapped {
    /// `TYPE^TRIGGER`, or `TYPE` when there is no trigger.
    pub message_type: String,
    pub records: Vec<Record>,
    /// Fields the records do without that could not be read: each was left empty.
    pub warnings: Vec<Fault>,
    /// False for a message of a type the snapshot does not use (no records).
    pub used: bool,
}

/// The unusable optional fields of one message. A field that does not identify its record (a birth
/// date, an onset, a result's observation time) is left empty when it cannot be read, and the
/// record lands; only what identifies a record (the MRN, the message type, a result's code, an
/// order's drug) rejects the message.
#[derive(Debug, Default)]
pub(super) struct Warnings(std::cell::RefCell<Vec<Fault>>);

impl Warnings {
    /// The value of an optional field; `None` and a warning when it cannot be read.
    fn optional<T>(&self, value: Result<Option<T>, Fault>) -> Option<T> {
        value.unwrap_or_else(|fault| {
            self.0.borrow_mut().push(Fault { reason: format!("{}; left empty", fault.reason), ..fault });
            None
        })
    }

    /// The first of two optional fields that has a readable value (each unreadable one warned).
    fn either<T>(
        &self,
        first: Result<Option<T>, Fault>,
        second: impl FnOnce() -> Result<Option<T>, Fault>,
    ) -> Option<T> {
        self.optional(first).or_else(|| self.optional(second()))
    }

    /// A field that was read, but not as the configuration asks.
    fn note(&self, segment: &str, reason: String) {
        self.0.borrow_mut().push(Fault::at(segment, reason));
    }

    fn into_vec(self) -> Vec<Fault> {
        self.0.into_inner()
    }
}

/// Map a message (its first segment is the MSH). `control_id` is MSH-10.
pub(super) fn map(segments: &[Seg<'_>], control_id: Option<&str>, options: &ParseOptions) -> Result<Mapped, Fault> {
    let msh = segments.first().filter(|s| s.id() == "MSH").ok_or_else(|| Fault::at("MSH", "no MSH segment"))?;
    let kind = msh.value(9, 1).ok_or_else(|| Fault::at("MSH-9", "no message type (MSH-9 is empty)"))?;
    // Before v2.3 the trigger may be only in EVN-1.
    let trigger = msh.value(9, 2).or_else(|| first(segments, "EVN").and_then(|evn| evn.value(1, 1)));
    // A type the snapshot does not use is set aside, not rejected; but what is not a message type
    // at all (binary junk, a shifted field) is a fault of the message.
    let code = |text: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    if !code(&kind, 3..=3) || trigger.as_deref().is_some_and(|t| !code(t, 1..=3)) {
        return Err(Fault::at(
            "MSH-9",
            "not a message type (expected three letters such as ORU, and a trigger such as R01)",
        ));
    }
    let message_type = match &trigger {
        Some(trigger) => format!("{kind}^{trigger}"),
        None => kind.clone(),
    };
    let w = Warnings::default();
    let records = match (kind.as_str(), trigger.as_deref()) {
        ("ADT", trigger) => adt::map(segments, *msh, trigger, options, &w)?,
        ("ORU", Some("R01")) => oru::map(segments, control_id, options, &w)?,
        ("MDM", Some(trigger)) if mdm::TRIGGERS.contains(&trigger) => {
            mdm::map(segments, trigger, control_id, options, &w)?
        }
        ("RDE", Some("O11" | "O25")) | ("RDS", Some("O13")) | ("RAS", Some("O17")) | ("OMP", Some("O09")) => {
            pharmacy::map(segments, control_id, options, &w)?
        }
        ("PPR", Some("PC1" | "PC2" | "PC3")) => ppr::map(segments, options, &w)?,
        _ => return Ok(Mapped { message_type, records: Vec::new(), warnings: Vec::new(), used: false }),
    };
    Ok(Mapped { message_type, records, warnings: w.into_vec(), used: true })
}

fn first<'a>(segments: &[Seg<'a>], id: &str) -> Option<Seg<'a>> {
    segments.iter().find(|s| s.id() == id).copied()
}

fn no_pid(before: &str) -> Fault {
    Fault::at("PID", format!("no PID segment{before}"))
}

/// The patient of a message with one PID (MDM, pharmacy, PPR): a result or order message names
/// the patient but does not register them, so its demographics only fill gaps.
fn mentioned_patient(segments: &[Seg<'_>], options: &ParseOptions, w: &Warnings) -> Result<Patient, Fault> {
    patient(first(segments, "PID").ok_or_else(|| no_pid(""))?, &options.mrn, false, w)
}

/// PID: all PID-3 identifiers, the MRN chosen by `rule`, name, birth date, sex.
fn patient(pid: Seg<'_>, rule: &MrnRule, registration: bool, w: &Warnings) -> Result<Patient, Fault> {
    let identifiers: Vec<Identifier> = pid
        .reps(3)
        .iter()
        .filter_map(|rep| {
            Some(Identifier { value: pid.comp(rep, 1)?, id_type: pid.comp(rep, 5), authority: pid.comp(rep, 4) })
        })
        .collect();
    let first = identifiers.first().ok_or_else(|| Fault::at("PID-3", "no usable MRN: PID-3 has no identifier"))?;
    let chosen = identifiers.iter().find(|id| {
        id.id_type.as_deref() == Some(rule.id_type.as_str())
            && rule.authority.as_ref().is_none_or(|a| id.authority.as_ref() == Some(a))
    });
    let mrn = match (chosen, &rule.authority) {
        (Some(id), _) => id.value.clone(),
        // The site named whose MRNs it uses: another authority's number could be another patient's.
        (None, Some(authority)) => {
            return Err(Fault::at(
                "PID-3",
                format!(
                    "no identifier of type {} from authority {authority} (hl7.mrn_authority); PID-3 has {}",
                    rule.id_type,
                    described(&identifiers)
                ),
            ));
        }
        // One identifier without a type is a simple feed's MRN; anything else is said.
        (None, None) => {
            if identifiers.len() > 1 || first.id_type.is_some() {
                w.note(
                    "PID-3",
                    format!(
                        "no identifier of type {}; the first ({}) is used as the MRN",
                        rule.id_type,
                        described(&identifiers[..1])
                    ),
                );
            }
            first.value.clone()
        }
    };
    let name = pid.reps(5).first();
    Ok(Patient {
        mrn,
        identifiers,
        family_name: name.and_then(|rep| pid.comp(rep, 1)),
        given_name: name.and_then(|rep| pid.comp(rep, 2)),
        birth_date: w.optional(date(pid, 7)),
        sex: pid.value(8, 1),
        registration,
    })
}

/// Identifiers by type and authority, never their values: `type PI from CLINIC, type SS`.
fn described(identifiers: &[Identifier]) -> String {
    let one = |id: &Identifier| {
        let kind = id.id_type.as_deref().map_or("no type".to_string(), |t| format!("type {t}"));
        match &id.authority {
            Some(authority) => format!("{kind} from {authority}"),
            None => kind,
        }
    };
    identifiers.iter().map(one).collect::<Vec<_>>().join(", ")
}

/// A coded value (CE, CWE, CNE): identifier, text and coding system. When the primary triplet is
/// empty, the alternate one (components 4–6) stands in. A lone identifier with spaces in it
/// (`aortic stenosis`) is text typed where a code goes: codes (ICD, SNOMED, LOINC, NDC, RxNorm,
/// local mnemonics) have none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Coded {
    code: Option<String>,
    text: Option<String>,
    system: Option<String>,
}

impl Coded {
    /// The text, else the code.
    fn display(&self) -> Option<String> {
        self.text.clone().or_else(|| self.code.clone())
    }
}

fn coded(segment: Seg<'_>, rep: &Repeat<'_>) -> Coded {
    let triplet = |at: usize| Coded {
        code: segment.comp(rep, at),
        text: segment.comp(rep, at + 1),
        system: segment.comp(rep, at + 2),
    };
    let mut chosen = triplet(1);
    if chosen.code.is_none() && chosen.text.is_none() {
        let alternate = triplet(4);
        if alternate.code.is_some() || alternate.text.is_some() {
            chosen = alternate;
        }
    }
    match chosen {
        Coded { code: Some(code), text: None, system: None } if code.contains(char::is_whitespace) => {
            Coded { code: None, text: Some(code), system: None }
        }
        chosen => chosen,
    }
}

/// The first repetition of a coded field.
fn coded_field(segment: Seg<'_>, field: usize) -> Coded {
    segment.reps(field).first().map(|rep| coded(segment, rep)).unwrap_or_default()
}

/// A person (XCN, or the CNN of an NDL written in subcomponents) as a display name:
/// `Family, Given`, else `Family`, else the id.
fn person(segment: Seg<'_>, rep: &Repeat<'_>) -> Option<String> {
    // CNN inside the first component (OBR-32 and the like): id&family&given.
    let nested = segment.sub(rep, 1, 2).is_some() || segment.sub(rep, 1, 3).is_some();
    let part = |n: usize| if nested { segment.sub(rep, 1, n) } else { segment.comp(rep, n) };
    match (part(2), part(3)) {
        (Some(family), Some(given)) => Some(format!("{family}, {given}")),
        (Some(family), None) => Some(family),
        (None, _) => part(1),
    }
}

/// The first person of a field that names one.
fn person_field(segment: Seg<'_>, field: usize) -> Option<String> {
    segment.reps(field).iter().find_map(|rep| person(segment, rep))
}

/// A time a field may give: none, an instant, or a reject naming the field when it is invalid.
type Time = Result<Option<DateTime<Utc>>, Fault>;

/// A timestamp field (first component), a reject naming the field when it is invalid.
fn instant(segment: Seg<'_>, field: usize, zone: &Zone) -> Time {
    instant_at(segment, field, 1, zone)
}

/// A timestamp in component `component` of field `field` (an old TQ's start and end, for example).
fn instant_at(segment: Seg<'_>, field: usize, component: usize, zone: &Zone) -> Time {
    let Some(value) = segment.value(field, component) else {
        return Ok(None);
    };
    let place = if component == 1 {
        format!("{}-{field}", segment.id())
    } else {
        format!("{}-{field}.{component}", segment.id())
    };
    ts::instant(&value, zone).map_err(|reason| Fault::at(&place, reason))
}

fn date(segment: Seg<'_>, field: usize) -> Result<Option<NaiveDate>, Fault> {
    let Some(value) = segment.value(field, 1) else {
        return Ok(None);
    };
    // Not the parser's reason: "day 29 out of range" would tell part of a birth date.
    ts::date(&value).map_err(|_| {
        Fault::at(
            &format!("{}-{field}", segment.id()),
            format!("not a valid date ({} characters)", value.chars().count()),
        )
    })
}

/// An OBX as a part of a document's text, `None` for value types that are not narrative: TX, FT
/// and ST values (repetitions are lines; escapes decoded, `\.br\` a line break; a blank value is a
/// blank line), and ED as a placeholder (see [`encapsulated`]).
fn narrative(obx: Seg<'_>) -> Option<String> {
    match obx.value(2, 1).as_deref() {
        Some("TX" | "FT" | "ST") => {
            Some(obx.reps(5).iter().map(|rep| obx.line(rep.raw_value())).collect::<Vec<_>>().join("\n"))
        }
        Some("ED") => Some(obx.reps(5).iter().map(|rep| encapsulated(obx, rep)).collect::<Vec<_>>().join("\n")),
        _ => None,
    }
}

/// An ED value (source ^ type ^ subtype ^ encoding ^ data) as a placeholder that says what it is
/// and how big, never the data itself: `[encapsulated application/pdf data, 5120 bytes, not decoded]`.
/// The size is of the decoded data for Base64 and Hex, else of the data as written.
fn encapsulated(obx: Seg<'_>, rep: &Repeat<'_>) -> String {
    let kind: Vec<String> = [2, 3].into_iter().filter_map(|c| obx.comp(rep, c)).collect();
    let kind = if kind.is_empty() { "unknown".to_owned() } else { kind.join("/") };
    let data = rep.component(5).map_or("", |c| c.raw_value());
    let significant = data.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let bytes = match obx.comp(rep, 4).map(|e| e.to_ascii_uppercase()).as_deref() {
        Some("BASE64") => {
            let padding = data.trim_end().bytes().rev().take_while(|&b| b == b'=').count().min(2);
            (significant * 3 / 4).saturating_sub(padding)
        }
        Some("HEX") => significant / 2,
        _ => significant,
    };
    format!("[encapsulated {kind} data, {bytes} bytes, not decoded]")
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use ingest_core::model::Reject;

    #[test]
    fn the_trigger_may_come_from_evn_1() {
        let file = parse_with(&[msh("ADT"), seg("EVN", &[(1, "A04")]), pid()], &options());
        assert_eq!(file.messages.first().map(|m| m.message_type.as_str()), Some("ADT^A04"));
    }

    fn mrn_of(pid3: &str, rule: MrnRule) -> Result<String, Reject> {
        let file = parse_with(&[msh("ADT^A28"), seg("PID", &[(3, pid3)])], &ParseOptions { mrn: rule, ..options() });
        match (file.messages.first().and_then(|m| m.records.first()), file.rejects.first()) {
            (Some(Record::Patient(p)), _) => Ok(p.mrn.clone()),
            (_, Some(reject)) => Err(reject.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_mrn_is_the_configured_type_else_the_first_identifier() {
        let default = MrnRule::default();
        assert_eq!(mrn_of("111^^^CLINIC^PI~222^^^GENHOSP^MR", default.clone()), Ok("222".into()));
        assert_eq!(mrn_of("111^^^CLINIC^PI~222^^^SSA^SS", default.clone()), Ok("111".into()));
        assert_eq!(mrn_of("^^^CLINIC^PI~333", default.clone()), Ok("333".into()));
        // Falling back to the first identifier is said (without its value); a lone untyped one is not.
        let warned = |pid3: &str| -> Vec<String> {
            let options = ParseOptions { mrn: default.clone(), ..options() };
            let file = parse_with(&[msh("ADT^A28"), seg("PID", &[(3, pid3)])], &options);
            file.warnings.iter().map(|w| format!("{}: {}", w.field.as_deref().unwrap_or("?"), w.reason)).collect()
        };
        assert_eq!(
            warned("111^^^CLINIC^PI~222^^^SSA^SS"),
            ["PID-3: no identifier of type MR; the first (type PI from CLINIC) is used as the MRN"]
        );
        assert!(warned("333").is_empty());
        let clinic = MrnRule { id_type: "MR".into(), authority: Some("CLINIC".into()) };
        assert_eq!(mrn_of("1^^^GENHOSP^MR~2^^^CLINIC&1.2.3&ISO^MR", clinic.clone()), Ok("2".into()));
        // A configured authority that no repetition has: not another authority's number.
        let reject = mrn_of("1^^^GENHOSP^MR~2^^^OTHER^MR", clinic).expect_err("no CLINIC MRN");
        assert_eq!(
            reject.reason,
            "no identifier of type MR from authority CLINIC (hl7.mrn_authority); PID-3 has type MR from GENHOSP, type MR from OTHER"
        );
        let reject = mrn_of("^^^GENHOSP^MR", MrnRule::default()).expect_err("no value");
        assert_eq!(
            (reject.segment.as_deref(), reject.reason.as_str()),
            (Some("PID-3"), "no usable MRN: PID-3 has no identifier")
        );
    }

    #[test]
    fn an_explicit_null_never_becomes_text() {
        // PID-5 family `""` and PID-8 sex `""`: explicitly absent, so no value (never `""`).
        let records =
            records(&[msh("ADT^A28"), seg("PID", &[(3, "7654321^^^GENHOSP^MR"), (5, "\"\"^Alex"), (8, "\"\"")])]);
        let Some(Record::Patient(patient)) = records.first() else { panic!("{records:?}") };
        assert_eq!((patient.family_name.as_deref(), patient.given_name.as_deref()), (None, Some("Alex")));
        assert_eq!(patient.sex, None);
    }

    #[test]
    fn z_segments_are_ignored() {
        let with_z = records(&[msh("ADT^A28"), pid(), "ZPI|1|anything^at all|\\X00\\".into(), "ZZZ".into()]);
        assert_eq!(with_z, vec![Record::Patient(test_patient())]);
    }

    #[test]
    fn each_mapping_reject_names_its_segment_and_reason() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            rejected(&["MSH|^~\\&|EHR|GENHOSP|||20261124||".into(), pid()]),
            (some("MSH-9"), "no message type (MSH-9 is empty)".into())
        );
        for unused in ["ORM^O01", "MDM^T11", "PPR^PC4", "RDE^O01", "SIU^S12"] {
            let file = parse_with(&[msh(unused), pid()], &options());
            assert!(file.rejects.is_empty(), "{unused} is not used, not rejected");
            assert_eq!(file.not_used.get(unused), Some(&1), "{unused}");
            assert!(file.messages.iter().all(|m| m.records.is_empty()));
            let strict = ParseOptions { reject_types: vec!["SIU".into(), "ORM^O01".into()], ..options() };
            let file = parse_with(&[msh(unused), pid()], &strict);
            if matches!(unused, "SIU^S12" | "ORM^O01") {
                assert_eq!(
                    file.rejects.first().map(|r| (r.segment.clone(), r.reason.clone())),
                    Some((
                        some("MSH-9"),
                        format!(
                            "message type {unused} is not used by the snapshot, and hl7.reject_types makes it a reject"
                        )
                    ))
                );
            } else {
                assert!(file.rejects.is_empty(), "{unused}");
            }
        }
        assert_eq!(rejected(&[msh("ADT^A01"), stay()]), (some("PID"), "no PID segment".into()));
        assert_eq!(
            rejected(&[msh("ORU^R01"), obx(&[(3, "A")]), pid()]),
            (some("PID"), "no PID segment before OBX".into())
        );
        assert_eq!(rejected(&[msh("ORU^R01"), seg("OBR", &[(3, "F1")])]), (some("PID"), "no PID segment".into()));
        assert_eq!(
            rejected(&[msh("ORU^R01"), pid(), obx(&[(2, "ST"), (3, "^Text only^LN"), (5, "x")])]),
            (some("OBX-3"), "OBX without an observation code (OBX-3.1 is empty)".into())
        );
    }

    #[test]
    fn an_unreadable_field_that_identifies_nothing_is_left_empty_and_warned_and_its_record_lands() {
        let (records, warnings) = warned(&[msh("ORU^R01"), pid(), obx(&[(3, "A"), (5, "7"), (14, "202613011200")])]);
        assert_eq!(
            warnings,
            [(
                "OBX-14".to_string(),
                "invalid timestamp (12 characters): month 13 out of range; left empty".to_string()
            )]
        );
        assert!(
            matches!(&records[1], Record::Observation(o) if o.code == "A" && o.observed_at.is_none()),
            "{records:?}"
        );
        let (records, warnings) = warned(&[msh("ADT^A08"), pid(), seg("PV1", &[(2, "I"), (45, "2026112425")])]);
        assert_eq!(
            warnings,
            [("PV1-45".to_string(), "invalid timestamp (10 characters): hour 25 out of range; left empty".to_string())]
        );
        assert!(matches!(&records[1], Record::Panel(e) if e.discharged_at.is_none()), "{records:?}");
        let (records, warnings) = warned(&[msh("ADT^A28"), seg("PID", &[(3, "1"), (7, "19701315")])]);
        assert_eq!(warnings, [("PID-7".to_string(), "not a valid date (8 characters); left empty".to_string())]);
        assert!(matches!(&records[0], Record::Patient(p) if p.mrn == "1" && p.birth_date.is_none()), "{records:?}");
        // EVN-2 unreadable: MSH-7 stands in, and the EVN-2 is still warned.
        let (records, warnings) = warned(&[msh("ADT^A01"), seg("EVN", &[(2, "2026xx")]), pid()]);
        assert_eq!(warnings.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["EVN-2"]);
        assert!(matches!(&records[1], Record::Panel(e) if e.event_at.is_some()), "{records:?}");
    }

    /// A message with one unreadable optional field, per family: what lands, and which field is
    /// warned.
    struct Dirty {
        name: &'static str,
        segments: Vec<String>,
        field: &'static str,
        landed: fn(&[Record]) -> bool,
    }

    fn dirty_dates() -> Vec<Dirty> {
        // Every bad shape a date or time field takes in real feeds.
        const SHAPES: [&str; 10] = [
            "196203520",     // a digit too many for a date, too few for a time
            "00000000",      // "unknown", as some systems write it
            "unknown",       // free text
            "2026-12-03",    // ISO dashes
            "20261340",      // month 13
            "20260230",      // 30 February
            "2026120325",    // hour 25
            "202612031261",  // minute 61
            "20261203+2500", // an offset out of range
            "2026120304XX",  // trailing junk
        ];
        let mut out = Vec::new();
        for shape in SHAPES {
            let pid_with_birth = seg("PID", &[(3, "7654321^^^GENHOSP^MR"), (5, "Dirty^Dana"), (7, shape)]);
            out.push(Dirty {
                name: "PID-7 birth date (ORU)",
                segments: vec![msh("ORU^R01"), pid_with_birth, obx(&[(2, "NM"), (3, "2345-7^Glucose^LN"), (5, "182")])],
                field: "PID-7",
                landed: |r| matches!(r, [Record::Patient(p), Record::Observation(o)] if p.birth_date.is_none() && o.numeric_value == Some(182.0)),
            });
            out.push(Dirty {
                name: "OBR-7 observation time",
                segments: vec![
                    msh("ORU^R01"),
                    pid(),
                    seg("OBR", &[(3, "F1"), (7, shape)]),
                    obx(&[(2, "NM"), (3, "K"), (5, "4.1")]),
                ],
                field: "OBR-7",
                landed: |r| matches!(r, [_, Record::Observation(o)] if o.order_id == "F1" && o.observed_at.is_none()),
            });
            out.push(Dirty {
                name: "OBX-14 observation time",
                segments: vec![msh("ORU^R01"), pid(), obx(&[(2, "NM"), (3, "K"), (5, "4.1"), (14, shape)])],
                field: "OBX-14",
                landed: |r| matches!(r, [_, Record::Observation(o)] if o.code == "K"),
            });
            out.push(Dirty {
                name: "PRB-16 onset",
                segments: vec![msh("PPR^PC1"), pid(), seg("PRB", &[(1, "AD"), (3, "I10^Hypertension^I10"), (16, shape)])],
                field: "PRB-16",
                landed: |r| matches!(r, [_, Record::Problem(p)] if p.description == "Hypertension" && p.onset_at.is_none()),
            });
            out.push(Dirty {
                name: "PV1-44 admitted",
                segments: vec![msh("ADT^A01"), pid(), seg("PV1", &[(2, "I"), (3, "5A^512^B"), (44, shape)])],
                field: "PV1-44",
                landed: |r| matches!(r, [_, Record::Panel(e)] if e.location.as_deref() == Some("5A-512-B") && e.admitted_at.is_none()),
            });
            out.push(Dirty {
                name: "TXA-4 authored",
                segments: vec![
                    msh("MDM^T02"),
                    pid(),
                    seg("TXA", &[(2, "PN^Progress note"), (4, shape), (12, "DOC1")]),
                    obx(&[(2, "TX"), (3, "NOTE"), (5, "Stable overnight.")]),
                ],
                field: "TXA-4",
                landed: |r| matches!(r, [_, Record::Document(d)] if d.document_id == "DOC1" && d.text == "Stable overnight."),
            });
        }
        out
    }

    #[test]
    fn sixty_dirty_dates_each_leave_one_field_empty_and_their_record_lands() {
        let variants = dirty_dates();
        assert!(variants.len() >= 60);
        for v in &variants {
            let file = parse_with(&v.segments, &options());
            assert!(file.rejects.is_empty(), "{}: {:?}", v.name, file.rejects);
            let records = &file.messages.first().unwrap_or_else(|| panic!("{}: nothing landed", v.name)).records;
            assert!((v.landed)(records), "{}: landed {records:?}", v.name);
            let fields: Vec<&str> = file.warnings.iter().filter_map(|w| w.field.as_deref()).collect();
            assert_eq!(fields, [v.field], "{}: {:?}", v.name, file.warnings);
            let warning = &file.warnings[0];
            assert_eq!(
                (warning.index, warning.line, warning.control_id.as_deref()),
                (1, 1, Some("CTL001")),
                "{}",
                v.name
            );
            assert!(warning.reason.ends_with("; left empty"), "{}: {}", v.name, warning.reason);
        }
    }

    #[test]
    fn a_file_whose_every_used_message_is_rejected_is_refused_even_beside_an_unused_one() {
        let text = [msh("VXU^V04"), pid(), msh("ADT^A01"), seg("EVN", &[(1, "A01")])].join("\r");
        let refused = crate::parse_file(text.as_bytes(), &options());
        assert!(matches!(refused, Err(crate::FileError::NothingUsable { .. })), "{refused:?}");
        let only_unused = [msh("VXU^V04"), pid()].join("\r");
        assert!(crate::parse_file(only_unused.as_bytes(), &options()).is_ok(), "read and set aside");
    }

    #[test]
    fn structural_oddities_in_fields_nobody_needs_are_taken_as_they_come() {
        // Stray repetitions, extra components, overlong text, a value of another type than OBX-2
        // declares: the record lands, with what can be read.
        let long = "x".repeat(70_000);
        let patient = |r: &[Record], check: &dyn Fn(&Patient) -> bool| matches!(r, [Record::Patient(p)] if check(p));
        let result = |r: &[Record], check: &dyn Fn(&ingest_core::model::Observation) -> bool| matches!(r, [Record::Patient(_), Record::Observation(o)] if check(o));
        let oru = |fields: &[(usize, &str)]| vec![msh("ORU^R01"), pid(), obx(fields)];
        type Landed = Box<dyn Fn(&[Record]) -> bool>;
        let cases: Vec<(&str, Vec<String>, Landed)> = vec![
            (
                "repeated birth dates: the first stands",
                vec![msh("ADT^A28"), seg("PID", &[(3, "1^^^GENHOSP^MR"), (7, "19700315~19710101")])],
                Box::new(move |r| {
                    patient(r, &|p| p.birth_date.map(|d| d.to_string()).as_deref() == Some("1970-03-15"))
                }),
            ),
            (
                "components in the sex field: the code",
                vec![msh("ADT^A28"), seg("PID", &[(3, "1^^^GENHOSP^MR"), (8, "F^Female^HL70001^extra")])],
                Box::new(move |r| patient(r, &|p| p.sex.as_deref() == Some("F"))),
            ),
            (
                "an overlong name, whole",
                vec![msh("ADT^A28"), seg("PID", &[(3, "1^^^GENHOSP^MR"), (5, long.as_str())])],
                Box::new(move |r| patient(r, &|p| p.family_name.as_ref().map(String::len) == Some(70_000))),
            ),
            (
                "text in an NM result: kept as text, no number",
                oru(&[(2, "NM"), (3, "K"), (5, "hemolyzed")]),
                Box::new(move |r| result(r, &|o| o.value.as_deref() == Some("hemolyzed") && o.numeric_value.is_none())),
            ),
            (
                "a number with a comparator: kept as written, not read as 10",
                oru(&[(2, "NM"), (3, "K"), (5, ">10")]),
                Box::new(move |r| result(r, &|o| o.value.as_deref() == Some(">10") && o.numeric_value.is_none())),
            ),
            (
                "an SN value in an NM: its text kept",
                oru(&[(2, "NM"), (3, "K"), (5, "<^5")]),
                Box::new(move |r| {
                    result(r, &|o| o.value.as_deref().is_some_and(|v| v.contains('5')) && o.numeric_value.is_none())
                }),
            ),
            (
                "repeated units: the first",
                oru(&[(2, "NM"), (3, "K"), (5, "4.1"), (6, "mmol/L~mEq/L")]),
                Box::new(move |r| result(r, &|o| o.unit.as_deref() == Some("mmol/L") && o.numeric_value == Some(4.1))),
            ),
            (
                "an unknown value type: the value as written",
                oru(&[(2, "ZZ"), (3, "K"), (5, "4.1")]),
                Box::new(move |r| result(r, &|o| o.value.as_deref() == Some("4.1"))),
            ),
        ];
        for (name, segments, landed) in cases {
            let file = parse_with(&segments, &options());
            assert!(file.rejects.is_empty(), "{name}: {:?}", file.rejects);
            assert_eq!(file.messages.len(), 1, "{name}");
            let records = &file.messages[0].records;
            assert!(
                landed(records),
                "{name}: {:?}",
                records.iter().map(|r| format!("{r:?}").chars().take(300).collect::<String>()).collect::<Vec<_>>()
            );
        }
    }
}
