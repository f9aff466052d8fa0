//! CSV exports through the built binary: each mapping kind, encodings, quoting, rejects,
//! quarantine of an unknown header, and census panel membership with precedence.

use crate::util::{Workspace, samples};
use std::path::{Path, PathBuf};

fn write(ws: &Workspace, rel: &str, bytes: &[u8]) -> PathBuf {
    let path = ws.path(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

fn on_panel(ws: &Workspace) -> Vec<String> {
    ws.query_strings(
        "SELECT p.mrn FROM panel x JOIN patients p ON p.id = x.patient_id WHERE x.active = 1 ORDER BY p.mrn",
    )
}

#[test]
fn every_mapping_kind_lands_with_the_built_in_mappings() {
    let ws = Workspace::new();
    let files: [(&str, &str); 6] = [
        (
            "census_5W_20261124_0500.csv",
            "MRN,Last Name,First Name,Location,Attending,Admitted\n\
             M1,Alpha,Ann,5W-501-A,\"Fairweather, Helena\",2026-11-22 08:00\n",
        ),
        (
            "patients_5W_20261124_0500.csv",
            "Medical Record Number,Last Name,First Name,DOB,Sex\nM2,Beta,Bo,1950-02-14,M\n",
        ),
        (
            "labs_5W_20261124_0500.csv",
            "PatientID,Order ID,Test Code,Code System,Test Name,Result,Units,Flag,Status,Collected\n\
             M1,F1,2823-3,LN,Potassium,5.9,mmol/L,H,F,2026-11-24 03:00\n",
        ),
        (
            "medications_5W_20261124_0500.csv",
            "MRN,Order ID,Medication,Dose,Route,Frequency,Status,Start\n\
             M1,RX1,Apixaban,5 mg,PO,BID,Active,2026-11-23 09:00\n",
        ),
        (
            "problems_5W_20261124_0500.csv",
            "MRN,Code,Code System,Problem,Status,Onset\nM1,I10,I10,Hypertension,Active,2019-01-01\n",
        ),
        ("allergies_5W_20261124_0500.csv", "MRN,Allergen,Type,Severity,Reaction\nM1,Penicillin,DA,SV,Hives\n"),
    ];
    for (name, text) in files {
        write(&ws, &format!("exports/{name}"), text.as_bytes());
    }
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 ingested · 0 with rejects"), "{out}");
    assert_eq!(ws.query_strings("SELECT DISTINCT kind FROM source_files"), ["csv"]);
    assert_eq!(ws.query_strings("SELECT DISTINCT exported_at FROM source_files"), ["2026-11-24T11:00:00Z"]);
    assert_eq!(on_panel(&ws), ["M1"]);
    assert_eq!(
        ws.query_strings("SELECT location || ' ' || attending || ' ' || admitted_at FROM panel"),
        ["5W-501-A Fairweather, Helena 2026-11-22T14:00:00Z"]
    );
    assert_eq!(
        ws.query_strings(
            "SELECT mrn || ' ' || family_name || ' ' || ifnull(birth_date, '-') FROM patients ORDER BY mrn"
        ),
        ["M1 Alpha -", "M2 Beta 1950-02-14"]
    );
    assert_eq!(
        ws.query_strings("SELECT value || ' ' || abnormal_flag || ' ' || observed_at FROM observations"),
        ["5.9 H 2026-11-24T09:00:00Z"]
    );
    assert_eq!(ws.query_strings("SELECT name || ' ' || status FROM medications"), ["Apixaban active"]);
    assert_eq!(ws.query_strings("SELECT description || ' ' || status FROM problems"), ["Hypertension active"]);
    assert_eq!(ws.query_strings("SELECT allergen || ' ' || reaction FROM allergies"), ["Penicillin Hives"]);
}

#[test]
fn windows_1252_and_utf8_bom_files_are_decoded() {
    let mapping = r#"
[[csv.mapping]]
name = "legacy patients"
pattern = "PAT*.txt"
kind = "patients"
encoding = "windows-1252"
delimiter = ";"
date_formats = ["%d.%m.%Y"]
file_name_time = '(?<ts>\d{12})'
file_name_time_format = "%Y%m%d%H%M"
columns = { mrn = ["Patient-Nr", "MRN"], family_name = "Name", given_name = "Vorname", birth_date = "Geburtsdatum" }
"#;
    let ws = Workspace::with_config("include = [\"*.txt\"]", &format!("[mcp]\nport = 0\n{mapping}"));
    let file = write(
        &ws,
        "exports/PAT202611240500.txt",
        b"Patient-Nr;Name;Vorname;Geburtsdatum\r\nM1;Dupr\xe9;Ren\xe9e;01.02.1950\r\n",
    );
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        ws.query_strings("SELECT family_name || ', ' || given_name || ' ' || birth_date FROM patients"),
        ["Dupré, Renée 1950-02-01"]
    );
    assert_eq!(
        ws.query_strings("SELECT exported_at || ' ' || exported_at_origin FROM source_files"),
        ["2026-11-24T11:00:00Z file name"]
    );

    let ws = Workspace::new();
    let mut bom = b"\xef\xbb\xbfMRN,Last Name,First Name\r\n".to_vec();
    bom.extend_from_slice("M2,Gonçalves,Zoë\r\n".as_bytes());
    let file = write(&ws, "exports/patients_20261124_0500.csv", &bom);
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        ws.query_strings("SELECT mrn || ' ' || family_name || ' ' || given_name FROM patients"),
        ["M2 Gonçalves Zoë"]
    );
}

