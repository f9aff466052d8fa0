//! `[mcp]`: the assistant's side: the HTTP listener, tokens, the roles and what each may read
//! (the access vocabulary of tools and record kinds), critical limits, the answer budget.

use super::*;
use crate::raw::*;

/// The record kinds a role may read (minimum necessary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Demographics and identifiers.
    Patients,
    /// Panel membership, location, attending, admission and discharge.
    Panel,
    Observations,
    Medications,
    Problems,
    Allergies,
    Documents,
}

impl RecordKind {
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Patients,
        RecordKind::Panel,
        RecordKind::Observations,
        RecordKind::Medications,
        RecordKind::Problems,
        RecordKind::Allergies,
        RecordKind::Documents,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::Patients => "patients",
            RecordKind::Panel => "panel",
            RecordKind::Observations => "observations",
            RecordKind::Medications => "medications",
            RecordKind::Problems => "problems",
            RecordKind::Allergies => "allergies",
            RecordKind::Documents => "documents",
        }
    }

    fn parse(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a role may call and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Tool names; `None` means every tool.
    pub tools: Option<Vec<String>>,
    pub kinds: Vec<RecordKind>,
}

impl Role {
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|tools| tools.iter().any(|t| t == tool))
    }

    pub fn allows(&self, kind: RecordKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A bearer token the daemon accepts: only its SHA-256 is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    pub identity: String,
    pub role: String,
}

pub use ingest_parse::DEFAULT_MAX_FILE_MB;

/// The MCP side: HTTP served by `ingest run`, roles, tokens, the audit log.
#[derive(Debug, Clone)]
pub struct McpConfig {
    /// Serve MCP over HTTP from `ingest run`. Default: true.
    pub http_enabled: bool,
    pub bind: std::net::IpAddr,
    pub port: u16,
    /// The MCP endpoint path. Default: "/mcp".
    pub path: String,
    /// Certificate chain and key (PEM) for HTTPS; required for a non-loopback bind.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Browser origins allowed to call (`Origin` header); requests with any other Origin are refused.
    pub allowed_origins: Vec<String>,
    /// Host names (besides loopback and the bind address) that clients use to reach the daemon.
    pub allowed_hosts: Vec<String>,
    pub tokens: Vec<TokenConfig>,
    pub roles: Vec<Role>,
    /// The role of a local `ingest mcp` over stdio (the OS user is the identity).
    pub stdio_role: String,
    /// The append-only, hash-chained access log, when configured; see [`Config::audit_log`].
    pub audit_log: Option<PathBuf>,
    /// Default and maximum page size of list answers.
    pub page_size: usize,
    pub max_page_size: usize,
    /// The most an answer may cost a model, in estimated tokens (see `mcp::budget`).
    pub answer_budget: usize,
    /// Critical limits by result code, besides the flags `HH`, `LL` and `AA`.
    pub critical: Vec<CriticalLimit>,
}

/// A result of `code` below `low` or above `high` is critical, whatever its flag says.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalLimit {
    pub code: String,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// The default answer budget, in estimated tokens, and the range a configuration may choose from:
/// the top keeps every answer under the 25,000 tokens and 50,000 characters that Claude Code
/// accepts from one tool, for the text and the structured content together.
pub const DEFAULT_ANSWER_BUDGET: usize = 8_000;
pub const ANSWER_BUDGET_RANGE: std::ops::RangeInclusive<usize> = 2_000..=16_000;

