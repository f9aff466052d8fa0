//! Retention: archived exports older than `archive_days` are deleted and patients off
//! every panel for longer than `patient_days` are purged, at the daemon's start and on its
//! schedule, each pass one audit line with counts and no PHI. Time moves with the clock file.

use crate::util::{Daemon, LIMIT, Workspace, hl7, wait_for};
use serde_json::Value;
use std::path::PathBuf;

/// Every minute, so that a clock moved forward is acted on at the next check.
const TABLES: &str = "[mcp]\nport = 0\n\n[retention]\narchive_days = 30\npatient_days = 30\nschedule = \"* * * * *\"\n";

fn retention_lines(ws: &Workspace) -> Vec<Value> {
    std::fs::read_to_string(ws.path("data/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("audit line"))
        .filter(|l| l["tool"] == "retention")
        .collect()
}

/// Drop a batch exported at `ts` (local, America/Chicago) and wait until it is archived.
fn drop_and_archive(ws: &Workspace, name: &str, ts: &str, messages: &[String]) -> PathBuf {
    std::fs::write(ws.path("drop").join(name), hl7::batch(ts, messages)).expect("drop");
    let archived = || {
        let found =
            ws.query_strings(&format!("SELECT ifnull(disposition, '') FROM source_files WHERE path LIKE '%{name}'"));
        found.first().filter(|d| d.contains("/archive/") && std::path::Path::new(d).exists()).cloned()
    };
    wait_for(&format!("{name} to be archived"), LIMIT, || ws.has_schema() && archived().is_some());
    PathBuf::from(archived().expect("archived"))
}

fn mrns(ws: &Workspace) -> Vec<String> {
    ws.query_strings("SELECT mrn FROM patients ORDER BY mrn")
}

/// Wait for the daemon's first log line after its start-up pass.
fn started(ws: &Workspace) -> Daemon {
    let daemon = Daemon::start(ws);
    daemon.wait_for_log("ingest daemon started", 1, LIMIT);
    daemon
}

#[test]
fn nothing_younger_than_the_limits_is_touched_and_what_is_older_goes_at_start_and_on_schedule() {
    let ws = Workspace::with_config("", TABLES);
    // 1 November: M1 admitted (stays on the panel), M2 admitted and discharged, with a result.
    ws.set_clock("2026-11-01T12:00:00Z");
    let daemon = started(&ws);
    let ts = "202611010500";
    let first = drop_and_archive(
        &ws,
        "ADT_1101.hl7",
        ts,
        &[
            hl7::adt("A01", "N1", ts, "M1", "Kept", "5W^501^A"),
            hl7::adt("A01", "N2", ts, "M2", "Leaver", "5W^502^A"),
            hl7::oru("N3", ts, "M2", "ORD2", &[("2823-3", "3.1", "mmol/L", "L")]),
            hl7::adt("A03", "N4", ts, "M2", "Leaver", "5W^502^A"),
        ],
    );
    assert!(first.to_string_lossy().contains("/archive/ward/2026/11/01/"), "{}", first.display());
    // 20 November: M3 admitted and discharged.
    ws.set_clock("2026-11-20T12:00:00Z");
    let ts = "202611200500";
    let second = drop_and_archive(
        &ws,
        "ADT_1120.hl7",
        ts,
        &[hl7::adt("A01", "N5", ts, "M3", "Later", "5W^503^A"), hl7::adt("A03", "N6", ts, "M3", "Later", "5W^503^A")],
    );
    assert_eq!(daemon.terminate(), Some(0));

    // 30 November, 29 days after the first export: the start-up pass leaves everything.
    ws.set_clock("2026-11-30T12:00:00Z");
    let daemon = started(&ws);
    assert!(first.exists() && second.exists());
    assert_eq!(mrns(&ws), ["M1", "M2", "M3"]);
    assert!(retention_lines(&ws).is_empty(), "{:?}", retention_lines(&ws));

    // 2 December, 31 days after: the scheduled pass deletes the first file and purges M2.
    ws.set_clock("2026-12-02T12:00:00Z");
    wait_for("a retention audit line", LIMIT, || !retention_lines(&ws).is_empty());
    let lines = retention_lines(&ws);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!((line["identity"].as_str(), line["transport"].as_str()), (Some("ingest:retention"), Some("schedule")));
    let purged = &line["arguments"]["purged"];
    assert_eq!((purged["patients"].as_u64(), purged["archive_files"].as_u64()), (Some(1), Some(1)), "{line}");
    assert_eq!(purged["records"]["observations"], 1, "{line}");
    assert_eq!(line["arguments"]["off_panel_before"], "2026-11-02T12:00:00Z");
    assert_eq!(line["mrns"], serde_json::json!([]));
    let text = line.to_string();
    for phi in ["M2", "Leaver", "ADT_1101"] {
        assert!(!text.contains(phi), "{phi} in the audit line: {text}");
    }
    assert!(!first.exists(), "the 31-day-old archived export is still there");
    assert!(second.exists(), "the 12-day-old archived export was deleted");
    assert_eq!(mrns(&ws), ["M1", "M3"]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 0);
    let disposition = ws.query_strings("SELECT disposition FROM source_files WHERE path LIKE '%ADT_1101.hl7'");
    assert!(disposition[0].starts_with("expired: deleted by retention at 2026-12-02T12:00:00Z"), "{disposition:?}");
    let log = daemon.log_text();
    let purge_log = log.lines().find(|l| l.contains("retention: purged")).expect("a retention log line");
    assert!(purge_log.contains("patients=1") && !purge_log.contains("M2"), "{purge_log}");
    assert_eq!(daemon.terminate(), Some(0));

    // 25 December: a dry run counts M3 and the second file; the next start purges them.
    ws.set_clock("2026-12-25T12:00:00Z");
    let out = ws.ingest(&["retention", "--dry-run"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.starts_with("would purge: 1 patient(s)") && said.contains("1 archived file(s)"), "{said}");
    assert!(second.exists() && mrns(&ws) == ["M1", "M3"], "a dry run changed something");
    let daemon = started(&ws);
    let lines = retention_lines(&ws);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["transport"], "start");
    assert!(!second.exists());
    assert_eq!(mrns(&ws), ["M1"], "M1 is still on the panel, however old its admission");
    drop(daemon);
    let verify = ws.ingest(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn a_limit_of_zero_days_is_refused_with_the_key() {
    let ws = Workspace::with_config("", "[retention]\npatient_days = 0\n");
    let err = ws.config_error();
    assert!(err.contains("retention.patient_days: must be at least 1"), "{err}");
}
