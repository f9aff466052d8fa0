//! MDM: a document from TXA and the text of its OBX segments. The even triggers carry content
//! (T02 original, T04 status change, T06 addendum, T08 edit, T10 replacement); the odd ones
//! (T01, T03, T05, T07, T09) are the same notifications without it, so their document has no
//! text unless OBX segments came anyway.

use super::{Coded, Fault, Warnings, coded_field, first, instant, mentioned_patient, narrative, person_field};
use crate::ParseOptions;
use crate::hl7::message::Seg;
use ingest_core::model::{Document, Record};

/// The MDM triggers we map; T11 (cancel) and others are rejects.
pub(super) const TRIGGERS: [&str; 10] = ["T01", "T02", "T03", "T04", "T05", "T06", "T07", "T08", "T09", "T10"];

pub(super) fn map(
    segments: &[Seg<'_>],
    trigger: &str,
    control_id: Option<&str>,
    options: &ParseOptions,
    w: &Warnings,
) -> Result<Vec<Record>, Fault> {
    let patient = mentioned_patient(segments, options, w)?;
    let txa = first(segments, "TXA").ok_or_else(|| Fault::at("TXA", "no TXA segment (document header)"))?;
    let zone = &options.zone;
    let document_id = txa
        .value(12, 1)
        .or_else(|| control_id.map(str::to_owned))
        .ok_or_else(|| Fault::at("TXA-12", "no unique document number (TXA-12) and no message control id (MSH-10)"))?;
    let Coded { code, text: type_text, .. } = coded_field(txa, 2);
    let lines: Vec<String> = segments.iter().filter(|s| s.id() == "OBX").filter_map(|&obx| narrative(obx)).collect();
    let document = Document {
        mrn: patient.mrn.clone(),
        document_id,
        parent_id: txa.value(13, 1),
        doc_type: type_text.clone().or(code),
        title: type_text.or_else(|| txa.value(16, 1)),
        authored_at: w.either(instant(txa, 4, zone), || instant(txa, 6, zone)),
        author: person_field(txa, 5).or_else(|| person_field(txa, 9)),
        status: txa.value(17, 1),
        event: trigger.to_owned(),
        text: lines.join("\n"),
        pdf: None,
    };
    Ok(vec![Record::Patient(patient), Record::Document(document)])
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use ingest_core::model::{Document, Record};

    fn txa(fields: &[(usize, &str)]) -> String {
        seg("TXA", fields)
    }

    fn line(n: usize, value_type: &str, text: &str) -> String {
        obx(&[(1, &n.to_string()), (2, value_type), (3, "11506-3^Progress note^LN"), (5, text), (11, "F")])
    }

    fn progress_note() -> Document {
        Document {
            mrn: "7654321".into(),
            document_id: "DOC-100".into(),
            parent_id: None,
            doc_type: Some("Progress Note".into()),
            title: Some("Progress Note".into()),
            authored_at: at("2026-11-24T14:05:00Z"),
            author: Some("Writer, Wes".into()),
            status: Some("AU".into()),
            event: "T02".into(),
            text: "S: Feels better \\ slept well.\nO: Afebrile.\n\nA/P: Continue | plan.".into(),
            pdf: None,
        }
    }

    #[test]
    fn mdm_t02_gives_the_document_from_txa_and_obx_text() {
        let records = records(&[
            msh("MDM^T02^MDM_T02"),
            seg("EVN", &[(1, "T02"), (2, "202611240810")]),
            pid(),
            seg("PV1", &[(2, "I"), (3, "5A^512^B")]),
            txa(&[
                (1, "1"),
                (2, "PN^Progress Note^L"),
                (3, "TX"),
                (4, "202611240805"),
                (5, "3344^Writer^Wes^^^Dr"),
                (6, "202611240700"),
                (12, "DOC-100^EHR"),
                (16, "note-100.txt"),
                (17, "AU"),
            ]),
            line(1, "TX", "S: Feels better \\E\\ slept well."),
            line(2, "FT", "O: Afebrile.\\.br\\"),
            line(3, "ST", "A/P: Continue \\F\\ plan."),
        ]);
        assert_eq!(records, vec![Record::Patient(mentioned_patient()), Record::Document(progress_note())]);
    }

    #[test]
    fn mdm_t06_addendum_names_its_parent_and_t10_the_replaced_document() {
        let addendum = records(&[
            msh("MDM^T06"),
            pid(),
            // No TXA-4: the origination time TXA-6; no TXA-5: the originator TXA-9.
            txa(&[(2, "PN"), (6, "202611241000"), (9, "5566^Later^Lee"), (12, "DOC-101"), (13, "DOC-100"), (17, "DO")]),
            line(1, "TX", "Addendum: potassium rechecked, normal."),
        ]);
        let expected = Document {
            document_id: "DOC-101".into(),
            parent_id: Some("DOC-100".into()),
            doc_type: Some("PN".into()),
            title: None,
            authored_at: at("2026-11-24T16:00:00Z"),
            author: Some("Later, Lee".into()),
            status: Some("DO".into()),
            event: "T06".into(),
            text: "Addendum: potassium rechecked, normal.".into(),
            pdf: None,
            ..progress_note()
        };
        assert_eq!(addendum.get(1), Some(&Record::Document(expected)));

        let replacement = records(&[
            msh("MDM^T10^MDM_T02"),
            pid(),
            txa(&[
                (2, "^Discharge Summary"),
                (4, "202611241200"),
                (12, "DOC-200"),
                (13, "DOC-199"),
                (16, "ds.rtf"),
                (17, "LA"),
            ]),
            line(1, "TX", "Corrected summary."),
            obx(&[(2, "ED"), (3, "PDF^PDF^L"), (5, "^application^pdf^Base64^QUJD")]),
            // Not narrative: not part of the text.
            obx(&[(2, "HD"), (3, "113014^DICOM Study^DCM"), (5, "1.2.840.1")]),
        ]);
        let Some(Record::Document(document)) = replacement.get(1) else { panic!("{replacement:?}") };
        assert_eq!(
            (
                document.document_id.as_str(),
                document.parent_id.as_deref(),
                document.doc_type.as_deref(),
                document.title.as_deref(),
                document.event.as_str(),
                document.text.as_str()
            ),
            (
                "DOC-200",
                Some("DOC-199"),
                Some("Discharge Summary"),
                Some("Discharge Summary"),
                "T10",
                "Corrected summary.\n[encapsulated application/pdf data, 3 bytes, not decoded]"
            )
        );
        assert_eq!((document.author.as_deref(), document.status.as_deref()), (None, Some("LA")));
    }

    #[test]
    fn an_odd_trigger_is_metadata_only_and_the_control_id_stands_in_for_txa_12() {
        let records = records(&[msh("MDM^T01"), pid(), txa(&[(2, "CN^Consult note"), (4, "20261124"), (17, "IP")])]);
        let Some(Record::Document(document)) = records.get(1) else { panic!("{records:?}") };
        assert_eq!(
            (document.document_id.as_str(), document.event.as_str(), document.text.as_str(), document.title.as_deref()),
            ("CTL001", "T01", "", Some("Consult note"))
        );
    }

    #[test]
    fn mdm_rejects_name_the_missing_segment() {
        assert_eq!(rejected(&[msh("MDM^T02"), pid()]), (Some("TXA".into()), "no TXA segment (document header)".into()));
        assert_eq!(rejected(&[msh("MDM^T02"), txa(&[(12, "D1")])]), (Some("PID".into()), "no PID segment".into()));
        let no_ids = ["MSH|^~\\&|EHR|GENHOSP|||20261124||MDM^T02||P|2.5".to_owned(), pid(), txa(&[(2, "PN")])];
        assert_eq!(
            rejected(&no_ids),
            (Some("TXA-12".into()), "no unique document number (TXA-12) and no message control id (MSH-10)".into())
        );
    }
}
