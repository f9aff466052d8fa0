//! Export runs: with `run_marker` set, the files of a morning's export are held until
//! the marker arrives and then published together; until then MCP readers keep seeing the
//! previous run.

use crate::mcp_stdio::call;
use crate::util::hl7::{adt, batch, oru};
use crate::util::mcp::answer;
use crate::util::{Daemon, LIMIT, Workspace, wait_for};
use serde_json::json;

fn panel_mrns(ws: &Workspace) -> Vec<String> {
    let results = call(ws, json!([{"tool": "list_panel", "args": {}}]));
    let mut mrns: Vec<String> = answer(&results[0])["patients"]
        .as_array()
        .expect("patients")
        .iter()
        .map(|p| p["mrn"].as_str().expect("mrn").to_string())
        .collect();
    mrns.sort();
    mrns
}

#[test]
fn an_export_run_stays_invisible_until_its_marker_arrives_then_lands_whole() {
    let ws = Workspace::with_source_options("run_marker = \"EXPORT_COMPLETE\"");
    let mut daemon = Daemon::start(&ws);

    // Monday's run: one ADT file and its marker.
    std::fs::write(
        ws.path("drop/ADT_20261123.hl7"),
        batch("202611230500", &[adt("A01", "R1-1", "202611230500", "M1", "Alder", "5W^501^A")]),
    )
    .expect("write");
    std::fs::write(ws.path("drop/EXPORT_COMPLETE"), "").expect("marker");
    wait_for("Monday's run", LIMIT, || ws.query_i64("SELECT count(*) FROM source_files") == 1);
    wait_for("the marker archived", LIMIT, || !ws.path("drop/EXPORT_COMPLETE").exists());
    assert_eq!(panel_mrns(&ws), ["M1"]);

    // Tuesday's run arrives file by file; the marker comes last.
    std::fs::write(
        ws.path("drop/ADT_20261124.hl7"),
        batch("202611240500", &[adt("A01", "R2-1", "202611240500", "M2", "Birch", "5W^502^A")]),
    )
    .expect("write");
    std::fs::write(
        ws.path("drop/ORU_20261124.hl7"),
        oru("R2-2", "202611240430", "M1", "ORD1", &[("2823-3", "4.1", "mmol/L", "N")]),
    )
    .expect("write");
    // Both files ready (past settle) and held for the marker, as the source's health says.
    wait_for("both files to be held for the marker", LIMIT, || {
        ws.query_i64("SELECT held_files FROM source_health WHERE source = 'ward'") == 2
    });
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files"), 1, "nothing of Tuesday's run is in the ledger");
    assert_eq!(panel_mrns(&ws), ["M1"], "readers still see Monday's run");
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 0);
    assert!(ws.path("drop/ADT_20261124.hl7").exists() && ws.path("drop/ORU_20261124.hl7").exists());

    std::fs::write(ws.path("drop/EXPORT_COMPLETE"), "").expect("marker");
    wait_for("Tuesday's run", LIMIT, || ws.query_i64("SELECT count(*) FROM source_files") == 3);
    assert_eq!(panel_mrns(&ws), ["M1", "M2"]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 1);
    wait_for("the run's files archived", LIMIT, || {
        ["ADT_20261124.hl7", "ORU_20261124.hl7", "EXPORT_COMPLETE"]
            .iter()
            .all(|f| !ws.path(&format!("drop/{f}")).exists())
    });
    assert!(daemon.alive());
    let log = daemon.log_text();
    assert_eq!(log.matches("export run complete: published together").count(), 2, "{log}");
    assert_eq!(daemon.terminate(), Some(0));
}
