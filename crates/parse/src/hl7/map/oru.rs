//! ORU^R01: a patient per PID and, per OBX under an OBR, an observation, a removal (OBX-11 `D`
//! deleted or `X` cannot be obtained) or a line of a report document (TX/FT/ED).
//!
//! Under one OBR, the TX/FT lines with the same OBX-3 (and OBX-4 sub-id) are one report: when there
//! are two or more of them, or one long value that has line breaks, they become one document
//! (`<order id>/<code>[/<sub-id>]`) and no observation; a single short TX/FT value stays an
//! observation. An ED value (a PDF, an image) is always a document, whose text is a placeholder.
//! Report lines often come without an OBX-3 code: they take OBX-3's text, else the order's
//! service code (OBR-4), else `report`, as their code. Any other OBX without a code is a reject.

use super::{Coded, Fault, Warnings, coded_field, encapsulated, instant, narrative, no_pid, patient, person_field};
use crate::ParseOptions;
use crate::hl7::message::Seg;
use crate::hl7::ts;
use chrono::{DateTime, Utc};
use ingest_core::model::{Document, Observation, ObservationRemoval, Record};
use ingest_core::time::{Zone, rfc3339};

/// A single TX/FT value of at least this many characters, with line breaks, is a report.
const LONG_REPORT: usize = 200;

/// The OBR an OBX falls under.
#[derive(Debug, Default)]
struct Order {
    /// OBR-3 filler order number, else OBR-2 placer, else the message control id.
    id: String,
    /// OBR-7.
    observed_at: Option<DateTime<Utc>>,
    /// OBR-22.
    resulted_at: Option<DateTime<Utc>>,
    /// OBR-4 text.
    title: Option<String>,
    /// OBR-4 code.
    service: Option<String>,
    /// OBR-32 principal result interpreter.
    interpreter: Option<String>,
    /// NTE lines after the OBR, before its first OBX.
    notes: Vec<String>,
}

impl Order {
    fn read(obr: Seg<'_>, control_id: Option<&str>, zone: &Zone, w: &Warnings) -> Order {
        Order {
            id: obr
                .value(3, 1)
                .or_else(|| obr.value(2, 1))
                .unwrap_or_else(|| control_id.unwrap_or_default().to_owned()),
            observed_at: w.optional(instant(obr, 7, zone)),
            resulted_at: w.optional(instant(obr, 22, zone)),
            title: obr.value(4, 2),
            service: obr.value(4, 1),
            interpreter: person_field(obr, 32),
            notes: Vec::new(),
        }
    }

    /// Results before any OBR.
    fn none(control_id: Option<&str>) -> Order {
        Order { id: control_id.unwrap_or_default().to_owned(), ..Order::default() }
    }
}

pub(super) fn map(
    segments: &[Seg<'_>],
    control_id: Option<&str>,
    options: &ParseOptions,
    w: &Warnings,
) -> Result<Vec<Record>, Fault> {
    let zone = &options.zone;
    let mut records = Vec::new();
    let mut mrn: Option<String> = None;
    let mut order = Order::none(control_id);
    let mut results: Vec<Obx<'_>> = Vec::new();
    for &segment in segments {
        match segment.id() {
            "PID" => {
                if let Some(mrn) = &mrn {
                    emit(&std::mem::take(&mut results), mrn, &order, zone, w, &mut records)?;
                }
                let patient = patient(segment, &options.mrn, false, w)?;
                mrn = Some(patient.mrn.clone());
                records.push(Record::Patient(patient));
                order = Order::none(control_id);
            }
            "OBR" => {
                if let Some(mrn) = &mrn {
                    emit(&std::mem::take(&mut results), mrn, &order, zone, w, &mut records)?;
                }
                order = Order::read(segment, control_id, zone, w);
            }
            "OBX" => {
                if mrn.is_none() {
                    return Err(no_pid(" before OBX"));
                }
                results.push(Obx { obx: segment, notes: Vec::new() });
            }
            // A note after an OBX is that result's; one after the OBR, before any OBX, the order's.
            "NTE" => {
                let text = note(segment);
                match results.last_mut() {
                    Some(result) => result.notes.extend(text),
                    None => order.notes.extend(text),
                }
            }
            _ => {}
        }
    }
    let mrn = mrn.ok_or_else(|| no_pid(""))?;
    emit(&results, &mrn, &order, zone, w, &mut records)?;
    Ok(records)
}

/// An OBX and the NTE segments after it.
struct Obx<'a> {
    obx: Seg<'a>,
    notes: Vec<String>,
}

