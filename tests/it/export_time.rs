//! Export times that cannot be right: a CSV named in local time read in the wrong zone lies ahead
//! of the clock; an HL7 header without a UTC offset disagrees with the offsets its own messages
//! carry. Each file is flagged, and `check-config`, `ingest status`, `/status` and
//! `snapshot_status` say so.

use crate::mcp_http::{CLINICIAN, HttpDaemon, mcp_tables};
use crate::mcp_stdio::call;
use crate::util::mcp::answer;
use crate::util::{Workspace, raw};
use serde_json::{Value, json};

/// A workspace whose `time_zone` is the host's, for an EHR in Berlin or Chicago.
fn utc_workspace() -> Workspace {
    let ws = Workspace::with_config("", &mcp_tables(""));
    let config = std::fs::read_to_string(ws.config()).expect("config");
    std::fs::write(ws.config(), config.replace("time_zone = \"America/Chicago\"", "time_zone = \"host\""))
        .expect("config");
    ws
}

#[test]
fn a_file_whose_export_time_cannot_be_right_is_flagged_everywhere() {
    let ws = utc_workspace();
    let checked = ws.ingest(&["check-config"]);
    let described = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{described}");
    assert!(described.contains("time zone for times without offset: host ("), "{described}");
    assert!(described.contains("WARNING: time_zone is the host's"), "{described}");
    // The rest reads times in UTC whatever this machine's zone, as a UTC host would.
    let config = std::fs::read_to_string(ws.config()).expect("config");
    std::fs::write(ws.config(), config.replace("time_zone = \"host\"", "time_zone = \"UTC\"")).expect("config");

    // 04:10 UTC: a Berlin census of 05:00 local (04:00 UTC) read as 05:00 UTC is 50 min ahead.
    ws.set_clock("2026-11-24T04:10:00Z");
    let exports = ws.path("exports");
    std::fs::create_dir_all(&exports).expect("mkdir");
    std::fs::write(exports.join("census_5W_20261124_0500.csv"), "MRN,Location\nM1,5W-501-A\n").expect("census");
    // A Chicago ADT batch whose FHS-7 has no offset while its MSH-7 carry -0600.
    let adt = "FHS|^~\\&|EHR|GENHOSP|||20261123220000\rMSH|^~\\&|EHR|GENHOSP|||20261123220000-0600||ADT^A01|C1|P|2.5.1\r\
               EVN|A01|20261123210000\rPID|1||M2^^^GENHOSP^MR||TIME^ZONE\rPV1|1|I|5W^502^A\rFTS|1\r";
    std::fs::write(exports.join("ADT_5W_20261123220000.hl7"), adt).expect("adt");
    std::fs::write(exports.join("ADT_5W_ok.hl7"), adt.replace("|||20261123220000\r", "|||20261123220000-0600\r"))
        .expect("adt");
    let (code, out) = ws.replay(&[&exports]);
    assert_eq!(code, 0, "{out}");
    let flagged = ws.query_strings(
        "SELECT path || ' :: ' || export_time_warning FROM source_files WHERE export_time_warning IS NOT NULL ORDER BY id",
    );
    assert_eq!(flagged.len(), 2, "{flagged:?}");
    assert!(
        flagged.iter().any(|f| f.contains("census_5W_20261124_0500.csv") && f.contains("50 min ahead")),
        "{flagged:?}"
    );
    assert!(
        flagged.iter().any(|f| f.contains("ADT_5W_20261123220000.hl7") && f.contains("carry -0600")),
        "{flagged:?}"
    );

    let status = ws.ingest(&["status", "--json"]);
    let report: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let warnings = report["sources"][0]["export_time_warnings"].as_array().expect("warnings").clone();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let table = String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned();
    assert!(table.contains("doubtful export times") && table.contains("census_5W_20261124_0500.csv"), "{table}");

    let results = call(&ws, json!([{"tool": "snapshot_status"}]));
    let source = &answer(&results[0])["sources"][0];
    let said = source["export_time_warnings"].as_array().expect("in snapshot_status").clone();
    assert_eq!(said.len(), 2, "{source}");
    let text = results[0]["content"][0]["text"].as_str().expect("rendering");
    assert!(text.contains("DOUBTFUL EXPORT TIME: file #"), "{text}");

    let daemon = HttpDaemon::start(&ws);
    let bearer = format!("Bearer {CLINICIAN}");
    let (code, page) = raw(daemon.authority(), "GET", "/status", &[("Authorization", bearer.as_str())], "");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Doubtful export times") && page.contains("ahead of this host"), "{page:.3000}");
}
