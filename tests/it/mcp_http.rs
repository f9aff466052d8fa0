//! MCP over Streamable HTTP from `ingest run`, and the `ingest mcp --connect` bridge to it: the
//! official Python SDK (system tier) or rmcp's client as the client, bearer tokens, roles, Origin,
//! health, TLS. Daemons listen on
//! 127.0.0.1 with `port = 0`; the URL comes from their `MCP over HTTP listening` log line.

use crate::client;
use crate::util::mcp::{CONTRACT_TOOLS, answer, check_freshness, error_code};
use crate::util::{Daemon, LIMIT, Workspace, mcp_client, python, python_sdk, raw, rmcp_output, samples, wait_for};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CLINICIAN: &str = "clin-5w-3f9a1c";
pub const OPERATIONS: &str = "ops-77d2e0";
/// A custom role that may see who is on the panel, but no results and no documents.
const FRONT_DESK: &str = "desk-41b8aa";

fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `[mcp]` tables: three tokens, a custom role; `extra` goes into `[mcp]`.
pub fn mcp_tables(extra: &str) -> String {
    format!(
        "[mcp]\nport = 0\n{extra}\n\n\
         [[mcp.role]]\nname = \"front_desk\"\nkinds = [\"patients\", \"panel\"]\n\n\
         [[mcp.token]]\nsha256 = \"{}\"\nidentity = \"dr-ward-5w\"\nrole = \"clinician\"\n\n\
         [[mcp.token]]\nsha256 = \"{}\"\nidentity = \"ops-monitor\"\nrole = \"operations\"\n\n\
         [[mcp.token]]\nsha256 = \"{}\"\nidentity = \"desk-5w\"\nrole = \"front_desk\"\n",
        sha256(CLINICIAN),
        sha256(OPERATIONS),
        sha256(FRONT_DESK)
    )
}

/// A workspace with that config and the sample exports replayed into its snapshot.
pub fn workspace(mcp_extra: &str) -> Workspace {
    let ws = Workspace::with_config("", &mcp_tables(mcp_extra));
    let (code, out) = ws.replay(&[&samples()]);
    assert_eq!(code, 0, "{out}");
    ws
}

/// `ingest run` serving MCP over HTTP.
pub struct HttpDaemon {
    daemon: Daemon,
    /// The MCP endpoint, e.g. `http://127.0.0.1:41234/mcp`.
    pub url: String,
}

