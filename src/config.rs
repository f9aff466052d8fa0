//! Configuration: TOML read in two stages, raw (serde) then checked ([`Config`]), so that every
//! error names the file and the key. Where it comes from: `--config`, then `$INGEST_CONFIG`, then
//! `/etc/ingest/ingest.toml`, then built-in defaults that serve a local trial run.

use crate::parse::csv::{CsvKind, CsvMapping, Derived, FileNameTime};
use crate::parse::pdf::{PdfMapping, PdfOptions};
use crate::parse::{MrnRule, ParseOptions};
use crate::time::Zone;
use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The system-wide config file, read when neither `--config` nor `$INGEST_CONFIG` is given.
pub const SYSTEM_CONFIG: &str = "/etc/ingest/ingest.toml";

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {key}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub key: String,
    pub message: String,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::BuiltIn => write!(f, "built-in defaults"),
        }
    }
}

/// What happens to a folder file once it is in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterIngest {
    /// Move to `archive/SOURCE/YYYY/MM/DD/`.
    Archive,
    /// Leave it where it is (the ledger remembers it by path, size and mtime).
    Keep,
    Delete,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub origin: Origin,
    /// Snapshot, archive/, quarantine/ live here.
    pub data_dir: PathBuf,
    pub snapshot: PathBuf,
    pub zone: Zone,
    pub mrn: MrnRule,
    /// How to read an HL7 file that is not UTF-8 and whose MSH-18 names no known charset.
    pub default_charset: &'static encoding_rs::Encoding,
    /// Files larger than this are quarantined unread (`max_file_mb`, default 512): memory stays
    /// bounded whatever lands in a drop folder.
    pub max_file_bytes: u64,
    /// `hl7.require_batch_trailers` (default true): an FHS/BHS without its FTS/BTS is a file cut short.
    pub require_batch_trailers: bool,
    /// `hl7.reject_types`: message types the snapshot does not use that are rejects all the same.
    pub reject_types: Vec<String>,
    /// How CSV files are read (`[[csv.mapping]]`; the built-in mappings when none is configured).
    pub csv: Vec<CsvMapping>,
    /// How PDF notes are read (`[pdf]` timeout, `[[pdf.mapping]]`; the built-in mapping when none
    /// is configured).
    pub pdf: PdfOptions,
    pub sources: Vec<SourceConfig>,
    pub mcp: McpConfig,
    pub retention: RetentionConfig,
    pub alerts: AlertsConfig,
}

/// What an alert is about: the vocabulary of `alerts.on` (the alerts module sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Stale,
    Quarantined,
    Recovered,
    /// A poll or scan failed, after the last one worked.
    Failing,
    /// A poll or scan worked, after failing.
    Working,
    /// An export run's files have waited for its marker longer than `hold_limit`.
    Held,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Stale,
        AlertKind::Quarantined,
        AlertKind::Recovered,
        AlertKind::Failing,
        AlertKind::Working,
        AlertKind::Held,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::Stale => "stale",
            AlertKind::Quarantined => "quarantined",
            AlertKind::Recovered => "recovered",
            AlertKind::Failing => "failing",
            AlertKind::Working => "working",
            AlertKind::Held => "held",
        }
    }

    pub fn parse(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// `[retention]` (minimum necessary): how long archived exports and the patients who
/// have left every panel are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Off (`enabled = false`): nothing is ever deleted or purged by the daemon.
    pub enabled: bool,
    /// Archived export files older than this many days are deleted. Default 30.
    pub archive_days: u32,
    /// Patients off every panel for longer than this many days are purged. Default 30.
    pub patient_days: u32,
    /// When the daemon applies it (cron, in the configured zone), besides once at start.
    /// Default hourly: `17 * * * *`.
    pub schedule: crate::schedule::Cron,
}

/// `[alerts]`: who is told when a source turns stale, a file is quarantined, or a source recovers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// A program and its arguments, run once per alert with the alert's JSON on stdin.
    pub command: Option<Vec<String>>,
    /// An `http(s)://` URL that each alert is POSTed to as JSON.
    pub webhook: Option<String>,
    /// Extra request headers for the webhook (e.g. an `Authorization` the receiver wants).
    pub webhook_headers: Vec<(String, String)>,
    /// Which events alert; default all three.
    pub on: Vec<AlertKind>,
    /// Attempts after the first failed one, with the wait doubling from `retry_wait`. Default 4.
    pub retries: u32,
    pub retry_wait: Duration,
    /// How long one command run or webhook request may take. Default 10 s.
    pub timeout: Duration,
    /// At most `rate_limit` alerts per `rate_window` are sent; the rest are logged and counted,
    /// and the next alert sent says how many were held back. Default 20 per hour.
    pub rate_limit: u32,
    pub rate_window: Duration,
}

impl AlertsConfig {
    /// Anything configured to deliver to.
    pub fn enabled(&self) -> bool {
        self.command.is_some() || self.webhook.is_some()
    }
}

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

pub use crate::parse::DEFAULT_MAX_FILE_MB;

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

/// One folder that the EHR exports into.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub path: PathBuf,
    pub recursive: bool,
    /// How long size and mtime must stay unchanged before a file is taken.
    pub settle: Duration,
    /// A full rescan of the folder runs this often (the watcher can miss events).
    pub rescan_interval: Duration,
    /// `NAME.done` (for suffix `.done`) next to `NAME` says `NAME` is complete.
    pub trigger_suffixes: Vec<String>,
    /// Take a file only once its trigger file exists (never on settling alone).
    pub require_trigger: bool,
    pub after_ingest: AfterIngest,
    /// With no new export for this long, the source's data is reported stale. Default: 26 h (a
    /// daily export plus slack). Cron-based deadlines come with schedules.
    pub stale_after: Duration,
    /// Export runs: a file whose name matches (e.g. `EXPORT_COMPLETE`) says that every export in
    /// its directory is there. The files of a run are held until then and published together.
    /// Without it, each file is published on its own.
    pub run_marker: Option<globset::GlobMatcher>,
    /// With `run_marker`: files held for their marker longer than this raise an alert.
    pub hold_limit: Duration,
    /// Only names matching one of these are exports; the rest are left alone.
    pub include: GlobSet,
    /// An SFTP source: where to fetch from. Its files are downloaded into `path` (the staging
    /// folder), then taken from there like a folder's.
    pub sftp: Option<SftpConfig>,
    /// An SFTP source's poll schedule; default: every minute.
    pub poll: Option<crate::schedule::Cron>,
    /// When an export is due (`expected` + `grace`): past that without one, the source is stale.
    /// Without it, `stale_after` decides.
    pub expected: Option<crate::schedule::Expectation>,
    /// Temporary names, never taken even when they match `include`.
    pub ignore: GlobSet,
    /// The locations (globs over `UNIT-ROOM-BED`) this source's panel holds, as written and
    /// compiled; without it, every location.
    pub locations: Option<(Vec<String>, GlobSet)>,
}

impl SourceConfig {
    /// Whether a file name (no directory) is an export this source should take.
    pub fn wants(&self, file_name: &str) -> bool {
        self.include.is_match(file_name)
            && !self.ignore.is_match(file_name)
            && self.trigger_for(file_name).is_none()
            && !self.is_run_marker(file_name)
    }

    /// Whether a file name (no directory) is this source's export-run marker.
    pub fn is_run_marker(&self, file_name: &str) -> bool {
        self.run_marker.as_ref().is_some_and(|m| m.is_match(file_name))
    }

    /// If `file_name` is a trigger file, the name of the export it announces.
    pub fn trigger_for<'n>(&self, file_name: &'n str) -> Option<&'n str> {
        self.trigger_suffixes
            .iter()
            .find_map(|suffix| file_name.strip_suffix(suffix.as_str()))
            .filter(|stem| !stem.is_empty())
    }
}

