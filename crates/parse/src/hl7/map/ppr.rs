//! PPR^PC1/PC2/PC3 (problem add, update, delete): the patient's problem list, a problem per PRB.
//! PRB-1 `DE` marks the problem deleted; any other action code (`AD`, `UP`, `CO`, …) states it.

use super::{Coded, Fault, Warnings, coded_field, instant, mentioned_patient};
use crate::ParseOptions;
use crate::hl7::message::Seg;
use ingest_core::model::{Problem, ProblemOrigin, Record};
use ingest_core::time::Zone;

pub(super) fn map(segments: &[Seg<'_>], options: &ParseOptions, w: &Warnings) -> Result<Vec<Record>, Fault> {
    let patient = mentioned_patient(segments, options, w)?;
    let mut records = Vec::new();
    for &prb in segments.iter().filter(|s| s.id() == "PRB") {
        records.push(Record::Problem(problem(prb, &patient.mrn, &options.zone, w)?));
    }
    if records.is_empty() {
        return Err(Fault::at("PRB", "no PRB segment (problem)"));
    }
    records.insert(0, Record::Patient(patient));
    Ok(records)
}

/// PRB-3 problem code, text and system; PRB-14 life cycle status (text, else code); PRB-16 onset;
/// PRB-9 actual resolution.
fn problem(prb: Seg<'_>, mrn: &str, zone: &Zone, w: &Warnings) -> Result<Problem, Fault> {
    let Coded { code, text, system } = coded_field(prb, 3);
    let description =
        text.or_else(|| code.clone()).ok_or_else(|| Fault::at("PRB-3", "PRB without a problem (PRB-3 is empty)"))?;
    Ok(Problem {
        mrn: mrn.to_owned(),
        code,
        code_system: system,
        description,
        status: coded_field(prb, 14).display(),
        onset_at: w.optional(instant(prb, 16, zone)),
        resolved_at: w.optional(instant(prb, 9, zone)),
        origin: ProblemOrigin::ProblemList,
        deleted: prb.value(1, 1).as_deref() == Some("DE"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use ingest_core::model::{Problem, ProblemOrigin, Record};

    fn prb(fields: &[(usize, &str)]) -> String {
        seg("PRB", fields)
    }

    #[test]
    fn ppr_pc1_adds_problems_and_de_deletes_one() {
        let records = records(&[
            msh("PPR^PC1^PPR_PC1"),
            pid(),
            seg("PV1", &[(2, "I")]),
            prb(&[
                (1, "AD"),
                (2, "202611240900"),
                (3, "44054006^Type 2 diabetes mellitus^SCT"),
                (4, "PRB-1"),
                (14, "active^Active^condition-clinical"),
                (16, "20190305"),
            ]),
            seg("NTE", &[(3, "Diet controlled")]),
            prb(&[(1, "DE"), (3, "J45.909^Asthma^I10"), (9, "20250101"), (14, "^Resolved")]),
            prb(&[(1, "UP"), (3, "chronic back pain")]),
            // Goal and order segments of the message are not problems.
            seg("GOL", &[(1, "AD"), (3, "G1^Walk daily")]),
        ]);
        let diabetes = Problem {
            mrn: "7654321".into(),
            code: Some("44054006".into()),
            code_system: Some("SCT".into()),
            description: "Type 2 diabetes mellitus".into(),
            status: Some("Active".into()),
            onset_at: at("2019-03-05T06:00:00Z"),
            resolved_at: None,
            origin: ProblemOrigin::ProblemList,
            deleted: false,
        };
        let asthma = Problem {
            code: Some("J45.909".into()),
            code_system: Some("I10".into()),
            description: "Asthma".into(),
            status: Some("Resolved".into()),
            onset_at: None,
            resolved_at: at("2025-01-01T06:00:00Z"),
            deleted: true,
            ..diabetes.clone()
        };
        // Free text where the code goes: a description, no code.
        let back_pain = Problem {
            code: None,
            code_system: None,
            description: "chronic back pain".into(),
            status: None,
            resolved_at: None,
            deleted: false,
            ..asthma.clone()
        };
        let expected = vec![
            Record::Patient(mentioned_patient()),
            Record::Problem(diabetes),
            Record::Problem(asthma),
            Record::Problem(back_pain),
        ];
        assert_eq!(records, expected);
    }

    #[test]
    fn ppr_rejects_name_what_is_missing() {
        assert_eq!(rejected(&[msh("PPR^PC2"), pid()]), (Some("PRB".into()), "no PRB segment (problem)".into()));
        assert_eq!(
            rejected(&[msh("PPR^PC3"), pid(), prb(&[(1, "DE"), (3, "^^I10")])]),
            (Some("PRB-3".into()), "PRB without a problem (PRB-3 is empty)".into())
        );
    }
}