impl HttpDaemon {
    /// Start the daemon and wait until it says where it listens; for plain HTTP, also until
    /// `/healthz` answers.
    pub fn start(ws: &Workspace) -> HttpDaemon {
        let mut daemon = Daemon::spawn(ws);
        let start = Instant::now();
        let url = loop {
            if let Some(url) = listening_url(&daemon.log_text()) {
                break url;
            }
            assert!(daemon.alive(), "the daemon exited before listening:\n{}", daemon.log_text());
            assert!(start.elapsed() < LIMIT, "no 'MCP over HTTP listening' line:\n{}", daemon.log_text());
            std::thread::sleep(Duration::from_millis(50));
        };
        let http = HttpDaemon { daemon, url };
        if http.url.starts_with("http://") {
            wait_for("/healthz to answer", LIMIT, || {
                TcpStream::connect(http.authority()).is_ok()
                    && raw(http.authority(), "GET", "/healthz", &[], "").0 == 200
            });
        }
        http
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> &str {
        let rest = self.url.split_once("://").expect("scheme").1;
        rest.split_once('/').map_or(rest, |(authority, _)| authority)
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    pub fn terminate(self) -> Option<i32> {
        self.daemon.terminate()
    }
}

fn listening_url(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("MCP over HTTP listening"))?;
    let url = line.split_whitespace().find_map(|w| w.strip_prefix("url="))?;
    Some(url.trim_matches('"').to_string())
}

/// The MCP client (`util::python_sdk` says which) over HTTP: (exit code, the printed JSON). `env`
/// (a test CA) is for the Python SDK only.
fn http_client(ws: &Workspace, url: &str, token: Option<&str>, calls: &Value, env: &[(&str, &Path)]) -> (i32, Value) {
    if !python_sdk() {
        assert!(env.is_empty(), "the rmcp client takes no CA here; the test belongs to the system tier");
        return parse_client(rmcp_output(client::run(client::Server::Http { url, token }, calls)));
    }
    let spec = ws.path(&format!("calls-{}.json", sha256(&calls.to_string())));
    std::fs::write(&spec, calls.to_string()).expect("write calls");
    let mut cmd = Command::new(python());
    cmd.arg(mcp_client()).arg("http").arg(format!("@{}", spec.display())).arg(url);
    if let Some(token) = token {
        cmd.arg("--header").arg(format!("Authorization: Bearer {token}"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    parse_client(cmd.output().expect("run the MCP client"))
}

/// The MCP client over stdio to `ingest mcp --connect URL --token-file FILE`.
fn bridge_client(ws: &Workspace, url: &str, token_file: &Path, calls: &Value, ca: Option<&Path>) -> (i32, Value) {
    // The Python SDK starts stdio servers with a minimal environment: the CA bundle goes on the
    // command, through env(1).
    let mut command = vec![];
    if let Some(ca) = ca {
        command.extend(["/usr/bin/env".to_string(), format!("SSL_CERT_FILE={}", ca.display())]);
    }
    command.extend([crate::util::bin(), "mcp", "--connect", url, "--token-file"].map(String::from));
    command.push(token_file.display().to_string());
    stdio_client(ws, &command, calls)
}

/// The MCP client over stdio to `command`: (exit code, the printed JSON).
pub fn stdio_client(ws: &Workspace, command: &[String], calls: &Value) -> (i32, Value) {
    if !python_sdk() {
        let mut child = tokio::process::Command::new(&command[0]);
        child.args(&command[1..]);
        return parse_client(rmcp_output(client::run(client::Server::Stdio(child), calls)));
    }
    let spec = ws.path(&format!("calls-{}.json", sha256(&format!("{calls}{command:?}"))));
    std::fs::write(&spec, calls.to_string()).expect("write calls");
    let mut cmd = Command::new(python());
    cmd.arg(mcp_client()).arg("stdio").arg(format!("@{}", spec.display())).arg("--").args(command);
    parse_client(cmd.output().expect("run the MCP client"))
}

fn parse_client(out: Output) -> (i32, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), value)
}

fn calls_ok(ws: &Workspace, daemon: &HttpDaemon, token: &str, calls: Value) -> Vec<Value> {
    let (code, value) = http_client(ws, &daemon.url, Some(token), &calls, &[]);
    assert_eq!(code, 0, "{value}\n{}", daemon.log_text());
    serde_json::from_value(value).expect("a list of results")
}

fn audit_lines(ws: &Workspace) -> Vec<Value> {
    std::fs::read_to_string(ws.path("data/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit JSON"))
        .collect()
}

fn tool_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        list["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str().map(String::from)).collect();
    names.sort();
    names
}

/// A token file readable only by its owner.
fn token_file(ws: &Workspace, name: &str, token: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = ws.path(name);
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[test]
fn a_clinician_token_reads_the_panel_over_http_with_freshness_and_snapshot() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let results = calls_ok(
        &ws,
        &daemon,
        CLINICIAN,
        json!([
            {"list": "tools"},
            {"tool": "list_panel"},
            {"tool": "get_patient", "args": {"mrn": "MRN57552"}},
            {"tool": "get_observations", "args": {"mrn": "MRN57552"}},
        ]),
    );
    assert_eq!(tool_names(&results[0]), CONTRACT_TOOLS);
    for result in &results[1..] {
        let a = answer(result);
        let snapshot = &a["snapshot"];
        assert!(snapshot["as_of"].is_string() && snapshot["stale"].is_boolean(), "{a}");
        assert!(snapshot["stale_reasons"].is_array(), "{a}");
    }
    let panel = answer(&results[1]);
    let patients = panel["patients"].as_array().expect("patients");
    assert_eq!(patients.len(), 19);
    assert_eq!(check_freshness(panel), patients.len(), "freshness on every patient");
    let patient = answer(&results[2]);
    assert_eq!(patient["patient"]["mrn"], "MRN57552");
    assert!(check_freshness(patient) > 10);
    let observations = answer(&results[3]);
    let rows = observations["trends"].as_array().expect("one trend line per code by default");
    assert!(!rows.is_empty());
    assert_eq!(check_freshness(observations), rows.len(), "freshness on every code's latest result");

    let audit = audit_lines(&ws);
    let calls: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|l| {
            (
                l["identity"].as_str().unwrap_or(""),
                l["transport"].as_str().unwrap_or(""),
                l["tool"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("dr-ward-5w", "http", "list_panel"),
            ("dr-ward-5w", "http", "get_patient"),
            ("dr-ward-5w", "http", "get_observations")
        ]
    );
    assert_eq!(audit[1]["mrns"], json!(["MRN57552"]));
    // SIGTERM stops the daemon, HTTP side included, cleanly.
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_bad_or_missing_token_is_refused_with_401_and_audited() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let accept = ("Accept", "application/json, text/event-stream");
    let json_type = ("Content-Type", "application/json");
    let (status, head) = raw(daemon.authority(), "POST", "/mcp", &[accept, json_type], initialize);
    assert_eq!(status, 401, "{head}");
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    let (status, _) = raw(
        daemon.authority(),
        "POST",
        "/mcp",
        &[accept, json_type, ("Authorization", "Bearer not-a-token")],
        initialize,
    );
    assert_eq!(status, 401);
    let (status, _) = raw(
        daemon.authority(),
        "POST",
        "/mcp",
        &[accept, json_type, ("Authorization", &format!("Basic {CLINICIAN}"))],
        initialize,
    );
    assert_eq!(status, 401, "only Bearer");
    let (status, head) = raw(
        daemon.authority(),
        "POST",
        "/mcp",
        &[accept, json_type, ("Authorization", &format!("Bearer {CLINICIAN}"))],
        initialize,
    );
    assert_eq!(status, 200, "the good token passes: {head}");

    // The SDK cannot even connect.
    for token in [Some("not-a-token"), None] {
        let (code, value) = http_client(&ws, &daemon.url, token, &json!([{"list": "tools"}]), &[]);
        assert_eq!(code, 3, "{value}");
        assert!(value["connect_error"].is_string(), "{value}");
    }

    let refused: Vec<Value> = audit_lines(&ws).into_iter().filter(|l| l["tool"] == "http:unauthenticated").collect();
    assert!(refused.len() >= 5, "{refused:?}");
    for line in &refused {
        assert_eq!(line["identity"], "anonymous");
        assert_eq!(line["result"], "refused: bad or missing token");
        assert_eq!(line["arguments"]["peer"], "127.0.0.1");
    }
    let verify = ws.ingest(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    // Tokens, good or bad, never reach the log or the audit trail.
    let log = daemon.log_text();
    let audit = std::fs::read_to_string(ws.path("data/audit.jsonl")).expect("audit");
    for secret in [CLINICIAN, "not-a-token"] {
        assert!(!log.contains(secret) && !audit.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_foreign_origin_or_host_is_refused_with_403() {
    let ws = workspace("allowed_origins = [\"http://localhost:*\"]");
    let daemon = HttpDaemon::start(&ws);
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let bearer = format!("Bearer {CLINICIAN}");
    let with = |extra: &[(&str, &str)]| -> (u16, String) {
        let mut headers = vec![
            ("Accept", "application/json, text/event-stream"),
            ("Content-Type", "application/json"),
            ("Authorization", bearer.as_str()),
        ];
        headers.extend_from_slice(extra);
        raw(daemon.authority(), "POST", "/mcp", &headers, initialize)
    };
    let (status, head) = with(&[("Origin", "https://evil.example")]);
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("Origin not allowed"), "refused by ingest's own check, not only rmcp's: {head}");
    let (status, _) = with(&[("Origin", "http://localhost.evil.example:8080")]);
    assert_eq!(status, 403);
    let (status, _) = with(&[("Origin", "null")]);
    assert_eq!(status, 403, "null is only allowed when listed");
    // A foreign Origin is refused before the token is looked at.
    let (status, _) = raw(daemon.authority(), "POST", "/mcp", &[("Origin", "https://evil.example")], initialize);
    assert_eq!(status, 403);
    // DNS rebinding: a Host that is not this server.
    let (status, head) = with(&[("Host", "evil.example")]);
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("Host not allowed"), "{head}");
    // An allowed Origin, and no Origin at all (non-browser clients), pass.
    let (status, head) = with(&[("Origin", "http://localhost:6274")]);
    assert_eq!(status, 200, "{head}");
    let (status, head) = with(&[]);
    assert_eq!(status, 200, "{head}");
    // The pages behind the same gate check Host too.
    for page in ["/status", "/metrics"] {
        let (status, head) =
            raw(daemon.authority(), "GET", page, &[("Host", "evil.example"), ("Authorization", bearer.as_str())], "");
        assert_eq!(status, 403, "{page}: {head}");
    }
    // A body over the size limit: 413 from rmcp behind the gate.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(300_000)
    );
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
    ];
    let (status, head) = raw(daemon.authority(), "POST", "/mcp", &headers, &big);
    assert_eq!(status, 413, "{head}");
    // Each refusal is an audit line: who (when the token was good), from where, why.
    let refused: Vec<Value> = audit_lines(&ws).into_iter().filter(|l| l["tool"] == "http:refused").collect();
    let results: Vec<&str> = refused.iter().filter_map(|l| l["result"].as_str()).collect();
    assert_eq!(results.iter().filter(|r| r.contains("Origin not allowed")).count(), 4, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.contains("Host not allowed")).count(), 3, "{results:?}");
    assert!(results.iter().any(|r| r.contains("request body over")), "{results:?}");
    let anonymous = refused.iter().filter(|l| l["identity"] == "anonymous").count();
    assert_eq!(anonymous, 1, "only the request without a token is anonymous: {refused:?}");
    assert!(refused.iter().all(|l| l["identity"] == "anonymous" || l["identity"] == "dr-ward-5w"), "{refused:?}");
    assert!(refused.iter().all(|l| l["arguments"]["peer"] == "127.0.0.1"), "{refused:?}");
}

#[test]
fn roles_limit_tools_and_record_kinds_over_http_and_refusals_are_audited() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let ops = calls_ok(
        &ws,
        &daemon,
        OPERATIONS,
        json!([{"tool": "snapshot_status"}, {"tool": "get_patient", "args": {"mrn": "MRN57552"}}]),
    );
    assert_eq!(answer(&ops[0])["counts"]["patients"], 21);
    assert_eq!(error_code(&ops[1]), "refused");
    let desk = calls_ok(
        &ws,
        &daemon,
        FRONT_DESK,
        json!([
            {"tool": "list_panel"},
            {"tool": "get_observations", "args": {"mrn": "MRN57552"}},
            {"tool": "get_documents", "args": {"mrn": "MRN57552"}},
        ]),
    );
    assert_eq!(answer(&desk[0])["patients"].as_array().expect("patients").len(), 19);
    assert_eq!(error_code(&desk[1]), "refused");
    assert_eq!(error_code(&desk[2]), "refused");

    let audit = audit_lines(&ws);
    let line = |identity: &str, tool: &str| -> Value {
        audit.iter().find(|l| l["identity"] == identity && l["tool"] == tool).cloned().expect("audit line")
    };
    assert_eq!(line("ops-monitor", "snapshot_status")["result"], "ok");
    assert_eq!(line("ops-monitor", "snapshot_status")["role"], "operations");
    let refused = line("ops-monitor", "get_patient");
    assert!(refused["result"].as_str().is_some_and(|r| r.starts_with("refused")), "{refused}");
    assert_eq!(refused["mrns"], json!([]), "a refusal returns no MRN");
    let refused = line("desk-5w", "get_observations");
    assert!(refused["result"].as_str().is_some_and(|r| r.contains("observations")), "{refused}");
    assert_eq!(refused["role"], "front_desk");
}

#[test]
fn healthz_and_readyz_answer_without_a_token_and_readyz_follows_the_snapshot() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let (status, head) = raw(daemon.authority(), "GET", "/healthz", &[], "");
    assert_eq!(status, 200);
    assert!(head.ends_with("ok"), "{head}");
    let (status, head) = raw(daemon.authority(), "GET", "/readyz", &[], "");
    assert_eq!(status, 200, "{head}");

