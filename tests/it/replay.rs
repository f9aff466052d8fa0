//! `ingest --replay`: ordering, idempotency, duplicates, precedence, rejects, crash safety.

use crate::util::{LIMIT, Workspace, dump, hl7};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture");
}

/// Two days of a small ward: day 2 is newer and changes a name, a location and a lab value.
fn two_days(ws: &Workspace) -> (std::path::PathBuf, std::path::PathBuf) {
    let day1 = ws.path("exports/day1/ADT_LAB_20261123.hl7");
    let day2 = ws.path("exports/day2/ADT_LAB_20261124.hl7");
    write(
        &day1,
        &hl7::batch(
            "20261123050000-0600",
            &[
                hl7::adt("A01", "C1", "20261122101500", "MRN001", "Oldname", "5W^501^A"),
                hl7::adt("A01", "C2", "20261122111500", "MRN002", "Second", "5W^502^A"),
                hl7::oru(
                    "C3",
                    "20261123043000",
                    "MRN001",
                    "F100",
                    &[("2823-3", "3.0", "mmol/L", "L"), ("2951-2", "139", "mmol/L", "")],
                ),
                hl7::oru("C4", "20261122043000", "MRN002", "F099", &[("2160-0", "1.1", "mg/dL", "")]),
            ],
        ),
    );
    write(
        &day2,
        &hl7::batch(
            "20261124050000-0600",
            &[
                hl7::adt("A08", "D1", "20261123201500", "MRN001", "Newname", "5W^510^B"),
                hl7::adt("A03", "D2", "20261124013000", "MRN002", "Second", "5W^502^A"),
                // Same natural key as day 1's potassium: a corrected value.
                hl7::oru("D3", "20261123043000", "MRN001", "F100", &[("2823-3", "3.4", "mmol/L", "")]),
                hl7::oru("D4", "20261124043000", "MRN001", "F200", &[("2823-3", "6.1", "mmol/L", "HH")]),
            ],
        ),
    );
    (day1, day2)
}

#[test]
fn replay_lands_patients_panel_and_results_with_the_newest_values() {
    let ws = Workspace::new();
    let (_day1, _day2) = two_days(&ws);
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("snapshot: {}", ws.db().display())), "{out}");
    assert!(out.contains("2 ingested"), "{out}");
    assert!(out.contains("2 patients (1 on the panel) · 4 results"), "{out}");

    assert_eq!(ws.query_strings("SELECT family_name FROM patients WHERE mrn = 'MRN001'"), ["Newname"]);
    assert_eq!(
        ws.query_strings(
            "SELECT x.location || ' ' || x.active FROM panel x JOIN patients p ON p.id = x.patient_id ORDER BY p.mrn"
        ),
        ["5W-510-B 1", "5W-502-A 0"]
    );
    // The corrected potassium replaced the first one; the new critical value is a second row.
    assert_eq!(
        ws.query_strings(
            "SELECT value || ' ' || ifnull(abnormal_flag, '-') || ' ' || observed_at FROM observations WHERE code = '2823-3' ORDER BY observed_at"
        ),
        ["3.4 - 2026-11-23T10:30:00Z", "6.1 HH 2026-11-24T10:30:00Z"]
    );
    // Every clinical row carries its provenance.
    assert_eq!(
        ws.query_i64(
            "SELECT count(*) FROM observations o JOIN source_files f ON f.id = o.source_file_id
             WHERE o.exported_at = f.exported_at AND o.ingested_at = f.ingested_at"
        ),
        4
    );
    assert_eq!(
        ws.query_strings("SELECT exported_at || ' ' || exported_at_origin FROM source_files ORDER BY id"),
        ["2026-11-23T11:00:00Z FHS-7", "2026-11-24T11:00:00Z FHS-7"]
    );
}

#[test]
fn replaying_twice_gives_the_same_snapshot_and_only_duplicates() {
    let ws = Workspace::new();
    two_days(&ws);
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    let first = dump(&ws.db());
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 ingested · 0 with rejects · 2 duplicate"), "{out}");
    assert_eq!(dump(&ws.db()), first);
    assert_eq!(
        ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'duplicate' AND duplicate_of IS NOT NULL"),
        2
    );
    // A replayed file stays where it was, and its ledger row says so, duplicates included.
    assert_eq!(ws.query_strings("SELECT DISTINCT disposition FROM source_files"), ["replayed in place"]);
}

