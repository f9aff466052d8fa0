//! Every MCP tool tried with injection-shaped arguments — SQL, paths, huge strings, odd unicode,
//! wrong types — over stdio with the official SDK: each call is answered (an error, or an answer
//! that finds nothing it should not), nothing is written to the snapshot, the server stays up,
//! and each call is an audit line.

use crate::mcp_stdio::call;
use crate::util::{Workspace, samples};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Strings an assistant could be talked into passing on.
fn hostile_strings() -> Vec<Value> {
    let strings = [
        "' OR '1'='1",
        "MRN57552' --",
        "MRN57552\"; DROP TABLE patients; --",
        "1; ATTACH DATABASE '/tmp/x.db' AS x; --",
        "../../../../etc/passwd",
        "/etc/shadow",
        "file:///etc/passwd",
        "patient://../../etc/passwd",
        "%",
        "_",
        "*",
        "\"",
        "NEAR(a b",
        "pneumonia OR 1=1",
        "MRN57552\u{0}",
        "\u{0}",
        "\u{202e}25575NRM",
        "ＭＲＮ５７５５２",
        "M\u{0301}RN57552",
        "🩺💊",
        "",
        "   ",
        "\r\nMSH|^~\\&|",
        "2026-13-45T99:99:99Z",
        "-1",
        "eyJvZmZzZXQiOi0xfQ==",
    ];
    let mut out: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    out.push(json!("A".repeat(1 << 20)));
    out.push(json!("%".repeat(10_000)));
    out
}

/// Values of the wrong type, and integers out of range.
fn hostile_others() -> Vec<Value> {
    vec![
        json!(-1),
        json!(0),
        json!(1u64 << 63),
        json!(1e308),
        json!(null),
        json!([]),
        json!({"$ne": null}),
        json!(true),
    ]
}

fn sha256_of(path: &std::path::Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).expect("read")))
}