    // The snapshot goes missing: not ready (and the answer names no path).
    std::fs::rename(ws.db(), ws.path("data/moved.db")).expect("move the snapshot away");
    let (status, head) = raw(daemon.authority(), "GET", "/readyz", &[], "");
    assert_eq!(status, 503, "{head}");
    assert!(!head.contains("snapshot.db"), "{head}");
    let (status, _) = raw(daemon.authority(), "GET", "/healthz", &[], "");
    assert_eq!(status, 200, "alive all the same");
    std::fs::rename(ws.path("data/moved.db"), ws.db()).expect("put it back");
    assert_eq!(raw(daemon.authority(), "GET", "/readyz", &[], "").0, 200);
    // A foreign Host (a DNS-rebinding page) is refused here too.
    for path in ["/healthz", "/readyz"] {
        let (status, head) = raw(daemon.authority(), "GET", path, &[("Host", "evil.example:8765")], "");
        assert_eq!(status, 403, "{path}: {head}");
    }
    assert!(audit_lines(&ws).is_empty(), "health checks are not MCP calls");
}

/// A CA and a certificate it signed for 127.0.0.1 and localhost, made with the openssl CLI:
/// (CA file, certificate, key).
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-subj", "/CN=ingest test CA", "-days", "1", "-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "leaf.csr"]].concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: the Python SDK with a test CA")]
fn https_with_the_configured_certificate_serves_the_sdk_and_the_bridge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = test_certificate(dir.path());
    let ws = workspace(&format!("tls_cert = \"{}\"\ntls_key = \"{}\"", cert.display(), key.display()));
    let daemon = HttpDaemon::start(&ws);
    assert!(daemon.url.starts_with("https://127.0.0.1:"), "{}", daemon.url);
    let calls = json!([{"tool": "snapshot_status"}]);
    let (code, value) = http_client(&ws, &daemon.url, Some(OPERATIONS), &calls, &[("INGEST_TEST_CA", &ca)]);
    assert_eq!(code, 0, "{value}\n{}", daemon.log_text());
    assert_eq!(answer(&value[0])["counts"]["patients"], 21);
    // Without the CA the certificate is not trusted.
    let (code, value) = http_client(&ws, &daemon.url, Some(OPERATIONS), &calls, &[]);
    assert_eq!(code, 3, "{value}");
    // Plain HTTP to the TLS port gets nothing useful.
    assert_ne!(raw(daemon.authority(), "GET", "/healthz", &[], "").0, 200);
    // The bridge trusts the hospital's CA through SSL_CERT_FILE.
    let tokens = token_file(&ws, "ops.token", OPERATIONS);
    let (code, value) = bridge_client(&ws, &daemon.url, &tokens, &calls, Some(&ca));
    assert_eq!(code, 0, "{value}");
    assert_eq!(answer(&value[0])["counts"]["patients"], 21);
}

