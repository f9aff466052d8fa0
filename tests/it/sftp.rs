//! SFTP sources against a real OpenSSH sshd on 127.0.0.1: the daemon fetches, stages and ingests
//! an export and deletes it on the server; a restart downloads nothing twice; host keys are
//! checked; a growing file waits; a cut connection leaves nothing partial; unsafe names are refused.

use crate::sshd::Sshd;
use crate::util::{Daemon, LIMIT, Workspace, hl7, wait_for};
use ingest_config::{Passphrase, RemoteAfter, SftpConfig};
use ingest_pipeline::source::sftp::{PollReport, Poller, SftpError};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

pub fn settings(sshd: &Sshd, after: RemoteAfter) -> SftpConfig {
    SftpConfig {
        host: "127.0.0.1".into(),
        port: sshd.port,
        user: whoami(),
        key_file: sshd.client_key.clone(),
        passphrase: Passphrase::File(sshd.passphrase_file.clone()),
        known_hosts: sshd.known_hosts.clone(),
        remote_dir: sshd.remote.display().to_string(),
        recursive: false,
        after,
        timeout: Duration::from_secs(5),
    }
}

pub fn whoami() -> String {
    let out = std::process::Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A poller on its own staging folder and ledger (a snapshot file in a temp dir).
struct Bench {
    dir: tempfile::TempDir,
    poller: Poller,
    ledger: ingest_store::Writer,
}

impl Bench {
    fn new(config: SftpConfig) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = ingest_store::open_writer(&dir.path().join("snapshot.db")).expect("snapshot");
        let poller = Poller::new("ehr", config, dir.path().join("staging"));
        Bench { dir, poller, ledger }
    }

    fn poll(&mut self) -> Result<PollReport, SftpError> {
        self.poller.poll(&self.ledger, &|name| name.ends_with(".hl7"), chrono::Utc::now(), &|| false)
    }

    fn staging(&self) -> PathBuf {
        self.dir.path().join("staging")
    }

    /// Every name in the staging folder, hidden ones too.
    fn staged_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.staging())
            .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn adt_file(mrn: &str) -> String {
    hl7::batch(
        "20261124050000-0600",
        &[hl7::adt("A01", &format!("S-{mrn}"), "20261124050000", mrn, "Remote", "5W^501^A")],
    )
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn the_daemon_fetches_stages_and_ingests_an_export_then_deletes_it_on_the_server() {
    let sshd = Sshd::start();
    let content = adt_file("M1");
    std::fs::write(sshd.remote.join("ADT_20261124.hl7"), &content).expect("remote file");
    let ws = Workspace::new();
    std::fs::write(
        ws.config(),
        format!(
            "data_dir = \"data\"\ntime_zone = \"America/Chicago\"\n\n[[source]]\nname = \"ehr\"\nkind = \"sftp\"\n\
             poll = \"* * * * * *\"\nsettle = \"600ms\"\nrescan_interval = \"1s\"\n\n[source.sftp]\n\
             host = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\npassphrase_file = \"{}\"\n\
             known_hosts = \"{}\"\nremote_dir = \"{}\"\nafter = \"delete\"\ntimeout = \"5s\"\n\n[mcp]\nport = 0\n",
            sshd.port,
            whoami(),
            sshd.client_key.display(),
            sshd.passphrase_file.display(),
            sshd.known_hosts.display(),
            sshd.remote.display()
        ),
    )
    .expect("config");
    let mut daemon = Daemon::start(&ws);
    wait_for("the export to be ingested", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM source_files WHERE source = 'ehr' AND status = 'ingested'") == 1
    });
    assert_eq!(ws.query_strings("SELECT mrn FROM patients"), ["M1"]);
    wait_for("the remote file to be deleted", LIMIT, || !sshd.remote.join("ADT_20261124.hl7").exists());
    assert_eq!(
        ws.query_strings("SELECT remote_path || ' ' || sha256 || ' ' || after_action FROM remote_files"),
        [format!("ADT_20261124.hl7 {} deleted", sha256_hex(content.as_bytes()))]
    );
    assert_eq!(
        ws.query_strings("SELECT sha256 FROM source_files"),
        [sha256_hex(content.as_bytes())],
        "the staged file is the remote file, byte for byte"
    );
    wait_for("the staged file archived", LIMIT, || {
        std::fs::read_dir(ws.path("data/staging/ehr")).map(|d| d.count()).unwrap_or(0) == 0
    });
    assert!(daemon.alive());
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_restart_downloads_nothing_twice_and_the_passphrase_comes_from_a_file() {
    let sshd = Sshd::start();
    std::fs::write(sshd.remote.join("ADT_20261124.hl7"), adt_file("M1")).expect("remote file");
    let mut first = Bench::new(settings(&sshd, RemoteAfter::None));
    assert_eq!(first.poll().expect("poll 1").staged.len(), 0, "the first listing only notes the file");
    let report = first.poll().expect("poll 2");
    assert_eq!(report.staged, [first.staging().join("ADT_20261124.hl7")]);
    assert!(sshd.remote.join("ADT_20261124.hl7").exists(), "after = none leaves it");
    // The staged file was taken (archived) by the pipeline; then the daemon restarts.
    std::fs::remove_file(first.staging().join("ADT_20261124.hl7")).expect("taken");
    // A new process: a new poller (no memory of listings) and a new connection to the same ledger.
    let ledger = ingest_store::open_writer(&first.dir.path().join("snapshot.db")).expect("reopen");
    let mut again = Poller::new("ehr", settings(&sshd, RemoteAfter::None), first.staging());
    for _ in 0..3 {
        let report = again.poll(&ledger, &|n| n.ends_with(".hl7"), chrono::Utc::now(), &|| false).expect("poll");
        assert!(report.staged.is_empty(), "{report:?}");
    }
    assert!(first.staged_names().is_empty());
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn an_unknown_or_changed_host_key_refuses_the_connection_and_shows_the_fingerprint() {
    let sshd = Sshd::start();
    let mut changed = settings(&sshd, RemoteAfter::None);
    changed.known_hosts = sshd.wrong_known_hosts();
    let error = Bench::new(changed).poll().expect_err("a changed key");
    let shown = error.to_string();
    assert!(matches!(error, SftpError::HostKeyMismatch { .. }), "{shown}");
    assert!(shown.contains("HOST KEY CHANGED") && shown.contains(&sshd.fingerprint), "{shown}");

    let mut unknown = settings(&sshd, RemoteAfter::None);
    unknown.known_hosts = sshd.dir.path().join("empty_known_hosts");
    std::fs::write(&unknown.known_hosts, "").expect("empty");
    let error = Bench::new(unknown).poll().expect_err("an unknown key");
    let shown = error.to_string();
    assert!(matches!(error, SftpError::UnknownHostKey { .. }), "{shown}");
    assert!(shown.contains(&sshd.fingerprint) && shown.contains("ssh-keyscan"), "{shown}");
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_file_still_growing_is_not_taken_until_two_listings_agree() {
    let sshd = Sshd::start();
    let path = sshd.remote.join("ORU_20261124.hl7");
    let first_half = hl7::oru("G1", "20261124040000", "M1", "O1", &[("2823-3", "4.1", "mmol/L", "N")]);
    std::fs::write(&path, &first_half).expect("write");
    let mut bench = Bench::new(settings(&sshd, RemoteAfter::None));
    assert_eq!(bench.poll().expect("poll").waiting.len(), 1);
    // The exporter appends (size and mtime change): not taken.
    let second = hl7::oru("G2", "20261124040000", "M2", "O2", &[("2823-3", "3.9", "mmol/L", "N")]);
    let whole = format!("{first_half}{second}");
    std::fs::write(&path, &whole).expect("append");
    let report = bench.poll().expect("poll");
    assert_eq!((report.staged.len(), report.waiting.len()), (0, 1), "{report:?}");
    assert!(bench.staged_names().is_empty());
    let report = bench.poll().expect("poll");
    assert_eq!(report.staged.len(), 1, "{report:?}");
    assert_eq!(std::fs::read_to_string(&report.staged[0]).expect("staged"), whole);
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_connection_cut_mid_download_leaves_nothing_partial_and_the_next_poll_takes_the_file() {
    let sshd = Sshd::start();
    // 24 MB: about a hundred 256 KB reads.
    let big: Vec<u8> = adt_file("M1").into_bytes().into_iter().cycle().take(24 << 20).collect();
    std::fs::write(sshd.remote.join("BIG.hl7"), &big).expect("remote file");
    let mut bench = Bench::new(settings(&sshd, RemoteAfter::Delete));
    bench.poll().expect("first listing");
    let reads = std::cell::Cell::new(0);
    let cut_mid_download = || {
        reads.set(reads.get() + 1);
        if reads.get() == 8 {
            sshd.kill_sessions();
        }
        false
    };
    let error = bench
        .poller
        .poll(&bench.ledger, &|n| n.ends_with(".hl7"), chrono::Utc::now(), &cut_mid_download)
        .expect_err("the connection was cut");
    assert!(matches!(error, SftpError::Transfer { .. } | SftpError::Remote { .. }), "{error}");
    assert!(bench.staged_names().is_empty(), "nothing partial, not even the temp file: {:?}", bench.staged_names());
    let sql = rusqlite::Connection::open(bench.dir.path().join("snapshot.db")).expect("the test's connection");
    assert_eq!(sql.query_row("SELECT count(*) FROM remote_files", [], |r| r.get::<_, i64>(0)).expect("n"), 0);
    assert!(sshd.remote.join("BIG.hl7").exists(), "not deleted on the server");

    let report = bench.poll().expect("the next poll");
    assert_eq!(report.staged.len(), 1, "{report:?}");
    assert_eq!(sha256_hex(&std::fs::read(&report.staged[0]).expect("staged")), sha256_hex(&big));
    assert!(!sshd.remote.join("BIG.hl7").exists(), "deleted once safely staged");
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_remote_name_that_would_leave_the_staging_folder_is_refused_and_the_rest_is_taken() {
    let sshd = Sshd::start();
    // A legal Unix file name that reads as a path elsewhere.
    std::fs::write(sshd.remote.join("..\\..\\etc\\cron.hl7"), adt_file("M9")).expect("evil name");
    std::fs::write(sshd.remote.join("ADT_20261124.hl7"), adt_file("M1")).expect("good name");
    let mut bench =
        Bench::new(settings(&sshd, RemoteAfter::Move(sshd.dir.path().join("fetched").display().to_string())));
    std::fs::create_dir_all(sshd.dir.path().join("fetched")).expect("move_to dir");
    bench.poll().expect("first listing");
    let report = bench.poll().expect("poll");
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert!(report.refused[0].1.contains("backslash"), "{report:?}");
    assert_eq!(bench.staged_names(), ["ADT_20261124.hl7"]);
    assert!(sshd.dir.path().join("fetched/ADT_20261124.hl7").exists(), "moved on the server");
    assert!(sshd.remote.join("..\\..\\etc\\cron.hl7").exists(), "the refused file is left alone");
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_run_marker_is_staged_last_and_only_once_the_rest_of_its_run_is() {
    let sshd = Sshd::start();
    let adt = sshd.remote.join("ADT_20261124.hl7");
    std::fs::write(&adt, adt_file("M1")).expect("write");
    std::fs::write(sshd.remote.join("EXPORT_COMPLETE"), "").expect("marker");
    let marker = globset::Glob::new("EXPORT_COMPLETE").expect("glob").compile_matcher();
    let config = settings(&sshd, RemoteAfter::None);
    let mut bench = Bench::new(config);
    bench.poller =
        Poller::new("ehr", settings(&sshd, RemoteAfter::None), bench.staging()).with_run_marker(Some(marker.clone()));
    let wants = |n: &str| n.ends_with(".hl7") || n == "EXPORT_COMPLETE";
    let poll =
        |bench: &mut Bench| bench.poller.poll(&bench.ledger, &wants, chrono::Utc::now(), &|| false).expect("poll");
    poll(&mut bench);
    // The exporter is still writing the ADT file: the marker, though stable, waits for it.
    std::fs::write(&adt, format!("{}{}", adt_file("M1"), adt_file("M2"))).expect("append");
    let report = poll(&mut bench);
    assert!(report.staged.is_empty(), "{report:?}");
    let report = poll(&mut bench);
    assert_eq!(report.staged, [bench.staging().join("ADT_20261124.hl7"), bench.staging().join("EXPORT_COMPLETE")]);
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: OpenSSH's sshd")]
fn a_refused_login_says_which_public_key_to_authorize_and_is_auth_refused() {
    let sshd = Sshd::start();
    std::fs::write(sshd.dir.path().join("authorized_keys"), "").expect("no key authorized");
    let error = Bench::new(settings(&sshd, RemoteAfter::None)).poll().expect_err("a refused login");
    let shown = error.to_string();
    assert!(matches!(error, SftpError::Auth { .. }), "{shown}");
    assert_eq!(error.kind(), ingest_core::health::ErrorKind::AuthRefused);
    let printed = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(sshd.client_key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    let fingerprint = String::from_utf8_lossy(&printed.stdout).split_whitespace().nth(1).expect("fp").to_string();
    assert!(shown.contains(&format!("(public key {fingerprint})")), "{shown}");
    assert!(shown.contains("Ask the EHR's SFTP administrators to authorize this public key"), "{shown}");
}
