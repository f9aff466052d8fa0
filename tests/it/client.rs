//! The MCP client of the hermetic tier: rmcp's own, in the test process, over stdio (a child
//! `ingest mcp`, or the bridge) or Streamable HTTP. It takes the call lists that
//! `tests/mcp_client.py` takes and gives back the same wire JSON, so that every MCP test runs with
//! either client: rmcp under plain `cargo test`, the official Python SDK (the system tier) with
//! `--features system-tests`.

use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Where the server is.
pub enum Server<'a> {
    /// A child process speaking MCP on its stdin and stdout (`ingest mcp`, or the bridge).
    Stdio(tokio::process::Command),
    /// Streamable HTTP, with the bearer token if any.
    Http { url: &'a str, token: Option<&'a str> },
}

/// What a run gives: one result per call (as `tests/mcp_client.py` prints them), or why no session
/// could be made; and a stdio server's stderr.
pub struct Run {
    pub results: Result<Vec<Value>, String>,
    pub stderr: Vec<u8>,
}

/// Run `calls` (a JSON list in `tests/mcp_client.py`'s format) in one session.
pub fn run(server: Server<'_>, calls: &Value) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        let calls = calls.as_array().expect("a list of calls");
        let (client, stderr) = match server {
            Server::Stdio(command) => {
                let (transport, stderr) = TokioChildProcess::builder(command)
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn the MCP server");
                let stderr = stderr.map(|mut pipe| {
                    tokio::spawn(async move {
                        let mut bytes = Vec::new();
                        let _ = pipe.read_to_end(&mut bytes).await;
                        bytes
                    })
                });
                (().serve(transport).await.map_err(|e| e.to_string()), stderr)
            }
            Server::Http { url, token } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
                if let Some(token) = token {
                    config = config.auth_header(token.to_string());
                }
                (().serve(StreamableHttpClientTransport::from_config(config)).await.map_err(|e| e.to_string()), None)
            }
        };
        let results = match client {
            Ok(client) => {
                let mut results = Vec::with_capacity(calls.len());
                for call in calls {
                    results.push(one(&client, call).await.unwrap_or_else(|e| json!({ "protocol_error": e })));
                }
                let _ = client.cancel().await;
                Ok(results)
            }
            Err(e) => Err(e),
        };
        let stderr = match stderr {
            Some(task) => tokio::time::timeout(Duration::from_secs(10), task).await.ok().and_then(Result::ok),
            None => None,
        };
        Run { results, stderr: stderr.unwrap_or_default() }
    })
}

/// One call's result in its wire form.
async fn one(client: &RunningService<RoleClient, ()>, call: &Value) -> Result<Value, String> {
    let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
    if let Some(tool) = call.get("tool") {
        let params: CallToolRequestParams =
            serde_json::from_value(json!({ "name": tool, "arguments": args })).expect("tool call");
        let mut result = wire(&client.call_tool(params).await.map_err(message)?);
        // The Python SDK always says whether it is an error; so does this client.
        if result.get("isError").is_none() {
            result["isError"] = json!(false);
        }
        return Ok(result);
    }
    if let Some(uri) = call.get("read") {
        let params: ReadResourceRequestParams = serde_json::from_value(json!({ "uri": uri })).expect("read");
        return Ok(wire(&client.read_resource(params).await.map_err(message)?));
    }
    if let Some(name) = call.get("prompt") {
        let params: GetPromptRequestParams =
            serde_json::from_value(json!({ "name": name, "arguments": args })).expect("prompt");
        return Ok(wire(&client.get_prompt(params).await.map_err(message)?));
    }
    match call.get("list").and_then(Value::as_str) {
        Some("tools") => Ok(wire(&client.list_tools(None).await.map_err(message)?)),
        Some("resources") => Ok(wire(&client.list_resources(None).await.map_err(message)?)),
        Some("resource_templates") => Ok(wire(&client.list_resource_templates(None).await.map_err(message)?)),
        Some("prompts") => Ok(wire(&client.list_prompts(None).await.map_err(message)?)),
        _ => panic!("unknown call {call}"),
    }
}

fn wire(result: &impl serde::Serialize) -> Value {
    serde_json::to_value(result).expect("a result serializes")
}

/// A JSON-RPC error answer's message, as the Python SDK's exception says it.
fn message(e: ServiceError) -> String {
    match e {
        ServiceError::McpError(data) => data.message.to_string(),
        other => other.to_string(),
    }
}