impl Config {
    /// Find and load the configuration: `explicit` (from `--config`), then `$INGEST_CONFIG`, then
    /// [`SYSTEM_CONFIG`] if it exists, else the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let from_env = std::env::var_os("INGEST_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from);
        let path = match (explicit, from_env) {
            (Some(path), _) => Some(path.to_path_buf()),
            (None, Some(path)) => Some(path),
            (None, None) => Some(PathBuf::from(SYSTEM_CONFIG)).filter(|p| p.exists()),
        };
        match path {
            Some(path) => Config::from_file(&path),
            None => Config::built_in(),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let origin = Origin::File(path.to_path_buf());
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.to_string(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::from_toml(&text, origin, &base)
    }

    /// The defaults used when no file is found: data in `$STATE_DIRECTORY` (set by systemd) or
    /// `./ingest-data`, one folder source `inbox` at `DATA_DIR/inbox`.
    pub fn built_in() -> Result<Config, ConfigError> {
        Config::from_toml("", Origin::BuiltIn, Path::new(""))
    }

    /// Check a TOML text. Relative paths are taken from `base` (the config file's directory).
    pub fn from_toml(text: &str, origin: Origin, base: &Path) -> Result<Config, ConfigError> {
        let err = |key: &str, message: String| ConfigError { origin: origin.to_string(), key: key.into(), message };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| format!("line {}", text[..span.start.min(text.len())].lines().count().max(1)))
                .unwrap_or_else(|| "(document)".into());
            err(&at, e.message().to_string())
        })?;

        let data_dir = match raw.data_dir {
            Some(dir) => base.join(dir),
            None => std::env::var_os("STATE_DIRECTORY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("ingest-data")),
        };
        let snapshot = data_dir.join(raw.snapshot.unwrap_or_else(|| "snapshot.db".into()));
        let zone = Zone::parse(raw.time_zone.as_deref().unwrap_or("host")).map_err(|m| err("time_zone", m))?;
        let hl7 = raw.hl7.unwrap_or_default();
        let default_charset = match hl7.default_charset.as_deref() {
            None => encoding_rs::WINDOWS_1252,
            Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                err("hl7.default_charset", format!("unknown charset {label:?} (e.g. \"windows-1252\", \"iso-8859-1\")"))
            })?,
        };
        let require_batch_trailers = hl7.require_batch_trailers.unwrap_or(true);
        let reject_types = hl7.reject_types.unwrap_or_default();
        if let Some(bad) = reject_types.iter().find(|t| {
            let (kind, trigger) = t.split_once('^').unwrap_or((t.as_str(), "X"));
            !(kind.len() == 3 && kind.chars().all(|c| c.is_ascii_uppercase()))
                || trigger.is_empty()
                || !trigger.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }) {
            return Err(err("hl7.reject_types", format!("{bad:?} is not a message type such as \"VXU\" or \"ORM^O01\"")));
        }
        let mrn = MrnRule {
            id_type: hl7.mrn_type.unwrap_or_else(|| MrnRule::default().id_type),
            authority: hl7.mrn_authority.filter(|a| !a.is_empty()),
        };

        let raw_mappings = raw.csv.unwrap_or_default().mapping;
        let csv = if raw_mappings.is_empty() {
            crate::parse::csv::built_in_mappings()
        } else {
            let mut mappings = Vec::with_capacity(raw_mappings.len());
            for (i, raw) in raw_mappings.into_iter().enumerate() {
                let mapping =
                    check_csv_mapping(raw).map_err(|(field, m)| err(&format!("csv.mapping[{i}].{field}"), m))?;
                mappings.push(mapping);
            }
            mappings
        };

        let pdf = check_pdf(raw.pdf.unwrap_or_default()).map_err(|(key, m)| err(&key, m))?;

        let raw_sources = if raw.source.is_empty() {
            vec![RawSource { name: Some("inbox".into()), path: Some(data_dir.join("inbox")), ..RawSource::default() }]
        } else {
            raw.source
        };
        let mut sources: Vec<SourceConfig> = Vec::new();
        for (i, raw) in raw_sources.into_iter().enumerate() {
            let key = |field: &str| format!("source[{i}].{field}");
            let source = check_source(raw, base, &data_dir).map_err(|(field, m)| err(&key(&field), m))?;
            if data_dir.starts_with(&source.path) {
                return Err(err(
                    &key("path"),
                    format!(
                        "{} contains data_dir {}: archived and quarantined files would be taken again",
                        source.path.display(),
                        data_dir.display()
                    ),
                ));
            }
            if sources.iter().any(|s| s.name == source.name) {
                return Err(err(&key("name"), format!("source name {:?} is used twice", source.name)));
            }
            sources.push(source);
        }
        let mcp = check_mcp(raw.mcp.unwrap_or_default(), base, &data_dir).map_err(|(key, m)| err(&key, m))?;
        let max_file_mb = raw.max_file_mb.unwrap_or(DEFAULT_MAX_FILE_MB);
        if max_file_mb == 0 {
            return Err(err("max_file_mb", "must be at least 1".into()));
        }
        let max_file_bytes = max_file_mb << 20;
        let retention = check_retention(raw.retention.unwrap_or_default()).map_err(|(key, m)| err(&key, m))?;
        let alerts = check_alerts(raw.alerts.unwrap_or_default(), base).map_err(|(key, m)| err(&key, m))?;
        Ok(Config {
            origin,
            data_dir,
            snapshot,
            zone,
            mrn,
            default_charset,
            max_file_bytes,
            require_batch_trailers,
            reject_types,
            csv,
            pdf,
            sources,
            mcp,
            retention,
            alerts,
        })
    }

    /// Replace the snapshot path (`--db`).
    pub fn with_snapshot(mut self, snapshot: Option<&Path>) -> Config {
        if let Some(path) = snapshot {
            self.snapshot = path.to_path_buf();
        }
        self
    }

    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            zone: self.zone,
            mrn: self.mrn.clone(),
            default_charset: self.default_charset,
            max_file_bytes: self.max_file_bytes,
            require_batch_trailers: self.require_batch_trailers,
            reject_types: self.reject_types.clone(),
            csv: self.csv.clone(),
            pdf: self.pdf.clone(),
            locations: self
                .sources
                .iter()
                .filter_map(|s| s.locations.as_ref().map(|(_, set)| (s.name.clone(), set.clone())))
                .collect(),
        }
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir.join("archive")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }

    /// The audit log: as configured (relative to data_dir), else `audit.jsonl` beside the snapshot
    /// (so `--db` moves it along).
    pub fn audit_log(&self) -> PathBuf {
        self.mcp.audit_log.clone().unwrap_or_else(|| {
            self.snapshot.parent().map(|dir| dir.join("audit.jsonl")).unwrap_or_else(|| "audit.jsonl".into())
        })
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// One source: where its files come from, when they are due, how they are taken.
    fn describe_source(&self, s: &SourceConfig, now: chrono::DateTime<chrono::Utc>) -> String {
        let zone = self.zone;
        let span = crate::time::human_duration;
        let mut out = String::new();
        match &s.sftp {
            Some(c) => {
                out.push_str(&format!(
                    "source {}: SFTP sftp://{}@{}:{}{}{} · key {} ({}) · known_hosts {} · timeout {}\n",
                    s.name,
                    c.user,
                    c.host,
                    c.port,
                    c.remote_dir,
                    if c.recursive { " (recursive)" } else { "" },
                    c.key_file.display(),
                    match &c.passphrase {
                        Passphrase::None => "no passphrase".to_string(),
                        Passphrase::File(p) => format!("passphrase from {}", p.display()),
                        Passphrase::Credential(n) => format!("passphrase from the systemd credential {n:?}"),
                    },
                    c.known_hosts.display(),
                    span(c.timeout),
                ));
                let poll = match &s.poll {
                    Some(cron) => format!(
                        "poll {:?} (cron, {zone}; next {})",
                        cron.as_str(),
                        cron.next_after(now, zone).map_or("never".to_string(), |t| zone.stamp(t))
                    ),
                    None => "poll every minute".to_string(),
                };
                let after = match &c.after {
                    RemoteAfter::None => "left on the server (the ledger keeps it from being downloaded twice)".to_string(),
                    RemoteAfter::Delete => "deleted on the server".to_string(),
                    RemoteAfter::Move(dir) => format!("moved on the server to {dir}"),
                };
                out.push_str(&format!(
                    "  {poll} · a file is taken once two listings agree · downloaded files are {after} · staged in {}\n",
                    s.path.display()
                ));
            }
            None => out.push_str(&format!(
                "source {}: folder {}{} · settle {} · rescan every {}\n",
                s.name,
                s.path.display(),
                if s.recursive { " (recursive)" } else { "" },
                span(s.settle),
                span(s.rescan_interval),
            )),
        }
        let due = match &s.expected {
            Some(exp) => {
                let next = exp.expected.next_after(now, zone);
                format!(
                    "expected {:?} (cron, {zone}) with grace {}: next at {}, stale if none by {}",
                    exp.expected.as_str(),
                    span(exp.grace),
                    next.map_or("never".to_string(), |t| zone.stamp(t)),
                    next.and_then(|t| chrono::Duration::from_std(exp.grace).ok().map(|g| t + g))
                        .map_or("never".to_string(), |t| zone.stamp(t)),
                )
            }
            None => format!("no schedule: stale when the newest export is older than {}", span(s.stale_after)),
        };
        let run = match &s.run_marker {
            Some(m) => format!(
                "export runs: files wait for the marker {:?}, alert after {} held",
                m.glob().glob(),
                span(s.hold_limit)
            ),
            None => "each file on its own (no run marker)".to_string(),
        };
        let trigger = if s.require_trigger {
            format!("requires a trigger file ({})", s.trigger_suffixes.join(", "))
        } else {
            format!("trigger files {}", s.trigger_suffixes.join(", "))
        };
        let after = format!("{:?}", s.after_ingest).to_lowercase();
        out.push_str(&format!("  {due} · {run} · {trigger} · after ingest: {after}\n"));
        out.push_str(&match &s.locations {
            Some((patterns, _)) => format!(
                "  panel: patients placed at {} only (an event elsewhere takes one of them off)\n",
                patterns.join(" or ")
            ),
            None => "  panel: every location its ADT and census name\n".to_string(),
        });
        out
    }

    /// A short human description, for `check-config` and the daemon's first log line.
    pub fn describe(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut out = format!(
            "config: {}\nsnapshot: {}\ndata dir: {}\ntime zone for times without offset: {}\nMRN: first PID-3 of type {}{}\n",
            self.origin,
            self.snapshot.display(),
            self.data_dir.display(),
            self.zone,
            self.mrn.id_type,
            self.mrn.authority.as_deref().map(|a| format!(" from {a}")).unwrap_or_default(),
        );
        if self.zone == crate::time::Zone::Host {
            out.push_str(
                "WARNING: time_zone is the host's. Export times without a UTC offset (CSV file names and \
                 columns, HL7 times without one) are read in it; if the EHR writes another zone's local time, \
                 set time_zone to it (e.g. time_zone = \"America/Chicago\").\n",
            );
        }
        let mappings: Vec<String> =
            self.csv.iter().map(|m| format!("{} ({} → {})", m.name, m.pattern, m.kind.as_str())).collect();
        out.push_str(&format!("CSV mappings: {}\n", mappings.join(", ")));
        for m in &self.csv {
            out.push_str(&format!("  {}: {}\n", m.name, describe_csv_fields(m)));
        }
        for m in &self.pdf.mappings {
            out.push_str(&format!(
                "  PDF {}: {} named /{}/ (groups mrn, doc_type, date read as {})\n",
                m.name,
                m.pattern,
                m.file_name.as_str(),
                m.date_format
            ));
        }
        let m = &self.mcp;
        out.push_str(&format!(
            "MCP over HTTP: {} · {} token(s) · roles: {} · stdio role: {} · audit log: {}\n",
            if m.http_enabled {
                format!("{}://{}{}", if m.tls.is_some() { "https" } else { "http" }, std::net::SocketAddr::new(m.bind, m.port), m.path)
            } else {
                "off".to_string()
            },
            m.tokens.len(),
            m.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", "),
            m.stdio_role,
            self.audit_log().display(),
        ));
        let r = &self.retention;
        out.push_str(&match r.enabled {
            true => format!(
                "retention: archived exports {} days · patients off every panel {} days · at start and {}\n",
                r.archive_days,
                r.patient_days,
                r.schedule.as_str()
            ),
            false => "retention: off (nothing is deleted or purged)\n".to_string(),
        });
        let a = &self.alerts;
        let events: Vec<&str> = a.on.iter().map(|k| k.as_str()).collect();
        let mut via = Vec::new();
        if let Some(argv) = &a.command {
            via.push(format!("command {}", argv[0]));
        }
        if let Some(url) = a.webhook.as_deref().and_then(|u| reqwest::Url::parse(u).ok()) {
            // Not the whole URL: its path or query may carry the receiver's secret.
            via.push(format!("webhook {}://{}", url.scheme(), url.host_str().unwrap_or("")));
        }
        out.push_str(&format!(
            "alerts on {}: {} · {} retries · at most {} per {}\n",
            events.join(", "),
            if via.is_empty() { "log lines only".to_string() } else { via.join(" and ") },
            a.retries,
            a.rate_limit,
            crate::time::human_duration(a.rate_window)
        ));
        for s in &self.sources {
            out.push_str(&self.describe_source(s, now));
        }
        out
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    time_zone: Option<String>,
    max_file_mb: Option<u64>,
    hl7: Option<RawHl7>,
    csv: Option<RawCsv>,
    pdf: Option<RawPdf>,
    #[serde(default)]
    source: Vec<RawSource>,
    mcp: Option<RawMcp>,
    retention: Option<RawRetention>,
    alerts: Option<RawAlerts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    enabled: Option<bool>,
    archive_days: Option<u32>,
    patient_days: Option<u32>,
    schedule: Option<String>,
}

