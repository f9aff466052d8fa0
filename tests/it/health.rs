//! Source health, against a real OpenSSH sshd on 127.0.0.1: a remote file that changes after its
//! download while its run is held replaces the staged copy (the run is never wedged); a held run
//! survives a restart, is shown in every view and alerts past its limit; a refused host key makes
//! the source FAILING in `ingest status`, `/status`, `/metrics` and `snapshot_status`, with an alert
//! when it starts and when it ends; `check-config` checks and probes an SFTP source; a folder
//! source says what it does not take and when its folder is gone.

use crate::mcp_http::{HttpDaemon, OPERATIONS, mcp_tables};
use crate::mcp_stdio::call;
use crate::sftp::{settings, whoami};
use crate::sshd::Sshd;
use crate::util::{LIMIT, Workspace, hl7, mcp::answer, raw, wait_for};
use ingest_config::RemoteAfter;
use ingest_pipeline::source::sftp::Poller;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn adt(mrn: &str) -> String {
    hl7::batch(
        "20261124050000-0600",
        &[hl7::adt("A01", &format!("H-{mrn}"), "20261124050000", mrn, "Health", "5W^501^A")],
    )
}

/// An SFTP source `ehr` polled every second, with `extra` in its `[[source]]` table, alerts
/// appended as JSON lines to `alerts.jsonl`, and MCP over HTTP with the test tokens.
fn sftp_workspace(sshd: &Sshd, known_hosts: &Path, extra: &str) -> Workspace {
    let ws = Workspace::new();
    let alerts = ws.path("alerts.jsonl");
    std::fs::write(
        ws.config(),
        format!(
            "data_dir = \"data\"\ntime_zone = \"America/Chicago\"\n\n[[source]]\nname = \"ehr\"\nkind = \"sftp\"\n\
             poll = \"* * * * * *\"\nsettle = \"600ms\"\nrescan_interval = \"1s\"\n{extra}\n\n[source.sftp]\n\
             host = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\npassphrase_file = \"{}\"\n\
             known_hosts = \"{}\"\nremote_dir = \"{}\"\ntimeout = \"5s\"\n\n\
             [alerts]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> \\\"$0\\\"; echo >> \\\"$0\\\"\", \"{}\"]\n\
             retries = 0\n\n[retention]\nenabled = false\n\n{}",
            sshd.port,
            whoami(),
            sshd.client_key.display(),
            sshd.passphrase_file.display(),
            known_hosts.display(),
            sshd.remote.display(),
            alerts.display(),
            mcp_tables(""),
        ),
    )
    .expect("config");
    ws
}

