//! `ingest mcp`: the MCP server over stdio on a local snapshot, for an assistant on this machine.
//! stdout is the wire; logs go to stderr.

use super::server::{Caller, IngestMcp, Shared, open_db};
use crate::config::Config;
use rmcp::ServiceExt;

/// Serve until the client closes stdin. The caller is the local OS user with the configured
/// stdio role.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = open_db(&config.snapshot)?;
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let caller = Caller { identity: format!("local:{user}"), role: config.mcp.stdio_role.clone(), transport: "stdio" };
    let shared = Shared::new(config, crate::time::clock_from_env())?;
    tracing::info!(identity = %caller.identity, role = %caller.role, "MCP over stdio");
    let service = IngestMcp::new(shared, db, Some(caller)).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