#[test]
fn the_same_file_under_two_names_is_one_duplicate() {
    let ws = Workspace::new();
    let (day1, _) = two_days(&ws);
    let copy = ws.path("exports/day1/copy-of-day1.hl7");
    std::fs::copy(&day1, &copy).expect("copy");
    let (code, out) = ws.replay(&[&ws.path("exports/day1")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 ingested · 0 with rejects · 1 duplicate"), "{out}");
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), 3);
    assert_eq!(ws.query_strings("SELECT status FROM source_files ORDER BY id"), ["ingested", "duplicate"]);
}

#[test]
fn an_older_export_replayed_after_a_newer_one_never_overwrites_it() {
    let in_order = Workspace::new();
    two_days(&in_order);
    assert_eq!(in_order.replay(&[&in_order.path("exports")]).0, 0);

    let backwards = Workspace::new();
    let (day1, day2) = two_days(&backwards);
    assert_eq!(backwards.replay(&[&day2]).0, 0);
    assert_eq!(backwards.replay(&[&day1]).0, 0);

    assert_eq!(backwards.query_strings("SELECT family_name FROM patients WHERE mrn = 'MRN001'"), ["Newname"]);
    assert_eq!(
        backwards.query_strings("SELECT value FROM observations WHERE order_id = 'F100' AND code = '2823-3'"),
        ["3.4"]
    );
    // Day 1 still fills what day 2 did not say (the discharged patient's admission, the sodium).
    assert_eq!(backwards.query_i64("SELECT count(*) FROM observations WHERE code = '2951-2'"), 1);
    assert_eq!(dump(&backwards.db()), dump(&in_order.db()), "order of ingest must not matter");
}

#[test]
fn a_bad_message_is_rejected_the_rest_lands_and_the_exit_code_is_3() {
    let ws = Workspace::new();
    let no_mrn = "MSH|^~\\&|EHR|GENHOSP|||20261124050000||ADT^A01|BAD1|P|2.5.1\rPID|1||||Nobody^Test\r".to_string();
    let file = ws.path("exports/mixed.hl7");
    write(
        &file,
        &hl7::batch(
            "20261124050000-0600",
            &[
                hl7::adt("A01", "OK1", "20261124010000", "MRN010", "Alpha", "5W^510^A"),
                no_mrn,
                hl7::adt("A01", "OK2", "20261124010000", "MRN011", "Beta", "5W^511^A"),
            ],
        ),
    );
    let (code, out) = ws.replay(&[&file]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("1 message(s) rejected"), "{out}");
    assert_eq!(ws.query_i64("SELECT count(*) FROM patients"), 2);
    assert_eq!(ws.query_strings("SELECT status FROM source_files"), ["ingested_with_rejects"]);
    assert_eq!(
        ws.query_strings("SELECT message_index || ' ' || line || ' ' || control_id || ' ' || segment FROM rejects"),
        ["2 7 BAD1 PID-3"]
    );
}

#[test]
fn garbage_is_quarantined_with_a_reason_and_the_rest_of_the_replay_lands() {
    let ws = Workspace::new();
    let (day1, _) = two_days(&ws);
    let garbage = ws.path("exports/day1/garbage.hl7");
    std::fs::write(&garbage, [0u8, 159, 146, 150, 1, 2, 3, b'x', b'y']).expect("garbage");
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("2 ingested · 0 with rejects · 0 duplicate · 1 quarantined"), "{out}");
    assert!(out.contains("garbage.hl7: quarantined: not a recognised export"), "{out}");
    let report = std::fs::read_to_string(ws.path("data/quarantine/ward/garbage.hl7.error.txt")).expect("error.txt");
    assert!(report.contains("not a recognised export"), "{report}");
    assert!(report.contains(&garbage.display().to_string()), "{report}");
    assert!(garbage.exists() && day1.exists(), "replay never moves its inputs");
    // The quarantined file's ledger row names its copy in quarantine, not "replayed in place".
    assert_eq!(
        ws.query_strings("SELECT status || ' ' || disposition FROM source_files ORDER BY status, id"),
        [
            "ingested replayed in place".to_string(),
            "ingested replayed in place".to_string(),
            format!("quarantined {}", ws.path("data/quarantine/ward/garbage.hl7").display()),
        ]
    );
}

