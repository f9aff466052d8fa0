//! Mapping one message's segments to normalized records: ADT → patient (and panel event for
//! A01/A02/A03/A04/A08), ORU^R01 → patients and observations. Anything else is a reject.

use super::message::Seg;
use super::{Fault, ts};
use crate::model::{Identifier, Observation, PanelAction, PanelEvent, Patient, Record};
use crate::parse::{MrnRule, ParseOptions};
use crate::time::Zone;
use chrono::{DateTime, NaiveDate, Utc};

/// What a message yields.
#[derive(Debug)]
pub(super) struct Mapped {
    /// `TYPE^TRIGGER`, or `TYPE` when there is no trigger.
    pub message_type: String,
    pub records: Vec<Record>,
}

/// Map a message (its first segment is the MSH). `control_id` is MSH-10.
pub(super) fn map(segments: &[Seg<'_>], control_id: Option<&str>, options: &ParseOptions) -> Result<Mapped, Fault> {
    let msh = segments.first().filter(|s| s.id() == "MSH").ok_or_else(|| Fault::at("MSH", "no MSH segment"))?;
    let kind = msh.value(9, 1).ok_or_else(|| Fault::at("MSH-9", "no message type (MSH-9 is empty)"))?;
    // Before v2.3 the trigger may be only in EVN-1.
    let trigger = msh.value(9, 2).or_else(|| first(segments, "EVN").and_then(|evn| evn.value(1, 1)));
    let message_type = match &trigger {
        Some(trigger) => format!("{kind}^{trigger}"),
        None => kind.clone(),
    };
    let records = match (kind.as_str(), trigger.as_deref()) {
        ("ADT", trigger) => admission(segments, *msh, trigger, options)?,
        ("ORU", Some("R01")) => results(segments, control_id, options)?,
        _ => {
            return Err(Fault::at("MSH-9", format!("unsupported message type {message_type} (not mapped yet)")));
        }
    };
    Ok(Mapped { message_type, records })
}

fn first<'a>(segments: &[Seg<'a>], id: &str) -> Option<Seg<'a>> {
    segments.iter().find(|s| s.id() == id).copied()
}

fn no_pid(before: &str) -> Fault {
    Fault::at("PID", format!("no PID segment{before}"))
}

