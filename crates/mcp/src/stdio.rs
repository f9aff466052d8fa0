//! `ingest mcp`: the MCP server over stdio on a local snapshot, for an assistant on this machine.
//! stdout is the wire; logs go to stderr.

use crate::server::{Caller, IngestMcp, Shared, Unobserved, open_db};
use ingest_config::Config;
use rmcp::ServiceExt;

/// Serve until the client closes stdin. The caller is the local OS user with the configured
/// stdio role.
pub async fn serve(config: Config, clock: std::sync::Arc<dyn ingest_core::time::Clock>) -> anyhow::Result<()> {
    let db = open_db(&config.snapshot)?;
    let caller = Caller { identity: local_identity(), role: config.mcp.stdio_role.clone(), transport: "stdio" };
    let shared = Shared::new(config, clock, std::sync::Arc::new(Unobserved))?;
    tracing::info!(identity = %caller.identity, role = %caller.role, "MCP over stdio");
    let service = IngestMcp::new(shared, db, Some(caller)).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}

/// `local:NAME (uid N)` of the process's real user, from the OS: `$USER` is whatever the parent
/// set, and the audit must not take a name from it. The name comes from `/etc/passwd`; a user it
/// does not list (a directory account) is recorded by uid alone.
fn local_identity() -> String {
    let uid = rustix::process::getuid().as_raw();
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|passwd| user_name(&passwd, uid));
    match name {
        Some(name) => format!("local:{name} (uid {uid})"),
        None => format!("local:uid {uid}"),
    }
}

fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_user_name_is_looked_up_by_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# comment\ningest:x:998:998::/var/lib/ingest:/usr/sbin/nologin\n";
        assert_eq!(super::user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(super::user_name(passwd, 998).as_deref(), Some("ingest"));
        assert_eq!(super::user_name(passwd, 1000), None);
    }
}
