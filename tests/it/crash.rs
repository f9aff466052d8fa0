//! kill -9 at every crash point (src/faults.rs) of a replay and of the daemon's live ingest. After
//! each kill the job is started again, without the fault, and what it leaves — the records, the
//! ledger (nothing recorded twice), the archive and the quarantine — must equal an uninterrupted
//! run's. The crash points are counted first by a run that reaches them all without firing.

use crate::util::{Daemon, LIMIT, Workspace, bin, dump, hl7, wait_for};
use sha2::{Digest, Sha256};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

/// Where files go in these tests: `dir/NAME.hl7` for each, ending with a file that is not an
/// export (quarantined) and a copy of the first one under another name (a duplicate).
fn write_exports(dir: &Path, files: usize, messages: usize) {
    std::fs::create_dir_all(dir).expect("exports dir");
    for f in 0..files {
        let batch: Vec<String> = (0..messages)
            .map(|m| {
                let value = format!("{f}.{m}");
                let results = [("2345-7", value.as_str(), "mg/dL", ""), ("2823-3", "4.1", "mmol/L", "")];
                hl7::oru(
                    &format!("C{f}-{m}"),
                    &format!("2026112{}0{m}00", f % 4),
                    &format!("MRN{m:02}"),
                    &format!("O{f}-{m}"),
                    &results,
                )
            })
            .collect();
        let text = hl7::batch(&format!("2026112{}050000-0600", f % 4), &batch);
        std::fs::write(dir.join(format!("lab{f:02}.hl7")), text).expect("export");
    }
    std::fs::write(dir.join("zz-garbage.hl7"), "this is not an HL7 export\n").expect("garbage");
    std::fs::copy(dir.join("lab00.hl7"), dir.join("zz-again.hl7")).expect("duplicate");
}

/// What an operator and a reader would check after a run: the records, the ledger's rows (one per
/// file seen, each with its status and where the file went), and every file under `data/`.
fn state(ws: &Workspace, with_duplicates: bool) -> Vec<String> {
    let root = ws.dir.path().display().to_string();
    let mut out = dump(&ws.db());
    let filter = if with_duplicates { "" } else { "WHERE status != 'duplicate'" };
    out.extend(
        ws.query_strings(&format!(
            "SELECT 'ledger|' || path || '|' || status || '|' || ifnull(disposition, 'NULL') FROM source_files {filter}"
        ))
        .into_iter()
        .map(|row| row.replace(&root, "$WS")),
    );
    for entry in walkdir::WalkDir::new(ws.path("data")).sort_by_file_name() {
        let entry = entry.expect("walk data/");
        if entry.file_type().is_file() && !entry.file_name().to_string_lossy().starts_with("snapshot.db") {
            let mut bytes = std::fs::read(entry.path()).expect("read");
            if entry.file_name().to_string_lossy().ends_with(".error.txt") {
                // The report names the workspace and the file's ledger id, which a run that
                // recorded some files twice (a second replay records duplicates) numbers differently.
                let text = String::from_utf8(bytes).expect("a report is text").replace(&root, "$WS");
                bytes =
                    text.lines().filter(|l| !l.starts_with("ledger id:")).collect::<Vec<_>>().join("\n").into_bytes();
            }
            let shown = entry.path().display().to_string().replace(&root, "$WS");
            out.push(format!("file|{shown}|{:x}", Sha256::digest(&bytes)));
        }
    }
    out.sort();
    out
}

/// Fail with the lines that differ, not two whole states.
fn assert_same(got: &[String], expected: &[String], after: &str) {
    let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == expected.len(),
        "after {after}:\nmissing: {missing:#?}\nextra: {extra:#?}\n({} lines, expected {})",
        got.len(),
        expected.len()
    );
}

/// How many crash points a run reaches: the `ingest::faults` debug lines of a run with
/// `INGEST_CRASH_AT=0`, which fires none.
fn crash_points(log: &str) -> usize {
    log.lines().filter(|l| l.contains("crash point")).count()
}

fn replay_command(ws: &Workspace, crash_at: usize) -> Command {
    let mut command = Command::new(bin());
    command
        .arg("--config")
        .arg(ws.config())
        .arg("--replay")
        .arg(ws.path("exports"))
        .env_remove("INGEST_CONFIG")
        .env("INGEST_CLOCK_FILE", ws.clock_file())
        .env("INGEST_CRASH_AT", crash_at.to_string())
        .env("INGEST_LOG", "warn,ingest::faults=debug")
        .current_dir(ws.dir.path());
    command
}

