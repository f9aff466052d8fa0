//! ADT: the patient (authoritative: a registration), the stay as a panel event (A01 A02 A03 A04 A08
//! A11 A13), allergies (AL1) and diagnoses (DG1). Other ADT triggers (A28, A31, …) give the patient,
//! allergies and diagnoses but no panel event.

use super::{Coded, Fault, Warnings, coded, coded_field, first, instant, no_pid, patient, person_field};
use crate::ParseOptions;
use crate::hl7::message::Seg;
use ingest_core::model::{Allergy, PanelAction, PanelEvent, Problem, ProblemOrigin, Record};
use ingest_core::time::Zone;

pub(super) fn map(
    segments: &[Seg<'_>],
    msh: Seg<'_>,
    trigger: Option<&str>,
    options: &ParseOptions,
    w: &Warnings,
) -> Result<Vec<Record>, Fault> {
    let pid = first(segments, "PID").ok_or_else(|| no_pid(""))?;
    let patient = patient(pid, &options.mrn, true, w)?;
    let mrn = patient.mrn.clone();
    let zone = &options.zone;
    let mut records = vec![Record::Patient(patient)];
    if let Some(action) = action(trigger) {
        let mut stay = stay(segments, msh, &mrn, action, trigger.unwrap_or_default(), zone, w);
        let pv1 = first(segments, "PV1");
        let inpatient = pv1.and_then(|pv1| pv1.value(2, 1)).as_deref() == Some("I");
        // The raw field: a discharge time that could not be read still says the stay ended.
        let discharged = pv1.and_then(|pv1| pv1.value(45, 1)).is_some();
        if action == PanelAction::Update && inpatient && stay.location.is_some() && !discharged {
            stay.action = PanelAction::Place;
        }
        records.push(Record::Panel(stay));
    }
    for &segment in segments {
        let record = match segment.id() {
            "AL1" => allergy(segment, &mrn, zone, w).map(Record::Allergy),
            "DG1" => diagnosis(segment, &mrn, zone, w).map(Record::Problem),
            _ => None,
        };
        records.extend(record);
    }
    Ok(records)
}

/// What the trigger does to the panel; `None` for triggers that only update the patient.
fn action(trigger: Option<&str>) -> Option<PanelAction> {
    Some(match trigger? {
        "A01" | "A04" => PanelAction::Join,
        "A03" => PanelAction::Leave,
        "A02" | "A08" => PanelAction::Update,
        "A11" => PanelAction::CancelAdmit,
        "A13" => PanelAction::CancelDischarge,
        _ => return None,
    })
}

/// The stay (PV1) as the event reports it; the event time is EVN-2, else MSH-7.
fn stay(
    segments: &[Seg<'_>],
    msh: Seg<'_>,
    mrn: &str,
    action: PanelAction,
    trigger: &str,
    zone: &Zone,
    w: &Warnings,
) -> PanelEvent {
    let time = |segment: Option<Seg<'_>>, field| segment.map_or(Ok(None), |s| instant(s, field, zone));
    let pv1 = first(segments, "PV1");
    PanelEvent {
        mrn: mrn.to_owned(),
        action,
        event: trigger.to_owned(),
        event_at: w.either(time(first(segments, "EVN"), 2), || instant(msh, 7, zone)),
        location: pv1.and_then(location),
        attending: pv1.and_then(|pv1| person_field(pv1, 7)),
        visit_number: pv1.and_then(|pv1| pv1.value(19, 1)),
        admitted_at: w.optional(time(pv1, 44)),
        discharged_at: w.optional(time(pv1, 45)),
    }
}

/// PV1-3: point of care, room and bed, the non-empty ones joined with `-`.
fn location(pv1: Seg<'_>) -> Option<String> {
    let rep = pv1.reps(3).first()?;
    let parts: Vec<String> = (1..=3).filter_map(|c| pv1.comp(rep, c)).collect();
    (!parts.is_empty()).then(|| parts.join("-"))
}

/// AL1; `None` when it names no allergen (an empty placeholder segment states nothing).
fn allergy(al1: Seg<'_>, mrn: &str, zone: &Zone, w: &Warnings) -> Option<Allergy> {
    let Coded { code, text, system } = coded_field(al1, 3);
    let allergen = text.or_else(|| code.clone())?;
    let reactions: Vec<String> = al1.reps(5).iter().filter_map(|rep| coded(al1, rep).display()).collect();
    Some(Allergy {
        mrn: mrn.to_owned(),
        code,
        code_system: system,
        allergen,
        allergy_type: al1.value(2, 1),
        severity: al1.value(4, 1),
        reaction: (!reactions.is_empty()).then(|| reactions.join("; ")),
        identified_at: w.optional(instant(al1, 6, zone)),
    })
}

/// DG1: DG1-3 code, text and system (the system else DG1-2, the coding method of v2.3), the
/// description DG1-3 text, else DG1-4, else the code; DG1-6 diagnosis type as the status, DG1-5
/// as the onset. `None` when it names no diagnosis.
fn diagnosis(dg1: Seg<'_>, mrn: &str, zone: &Zone, w: &Warnings) -> Option<Problem> {
    let Coded { code, text, system } = coded_field(dg1, 3);
    let description = text.or_else(|| dg1.value(4, 1)).or_else(|| code.clone())?;
    let code_system = system.or_else(|| code.as_ref().and_then(|_| dg1.value(2, 1)));
    Some(Problem {
        mrn: mrn.to_owned(),
        code,
        code_system,
        description,
        status: dg1.value(6, 1),
        onset_at: w.optional(instant(dg1, 5, zone)),
        resolved_at: None,
        origin: ProblemOrigin::Diagnosis,
        deleted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use ingest_core::model::{Allergy, PanelAction, PanelEvent, Problem, ProblemOrigin, Record};

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
            ("A11", Some(PanelAction::CancelAdmit)),
            ("A13", Some(PanelAction::CancelDischarge)),
            ("A28", None),
            ("A31", None),
            ("A05", None),
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
    fn adt_a02_transfer_moves_the_patient_to_the_new_location() {
        let pv1 = seg("PV1", &[(2, "I"), (3, "4B^410^A"), (6, "5A^512^B"), (7, "77^Newdoc^Nia")]);
        let records = records(&[msh("ADT^A02^ADT_A02"), seg("EVN", &[(2, "202611240130")]), pid(), pv1]);
        // An inpatient in a bed: the stay is updated, and the patient placed on the panel if absent.
        let event = PanelEvent {
            mrn: "7654321".into(),
            action: PanelAction::Place,
            event: "A02".into(),
            event_at: at("2026-11-24T07:30:00Z"),
            location: Some("4B-410-A".into()),
            attending: Some("Newdoc, Nia".into()),
            visit_number: None,
            admitted_at: None,
            discharged_at: None,
        };
        assert_eq!(records, vec![Record::Patient(test_patient()), Record::Panel(event)]);
    }

    #[test]
    fn only_an_inpatient_update_with_a_bed_and_no_discharge_places() {
        let action = |pv1: String| match records(&[msh("ADT^A08"), pid(), pv1]).get(1) {
            Some(Record::Panel(e)) => e.action,
            other => panic!("{other:?}"),
        };
        assert_eq!(action(seg("PV1", &[(2, "I"), (3, "7E^12^A")])), PanelAction::Place);
        assert_eq!(action(seg("PV1", &[(2, "O"), (3, "CLINIC^1")])), PanelAction::Update, "an outpatient");
        assert_eq!(action(seg("PV1", &[(2, "I")])), PanelAction::Update, "no bed");
        assert_eq!(
            action(seg("PV1", &[(2, "I"), (3, "7E^12^A"), (45, "202611240900")])),
            PanelAction::Update,
            "discharged"
        );
    }

    #[test]
    fn adt_a11_and_a13_cancel_the_admission_and_the_discharge() {
        let a11 = records(&[msh("ADT^A11^ADT_A09"), seg("EVN", &[(1, "A11"), (2, "202611240200")]), pid(), stay()]);
        let Some(Record::Panel(cancel_admit)) = a11.get(1) else { panic!("{a11:?}") };
        assert_eq!(
            (cancel_admit.action, cancel_admit.event.as_str(), cancel_admit.event_at),
            (PanelAction::CancelAdmit, "A11", at("2026-11-24T08:00:00Z"))
        );
        let a13 = records(&[msh("ADT^A13^ADT_A01"), pid(), seg("PV1", &[(3, "5A^512^B"), (45, "")])]);
        let Some(Record::Panel(cancel_discharge)) = a13.get(1) else { panic!("{a13:?}") };
        assert_eq!(
            (cancel_discharge.action, cancel_discharge.location.as_deref(), cancel_discharge.discharged_at),
            (PanelAction::CancelDischarge, Some("5A-512-B"), None)
        );
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
    fn al1_segments_become_allergies() {
        let records = records(&[
            msh("ADT^A08"),
            pid(),
            stay(),
            seg(
                "AL1",
                &[
                    (1, "1"),
                    (2, "DA^Drug allergy^HL70127"),
                    (3, "7980^Penicillin G^RXNORM"),
                    (4, "SV^Severe^HL70128"),
                    (5, "Hives~Anaphylaxis"),
                    (6, "20190401"),
                ],
            ),
            seg("AL1", &[(1, "2"), (2, "FA"), (3, "^Peanuts"), (4, "MO")]),
            seg("AL1", &[(1, "3"), (3, "LATEX"), (5, "\"\"")]),
            // An empty placeholder states nothing.
            seg("AL1", &[(1, "4"), (3, "^^")]),
        ]);
        let allergies = only(&records, |r| match r {
            Record::Allergy(a) => Some(a),
            _ => None,
        });
        let penicillin = Allergy {
            mrn: "7654321".into(),
            code: Some("7980".into()),
            code_system: Some("RXNORM".into()),
            allergen: "Penicillin G".into(),
            allergy_type: Some("DA".into()),
            severity: Some("SV".into()),
            reaction: Some("Hives; Anaphylaxis".into()),
            identified_at: at("2019-04-01T05:00:00Z"),
        };
        let peanuts = Allergy {
            code: None,
            code_system: None,
            allergen: "Peanuts".into(),
            allergy_type: Some("FA".into()),
            severity: Some("MO".into()),
            reaction: None,
            identified_at: None,
            ..penicillin.clone()
        };
        let latex = Allergy {
            code: Some("LATEX".into()),
            allergen: "LATEX".into(),
            allergy_type: None,
            severity: None,
            ..peanuts.clone()
        };
        assert_eq!(allergies, vec![penicillin, peanuts, latex]);
        assert_eq!(records.iter().filter(|r| r.kind() == "panel").count(), 1);
    }

    #[test]
    fn dg1_segments_become_diagnoses() {
        let records = records(&[
            msh("ADT^A01"),
            pid(),
            stay(),
            seg("DG1", &[(1, "1"), (2, "I10"), (3, "I50.9^Heart failure, unspecified^I10"), (5, "20261120"), (6, "A")]),
            // v2.3: the coding method in DG1-2, the description in DG1-4.
            seg("DG1", &[(1, "2"), (2, "I9"), (3, "428.0"), (4, "CHF"), (6, "W")]),
            seg("DG1", &[(1, "3"), (3, "^Pregnancy"), (4, "Pregnancy"), (5, "\"\""), (6, "F")]),
            seg("DG1", &[(1, "4"), (2, "I10")]),
        ]);
        let problems = only(&records, |r| match r {
            Record::Problem(p) => Some(p),
            _ => None,
        });
        let heart_failure = Problem {
            mrn: "7654321".into(),
            code: Some("I50.9".into()),
            code_system: Some("I10".into()),
            description: "Heart failure, unspecified".into(),
            status: Some("A".into()),
            onset_at: at("2026-11-20T06:00:00Z"),
            resolved_at: None,
            origin: ProblemOrigin::Diagnosis,
            deleted: false,
        };
        let chf = Problem {
            code: Some("428.0".into()),
            code_system: Some("I9".into()),
            description: "CHF".into(),
            status: Some("W".into()),
            onset_at: None,
            ..heart_failure.clone()
        };
        let pregnancy = Problem {
            code: None,
            code_system: None,
            description: "Pregnancy".into(),
            status: Some("F".into()),
            ..chf.clone()
        };
        assert_eq!(problems, vec![heart_failure, chf, pregnancy]);
    }

    #[test]
    fn a28_gives_the_patient_and_its_allergies_without_a_panel_event() {
        let records = records(&[msh("ADT^A28"), pid(), seg("AL1", &[(1, "1"), (3, "^Shellfish")])]);
        let kinds: Vec<&str> = records.iter().map(Record::kind).collect();
        assert_eq!(kinds, ["patient", "allergy"]);
    }
}
