//! The file in hand when the disk fills up, the archive's filesystem is read-only or the database
//! is locked: it rolls back (or, committed, waits for its move) in the drop folder, the error is
//! logged, the daemon keeps running, and the file goes in once the condition clears. The data folder is a small loop-mounted ext4 filesystem
//! (these tests need root, as CI has).

use crate::util::{Daemon, Workspace, hl7, wait_for};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A loop-mounted ext4 filesystem of `mb` MB at `at`, unmounted when dropped.
struct SmallFs {
    at: PathBuf,
}

impl SmallFs {
    fn mount(at: &Path, mb: u64) -> SmallFs {
        let image = at.with_extension("img");
        std::fs::File::create(&image).and_then(|f| f.set_len(mb << 20)).expect("image");
        run("mkfs.ext4", &["-q", "-F", &image.display().to_string()]);
        std::fs::create_dir_all(at).expect("mount point");
        run("mount", &["-o", "loop", &image.display().to_string(), &at.display().to_string()]);
        SmallFs { at: at.to_path_buf() }
    }

    fn remount(&self, mode: &str) {
        run("mount", &["-o", &format!("remount,{mode}"), &self.at.display().to_string()]);
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed (these tests need root and loop devices): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lab batch of about `kb` KB: enough pages that the snapshot must grow to take it.
fn labs(kb: usize) -> String {
    let per_message = 400;
    let messages: Vec<String> = (0..kb * 1024 / per_message)
        .map(|m| {
            let results: Vec<(String, String)> =
                (0..4).map(|k| (format!("{}-{k}", 1000 + k), format!("{m}.{k}"))).collect();
            let refs: Vec<(&str, &str, &str, &str)> =
                results.iter().map(|(c, v)| (c.as_str(), v.as_str(), "mmol/L", "")).collect();
            hl7::oru(&format!("D{m}"), "202611240400", &format!("MRN{:04}", m % 500), &format!("O{m}"), &refs)
        })
        .collect();
    hl7::batch("20261124050000-0600", &messages)
}

/// How long a disk test waits: each attempt on a full disk or a locked snapshot can spend the
/// store's 10 s busy wait.
const DISK_LIMIT: Duration = Duration::from_secs(60);

fn ingested(ws: &Workspace) -> i64 {
    ws.query_i64("SELECT count(*) FROM source_files WHERE status = 'ingested'")
}

/// A workspace whose `data/` is a small filesystem of `mb` MB, and its daemon started. (Bound
/// as one pattern, they are dropped daemon first, then the filesystem, then the workspace.)
fn on_small_fs(mb: u64) -> (Workspace, SmallFs, Daemon) {
    let ws = Workspace::new();
    let fs = SmallFs::mount(&ws.path("data"), mb);
    let daemon = Daemon::start(&ws);
    (ws, fs, daemon)
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: root and loop devices")]
fn a_full_disk_rolls_the_file_back_and_it_goes_in_once_there_is_room() {
    let (ws, _fs, mut daemon) = on_small_fs(16);

    // Fill the filesystem to the last block.
    let filler = ws.path("data/filler");
    let mut file = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 1 << 16];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    let _ = file.sync_all();
    drop(file);

    std::fs::write(ws.path("drop/ORU_full.hl7"), labs(2048)).expect("export");
    daemon.wait_for_log("stays in place", 1, DISK_LIMIT);
    let log = daemon.log_text();
    assert!(log.contains("ORU_full.hl7") && log.contains("full"), "the error names the file and the cause:\n{log}");
    assert!(daemon.alive(), "the daemon keeps running:\n{log}");
    assert!(ws.path("drop/ORU_full.hl7").exists(), "the file stays in the drop folder for retry");
    assert_eq!(ingested(&ws), 0, "nothing of it is in the snapshot");

    std::fs::remove_file(&filler).expect("make room");
    wait_for("the file to go in once there is room", DISK_LIMIT, || {
        ingested(&ws) == 1 && !ws.path("drop/ORU_full.hl7").exists()
    });
    assert_eq!(ws.query_i64("SELECT messages FROM source_files"), (2048 * 1024 / 400) as i64);
    assert!(daemon.alive());
}

/// A read-only filesystem under the archive (a bind mount of `data/archive` remounted read-only:
/// a mount with a file open for writing, as the snapshot is, cannot be made read-only). The file
/// is committed, its move fails and is logged, it stays in the drop folder, and a rescan finishes
/// the move once the archive is writable again; it is not ingested twice.
#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: root and loop devices")]
fn a_read_only_archive_leaves_the_file_in_place_and_a_rescan_finishes_its_move() {
    let (ws, _fs, mut daemon) = on_small_fs(32);
    let archive = ws.path("data/archive");
    std::fs::create_dir_all(&archive).expect("archive");
    run("mount", &["--bind", &archive.display().to_string(), &archive.display().to_string()]);
    let bind = SmallFs { at: archive.clone() };
    bind.remount("bind,ro");
    assert!(std::fs::create_dir(archive.join("probe")).is_err(), "the archive is read-only");

    std::fs::write(ws.path("drop/ORU_ro.hl7"), labs(64)).expect("export");
    daemon.wait_for_log("stays in place", 1, DISK_LIMIT);
    let log = daemon.log_text();
    assert!(
        log.contains("ORU_ro.hl7") && log.contains("not yet moved") && log.contains("Read-only file system"),
        "the error names the file, what is left to do and the cause:\n{log}"
    );
    assert!(daemon.alive(), "the daemon keeps running:\n{log}");
    assert!(ws.path("drop/ORU_ro.hl7").exists(), "the file stays in the drop folder");

    bind.remount("bind,rw");
    wait_for("the move to be finished once the archive is writable", DISK_LIMIT, || {
        !ws.path("drop/ORU_ro.hl7").exists()
    });
    assert_eq!(ws.query_i64("SELECT count(*) FROM source_files"), 1, "one ledger row: not taken twice");
    let archived = ws.query_strings("SELECT disposition FROM source_files");
    assert!(Path::new(&archived[0]).exists(), "archived where the ledger says: {archived:?}");
    assert!(daemon.log_text().contains("finishing the move"), "{}", daemon.log_text());
    drop(bind);
}

#[test]
fn a_locked_database_rolls_the_file_back_and_it_goes_in_once_released() {
    let ws = Workspace::new();
    let mut daemon = Daemon::start(&ws);
    // Locked once the daemon is up: a lock during its startup writes is another test.
    daemon.wait_for_log("ingest daemon started", 1, DISK_LIMIT);
    let locker = rusqlite::Connection::open(ws.db()).expect("open");
    locker.execute_batch("BEGIN EXCLUSIVE").expect("lock the snapshot");

    std::fs::write(ws.path("drop/ORU_locked.hl7"), labs(16)).expect("export");
    daemon.wait_for_log("stays in place", 1, DISK_LIMIT);
    let log = daemon.log_text();
    assert!(log.contains("ORU_locked.hl7") && log.contains("locked"), "the error names the file and the cause:\n{log}");
    assert!(daemon.alive(), "the daemon keeps running:\n{log}");
    assert!(ws.path("drop/ORU_locked.hl7").exists());

    locker.execute_batch("ROLLBACK").expect("release");
    drop(locker);
    wait_for("the file to go in once the lock is released", DISK_LIMIT, || {
        ingested(&ws) == 1 && !ws.path("drop/ORU_locked.hl7").exists()
    });
}
