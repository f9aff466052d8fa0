//! Helpers: a temp workspace with a config, running the binary, HL7 fixtures, snapshot dumps.

use rusqlite::{Connection, OpenFlags};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ingest")
}

/// The Python packages the tests (and `.ci/run`) use: the MCP SDK, and the Prometheus client's
/// parser of the metrics exposition format.
const PY_PACKAGES: [&str; 2] = ["mcp==2.3.0", "prometheus-client==0.26.0"];

/// The Python with the official MCP SDK: `$INGEST_PYTHON`, else the repository's `.venv`, which is
/// created (`python3 -m venv`, `pip install mcp`) the first time it is needed, so that `cargo test`
/// alone works on a fresh machine with Python 3.10+ and access to PyPI.
pub fn python() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(p) = std::env::var_os("INGEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
        let python = dir.join("bin/python");
        let has_sdk = |py: &Path| {
            Command::new(py).args(["-c", "import mcp, prometheus_client"]).output().is_ok_and(|o| o.status.success())
        };
        if !has_sdk(&python) {
            let run = |cmd: &mut Command| {
                let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
                assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
            };
            if !python.exists() {
                run(Command::new("python3").arg("-m").arg("venv").arg(&dir));
            }
            run(Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(PY_PACKAGES));
        }
        python
    })
    .clone()
}

/// The repository's test client (`tests/mcp_client.py`).
pub fn mcp_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py")
}

/// Which MCP client the tests speak through: the official Python SDK in the system tier
/// (`--features system-tests`, what the README's test command and CI run), else rmcp's own client
/// in this process (plain `cargo test`, which needs nothing but the build).
pub fn python_sdk() -> bool {
    cfg!(feature = "system-tests")
}

/// Run `calls` (the client's JSON list) against `ingest mcp` in `ws`, the server logging at
/// `log_level`; the client's output (stdout: one result per call as JSON; stderr: the server's
/// log, among the Python client's own when it is the client).
pub fn mcp_stdio(ws: &Workspace, calls: &serde_json::Value, log_level: &str) -> Output {
    let env = [
        ("INGEST_LOG", log_level.to_string()),
        ("INGEST_CLOCK_FILE", ws.clock_file().display().to_string()),
        // Not the OS user's name: the audit must take the identity from the OS, not from $USER.
        ("USER", "dr.house".to_string()),
        ("LOGNAME", "dr.house".to_string()),
    ];
    let server = [ws.config().display().to_string()];
    if !python_sdk() {
        let mut command = tokio::process::Command::new(bin());
        command.arg("--config").args(server).arg("mcp").envs(env);
        return rmcp_output(crate::client::run(crate::client::Server::Stdio(command), calls));
    }
    let spec = ws.path("calls.json");
    std::fs::write(&spec, calls.to_string()).expect("write calls");
    Command::new(python())
        .arg(mcp_client())
        .arg("stdio")
        .arg(format!("@{}", spec.display()))
        .arg("--")
        .arg(bin())
        .arg("--config")
        .args(server)
        .arg("mcp")
        .envs(env)
        .output()
        .expect("run the MCP client")
}

/// An rmcp client run as the Python client's process output: the results on stdout (exit 0), or
/// `{"connect_error": …}` (exit 3); the server's stderr.
pub fn rmcp_output(run: crate::client::Run) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let (code, stdout) = match run.results {
        Ok(results) => (0, serde_json::Value::from(results)),
        Err(e) => (3, serde_json::json!({ "connect_error": e })),
    };
    Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: stdout.to_string().into_bytes(),
        stderr: run.stderr,
    }
}

/// The bundled sample exports.
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-exports")
}