fn check_retention(raw: RawRetention) -> Result<RetentionConfig, (String, String)> {
    let days = |key: &str, value: Option<u32>| match value {
        None => Ok(30),
        Some(0) => Err((
            format!("retention.{key}"),
            "must be at least 1 (to keep everything, set retention.enabled = false)".to_string(),
        )),
        Some(n) => Ok(n),
    };
    let schedule = crate::schedule::Cron::parse(raw.schedule.as_deref().unwrap_or("17 * * * *"))
        .map_err(|m| ("retention.schedule".to_string(), m))?;
    Ok(RetentionConfig {
        enabled: raw.enabled.unwrap_or(true),
        archive_days: days("archive_days", raw.archive_days)?,
        patient_days: days("patient_days", raw.patient_days)?,
        schedule,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    command: Option<Vec<String>>,
    webhook: Option<String>,
    #[serde(default)]
    webhook_headers: BTreeMap<String, String>,
    on: Option<Vec<String>>,
    retries: Option<u32>,
    retry_wait: Option<String>,
    timeout: Option<String>,
    rate_limit: Option<u32>,
    rate_window: Option<String>,
}

fn check_alerts(raw: RawAlerts, base: &Path) -> Result<AlertsConfig, (String, String)> {
    let key = |k: &str| format!("alerts.{k}");
    let command = match raw.command {
        None => None,
        Some(argv) if argv.is_empty() || argv[0].is_empty() => {
            return Err((key("command"), "needs a program: [\"/path/to/program\", \"arg\", …]".into()));
        }
        Some(mut argv) => {
            // A relative program is taken from the config file's directory, not from $PATH.
            if argv[0].contains('/') {
                argv[0] = base.join(&argv[0]).display().to_string();
            }
            Some(argv)
        }
    };
    if let Some(url) = &raw.webhook {
        let parsed = reqwest::Url::parse(url).map_err(|e| (key("webhook"), format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err((key("webhook"), format!("{url:?} must be an http:// or https:// URL")));
        }
        let loopback = parsed.host_str().is_some_and(|h| {
            h == "localhost" || h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
        });
        if parsed.scheme() == "http" && !loopback {
            return Err((key("webhook"), format!("{url:?}: plain http only to a loopback receiver; use https")));
        }
    }
    let mut webhook_headers = Vec::new();
    for (name, value) in raw.webhook_headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(&value).is_err()
        {
            return Err((key("webhook_headers"), format!("{name:?} is not a valid header name and value")));
        }
        webhook_headers.push((name, value));
    }
    let on = match raw.on {
        None => AlertKind::ALL.to_vec(),
        Some(names) => {
            let mut on = Vec::new();
            for name in names {
                let kind = AlertKind::parse(&name).ok_or_else(|| {
                    let known: Vec<&str> = AlertKind::ALL.iter().map(AlertKind::as_str).collect();
                    (key("on"), format!("unknown event {name:?} (one of {})", known.join(", ")))
                })?;
                on.push(kind);
            }
            on
        }
    };
    let duration = |k: &str, value: Option<String>, default: Duration| duration(&key(k), value, default, Zero::Refused);
    let rate_limit = raw.rate_limit.unwrap_or(20);
    if rate_limit == 0 {
        return Err((key("rate_limit"), "must be at least 1".into()));
    }
    Ok(AlertsConfig {
        command,
        webhook: raw.webhook,
        webhook_headers,
        on,
        retries: raw.retries.unwrap_or(4),
        retry_wait: duration("retry_wait", raw.retry_wait, Duration::from_secs(2))?,
        timeout: duration("timeout", raw.timeout, Duration::from_secs(10))?,
        rate_limit,
        rate_window: duration("rate_window", raw.rate_window, Duration::from_secs(3600))?,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMcp {
    http: Option<bool>,
    bind: Option<String>,
    port: Option<u16>,
    path: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    stdio_role: Option<String>,
    audit_log: Option<PathBuf>,
    page_size: Option<usize>,
    max_page_size: Option<usize>,
    answer_budget: Option<usize>,
    #[serde(default)]
    critical: Vec<RawCritical>,
    #[serde(default)]
    token: Vec<RawToken>,
    #[serde(default)]
    role: Vec<RawRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCritical {
    code: Option<String>,
    low: Option<f64>,
    high: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    sha256: Option<String>,
    identity: Option<String>,
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Option<String>,
    tools: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
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
fn built_in_roles() -> Vec<Role> {
    vec![
        Role { name: "clinician".into(), tools: None, kinds: RecordKind::ALL.to_vec() },
        Role { name: "operations".into(), tools: Some(vec!["snapshot_status".into()]), kinds: Vec::new() },
    ]
}

fn check_mcp(raw: RawMcp, base: &Path, data_dir: &Path) -> Result<McpConfig, (String, String)> {
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
            format!("{path:?} is one of the daemon's own pages ({}); \"/mcp\" is the default", RESERVED_PATHS.join(", ")),
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHl7 {
    mrn_type: Option<String>,
    mrn_authority: Option<String>,
    default_charset: Option<String>,
    require_batch_trailers: Option<bool>,
    reject_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsv {
    #[serde(default)]
    mapping: Vec<RawCsvMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A CSV field: a header name, a list of aliases, or a table that builds it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawColumn {
    Aliases(OneOrMany),
    Built(RawBuilt),
}

/// `{ join = [...], separator = "-" }`, `{ column = "Name", part = "family" }`,
/// `{ column = "Name", regex = "...", group = "..." }`, `{ constant = "5W" }`, each with an optional
/// `default`; or `{ column = "Sex", default = "U" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuilt {
    column: Option<String>,
    join: Option<Vec<String>>,
    separator: Option<String>,
    part: Option<String>,
    regex: Option<String>,
    group: Option<String>,
    constant: Option<String>,
    default: Option<String>,
    /// This field's date formats, instead of the mapping's `date_formats`.
    formats: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsvMapping {
    name: Option<String>,
    pattern: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, RawColumn>,
    date_formats: Option<Vec<String>>,
    delimiter: Option<String>,
    quote: Option<String>,
    encoding: Option<String>,
    file_name_time: Option<String>,
    file_name_time_format: Option<String>,
    /// Mapped optional fields whose column a file may lack.
    #[serde(default)]
    optional: Vec<String>,
    /// Medications only: each file is its patients' whole current list.
    #[serde(default)]
    complete: bool,
    /// Census only: header names kept as the stay's notes.
    #[serde(default)]
    extra: Vec<String>,
    /// A regex: rows matching it (cells joined with the delimiter) are not records.
    skip_rows: Option<String>,
}

fn check_csv_mapping(raw: RawCsvMapping) -> Result<CsvMapping, (String, String)> {
    let fail = |key: &str, m: String| (key.to_string(), m);
    let pattern =
        raw.pattern.ok_or_else(|| fail("pattern", "missing: a file-name glob such as \"census_*.csv\"".into()))?;
    let matcher = crate::parse::csv::glob(&pattern).map_err(|m| fail("pattern", m))?;
    let kind_name = raw.kind.ok_or_else(|| fail("kind", "missing".into()))?;
    let kind = match CsvKind::parse(&kind_name) {
        Some(kind) => kind,
        None => {
            let known: Vec<&str> = CsvKind::ALL.iter().map(CsvKind::as_str).collect();
            return Err(fail("kind", format!("unknown kind {kind_name:?} (one of {})", known.join(", "))));
        }
    };
    let mut columns = BTreeMap::new();
    let mut derived = BTreeMap::new();
    let mut defaults = BTreeMap::new();
    let mut field_formats = BTreeMap::new();
    for (field, column) in raw.columns {
        if !kind.knows(&field) {
            let mut known: Vec<&str> = kind.required().to_vec();
            known.extend(kind.optional());
            return Err(fail(
                &format!("columns.{field}"),
                format!("not a {} field (one of {})", kind.as_str(), known.join(", ")),
            ));
        }
        let key = format!("columns.{field}");
        let aliases = match column {
            RawColumn::Aliases(OneOrMany::One(a)) => vec![a],
            RawColumn::Aliases(OneOrMany::Many(a)) => a,
            RawColumn::Built(mut built) => {
                // A default or a constant would invent an identity, or a registration's values that
                // then overwrite what an ADT says.
                let invented = built.default.is_some() || built.constant.is_some();
                let protected = ["family_name", "given_name", "birth_date", "sex"];
                if invented && (kind.required().contains(&field.as_str()) || protected.contains(&field.as_str())) {
                    return Err(fail(
                        &key,
                        "cannot have a default or a constant: it identifies the record or is a demographic that \
                         would overwrite what the EHR says"
                            .into(),
                    ));
                }
                if let Some(default) = built.default.clone() {
                    defaults.insert(field.clone(), default);
                }
                if built.formats.is_some() && !(field.ends_with("_at") || field == "birth_date") {
                    return Err(fail(&format!("{key}.formats"), "only a date or time field has formats".into()));
                }
                if let Some(formats) = built.formats.take() {
                    if let Some((format, why)) = formats.iter().find_map(|f| bad_strftime(f).map(|why| (f, why))) {
                        return Err(fail(&format!("{key}.formats"), format!("{format:?} {why}")));
                    }
                    if formats.is_empty() {
                        return Err(fail(&format!("{key}.formats"), "needs at least one format".into()));
                    }
                    field_formats.insert(field.clone(), formats);
                }
                match built_field(built).map_err(|m| fail(&key, m))? {
                    Ok(aliases) => aliases,
                    Err(built) => {
                        derived.insert(field, built);
                        continue;
                    }
                }
            }
        };
        if aliases.is_empty() {
            return Err(fail(&key, "needs at least one header name".into()));
        }
        columns.insert(field, aliases);
    }
    let mapped = |f: &str| columns.contains_key(f) || derived.contains_key(f);
    if let Some(missing) = kind.required().iter().find(|f| !mapped(f)) {
        return Err(fail(&format!("columns.{missing}"), format!("missing: a {} mapping needs it", kind.as_str())));
    }
    let skip_rows = match raw.skip_rows.as_deref().map(regex::Regex::new) {
        None => None,
        Some(Ok(regex)) => Some(regex),
        Some(Err(e)) => return Err(fail("skip_rows", format!("not a regex: {e}"))),
    };
    if !raw.extra.is_empty() && kind != CsvKind::Census {
        return Err(fail("extra", "only a census mapping keeps extra columns (as the stay's notes)".into()));
    }
    if raw.complete && kind != CsvKind::Medications {
        return Err(fail("complete", "only a medications mapping can be a complete list".into()));
    }
    if let Some(bad) = raw.optional.iter().find(|f| !mapped(f.as_str()) || kind.required().contains(&f.as_str())) {
        return Err(fail(
            "optional",
            format!("{bad:?} must be a mapped optional field (under columns) that a file may lack"),
        ));
    }
    let byte = |key: &str, value: Option<String>, default: u8| -> Result<u8, (String, String)> {
        match value.as_deref() {
            None => Ok(default),
            Some("\\t" | "tab") => Ok(b'\t'),
            Some(v) if v.len() == 1 && v.is_ascii() => Ok(v.as_bytes()[0]),
            Some(v) => Err(fail(key, format!("{v:?} must be one ASCII character (or \"tab\")"))),
        }
    };
    let delimiter = byte("delimiter", raw.delimiter, b',')?;
    let quote = byte("quote", raw.quote, b'"')?;
    let encoding = match raw.encoding.as_deref() {
        None => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
            fail("encoding", format!("unknown encoding {label:?} (e.g. \"utf-8\", \"windows-1252\", \"latin1\")"))
        })?,
    };
    let date_formats = raw.date_formats.unwrap_or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"].map(String::from).to_vec()
    });
    if date_formats.is_empty() {
        return Err(fail("date_formats", "needs at least one format".into()));
    }
    if let Some((format, why)) = date_formats.iter().find_map(|f| bad_strftime(f).map(|why| (f, why))) {
        return Err(fail("date_formats", format!("{format:?} {why}")));
    }
    let file_name_time = match (raw.file_name_time, raw.file_name_time_format) {
        (None, None) => None,
        (Some(re), Some(format)) => {
            if let Some(why) = bad_strftime(&format) {
                return Err(fail("file_name_time_format", format!("{format:?} {why}")));
            }
            let regex = regex::Regex::new(&re).map_err(|e| fail("file_name_time", e.to_string()))?;
            if regex.capture_names().all(|n| n != Some("ts")) {
                return Err(fail("file_name_time", "needs a named group (?<ts>...)".into()));
            }
            Some(FileNameTime { regex, format })
        }
        (Some(_), None) => {
            return Err(fail("file_name_time_format", "missing: the strftime format of (?<ts>...)".into()));
        }
        (None, Some(_)) => return Err(fail("file_name_time", "missing: a regex with a named group (?<ts>...)".into())),
    };
    Ok(CsvMapping {
        name: raw.name.unwrap_or_else(|| pattern.clone()),
        pattern,
        matcher,
        kind,
        columns,
        date_formats,
        delimiter,
        quote,
        encoding,
        file_name_time,
        may_lack: raw.optional.into_iter().collect(),
        derived,
        defaults,
        field_formats,
        // What the mapping does not read is the site's choice.
        whole_header: false,
        complete: raw.complete,
        extra: raw.extra,
        skip_rows,
    })
}

/// A CSV mapping's fields as it applies them: `field ← header (| alias)`, built fields, defaults,
/// the fields a file may lack, and the date formats.
fn describe_csv_fields(m: &CsvMapping) -> String {
    let mut parts: Vec<String> = Vec::new();
    for field in m.kind.required().iter().chain(m.kind.optional()) {
        let source = match (m.columns.get(*field), m.derived.get(*field)) {
            (Some(aliases), _) => aliases.join(" | "),
            (None, Some(derived)) => derived.describe(),
            (None, None) => continue,
        };
        let default = m.defaults.get(*field).map(|d| format!(" (default {d:?})")).unwrap_or_default();
        let formats = m.field_formats.get(*field).map(|f| format!(" (dates {})", f.join(" or "))).unwrap_or_default();
        parts.push(format!("{field} ← {source}{default}{formats}"));
    }
    let lacking: Vec<&str> = m.may_lack.iter().map(String::as_str).collect();
    if !lacking.is_empty() && lacking.len() < m.kind.optional().len() {
        parts.push(format!("a file may lack {}", lacking.join(", ")));
    }
    parts.push(format!("dates {}", m.date_formats.join(" or ")));
    if m.whole_header {
        parts.push("reads a file only when it knows every column of its header".into());
    }
    if !m.extra.is_empty() {
        parts.push(format!("kept as the stay's notes: {}", m.extra.join(", ")));
    }
    if let Some(skip) = &m.skip_rows {
        parts.push(format!("rows matching /{}/ are skipped (counted as not used)", skip.as_str()));
    }
    if m.complete {
        parts.push("each file is its patients' whole current list: an order it no longer lists is no longer current".into());
    }
    parts.join(" · ")
}

/// A table under `columns`: header aliases (`column`, with a `default`), or a field built from the
/// row (`join`, `column` + `part`/`regex`, `constant`).
fn built_field(b: RawBuilt) -> Result<Result<Vec<String>, Derived>, String> {
    match (b.column, b.join, b.constant) {
        (Some(column), None, None) => match (b.part, b.regex, b.group) {
            (None, None, None) => Ok(Ok(vec![column])),
            (Some(part), None, None) if part == "family" || part == "given" => Ok(Err(Derived::Part {
                column,
                regex: regex::Regex::new(crate::parse::csv::NAME_PARTS).map_err(|e| e.to_string())?,
                group: part,
            })),
            (Some(part), None, None) => Err(format!("part {part:?} must be \"family\" or \"given\" (of FAMILY, GIVEN)")),
            (None, Some(regex), Some(group)) => {
                let compiled = regex::Regex::new(&regex).map_err(|e| format!("regex: {e}"))?;
                if !compiled.capture_names().any(|n| n == Some(group.as_str())) {
                    return Err(format!("the regex has no group named {group:?} (write (?<{group}>...))"));
                }
                Ok(Err(Derived::Part { column, regex: compiled, group }))
            }
            _ => Err("with column: either part = \"family\"/\"given\", or regex and group, or neither".into()),
        },
        (None, Some(join), None) if join.len() >= 2 => {
            Ok(Err(Derived::Join { columns: join, separator: b.separator.unwrap_or_else(|| " ".into()) }))
        }
        (None, Some(_), None) => Err("join needs two or more header names".into()),
        (None, None, Some(constant)) => Ok(Err(Derived::Constant(constant))),
        _ => Err("give one of column, join or constant".into()),
    }
}

/// Why a strftime format cannot read a date: an unknown `%` specifier, or no specifier at all
/// (`MM/DD/YYYY` is a literal, not a format).
fn bad_strftime(format: &str) -> Option<String> {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Some("has an unknown % specifier (see chrono's strftime: %Y %m %d %H %M %S …)".into());
    }
    if !items.iter().any(|i| matches!(i, Item::Numeric(..) | Item::Fixed(_))) {
        return Some("reads nothing: write it with % specifiers, e.g. \"%m/%d/%Y\" for 12/03/2026".into());
    }
    None
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPdf {
    timeout: Option<String>,
    manifest_wait: Option<String>,
    #[serde(default)]
    mapping: Vec<RawPdfMapping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPdfMapping {
    name: Option<String>,
    pattern: Option<String>,
    file_name: Option<String>,
    date_format: Option<String>,
}

fn check_pdf(raw: RawPdf) -> Result<PdfOptions, (String, String)> {
    let timeout = duration("pdf.timeout", raw.timeout, crate::parse::pdf::DEFAULT_TIMEOUT, Zero::Refused)?;
    let manifest_wait =
        duration("pdf.manifest_wait", raw.manifest_wait, crate::parse::pdf::DEFAULT_MANIFEST_WAIT, Zero::Allowed)?;
    if raw.mapping.is_empty() {
        return Ok(PdfOptions { mappings: crate::parse::pdf::built_in_mappings(), timeout, manifest_wait });
    }
    let mut mappings = Vec::with_capacity(raw.mapping.len());
    for (i, m) in raw.mapping.into_iter().enumerate() {
        let fail = |field: &str, message: String| (format!("pdf.mapping[{i}].{field}"), message);
        let pattern =
            m.pattern.ok_or_else(|| fail("pattern", "missing: a file-name glob such as \"NOTE_*.pdf\"".into()))?;
        let matcher = crate::parse::csv::glob(&pattern).map_err(|e| fail("pattern", e))?;
        let re =
            m.file_name.ok_or_else(|| fail("file_name", "missing: a regex with a named group (?<mrn>...)".into()))?;
        let file_name = regex::Regex::new(&re).map_err(|e| fail("file_name", e.to_string()))?;
        let groups: Vec<&str> = file_name.capture_names().flatten().collect();
        if !groups.contains(&"mrn") {
            return Err(fail("file_name", "needs a named group (?<mrn>...)".into()));
        }
        let date_format = match (groups.contains(&"date"), m.date_format) {
            (true, Some(format)) => format,
            (true, None) => return Err(fail("date_format", "missing: the strftime format of (?<date>...)".into())),
            (false, Some(_)) => {
                return Err(fail("file_name", "date_format is set, so needs a group (?<date>...)".into()));
            }
            (false, None) => String::new(),
        };
        mappings.push(PdfMapping {
            name: m.name.unwrap_or_else(|| pattern.clone()),
            example: format!("a name matching {pattern} and {re}"),
            pattern,
            matcher,
            file_name,
            date_format,
        });
    }
    Ok(PdfOptions { mappings, timeout, manifest_wait })
}

/// Where an SFTP source fetches from (`[source.sftp]`). No secret is kept here: the key's
/// passphrase comes from a file or a systemd credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_file: PathBuf,
    pub passphrase: Passphrase,
    pub known_hosts: PathBuf,
    pub remote_dir: String,
    pub recursive: bool,
    pub after: RemoteAfter,
    /// Each network step of a poll gives up after this long.
    pub timeout: Duration,
}

/// Where the passphrase of an SFTP key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passphrase {
    /// The key is not encrypted.
    None,
    /// A file readable by the service only (its first line).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/NAME` (`LoadCredential=` in the unit).
    Credential(String),
}

/// What happens to a remote file once it is safely staged. Opt-in: the default leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAfter {
    None,
    Delete,
    /// Moved into this remote directory.
    Move(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSftp {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    key_file: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    passphrase_credential: Option<String>,
    known_hosts: Option<PathBuf>,
    remote_dir: Option<String>,
    recursive: Option<bool>,
    after: Option<String>,
    move_to: Option<String>,
    timeout: Option<String>,
}

type DurationRule<'a> = dyn Fn(&str, Option<String>, Duration) -> Result<Duration, (String, String)> + 'a;

/// Whether a duration key may be `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zero {
    Allowed,
    Refused,
}

/// The one reading of a duration key (`30s`, `10m`, `26h`, `1h 30m`): `key` names it in the error;
/// absent, `default`.
fn duration(key: &str, value: Option<String>, default: Duration, zero: Zero) -> Result<Duration, (String, String)> {
    let Some(text) = value else { return Ok(default) };
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() && zero == Zero::Refused => Err((key.to_string(), format!("{text:?} must be more than 0s"))),
        Ok(d) => Ok(d),
        Err(e) => Err((key.to_string(), format!("{text:?} is not a duration such as \"30s\", \"10m\" or \"26h\": {e}"))),
    }
}

fn check_sftp(raw: RawSftp, base: &Path, duration: &DurationRule<'_>) -> Result<SftpConfig, (String, String)> {
    let missing = |field: &str, what: &str| (field.to_string(), format!("missing: {what}"));
    let host =
        raw.host.filter(|h| !h.is_empty()).ok_or_else(|| missing("host", "the SFTP server's name or address"))?;
    let user = raw.user.filter(|u| !u.is_empty()).ok_or_else(|| missing("user", "the account to log in as"))?;
    let key_file = base.join(raw.key_file.ok_or_else(|| missing("key_file", "the private key file"))?);
    let known_hosts = base
        .join(raw.known_hosts.ok_or_else(|| missing("known_hosts", "a known_hosts file with the server's host key"))?);
    let passphrase = match (raw.passphrase_file, raw.passphrase_credential) {
        (Some(_), Some(_)) => {
            return Err(("passphrase_file".into(), "and passphrase_credential are both set: choose one".into()));
        }
        (Some(file), None) => Passphrase::File(base.join(file)),
        (None, Some(name)) if name.is_empty() || name.contains('/') => {
            return Err(("passphrase_credential".into(), format!("{name:?} must be a credential name")));
        }
        (None, Some(name)) => Passphrase::Credential(name),
        (None, None) => Passphrase::None,
    };
    let remote_dir = raw.remote_dir.filter(|d| !d.is_empty()).unwrap_or_else(|| ".".into());
    let after = match (raw.after.as_deref().unwrap_or("none"), raw.move_to) {
        ("none", None) => RemoteAfter::None,
        ("delete", None) => RemoteAfter::Delete,
        ("move", Some(dir)) if !dir.is_empty() => RemoteAfter::Move(dir),
        ("move", _) => return Err(missing("move_to", "the remote directory that after = \"move\" moves files to")),
        ("none" | "delete", Some(_)) => return Err(("move_to".into(), "is only for after = \"move\"".into())),
        (other, _) => {
            return Err(("after".into(), format!("{other:?} must be \"none\", \"delete\" or \"move\"")));
        }
    };
    let timeout = duration("timeout", raw.timeout, Duration::from_secs(30))?;
    if timeout.is_zero() {
        return Err(("timeout".into(), "must be more than 0s".into()));
    }
    Ok(SftpConfig {
        host,
        port: raw.port.unwrap_or(22),
        user,
        key_file,
        passphrase,
        known_hosts,
        remote_dir,
        recursive: raw.recursive.unwrap_or(false),
        after,
        timeout,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<String>,
    kind: Option<String>,
    path: Option<PathBuf>,
    recursive: Option<bool>,
    settle: Option<String>,
    rescan_interval: Option<String>,
    trigger_suffixes: Option<Vec<String>>,
    require_trigger: Option<bool>,
    after_ingest: Option<String>,
    stale_after: Option<String>,
    run_marker: Option<String>,
    hold_limit: Option<String>,
    poll: Option<String>,
    expected: Option<String>,
    grace: Option<String>,
    sftp: Option<RawSftp>,
    include: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
    locations: Option<Vec<String>>,
}

/// How long an export run's files may wait for its marker before an alert says so.
pub const DEFAULT_HOLD_LIMIT: Duration = Duration::from_secs(3600);

/// How old the newest export may be before a source's data is reported stale.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(26 * 3600);

const DEFAULT_INCLUDE: &[&str] = &["*.hl7", "*.hl7v2", "*.msg", "*.txt", "*.dat", "*.csv", "*.pdf"];
const DEFAULT_IGNORE: &[&str] = &["*.tmp", "*.part", "*.partial", "*.swp", "~*", ".*"];

fn check_source(raw: RawSource, base: &Path, data_dir: &Path) -> Result<SourceConfig, (String, String)> {
    let name = raw.name.ok_or(("name".to_string(), "missing: every source needs a name".to_string()))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(("name".into(), format!("{name:?} must be letters, digits, '-' or '_'")));
    }
    let duration = |field: &str, value: Option<String>, default: Duration| duration(field, value, default, Zero::Allowed);
    let (path, sftp) = match raw.kind.as_deref().unwrap_or("folder") {
        "folder" => {
            if raw.sftp.is_some() {
                return Err(("sftp".into(), "is only for kind = \"sftp\"".into()));
            }
            let path =
                raw.path.ok_or(("path".to_string(), "missing: the folder the export is written to".to_string()))?;
            (path, None)
        }
        "sftp" => {
            let sftp = raw.sftp.ok_or(("sftp".to_string(), "missing: an [source.sftp] table".to_string()))?;
            let sftp = check_sftp(sftp, base, &duration).map_err(|(field, m)| (format!("sftp.{field}"), m))?;
            // Downloads are staged here, then taken like files dropped in a folder.
            (raw.path.unwrap_or_else(|| data_dir.join("staging").join(&name)), Some(sftp))
        }
        other => {
            return Err(("kind".into(), format!("unknown source kind {other:?} (expected \"folder\" or \"sftp\")")));
        }
    };
    let poll = match raw.poll {
        Some(_) if sftp.is_none() => {
            return Err(("poll".into(), "is only for kind = \"sftp\" (a folder is watched)".into()));
        }
        Some(text) => Some(crate::schedule::Cron::parse(&text).map_err(|m| ("poll".to_string(), m))?),
        None => None,
    };
    let expected = match (raw.expected, raw.grace) {
        (Some(text), grace) => Some(crate::schedule::Expectation {
            expected: crate::schedule::Cron::parse(&text).map_err(|m| ("expected".to_string(), m))?,
            grace: duration("grace", grace, crate::schedule::DEFAULT_GRACE)?,
        }),
        (None, Some(_)) => return Err(("grace".into(), "is set but expected is not".into())),
        (None, None) => None,
    };
    let settle = duration("settle", raw.settle, Duration::from_secs(2))?;
    let rescan_interval = duration("rescan_interval", raw.rescan_interval, Duration::from_secs(60))?;
    if rescan_interval < Duration::from_secs(1) {
        return Err(("rescan_interval".into(), "must be at least 1s".into()));
    }
    let stale_after = duration("stale_after", raw.stale_after, DEFAULT_STALE_AFTER)?;
    let trigger_suffixes = raw.trigger_suffixes.unwrap_or_else(|| vec![".done".into(), ".ok".into()]);
    if let Some(bad) = trigger_suffixes.iter().find(|s| !s.starts_with('.') || s.len() < 2) {
        return Err(("trigger_suffixes".into(), format!("{bad:?} must start with '.' (e.g. \".done\")")));
    }
    let require_trigger = raw.require_trigger.unwrap_or(false);
    if require_trigger && trigger_suffixes.is_empty() {
        return Err(("require_trigger".into(), "is true but trigger_suffixes is empty".into()));
    }
    let after_ingest = match raw.after_ingest.as_deref().unwrap_or("archive") {
        "archive" => AfterIngest::Archive,
        "keep" => AfterIngest::Keep,
        "delete" => AfterIngest::Delete,
        other => return Err(("after_ingest".into(), format!("{other:?} must be \"archive\", \"keep\" or \"delete\""))),
    };
    let globs = |field: &str, patterns: Option<Vec<String>>, default: &[&str]| {
        let patterns = patterns.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
        let mut set = GlobSetBuilder::new();
        for pattern in &patterns {
            let glob = globset::GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| (field.to_string(), format!("{pattern:?}: {e}")))?;
            set.add(glob);
        }
        set.build().map_err(|e| (field.to_string(), e.to_string()))
    };
    let run_marker = match raw.run_marker {
        None => None,
        Some(pattern) if pattern.trim().is_empty() || pattern.contains('/') => {
            return Err((
                "run_marker".into(),
                format!("{pattern:?} must be a file name or glob, such as \"EXPORT_COMPLETE\""),
            ));
        }
        Some(pattern) => Some(
            globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| ("run_marker".to_string(), format!("{pattern:?}: {e}")))?
                .compile_matcher(),
        ),
    };
    let hold_limit = match (&run_marker, raw.hold_limit) {
        (None, Some(_)) => return Err(("hold_limit".into(), "is set but run_marker is not".into())),
        (_, limit) => duration("hold_limit", limit, DEFAULT_HOLD_LIMIT)?,
    };
    let include = globs("include", raw.include, DEFAULT_INCLUDE)?;
    let ignore = globs("ignore", raw.ignore, DEFAULT_IGNORE)?;
    let locations = match raw.locations {
        None => None,
        Some(patterns) if patterns.is_empty() => {
            return Err(("locations".into(), "is empty: leave it out for every location".into()));
        }
        Some(patterns) => Some((patterns.clone(), globs("locations", Some(patterns), &[])?)),
    };
    Ok(SourceConfig {
        locations,
        hold_limit,
        name,
        path: base.join(path),
        recursive: raw.recursive.unwrap_or(true),
        settle,
        rescan_interval,
        trigger_suffixes,
        require_trigger,
        after_ingest,
        stale_after,
        run_marker,
        include,
        ignore,
        sftp,
        poll,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Origin::File("/etc/ingest/test.toml".into()), Path::new("/etc/ingest"))
    }

    #[test]
    fn an_sftp_source_stages_under_data_dir_and_takes_its_passphrase_from_a_credential() {
        let config = load(
            "data_dir = \"/var/lib/ingest\"\n[[source]]\nname = \"ehr\"\nkind = \"sftp\"\n\
             poll = \"*/2 4-6 * * *\"\nrun_marker = \"EXPORT_COMPLETE\"\n[source.sftp]\nhost = \"ehr.example\"\n\
             user = \"ingest\"\nkey_file = \"sftp_key\"\npassphrase_credential = \"sftp-passphrase\"\n\
             known_hosts = \"known_hosts\"\nremote_dir = \"/exports/5w\"\nafter = \"delete\"\n",
        )
        .expect("config");
        let source = &config.sources[0];
        assert_eq!(source.path, Path::new("/var/lib/ingest/staging/ehr"));
        assert_eq!(source.poll.as_ref().map(|c| c.as_str()), Some("*/2 4-6 * * *"));
        assert!(source.is_run_marker("EXPORT_COMPLETE") && !source.wants("EXPORT_COMPLETE"));
        let sftp = source.sftp.as_ref().expect("sftp");
        assert_eq!((sftp.host.as_str(), sftp.port, sftp.user.as_str()), ("ehr.example", 22, "ingest"));
        assert_eq!(sftp.key_file, Path::new("/etc/ingest/sftp_key"));
        assert_eq!(sftp.known_hosts, Path::new("/etc/ingest/known_hosts"));
        assert_eq!(sftp.passphrase, Passphrase::Credential("sftp-passphrase".into()));
        assert_eq!((sftp.remote_dir.as_str(), &sftp.after), ("/exports/5w", &RemoteAfter::Delete));
        assert_eq!(sftp.timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_mcp_path_cannot_take_the_daemons_own_pages() {
        for path in ["/status", "/status/ward", "/metrics", "/healthz", "/readyz"] {
            let e = load(&format!("[mcp]\npath = \"{path}\"\n")).expect_err(path);
            assert_eq!(e.key, "mcp.path", "{e}");
        }
        assert!(load("[mcp]\npath = \"/assistant/mcp\"\n").is_ok());
    }

    #[test]
    fn an_ipv6_bind_is_described_with_brackets() {
        let config = load("[mcp]\nbind = \"::1\"\nport = 8765\n").expect("config");
        let described = config.describe(chrono::Utc::now());
        assert!(described.contains("http://[::1]:8765/mcp"), "{described}");
    }

    #[test]
    fn retention_and_alerts_have_defaults_and_name_the_key_they_refuse() {
        let config = load("").expect("defaults");
        assert_eq!((config.retention.archive_days, config.retention.patient_days), (30, 30));
        assert!(config.retention.enabled && config.retention.schedule.as_str() == "17 * * * *");
        assert!(!config.alerts.enabled());
        assert_eq!(config.alerts.on, AlertKind::ALL);
        assert_eq!((config.alerts.retries, config.alerts.rate_limit), (4, 20));

        let config = load(
            "[alerts]\ncommand = [\"bin/page\", \"--team\", \"integration\"]\n\
             webhook = \"https://alerts.example/hook?key=s3cret\"\non = [\"stale\"]\n",
        )
        .expect("alerts");
        let argv = config.alerts.command.as_deref().expect("command");
        assert_eq!(argv, ["/etc/ingest/bin/page", "--team", "integration"], "relative to the config file");
        assert_eq!(config.alerts.on, [AlertKind::Stale]);
        let described = config.describe(chrono::Utc::now());
        assert!(described.contains("webhook https://alerts.example") && !described.contains("s3cret"), "{described}");

        for (text, key) in [
            ("[retention]\narchive_days = 0\n", "retention.archive_days"),
            ("[retention]\nschedule = \"sometimes\"\n", "retention.schedule"),
            ("[alerts]\non = [\"late\"]\n", "alerts.on"),
            ("[alerts]\ncommand = []\n", "alerts.command"),
            ("[alerts]\nwebhook = \"ftp://alerts.example/\"\n", "alerts.webhook"),
            ("[alerts]\nwebhook_headers = { \"Bad Name\" = \"x\" }\n", "alerts.webhook_headers"),
            ("[alerts]\nretry_wait = \"soon\"\n", "alerts.retry_wait"),
            ("[alerts]\nrate_limit = 0\n", "alerts.rate_limit"),
        ] {
            let e = load(text).expect_err(text);
            assert_eq!(e.key, key, "{text}: {e}");
        }
    }

    #[test]
    fn built_in_defaults_give_one_inbox_source() {
        let config = Config::built_in().expect("defaults");
        assert_eq!(config.sources.len(), 1);
        let inbox = &config.sources[0];
        assert_eq!(inbox.name, "inbox");
        assert_eq!(inbox.settle, Duration::from_secs(2));
        assert_eq!(inbox.after_ingest, AfterIngest::Archive);
        assert!(inbox.wants("ADT_20261124.hl7"));
        assert!(!inbox.wants("ADT_20261124.hl7.part"));
        assert!(!inbox.wants(".ADT.hl7"));
        assert!(!inbox.wants("README.md"));
        assert!(!inbox.wants("ADT.hl7.done"), "a trigger file is not an export");
        assert_eq!(inbox.trigger_for("ADT.hl7.done"), Some("ADT.hl7"));
    }

    #[test]
    fn a_full_file_is_read_with_paths_relative_to_it() {
        let config = load(
            r#"
            data_dir = "data"
            time_zone = "America/Chicago"
            [hl7]
            mrn_authority = "GENHOSP"
            [[source]]
            name = "ward-5w"
            path = "/srv/export/5w"
            settle = "5s"
            require_trigger = true
            after_ingest = "keep"
            "#,
        )
        .expect("valid");
        assert_eq!(config.data_dir, PathBuf::from("/etc/ingest/data"));
        assert_eq!(config.snapshot, PathBuf::from("/etc/ingest/data/snapshot.db"));
        assert_eq!(config.mrn.authority.as_deref(), Some("GENHOSP"));
        let source = config.source("ward-5w").expect("source");
        assert_eq!(source.settle, Duration::from_secs(5));
        assert!(source.require_trigger);
        assert_eq!(source.after_ingest, AfterIngest::Keep);
        assert_eq!(config.csv.len(), crate::parse::csv::built_in_mappings().len(), "built-in CSV mappings when none is configured");
    }

    #[test]
    fn a_csv_mapping_is_read_with_aliases_encoding_and_a_file_name_time() {
        let config = load(
            r#"
            [[csv.mapping]]
            pattern = "CENSUS*.TXT"
            kind = "census"
            columns = { mrn = ["MRN", "PatientID"], location = "Bed" }
            delimiter = "tab"
            encoding = "latin1"
            file_name_time = '(?<ts>\d{8})'
            file_name_time_format = "%Y%m%d"
            "#,
        )
        .expect("valid");
        let [m] = config.csv.as_slice() else { panic!("{:?}", config.csv) };
        assert_eq!(m.name, "CENSUS*.TXT");
        assert!(m.matches_name("census_20261124.txt"));
        assert_eq!(m.delimiter, b'\t');
        assert_eq!(m.encoding, encoding_rs::WINDOWS_1252);
        assert_eq!(m.columns["mrn"], ["MRN", "PatientID"]);
        assert_eq!(m.expected_columns(), ["MRN", "Bed"], "a mapped column is expected unless marked optional");
        assert_eq!(config.parse_options().csv.len(), 1);
    }

    #[test]
    fn pdf_mappings_and_the_time_limit_are_read() {
        let config = load("").expect("defaults");
        assert_eq!(config.pdf.timeout, Duration::from_secs(30));
        assert_eq!(config.pdf.mappings.len(), 1, "the built-in NOTE_<MRN>_<DOCTYPE>_<YYYYMMDDHHMM>.pdf");
        let config = load(
            r#"
            [pdf]
            timeout = "5s"
            [[pdf.mapping]]
            pattern = "*.pdf"
            file_name = '^(?<mrn>\d+)-(?<doc_type>[A-Z]+)-(?<date>\d{8})\.pdf$'
            date_format = "%Y%m%d"
            "#,
        )
        .expect("valid");
        assert_eq!(config.pdf.timeout, Duration::from_secs(5));
        let [m] = config.parse_options().pdf.mappings.try_into().expect("one mapping");
        assert!(m.file_name.is_match("12345-ECHO-20261124.pdf"));
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let cases = [
            ("time_zone = \"Mars/Base\"", "time_zone"),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\nsettle = \"soon\"", "source[0].settle"),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\nafter_ingest = \"burn\"", "source[0].after_ingest"),
            ("[[source]]\nname = \"a\"\n", "source[0].path"),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\n[[source]]\nname = \"a\"\npath = \"/y\"", "source[1].name"),
            ("surprise = 1", "line 1"),
            ("[hl7]\ndefault_charset = \"klingon\"", "hl7.default_charset"),
            ("[mcp]\nbind = \"0.0.0.0\"", "mcp.bind"),
            ("[mcp]\nanswer_budget = 40000", "mcp.answer_budget"),
            ("[[mcp.critical]]\ncode = \"2823-3\"", "mcp.critical[0].low"),
            ("[[mcp.critical]]\nlow = 2.8", "mcp.critical[0].code"),
            ("[[mcp.critical]]\ncode = \"2823-3\"\nlow = 7.0\nhigh = 6.2", "mcp.critical[0].low"),
            ("[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"", "csv.mapping[0].columns.mrn"),
            ("[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"vitals\"", "csv.mapping[0].kind"),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\", shoe = \"X\" }",
                "csv.mapping[0].columns.shoe",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\" }\nencoding = \"ebcdic-ish\"",
                "csv.mapping[0].encoding",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\" }\ndate_formats = [\"%H:%Q\"]",
                "csv.mapping[0].date_formats",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\" }\ndate_formats = [\"MM/DD/YYYY\"]",
                "csv.mapping[0].date_formats",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\" }\noptional = [\"attending\"]",
                "csv.mapping[0].optional",
            ),
            ("[hl7]\nreject_types = [\"vaccines\"]", "hl7.reject_types"),
            ("[hl7]\nreject_types = [\"ORM^o01\"]", "hl7.reject_types"),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\", sex = { column = \"Sex\", default = \"U\" } }",
                "csv.mapping[0].columns.sex",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = { constant = \"M1\" } }",
                "csv.mapping[0].columns.mrn",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\", birth_date = { column = \"DOB\", formats = [\"DD.MM.YYYY\"] } }",
                "csv.mapping[0].columns.birth_date.formats",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\", family_name = { column = \"Name\", part = \"middle\" } }",
                "csv.mapping[0].columns.family_name",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\", location = { join = [\"Unit\"] } }",
                "csv.mapping[0].columns.location",
            ),
            (
                "[[csv.mapping]]\npattern = \"a*.csv\"\nkind = \"census\"\ncolumns = { mrn = \"MRN\" }\nfile_name_time = \"(\\\\d+)\"\nfile_name_time_format = \"%Y\"",
                "csv.mapping[0].file_name_time",
            ),
            ("[[mcp.token]]\nsha256 = \"abc\"\nidentity = \"x\"\nrole = \"clinician\"", "mcp.token[0].sha256"),
            ("[[mcp.role]]\nname = \"r\"\ntools = [\"drop_table\"]", "mcp.role[0].tools"),
            ("[pdf]\ntimeout = \"soon\"", "pdf.timeout"),
            ("[[pdf.mapping]]\npattern = \"*.pdf\"\nfile_name = \"(?<id>\\\\d+)\"", "pdf.mapping[0].file_name"),
            (
                "[[pdf.mapping]]\npattern = \"*.pdf\"\nfile_name = \"(?<mrn>\\\\d+)_(?<date>\\\\d+)\"",
                "pdf.mapping[0].date_format",
            ),
            ("data_dir = \"/srv/x/data\"\n[[source]]\nname = \"a\"\npath = \"/srv/x\"", "source[0].path"),
            ("[[source]]\nname = \"a\"\nkind = \"sftp\"", "source[0].sftp"),
            ("[[source]]\nname = \"a\"\nkind = \"sftp\"\n[source.sftp]\nuser = \"u\"", "source[0].sftp.host"),
            (
                "[[source]]\nname = \"a\"\nkind = \"sftp\"\n[source.sftp]\nhost = \"h\"\nuser = \"u\"\n\
                 key_file = \"k\"\nknown_hosts = \"kh\"\nafter = \"move\"",
                "source[0].sftp.move_to",
            ),
            (
                "[[source]]\nname = \"a\"\nkind = \"sftp\"\n[source.sftp]\nhost = \"h\"\nuser = \"u\"\n\
                 key_file = \"k\"\nknown_hosts = \"kh\"\npassword = \"hunter2\"",
                "line 8",
            ),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\npoll = \"* * * * *\"", "source[0].poll"),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\nexpected = \"0 5 * *\"", "source[0].expected"),
            ("[[source]]\nname = \"a\"\npath = \"/x\"\ngrace = \"45m\"", "source[0].grace"),
        ];
        for (text, key) in cases {
            let err = load(text).expect_err(text);
            let shown = err.to_string();
            assert!(shown.starts_with("/etc/ingest/test.toml: "), "{shown}");
            assert_eq!(err.key, key, "{shown}");
        }
    }
}
