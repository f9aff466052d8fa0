//! The TOML as written: one serde structure per table, unknown keys refused. Nothing here is
//! checked; each section's module turns its raw table into a checked one and names the key at fault.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) snapshot: Option<PathBuf>,
    pub(crate) time_zone: Option<String>,
    pub(crate) max_file_mb: Option<u64>,
    pub(crate) hl7: Option<RawHl7>,
    pub(crate) csv: Option<RawCsv>,
    pub(crate) pdf: Option<RawPdf>,
    #[serde(default)]
    pub(crate) source: Vec<RawSource>,
    pub(crate) mcp: Option<RawMcp>,
    pub(crate) retention: Option<RawRetention>,
    pub(crate) alerts: Option<RawAlerts>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub(crate) enabled: Option<bool>,
    pub(crate) archive_days: Option<u32>,
    pub(crate) patient_days: Option<u32>,
    pub(crate) schedule: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub(crate) command: Option<Vec<String>>,
    pub(crate) webhook: Option<String>,
    #[serde(default)]
    pub(crate) webhook_headers: BTreeMap<String, String>,
    pub(crate) on: Option<Vec<String>>,
    pub(crate) retries: Option<u32>,
    pub(crate) retry_wait: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) rate_limit: Option<u32>,
    pub(crate) rate_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMcp {
    pub(crate) http: Option<bool>,
    pub(crate) bind: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) path: Option<String>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) allowed_origins: Option<Vec<String>>,
    pub(crate) allowed_hosts: Option<Vec<String>>,
    pub(crate) stdio_role: Option<String>,
    pub(crate) audit_log: Option<PathBuf>,
    pub(crate) page_size: Option<usize>,
    pub(crate) max_page_size: Option<usize>,
    pub(crate) answer_budget: Option<usize>,
    #[serde(default)]
    pub(crate) critical: Vec<RawCritical>,
    #[serde(default)]
    pub(crate) token: Vec<RawToken>,
    #[serde(default)]
    pub(crate) role: Vec<RawRole>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCritical {
    pub(crate) code: Option<String>,
    pub(crate) low: Option<f64>,
    pub(crate) high: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToken {
    pub(crate) sha256: Option<String>,
    pub(crate) identity: Option<String>,
    pub(crate) role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    pub(crate) name: Option<String>,
    pub(crate) tools: Option<Vec<String>>,
    pub(crate) kinds: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHl7 {
    pub(crate) mrn_type: Option<String>,
    pub(crate) mrn_authority: Option<String>,
    pub(crate) default_charset: Option<String>,
    pub(crate) require_batch_trailers: Option<bool>,
    pub(crate) reject_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsv {
    #[serde(default)]
    pub(crate) mapping: Vec<RawCsvMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A CSV field: a header name, a list of aliases, or a table that builds it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawColumn {
    Aliases(OneOrMany),
    Built(RawBuilt),
}

/// `{ join = [...], separator = "-" }`, `{ column = "Name", part = "family" }`,
/// `{ column = "Name", regex = "...", group = "..." }`, `{ constant = "5W" }`, each with an optional
/// `default`; or `{ column = "Sex", default = "U" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuilt {
    pub(crate) column: Option<String>,
    pub(crate) join: Option<Vec<String>>,
    pub(crate) separator: Option<String>,
    pub(crate) part: Option<String>,
    pub(crate) regex: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) constant: Option<String>,
    pub(crate) default: Option<String>,
    /// This field's date formats, instead of the mapping's `date_formats`.
    pub(crate) formats: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsvMapping {
    pub(crate) name: Option<String>,
    pub(crate) pattern: Option<String>,
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) columns: BTreeMap<String, RawColumn>,
    pub(crate) date_formats: Option<Vec<String>>,
    pub(crate) delimiter: Option<String>,
    pub(crate) quote: Option<String>,
    pub(crate) encoding: Option<String>,
    pub(crate) file_name_time: Option<String>,
    pub(crate) file_name_time_format: Option<String>,
    /// Mapped optional fields whose column a file may lack.
    #[serde(default)]
    pub(crate) optional: Vec<String>,
    /// Medications only: each file is its patients' whole current list.
    #[serde(default)]
    pub(crate) complete: bool,
    /// Census only: header names kept as the stay's notes.
    #[serde(default)]
    pub(crate) extra: Vec<String>,
    /// A regex: rows matching it (cells joined with the delimiter) are not records.
    pub(crate) skip_rows: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPdf {
    pub(crate) timeout: Option<String>,
    pub(crate) manifest_wait: Option<String>,
    #[serde(default)]
    pub(crate) mapping: Vec<RawPdfMapping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPdfMapping {
    pub(crate) name: Option<String>,
    pub(crate) pattern: Option<String>,
    pub(crate) file_name: Option<String>,
    pub(crate) date_format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSftp {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) user: Option<String>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) passphrase_file: Option<PathBuf>,
    pub(crate) passphrase_credential: Option<String>,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) remote_dir: Option<String>,
    pub(crate) recursive: Option<bool>,
    pub(crate) after: Option<String>,
    pub(crate) move_to: Option<String>,
    pub(crate) timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    pub(crate) name: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) recursive: Option<bool>,
    pub(crate) settle: Option<String>,
    pub(crate) rescan_interval: Option<String>,
    pub(crate) trigger_suffixes: Option<Vec<String>>,
    pub(crate) require_trigger: Option<bool>,
    pub(crate) after_ingest: Option<String>,
    pub(crate) stale_after: Option<String>,
    pub(crate) run_marker: Option<String>,
    pub(crate) hold_limit: Option<String>,
    pub(crate) poll: Option<String>,
    pub(crate) expected: Option<String>,
    pub(crate) grace: Option<String>,
    pub(crate) sftp: Option<RawSftp>,
    pub(crate) include: Option<Vec<String>>,
    pub(crate) ignore: Option<Vec<String>>,
    pub(crate) locations: Option<Vec<String>>,
}