#[test]
fn quoted_fields_holding_commas_and_newlines_land_whole() {
    let ws = Workspace::new();
    let labs = samples().join("2026-11-24/labs_5W_20261124_0500.csv");
    let (code, out) = ws.replay(&[&labs]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 4);
    assert_eq!(
        ws.query_strings("SELECT name || ' | ' || value || ' | ' || status FROM observations WHERE code = '600-7'"),
        ["Culture, blood | No growth at 24 hours.\nFinal report to follow in 4 days. | P"]
    );
    assert_eq!(ws.query_strings("SELECT name FROM observations WHERE code = '1558-6'"), ["Glucose, fasting"]);
}

#[test]
fn bad_rows_are_rejects_with_their_line_and_the_rest_lands_with_exit_code_3() {
    let ws = Workspace::new();
    let text = "MRN,Order ID,Test Code,Test Name,Result,Collected\n\
                M1,F1,600-7,\"Culture,\nblood\",pending,2026-11-24 03:00\n\
                ,F1,2345-7,Glucose,98,2026-11-24 03:00\n\
                M1,F1,2823-3,Potassium,4.1,the day before\n\
                M1,F1,2951-2\n\
                M1,F1,2160-0,Creatinine,0.9,2026-11-24 03:00\n";
    let file = write(&ws, "exports/labs_20261124_0500.csv", text.as_bytes());
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("2 message(s) rejected"), "{out}");
    assert_eq!(ws.query_strings("SELECT status FROM source_files"), ["ingested_with_rejects"]);
    // The potassium's collection time cannot be read: it lands without one, and the cell is warned.
    assert_eq!(ws.query_strings("SELECT code FROM observations ORDER BY code"), ["2160-0", "2823-3", "600-7"]);
    assert_eq!(
        ws.query_strings(
            "SELECT message_index || ' ' || line || ' ' || ifnull(control_id, '-') || ' ' || ifnull(segment, '-')
             || ' ' || reason FROM rejects ORDER BY line"
        ),
        ["2 4 - MRN missing mrn", "4 6 - - wrong column count: 3 fields, the header has 6"]
    );
    assert_eq!(
        ws.query_strings("SELECT message_index || ' ' || line || ' ' || field || ' ' || reason FROM field_warnings"),
        ["3 5 Collected unparsable date/time (formats tried: %Y-%m-%dT%H:%M:%S%:z, %Y-%m-%d %H:%M:%S, \
             %Y-%m-%d %H:%M, %m/%d/%Y %H:%M, %m/%d/%Y %I:%M %p, %Y-%m-%d, %m/%d/%Y, %Y%m%d%H%M%S, %Y%m%d); left empty"]
    );
}

