//! Pharmacy orders (RDE^O11/O25 encoded, RDS^O13 dispense, RAS^O17 administration, OMP^O09
//! order): a medication per order group, which an ORC starts and whose RXO/RXE/RXD/RXA/RXG,
//! RXR and TQ1 segments follow it. An administration (RAS) gives the medication it was given
//! from; the administration itself (RXA-20 and the like) is not recorded yet.

use super::{Fault, Warnings, coded_field, first, instant, instant_at, mentioned_patient};
use crate::ParseOptions;
use crate::hl7::message::Seg;
use ingest_core::model::{Medication, Record};
use ingest_core::time::Zone;

/// The segments of an order group besides ORC.
const ORDER_SEGMENTS: [&str; 8] = ["RXO", "RXE", "RXD", "RXA", "RXG", "RXR", "TQ1", "RXC"];

/// Where the drug comes from, in order: the encoded give code, the ordered one, the dispensed,
/// the administered, the give code of a give message.
const DRUG: [(&str, usize); 5] = [("RXE", 2), ("RXO", 1), ("RXD", 2), ("RXA", 5), ("RXG", 4)];

/// Where the dose comes from, in order: (segment, minimum, maximum or 0 for none, units).
const DOSE: [(&str, usize, usize, usize); 4] = [("RXE", 3, 4, 5), ("RXO", 2, 3, 4), ("RXA", 6, 0, 7), ("RXG", 5, 6, 7)];

pub(super) fn map(
    segments: &[Seg<'_>],
    control_id: Option<&str>,
    options: &ParseOptions,
    w: &Warnings,
) -> Result<Vec<Record>, Fault> {
    let patient = mentioned_patient(segments, options, w)?;
    let groups = groups(segments);
    if groups.is_empty() {
        return Err(Fault::at("ORC", "no order (no ORC or pharmacy segment)"));
    }
    let mut records = vec![];
    for (n, group) in groups.iter().enumerate() {
        records.push(Record::Medication(medication(group, n + 1, &patient.mrn, control_id, &options.zone, w)?));
    }
    records.insert(0, Record::Patient(patient));
    Ok(records)
}

/// Order groups: each ORC starts one; pharmacy segments before any ORC form one without it.
fn groups<'a>(segments: &[Seg<'a>]) -> Vec<Vec<Seg<'a>>> {
    let mut groups: Vec<Vec<Seg<'a>>> = Vec::new();
    for &segment in segments {
        match (segment.id(), groups.last_mut()) {
            ("ORC", _) => groups.push(vec![segment]),
            (id, Some(group)) if ORDER_SEGMENTS.contains(&id) => group.push(segment),
            (id, None) if ORDER_SEGMENTS.contains(&id) => groups.push(vec![segment]),
            _ => {}
        }
    }
    groups
}

