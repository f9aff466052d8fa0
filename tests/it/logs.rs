//! No PHI in the logs at info level: the whole sample export replayed, dropped into a
//! watched folder, and read back over MCP, with every log line kept, must not contain a patient's
//! name or a phrase of a note — nor a value from a message that was rejected for it.

use crate::util::{Daemon, LIMIT, Workspace, hl7, mcp_stdio, samples, wait_for};
use serde_json::json;
use std::path::Path;

/// What must never be logged: every patient's family and given name, and a phrase from each line
/// of each note, as the snapshot holds them after the sample export.
fn phi(ws: &Workspace) -> Vec<String> {
    let mut out = ws.query_strings(
        "SELECT family_name FROM patients WHERE length(family_name) >= 3
         UNION SELECT given_name FROM patients WHERE length(given_name) >= 3",
    );
    for text in ws.query_strings("SELECT text FROM documents WHERE text IS NOT NULL") {
        for line in text.lines().map(str::trim).filter(|l| l.chars().count() >= 24) {
            out.push(line.chars().take(24).collect());
        }
    }
    out
}

fn assert_no_phi(logs: &str, phi: &[String], what: &str) {
    let lower = logs.to_lowercase();
    let found: Vec<&String> = phi.iter().filter(|p| lower.contains(&p.to_lowercase())).collect();
    assert!(found.is_empty(), "{what} logged PHI at info level: {found:?}\n{logs}");
}

/// A message whose birth date field holds a name: the field is left empty with a warning, whose
/// reason must not repeat the value.
fn trap_file(dir: &Path) {
    let mut message = hl7::adt("A01", "TRAP-1", "202611240400", "MRN77777", "QUINTAVALLE", "5W^501^A");
    message = message.replacen("|19", "|ZEPHYRINE-QUINTAVALLE", 1);
    std::fs::write(dir.join("ADT_TRAP.hl7"), hl7::batch("20261124050000-0600", &[message])).expect("trap");
}

#[test]
fn the_sample_export_replayed_ingested_live_and_read_over_mcp_logs_no_phi_at_info() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path("exports")).expect("exports");
    trap_file(&ws.path("exports"));
    let out = ws.ingest(&["--replay", &samples().display().to_string(), &ws.path("exports").display().to_string()]);
    let mut phi = phi(&ws);
    phi.extend(["QUINTAVALLE".to_string(), "ZEPHYRINE".to_string()]);
    assert!(phi.len() > 40, "the sample export has names and notes to look for: {phi:?}");
    let replay_logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(replay_logs.contains("INFO") && replay_logs.contains("ingested"), "{replay_logs}");
    let warned = ws.query_strings("SELECT field || ': ' || reason FROM field_warnings");
    assert!(warned.iter().any(|w| w.starts_with("PID-7: ")), "the trap field was not warned:\n{replay_logs}");
    assert_no_phi(&warned.join("\n"), &phi, "a field warning");
    assert_no_phi(&replay_logs, &phi, "a replay");

    // Live: the same files dropped into a watched folder of a fresh snapshot.
    let live = Workspace::new();
    let mut files = 0;
    for entry in walkdir::WalkDir::new(samples()).into_iter().chain(walkdir::WalkDir::new(ws.path("exports"))) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() && entry.file_name() != "README.md" {
            std::fs::copy(entry.path(), live.path("drop").join(entry.file_name())).expect("copy");
            files += 1;
        }
    }
    let daemon = Daemon::start(&live);
    wait_for("every dropped file to be taken", LIMIT, || {
        live.query_i64("SELECT count(*) FROM source_files") as usize >= files - 1 // -1: one is not an export file name
            && std::fs::read_dir(live.path("drop")).expect("drop").count() <= 1
    });
    let daemon_logs = daemon.log_text();
    assert_eq!(daemon.terminate(), Some(0));
    assert!(daemon_logs.contains("INFO"), "{daemon_logs}");
    assert_no_phi(&daemon_logs, &phi, "the daemon");

    // MCP over stdio: names and note words asked for and answered, the server's log at info.
    let calls = json!([
        {"tool": "list_panel"},
        {"tool": "get_patient", "args": {"mrn": "MRN57552"}},
        {"tool": "search_documents", "args": {"query": "palpitations"}},
        {"tool": "search_documents", "args": {"query": "LARKHAVEN"}},
        {"tool": "get_documents", "args": {"mrn": "MRN57552"}},
        {"tool": "get_patient", "args": {"mrn": "QUINTAVALLE"}},
    ]);
    let out = mcp_stdio(&ws, &calls, "info");
    let answers = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{answers}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        answers.contains("LARKHAVEN") || answers.to_lowercase().contains("larkhaven"),
        "the answers do hold names: {answers}"
    );
    assert_no_phi(&String::from_utf8_lossy(&out.stderr), &phi, "the MCP server");
}
