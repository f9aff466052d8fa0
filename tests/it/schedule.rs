//! Expected exports: a source that declares `expected` and `grace` turns stale when
//! the deadline passes without a new export; `ingest status`, the daemon's log and every MCP answer
//! say so; a late export clears it. Time is moved with the workspace's clock file.

use crate::mcp_stdio::call;
use crate::util::mcp::answer;
use crate::util::{Daemon, LIMIT, Workspace, hl7};
use serde_json::{Value, json};

/// A daily 05:00 export (America/Chicago: 11:00Z in November), due by 05:45.
const SCHEDULE: &str = "expected = \"0 5 * * *\"\ngrace = \"45m\"";

fn export(ws: &Workspace, name: &str, ts: &str, mrn: &str) -> std::path::PathBuf {
    let dir = ws.path("exports");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join(name);
    let control = format!("C{mrn}{ts}");
    std::fs::write(&path, hl7::batch(ts, &[hl7::adt("A01", &control, ts, mrn, "Stale", "5W^501^A")])).expect("write");
    path
}

fn snapshot(ws: &Workspace) -> Value {
    let results = call(ws, json!([{"tool": "snapshot_status", "args": {}}]));
    answer(&results[0]).clone()
}

fn status_json(ws: &Workspace) -> Value {
    let out = ws.ingest(&["status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

#[test]
fn a_missed_deadline_makes_the_source_stale_everywhere_and_a_late_export_clears_it() {
    let ws = Workspace::with_source_options(SCHEDULE);
    // Monday's export, replayed on Tuesday morning before the deadline.
    ws.set_clock("2026-11-24T11:40:00Z");
    let monday = export(&ws, "ADT_MON.hl7", "20261123050000-0600", "M1");
    assert_eq!(ws.replay(&[&monday]).0, 0);
    let answer = snapshot(&ws);
    assert_eq!(answer["snapshot"]["stale"], json!(false), "{answer}");
    let source = &answer["sources"][0];
    assert_eq!(source["next_expected_at"], json!("2026-11-24T11:45:00Z"), "{answer}");

    // 05:46: Tuesday's export has not come.
    ws.set_clock("2026-11-24T11:46:00Z");
    let answer = snapshot(&ws);
    assert_eq!(answer["snapshot"]["stale"], json!(true), "{answer}");
    let reasons = answer["snapshot"]["stale_reasons"].as_array().expect("reasons").clone();
    assert_eq!(
        reasons,
        [json!(
            "source ward: no export since 2026-11-23 05:00 CST; one was expected at 2026-11-24 05:00 CST \
             (grace 45 min, due by 2026-11-24 05:45 CST)"
        )]
    );
    // Every answer carries it, not only snapshot_status.
    let results = call(&ws, json!([{"tool": "get_patient", "args": {"mrn": "M1"}}]));
    assert_eq!(crate::util::mcp::answer(&results[0])["snapshot"]["stale"], json!(true));
    let status = status_json(&ws);
    assert_eq!(status["sources"][0]["stale"], json!(true), "{status}");
    assert_eq!(status["sources"][0]["stale_reason"], reasons[0]);
    let text = ws.ingest(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("STALE: source ward: no export since"), "{text}");
    let row = text.lines().find(|l| l.starts_with("| ward")).unwrap_or_else(|| panic!("no row for ward: {text}"));
    assert!(row.contains(" STALE "), "{row}");

    // 07:10 local: the export arrives late and clears it.
    ws.set_clock("2026-11-24T13:12:00Z");
    let tuesday = export(&ws, "ADT_TUE.hl7", "20261124071000-0600", "M2");
    assert_eq!(ws.replay(&[&tuesday]).0, 0);
    let answer = snapshot(&ws);
    assert_eq!(answer["snapshot"]["stale"], json!(false), "{answer}");
    assert_eq!(answer["sources"][0]["next_expected_at"], json!("2026-11-25T11:45:00Z"));
    let status = status_json(&ws);
    assert_eq!(status["sources"][0]["stale"], json!(false));
    // The timeline starts with the source (its first export, Monday's: no daemon has watched it):
    // the twelve 05:00 exports before it are not counted as missed. Monday's (received on Tuesday
    // at 05:40) and Tuesday's (received at 07:12) came, both after their 05:45 deadlines.
    let windows = status["sources"][0]["timeline"]["windows"].as_array().expect("windows").clone();
    assert_eq!(status["sources"][0]["timeline"]["from"], "2026-11-23T11:00:00Z");
    let verdicts: Vec<&str> = windows.iter().map(|w| w["verdict"].as_str().expect("verdict")).collect();
    assert_eq!(verdicts, ["late", "late"], "{windows:?}");
    assert_eq!(windows[1]["expected_at"], "2026-11-24T11:00:00Z");
    assert_eq!(windows[1]["deadline"], "2026-11-24T11:45:00Z");
    assert_eq!(windows[1]["arrived_at"], "2026-11-24T13:12:00Z");
    let text = String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned();
    let row = text.lines().find(|l| l.starts_with("| ward")).unwrap_or_else(|| panic!("no row for ward: {text}"));
    assert!(row.contains(" fresh ") && row.contains(" LL "), "{row}");
    assert!(text.contains("in 14 days, 0 on time, 2 late, 0 missed"), "{text}");
}

#[test]
fn the_daemon_warns_once_when_a_source_turns_stale_and_says_when_it_recovers() {
    let ws = Workspace::with_source_options(SCHEDULE);
    ws.set_clock("2026-11-24T11:46:00Z");
    let monday = export(&ws, "ADT_MON.hl7", "20261123050000-0600", "M1");
    assert_eq!(ws.replay(&[&monday]).0, 0);
    let daemon = Daemon::start(&ws);
    daemon.wait_for_log("source is stale", 1, LIMIT);
    let first = daemon.log_text();
    assert!(first.contains("WARN") && first.contains("due by 2026-11-24 05:45 CST)"), "{first}");
    assert_eq!(first.matches("alert=\"stale\"").count(), 1, "{first}");
    assert_eq!(daemon.terminate(), Some(0));
    // A restart (or a reload) does not warn or alert again: the source was reported stale already.
    let daemon = Daemon::start(&ws);
    let tuesday = export(&ws, "ADT_TUE.hl7", "20261124071000-0600", "M2");
    std::fs::rename(&tuesday, ws.path("drop/ADT_TUE.hl7")).expect("drop");
    daemon.wait_for_log("source is fresh again", 1, LIMIT);
    let log = daemon.log_text();
    assert_eq!(log.matches("source is stale").count(), 0, "the restart warned again:\n{log}");
    assert_eq!(log.matches("alert=\"recovered\"").count(), 1, "{log}");
    assert_eq!(daemon.terminate(), Some(0));
}