#[test]
fn a_non_loopback_bind_without_tls_is_refused_by_check_config_and_run() {
    let ws = Workspace::with_config("", "[mcp]\nbind = \"0.0.0.0\"\n");
    for args in [&["check-config"][..], &["run"][..]] {
        let out = ws.ingest(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("mcp.bind") && stderr.contains("tls"), "{stderr}");
    }
}

#[test]
fn a_port_in_use_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let ws = Workspace::with_config("", &format!("[mcp]\nport = {port}\n"));
    let out = ws.ingest(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn the_bridge_forwards_everything_and_the_daemon_audits_the_tokens_identity() {
    let ws = workspace("");
    // A fixed clock: the bridged and the direct answers are compared whole, and each carries
    // `as_of` and a staleness reason that says how long ago the last export was.
    ws.set_clock("2026-11-24T12:00:00Z");
    let daemon = HttpDaemon::start(&ws);
    let calls = json!([
        {"list": "tools"},
        {"tool": "get_patient", "args": {"mrn": "MRN57552"}},
        {"tool": "get_patient", "args": {"mrn": "MRN00000"}},
        {"list": "resource_templates"},
        {"read": "snapshot://status"},
        {"prompt": "pre_rounds_summary", "args": {}},
    ]);
    let tokens = token_file(&ws, "clinician.token", CLINICIAN);
    let (code, bridged) = bridge_client(&ws, &daemon.url, &tokens, &calls, None);
    assert_eq!(code, 0, "{bridged}\n{}", daemon.log_text());
    let direct = calls_ok(&ws, &daemon, CLINICIAN, calls);
    assert_eq!(tool_names(&bridged[0]), CONTRACT_TOOLS);
    assert_eq!(bridged[0]["tools"], direct[0]["tools"], "the daemon's tool list, schemas included");
    assert_eq!(answer(&bridged[1])["patient"]["mrn"], "MRN57552");
    // An hour after the last export (the fixed clock), the snapshot is fresh.
    assert_eq!(answer(&bridged[1])["snapshot"]["stale"], false);
    assert_eq!(bridged[1]["structuredContent"], direct[1]["structuredContent"]);
    assert_eq!(error_code(&bridged[2]), "unknown_mrn");
    assert_eq!(bridged[2], direct[2], "a tool error comes back unchanged");
    assert_eq!(bridged[3], direct[3]);
    assert_eq!(bridged[4]["contents"][0]["uri"], "snapshot://status");
    assert_eq!(bridged[5], direct[5]);

    let audit = audit_lines(&ws);
    let bridged_calls: Vec<&Value> = audit.iter().filter(|l| l["transport"] == "bridge").collect();
    // Two tool calls, the resource and the prompt.
    assert_eq!(bridged_calls.len(), 4, "{audit:?}");
    assert!(bridged_calls.iter().all(|l| l["identity"] == "dr-ward-5w" && l["role"] == "clinician"));
    assert_eq!(bridged_calls[0]["mrns"], json!(["MRN57552"]));
}

#[test]
fn the_bridge_with_a_bad_token_or_an_open_token_file_fails_with_a_clear_error() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let run = |token_file: &Path| {
        Command::new(crate::util::bin())
            .args(["mcp", "--connect", &daemon.url, "--token-file"])
            .arg(token_file)
            .env_remove("INGEST_CONFIG")
            .env_remove("INGEST_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run the bridge")
    };
    let bad = token_file(&ws, "bad.token", "wrong-token-123");
    let out = run(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert!(!stderr.contains("wrong-token-123"), "the token is not echoed: {stderr}");

    let open = token_file(&ws, "open.token", CLINICIAN);
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let out = run(&open);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("readable by group or others") && stderr.contains("chmod 600"), "{stderr}");

    // The token from the environment; plain http to another host is refused before it is sent.
    let out = Command::new(crate::util::bin())
        .args(["mcp", "--connect", "http://192.0.2.1:8765/mcp"])
        .env("INGEST_TOKEN", CLINICIAN)
        .env_remove("INGEST_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run the bridge");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("use https://"), "{stderr}");
}