fn medication(
    group: &[Seg<'_>],
    n: usize,
    mrn: &str,
    control_id: Option<&str>,
    zone: &Zone,
    w: &Warnings,
) -> Result<Medication, Fault> {
    let orc = first(group, "ORC");
    let order_id = orc
        .and_then(|orc| orc.value(3, 1).or_else(|| orc.value(2, 1)))
        .or_else(|| control_id.map(|id| format!("{id}/{n}")))
        .ok_or_else(|| Fault::at("ORC-3", "no order number (ORC-3, ORC-2) and no message control id (MSH-10)"))?;
    let drug = DRUG
        .iter()
        .filter_map(|&(id, field)| Some(coded_field(first(group, id)?, field)))
        .find(|drug| drug.code.is_some() || drug.text.is_some());
    let drug = drug.ok_or_else(|| {
        Fault::at(
            orc.map_or("RXO", |_| "ORC"),
            format!("order {order_id} names no drug (RXE-2, RXO-1, RXD-2, RXA-5, RXG-4)"),
        )
    })?;
    let encoded = first(group, "RXE");
    let tq1 = timing(group);
    let old_tq = |component: usize| {
        encoded.and_then(|rxe| rxe.value(1, component)).or_else(|| orc.and_then(|orc| orc.value(7, component)))
    };
    let frequency = tq1.and_then(repeat_pattern).or_else(|| old_tq(2));
    let tq1_time = |field| tq1.map_or(Ok(None), |tq1| instant(tq1, field, zone));
    let rxe_time = |component| encoded.map_or(Ok(None), |rxe| instant_at(rxe, 1, component, zone));
    let orc_time = |field, component| orc.map_or(Ok(None), |orc| instant_at(orc, field, component, zone));
    // The first of the places that has a readable time (each unreadable one warned).
    let start_at = [tq1_time(7), rxe_time(4), orc_time(7, 4), orc_time(15, 1)].into_iter().find_map(|t| w.optional(t));
    let end_at = [tq1_time(8), rxe_time(5), orc_time(7, 5)].into_iter().find_map(|t| w.optional(t));
    Ok(Medication {
        mrn: mrn.to_owned(),
        order_id,
        name: drug.display().unwrap_or_default(),
        code: drug.code,
        code_system: drug.system,
        dose: dose(group),
        route: after_encoding(group, "RXR").map(|rxr| coded_field(rxr, 1)).and_then(|route| route.display()),
        frequency,
        status: orc.and_then(status),
        start_at,
        end_at,
    })
}

/// A segment that may come twice in a group, for the order and for the pharmacy's encoding of it
/// (RXR, TQ1): the one after RXE/RXD/RXA/RXG when there is one, else the first.
fn after_encoding<'a>(group: &[Seg<'a>], id: &str) -> Option<Seg<'a>> {
    let encoding = group.iter().position(|s| matches!(s.id(), "RXE" | "RXD" | "RXA" | "RXG"));
    let later = encoding.and_then(|at| group.get(at..)).and_then(|rest| first(rest, id));
    later.or_else(|| first(group, id))
}

fn timing<'a>(group: &[Seg<'a>]) -> Option<Seg<'a>> {
    after_encoding(group, "TQ1")
}

/// TQ1-3 repeat pattern codes (RPT.1, a CWE in subcomponents: `Q8H`, `BID`; its text when it has
/// no code), repetitions joined with `, `.
fn repeat_pattern(tq1: Seg<'_>) -> Option<String> {
    let codes: Vec<String> =
        tq1.reps(3).iter().filter_map(|rep| tq1.sub(rep, 1, 1).or_else(|| tq1.sub(rep, 1, 2))).collect();
    (!codes.is_empty()).then(|| codes.join(", "))
}