/// NTE-3's repetitions, one line each, as text (blank ones dropped).
fn note(nte: Seg<'_>) -> Vec<String> {
    nte.reps(3)
        .iter()
        .map(|rep| nte.line(rep.raw_value()).trim_end().to_string())
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// One OBX, as far as grouping needs it.
struct Line<'a> {
    obx: Seg<'a>,
    notes: &'a [String],
    /// OBX-3.1 (else its alternate, OBX-3.4); for a report line without one, see the module doc.
    code: String,
    /// OBX-3 as read.
    observation: Coded,
    /// OBX-4.
    sub_id: Option<String>,
    value_type: Option<String>,
}

impl Line<'_> {
    fn read<'a>(result: &'a Obx<'a>, order: &Order) -> Result<Line<'a>, Fault> {
        let obx = result.obx;
        let observation = coded_field(obx, 3);
        let value_type = obx.value(2, 1);
        let report = matches!(value_type.as_deref(), Some("TX" | "FT" | "ED"));
        // OBX-3.1 as written is the code even when it reads as text (`Body site`): it is all the
        // natural key has.
        let written = obx.value(3, 1).filter(|_| observation.code.is_none());
        let code = match (observation.code.as_ref().or(written.as_ref()), report) {
            (Some(code), _) => code.clone(),
            (None, true) => {
                observation.text.clone().or_else(|| order.service.clone()).unwrap_or_else(|| "report".into())
            }
            (None, false) => return Err(Fault::at("OBX-3", "OBX without an observation code (OBX-3.1 is empty)")),
        };
        Ok(Line { obx, notes: &result.notes, code, observation, sub_id: obx.value(4, 1), value_type })
    }

    fn is_report_part(&self) -> bool {
        matches!(self.value_type.as_deref(), Some("TX" | "FT" | "ED"))
    }

    fn key(&self) -> (&str, Option<&str>) {
        (&self.code, self.sub_id.as_deref())
    }
}

