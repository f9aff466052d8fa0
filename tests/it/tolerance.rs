//! Field-level tolerance: a message whose only fault is a field nobody needs to identify its
//! record (a malformed birth date, an onset that is not a timestamp) lands without that value, and
//! the field is a warning — in the replay summary, `ingest status`, and `snapshot_status` — not a
//! reject.

use crate::mcp_stdio::call;
use crate::util::{Workspace, mcp::answer};
use serde_json::{Value, json};

#[test]
fn a_malformed_birth_date_or_onset_costs_the_field_not_the_result_or_the_problem() {
    let ws = Workspace::new();
    let file = ws.path("exports/ORU_PPR_dirty.hl7");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let messages = [
        "MSH|^~\\&|LAB|GENHOSP|||20261203050000||ORU^R01|G1|P|2.5",
        "PID|1||M100^^^GENHOSP^MR||Nguyen^Linh||196203520|F",
        "OBR|1||ORD1|GLU^Glucose|||20261203041500",
        "OBX|1|NM|2345-7^Glucose^LN||182|mg/dL|70-99|H|||F",
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000||PPR^PC1|P1|P|2.5",
        "PID|1||M100^^^GENHOSP^MR||Nguyen^Linh",
        "PRB|AD|20261203|I10^Hypertension^I10|||||||||||||since the spring",
    ];
    std::fs::write(&file, messages.join("\r")).expect("write");
    let (code, summary) = ws.replay(&[&file]);
    assert_eq!(code, 0, "a warning is not a reject: {summary}");
    assert!(summary.contains("fields left empty: 2"), "{summary}");

    assert_eq!(ws.query_strings("SELECT value FROM observations WHERE code = '2345-7'"), ["182"]);
    assert_eq!(ws.query_strings("SELECT description FROM problems"), ["Hypertension"]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM patients WHERE mrn = 'M100' AND birth_date IS NULL"), 1);

    let out = ws.ingest(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let source = &status["sources"][0];
    assert_eq!(source["field_warnings"], 2, "{source}");
    assert_eq!(source["rejects"], 0, "{source}");
    let fields: Vec<&str> =
        source["recent_warnings"].as_array().expect("warnings").iter().filter_map(|w| w["field"].as_str()).collect();
    assert_eq!(fields, ["PRB-16", "PID-7"], "newest first");
    let text = String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned();
    assert!(!text.contains("196203520") && !text.contains("since the spring"), "no value is shown: {text}");

    let results = call(&ws, json!([{"tool": "snapshot_status", "args": {}}]));
    assert_eq!(answer(&results[0])["sources"][0]["fields_left_empty"], 2);
}

#[test]
fn messages_of_types_the_snapshot_does_not_use_are_set_aside_not_rejected() {
    let ws = Workspace::new();
    let file = ws.path("exports/mixed.hl7");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let messages = [
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000||VXU^V04|V1|P|2.5",
        "PID|1||M200^^^GENHOSP^MR||Shot^Sam",
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000||ORM^O01|O1|P|2.5",
        "PID|1||M200^^^GENHOSP^MR||Shot^Sam",
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000||ADT^A01|A1|P|2.5",
        "PID|1||M200^^^GENHOSP^MR||Shot^Sam",
        "PV1|1|I|5W^501^A",
        "MSH|^~\\&|EHR|GENHOSP|||20261203050000||VXU^V04|V2|P|2.5",
        "PID|1||M200^^^GENHOSP^MR||Shot^Sam",
    ];
    std::fs::write(&file, messages.join("\r")).expect("write");
    let (code, summary) = ws.replay(&[&file]);
    assert_eq!(code, 0, "not used is not an error: {summary}");
    assert!(
        summary.contains("messages not used (types the snapshot does not read, or CSV rows skip_rows skips): 3"),
        "{summary}"
    );
    assert_eq!(ws.query_strings("SELECT mrn FROM patients"), ["M200"]);
    let out = ws.ingest(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["sources"][0]["not_used"], json!({"ORM^O01": 1, "VXU^V04": 2}));
    assert_eq!(status["sources"][0]["rejects"], 0);
    let text = String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned();
    assert!(
        text.contains(
            "messages not used (types the snapshot does not read, or CSV rows skip_rows skips; not errors): VXU^V04 2, ORM^O01 1"
        ),
        "{text}"
    );

    // A site that wants orders to be errors says so.
    let strict = Workspace::with_config("", "[hl7]\nreject_types = [\"ORM\"]\n");
    let (code, summary) = strict.replay(&[&file]);
    assert_eq!(code, 3, "{summary}");
    assert_eq!(
        strict.query_strings("SELECT reason FROM rejects"),
        ["message type ORM^O01 is not used by the snapshot, and hl7.reject_types makes it a reject"]
    );
}

#[test]
fn a_feed_that_starts_mid_stay_puts_inpatients_in_beds_on_the_panel_and_says_the_admission_was_not_seen() {
    let ws = Workspace::new();
    let file = ws.path("exports/ADT_golive.hl7");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let mut messages = Vec::new();
    for n in 1..=5 {
        messages.push(format!("MSH|^~\\&|EHR|GENHOSP|||20261203050000||ADT^A08|U{n}|P|2.5"));
        messages.push(format!("PID|1||MID{n}^^^GENHOSP^MR||Midstay^Pat{n}"));
        messages.push(format!("PV1|1|I|7E^7{n}^A||||1234^Careful^Casey"));
    }
    // An outpatient update and a discharged visit's update do not place anyone.
    messages.push("MSH|^~\\&|EHR|GENHOSP|||20261203050000||ADT^A08|U6|P|2.5".into());
    messages.push("PID|1||OUT1^^^GENHOSP^MR||Clinic^Only".into());
    messages.push("PV1|1|O|CLINIC^1".into());
    messages.push("MSH|^~\\&|EHR|GENHOSP|||20261203050000||ADT^A08|U7|P|2.5".into());
    messages.push("PID|1||GONE1^^^GENHOSP^MR||Went^Home".into());
    // PV1-44 admitted, PV1-45 discharged.
    messages.push(format!("PV1|1|I|7E^79^A{}20261202090000|20261202150000", "|".repeat(41)));
    std::fs::write(&file, messages.join("\r")).expect("write");
    let (code, summary) = ws.replay(&[&file]);
    assert_eq!(code, 0, "{summary}");
    assert!(
        summary.contains("5 patients (5 on the panel)") || summary.contains("7 patients (5 on the panel)"),
        "{summary}"
    );

    let results = call(&ws, json!([{"tool": "list_panel", "args": {}}, {"tool": "panel_changes", "args": {}}]));
    let panel = answer(&results[0]);
    let mrns: Vec<&str> =
        panel["patients"].as_array().expect("patients").iter().filter_map(|p| p["mrn"].as_str()).collect();
    assert_eq!(mrns, ["MID1", "MID2", "MID3", "MID4", "MID5"], "{panel}");
    assert!(panel["patients"].as_array().expect("patients").iter().all(|p| p["admission_seen"] == false));
    let text = results[0]["content"][0]["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("no admission message in the exports read: on the panel from an update"), "{text}");

    // The first morning's digest lists them as arrivals, not as nothing new.
    let changes = answer(&results[1]);
    assert_eq!(changes["totals"]["placed"], 5, "{changes}");
    assert_eq!(changes["totals"]["admissions"], 0, "{changes}");
    let placed: Vec<&str> = changes["patients"]
        .as_array()
        .expect("patients")
        .iter()
        .filter(|p| p["events"][0]["kind"] == "placed")
        .filter_map(|p| p["mrn"].as_str())
        .collect();
    assert_eq!(placed, ["MID1", "MID2", "MID3", "MID4", "MID5"], "{changes}");
    let text = results[1]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("0 admitted (5 more placed by an update, admission not seen)"), "{text}");
    assert!(text.contains("on the panel at 7E-71-A from an update (A08"), "{text}");
}

#[test]
fn an_unflagged_number_outside_its_reference_range_does_not_read_as_normal() {
    // Many CSV lab reports have a range column and no flag column.
    let ws = Workspace::new();
    let file = ws.path("exports/labs_5W_20261203_0500.csv");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let csv = "MRN,Test Code,Test Name,Result,Units,Reference Range,Collected\n\
               M1,2823-3,Potassium,2.9,mmol/L,3.5-5.1,2026-12-03 04:00\n\
               M1,2951-2,Sodium,140,mmol/L,135-145,2026-12-03 04:00\n\
               M1,2339-0,Glucose,note,mg/dL,70-99,2026-12-03 04:00\n";
    std::fs::write(&file, csv).expect("write");
    let (code, summary) = ws.replay(&[&file]);
    assert_eq!(code, 0, "{summary}");

    let results = call(&ws, json!([{"tool": "get_observations", "args": {"mrn": "M1", "summary": false}}]));
    let rows = answer(&results[0])["observations"].as_array().expect("observations").clone();
    let flags: Vec<(&str, Option<&str>, bool)> = rows
        .iter()
        .map(|o| (o["code"].as_str().unwrap_or("?"), o["abnormal_flag"].as_str(), o["flag_from_range"] == true))
        .collect();
    let mut flags = flags;
    flags.sort();
    assert_eq!(flags, [("2339-0", None, false), ("2823-3", Some("L"), true), ("2951-2", None, false)]);
    let text = results[0]["content"][0]["text"].as_str().expect("text");
    let potassium = text.lines().find(|l| l.contains("[2823-3]")).expect("the potassium line");
    assert!(
        potassium.starts_with("  !") && potassium.contains("2.9 mmol/L L (by ref range; no flag exported)"),
        "{potassium}"
    );
}

#[test]
fn a_hospital_wide_feed_fills_only_the_panel_of_the_source_s_locations() {
    // One ADT feed for the whole hospital; this source's panel is 7 East.
    let ws = Workspace::with_config("locations = [\"7E-*\"]", "");
    let adt = |day: &str, messages: &[(&str, &str, &str, &str)]| -> std::path::PathBuf {
        let mut lines = Vec::new();
        for (n, (event, mrn, class, bed)) in messages.iter().enumerate() {
            lines.push(format!("MSH|^~\\&|EHR|GENHOSP|||{day}050000-0600||ADT^{event}|{day}{n}|P|2.5"));
            lines.push(format!("EVN|{event}|{day}043000-0600"));
            lines.push(format!("PID|1||{mrn}^^^GENHOSP^MR||Patient^{mrn}"));
            lines.push(format!("PV1|1|{class}|{bed}||||1234^Careful^Casey"));
        }
        let file = ws.path(&format!("exports/ADT_{day}.hl7"));
        std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
        std::fs::write(&file, lines.join("\r")).expect("write");
        file
    };
    let day1 = adt(
        "20261201",
        &[
            ("A01", "E1", "I", "7E^701^A"),
            ("A01", "N1", "I", "4N^412^B"),
            ("A08", "N2", "I", "4N^414^A"),
            ("A08", "E2", "I", "7E^702^A"),
        ],
    );
    // Day 2: E1 moves to 4 North; N1 comes to 7 East from 4 North; E2 goes to the OR and back.
    let day2 = adt(
        "20261202",
        &[
            ("A02", "E1", "I", "4N^405^A"),
            ("A02", "N1", "I", "7E^710^A"),
            ("A02", "E2", "I", "OR^1"),
            ("A02", "E2", "I", "7E^702^A"),
        ],
    );
    let (code, out) = ws.replay(&[&day1]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 patients (2 on the panel)"), "{out}");
    let (code, out) = ws.replay(&[&day2]);
    assert_eq!(code, 0, "{out}");

    let results = call(&ws, json!([{"tool": "list_panel", "args": {}}, {"tool": "panel_changes", "args": {}}]));
    let panel = answer(&results[0]);
    let mrns: Vec<&str> =
        panel["patients"].as_array().expect("patients").iter().filter_map(|p| p["mrn"].as_str()).collect();
    assert_eq!(mrns, ["E2", "N1"], "E1 moved to 4 North; N2 never was on 7 East: {panel}");
    let n1 = panel["patients"].as_array().and_then(|p| p.iter().find(|p| p["mrn"] == "N1")).expect("N1");
    assert_eq!(n1["admission_seen"], true, "admitted elsewhere, then transferred in: {n1}");
    let changes = answer(&results[1]);
    let moved = changes["patients"]
        .as_array()
        .expect("patients")
        .iter()
        .find(|p| p["mrn"] == "E1")
        .unwrap_or_else(|| panic!("E1 left the panel in the window: {changes}"));
    assert_eq!(moved["events"][0]["kind"], "moved_off", "{moved}");
    assert!(!changes.to_string().contains("\"N2\""), "another unit's patient is not in the digest: {changes}");
    let text = results[1]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("moved off this panel's units: 7E-701-A → 4N-405-A"), "{text}");
    assert!(text.contains("transferred in to 7E-710-A") && text.contains("from another unit"), "{text}");
    assert!(text.contains("moved off this panel's units: 7E-702-A → OR-1"), "{text}");
    assert!(text.contains("transferred in OR-1 → 7E-702-A"), "{text}");
    let described = String::from_utf8_lossy(&ws.ingest(&["check-config"]).stdout).into_owned();
    assert!(described.contains("panel: patients placed at 7E-* only"), "{described}");
}