/// A JSON-RPC conversation with `ingest mcp --connect` over its stdio, line by line.
struct Bridge {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Bridge {
    fn start(url: &str, token_file: &Path, stderr: &Path) -> Bridge {
        let mut child = Command::new(crate::util::bin())
            .args(["mcp", "--connect", url, "--token-file"])
            .arg(token_file)
            .env_remove("INGEST_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).expect("stderr file"))
            .spawn()
            .expect("spawn the bridge");
        let stdin = child.stdin.take();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut bridge = Bridge { child, stdin, stdout };
        let init = bridge.request(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "ingest", "{init}");
        bridge.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        bridge
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").expect("write to the bridge");
        stdin.flush().expect("flush");
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.stdout, &mut line).expect("read from the bridge");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Close stdin (the assistant quits) and wait for the exit code.
    fn finish(&mut self) -> Option<i32> {
        drop(self.stdin.take());
        self.child.wait().expect("wait").code()
    }

    fn status(&mut self, id: u64) -> Value {
        self.request(id, "tools/call", json!({"name": "snapshot_status", "arguments": {}}))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_bridge_survives_a_daemon_restart() {
    // A fixed port, so that the restarted daemon is where the bridge left it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let ws = workspace("");
    let config = std::fs::read_to_string(ws.config()).expect("config").replace("port = 0", &format!("port = {port}"));
    std::fs::write(ws.config(), config).expect("config");
    let daemon = HttpDaemon::start(&ws);
    let tokens = token_file(&ws, "ops.token", OPERATIONS);
    let mut bridge = Bridge::start(&daemon.url, &tokens, &ws.path("bridge.log"));
    assert_eq!(bridge.status(2)["result"]["isError"], json!(false));

    assert_eq!(daemon.terminate(), Some(0));
    let down = bridge.status(3);
    let message = down["error"]["message"].as_str().unwrap_or_else(|| panic!("a protocol error: {down}"));
    assert!(message.starts_with("the ingest daemon could not be reached"), "{message}");
    assert!(!message.contains("rmcp::"), "no type names: {message}");

    let _daemon = HttpDaemon::start(&ws);
    let back = bridge.status(4);
    assert_eq!(back["result"]["isError"], json!(false), "a new session after the restart: {back}");
    assert_eq!(bridge.finish(), Some(0), "stdin closed: the bridge exits cleanly");
}

/// 50 MCP sessions over HTTP at once, calling snapshot_status, list_panel and get_patient while
/// `ingest --replay` writes 600 files into the same snapshot: no call fails, and no answer sees
/// half a file (each file adds exactly 40 results, so every snapshot_status must show 40 per
/// ingested file). Latency is printed. The clients are rmcp's (the official Rust SDK): 50 Python
/// SDK sessions in one process took a whole core and made about ten calls a second in all.
#[test]
fn fifty_http_clients_during_a_replay_get_no_error_and_never_half_a_file() {
    const FILES: usize = 600;
    const OBS_PER_FILE: i64 = 40;
    let ws = Workspace::with_config("", &mcp_tables(""));
    let http = HttpDaemon::start(&ws);
    let exports = ws.path("exports");
    std::fs::create_dir_all(&exports).expect("exports");
    for f in 0..FILES {
        let mrn = format!("MRN{f:04}");
        let mut messages =
            vec![crate::util::hl7::adt("A01", &format!("A{f}"), "202611240300", &mrn, "Loadtest", "5W^1^A")];
        for m in 0..8 {
            let values: Vec<String> = (0..5).map(|k| format!("{f}.{m}{k}")).collect();
            let results: Vec<(&str, &str, &str, &str)> = (0..5)
                .map(|k| (["2345-7", "2823-3", "2951-2", "2160-0", "3094-0"][k], values[k].as_str(), "mg/dL", ""))
                .collect();
            messages.push(crate::util::hl7::oru(
                &format!("L{f}-{m}"),
                &format!("2026112403{m:02}"),
                &mrn,
                &format!("O{f}-{m}"),
                &results,
            ));
        }
        std::fs::write(
            exports.join(format!("batch{f:04}.hl7")),
            crate::util::hl7::batch("20261124050000-0600", &messages),
        )
        .expect("export");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..50)
        .map(|_| runtime.spawn(load_client(http.url.clone(), std::sync::Arc::clone(&stop), OBS_PER_FILE)))
        .collect();
    std::thread::sleep(Duration::from_secs(1)); // connected and calling
    let started = Instant::now();
    let (code, out) = ws.replay(&[&exports]);
    let replay_s = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{out}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = Load::default();
    for client in clients {
        let load = runtime.block_on(client).expect("client task");
        total.errors.extend(load.errors);
        total.torn.extend(load.torn);
        total.files_seen.extend(load.files_seen);
        for (tool, samples) in load.latency {
            total.latency.entry(tool).or_default().extend(samples);
        }
    }
    let mut report = format!("50 clients during a replay of {FILES} files ({replay_s:.1} s):");
    for (tool, samples) in &mut total.latency {
        samples.sort();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
        report.push_str(&format!(" {tool} {} calls p50 {:.1} ms p99 {:.1} ms;", samples.len(), pct(0.5), pct(0.99)));
    }
    eprintln!("{report} {} distinct snapshots seen", total.files_seen.len());

    assert!(
        total.errors.is_empty(),
        "{} failed calls, e.g. {:?}",
        total.errors.len(),
        &total.errors[..total.errors.len().min(5)]
    );
    assert!(total.torn.is_empty(), "answers saw half a file: {:?}", &total.torn[..total.torn.len().min(5)]);
    assert!(total.files_seen.len() >= 10, "the reads overlapped the writes at only {} points", total.files_seen.len());
    assert!(
        total.latency.get("get_patient").map_or(0, Vec::len) >= 50 * PATIENTS_PER_SESSION,
        "every session read {PATIENTS_PER_SESSION} patients: {report}"
    );
    assert_eq!(http.daemon.log_text().matches(" ERROR ").count(), 0, "{}", http.log_text());
    assert_eq!(ws.query_i64("SELECT count(*) FROM observations"), FILES as i64 * OBS_PER_FILE);
}

/// How many patients each load session reads, at least.
const PATIENTS_PER_SESSION: usize = 3;

#[derive(Default)]
struct Load {
    errors: Vec<String>,
    /// (files ingested, observations) of answers that do not add up.
    torn: Vec<(i64, i64)>,
    files_seen: std::collections::BTreeSet<i64>,
    latency: std::collections::BTreeMap<&'static str, Vec<Duration>>,
}

/// One session: snapshot_status (checked for a torn read), list_panel, get_patient, until `stop`.
async fn load_client(url: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>, obs_per_file: i64) -> Load {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut load = Load::default();
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(CLINICIAN.to_string());
    let client = match ().serve(StreamableHttpClientTransport::from_config(config)).await {
        Ok(client) => client,
        Err(e) => {
            load.errors.push(format!("connect: {e}"));
            return load;
        }
    };
    let mut mrn: Option<String> = None;
    let mut round = 0usize;
    // Once stopped, a session still goes on until it has read a few patients, however slow the
    // machine (within a bound): a floor on the number of calls would be a timing test.
    let mut patients_read = 0;
    let mut stopping: Option<Instant> = None;
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            let since = *stopping.get_or_insert_with(Instant::now);
            if patients_read >= PATIENTS_PER_SESSION || since.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
        round += 1;
        for tool in ["snapshot_status", "list_panel", "get_patient"] {
            let args = match (tool, &mrn) {
                ("get_patient", Some(mrn)) => json!({ "mrn": mrn }),
                ("get_patient", None) => continue,
                _ => json!({}),
            };
            let params = CallToolRequestParams::new(tool).with_arguments(args.as_object().cloned().unwrap_or_default());
            let started = Instant::now();
            let result = client.call_tool(params).await;
            load.latency.entry(tool).or_default().push(started.elapsed());
            let answer = match result {
                Ok(result) if result.is_error != Some(true) => result.structured_content.unwrap_or_default(),
                Ok(result) => {
                    load.errors.push(format!("{tool}: {:?}", result.content));
                    continue;
                }
                Err(e) => {
                    load.errors.push(format!("{tool}: {e}"));
                    continue;
                }
            };
            match tool {
                "snapshot_status" => {
                    let files: i64 = answer["sources"]
                        .as_array()
                        .map_or(0, |s| s.iter().filter_map(|s| s["files_ingested"].as_i64()).sum());
                    let observations = answer["counts"]["observations"].as_i64().unwrap_or(-1);
                    load.files_seen.insert(files);
                    if observations != files * obs_per_file {
                        load.torn.push((files, observations));
                    }
                }
                "list_panel" => {
                    let patients = answer["patients"].as_array().cloned().unwrap_or_default();
                    if !patients.is_empty() {
                        mrn = patients[round % patients.len()]["mrn"].as_str().map(str::to_owned);
                    }
                }
                _ => {
                    if answer["patient"]["mrn"].as_str() == mrn.as_deref() {
                        patients_read += 1;
                    } else {
                        load.errors.push(format!("get_patient {mrn:?} answered for {}", answer["patient"]["mrn"]));
                    }
                }
            }
        }
    }
    let _ = client.cancel().await;
    load
}

/// Every sample of a `/metrics` text as the Prometheus client's OpenMetrics parser reads it (it
/// raises on anything outside the format): `(name, labels, value)`.
fn parse_metrics(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let script = "import json, sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps(out))";
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(out.status.success(), "not in the exposition format: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("parsed samples")
}

fn sample(samples: &[(String, BTreeMap<String, String>, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| *v)
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: the Prometheus client's parser, in Python")]
fn metrics_are_in_the_exposition_format_and_agree_with_status_and_the_calls_made() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let (code, _) = raw(daemon.authority(), "GET", "/metrics", &[], "");
    assert_eq!(code, 401, "no token, no metrics");

    calls_ok(
        &ws,
        &daemon,
        CLINICIAN,
        json!([{"tool": "list_panel", "args": {}}, {"tool": "get_patient", "args": {"mrn": "NO-SUCH-MRN"}}]),
    );
    // A file dropped while the daemon runs: one ingest latency observation.
    let ts = "20261125050000";
    let adt = crate::util::hl7::adt("A01", "CMETRICS1", ts, "MRNMETRICS", "Metric", "5W^510^A");
    std::fs::write(ws.path("drop/ADT_METRICS.hl7"), crate::util::hl7::batch(ts, &[adt])).expect("drop");
    let bearer = format!("Bearer {OPERATIONS}");
    // The file's ledger row commits before its latency is observed (after the archive move): wait
    // for the observation, not for the row.
    wait_for("the dropped file to go in and be timed", LIMIT, || {
        let (_, response) = raw(daemon.authority(), "GET", "/metrics", &[("Authorization", &bearer)], "");
        response.contains("ingest_file_ingest_seconds_count{source=\"ward\"} 1")
    });
    let (code, response) = raw(daemon.authority(), "GET", "/metrics", &[("Authorization", &bearer)], "");
    assert_eq!(code, 200, "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{response}");
    let body = response.split_once("\r\n\r\n").expect("body").1;
    let samples = parse_metrics(body);

    // The snapshot's figures are the ones `ingest status` shows.
    let status: Value = serde_json::from_slice(&ws.ingest(&["status", "--json"]).stdout).expect("status JSON");
    let ward = &status["sources"][0];
    for file_status in ["ingested", "ingested_with_rejects", "duplicate", "quarantined"] {
        assert_eq!(
            sample(&samples, "ingest_files", &[("source", "ward"), ("status", file_status)]),
            ward["files"][file_status].as_f64(),
            "{file_status}"
        );
    }
    assert_eq!(sample(&samples, "ingest_records", &[("kind", "patients")]), status["counts"]["patients"].as_f64());
    assert_eq!(
        sample(&samples, "ingest_records", &[("kind", "observations")]),
        status["counts"]["observations"].as_f64()
    );
    let last_export = ward["last_export_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    assert_eq!(
        sample(&samples, "ingest_last_export_timestamp_seconds", &[("source", "ward")]),
        last_export.map(|t| t.timestamp() as f64)
    );
    assert!(sample(&samples, "ingest_last_ingest_timestamp_seconds", &[("source", "ward")]).is_some());
    assert_eq!(
        sample(&samples, "ingest_source_stale", &[("source", "ward")]),
        Some(if ward["stale"] == json!(true) { 1.0 } else { 0.0 })
    );
    assert!(sample(&samples, "ingest_export_age_seconds", &[("source", "ward")]).is_some_and(|age| age > 0.0));
    assert_eq!(sample(&samples, "ingest_rejected_messages", &[("source", "ward")]), ward["rejects"].as_f64());

    // What this daemon answered and ingested.
    let calls =
        |tool: &str, result: &str| sample(&samples, "ingest_mcp_calls_total", &[("tool", tool), ("result", result)]);
    assert_eq!(calls("list_panel", "ok"), Some(1.0));
    assert_eq!(calls("get_patient", "error"), Some(1.0));
    assert_eq!(sample(&samples, "ingest_mcp_call_seconds_count", &[("tool", "list_panel")]), Some(1.0));
    assert_eq!(sample(&samples, "ingest_file_ingest_seconds_count", &[("source", "ward")]), Some(1.0));
    // No patient data in any label or name.
    for needle in ["MRN", "Metric", "NO-SUCH"] {
        assert!(!body.contains(needle), "{needle} in /metrics:\n{body}");
    }
    assert_eq!(daemon.terminate(), Some(0));
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Thousands of clients that initialize and never come back (no DELETE) leave nothing behind:
/// the server keeps no session, open files and memory stay where they were, and the ingest and
/// the next client go on.
#[test]
fn thousands_of_abandoned_clients_leave_open_files_and_memory_bounded() {
    let ws = workspace("");
    let daemon = HttpDaemon::start(&ws);
    let pid = daemon.daemon.pid();
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"left","version":"0"}}}"#;
    let bearer = format!("Bearer {CLINICIAN}");
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
    ];
    let post = || raw(daemon.authority(), "POST", "/mcp", &headers, initialize);
    for _ in 0..50 {
        assert_eq!(post().0, 200);
    }
    let (files_before, rss_before) = (open_files(pid), rss_kb(pid));
    let (status, head) = post();
    assert_eq!(status, 200, "{head}");
    assert!(!head.to_ascii_lowercase().contains("mcp-session-id"), "no session is kept: {head}");
    const CLIENTS: usize = 3_000;
    for i in 0..CLIENTS {
        let (status, head) = post();
        assert_eq!(status, 200, "client {i}: {head}");
    }
    let (files_after, rss_after) = (open_files(pid), rss_kb(pid));
    eprintln!(
        "{CLIENTS} abandoned clients: open files {files_before} → {files_after}, RSS {} → {} MB",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(files_after <= files_before + 8, "open files grew: {files_before} → {files_after}");
    assert!(rss_after <= rss_before + 40 * 1024, "RSS grew: {rss_before} → {rss_after} kB");

    // The ingest goes on, and a new client is answered.
    let hl7 = crate::util::hl7::batch(
        "20261125050000-0600",
        &[crate::util::hl7::adt("A01", "LEFT1", "20261125040000", "MRNLEFT", "AFTER", "5W^530^A")],
    );
    std::fs::write(ws.path("drop/after.hl7"), hl7).expect("drop");
    wait_for("the file dropped after the clients to be ingested", LIMIT, || {
        ws.query_i64("SELECT count(*) FROM patients WHERE mrn = 'MRNLEFT'") == 1
    });
    let (code, results) = http_client(
        &ws,
        &daemon.url,
        Some(CLINICIAN),
        &json!([{"tool": "get_patient", "args": {"mrn": "MRNLEFT"}}]),
        &[],
    );
    assert_eq!(code, 0, "{results}");
    assert_eq!(answer(&results[0])["patient"]["mrn"], "MRNLEFT");
}

/// A single self-signed certificate, as `openssl req -x509` makes it on an internal network
/// (marked as a CA, so a chain check refuses it as the server's own).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    self_signed_for(dir, "IP:127.0.0.1,DNS:localhost")
}

fn self_signed_for(dir: &Path, names: &str) -> (PathBuf, PathBuf) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-subj", "/CN=ingest.ward5.example", "-days", "1", "-keyout", "self.key", "-out", "self.pem"])
        .args(["-addext", &format!("subjectAltName={names}")])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    (dir.join("self.pem"), dir.join("self.key"))
}

/// The bridge run alone (stdin closed): its exit code and stderr, for a failed connection.
fn bridge_alone(url: &str, token_file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(crate::util::bin())
        .args(["mcp", "--connect", url, "--token-file"])
        .arg(token_file)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run the bridge");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn bridge_with(ws: &Workspace, url: &str, token_file: &Path, extra: &[&str], calls: &Value) -> (i32, Value) {
    let mut command = [crate::util::bin(), "mcp", "--connect", url, "--token-file"].map(String::from).to_vec();
    command.push(token_file.display().to_string());
    command.extend(extra.iter().map(|e| e.to_string()));
    stdio_client(ws, &command, calls)
}

#[test]
fn the_bridge_trusts_a_self_signed_daemon_by_ca_file_or_pin_and_says_what_to_do_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let ws = workspace(&format!("tls_cert = \"{}\"\ntls_key = \"{}\"", cert.display(), key.display()));
    let daemon = HttpDaemon::start(&ws);
    let tokens = token_file(&ws, "ops.token", OPERATIONS);
    let calls = json!([{"tool": "snapshot_status"}]);