#[test]
fn an_unknown_header_is_quarantined_with_the_columns_each_mapping_expected() {
    let ws = Workspace::new();
    let file = write(&ws, "exports/labs_20261124_0500.csv", b"Patient,Test,Value\nM1,K,4.1\n");
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("0 ingested · 0 with rejects · 0 duplicate · 1 quarantined"), "{out}");
    let expected =
        "the CSV header matches no mapping: labs expected MRN, Test Code, Result; the header has: Patient, Test, Value";
    assert!(out.contains(expected), "{out}");
    let report = std::fs::read_to_string(ws.path("data/quarantine/ward/labs_20261124_0500.csv.error.txt"))
        .expect("error report");
    assert!(report.contains(expected), "{report}");
    assert!(report.contains("kind:        csv"), "{report}");

    // A `.csv` that no pattern names: every mapping was tried, and the message lists them all.
    let other = write(&ws, "exports/report.csv", b"Name,Score\nx,1\n");
    let (code, out) = ws.replay(&[&other]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(
            "census expected MRN; census (bed board) expected MRN, Patient Name, Unit, Room, Bed; patients expected MRN; \
             labs expected"
        ),
        "{out}"
    );
}

#[test]
fn a_census_without_a_patient_takes_them_off_the_panel_and_an_older_census_does_not_bring_them_back() {
    let ws = Workspace::new();
    let census = |day: &str, mrns: &[&str]| -> PathBuf {
        let mut text = String::from("MRN,Location\n");
        for (i, mrn) in mrns.iter().enumerate() {
            text.push_str(&format!("{mrn},5W-50{i}-A\n"));
        }
        write(&ws, &format!("{day}/census_5W_{day}_0500.csv"), text.as_bytes())
    };
    let day1 = census("20261123", &["M1", "M2", "M3"]);
    let day2 = census("20261124", &["M1", "M3"]);
    let replay = |path: &Path| {
        let (code, out) = ws.replay(&[path]);
        assert_eq!(code, 0, "{out}");
    };
    replay(&day1);
    assert_eq!(on_panel(&ws), ["M1", "M2", "M3"]);
    replay(&day2);
    assert_eq!(on_panel(&ws), ["M1", "M3"]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM patients"), 3, "history stays");
    assert_eq!(
        ws.query_strings(
            "SELECT p.mrn || ' ' || x.exported_at FROM panel x JOIN patients p ON p.id = x.patient_id WHERE x.active = 0"
        ),
        ["M2 2026-11-24T11:00:00Z"]
    );

    // Yesterday's census again (a copy: not a duplicate by content) does not put M2 back.
    let mut late = std::fs::read(&day1).expect("read");
    late.extend_from_slice(b"\n");
    let late_path = write(&ws, "late/census_5W_20261123_0500.csv", &late);
    replay(&late_path);
    assert_eq!(on_panel(&ws), ["M1", "M3"]);
    assert_eq!(ws.query_strings("SELECT status FROM source_files ORDER BY id"), ["ingested", "ingested", "ingested"]);
}

#[test]
fn a_newer_census_corrects_demographics_and_the_patient_names_the_export_that_supplied_them() {
    let ws = Workspace::new();
    let census = |day: &str, dob: &str| -> PathBuf {
        let text = format!(
            "MRN,Last Name,First Name,DOB,Sex,Location,Attending\nM1,Nguyen,Linh,{dob},F,5W-501-A,Dr A {day}\n"
        );
        write(&ws, &format!("{day}/census_5W_{day}_0500.csv"), text.as_bytes())
    };
    let day1 = census("20261123", "1962-03-05");
    let day2 = census("20261124", "1962-03-15");
    for path in [&day1, &day2] {
        let (code, out) = ws.replay(&[path]);
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(ws.query_strings("SELECT birth_date FROM patients"), ["1962-03-15"], "the newer census corrects");
    assert_eq!(
        ws.query_strings("SELECT f.path FROM patients p JOIN source_files f ON f.id = p.source_file_id"),
        [day2.display().to_string()],
        "freshness names the export that supplied the values shown"
    );
    // The older census replayed again (a copy) fills nothing and corrects nothing.
    let mut late = std::fs::read(&day1).expect("read");
    late.extend_from_slice(b"\n");
    let late_path = write(&ws, "late/census_5W_20261123_0500.csv", &late);
    assert_eq!(ws.replay(&[&late_path]).0, 0);
    assert_eq!(ws.query_strings("SELECT birth_date FROM patients"), ["1962-03-15"]);

    // The morning's digest says what the newer census corrected, once.
    let results = crate::mcp_stdio::call(&ws, serde_json::json!([{"tool": "panel_changes", "args": {}}]));
    let digest = crate::util::mcp::answer(&results[0]);
    let corrections = &digest["patients"][0]["corrections"];
    assert_eq!(corrections.as_array().map(Vec::len), Some(1), "{digest}");
    assert_eq!(
        (corrections[0]["field"].as_str(), corrections[0]["before"].as_str(), corrections[0]["after"].as_str()),
        (Some("birth date"), Some("1962-03-05"), Some("1962-03-15"))
    );
    let text = results[0]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("corrected by a newer registration: birth date"), "{text}");
}

#[test]
fn a_field_is_built_from_several_columns_part_of_one_a_constant_or_a_default() {
    let tables = r#"
[[csv.mapping]]
name = "census"
pattern = "census_*.csv"
kind = "census"
columns = { mrn = "MRN", location = { join = ["Unit", "Room", "Bed"], separator = "-" }, family_name = { column = "Patient Name", part = "family" }, given_name = { column = "Patient Name", part = "given" }, attending = { constant = "Hospitalist team" }, sex = "Sex", visit_number = { column = "Visit", default = "none given" }, admitted_at = { column = "Admitted", formats = ["%Y-%m-%d %H:%M"] }, birth_date = "DOB" }
date_formats = ["%m/%d/%Y"]
"#;
    let ws = Workspace::with_config("", tables);
    let text = "MRN,Patient Name,Unit,Room,Bed,Sex,DOB,Admitted,Visit\n\
                M1,\"NGUYEN, LINH T\",7E,12,A,F,03/05/1962,2026-12-01 14:30,V77\n\
                M2,\"O'BRIEN,  PAT\",7E,14,,,11/30/1950,,\n";
    let file = write(&ws, "exports/census_7E_20261203_0500.csv", text.as_bytes());
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        ws.query_strings(
            "SELECT p.mrn || '|' || p.family_name || '|' || p.given_name || '|' || ifnull(p.sex, '-') || '|' || x.location || '|' || x.attending || '|' || x.visit_number
             FROM patients p JOIN panel x ON x.patient_id = p.id ORDER BY p.mrn"
        ),
        ["M1|NGUYEN|LINH T|F|7E-12-A|Hospitalist team|V77", "M2|O'BRIEN|PAT|-|7E-14|Hospitalist team|none given"]
    );
    // The birth date is read with the mapping's formats, the admission with its own.
    assert_eq!(
        ws.query_strings(
            "SELECT p.birth_date || ' ' || ifnull(x.admitted_at, '-') FROM patients p JOIN panel x ON x.patient_id = p.id ORDER BY p.mrn"
        ),
        ["1962-03-05 2026-12-01T20:30:00Z", "1950-11-30 -"]
    );
    let described = String::from_utf8_lossy(&ws.ingest(&["check-config"]).stdout).into_owned();
    assert!(described.contains("location ← Unit + Room + Bed joined with \"-\""), "{described}");
    assert!(described.contains("family_name ← group family of"), "{described}");
    assert!(described.contains("admitted_at ← Admitted (dates %Y-%m-%d %H:%M)"), "{described}");
}

