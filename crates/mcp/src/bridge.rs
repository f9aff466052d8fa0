//! `ingest mcp --connect URL`: a stdio MCP server that forwards every request to a daemon's MCP
//! over Streamable HTTP, with a bearer token. An assistant that only starts local stdio
//! servers (Claude Desktop / Cowork) reaches the daemon over the hospital network this way; the
//! daemon checks the token's role and audits each call under the token's identity.
//!
//! The bridge holds no data and decides nothing: tools, resources and prompts are listed and
//! answered by the daemon, and its answers (including tool errors and protocol errors) come back
//! unchanged.

use crate::server::TRANSPORT_HEADER;
pub use crate::trust::TrustOptions;
use anyhow::Context as _;
use rmcp::model::*;
use rmcp::service::{Peer, RequestContext, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// How long connecting to the daemon (the MCP handshake) may take before the bridge gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bad `--connect` URL or token: a usage error (exit 2), found before anything is sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// The bearer token: the first line of `token_file` (which must not be readable by group or
/// others), else `$INGEST_TOKEN`. The token is never logged.
pub fn token(token_file: Option<&Path>) -> Result<String, UsageError> {
    let token = match token_file {
        Some(path) => read_token_file(path)?,
        None => std::env::var("INGEST_TOKEN")
            .map_err(|_| UsageError("no token: give --token-file FILE or set INGEST_TOKEN".into()))?,
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        let from = token_file.map_or("INGEST_TOKEN".to_string(), |p| p.display().to_string());
        return Err(UsageError(format!("the token in {from} is empty")));
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(UsageError("the token holds spaces or control characters".into()));
    }
    Ok(token)
}

fn read_token_file(path: &Path) -> Result<String, UsageError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| UsageError(format!("--token-file {shown}: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(UsageError(format!(
            "--token-file {shown} is readable by group or others (mode {mode:o}); a token is a password: chmod 600 {shown}"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| UsageError(format!("--token-file {shown}: {e}")))
}

/// Check the URL before a token goes anywhere: http(s) only, and plain http only to this host.
pub fn check_url(url: &str) -> Result<(), UsageError> {
    let uri: http::Uri =
        url.parse().map_err(|_| UsageError(format!("--connect {url:?} is not a URL (https://host:port/mcp)")))?;
    let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() {
        return Err(UsageError(format!("--connect {url:?} has no host")));
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(UsageError(format!(
                    "--connect {url:?}: refusing to send the token over plain http to another host; use https://"
                )))
            }
        }
        _ => Err(UsageError(format!("--connect {url:?} must start with https:// (or http:// to this host)"))),
    }
}

/// Connect to the daemon, then serve MCP on stdio until the client closes stdin.
pub async fn serve(url: &str, token: String, trust: &TrustOptions) -> anyhow::Result<()> {
    let upstream = connect(url, token, trust).await?;
    let info = upstream.peer().peer_info();
    let bridge = Bridge { upstream: upstream.peer().clone(), info: info.as_deref().cloned() };
    tracing::info!(url, "MCP bridge: connected to the daemon; serving on stdio");
    let downstream = bridge.serve(rmcp::transport::stdio()).await.context("MCP over stdio")?;
    let reason = downstream.waiting().await;
    // Close the daemon session (DELETE) so it does not linger until it times out.
    let _ = upstream.cancel().await;
    reason.context("MCP over stdio")?;
    Ok(())
}

async fn connect(url: &str, token: String, trust: &TrustOptions) -> anyhow::Result<RunningService<RoleClient, ()>> {
    let mut headers = HashMap::new();
    headers.insert(http::HeaderName::from_static(TRANSPORT_HEADER), http::HeaderValue::from_static("bridge"));
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token).custom_headers(headers);
    let transport = match super::trust::client(trust).map_err(UsageError)? {
        Some(client) => StreamableHttpClientTransport::with_client(client, config),
        None => StreamableHttpClientTransport::from_config(config),
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, ().serve(transport)).await {
        Err(_) => anyhow::bail!("no MCP answer from {url} within {CONNECT_TIMEOUT:?}"),
        Ok(Err(e)) if e.auth_challenge().is_some() => anyhow::bail!(
            "the daemon at {url} refused the token (401 Unauthorized): check --token-file or INGEST_TOKEN \
             against the daemon's [[mcp.token]] entries"
        ),
        Ok(Err(e)) => match super::trust::advice(&format!("{e:?}"), trust) {
            Some(advice) => anyhow::bail!("cannot connect to the daemon's MCP at {url}: {advice}"),
            None => anyhow::bail!("cannot connect to the daemon's MCP at {url}: {}", root_cause(&e)),
        },
        Ok(Ok(running)) => Ok(running),
    }
}

/// The stdio side: every request goes to the daemon's session.
#[derive(Debug, Clone)]
struct Bridge {
    upstream: Peer<RoleClient>,
    /// What the daemon said about itself at the handshake.
    info: Option<ServerPeerInfo>,
}

/// A daemon's MCP error comes back as is; a transport failure says where it happened.
fn upstream_error(e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        e if e.auth_challenge().is_some() => McpError::internal_error(
            "the ingest daemon no longer accepts this bridge's token (401): check the token file",
            None,
        ),
        e => McpError::internal_error(format!("the ingest daemon could not be reached: {}", root_cause(&e)), None),
    }
}

/// The innermost error (e.g. `Connection refused`), without the transport's type names around it.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        match &self.info {
            Some(info) => {
                let mut config = ServerConfig::new(info.capabilities.clone());
                if let Some(server) = &info.server_info {
                    config = config.with_server_info(server.clone());
                }
                if let Some(instructions) = &info.instructions {
                    config = config.with_instructions(instructions.clone());
                }
                config
            }
            None => ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
                .with_server_info(Implementation::new("ingest-bridge", env!("CARGO_PKG_VERSION"))),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.upstream.list_tools(request).await.map_err(upstream_error)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.upstream.call_tool_once(request).await.map_err(upstream_error)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.upstream.list_resources(request).await.map_err(upstream_error)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.upstream.list_resource_templates(request).await.map_err(upstream_error)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.upstream.read_resource_once(request).await.map_err(upstream_error)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.upstream.list_prompts(request).await.map_err(upstream_error)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.upstream.get_prompt_once(request).await.map_err(upstream_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn urls_are_checked_before_the_token_leaves() {
        assert!(check_url("https://ingest.ward5.example:8443/mcp").is_ok());
        assert!(check_url("http://127.0.0.1:8765/mcp").is_ok());
        assert!(check_url("http://localhost:8765/mcp").is_ok());
        assert!(check_url("http://[::1]:8765/mcp").is_ok());
        assert!(matches!(check_url("http://10.0.0.5:8765/mcp"), Err(UsageError(_))));
        assert!(matches!(check_url("ftp://host/mcp"), Err(UsageError(_))));
        assert!(matches!(check_url("not a url"), Err(UsageError(_))));
    }

    #[test]
    fn a_token_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "tok-123\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = token(Some(&path)).expect_err("0644 is refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(token(Some(&path)).expect("0600 is fine"), "tok-123");
        std::fs::write(&path, "  \n").expect("write");
        assert!(matches!(token(Some(&path)), Err(UsageError(_))));
    }
}
