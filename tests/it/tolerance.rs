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
