//! `ingest run`: files dropped in a watched folder, readiness, archive, quarantine, shutdown.

use crate::util::{Daemon, LIMIT, Workspace, hl7, wait_for};
use std::io::Write;
use std::time::Duration;

fn ledger(ws: &Workspace) -> Vec<String> {
    if !ws.has_schema() {
        return Vec::new();
    }
    ws.query_strings("SELECT path || ' ' || status || ' ' || messages FROM source_files ORDER BY id")
}

fn census(n: usize) -> String {
    let messages: Vec<String> = (0..n)
        .map(|i| hl7::adt("A01", &format!("C{i}"), "20261124010000", &format!("MRN{i:03}"), "Ward", "5W^501^A"))
        .collect();
    hl7::batch("20261124050000-0600", &messages)
}

#[test]
fn a_file_copied_in_is_ingested_then_archived() {
    let ws = Workspace::new();
    let daemon = Daemon::start(&ws);
    let staged = ws.path("staged.hl7");
    std::fs::write(&staged, census(3)).expect("stage");
    std::fs::copy(&staged, ws.path("drop/ADT_1.hl7")).expect("cp into the folder");
    wait_for("the file to be archived", LIMIT, || !ws.path("drop/ADT_1.hl7").exists());
    assert_eq!(ledger(&ws), [format!("{} ingested 3", ws.path("drop/ADT_1.hl7").display())]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM panel WHERE active = 1"), 3);
    let archived = ws.query_strings("SELECT disposition FROM source_files");
    assert!(archived[0].contains("/data/archive/ward/"), "{archived:?}");
    assert!(std::path::Path::new(&archived[0]).exists());
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_slowly_written_file_is_not_parsed_until_it_is_complete() {
    let ws = Workspace::new();
    let _daemon = Daemon::start(&ws);
    let text = census(8);
    let bytes = text.as_bytes();
    let path = ws.path("drop/ADT_slow.hl7");
    let mut file = std::fs::File::create(&path).expect("create");
    // Chunks that end mid-message, 250 ms apart (settle is 600 ms), each closed and reopened so the
    // watcher sees several write-and-close cycles.
    for chunk in bytes.chunks(bytes.len() / 6 + 1) {
        file.write_all(chunk).expect("write");
        file.sync_all().expect("sync");
        drop(file);
        std::thread::sleep(Duration::from_millis(250));
        assert!(ledger(&ws).is_empty(), "taken while still being written: {:?}", ledger(&ws));
        file = std::fs::OpenOptions::new().append(true).open(&path).expect("reopen");
    }
    drop(file);
    wait_for("the complete file to be ingested", LIMIT, || !ledger(&ws).is_empty());
    assert_eq!(ledger(&ws), [format!("{} ingested 8", path.display())]);
    assert_eq!(ws.query_i64("SELECT count(*) FROM rejects"), 0);
}

#[test]
fn garbage_goes_to_quarantine_and_the_daemon_keeps_running() {
    let ws = Workspace::new();
    let mut daemon = Daemon::start(&ws);
    std::fs::write(ws.path("drop/garbage.hl7"), b"\x00\x01binary junk\xff\xfe").expect("garbage");
    let report = ws.path("data/quarantine/ward/garbage.hl7.error.txt");
    // The report is written first, then the file moved beside it: wait for the end state.
    let moved = ws.path("data/quarantine/ward/garbage.hl7");
    wait_for("the garbage to be quarantined", LIMIT, || {
        report.exists() && moved.exists() && !ws.path("drop/garbage.hl7").exists()
    });
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(text.contains("not a recognised export"), "{text}");
    assert!(daemon.alive());

    // A good file after it still goes in.
    std::fs::write(ws.path("drop/good.tmp"), census(2)).expect("stage");
    std::fs::rename(ws.path("drop/good.tmp"), ws.path("drop/good.hl7")).expect("rename into place");
    wait_for("the good file to go in", LIMIT, || ledger(&ws).len() == 2);
    assert_eq!(ws.query_strings("SELECT status FROM source_files ORDER BY id"), ["quarantined", "ingested"]);
    assert!(daemon.alive());
}

#[test]
fn with_a_required_trigger_a_file_waits_for_it() {
    let ws = Workspace::with_source_options("require_trigger = true");
    let _daemon = Daemon::start(&ws);
    std::fs::write(ws.path("drop/ADT.hl7"), census(2)).expect("export");
    // Settled (600 ms) well before the second scan after it was written.
    ws.wait_scans(2);
    assert!(ledger(&ws).is_empty(), "taken without its trigger file");
    std::fs::write(ws.path("drop/ADT.hl7.done"), b"").expect("trigger");
    wait_for("the triggered file to go in", LIMIT, || ledger(&ws).len() == 1);
    wait_for("the trigger file to be removed", LIMIT, || !ws.path("drop/ADT.hl7.done").exists());
    assert_eq!(ledger(&ws)[0], format!("{} ingested 2", ws.path("drop/ADT.hl7").display()));
}

#[test]
fn files_present_at_start_are_found_and_kept_files_are_not_taken_twice() {
    let ws = Workspace::with_source_options("after_ingest = \"keep\"");
    std::fs::write(ws.path("drop/before.hl7"), census(1)).expect("export");
    std::fs::write(ws.path("drop/notes.md"), "not an export").expect("other");
    std::fs::write(ws.path("drop/partial.hl7.part"), "MSH|").expect("temp");
    let _daemon = Daemon::start(&ws);
    wait_for("the file present at start to go in", LIMIT, || ledger(&ws).len() == 1);
    // Three more scans: the kept file is not taken again.
    ws.wait_scans(3);
    assert_eq!(ledger(&ws), [format!("{} ingested 1", ws.path("drop/before.hl7").display())]);
    assert!(ws.path("drop/before.hl7").exists());
    assert!(ws.path("drop/notes.md").exists() && ws.path("drop/partial.hl7.part").exists());
}

#[test]
fn sigterm_stops_the_daemon_with_exit_0_and_the_next_start_takes_what_is_left() {
    let ws = Workspace::new();
    let daemon = Daemon::start(&ws);
    assert_eq!(daemon.terminate(), Some(0));
    std::fs::write(ws.path("drop/while-down.hl7"), census(4)).expect("export");
    let _daemon = Daemon::start(&ws);
    wait_for("the file dropped while down to go in", LIMIT, || ledger(&ws).len() == 1);
    let log = std::fs::read_to_string(ws.path("daemon.log")).expect("log");
    assert!(log.contains("ingested"), "{log}");
}

#[test]
fn with_after_ingest_delete_the_file_is_removed_once_it_is_in() {
    let ws = Workspace::with_source_options("after_ingest = \"delete\"");
    let _daemon = Daemon::start(&ws);
    std::fs::write(ws.path("drop/ADT.hl7"), census(2)).expect("export");
    wait_for("the file to go in", LIMIT, || ledger(&ws).len() == 1);
    wait_for("the file to be deleted", LIMIT, || !ws.path("drop/ADT.hl7").exists());
    assert_eq!(ws.query_strings("SELECT disposition FROM source_files"), ["deleted"]);
    assert!(!ws.path("data/archive").exists());
}

#[test]
fn sigterm_with_a_file_in_hand_leaves_it_all_in_or_all_out_and_the_next_start_completes_it() {
    let ws = Workspace::new();
    let daemon = Daemon::start(&ws);
    // A big file, so that the signal lands while it is being written to the snapshot.
    let messages: Vec<String> = (0..4000)
        .map(|i| {
            hl7::oru(
                &format!("L{i}"),
                "20261124040000",
                &format!("MRN{:03}", i % 50),
                &format!("ORD{i}"),
                &[("2823-3", "4.1", "mmol/L", ""), ("2951-2", "139", "mmol/L", ""), ("2160-0", "0.9", "mg/dL", "")],
            )
        })
        .collect();
    std::fs::write(ws.path("staged.hl7"), hl7::batch("20261124050000-0600", &messages)).expect("stage");
    std::fs::rename(ws.path("staged.hl7"), ws.path("drop/LAB.hl7")).expect("rename into place");
    wait_for("the daemon to take the file", LIMIT, || {
        std::fs::read_to_string(ws.path("daemon.log")).is_ok_and(|log| log.contains("taking file"))
    });
    assert_eq!(daemon.terminate(), Some(0));
    let in_drop = ws.path("drop/LAB.hl7").exists();
    let rows = ledger(&ws);
    let observations = ws.query_i64("SELECT count(*) FROM observations");
    if in_drop {
        assert!(rows.is_empty(), "rolled back, yet in the ledger: {rows:?}");
        assert_eq!(observations, 0, "rolled back, yet {observations} results are in");
    } else {
        assert_eq!(rows.len(), 1);
        assert_eq!(observations, 12_000);
    }
    eprintln!("SIGTERM with a file in hand: {}", if in_drop { "rolled back" } else { "finished" });

    let _daemon = Daemon::start(&ws);
    wait_for("the file to be in after the restart", LIMIT, || !ws.path("drop/LAB.hl7").exists());
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 12_000);
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'"), 1);
}

#[test]
fn sighup_reads_the_config_again_and_an_invalid_one_is_refused_while_the_old_one_keeps_running() {
    let ws = Workspace::new();
    let daemon = Daemon::start(&ws);
    let hup = |daemon: &Daemon| {
        let pid = daemon.pid().to_string();
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().expect("kill -HUP").success());
    };
    // A second source, added while the daemon runs.
    std::fs::create_dir_all(ws.path("drop2")).expect("mkdir");
    let config = std::fs::read_to_string(ws.config()).expect("config");
    // `[mcp]` is the last table in the file: the new [[source]] must come before it.
    let (head, mcp) = config.split_at(config.find("[mcp]").expect("an [mcp] table"));
    std::fs::write(
        ws.config(),
        format!(
            "{head}[[source]]\nname = \"icu\"\npath = \"drop2\"\nsettle = \"600ms\"\nrescan_interval = \"1s\"\n\n{mcp}"
        ),
    )
    .expect("write config");
    hup(&daemon);
    daemon.wait_for_log("SIGHUP: configuration read", 1, LIMIT);
    std::fs::write(ws.path("drop2/ADT.hl7"), census(2)).expect("write");
    wait_for("the new source's file to land", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM source_files WHERE source = 'icu' AND status = 'ingested'") == 1
    });

    // A broken file: refused, and both sources keep working.
    std::fs::write(ws.config(), "data_dir = \"data\"\n[[source]]\nname = 42\n").expect("write config");
    hup(&daemon);
    daemon.wait_for_log("configuration reload refused", 1, LIMIT);
    assert!(daemon.log_text().contains("ingest.toml: line 3: invalid type"), "the error names the file and the line");
    std::fs::write(ws.path("drop/ADT.hl7"), census(3)).expect("write");
    std::fs::write(ws.path("drop2/ADT2.hl7"), census(4)).expect("write");
    wait_for("both sources to take their files", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'") == 3
    });
    assert_eq!(daemon.terminate(), Some(0));
}