/// Enough files under `exports/` that a replay takes a while: 60 ORU batches of 40 messages.
fn many_results(ws: &Workspace) {
    for f in 0..60 {
        let messages: Vec<String> = (0..40)
            .map(|m| {
                let mrn = format!("MRN{:03}", m % 25);
                let results: Vec<(String, String)> =
                    (0..8).map(|k| (format!("{}-{k}", 1000 + k), format!("{}.{}", f, m))).collect();
                let refs: Vec<(&str, &str, &str, &str)> =
                    results.iter().map(|(c, v)| (c.as_str(), v.as_str(), "mmol/L", "")).collect();
                hl7::oru(
                    &format!("F{f}M{m}"),
                    &format!("202611{:02}{:02}0000", 1 + f / 24, f % 24),
                    &mrn,
                    &format!("ORD{f}-{m}"),
                    &refs,
                )
            })
            .collect();
        write(
            &ws.path(&format!("exports/f{f:03}.hl7")),
            &hl7::batch(&format!("202611{:02}{:02}0000-0600", 1 + f / 24, f % 24), &messages),
        );
    }
}

/// The snapshot an uninterrupted replay of `ws`'s exports makes, in a workspace of its own.
fn clean_replay(ws: &Workspace) -> Vec<String> {
    let clean = Workspace::new();
    let (code, out) = clean.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    dump(&clean.db())
}

/// An interrupted replay of [`many_results`] left no half file: each file in the ledger has all
/// its results (8 per message), and no result belongs to a file that is not in it.
fn assert_no_half_file(ws: &Workspace) {
    let half = ws.query_i64(
        "SELECT count(*) FROM source_files f
         WHERE (SELECT count(*) FROM observations o WHERE o.source_file_id = f.id) != 8 * f.messages",
    );
    assert_eq!(half, 0);
    let stray = ws.query_i64(
        "SELECT (SELECT count(*) FROM observations) - (SELECT ifnull(8 * sum(messages), 0) FROM source_files)",
    );
    assert_eq!(stray, 0);
}

/// Replaying the same exports again finishes the job: the snapshot equals a clean replay's.
fn assert_the_next_replay_completes(ws: &Workspace, expected: &[String]) {
    let (code, out) = ws.replay(&[&ws.path("exports")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(dump(&ws.db()), expected);
}

#[test]
fn sigterm_during_a_replay_rolls_back_the_file_in_hand_exits_1_and_the_next_replay_completes_it() {
    let ws = Workspace::new();
    many_results(&ws);
    let expected = clean_replay(&ws);

    let mut interrupted = false;
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(ws.path("data"));
        let mut child = ws.spawn_replay(&ws.path("exports"));
        // The signal goes once the first file is in (not after a fixed time: on a loaded machine
        // the replay may not have started writing yet). The snapshot may be mid-creation: a
        // failed look is "not yet".
        let ingested = || {
            let db = ws.db();
            let open = db
                .exists()
                .then(|| rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY));
            let count = open.and_then(Result::ok).and_then(|c| {
                c.query_row("SELECT count(*) FROM source_files WHERE status = 'ingested'", [], |r| r.get::<_, i64>(0))
                    .ok()
            });
            count.is_some_and(|n| n >= 1)
        };
        let started = std::time::Instant::now();
        while !ingested() && child.try_wait().expect("try_wait").is_none() && started.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().expect("try_wait").is_some() {
            continue; // finished before the signal: try again
        }
        let sent = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        assert!(sent.expect("kill").success());
        let status = child.wait().expect("reap");
        if !ws.has_schema() {
            continue;
        }
        let done = ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'");
        if (1..60).contains(&done) {
            assert_eq!(status.code(), Some(1), "an interrupted replay exits 1 (done {done} of 60)");
            interrupted = true;
            break;
        }
    }
    assert!(interrupted, "no replay was caught mid-way");
    assert_no_half_file(&ws);
    assert_the_next_replay_completes(&ws, &expected);
}