#[test]
fn a_complete_medication_list_stops_what_it_no_longer_lists_and_reads_its_statuses() {
    // An "active medication list" without order ids: on the second morning the metoprolol dose
    // changed (a new row, the old one gone), warfarin is on hold, and M2's row cannot be read, so
    // M2's orders are left as they were.
    let tables = r#"
[[csv.mapping]]
name = "active meds"
pattern = "*_ActiveMedList_*.csv"
kind = "medications"
columns = { mrn = "MRN", name = "Medication", dose = "Dose", dose_unit = "Unit", route = "Route", frequency = "Freq", status = "Status", start_at = "Start", end_at = "End" }
complete = true
date_formats = ["%m/%d/%Y %H:%M"]
file_name_time = '(?<ts>\d{8})'
file_name_time_format = "%Y%m%d"

[[csv.mapping]]
name = "census"
pattern = "census_*.csv"
kind = "census"
columns = { mrn = "MRN", location = "Bed" }
extra = ["Diet"]
skip_rows = '^(Total Patients:|Printed )'
file_name_time = '(?<ts>\d{8})'
file_name_time_format = "%Y%m%d"
"#;
    let ws = Workspace::with_config("", tables);
    // A one-time dose that ended before the second list is completed, not "no longer listed".
    let header = "MRN,Medication,Dose,Unit,Route,Freq,Status,Start,End\n";
    let day1 = format!(
        "{header}M1,Metoprolol tartrate 12.5 mg tablet,12.5,mg,PO,BID,Active,12/01/2026 21:00,\n\
         M1,Warfarin 5 mg tablet,5,mg,PO,Daily,Active,11/28/2026 17:00,\n\
         M1,Potassium chloride 20 mEq,20,mEq,PO,Once,Active,11/30/2026 05:00,11/30/2026 05:30\n\
         M2,Tamsulosin 0.4 mg capsule,0.4,mg,PO,Daily,Active,11/30/2026 21:00,\n"
    );
    let day2 = format!(
        "{header}M1,Metoprolol tartrate 25 mg tablet,25,mg,PO,BID,Active,12/02/2026 09:00,\n\
         M1,Warfarin 5 mg tablet,5,mg,PO,Daily,On Hold,11/28/2026 17:00,\n\
         M2,,0.4,mg,PO,Daily,Active,11/30/2026 21:00,\n"
    );
    let first = write(&ws, "exports/7E_ActiveMedList_20261201.csv", day1.as_bytes());
    let second = write(&ws, "exports/7E_ActiveMedList_20261202.csv", day2.as_bytes());
    // A census column the mapping keeps: the newer census's word stands, an empty cell clears it.
    let census1 = write(&ws, "exports/census_20261201.csv", b"MRN,Bed,Diet\nM1,7E-1,NPO\nM2,7E-2,Renal\n");
    // Its report footer is skipped, not rejected.
    let census2 = write(
        &ws,
        "exports/census_20261202.csv",
        b"MRN,Bed,Diet\nM1,7E-1,Cardiac\nM2,7E-2,\nTotal Patients: 2\nPrinted 12/02/2026 05:00 by BEDBOARD,,\n",
    );
    let (code, out) = ws.replay(&[&first, &second, &census1, &census2]);
    assert_eq!(code, 3, "M2's unreadable row is a reject: {out}");
    assert!(
        out.contains("census_20261202.csv") && !out.contains("wrong column count"),
        "the footer is no reject: {out}"
    );
    let status = String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned();
    assert!(status.contains("CSV row matching skip_rows"), "{status}");
    assert_eq!(
        ws.query_strings("SELECT ifnull(census_notes, '-') FROM panel ORDER BY patient_id"),
        ["Diet: Cardiac", "-"]
    );
    assert_eq!(
        ws.query_strings("SELECT m.name || ': ' || ifnull(m.status, '-') FROM medications m ORDER BY m.name"),
        [
            "Metoprolol tartrate 12.5 mg tablet: unlisted",
            "Metoprolol tartrate 25 mg tablet: active",
            "Potassium chloride 20 mEq: active",
            "Tamsulosin 0.4 mg capsule: active",
            "Warfarin 5 mg tablet: held",
        ]
    );

    let results = crate::mcp_stdio::call(
        &ws,
        serde_json::json!([
            {"tool": "get_medications", "args": {"mrn": "M1"}},
            {"tool": "panel_changes", "args": {"mrn": "M1"}},
        ]),
    );
    let meds = results[0]["content"][0]["text"].as_str().expect("text");
    assert!(meds.contains("M1: 2 medication orders"), "the held warfarin is shown, the old dose is not: {meds}");
    assert!(meds.contains("(held)") && !meds.contains("12.5 mg") && !meds.contains("[order"), "{meds}");
    let digest = crate::util::mcp::answer(&results[1]);
    let changes: Vec<&str> = digest["patients"][0]["medication_changes"]
        .as_array()
        .unwrap_or_else(|| panic!("{digest}"))
        .iter()
        .filter_map(|c| c["change"].as_str())
        .collect();
    let mut changes = changes;
    changes.sort();
    assert_eq!(changes, ["dose_changed", "held"], "{digest}");

    // A newer admission starts another stay: the last stay's census notes are not this one's.
    let readmit = ws.path("exports/ADT_20261203.hl7");
    let adt =
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000-0600||ADT^A01|R1|P|2.5\rPID|1||M1^^^GENHOSP^MR||One^M\rPV1|1|I|7E-1";
    std::fs::write(&readmit, adt).expect("write");
    assert_eq!(ws.replay(&[&readmit]).0, 0);
    assert_eq!(ws.query_strings("SELECT ifnull(census_notes, '-') FROM panel ORDER BY patient_id"), ["-", "-"]);
}