/// ADT: the patient; for A01/A04 (join), A03 (leave), A02/A08 (update) also the panel event.
fn admission(
    segments: &[Seg<'_>],
    msh: Seg<'_>,
    trigger: Option<&str>,
    options: &ParseOptions,
) -> Result<Vec<Record>, Fault> {
    let pid = first(segments, "PID").ok_or_else(|| no_pid(""))?;
    let patient = patient(pid, &options.mrn, true)?;
    let action = match trigger {
        Some("A01" | "A04") => PanelAction::Join,
        Some("A03") => PanelAction::Leave,
        Some("A02" | "A08") => PanelAction::Update,
        _ => return Ok(vec![Record::Patient(patient)]),
    };
    let zone = &options.zone;
    let time = |segment: Option<Seg<'_>>, field| segment.map_or(Ok(None), |s| instant(s, field, zone));
    let pv1 = first(segments, "PV1");
    let event_at = match time(first(segments, "EVN"), 2)? {
        Some(t) => Some(t),
        None => instant(msh, 7, zone)?,
    };
    let event = PanelEvent {
        mrn: patient.mrn.clone(),
        action,
        event: trigger.unwrap_or_default().to_owned(),
        event_at,
        location: pv1.and_then(location),
        attending: pv1.and_then(attending),
        visit_number: pv1.and_then(|pv1| pv1.value(19, 1)),
        admitted_at: time(pv1, 44)?,
        discharged_at: time(pv1, 45)?,
    };
    Ok(vec![Record::Patient(patient), Record::Panel(event)])
}

/// PV1-3: point of care, room and bed, the non-empty ones joined with `-`.
fn location(pv1: Seg<'_>) -> Option<String> {
    let rep = pv1.reps(3).first()?;
    let parts: Vec<String> = (1..=3).filter_map(|c| pv1.comp(rep, c)).collect();
    (!parts.is_empty()).then(|| parts.join("-"))
}

/// PV1-7 (XCN): `Family, Given`, else `Family`, else the id.
fn attending(pv1: Seg<'_>) -> Option<String> {
    let rep = pv1.reps(7).first()?;
    match (pv1.comp(rep, 2), pv1.comp(rep, 3)) {
        (Some(family), Some(given)) => Some(format!("{family}, {given}")),
        (Some(family), None) => Some(family),
        (None, _) => pv1.comp(rep, 1),
    }
}

/// PID: all PID-3 identifiers, the MRN chosen by `rule`, name, birth date, sex.
fn patient(pid: Seg<'_>, rule: &MrnRule, registration: bool) -> Result<Patient, Fault> {
    let identifiers: Vec<Identifier> = pid
        .reps(3)
        .iter()
        .filter_map(|rep| {
            Some(Identifier { value: pid.comp(rep, 1)?, id_type: pid.comp(rep, 5), authority: pid.comp(rep, 4) })
        })
        .collect();
    let chosen = identifiers
        .iter()
        .find(|id| {
            id.id_type.as_deref() == Some(rule.id_type.as_str())
                && rule.authority.as_ref().is_none_or(|a| id.authority.as_ref() == Some(a))
        })
        .or(identifiers.first());
    let mrn = chosen
        .map(|id| id.value.clone())
        .ok_or_else(|| Fault::at("PID-3", "no usable MRN: PID-3 has no identifier"))?;
    let name = pid.reps(5).first();
    Ok(Patient {
        mrn,
        identifiers,
        family_name: name.and_then(|rep| pid.comp(rep, 1)),
        given_name: name.and_then(|rep| pid.comp(rep, 2)),
        birth_date: date(pid, 7)?,
        sex: pid.value(8, 1),
        registration,
    })
}

/// The OBR an OBX falls under.
struct Order {
    /// OBR-3 filler order number, else OBR-2 placer.
    id: Option<String>,
    observed_at: Option<DateTime<Utc>>,
    resulted_at: Option<DateTime<Utc>>,
}

/// ORU^R01: a patient per PID, an observation per OBX under it.
fn results(segments: &[Seg<'_>], control_id: Option<&str>, options: &ParseOptions) -> Result<Vec<Record>, Fault> {
    let zone = &options.zone;
    let mut records = Vec::new();
    let mut mrn: Option<String> = None;
    let mut order: Option<Order> = None;
    for &segment in segments {
        match segment.id() {
            "PID" => {
                let patient = patient(segment, &options.mrn, false)?;
                mrn = Some(patient.mrn.clone());
                records.push(Record::Patient(patient));
                order = None;
            }
            "OBR" => {
                order = Some(Order {
                    id: segment.value(3, 1).or_else(|| segment.value(2, 1)),
                    observed_at: instant(segment, 7, zone)?,
                    resulted_at: instant(segment, 22, zone)?,
                });
            }
            "OBX" => {
                let mrn = mrn.as_deref().ok_or_else(|| no_pid(" before OBX"))?;
                records.push(Record::Observation(observation(segment, mrn, order.as_ref(), control_id, zone)?));
            }
            _ => {}
        }
    }
    if mrn.is_none() {
        return Err(no_pid(""));
    }
    Ok(records)
}

fn observation(
    obx: Seg<'_>,
    mrn: &str,
    order: Option<&Order>,
    control_id: Option<&str>,
    zone: &Zone,
) -> Result<Observation, Fault> {
    let code_field = obx.reps(3).first();
    let code = code_field
        .and_then(|rep| obx.comp(rep, 1))
        .ok_or_else(|| Fault::at("OBX-3", "OBX without an observation code (OBX-3.1 is empty)"))?;
    let value_type = obx.value(2, 1);
    let value = value(obx, value_type.as_deref());
    let numeric_value = match (value_type.as_deref(), &value) {
        (Some("NM"), Some(v)) => v.parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    };
    let flags: Vec<String> = obx.reps(8).iter().filter_map(|rep| obx.comp(rep, 1)).collect();
    let observed_at = instant(obx, 14, zone)?;
    let obx_resulted_at = instant(obx, 19, zone)?;
    Ok(Observation {
        mrn: mrn.to_owned(),
        order_id: order.and_then(|o| o.id.clone()).or_else(|| control_id.map(str::to_owned)).unwrap_or_default(),
        code,
        code_system: code_field.and_then(|rep| obx.comp(rep, 3)),
        name: code_field.and_then(|rep| obx.comp(rep, 2)),
        value,
        numeric_value,
        unit: obx.value(6, 1).or_else(|| obx.value(6, 2)),
        reference_range: obx.value(7, 1),
        abnormal_flag: (!flags.is_empty()).then(|| flags.join(",")),
        status: obx.value(11, 1),
        observed_at: observed_at.or(order.and_then(|o| o.observed_at)),
        resulted_at: order.and_then(|o| o.resulted_at).or(obx_resulted_at),
        value_type,
    })
}

/// OBX-5 as text: repetitions joined with `; `; a coded value (CE/CWE/CNE/CF) as its text, else
/// its code; a structured numeric (SN) as its parts run together (`>` `11.0` → `>11.0`).
///
/// ED/RP values (base64 documents, references) come through as written; turning report bodies
/// into documents is for a later issue.
fn value(obx: Seg<'_>, value_type: Option<&str>) -> Option<String> {
    let parts: Vec<String> = obx
        .reps(5)
        .iter()
        .filter_map(|rep| match value_type {
            Some("CE" | "CWE" | "CNE" | "CF") => obx.comp(rep, 2).or_else(|| obx.comp(rep, 1)),
            Some("SN") => {
                let joined: String = (1..=rep.components.len()).filter_map(|c| obx.comp(rep, c)).collect();
                (!joined.is_empty()).then_some(joined)
            }
            _ => obx.text(rep.raw_value()),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A timestamp field (first component), a reject naming the field when it is invalid.
fn instant(segment: Seg<'_>, field: usize, zone: &Zone) -> Result<Option<DateTime<Utc>>, Fault> {
    let Some(value) = segment.value(field, 1) else {
        return Ok(None);
    };
    ts::instant(&value, zone).map_err(|reason| Fault::at(&format!("{}-{field}", segment.id()), reason))
}

fn date(segment: Seg<'_>, field: usize) -> Result<Option<NaiveDate>, Fault> {
    let Some(value) = segment.value(field, 1) else {
        return Ok(None);
    };
    ts::date(&value).map_err(|reason| Fault::at(&format!("{}-{field}", segment.id()), reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ParsedFile, Reject};
    use crate::time::parse_rfc3339;

    fn options() -> ParseOptions {
        ParseOptions { zone: Zone::parse("America/Chicago").expect("zone"), mrn: MrnRule::default() }
    }

    fn parse_with(segments: &[String], options: &ParseOptions) -> ParsedFile {
        super::super::parse(segments.join("\r").as_bytes(), options)
    }

    /// The records of a one-message file that must not be rejected.
    fn records(segments: &[String]) -> Vec<Record> {
        let mut file = parse_with(segments, &options());
        assert_eq!(file.rejects, Vec::<Reject>::new());
        assert_eq!(file.messages.len(), 1);
        file.messages.remove(0).records
    }

    /// The (segment, reason) of a one-message file that must be rejected.
    fn rejected(segments: &[String]) -> (Option<String>, String) {
        let file = parse_with(segments, &options());
        assert_eq!(file.messages, vec![]);
        let reject = file.rejects.first().expect("a reject");
        (reject.segment.clone(), reject.reason.clone())
    }

    /// A segment with the given 1-based fields set, the others empty.
    fn seg(id: &str, fields: &[(usize, &str)]) -> String {
        let len = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
        let mut values = vec![""; len];
        for (n, value) in fields {
            values[n - 1] = value;
        }
        format!("{id}|{}", values.join("|"))
    }

    fn msh(message_type: &str) -> String {
        format!("MSH|^~\\&|EHR|GENHOSP|INGEST|PANEL|20261124050000||{message_type}|CTL001|P|2.5")
    }

    fn pid() -> String {
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

    fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
        Some(parse_rfc3339(rfc3339).expect("RFC 3339"))
    }

    fn test_patient() -> Patient {
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

    /// The same patient as a result message names them: demographics only fill gaps.
    fn mentioned_patient() -> Patient {
        Patient { registration: false, ..test_patient() }
    }

    fn stay() -> String {
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

    #[test]
    fn adt_a01_admits_with_location_attending_and_times() {
        let records = records(&[msh("ADT^A01^ADT_A01"), seg("EVN", &[(1, "A01"), (2, "202611232215")]), pid(), stay()]);
        let event = PanelEvent {
            mrn: "7654321".into(),
            action: PanelAction::Join,
            event: "A01".into(),
            // Chicago is UTC-6 in November.
            event_at: at("2026-11-24T04:15:00Z"),
            location: Some("5A-512-B".into()),
            attending: Some("Careful, Casey".into()),
            visit_number: Some("V0001".into()),
            admitted_at: at("2026-11-24T04:00:00Z"),
            discharged_at: None,
        };
        assert_eq!(records, vec![Record::Patient(test_patient()), Record::Panel(event)]);
    }

    #[test]
    fn each_adt_trigger_gives_its_panel_action() {
        let cases = [
            ("A01", Some(PanelAction::Join)),
            ("A04", Some(PanelAction::Join)),
            ("A03", Some(PanelAction::Leave)),
            ("A02", Some(PanelAction::Update)),
            ("A08", Some(PanelAction::Update)),
            ("A28", None),
            ("A31", None),
        ];
        for (trigger, action) in cases {
            let records = records(&[msh(&format!("ADT^{trigger}")), pid(), seg("PV1", &[(3, "ICU^^7")])]);
            assert_eq!(records.first(), Some(&Record::Patient(test_patient())), "{trigger}");
            let panel = records.get(1).map(|r| match r {
                Record::Panel(event) => (event.action, event.event.as_str(), event.event_at, event.location.as_deref()),
                other => panic!("{trigger}: not a panel event: {other:?}"),
            });
            // Without EVN-2 the event time is MSH-7.
            let expected = action.map(|a| (a, trigger, at("2026-11-24T11:00:00Z"), Some("ICU-7")));
            assert_eq!(panel, expected, "{trigger}");
            assert_eq!(records.len(), if action.is_some() { 2 } else { 1 }, "{trigger}");
        }
    }

    #[test]
    fn adt_a03_discharge_time_and_attending_without_a_name() {
        let pv1 = seg("PV1", &[(3, "5A"), (7, "1234"), (44, "20261120"), (45, "202611231030-0500")]);
        let records = records(&[msh("ADT^A03"), pid(), pv1]);
        let Some(Record::Panel(event)) = records.get(1) else { panic!("no panel event: {records:?}") };
        assert_eq!(event.action, PanelAction::Leave);
        assert_eq!((event.location.as_deref(), event.attending.as_deref()), (Some("5A"), Some("1234")));
        assert_eq!((event.admitted_at, event.discharged_at), (at("2026-11-20T06:00:00Z"), at("2026-11-23T15:30:00Z")));
    }

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
        assert_eq!(mrn_of("^^^CLINIC^PI~333", default), Ok("333".into()));
        let clinic = MrnRule { id_type: "MR".into(), authority: Some("CLINIC".into()) };
        assert_eq!(mrn_of("1^^^GENHOSP^MR~2^^^CLINIC&1.2.3&ISO^MR", clinic.clone()), Ok("2".into()));
        assert_eq!(mrn_of("1^^^GENHOSP^MR~2^^^OTHER^MR", clinic), Ok("1".into()));
        let reject = mrn_of("^^^GENHOSP^MR", MrnRule::default()).expect_err("no value");
        assert_eq!(
            (reject.segment.as_deref(), reject.reason.as_str()),
            (Some("PID-3"), "no usable MRN: PID-3 has no identifier")
        );
    }

    fn obx(fields: &[(usize, &str)]) -> String {
        seg("OBX", fields)
    }

    #[test]
    fn oru_r01_with_two_orders_gives_patient_and_observations() {
        let records = records(&[
            msh("ORU^R01^ORU_R01"),
            pid(),
            seg(
                "OBR",
                &[
                    (1, "1"),
                    (2, "PL100"),
                    (3, "FL200^LAB"),
                    (4, "CBC^Blood count^L"),
                    (7, "202611240400"),
                    (22, "202611240500"),
                ],
            ),
            obx(&[
                (1, "1"),
                (2, "NM"),
                (3, "718-7^Hemoglobin^LN"),
                (5, "13.2"),
                (6, "g/dL"),
                (7, "12.0-16.0"),
                (8, "N"),
                (11, "F"),
            ]),
            obx(&[
                (2, "NM"),
                (3, "6690-2^Leukocytes^LN"),
                (5, "11.8"),
                (6, "^10*3/uL^UCUM"),
                (8, "H~A"),
                (11, "F"),
                (14, "202611240405"),
            ]),
            seg("OBR", &[(1, "2"), (2, "PL101"), (4, "BMP^Metabolic panel^L"), (7, "202611240410")]),
            obx(&[(2, "CWE"), (3, "2823-3^Potassium^LN"), (5, "LOW^Low^L~CRIT^^L"), (8, "LL"), (11, "P")]),
            obx(&[(2, "SN"), (3, "2345-7^Glucose^LN"), (5, ">^200"), (6, "mg/dL"), (11, "F")]),
            obx(&[
                (2, "TX"),
                (3, "NOTE^Comment"),
                (5, "Hemolyzed\\.br\\see note \\T\\ redraw"),
                (11, "C"),
                (19, "202611240600"),
            ]),
        ]);
        let first = Observation {
            mrn: "7654321".into(),
            order_id: "FL200".into(),
            code: "718-7".into(),
            code_system: Some("LN".into()),
            name: Some("Hemoglobin".into()),
            value_type: Some("NM".into()),
            value: Some("13.2".into()),
            numeric_value: Some(13.2),
            unit: Some("g/dL".into()),
            reference_range: Some("12.0-16.0".into()),
            abnormal_flag: Some("N".into()),
            status: Some("F".into()),
            observed_at: at("2026-11-24T10:00:00Z"),
            resulted_at: at("2026-11-24T11:00:00Z"),
        };
        let second = Observation {
            code: "6690-2".into(),
            name: Some("Leukocytes".into()),
            value: Some("11.8".into()),
            numeric_value: Some(11.8),
            unit: Some("10*3/uL".into()),
            reference_range: None,
            abnormal_flag: Some("H,A".into()),
            observed_at: at("2026-11-24T10:05:00Z"),
            ..first.clone()
        };
        let second_order = Observation {
            order_id: "PL101".into(),
            code: "2823-3".into(),
            name: Some("Potassium".into()),
            value_type: Some("CWE".into()),
            value: Some("Low; CRIT".into()),
            numeric_value: None,
            unit: None,
            reference_range: None,
            abnormal_flag: Some("LL".into()),
            status: Some("P".into()),
            observed_at: at("2026-11-24T10:10:00Z"),
            resulted_at: None,
            ..first.clone()
        };
        let structured = Observation {
            code: "2345-7".into(),
            name: Some("Glucose".into()),
            value_type: Some("SN".into()),
            value: Some(">200".into()),
            unit: Some("mg/dL".into()),
            abnormal_flag: None,
            status: Some("F".into()),
            ..second_order.clone()
        };
        let text = Observation {
            code: "NOTE".into(),
            code_system: None,
            name: Some("Comment".into()),
            value_type: Some("TX".into()),
            value: Some("Hemolyzed\nsee note & redraw".into()),
            unit: None,
            status: Some("C".into()),
            // No OBR-22: OBX-19.
            resulted_at: at("2026-11-24T12:00:00Z"),
            ..structured.clone()
        };
        let expected = [first, second, second_order, structured, text].map(Record::Observation);
        assert_eq!(records.first(), Some(&Record::Patient(mentioned_patient())));
        assert_eq!(records.get(1..), Some(&expected[..]));
    }

    #[test]
    fn an_obx_before_any_obr_uses_the_control_id_and_each_pid_its_own_mrn() {
        let other = seg("PID", &[(3, "5550001^^^GENHOSP^MR")]);
        let records = records(&[msh("ORU^R01"), pid(), obx(&[(3, "A^a")]), other, obx(&[(3, "B^b")])]);
        let summary: Vec<(&str, &str, &str)> = records
            .iter()
            .filter_map(|r| match r {
                Record::Observation(o) => Some((o.mrn.as_str(), o.order_id.as_str(), o.code.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(summary, [("7654321", "CTL001", "A"), ("5550001", "CTL001", "B")]);
        assert_eq!(records.iter().filter(|r| r.kind() == "patient").count(), 2);
    }

    #[test]
    fn each_mapping_reject_names_its_segment_and_reason() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            rejected(&["MSH|^~\\&|EHR|GENHOSP|||20261124||".into(), pid()]),
            (some("MSH-9"), "no message type (MSH-9 is empty)".into())
        );
        assert_eq!(
            rejected(&[msh("ORM^O01"), pid()]),
            (some("MSH-9"), "unsupported message type ORM^O01 (not mapped yet)".into())
        );
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
        assert_eq!(
            rejected(&[msh("ORU^R01"), pid(), obx(&[(3, "A"), (14, "202613011200")])]),
            (some("OBX-14"), "invalid timestamp \"202613011200\": month 13 out of range".into())
        );
        assert_eq!(
            rejected(&[msh("ADT^A08"), pid(), seg("PV1", &[(45, "2026112425")])]),
            (some("PV1-45"), "invalid timestamp \"2026112425\": hour 25 out of range".into())
        );
        assert_eq!(
            rejected(&[msh("ADT^A28"), seg("PID", &[(3, "1"), (7, "19701315")])]),
            (some("PID-7"), "invalid timestamp \"19701315\": month 13 out of range".into())
        );
    }
}