/// The alerts delivered so far, by event name.
fn alert_events(ws: &Workspace) -> Vec<String> {
    std::fs::read_to_string(ws.path("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("an alert")["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn status(ws: &Workspace) -> Value {
    let out = ws.ingest(&["status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

fn source<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["sources"].as_array().and_then(|s| s.iter().find(|s| s["name"] == name)).expect("the source")
}

fn status_text(ws: &Workspace) -> String {
    String::from_utf8_lossy(&ws.ingest(&["status"]).stdout).into_owned()
}

fn get(daemon: &HttpDaemon, path: &str) -> String {
    let (code, body) = raw(daemon.authority(), "GET", path, &[("Authorization", &format!("Bearer {OPERATIONS}"))], "");
    assert_eq!(code, 200, "{path}: {body}");
    body
}

fn snapshot_status(ws: &Workspace) -> Value {
    answer(&call(ws, json!([{"tool": "snapshot_status", "args": {}}]))[0]).clone()
}

/// Set `path`'s modification time `seconds` past now: a later write as the server lists it, without
/// waiting for the clock.
fn later_mtime(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).expect("open");
    file.set_modified(std::time::SystemTime::now() + Duration::from_secs(seconds)).expect("set the mtime");
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_remote_file_changed_after_its_download_replaces_the_held_copy_and_the_run_is_not_wedged() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = ingest_store::open_writer(&dir.path().join("snapshot.db")).expect("snapshot");
    let staging: PathBuf = dir.path().join("staging");
    let config = settings(&sshd, RemoteAfter::None);
    let marker = globset::Glob::new("EXPORT_COMPLETE").expect("glob").compile_matcher();
    let mut poller = Poller::new("ehr", config, staging.clone()).with_run_marker(Some(marker));
    let wants = |n: &str| n.ends_with(".hl7") || n == "EXPORT_COMPLETE";
    let mut poll = || poller.poll(&ledger, &wants, chrono::Utc::now(), &|| false).expect("poll");
    let remote = sshd.remote.join("ADT_20261124.hl7");
    let whole = format!("{}{}", adt("M1"), adt("M2"));
    let half = &whole[..whole.len() / 2];

    // Half the file is written and stays still for two listings: it is downloaded and held.
    std::fs::write(&remote, half).expect("half");
    poll();
    assert_eq!(poll().staged, [staging.join("ADT_20261124.hl7")]);
    // The exporter writes the rest (later: another mtime, which SFTP lists in whole seconds) and
    // then the run marker.
    std::fs::write(&remote, &whole).expect("whole");
    later_mtime(&remote, 2);
    std::fs::write(sshd.remote.join("EXPORT_COMPLETE"), "").expect("marker");
    let changing = poll();
    assert!(changing.staged.is_empty(), "{changing:?}");
    // Stable again: the held copy is replaced, and with nothing of the run left behind, the
    // marker is staged in the same poll.
    let report = poll();
    assert_eq!(report.replaced, ["ADT_20261124.hl7"], "{report:?}");
    assert_eq!(report.staged, [staging.join("ADT_20261124.hl7"), staging.join("EXPORT_COMPLETE")]);
    assert!(report.summary().contains("1 staged copy replaced (the remote file changed)"), "{}", report.summary());
    assert_eq!(std::fs::read_to_string(staging.join("ADT_20261124.hl7")).expect("staged"), whole, "the final version");
    let sql = rusqlite::Connection::open(dir.path().join("snapshot.db")).expect("the test's connection");
    let sizes: Vec<i64> = sql
        .prepare("SELECT size FROM remote_files WHERE remote_path = 'ADT_20261124.hl7' ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(sizes, [half.len() as i64, whole.len() as i64], "both downloads are in the ledger");

    // Once the run is published (the staged files taken away), a changed remote file is a new file:
    // downloaded again, not a replacement, and its marker (known already) is not staged again.
    std::fs::remove_file(staging.join("ADT_20261124.hl7")).expect("published");
    std::fs::remove_file(staging.join("EXPORT_COMPLETE")).expect("published");
    std::fs::write(&remote, format!("{whole}{}", adt("M3"))).expect("changed again");
    later_mtime(&remote, 4);
    poll();
    let report = poll();
    assert!(report.replaced.is_empty(), "{report:?}");
    assert_eq!(report.staged, [staging.join("ADT_20261124.hl7")]);
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_held_run_survives_a_restart_shows_in_every_view_and_alerts_once_past_its_limit() {
    let sshd = Sshd::start();
    std::fs::write(sshd.remote.join("ADT_20261124.hl7"), adt("M1")).expect("remote file");
    let ws = sftp_workspace(&sshd, &sshd.known_hosts, "run_marker = \"EXPORT_COMPLETE\"\nhold_limit = \"3s\"");
    let daemon = HttpDaemon::start(&ws);
    wait_for("the file to be staged and held", LIMIT, || source(&status(&ws), "ehr")["health"]["held"]["files"] == 1);
    let held = source(&status(&ws), "ehr").clone();
    assert_eq!(held["health"]["held"]["marker"], "EXPORT_COMPLETE", "{held}");
    assert_eq!(held["health"]["held"]["run"], ".", "{held}");
    let text = status_text(&ws);
    assert!(text.contains("HELD: 1 file(s) of the export run in . staged since"), "{text}");
    assert!(text.contains("waiting for its marker EXPORT_COMPLETE"), "{text}");
    let row = text.lines().find(|l| l.starts_with("| ehr")).unwrap_or_else(|| panic!("no row: {text}"));
    assert!(row.contains("HELD"), "{row}");
    let metrics = get(&daemon, "/metrics");
    assert!(metrics.contains("ingest_source_held_files{source=\"ehr\"} 1"), "{metrics}");
    assert!(metrics.contains("ingest_source_held_age_seconds{source=\"ehr\"}"), "{metrics}");
    let page = get(&daemon, "/status");
    assert!(page.contains("HELD: ehr") && page.contains("data-held=\"true\""), "{page}");
    let snapshot = snapshot_status(&ws);
    let problems = snapshot["sources"][0]["health_problems"].to_string();
    assert!(
        problems.contains("HELD: 1 file(s) of an export run") && problems.contains("not in the snapshot yet"),
        "{problems}"
    );
    assert!(!problems.contains("ADT_"), "no file names for the assistant: {problems}");

    wait_for("the held-run alert", LIMIT, || alert_events(&ws).contains(&"held".to_string()));
    assert!(status_text(&ws).contains("over the 3 s hold limit"));
    assert_eq!(daemon.terminate(), Some(0));

    // Restarted: the staged file is held again (not lost, not published alone, not alerted twice)
    // and published with its marker.
    let daemon = HttpDaemon::start(&ws);
    wait_for("the held file to be seen again", LIMIT, || source(&status(&ws), "ehr")["health"]["held"]["files"] == 1);
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files"), 0, "nothing published without the marker");
    std::fs::write(sshd.remote.join("EXPORT_COMPLETE"), "").expect("marker");
    wait_for("the run to be published", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'") == 1
    });
    assert_eq!(ws.query_strings("SELECT mrn FROM patients"), ["M1"]);
    wait_for("the held state to clear", LIMIT, || source(&status(&ws), "ehr")["health"]["held"].is_null());
    assert_eq!(alert_events(&ws).iter().filter(|e| *e == "held").count(), 1, "{:?}", alert_events(&ws));
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_changed_host_key_makes_the_source_failing_in_every_view_with_an_alert_when_it_starts_and_ends() {
    let sshd = Sshd::start();
    let known_hosts = sshd.dir.path().join("known_hosts.ingest");
    std::fs::copy(sshd.wrong_known_hosts(), &known_hosts).expect("the wrong key");
    let ws = sftp_workspace(&sshd, &known_hosts, "expected = \"0 5 * * *\"\ngrace = \"45m\"");
    // 05:46 Chicago: this morning's export is past its deadline.
    ws.set_clock("2026-11-24T11:46:00Z");
    let daemon = HttpDaemon::start(&ws);
    wait_for("the source to be failing", LIMIT, || source(&status(&ws), "ehr")["up"] == false);
    let ehr = source(&status(&ws), "ehr").clone();
    assert_eq!(ehr["health"]["failing"]["kind"], "host_key_changed", "{ehr}");
    assert_eq!(ehr["health"]["failing"]["since"], "2026-11-24T11:46:00Z", "{ehr}");
    assert!(ehr["health"]["errors"]["host_key_changed"].as_i64().is_some_and(|n| n >= 1), "{ehr}");
    let reason = ehr["stale_reason"].as_str().expect("stale");
    assert!(reason.ends_with("; the SFTP server's host key changed at 2026-11-24 05:46 CST"), "{reason}");
    let text = status_text(&ws);
    assert!(text.contains("FAILING since 2026-11-24 05:46 CST"), "{text}");
    assert!(text.contains("HOST KEY CHANGED") && text.contains(&sshd.fingerprint), "what to do: {text}");
    assert!(text.contains("no poll has worked yet"), "{text}");
    let metrics = get(&daemon, "/metrics");
    assert!(metrics.contains("ingest_source_up{source=\"ehr\"} 0"), "{metrics}");
    assert!(metrics.contains("ingest_source_errors_total{source=\"ehr\",kind=\"host_key_changed\"}"), "{metrics}");
    let page = get(&daemon, "/status");
    assert!(page.contains("FAILING: ehr") && page.contains("data-up=\"false\""), "{page}");
    let snapshot = snapshot_status(&ws);
    assert_eq!(snapshot["snapshot"]["stale"], true);
    assert!(
        snapshot["snapshot"]["stale_reasons"][0].as_str().is_some_and(|r| r.contains("host key changed")),
        "{snapshot}"
    );
    assert!(
        snapshot["sources"][0]["health_problems"][0].as_str().is_some_and(|p| p.starts_with("FAILING since")),
        "{snapshot}"
    );

    // The EHR's administrators confirm the key; the right one goes in.
    std::fs::copy(&sshd.known_hosts, &known_hosts).expect("the right key");
    wait_for("the source to work again", LIMIT, || source(&status(&ws), "ehr")["up"] == true);
    wait_for("the alerts", LIMIT, || alert_events(&ws).contains(&"working".to_string()));
    let events = alert_events(&ws);
    assert_eq!(events.iter().filter(|e| *e == "failing").count(), 1, "one alert per spell, not per poll: {events:?}");
    assert_eq!(events.iter().filter(|e| *e == "working").count(), 1, "{events:?}");
    assert!(get(&daemon, "/metrics").contains("ingest_source_up{source=\"ehr\"} 1"));
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn check_config_checks_describes_and_probes_an_sftp_source() {
    let sshd = Sshd::start();
    std::fs::write(sshd.remote.join("ADT_20261124.hl7"), adt("M1")).expect("remote file");
    std::fs::write(sshd.remote.join("README.docx"), "not an export").expect("another file");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&sshd.passphrase_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let ws =
        sftp_workspace(&sshd, &sshd.known_hosts, "expected = \"0 5 * * *\"\ngrace = \"45m\"\nrun_marker = \"DONE\"");
    ws.set_clock("2026-11-24T10:00:00Z");
    let run = |args: &[&str]| {
        let out = ws.ingest(args);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = run(&["check-config"]);
    assert_eq!(code, Some(0), "{text}");
    let server = format!("SFTP sftp://{}@127.0.0.1:{}{}", whoami(), sshd.port, sshd.remote.display());
    assert!(text.contains(&server), "{text}");
    assert!(text.contains(&format!("known_hosts {}", sshd.known_hosts.display())), "{text}");
    assert!(text.contains("poll \"* * * * * *\""), "{text}");
    assert!(text.contains("expected \"0 5 * * *\" (cron, America/Chicago) with grace 45 min: next at 2026-11-24 05:00 CST, stale if none by 2026-11-24 05:45 CST"), "{text}");
    assert!(text.contains("files wait for the marker \"DONE\", alert after 1 h held"), "{text}");
    assert!(text.contains("sftp.key_file") && text.contains("is readable and private"), "{text}");
    assert!(text.contains(&format!("has ssh-ed25519 for [127.0.0.1]:{}", sshd.port)), "{text}");

    let (code, text) = run(&["check-config", "--probe"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&sshd.fingerprint) && text.contains("login worked"), "{text}");
    assert!(text.contains("the folder lists 2 file(s), 1 of them taken by this source"), "{text}");

    // The wrong key in known_hosts: the file names the host, so only the probe finds it.
    let good = std::fs::read(&sshd.known_hosts).expect("known_hosts");
    std::fs::copy(sshd.wrong_known_hosts(), &sshd.known_hosts).expect("wrong key");
    let (code, text) = run(&["check-config", "--probe"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("probe failed (host_key_changed)") && text.contains(&sshd.fingerprint), "{text}");
    std::fs::write(&sshd.known_hosts, good).expect("restore");

    // Files that are not there, a key others can read, a server known_hosts does not name.
    let config = std::fs::read_to_string(ws.config()).expect("config");
    let broken = config.replace(&sshd.client_key.display().to_string(), "/nonexistent/id_ed25519");
    std::fs::write(ws.config(), &broken).expect("config");
    let (code, text) = run(&["check-config"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("ERROR: source ehr: sftp.key_file /nonexistent/id_ed25519: No such file"), "{text}");
    assert!(text.contains("configuration NOT OK: 1 error(s)"), "{text}");
    let open_key = ws.path("open_key");
    std::fs::copy(&sshd.client_key, &open_key).expect("copy");
    std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let empty_hosts = ws.path("known_hosts.empty");
    std::fs::write(&empty_hosts, "# nothing\n").expect("known_hosts");
    let broken = config
        .replace(&sshd.client_key.display().to_string(), &open_key.display().to_string())
        .replace(&sshd.known_hosts.display().to_string(), &empty_hosts.display().to_string());
    std::fs::write(ws.config(), &broken).expect("config");
    let (code, text) = run(&["check-config"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("can be read by anyone on the host (mode 644)"), "{text}");
    assert!(
        text.contains(&format!("has no key for [127.0.0.1]:{}", sshd.port)) && text.contains("ssh-keyscan"),
        "{text}"
    );
}

#[test]
fn a_folder_source_says_what_it_does_not_take_and_fails_while_its_folder_is_gone() {
    let ws = Workspace::with_config("", &format!("{}\n[alerts]\nretries = 0\n", mcp_tables("")));
    std::fs::write(ws.path("drop/notes.docx"), "a document someone left").expect("untaken");
    std::fs::write(ws.path("drop/ADT.hl7"), adt("M1")).expect("export");
    let daemon = HttpDaemon::start(&ws);
    wait_for("the export to go in", LIMIT, || ws.query_i64("SELECT count(*) FROM patients") == 1);
    wait_for("the untaken file to be reported", LIMIT, || {
        source(&status(&ws), "ward")["health"]["untaken"]["files"] == 1
    });
    let text = status_text(&ws);
    assert!(text.contains("NOT TAKEN: 1 file(s) match no include pattern, e.g. notes.docx"), "{text}");
    assert!(text.contains("last scan") && text.contains("1 not taken (no include pattern)"), "{text}");
    let page = get(&daemon, "/status");
    assert!(page.contains("NOT TAKEN: 1 file(s)") && !page.contains("notes.docx"), "names are masked for operations");
    assert!(get(&daemon, "/metrics").contains("ingest_source_untaken_files{source=\"ward\"} 1"));
    assert!(snapshot_status(&ws)["sources"][0].get("health_problems").is_none(), "nothing for the assistant");

    // This morning's file arrives broken: the source is not "all current", it is broken.
    std::fs::write(ws.path("drop/ADT_broken.hl7"), "").expect("an empty export");
    wait_for("the file to be quarantined", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'quarantined'") == 1
    });
    let text = status_text(&ws);
    assert!(text.contains("QUARANTINED: 1 file(s) received in the last 24 h did not go in"), "{text}");
    let row = text.lines().find(|l| l.starts_with("| ward")).unwrap_or_else(|| panic!("no row: {text}"));
    assert!(row.contains("QUARANTINED"), "{row}");
    let page = get(&daemon, "/status");
    assert!(page.contains("QUARANTINED: ward") && !page.contains("current and reachable"), "{page}");
    let problems = snapshot_status(&ws)["sources"][0]["health_problems"].to_string();
    assert!(problems.contains("QUARANTINED: 1 file(s)") && !problems.contains("ADT_broken"), "{problems}");
    // Rescanned every second since: the untaken file was logged once.
    let log = daemon.log_text();
    assert_eq!(log.matches("file matches no include pattern").count(), 1, "{log}");
    assert!(log.contains("file=notes.docx"), "{log}");

    // The share goes away (unmounted, renamed): the source is failing, and says so.
    std::fs::rename(ws.path("drop"), ws.path("drop.gone")).expect("rename");
    wait_for("the source to be failing", LIMIT, || source(&status(&ws), "ward")["up"] == false);
    let ward = source(&status(&ws), "ward").clone();
    assert_eq!(ward["health"]["failing"]["kind"], "not_found", "{ward}");
    assert!(daemon.log_text().contains("alert=\"failing\""), "{}", daemon.log_text());
    std::fs::rename(ws.path("drop.gone"), ws.path("drop")).expect("back");
    wait_for("the source to work again", LIMIT, || source(&status(&ws), "ward")["up"] == true);
    assert!(daemon.log_text().contains("alert=\"working\""));
    assert_eq!(daemon.terminate(), Some(0));
}