/// The records of the OBX segments under one OBR, in their order (a document where its first
/// line was).
fn emit(
    results: &[Obx<'_>],
    mrn: &str,
    order: &Order,
    zone: &Zone,
    w: &Warnings,
    records: &mut Vec<Record>,
) -> Result<(), Fault> {
    let lines: Vec<Line<'_>> = results.iter().map(|result| Line::read(result, order)).collect::<Result<_, _>>()?;
    let mut reports: Vec<Vec<usize>> = Vec::new();
    for (i, line) in lines.iter().enumerate().filter(|(_, line)| line.is_report_part()) {
        let group =
            reports.iter_mut().find(|g| g.first().and_then(|&f| lines.get(f)).is_some_and(|f| f.key() == line.key()));
        match group {
            Some(group) => group.push(i),
            None => reports.push(vec![i]),
        }
    }
    let texts = |group: &[usize]| -> Vec<String> {
        group.iter().filter_map(|&i| lines.get(i)).map(|l| narrative(l.obx).unwrap_or_default()).collect()
    };
    reports.retain(|group| {
        let ed = group.iter().filter_map(|&i| lines.get(i)).any(|l| l.value_type.as_deref() == Some("ED"));
        let long = || texts(group).iter().any(|t| t.contains('\n') && t.chars().count() >= LONG_REPORT);
        ed || group.len() > 1 || long()
    });
    for (i, line) in lines.iter().enumerate() {
        if let Some(group) = reports.iter().find(|g| g.contains(&i)) {
            if group.first() == Some(&i) {
                let group_lines: Vec<&Line<'_>> = group.iter().filter_map(|&i| lines.get(i)).collect();
                records.push(Record::Document(report(&group_lines, &texts(group), mrn, order, zone, w)?));
            }
            continue;
        }
        let observation = observation(line, mrn, order, zone, w);
        records.push(match observation.status.as_deref() {
            Some("D" | "X") => Record::ObservationRemoval(ObservationRemoval {
                mrn: observation.mrn,
                order_id: observation.order_id,
                code: observation.code,
                observed_at: observation.observed_at,
            }),
            _ => Record::Observation(observation),
        });
    }
    Ok(())
}

/// A report: its lines joined with `\n`.
fn report(
    lines: &[&Line<'_>],
    texts: &[String],
    mrn: &str,
    order: &Order,
    zone: &Zone,
    w: &Warnings,
) -> Result<Document, Fault> {
    let first = lines.first().ok_or_else(|| Fault::new("a report without lines"))?;
    let mut document_id = format!("{}/{}", order.id, first.code);
    if let Some(sub_id) = &first.sub_id {
        document_id = format!("{document_id}/{sub_id}");
    }
    let code_text = first.observation.text.clone();
    Ok(Document {
        mrn: mrn.to_owned(),
        document_id,
        parent_id: None,
        doc_type: code_text.clone().or_else(|| order.title.clone()),
        title: order.title.clone().or(code_text),
        authored_at: w.either(instant(first.obx, 14, zone), || Ok(order.observed_at)),
        author: order.interpreter.clone(),
        status: lines.iter().find_map(|l| l.obx.value(11, 1)),
        event: "ORU".into(),
        text: texts.join("\n"),
        pdf: None,
    })
}

fn observation(line: &Line<'_>, mrn: &str, order: &Order, zone: &Zone, w: &Warnings) -> Observation {
    let obx = line.obx;
    let (value, numeric_value) = value(obx, line.value_type.as_deref(), zone);
    let flags: Vec<String> = obx.reps(8).iter().filter_map(|rep| obx.comp(rep, 1)).collect();
    let observed_at = w.either(instant(obx, 14, zone), || Ok(order.observed_at));
    let obx_resulted_at = w.optional(instant(obx, 19, zone));
    Observation {
        mrn: mrn.to_owned(),
        order_id: order.id.clone(),
        code: line.code.clone(),
        code_system: line.observation.system.clone(),
        name: line.observation.text.clone(),
        value,
        numeric_value,
        unit: obx.value(6, 1).or_else(|| obx.value(6, 2)),
        reference_range: obx.value(7, 1),
        abnormal_flag: (!flags.is_empty()).then(|| flags.join(",")),
        status: obx.value(11, 1),
        observed_at,
        resulted_at: order.resulted_at.or(obx_resulted_at),
        value_type: line.value_type.clone(),
        comment: (!order.notes.is_empty() || !line.notes.is_empty())
            .then(|| order.notes.iter().chain(line.notes).cloned().collect::<Vec<_>>().join("\n")),
    }
}

/// OBX-5 as text (repetitions joined with `; `) and, for a single plain number, as a number:
///
/// - NM: as written; the number when it parses.
/// - CE/CWE/CNE/CF: the text component, else the code.
/// - SN (comparator ^ number ^ separator ^ number): run together, `=` dropped (`<^10` → `<10`,
///   `^1^:^2` → `1:2`, `^2^-^5` → `2-5`); the number when it is a plain one (`^182`, `=^182`).
/// - DT, and TS of date precision: the date as `YYYY[-MM[-DD]]`; TS/DTM with a time: RFC 3339
///   UTC. A value that is not a valid date or time stays as written.
/// - ED: a placeholder, never the data. Anything else (ST, TX, FT, RP, …): as written.
fn value(obx: Seg<'_>, value_type: Option<&str>, zone: &Zone) -> (Option<String>, Option<f64>) {
    let number = |text: &str| text.parse::<f64>().ok().filter(|n| n.is_finite());
    let reps = obx.reps(5);
    let parts: Vec<(String, Option<f64>)> = reps
        .iter()
        .filter_map(|rep| match value_type {
            Some("NM") => obx.text(rep.raw_value()).map(|text| {
                let n = number(&text);
                (text, n)
            }),
            Some("CE" | "CWE" | "CNE" | "CF") => obx.comp(rep, 2).or_else(|| obx.comp(rep, 1)).map(|t| (t, None)),
            Some("SN") => {
                let comparator = obx.comp(rep, 1).filter(|c| c != "=");
                let (first, separator, second) = (obx.comp(rep, 2), obx.comp(rep, 3), obx.comp(rep, 4));
                let plain = match (&comparator, &first, &separator, &second) {
                    (None, Some(n), None, None) => number(n),
                    _ => None,
                };
                let text: String = [comparator, first, separator, second].into_iter().flatten().collect();
                (!text.is_empty()).then_some((text, plain))
            }
            Some("DT") => obx.text(rep.raw_value()).map(|t| (date_text(&t).unwrap_or(t), None)),
            Some("TS" | "DTM") => obx.text(rep.raw_value()).map(|t| (time_text(&t, zone).unwrap_or(t), None)),
            Some("ED") => Some((encapsulated(obx, rep), None)),
            _ => obx.text(rep.raw_value()).map(|t| (t, None)),
        })
        .collect();
    if parts.is_empty() {
        return (None, None);
    }
    let numeric = match parts.as_slice() {
        [(_, n)] => *n,
        _ => None,
    };
    (Some(parts.into_iter().map(|(text, _)| text).collect::<Vec<_>>().join("; ")), numeric)
}

/// `YYYY`, `YYYYMM` or `YYYYMMDD` (a valid date) as `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
fn date_text(value: &str) -> Option<String> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = ts::date(value).ok()??;
    match value.len() {
        4 => Some(date.format("%Y").to_string()),
        6 => Some(date.format("%Y-%m").to_string()),
        8 => Some(date.format("%Y-%m-%d").to_string()),
        _ => None,
    }
}

/// A TS value: of date precision as a date, with a time as RFC 3339 UTC.
fn time_text(value: &str, zone: &Zone) -> Option<String> {
    date_text(value).or_else(|| Some(rfc3339(ts::instant(value, zone).ok()??)))
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use ingest_core::model::{Document, Observation, ObservationRemoval, Record};

    fn observations(records: &[Record]) -> Vec<Observation> {
        only(records, |r| match r {
            Record::Observation(o) => Some(o),
            _ => None,
        })
    }

    fn documents(records: &[Record]) -> Vec<Document> {
        only(records, |r| match r {
            Record::Document(d) => Some(d),
            _ => None,
        })
    }

    fn obr(fields: &[(usize, &str)]) -> String {
        seg("OBR", fields)
    }

    #[test]
    fn oru_r01_with_two_orders_gives_patient_and_observations() {
        let records = records(&[
            msh("ORU^R01^ORU_R01"),
            pid(),
            obr(&[
                (1, "1"),
                (2, "PL100"),
                (3, "FL200^LAB"),
                (4, "CBC^Blood count^L"),
                (7, "202611240400"),
                (22, "202611240500"),
            ]),
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
            obr(&[(1, "2"), (2, "PL101"), (4, "BMP^Metabolic panel^L"), (7, "202611240410")]),
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
            comment: None,
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
        // One short TX value, no sibling lines: an observation, not a document.
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
    fn nte_lines_are_the_comment_of_the_result_before_them_and_the_order_s_of_all_its_results() {
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[(3, "F1"), (4, "BMP^Basic metabolic panel")]),
            seg("NTE", &[(1, "1"), (3, "Received 2 h after collection")]),
            obx(&[(2, "NM"), (3, "2823-3^Potassium^LN"), (5, "6.1")]),
            seg("NTE", &[(1, "1"), (3, "Specimen hemolyzed~Repeat requested \\T\\ called to RN")]),
            seg("NTE", &[(1, "2"), (3, "")]),
            obx(&[(2, "NM"), (3, "2951-2^Sodium^LN"), (5, "139")]),
            obr(&[(3, "F2")]),
            obx(&[(2, "NM"), (3, "718-7^Hemoglobin^LN"), (5, "9.9")]),
        ]);
        let comments: Vec<(String, Option<String>)> =
            observations(&records).into_iter().map(|o| (o.code, o.comment)).collect();
        assert_eq!(
            comments,
            [
                (
                    "2823-3".to_string(),
                    Some(
                        "Received 2 h after collection\nSpecimen hemolyzed\nRepeat requested & called to RN"
                            .to_string()
                    )
                ),
                ("2951-2".to_string(), Some("Received 2 h after collection".to_string())),
                ("718-7".to_string(), None),
            ]
        );
    }

    #[test]
    fn an_obx_before_any_obr_uses_the_control_id_and_each_pid_its_own_mrn() {
        let other = seg("PID", &[(3, "5550001^^^GENHOSP^MR")]);
        let records = records(&[msh("ORU^R01"), pid(), obx(&[(3, "A^a")]), other, obx(&[(3, "B^b")])]);
        let summary: Vec<(String, String, String)> =
            observations(&records).into_iter().map(|o| (o.mrn, o.order_id, o.code)).collect();
        let expected =
            [("7654321", "CTL001", "A"), ("5550001", "CTL001", "B")].map(|(a, b, c)| (a.into(), b.into(), c.into()));
        assert_eq!(summary, expected);
        assert_eq!(records.iter().filter(|r| r.kind() == "patient").count(), 2);
    }

    /// (value type, OBX-5) → (value, numeric value).
    fn rendered(cases: &[(&str, &str)]) -> Vec<(Option<String>, Option<f64>)> {
        let mut segments = vec![msh("ORU^R01"), pid(), obr(&[(3, "F1")])];
        for (i, (value_type, value)) in cases.iter().enumerate() {
            segments.push(obx(&[(2, value_type), (3, &format!("C{i}^Test {i}^L")), (5, value), (11, "F")]));
        }
        observations(&records(&segments)).into_iter().map(|o| (o.value, o.numeric_value)).collect()
    }

    #[test]
    fn each_value_type_is_rendered() {
        let text = |s: &str| (Some(s.to_owned()), None);
        let number = |s: &str, n: f64| (Some(s.to_owned()), Some(n));
        let cases = [
            ("NM", "5.25"),
            ("NM", "<5"),
            ("ST", "Positive \\T\\ confirmed"),
            ("TX", "free text"),
            ("FT", "formatted \\H\\text\\N\\"),
            ("CE", "260373001^Detected^SCT"),
            ("CWE", "POS^^L"),
            ("SN", "<^10"),
            ("SN", "^1^:^2"),
            ("SN", "^2^-^5"),
            ("SN", "^182"),
            ("SN", "=^440"),
            ("SN", "^1^+"),
            ("DT", "20261120"),
            ("DT", "202611"),
            ("DT", "20261340"),
            ("TS", "202611240830-0500"),
            ("TS", "20261124"),
            ("DTM", "20261124083015"),
            ("TS", "12345678"),
            ("NM", "\"\""),
            ("RP", "http://pacs/1^PACS^IMAGE^JPEG"),
        ];
        assert_eq!(
            rendered(&cases),
            vec![
                number("5.25", 5.25),
                text("<5"),
                text("Positive & confirmed"),
                text("free text"),
                text("formatted text"),
                text("Detected"),
                text("POS"),
                text("<10"),
                text("1:2"),
                text("2-5"),
                number("182", 182.0),
                number("440", 440.0),
                text("1+"),
                text("2026-11-20"),
                text("2026-11"),
                // Not a date: as written.
                text("20261340"),
                text("2026-11-24T13:30:00Z"),
                text("2026-11-24"),
                // Chicago, UTC-6 in November.
                text("2026-11-24T14:30:15Z"),
                text("12345678"),
                // The HL7 null is no value, never the text `""`.
                (None, None),
                text("http://pacs/1^PACS^IMAGE^JPEG"),
            ]
        );
    }

    #[test]
    fn deleted_and_cannot_be_obtained_results_are_removals() {
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[(3, "FL9"), (7, "202611240400")]),
            obx(&[(2, "NM"), (3, "718-7^Hemoglobin^LN"), (5, "13.2"), (11, "C")]),
            obx(&[(2, "NM"), (3, "2823-3^Potassium^LN"), (11, "D")]),
            obx(&[(2, "NM"), (3, "2951-2^Sodium^LN"), (11, "X"), (14, "202611240430")]),
        ]);
        let removals = only(&records, |r| match r {
            Record::ObservationRemoval(r) => Some(r),
            _ => None,
        });
        let potassium = ObservationRemoval {
            mrn: "7654321".into(),
            order_id: "FL9".into(),
            code: "2823-3".into(),
            observed_at: at("2026-11-24T10:00:00Z"),
        };
        let sodium =
            ObservationRemoval { code: "2951-2".into(), observed_at: at("2026-11-24T10:30:00Z"), ..potassium.clone() };
        assert_eq!(removals, vec![potassium, sodium]);
        // The corrected result is an observation (it replaces by its natural key).
        let corrected = observations(&records);
        assert_eq!(
            corrected.iter().map(|o| (o.code.as_str(), o.status.as_deref())).collect::<Vec<_>>(),
            [("718-7", Some("C"))]
        );
    }

    #[test]
    fn a_multi_line_tx_report_is_one_document() {
        let line = |n: &str, text: &str| {
            obx(&[
                (1, n),
                (2, "TX"),
                (3, "18782-3^Radiology Study observation^LN"),
                (5, text),
                (11, "F"),
                (14, "202611240700"),
            ])
        };
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[
                (2, "PL7"),
                (3, "RAD77^RIS"),
                (4, "71046^XR Chest 2 views^CPT4"),
                (7, "202611240600"),
                (32, "4455&Reader&Rita"),
            ]),
            line("1", "EXAM: Chest, two views."),
            line("2", ""),
            line("3", "  IMPRESSION: No acute \\T\\ no focal consolidation.\\.br\\Stable."),
            obx(&[(1, "4"), (2, "NM"), (3, "DOSE^Dose^L"), (5, "0.1"), (6, "mSv")]),
        ]);
        let expected = Document {
            mrn: "7654321".into(),
            document_id: "RAD77/18782-3".into(),
            parent_id: None,
            doc_type: Some("Radiology Study observation".into()),
            title: Some("XR Chest 2 views".into()),
            authored_at: at("2026-11-24T13:00:00Z"),
            author: Some("Reader, Rita".into()),
            status: Some("F".into()),
            event: "ORU".into(),
            text: "EXAM: Chest, two views.\n\n  IMPRESSION: No acute & no focal consolidation.\nStable.".into(),
            pdf: None,
        };
        assert_eq!(documents(&records), vec![expected]);
        // Only the NM line is an observation.
        assert_eq!(observations(&records).iter().map(|o| o.code.as_str()).collect::<Vec<_>>(), ["DOSE"]);
        let kinds: Vec<&str> = records.iter().map(Record::kind).collect();
        assert_eq!(kinds, ["patient", "document", "observation"]);
    }

    #[test]
    fn report_lines_group_by_code_and_sub_id_and_a_long_single_value_is_a_report() {
        let long = format!("FINDINGS:\\.br\\{}", "Normal study. ".repeat(20));
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[(3, "P1"), (4, "^Pathology")]),
            obx(&[(2, "FT"), (3, "GDT^Gross^L"), (4, "1"), (5, "Part A line 1")]),
            obx(&[(2, "FT"), (3, "GDT^Gross^L"), (4, "2"), (5, "Part B line 1")]),
            obx(&[(2, "FT"), (3, "GDT^Gross^L"), (4, "1"), (5, "Part A line 2")]),
            obx(&[(2, "TX"), (3, "MDX^Microscopic^L"), (5, &long)]),
            obx(&[(2, "FT"), (3, "CMT^Comment^L"), (5, "Short comment")]),
        ]);
        let summary: Vec<(String, String)> = documents(&records).into_iter().map(|d| (d.document_id, d.text)).collect();
        assert_eq!(
            summary,
            vec![
                ("P1/GDT/1".into(), "Part A line 1\nPart A line 2".into()),
                ("P1/MDX".into(), format!("FINDINGS:\n{}", "Normal study. ".repeat(20).trim_end())),
            ]
        );
        // Part B is one short line: an observation, like the comment.
        let codes: Vec<(String, Option<String>)> =
            observations(&records).into_iter().map(|o| (o.code, o.value)).collect();
        assert_eq!(codes, [("GDT".into(), Some("Part B line 1".into())), ("CMT".into(), Some("Short comment".into()))]);
    }

    #[test]
    fn report_lines_without_a_code_and_results_with_only_an_alternate_code() {
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[(3, "F5"), (4, "1487^ECHO CARDIOGRAM COMPLETE")]),
            obx(&[(1, "1"), (2, "TX"), (5, ""), (11, "F")]),
            obx(&[(1, "2"), (2, "TX"), (5, "Emergency Department"), (11, "F")]),
            obx(&[(1, "3"), (2, "TX"), (5, "Normal LV size."), (11, "F")]),
            obx(&[(1, "4"), (2, "NM"), (3, "^^LN^RBC^Red cells^LAB"), (5, "3.01")]),
            obx(&[(1, "5"), (2, "ST"), (3, "Body site"), (5, "Left arm")]),
        ]);
        let summary: Vec<(String, Option<String>, String)> =
            documents(&records).into_iter().map(|d| (d.document_id, d.title, d.text)).collect();
        let title = Some("ECHO CARDIOGRAM COMPLETE".to_owned());
        assert_eq!(summary, [("F5/1487".into(), title, "\nEmergency Department\nNormal LV size.".into())]);
        let alternate: Vec<(String, Option<String>, Option<String>)> =
            observations(&records).into_iter().map(|o| (o.code, o.name, o.code_system)).collect();
        assert_eq!(
            alternate,
            [
                ("RBC".into(), Some("Red cells".into()), Some("LAB".into())),
                // Text where the code goes: still the code (the natural key needs one), and the name.
                ("Body site".into(), Some("Body site".into()), None),
            ]
        );
    }

    #[test]
    fn an_ed_value_is_a_document_with_a_placeholder_never_the_data() {
        let pdf = "JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K";
        let records = records(&[
            msh("ORU^R01"),
            pid(),
            obr(&[(3, "ECHO5"), (4, "93306^Echo complete^CPT4"), (7, "202611240900")]),
            obx(&[
                (2, "ED"),
                (3, "PDF^Echo report PDF^L"),
                (5, &format!("ECHO^application^pdf^Base64^{pdf}")),
                (11, "F"),
            ]),
            obx(&[(2, "ED"), (3, "IMG^Image^L"), (4, "2"), (5, "^IM^JPEG^Hex^FFD8FFE0"), (11, "F")]),
        ]);
        let docs = documents(&records);
        let summary: Vec<(&str, Option<&str>, Option<&str>, &str)> = docs
            .iter()
            .map(|d| (d.document_id.as_str(), d.doc_type.as_deref(), d.title.as_deref(), d.text.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "ECHO5/PDF",
                    Some("Echo report PDF"),
                    Some("Echo complete"),
                    "[encapsulated application/pdf data, 48 bytes, not decoded]"
                ),
                (
                    "ECHO5/IMG/2",
                    Some("Image"),
                    Some("Echo complete"),
                    "[encapsulated IM/JPEG data, 4 bytes, not decoded]"
                ),
            ]
        );
        assert!(docs.iter().all(|d| !d.text.contains("JVBER")));
        assert_eq!(docs.first().and_then(|d| d.authored_at), at("2026-11-24T15:00:00Z"));
        assert!(observations(&records).is_empty());
    }
}