/// A temp directory with `drop/` (the watched folder), `data/` (snapshot, archive, quarantine)
/// and `ingest.toml` pointing at them.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace::with_source_options("")
    }

    /// `extra` is appended to the `[[source]]` table (e.g. `require_trigger = true`). A daemon
    /// started here serves MCP over HTTP on a free port (`port = 0`), so that tests running side
    /// by side do not fight over the default port.
    pub fn with_source_options(extra: &str) -> Workspace {
        Workspace::with_config(extra, "[mcp]\nport = 0\n")
    }

    /// `source_extra` goes into the `[[source]]` table, `tables` after it (e.g. an `[mcp]` table).
    /// Retention is off unless `tables` has a `[retention]` table: by the wall clock, a daemon
    /// started on the sample exports would otherwise purge their discharged patients once those
    /// are 30 days old, and tests would change with the date they run on.
    pub fn with_config(source_extra: &str, tables: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("drop")).expect("drop dir");
        let retention = if tables.contains("[retention]") { "" } else { "\n[retention]\nenabled = false\n" };
        let config = format!(
            "data_dir = \"data\"\ntime_zone = \"America/Chicago\"\n\n[[source]]\nname = \"ward\"\npath = \"drop\"\n\
             settle = \"600ms\"\nrescan_interval = \"1s\"\n{source_extra}\n\n{tables}\n{retention}"
        );
        std::fs::write(dir.path().join("ingest.toml"), config).expect("config");
        Workspace { dir }
    }

    /// The test clock (`ingest_core::time::process_clock`, with the `test-hooks` feature): while this file is absent, every binary run
    /// here uses the system time; [`Workspace::set_clock`] moves them all.
    pub fn clock_file(&self) -> PathBuf {
        self.path("clock")
    }

    pub fn set_clock(&self, rfc3339: &str) {
        std::fs::write(self.clock_file(), rfc3339).expect("write the clock file");
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("ingest.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.path("data/snapshot.db")
    }

    /// Run `ingest --config ingest.toml ARGS…` to completion.
    pub fn ingest(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("INGEST_CONFIG")
            .env("INGEST_CLOCK_FILE", self.clock_file())
            .current_dir(self.dir.path())
            .output()
            .expect("run ingest")
    }

    /// Start `ingest --replay PATH` in the background (output discarded), to interrupt or race it.
    pub fn spawn_replay(&self, path: &Path) -> std::process::Child {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .arg("--replay")
            .arg(path)
            .env_remove("INGEST_CONFIG")
            .env("INGEST_CLOCK_FILE", self.clock_file())
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn a replay")
    }

    /// Replay `paths` and return (exit code, stdout).
    pub fn replay(&self, paths: &[&Path]) -> (i32, String) {
        let mut args = vec!["--replay".to_string()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.ingest(&refs);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), format!("{stdout}\n--- stderr ---\n{stderr}"))
    }

    /// `ingest check-config`, which must refuse the configuration (exit 2): its stderr.
    pub fn config_error(&self) -> String {
        let out = self.ingest(&["check-config"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "check-config accepted it: {stderr}");
        stderr
    }

    pub fn reader(&self) -> Connection {
        Connection::open_with_flags(self.db(), OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open snapshot")
    }

    /// Whether the snapshot exists and its migrations have run.
    pub fn has_schema(&self) -> bool {
        self.db().exists()
            && self
                .reader()
                .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'source_files'", [], |r| r.get::<_, i64>(0))
                .is_ok_and(|n| n == 1)
    }

    pub fn query_i64(&self, sql: &str) -> i64 {
        self.reader().query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    /// Wait until the daemon has scanned the source's folder `n` more times (its health's
    /// `last_check_at` moves at each scan, in whole seconds; the tests rescan every second): for a
    /// test that shows something does *not* happen, however many scans it is given.
    pub fn wait_scans(&self, n: usize) {
        let last_check =
            || self.query_strings("SELECT ifnull(last_check_at, '') FROM source_health WHERE source = 'ward'");
        let mut last = last_check();
        let mut seen = 0;
        wait_for(&format!("{n} scans of the folder"), LIMIT, || {
            let now = last_check();
            if now != last {
                (seen, last) = (seen + 1, now);
            }
            seen >= n
        });
    }

    pub fn query_strings(&self, sql: &str) -> Vec<String> {
        let conn = self.reader();
        let mut stmt = conn.prepare(sql).expect(sql);
        stmt.query_map([], |r| r.get::<_, String>(0)).expect(sql).map(|r| r.expect("row")).collect()
    }
}

/// One HTTP/1.1 request over a plain socket to `authority`: (status, head and body). An SSE
/// answer may stay open, so reading stops at its head.
pub fn raw(authority: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("host")).map_or(authority, |(_, v)| v);
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write request");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok());
            if head.contains("text/event-stream") || length.is_some_and(|n| response.len() >= end + 4 + n) {
                break;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// How long a test waits for the daemon to do something before it fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// `ingest run` on a workspace's config, its log in `daemon.log`; killed when dropped.
pub struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    /// Spawn the daemon without waiting for anything.
    pub fn spawn(ws: &Workspace) -> Daemon {
        Daemon::spawn_with_env(ws, &[])
    }

    /// Spawn the daemon with extra environment variables.
    pub fn spawn_with_env(ws: &Workspace, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let log = ws.path("daemon.log");
        let child = Command::new(bin())
            .arg("--config")
            .arg(ws.config())
            .arg("run")
            .current_dir(ws.dir.path())
            .env("INGEST_LOG", "info")
            .env_remove("INGEST_CONFIG")
            .env("INGEST_CLOCK_FILE", ws.clock_file())
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    /// Spawn the daemon and wait until its snapshot exists with its schema (the file is created
    /// a moment before the migrations have run).
    pub fn start(ws: &Workspace) -> Daemon {
        let daemon = Daemon::spawn(ws);
        wait_for("the snapshot to exist", LIMIT, || ws.has_schema());
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Until the daemon has logged `needle` at least `times` times; after `limit` the test fails
    /// with the daemon's log, which says why it has not.
    pub fn wait_for_log(&self, needle: &str, times: usize, limit: Duration) {
        let start = Instant::now();
        while self.log_text().matches(needle).count() < times {
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {needle:?} in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM").success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(start.elapsed() < LIMIT, "daemon did not stop after SIGTERM:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait for `cond` (polling), failing the test with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The clinical content of a snapshot, independent of row ids and ingest times: what a reader
/// would see. Provenance is named by the source file's sha256, not its ledger id.
pub fn dump(db: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open snapshot");
    let queries = [
        "SELECT 'patient|' || p.mrn || '|' || ifnull(family_name,'') || '|' || ifnull(given_name,'') || '|' ||
                ifnull(birth_date,'') || '|' || ifnull(sex,'') || '|' || p.exported_at || '|' || f.sha256
         FROM patients p JOIN source_files f ON f.id = p.source_file_id",
        "SELECT 'ident|' || p.mrn || '|' || i.system || '|' || i.value FROM patient_identifiers i JOIN patients p ON p.id = i.patient_id",
        "SELECT 'panel|' || x.source || '|' || p.mrn || '|' || ifnull(active,'') || '|' || ifnull(location,'') || '|' ||
                ifnull(attending,'') || '|' || ifnull(admitted_at,'') || '|' || ifnull(discharged_at,'') || '|' ||
                x.exported_at || '|' || f.sha256
         FROM panel x JOIN patients p ON p.id = x.patient_id JOIN source_files f ON f.id = x.source_file_id",
        "SELECT 'obs|' || p.mrn || '|' || order_id || '|' || code || '|' || observed_at || '|' || ifnull(value,'') || '|' ||
                ifnull(unit,'') || '|' || ifnull(abnormal_flag,'') || '|' || ifnull(o.status,'') || '|' || o.exported_at || '|' || f.sha256
         FROM observations o JOIN patients p ON p.id = o.patient_id JOIN source_files f ON f.id = o.source_file_id",
        "SELECT 'file|' || sha256 || '|' || status || '|' || messages || '|' || records || '|' || rejects
         FROM source_files WHERE status != 'duplicate'",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        let mut stmt = conn.prepare(sql).expect(sql);
        rows.extend(stmt.query_map([], |r| r.get::<_, String>(0)).expect(sql).map(|r| r.expect("row")));
    }
    rows.sort();
    rows
}

/// Builds HL7 v2 text for tests (synthetic people only).
pub mod hl7 {
    /// An ADT message. `event` e.g. `A01`; `ts` an HL7 timestamp such as `202611240500`.
    pub fn adt(event: &str, control: &str, ts: &str, mrn: &str, family: &str, location: &str) -> String {
        let mut pv1 = vec![""; 46];
        pv1[0] = "PV1";
        pv1[1] = "1";
        pv1[2] = "I";
        pv1[3] = location;
        pv1[7] = "D100^Attending^Alice";
        pv1[10] = "MED";
        let visit = format!("V{mrn}");
        pv1[19] = &visit;
        pv1[44] = ts;
        if event == "A03" {
            pv1[45] = ts;
        }
        format!(
            "MSH|^~\\&|EHR|GENHOSP|INGEST|GENHOSP|{ts}||ADT^{event}|{control}|P|2.5.1\r\
             EVN|{event}|{ts}\r\
             PID|1||{mrn}^^^GENHOSP^MR~V{mrn}^^^GENHOSP^AN||{family}^Test||19600101|F\r{}\r",
            pv1.join("|")
        )
    }

    /// An ORU^R01 with one OBR and the given OBX (code, value, unit, flag) results.
    pub fn oru(control: &str, ts: &str, mrn: &str, order: &str, results: &[(&str, &str, &str, &str)]) -> String {
        let mut msg = format!(
            "MSH|^~\\&|LAB|GENHOSP|INGEST|GENHOSP|{ts}||ORU^R01|{control}|P|2.5.1\r\
             PID|1||{mrn}^^^GENHOSP^MR||Result^Test\r\
             OBR|1||{order}^LAB|BMP^Basic metabolic panel^L|||{ts}\r"
        );
        for (i, (code, value, unit, flag)) in results.iter().enumerate() {
            msg.push_str(&format!("OBX|{}|NM|{code}^{code} name^LN||{value}|{unit}|1-10|{flag}|||F|||{ts}\r", i + 1));
        }
        msg
    }

    /// A FHS/BHS-wrapped batch whose header says it was exported at `ts`.
    pub fn batch(ts: &str, messages: &[String]) -> String {
        format!(
            "FHS|^~\\&|EHR|GENHOSP|||{ts}\rBHS|^~\\&|EHR|GENHOSP|||{ts}\r{}BTS|{}\rFTS|1\r",
            messages.concat(),
            messages.len()
        )
    }
}

/// Reading MCP tool results as the Python test client prints them (the wire form).
pub mod mcp {
    use serde_json::{Value, json};

    /// The tool names of the MCP contract (README), sorted: written out here, not taken from
    /// the code, so that a renamed tool fails the tests.
    pub const CONTRACT_TOOLS: [&str; 9] = [
        "get_documents",
        "get_medications",
        "get_observations",
        "get_patient",
        "list_panel",
        "panel_changes",
        "read_document",
        "search_documents",
        "snapshot_status",
    ];

    /// The structured answer of a successful tool call.
    pub fn answer(result: &Value) -> &Value {
        assert_eq!(result["isError"], json!(false), "expected success: {result}");
        &result["structuredContent"]
    }

    /// The error code of a failed tool call.
    pub fn error_code(result: &Value) -> String {
        assert_eq!(result["isError"], json!(true), "expected a tool error: {result}");
        let text = result["content"][0]["text"].as_str().expect("error text");
        let body: Value = serde_json::from_str(text).expect("error JSON");
        body["error"]["code"].as_str().expect("code").to_string()
    }

    /// Every object carrying `freshness` has its four fields, with RFC 3339 times; returns how many.
    pub fn check_freshness(value: &Value) -> usize {
        match value {
            Value::Object(map) => {
                let here = map.get("freshness").map_or(0, |f| {
                    for key in ["exported_at", "ingested_at"] {
                        let t = f[key].as_str().unwrap_or_else(|| panic!("freshness.{key} missing in {value}"));
                        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
                    }
                    for key in ["source", "source_file"] {
                        assert!(f[key].as_str().is_some_and(|s| !s.is_empty()), "freshness.{key} missing in {value}");
                    }
                    1
                });
                here + map.values().map(check_freshness).sum::<usize>()
            }
            Value::Array(items) => items.iter().map(check_freshness).sum(),
            _ => 0,
        }
    }
}