/// Amount (a range when a maximum is given) and units, from the first segment that has an amount.
fn dose(group: &[Seg<'_>]) -> Option<String> {
    DOSE.iter().find_map(|&(id, minimum, maximum, units)| {
        let segment = first(group, id)?;
        let amount = segment.value(minimum, 1)?;
        let amount = match segment.value(maximum, 1) {
            Some(max) if max != amount => format!("{amount}-{max}"),
            _ => amount,
        };
        // The unit's code (`mg`, UCUM), unless it is a number (a SNOMED form code): then its text.
        let units = coded_field(segment, units);
        let numeric = units.code.as_ref().is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let units = if numeric { units.text.or(units.code) } else { units.code.or(units.text) };
        Some(match units {
            Some(units) => format!("{amount} {units}"),
            None => amount,
        })
    })
}

/// ORC-5 order status, else ORC-1 order control, as one of active, held, discontinued,
/// cancelled, completed; `None` when neither says.
fn status(orc: Seg<'_>) -> Option<String> {
    let by_status = |code: &str| match code {
        "CM" => Some("completed"),
        "DC" => Some("discontinued"),
        "CA" => Some("cancelled"),
        "HD" => Some("held"),
        "IP" | "SC" | "A" => Some("active"),
        _ => None,
    };
    let by_control = |code: &str| match code {
        "NW" | "OK" | "XO" | "XR" | "XX" | "SC" | "RL" | "OE" | "OR" | "OP" | "RO" | "RP" | "RQ" | "RU" | "NA"
        | "AF" | "OF" | "FU" | "RF" => Some("active"),
        "DC" | "OD" | "DR" => Some("discontinued"),
        "CA" | "OC" | "CR" => Some("cancelled"),
        "HD" | "OH" | "HR" => Some("held"),
        _ => None,
    };
    let status = orc.value(5, 1).as_deref().and_then(by_status);
    status.or_else(|| orc.value(1, 1).as_deref().and_then(by_control)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use ingest_core::model::{Medication, Record};

    fn medications(records: &[Record]) -> Vec<Medication> {
        only(records, |r| match r {
            Record::Medication(m) => Some(m),
            _ => None,
        })
    }

    fn vancomycin() -> Medication {
        Medication {
            mrn: "7654321".into(),
            order_id: "RX5001".into(),
            name: "Vancomycin 1 g IV".into(),
            code: Some("11124".into()),
            code_system: Some("RXNORM".into()),
            dose: Some("1000 mg".into()),
            route: Some("Intravenous".into()),
            frequency: Some("Q12H".into()),
            status: Some("active".into()),
            start_at: at("2026-11-24T14:00:00Z"),
            end_at: at("2026-12-01T14:00:00Z"),
        }
    }

    #[test]
    fn rde_o11_gives_a_medication_from_orc_rxe_rxr_and_tq1() {
        let records = records(&[
            msh("RDE^O11^RDE_O11"),
            pid(),
            seg("PV1", &[(2, "I"), (3, "5A^512^B")]),
            seg("ORC", &[(1, "NW"), (2, "PLC5001^EHR"), (3, "RX5001^PHARM"), (5, "IP"), (9, "202611240750")]),
            // The order's own timing and route, then the pharmacy's: the latter win.
            seg("TQ1", &[(1, "1"), (3, "Q8H")]),
            seg("RXO", &[(1, "11124^Vancomycin^RXNORM"), (2, "15"), (4, "mg/kg")]),
            seg("RXR", &[(1, "PO^Oral^HL70162")]),
            seg(
                "RXE",
                &[(1, "^Q24H^^20261124"), (2, "11124^Vancomycin 1 g IV^RXNORM"), (3, "1000"), (5, "mg^milligram^UCUM")],
            ),
            seg("TQ1", &[(1, "1"), (3, "Q12H&Every 12 hours&HL70335"), (7, "202611240800"), (8, "202612010800")]),
            seg("RXR", &[(1, "IV^Intravenous^HL70162")]),
            "ZRX|site specific".into(),
        ]);
        assert_eq!(records, vec![Record::Patient(mentioned_patient()), Record::Medication(vancomycin())]);
    }

    #[test]
    fn old_tq_fields_and_each_order_of_a_message() {
        let records = records(&[
            msh("RDE^O11"),
            pid(),
            // No TQ1: RXE-1 (TQ) interval, start and end.
            seg("ORC", &[(1, "XO"), (2, "P1")]),
            seg(
                "RXE",
                &[
                    (1, "^BID&0800,2000^^20261120^20261130"),
                    (2, "^Metoprolol 25 mg tab"),
                    (3, "25"),
                    (4, "50"),
                    (5, "mg"),
                ],
            ),
            // No RXE-1: ORC-7; no order numbers: the control id and the group number.
            seg("ORC", &[(1, "DC"), (7, "^Q6H PRN^^202611200600")]),
            seg("RXE", &[(2, "313782^Acetaminophen 325 MG Oral Tablet^RXNORM"), (3, "650")]),
            seg("ORC", &[(1, "NW"), (2, "P3"), (5, "HD"), (15, "202611220900")]),
            seg("RXE", &[(2, "8640^Prednisone^RXNORM"), (3, "\"\""), (5, "mg")]),
        ]);
        let summary: Vec<String> = medications(&records)
            .into_iter()
            .map(|m| {
                let start = m.start_at.map(ingest_core::time::rfc3339);
                format!("{} | {} | {:?} | {:?} | {:?} | {:?}", m.order_id, m.name, m.dose, m.frequency, m.status, start)
            })
            .collect();
        assert_eq!(
            summary,
            [
                r#"P1 | Metoprolol 25 mg tab | Some("25-50 mg") | Some("BID") | Some("active") | Some("2026-11-20T06:00:00Z")"#,
                r#"CTL001/2 | Acetaminophen 325 MG Oral Tablet | Some("650") | Some("Q6H PRN") | Some("discontinued") | Some("2026-11-20T12:00:00Z")"#,
                // ORC-5 HD wins over ORC-1 NW; no TQ: ORC-15 as the start; a null amount is no dose.
                r#"P3 | Prednisone | None | None | Some("held") | Some("2026-11-22T15:00:00Z")"#,
            ]
        );
        let metoprolol = medications(&records).into_iter().next().expect("one");
        assert_eq!((metoprolol.code, metoprolol.end_at), (None, at("2026-11-30T06:00:00Z")));
    }

    #[test]
    fn rds_omp_and_ras_give_medications_with_their_status() {
        let rds = records(&[
            msh("RDS^O13^RDS_O13"),
            pid(),
            seg("ORC", &[(1, "RE"), (3, "RX77"), (5, "CM")]),
            seg(
                "RXD",
                &[(1, "1"), (2, "00093-0311-01^Amoxicillin 500 mg cap^NDC"), (3, "20261124"), (4, "30"), (5, "CAP")],
            ),
            seg("RXR", &[(1, "PO")]),
        ]);
        let expected = Medication {
            order_id: "RX77".into(),
            name: "Amoxicillin 500 mg cap".into(),
            code: Some("00093-0311-01".into()),
            code_system: Some("NDC".into()),
            // A dispense amount (30 capsules) is not a dose.
            dose: None,
            route: Some("PO".into()),
            frequency: None,
            status: Some("completed".into()),
            start_at: None,
            end_at: None,
            ..vancomycin()
        };
        assert_eq!(medications(&rds), vec![expected]);

        let omp = records(&[
            msh("OMP^O09^OMP_O09"),
            pid(),
            seg("ORC", &[(1, "NW"), (2, "PLC9")]),
            seg("TQ1", &[(3, "TID"), (7, "20261124")]),
            seg("RXO", &[(1, "197361^Amlodipine 5 MG Oral Tablet^RXNORM"), (2, "5"), (4, "mg")]),
            seg("RXR", &[(1, "^Oral")]),
        ]);
        let expected = Medication {
            order_id: "PLC9".into(),
            name: "Amlodipine 5 MG Oral Tablet".into(),
            code: Some("197361".into()),
            code_system: Some("RXNORM".into()),
            dose: Some("5 mg".into()),
            route: Some("Oral".into()),
            frequency: Some("TID".into()),
            status: Some("active".into()),
            start_at: at("2026-11-24T06:00:00Z"),
            end_at: None,
            ..vancomycin()
        };
        assert_eq!(medications(&omp), vec![expected]);

        let ras = records(&[
            msh("RAS^O17^RAS_O17"),
            pid(),
            seg("ORC", &[(1, "CA"), (3, "RX88")]),
            seg(
                "RXA",
                &[
                    (1, "0"),
                    (2, "1"),
                    (3, "202611240900"),
                    (4, "202611240900"),
                    (5, "1191^Aspirin^RXNORM"),
                    (6, "81"),
                    (7, "mg"),
                    (20, "CP"),
                ],
            ),
            seg("RXR", &[(1, "PO^Oral")]),
        ]);
        let Some(medication) = medications(&ras).pop() else { panic!("{ras:?}") };
        assert_eq!(
            (
                medication.order_id.as_str(),
                medication.name.as_str(),
                medication.dose.as_deref(),
                medication.status.as_deref()
            ),
            ("RX88", "Aspirin", Some("81 mg"), Some("cancelled"))
        );
    }

    #[test]
    fn pharmacy_rejects_name_what_is_missing() {
        assert_eq!(
            rejected(&[msh("RDE^O11"), pid()]),
            (Some("ORC".into()), "no order (no ORC or pharmacy segment)".into())
        );
        assert_eq!(
            rejected(&[msh("OMP^O09"), pid(), seg("ORC", &[(1, "NW"), (2, "P1")]), seg("RXR", &[(1, "PO")])]),
            (Some("ORC".into()), "order P1 names no drug (RXE-2, RXO-1, RXD-2, RXA-5, RXG-4)".into())
        );
        // An unreadable start time is not a reason to lose the order: the next place stands in.
        let (records, warnings) = warned(&[
            msh("RDE^O11"),
            pid(),
            seg("ORC", &[(2, "P1"), (15, "20261124")]),
            seg("TQ1", &[(7, "20261340")]),
            seg("RXE", &[(2, "X")]),
        ]);
        assert_eq!(
            warnings,
            [("TQ1-7".into(), "invalid timestamp (8 characters): month 13 out of range; left empty".into())]
        );
        assert!(
            matches!(&records[1], Record::Medication(m) if m.order_id == "P1" && m.start_at.is_some()),
            "{records:?}"
        );
    }
}
