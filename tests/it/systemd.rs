//! The systemd side: `systemd-analyze` accepts deploy/ingest.service (and rates its hardening),
//! and the daemon speaks the notify protocol on `$NOTIFY_SOCKET` (READY, WATCHDOG, RELOADING,
//! STOPPING), here to a socket of the test's own.

use crate::util::{Daemon, Workspace};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn systemd_analyze() -> &'static str {
    let path = "/usr/bin/systemd-analyze";
    assert!(Path::new(path).exists(), "systemd-analyze is missing: apt-get install systemd (see .ci/run)");
    path
}

/// The unit as shipped, with ExecStart pointing at the binary under test (verify checks that the
/// executable exists).
fn unit_under_test(dir: &Path) -> std::path::PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(manifest.join("deploy/ingest.service")).expect("deploy/ingest.service");
    let path = dir.join("ingest.service");
    std::fs::write(&path, unit.replace("/usr/bin/ingest", crate::util::bin())).expect("write unit");
    path
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: systemd-analyze")]
fn systemd_analyze_accepts_the_unit_without_a_warning_and_rates_it_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_under_test(dir.path());
    let out = Command::new(systemd_analyze()).arg("verify").arg(&unit).output().expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "", "verify printed warnings (an unknown or misspelt key?)");

    let out = Command::new(systemd_analyze())
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in {line:?}"));
    eprintln!("systemd-analyze security: {}", line.trim());
    assert!(score <= 2.0, "exposure {score} (0 = locked down, 10 = unprotected): {text}");
}

/// Read datagrams until one contains `what`, or fail after `limit`.
fn expect(socket: &UnixDatagram, what: &str, limit: Duration) -> String {
    let start = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    while start.elapsed() < limit {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if message.lines().any(|l| l == what) {
                return message;
            }
            seen.push(message);
        }
    }
    panic!("no {what} within {limit:?}; got {seen:?}");
}

#[test]
fn the_daemon_notifies_ready_watchdog_reloading_and_stopping() {
    let ws = Workspace::new();
    let socket_path = ws.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let daemon = Daemon::spawn_with_env(
        &ws,
        &[("NOTIFY_SOCKET", socket_path.as_os_str()), ("WATCHDOG_USEC", std::ffi::OsStr::new("400000"))],
    );
    let ready = expect(&socket, "READY=1", Duration::from_secs(30));
    assert!(ready.contains("STATUS=watching 1 source(s)"), "{ready}");
    expect(&socket, "WATCHDOG=1", Duration::from_secs(5));
    let pid = daemon.pid().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
    let reloading = expect(&socket, "RELOADING=1", Duration::from_secs(10));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect(&socket, "READY=1", Duration::from_secs(30));
    assert_eq!(daemon.terminate(), Some(0));
    expect(&socket, "STOPPING=1", Duration::from_secs(10));
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: systemd-sysusers and systemd-tmpfiles, as root")]
fn sysusers_creates_the_account_and_tmpfiles_the_folders_it_owns() {
    let root = tempfile::tempdir().expect("tempdir");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (from, to) in [
        ("/etc/passwd", "etc/passwd"),
        ("/etc/group", "etc/group"),
        ("deploy/ingest.sysusers", "usr/lib/sysusers.d/ingest.conf"),
        ("deploy/ingest.tmpfiles", "usr/lib/tmpfiles.d/ingest.conf"),
    ] {
        let to = root.path().join(to);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(manifest.join(from), &to).unwrap_or_else(|e| panic!("{from}: {e}"));
    }
    for tool in [vec!["systemd-sysusers"], vec!["systemd-tmpfiles", "--create"]] {
        let out = Command::new(tool[0]).args(&tool[1..]).arg(format!("--root={}", root.path().display())).output();
        let out = out.unwrap_or_else(|e| panic!("{}: {e} (apt-get install systemd)", tool[0]));
        assert!(out.status.success(), "{}: {}", tool[0], String::from_utf8_lossy(&out.stderr));
    }
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    let account = passwd.lines().find(|l| l.starts_with("ingest:")).unwrap_or_else(|| panic!("no ingest user"));
    assert!(account.ends_with(":/var/lib/ingest:/usr/sbin/nologin"), "{account}");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid: u32 = account.split(':').nth(2).and_then(|u| u.parse().ok()).expect("uid");
    for dir in ["var/lib/ingest", "var/lib/ingest/archive", "var/lib/ingest/quarantine", "var/lib/ingest/staging"] {
        let meta = std::fs::metadata(root.path().join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!((meta.uid(), meta.permissions().mode() & 0o777), (uid, 0o750), "{dir}");
    }
    let etc = std::fs::metadata(root.path().join("etc/ingest")).expect("etc/ingest");
    assert_eq!((etc.uid(), etc.permissions().mode() & 0o777), (0, 0o750));
}