#[test]
fn kill_9_during_a_replay_then_a_restart_equals_a_clean_replay() {
    let ws = Workspace::new();
    many_results(&ws);
    let expected = clean_replay(&ws);

    let mut kills = 0;
    let mut killed_midway = 0;
    for delay_ms in [150u64, 300, 450, 600, 800, 1000, 1300] {
        let mut child = ws.spawn_replay(&ws.path("exports"));
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("kill -9");
            kills += 1;
        }
        child.wait().expect("reap");
        // Whatever was interrupted left no trace. (A kill before the migrations ran leaves a
        // snapshot file without tables: nothing to check.)
        if ws.has_schema() {
            assert_no_half_file(&ws);
            let done = ws.query_i64("SELECT count(DISTINCT sha256) FROM source_files WHERE status = 'ingested'");
            if (1..60).contains(&done) {
                killed_midway += 1;
            }
        }
    }
    eprintln!("replay killed {kills} times, {killed_midway} of them with part of the files in");
    assert!(kills >= 2 && killed_midway >= 1, "the replay finished too fast to be interrupted ({kills} kills)");
    assert_the_next_replay_completes(&ws, &expected);
}

#[test]
fn status_reports_each_source() {
    let ws = Workspace::new();
    two_days(&ws);
    std::fs::write(ws.path("exports/junk.txt"), "hello").expect("junk");
    assert_eq!(ws.replay(&[&ws.path("exports")]).0, 3);
    let out = ws.ingest(&["status", "--json"]);
    assert!(out.status.success());
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ward = &status["sources"][0];
    assert_eq!(ward["name"], "ward");
    assert_eq!(ward["last_export_at"], "2026-11-24T11:00:00Z");
    assert_eq!(ward["files"]["ingested"], 2);
    assert_eq!(ward["files"]["quarantined"], 1);
    assert_eq!(ward["quarantined"][0]["error"].as_str().map(|e| e.starts_with("not a recognised export")), Some(true));
    assert_eq!(status["counts"]["patients"], 2);

    let text = ws.ingest(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("source ward"), "{text}");
    assert!(!text.contains('\x1b'), "not a terminal, so no colour: {text}");
    // The source's row: 2 ingested, 0 with rejects, 0 duplicates, 1 quarantined; then the quarantine.
    let row = text.lines().find(|l| l.starts_with("| ward")).unwrap_or_else(|| panic!("no row for ward: {text}"));
    assert!(row.contains(" 2/0/0/1 "), "{row}");
    let junk = text.lines().find(|l| l.contains("junk.txt")).unwrap_or_else(|| panic!("junk.txt not listed: {text}"));
    assert!(junk.contains("not a recognised export"), "{junk}");
}

#[test]
fn configuration_errors_name_the_file_and_the_key_and_exit_2() {
    let ws = Workspace::with_source_options("after_ingest = \"shred\"");
    let stderr = ws.config_error();
    assert!(stderr.contains(&format!("{}: source[0].after_ingest", ws.config().display())), "{stderr}");

    let ok = Workspace::new();
    let out = ok.ingest(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("source ward: folder"));

    // The documented example configuration stays valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ingest.toml");
    let out = Command::new(crate::util::bin()).arg("--config").arg(&example).arg("check-config").output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("roles: clinician, operations, pharmacy"), "{stdout}");
}