    // The fingerprint, printed on the daemon's host from its configuration.
    let out = ws.ingest(&["tls-fingerprint"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pin = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(pin.starts_with("sha256:") && pin.len() == 7 + 64, "{pin}");
    assert!(daemon.log_text().contains(&pin), "the daemon logs the fingerprint it serves");

    // Without either: refused, with what to do, not a debug dump.
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not trusted") && stderr.contains("--ca-file") && stderr.contains("--pin"), "{stderr}");
    assert!(stderr.contains("ingest tls-fingerprint"), "{stderr}");
    assert!(!stderr.contains("Transport [") && !stderr.contains("WorkerTransport"), "a debug dump: {stderr}");

    // The certificate itself as the CA file, and the pin, each work.
    let ca = cert.display().to_string();
    for extra in [vec!["--ca-file", ca.as_str()], vec!["--pin", pin.as_str()]] {
        let (code, value) = bridge_with(&ws, &daemon.url, &tokens, &extra, &calls);
        assert_eq!(code, 0, "{extra:?}: {value}");
        assert_eq!(answer(&value[0])["counts"]["patients"], 21, "{extra:?}");
    }

    // A wrong pin: refused, saying the certificate is not the pinned one.
    let wrong = format!("sha256:{}", "00".repeat(32));
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &["--pin", &wrong]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is not the pinned certificate") && stderr.contains(&pin), "{stderr}");
    // Another certificate as the CA file: refused, naming the file.
    let other = tempfile::tempdir().expect("tempdir");
    let (other_cert, _) = self_signed(other.path());
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &["--ca-file", &other_cert.display().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not trusted") && stderr.contains(&other_cert.display().to_string()), "{stderr}");
    // A self-signed certificate in the CA file that names another host is not trusted here.
    let third = tempfile::tempdir().expect("tempdir");
    let (wrong_name, wrong_key) = self_signed_for(third.path(), "DNS:elsewhere.example");
    let ws2 = workspace(&format!("tls_cert = \"{}\"\ntls_key = \"{}\"", wrong_name.display(), wrong_key.display()));
    let daemon2 = HttpDaemon::start(&ws2);
    let (code, stderr) = bridge_alone(&daemon2.url, &tokens, &["--ca-file", &wrong_name.display().to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("does not name this host"), "{stderr}");
    drop(daemon2);
    // Usage errors before anything is sent.
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &["--ca-file", &ca, "--pin", &pin]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &["--pin", "sha256:1234"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = bridge_alone(&daemon.url, &tokens, &["--ca-file", "/nonexistent.pem"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
}