#[test]
fn every_tool_with_injection_shaped_arguments_errs_or_finds_nothing_writes_nothing_and_stays_up() {
    let ws = Workspace::new();
    let (code, out) = ws.replay(&[&samples()]);
    assert_eq!(code, 0, "{out}");
    let snapshot_before = sha256_of(&ws.db());
    let records_before = crate::util::dump(&ws.db());
    let valid = json!({"mrn": "MRN57552", "query": "pneumonia", "document_id": "D-1"});

    // One session: the tool list, then every tool × argument × hostile value, then a plain call.
    let tools = call(&ws, json!([{"list": "tools"}]));
    let tools = tools[0]["tools"].as_array().expect("tools").clone();
    assert!(tools.len() >= 9);
    let mut calls = Vec::new();
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        let schema = &tool["inputSchema"];
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let properties: Vec<String> =
            schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        // A tool without arguments still gets unexpected ones.
        let targets = if properties.is_empty() { vec!["mrn".to_string()] } else { properties };
        for property in &targets {
            for value in hostile_strings().into_iter().chain(hostile_others()) {
                let mut args = serde_json::Map::new();
                for r in &required {
                    args.insert((*r).to_string(), valid[*r].clone());
                }
                args.insert(property.clone(), value.clone());
                calls.push(json!({"tool": name, "args": args}));
            }
        }
    }
    calls.push(json!({"tool": "snapshot_status"}));
    let results = call(&ws, Value::Array(calls.clone()));
    assert_eq!(results.len(), calls.len());

    let (mut errors, mut answered) = (0, 0);
    for (call, result) in calls.iter().zip(&results) {
        let shown = {
            let text = call.to_string();
            if text.len() > 300 { format!("{}…", &text[..300]) } else { text }
        };
        let text = result.to_string();
        assert!(result.get("connect_error").is_none(), "{shown}: the server went away: {text:.300}");
        if result.get("protocol_error").is_some() || result["isError"] == json!(true) {
            errors += 1;
            // A clean refusal, never the database's own words or a panic.
            for leak in ["sqlite", "SQL logic", "syntax error", "panicked", "no such", "fts5"] {
                assert!(
                    !text.to_lowercase().contains(&leak.to_lowercase()),
                    "{shown}: the error leaks {leak:?}: {text:.500}"
                );
            }
            continue;
        }
        answered += 1;
        // An answer to a hostile identifier finds nobody: no patient is named by it.
        let args = &call["args"];
        // (A null MRN where it is optional means "every patient", as documented.)
        let hostile_mrn = args["mrn"].is_string() && args["mrn"] != valid["mrn"];
        if hostile_mrn {
            let answer = &result["structuredContent"];
            let found = answer["patient"].is_object()
                || answer["items"].as_array().is_some_and(|items| !items.is_empty())
                || answer["results"].as_array().is_some_and(|items| !items.is_empty());
            assert!(!found, "{shown}: a hostile MRN found records: {text:.500}");
        }
    }
    let last = results.last().expect("last");
    assert_eq!(last["isError"], json!(false), "the server still answers after {} calls: {last}", calls.len());
    eprintln!("{} hostile calls: {errors} refused, {answered} answered without a match", calls.len() - 1);

    // Nothing written: the snapshot's bytes and contents are as before; the audit has every call.
    assert_eq!(sha256_of(&ws.db()), snapshot_before, "the snapshot file changed");
    assert_eq!(crate::util::dump(&ws.db()), records_before);
    let audit = std::fs::read_to_string(ws.path("data/audit.jsonl")).expect("audit log");
    assert_eq!(audit.lines().count(), calls.len(), "one audit line per call, refused ones too");
    let longest = audit.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "a huge argument is recorded shortened, not whole: a line of {longest} bytes");
    assert!(audit.contains("(1048576 characters, sha256 "), "the huge argument's length and hash are recorded");
    let verify = ws.ingest(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

/// Every request is an audit line, answered or not: an unknown tool, a prompt, an unknown prompt,
/// a resource outside the server's schemes; the stdio identity is the OS user's, whatever `$USER`
/// says; an error answer carries the snapshot's freshness like any other.
#[test]
fn unknown_tools_prompts_and_foreign_resources_are_audited_under_the_os_user() {
    let ws = Workspace::new();
    assert_eq!(ws.replay(&[&samples()]).0, 0);
    let results = call(
        &ws,
        json!([
            {"tool": "drop_all_tables", "args": {"really": true}},
            {"prompt": "pre_rounds_summary", "args": {"location": "5W"}},
            {"prompt": "exfiltrate", "args": {}},
            {"read": "file:///etc/passwd"},
            {"tool": "get_patient", "args": {"mrn": "NOBODY"}},
        ]),
    );
    assert!(results[0]["protocol_error"].as_str().is_some_and(|e| e.contains("drop_all_tables")), "{}", results[0]);
    assert!(results[1]["messages"].is_array(), "{}", results[1]);
    assert!(results[2]["protocol_error"].is_string(), "{}", results[2]);
    assert!(results[3]["protocol_error"].is_string(), "{}", results[3]);
    let error: Value = serde_json::from_str(results[4]["content"][0]["text"].as_str().expect("text")).expect("json");
    assert_eq!(error["error"]["code"], "unknown_mrn");
    assert!(error["snapshot"]["as_of"].is_string() && error["snapshot"]["stale"].is_boolean(), "{error}");

    let audit: Vec<Value> = std::fs::read_to_string(ws.path("data/audit.jsonl"))
        .expect("audit")
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line"))
        .collect();
    let line = |tool: &str| {
        audit.iter().find(|l| l["tool"] == tool).unwrap_or_else(|| panic!("no audit line for {tool}: {audit:?}"))
    };
    assert_eq!(line("unknown_tool")["arguments"]["name"], "drop_all_tables");
    assert_eq!(line("unknown_tool")["result"], "error: no such tool");
    assert_eq!(line("prompt:pre_rounds_summary")["result"], "ok");
    assert_eq!(line("prompt:pre_rounds_summary")["arguments"]["location"], "5W");
    assert_eq!(line("prompt:exfiltrate")["result"], "error: no such prompt");
    assert_eq!(line("resource")["arguments"]["uri"], "file:///etc/passwd");
    assert_eq!(line("resource")["result"], "error: no such resource");
    let os_user = String::from_utf8(std::process::Command::new("id").arg("-un").output().expect("id").stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    for l in &audit {
        let identity = l["identity"].as_str().expect("identity");
        assert!(identity.starts_with(&format!("local:{os_user} (uid ")), "{identity} is not the OS user {os_user}");
        assert!(!identity.contains("dr.house"), "the identity came from $USER: {identity}");
    }
    let verified = ws.ingest(&["audit", "verify"]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}