impl McpConfig {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

/// What the daemon's HTTP port serves besides MCP.
pub const RESERVED_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics", "/status"];

/// The tools of the MCP contract (README, the assistant's side), for checking role definitions.
pub const MCP_TOOLS: &[&str] = &[
    "snapshot_status",
    "list_panel",
    "get_patient",
    "get_observations",
    "get_medications",
    "get_documents",
    "read_document",
    "search_documents",
    "panel_changes",
];

/// The built-in roles: `clinician` reads everything; `operations` sees only the snapshot's status.
pub(crate) fn built_in_roles() -> Vec<Role> {
    vec![
        Role { name: "clinician".into(), tools: None, kinds: RecordKind::ALL.to_vec() },
        Role { name: "operations".into(), tools: Some(vec!["snapshot_status".into()]), kinds: Vec::new() },
    ]
}

pub(crate) fn check_mcp(raw: RawMcp, base: &Path, data_dir: &Path) -> Result<McpConfig, (String, String)> {
    let bind_text = raw.bind.unwrap_or_else(|| "127.0.0.1".into());
    let bind: std::net::IpAddr =
        bind_text.parse().map_err(|_| ("mcp.bind".to_string(), format!("{bind_text:?} is not an IP address")))?;
    let path = raw.path.unwrap_or_else(|| "/mcp".into());
    if !path.starts_with('/') || path.len() < 2 {
        return Err(("mcp.path".into(), format!("{path:?} must start with '/' (e.g. \"/mcp\")")));
    }
    if RESERVED_PATHS.contains(&path.as_str()) || path.starts_with("/status/") {
        return Err((
            "mcp.path".into(),
            format!(
                "{path:?} is one of the daemon's own pages ({}); \"/mcp\" is the default",
                RESERVED_PATHS.join(", ")
            ),
        ));
    }
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(cert), Some(key)) => Some((base.join(cert), base.join(key))),
        (None, None) => None,
        (Some(_), None) => return Err(("mcp.tls_key".into(), "missing: tls_cert is set, so is the key".into())),
        (None, Some(_)) => {
            return Err(("mcp.tls_cert".into(), "missing: tls_key is set, so is the certificate".into()));
        }
    };
    let http_enabled = raw.http.unwrap_or(true);
    if http_enabled && !bind.is_loopback() && tls.is_none() {
        return Err((
            "mcp.bind".into(),
            format!("{bind} is not a loopback address: serving PHI beyond this host requires tls_cert and tls_key"),
        ));
    }
    if let Some(bad) = raw.allowed_origins.iter().flatten().find(|o| !(o.contains("://") || *o == "null")) {
        return Err(("mcp.allowed_origins".into(), format!("{bad:?} must include a scheme (https://host:port)")));
    }

    let mut roles = built_in_roles();
    for (i, r) in raw.role.into_iter().enumerate() {
        let key = |f: &str| format!("mcp.role[{i}].{f}");
        let name = r.name.ok_or((key("name"), "missing".to_string()))?;
        if let Some(bad) = r.tools.iter().flatten().find(|t| !MCP_TOOLS.contains(&t.as_str())) {
            return Err((key("tools"), format!("unknown tool {bad:?} (known: {})", MCP_TOOLS.join(", "))));
        }
        let mut kinds = Vec::new();
        for k in r.kinds.unwrap_or_default() {
            let kind = RecordKind::parse(&k).ok_or_else(|| {
                let known: Vec<&str> = RecordKind::ALL.iter().map(RecordKind::as_str).collect();
                (key("kinds"), format!("unknown record kind {k:?} (known: {})", known.join(", ")))
            })?;
            kinds.push(kind);
        }
        let role = Role { name: name.clone(), tools: r.tools, kinds };
        match roles.iter_mut().find(|existing| existing.name == name) {
            Some(existing) => *existing = role,
            None => roles.push(role),
        }
    }
    let mut tokens = Vec::new();
    for (i, t) in raw.token.into_iter().enumerate() {
        let key = |f: &str| format!("mcp.token[{i}].{f}");
        let sha256 = t.sha256.ok_or((key("sha256"), "missing: the SHA-256 (hex) of the token".to_string()))?;
        let sha256 = sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err((key("sha256"), "must be 64 hex digits (`printf %s TOKEN | sha256sum`)".into()));
        }
        let identity = t.identity.filter(|s| !s.is_empty()).ok_or((key("identity"), "missing".to_string()))?;
        let role = t.role.ok_or((key("role"), "missing".to_string()))?;
        if !roles.iter().any(|r| r.name == role) {
            return Err((key("role"), format!("no role named {role:?}")));
        }
        tokens.push(TokenConfig { sha256, identity, role });
    }
    let stdio_role = raw.stdio_role.unwrap_or_else(|| "clinician".into());
    if !roles.iter().any(|r| r.name == stdio_role) {
        return Err(("mcp.stdio_role".into(), format!("no role named {stdio_role:?}")));
    }
    let page_size = raw.page_size.unwrap_or(50);
    let max_page_size = raw.max_page_size.unwrap_or(500);
    if page_size == 0 || page_size > max_page_size {
        return Err(("mcp.page_size".into(), format!("must be between 1 and max_page_size ({max_page_size})")));
    }
    let answer_budget = raw.answer_budget.unwrap_or(DEFAULT_ANSWER_BUDGET);
    if !ANSWER_BUDGET_RANGE.contains(&answer_budget) {
        let (low, high) = (ANSWER_BUDGET_RANGE.start(), ANSWER_BUDGET_RANGE.end());
        return Err(("mcp.answer_budget".into(), format!("{answer_budget} tokens: must be between {low} and {high}")));
    }
    let mut critical = Vec::new();
    for (i, c) in raw.critical.into_iter().enumerate() {
        let key = |k: &str| format!("mcp.critical[{i}].{k}");
        let code = c.code.filter(|c| !c.trim().is_empty()).ok_or_else(|| (key("code"), "is required".to_string()))?;
        if c.low.is_none() && c.high.is_none() {
            return Err((key("low"), "a critical limit needs low, high or both".into()));
        }
        if let (Some(low), Some(high)) = (c.low, c.high)
            && low >= high
        {
            return Err((key("low"), format!("{low} is not below high ({high})")));
        }
        critical.push(CriticalLimit { code: code.trim().to_string(), low: c.low, high: c.high });
    }
    Ok(McpConfig {
        http_enabled,
        bind,
        port: raw.port.unwrap_or(8765),
        path,
        tls,
        allowed_origins: raw.allowed_origins.unwrap_or_default(),
        allowed_hosts: raw.allowed_hosts.unwrap_or_default(),
        tokens,
        roles,
        stdio_role,
        audit_log: raw.audit_log.map(|p| data_dir.join(p)),
        page_size,
        max_page_size,
        answer_budget,
        critical,
    })
}