#[test]
fn the_bundled_sample_exports_replay_with_built_in_defaults_to_the_documented_figures() {
    // The README's first command, from a fresh directory with no configuration at all.
    let cwd = tempfile::tempdir().expect("tempdir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-exports");
    let run = || {
        Command::new(crate::util::bin())
            .arg("--replay")
            .arg(&samples)
            .env_remove("INGEST_CONFIG")
            .env_remove("STATE_DIRECTORY")
            .current_dir(cwd.path())
            .output()
            .expect("run")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("snapshot: ingest-data/snapshot.db"), "{stdout}");
    assert!(
        stdout.contains("files: 18 found · 18 ingested · 0 with rejects · 0 duplicate · 0 quarantined"),
        "{stdout}"
    );
    // Figures from sample-exports/README.md.
    assert!(stdout.contains("21 patients (19 on the panel) · 500 results (102 abnormal)"), "{stdout}");
    assert!(stdout.contains("34 medication orders · 39 problems · 15 allergies · 15 documents"), "{stdout}");

    let db = cwd.path().join("ingest-data/snapshot.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let one = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        one("SELECT value || ' ' || abnormal_flag || ' ' || status FROM observations o JOIN patients p ON p.id = o.patient_id
             WHERE p.mrn = 'MRN57552' AND o.code = '2524-7' AND o.order_id = 'F100288'"),
        "1.6 N C"
    );
    assert_eq!(
        one("SELECT group_concat(mrn, ',') FROM (SELECT p.mrn FROM panel x JOIN patients p ON p.id = x.patient_id
             WHERE x.active = 0 ORDER BY p.mrn)"),
        "MRN10036,MRN64274"
    );
    assert_eq!(
        one("SELECT location FROM panel x JOIN patients p ON p.id = x.patient_id WHERE p.mrn = 'MRN21426'"),
        "5W-520-B"
    );
    assert_eq!(
        one("SELECT location FROM panel x JOIN patients p ON p.id = x.patient_id WHERE p.mrn = 'MRN00238'"),
        "5W-508-B"
    );
    assert_eq!(
        one("SELECT attending FROM panel x JOIN patients p ON p.id = x.patient_id WHERE p.mrn = 'MRN61070'"),
        "Castellanos, Ines"
    );
    // The CSV reports and the PDF named by the documents manifest. Their times carry no offset:
    // with the built-in defaults they are read in the host's zone.
    let local = |t: &str| {
        let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").expect("time");
        let utc = naive.and_local_timezone(chrono::Local).earliest().expect("local time").to_utc();
        utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    assert_eq!(
        one("SELECT m.status || ' ' || m.route || ' ' || m.frequency FROM medications m
             JOIN patients p ON p.id = m.patient_id WHERE p.mrn = 'MRN61070' AND m.order_id = 'P700507'"),
        "held SC Q8H"
    );
    assert_eq!(
        one("SELECT x.status || ' ' || x.resolved_at FROM problems x JOIN patients p ON p.id = x.patient_id
             WHERE p.mrn = 'MRN61070' AND x.code = 'I95.1'"),
        format!("resolved {}", local("2026-11-23 00:00"))
    );
    assert_eq!(
        one("SELECT a.reaction FROM allergies a JOIN patients p ON p.id = a.patient_id
             WHERE p.mrn = 'MRN88197' AND a.allergen = 'Codeine'"),
        "Nausea, vomiting"
    );
    assert_eq!(
        one("SELECT p.mrn || ' | ' || d.doc_type || ' | ' || d.authored_at || ' | ' || d.exported_at FROM documents d
             JOIN patients p ON p.id = d.patient_id WHERE d.title = 'Discharge summary, Riverside Community Hospital'"),
        format!("MRN88616 | Discharge Summary | {} | {}", local("2026-10-02 14:20"), local("2026-11-24 05:00"))
    );

    let again = run();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 ingested · 0 with rejects · 18 duplicate"));
}

#[test]
fn a_non_utf8_file_without_msh18_is_read_in_the_configured_default_charset() {
    let message = |family: &[u8]| {
        let mut bytes =
            b"MSH|^~\\&|EHR|GENHOSP|||20261124050000||ADT^A28|C1|P|2.5.1\rPID|1||MRN1^^^GENHOSP^MR||".to_vec();
        bytes.extend_from_slice(family);
        bytes.extend_from_slice(b"^Anna\r");
        bytes
    };
    for (charset_line, expected) in [("", "Krz\u{b9}"), ("[hl7]\ndefault_charset = \"windows-1250\"\n", "Krz\u{105}")] {
        let ws = Workspace::with_config("", charset_line);
        let file = ws.path("exports/latin.hl7");
        std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
        std::fs::write(&file, message(b"Krz\xb9")).expect("write");
        let (code, out) = ws.replay(&[&file]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(ws.query_strings("SELECT family_name FROM patients"), [expected], "{charset_line}");
    }
}
