//! The Claude Desktop extensions (deploy/mcpb): built by `deploy/mcpb/build.sh` with the
//! official MCPB CLI (`mcpb validate`, `mcpb pack`), unpacked with `mcpb unpack` as Claude Desktop
//! unpacks them, and their server started from the unpacked bundle with the manifest's own
//! command line, environment and user_config, answering over MCP.

use crate::mcp_http::{CLINICIAN, HttpDaemon, stdio_client, workspace};
use crate::util::mcp::{CONTRACT_TOOLS, answer};
use crate::util::{Workspace, bin};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

/// Both bundles, built from the test build of the binary into `ws`.
fn build(ws: &Workspace) -> PathBuf {
    let out = ws.path("mcpb");
    let log = run(Command::new(repo().join("deploy/mcpb/build.sh")).arg(bin()).arg(&out));
    for variant in ["connect", "local"] {
        assert!(out.join(format!("ingest-{variant}.mcpb")).is_file(), "no ingest-{variant}.mcpb:\n{log}");
    }
    out
}

/// `bundle` unpacked into `dir` by the MCPB CLI; its manifest.
fn unpack(bundle: &Path, dir: &Path) -> Value {
    run(Command::new(repo().join("deploy/mcpb/cli.sh")).arg("unpack").arg(bundle).arg(dir));
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json in the bundle");
    serde_json::from_str(&text).expect("the manifest is JSON")
}

/// The manifest's server command line as Claude Desktop makes it: `${__dirname}` is the unpacked
/// bundle, `${user_config.KEY}` the user's value or else the field's default (a required field
/// without a value is a test error). As one argv, with the environment through /usr/bin/env.
fn command_line(manifest: &Value, dir: &Path, user: &[(&str, &str)]) -> Vec<String> {
    let fields = manifest["user_config"].as_object().expect("user_config");
    let mut values = BTreeMap::new();
    for (key, field) in fields {
        let value = user.iter().find(|(k, _)| k == key).map(|(_, v)| v.to_string());
        let value = value.or_else(|| field["default"].as_str().map(String::from));
        match value {
            Some(value) => values.insert(key.clone(), value),
            None => panic!("user_config.{key} is required and has no value: {field}"),
        };
    }
    assert!(user.iter().all(|(k, _)| fields.contains_key(*k)), "a value for a field the manifest lacks");
    let substitute = |text: &str| {
        let mut text = text.replace("${__dirname}", &dir.display().to_string());
        for (key, value) in &values {
            text = text.replace(&format!("${{user_config.{key}}}"), value);
        }
        assert!(!text.contains("${"), "unsubstituted: {text}");
        text
    };
    let config = &manifest["server"]["mcp_config"];
    let mut argv = vec!["/usr/bin/env".to_string()];
    for (key, value) in config["env"].as_object().into_iter().flatten() {
        argv.push(format!("{key}={}", substitute(value.as_str().expect("env value"))));
    }
    argv.push(substitute(config["command"].as_str().expect("command")));
    argv.extend(config["args"].as_array().expect("args").iter().map(|a| substitute(a.as_str().expect("arg"))));
    argv
}

fn tool_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

/// What every bundle must say of itself.
fn check_manifest(manifest: &Value, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let version = run(Command::new(bin()).arg("--version"));
    assert_eq!(manifest["version"].as_str(), version.split_whitespace().nth(1), "the bundle's version is the binary's");
    assert_eq!(manifest["server"]["type"], "binary");
    let entry = dir.join(manifest["server"]["entry_point"].as_str().expect("entry_point"));
    let mode = std::fs::metadata(&entry).unwrap_or_else(|e| panic!("{}: {e}", entry.display())).permissions().mode();
    assert!(mode & 0o100 != 0, "{} is not executable after unpacking (mode {mode:o})", entry.display());
    let listed = tool_names(&json!({ "tools": manifest["tools"] }));
    assert_eq!(listed, CONTRACT_TOOLS, "the manifest's tools are the server's");
}

#[test]
#[cfg_attr(not(feature = "system-tests"), ignore = "system tier: npm and the MCPB CLI from the npm registry")]
fn both_extensions_pack_unpack_and_answer_from_the_bundle() {
    let ws = workspace("");
    let out = build(&ws);
    let calls = json!([{"list": "tools"}, {"tool": "snapshot_status"}, {"tool": "list_panel", "args": {"limit": 5}}]);

    // A snapshot on the clinician's machine, with the service's configuration.
    let local = ws.path("unpacked-local");
    let manifest = unpack(&out.join("ingest-local.mcpb"), &local);
    check_manifest(&manifest, &local);
    let db = ws.db().display().to_string();
    let config = ws.config().display().to_string();
    let argv = command_line(&manifest, &local, &[("snapshot", &db), ("config", &config)]);
    let (code, results) = stdio_client(&ws, &argv, &calls);
    assert_eq!(code, 0, "{argv:?}: {results}");
    assert_eq!(tool_names(&results[0]), CONTRACT_TOOLS);
    assert_eq!(answer(&results[1])["sources"][0]["name"], "ward", "{}", results[1]);
    assert_eq!(answer(&results[2])["patients"].as_array().map(Vec::len), Some(5), "{}", results[2]);

    // The bridge to the ward's daemon, with the token from the extension's secret field and the
    // optional CA file and pin left blank.
    let daemon = HttpDaemon::start(&ws);
    let connect = ws.path("unpacked-connect");
    let manifest = unpack(&out.join("ingest-connect.mcpb"), &connect);
    check_manifest(&manifest, &connect);
    assert_eq!(manifest["user_config"]["token"]["sensitive"], true, "the token is a secret");
    assert!(
        !manifest["server"]["mcp_config"]["args"].to_string().contains("user_config.token"),
        "the token goes in the environment, not on a command line that `ps` shows"
    );
    let argv = command_line(&manifest, &connect, &[("url", &daemon.url), ("token", CLINICIAN)]);
    let (code, results) = stdio_client(&ws, &argv, &calls);
    assert_eq!(code, 0, "{argv:?}: {results}\n{}", daemon.log_text());
    assert_eq!(tool_names(&results[0]), CONTRACT_TOOLS);
    assert_eq!(results[1]["isError"], false, "{}", results[1]);
    assert_eq!(answer(&results[2])["patients"].as_array().map(Vec::len), Some(5), "{}", results[2]);

    // A wrong token: the extension's server says so and stops, as Claude Desktop shows it.
    let argv = command_line(&manifest, &connect, &[("url", &daemon.url), ("token", "not-a-token")]);
    let (code, results) = stdio_client(&ws, &argv, &calls);
    assert_ne!(code, 0, "a wrong token was accepted: {results}");
    daemon.terminate();
}