fn replay_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.set_clock("2026-11-24T12:00:00Z");
    write_exports(&ws.path("exports"), 8, 5);
    ws
}

#[test]
fn kill_9_at_every_crash_point_of_a_replay_then_a_second_replay_equals_a_clean_one() {
    let clean = replay_workspace();
    let out = replay_command(&clean, 0).output().expect("clean replay");
    assert_eq!(out.status.code(), Some(3), "a quarantined file makes exit code 3");
    let points = crash_points(&String::from_utf8_lossy(&out.stderr));
    assert!(points >= 50, "only {points} crash points in a replay");
    let expected = state(&clean, false);

    for k in 1..=points {
        let ws = replay_workspace();
        let out = replay_command(&ws, k).output().expect("replay with a crash");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(9), "crash point {k} of {points} did not fire:\n{stderr}");
        let named = stderr.lines().find(|l| l.contains("killed at crash point")).unwrap_or("?").to_string();

        let again = replay_command(&ws, 0).output().expect("replay again");
        assert!(again.status.code().is_some(), "the second replay after crash point {k} died");
        assert_same(&state(&ws, false), &expected, &named);
        // Nothing recorded twice: one row per file but the duplicates that a second replay of the
        // same files records by design.
        let rows = ws.query_strings(
            "SELECT path FROM source_files WHERE status != 'duplicate' GROUP BY path HAVING count(*) > 1",
        );
        assert!(rows.is_empty(), "after {named}: recorded twice: {rows:?}");
    }
    eprintln!("replay: killed and recovered at each of {points} crash points");
}

fn live_workspace() -> Workspace {
    let ws = Workspace::with_source_options("require_trigger = true");
    ws.set_clock("2026-11-24T12:00:00Z");
    write_exports(&ws.path("drop"), 4, 2);
    for entry in std::fs::read_dir(ws.path("drop")).expect("drop") {
        let path = entry.expect("entry").path();
        std::fs::write(format!("{}.done", path.display()), b"").expect("trigger");
    }
    ws
}

fn drop_is_empty(ws: &Workspace) -> bool {
    std::fs::read_dir(ws.path("drop")).expect("drop").next().is_none()
}

fn spawn_daemon(ws: &Workspace, crash_at: usize) -> Daemon {
    let k = std::ffi::OsString::from(crash_at.to_string());
    let filter = std::ffi::OsString::from("info,ingest::faults=debug");
    Daemon::spawn_with_env(ws, &[("INGEST_CRASH_AT", &k), ("INGEST_LOG", &filter)])
}

/// Start the daemon, let it take everything in `drop/`, stop it; its log.
fn run_daemon_to_empty(ws: &Workspace) -> String {
    let daemon = spawn_daemon(ws, 0);
    // Up and watching (so past its signal handlers and first rescan), and nothing left to take.
    wait_for("the daemon to take every file", LIMIT, || daemon.log_text().contains("watching") && drop_is_empty(ws));
    let log = daemon.log_text();
    assert_eq!(daemon.terminate(), Some(0));
    log
}

#[test]
fn kill_9_at_every_crash_point_of_live_ingest_then_a_restart_equals_a_clean_run() {
    let clean = live_workspace();
    let points = crash_points(&run_daemon_to_empty(&clean));
    assert!(points >= 30, "only {points} crash points in the live ingest");
    let expected = state(&clean, true);
    assert!(expected.iter().any(|l| l.contains("|duplicate|")) && expected.iter().any(|l| l.contains("|quarantined|")));

    for k in 1..=points {
        let ws = live_workspace();
        let mut daemon = spawn_daemon(&ws, k);
        wait_for(&format!("crash point {k} to fire"), LIMIT, || !daemon.alive());
        let log = daemon.log_text();
        let named = log.lines().find(|l| l.contains("killed at crash point")).unwrap_or("?").to_string();
        assert!(named != "?", "the daemon stopped without crash point {k} firing:\n{log}");
        drop(daemon);

        run_daemon_to_empty(&ws);
        assert_same(&state(&ws, true), &expected, &named);
    }
    eprintln!("live ingest: killed and recovered at each of {points} crash points");
}
