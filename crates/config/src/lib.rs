//! Configuration: TOML read in two stages, raw (serde) then checked ([`Config`]), so that every
//! error names the file and the key. Where it comes from: `--config`, then `$INGEST_CONFIG`, then
//! `/etc/ingest/ingest.toml`, then built-in defaults that serve a local trial run.

mod alerts;
mod describe;
mod mcp;
mod parsing;
mod raw;
mod retention;
mod source;

pub use alerts::*;
pub use mcp::*;
pub use retention::*;
pub use source::*;

use parsing::{check_csv_mapping, check_pdf};
use raw::*;

use globset::{GlobSet, GlobSetBuilder};
use ingest_core::time::Zone;
use ingest_parse::csv::{CsvKind, CsvMapping, Derived, FileNameTime};
use ingest_parse::pdf::{PdfMapping, PdfOptions};
use ingest_parse::{MrnRule, ParseOptions};
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
            return Err(err(
                "hl7.reject_types",
                format!("{bad:?} is not a message type such as \"VXU\" or \"ORM^O01\""),
            ));
        }
        let mrn = MrnRule {
            id_type: hl7.mrn_type.unwrap_or_else(|| MrnRule::default().id_type),
            authority: hl7.mrn_authority.filter(|a| !a.is_empty()),
        };

        let raw_mappings = raw.csv.unwrap_or_default().mapping;
        let csv = if raw_mappings.is_empty() {
            ingest_parse::csv::built_in_mappings()
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

    /// How a source's freshness is judged: its `expected` schedule, else its `stale_after`; a
    /// source that is in the snapshot but no longer configured, by the default `stale_after`.
    pub fn freshness_rule(&self, name: &str) -> ingest_core::schedule::Rule<'_> {
        use ingest_core::schedule::Rule;
        match self.source(name) {
            Some(source) => source.expected.as_ref().map_or(Rule::MaxAge(source.stale_after), Rule::Expected),
            None => Rule::MaxAge(DEFAULT_STALE_AFTER),
        }
    }
}

pub(crate) type DurationRule<'a> = dyn Fn(&str, Option<String>, Duration) -> Result<Duration, (String, String)> + 'a;

/// Whether a duration key may be `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zero {
    Allowed,
    Refused,
}

/// The one reading of a duration key (`30s`, `10m`, `26h`, `1h 30m`): `key` names it in the error;
/// absent, `default`.
pub(crate) fn duration(
    key: &str,
    value: Option<String>,
    default: Duration,
    zero: Zero,
) -> Result<Duration, (String, String)> {
    let Some(text) = value else { return Ok(default) };
    match humantime::parse_duration(&text) {
        Ok(d) if d.is_zero() && zero == Zero::Refused => {
            Err((key.to_string(), format!("{text:?} must be more than 0s")))
        }
        Ok(d) => Ok(d),
        Err(e) => {
            Err((key.to_string(), format!("{text:?} is not a duration such as \"30s\", \"10m\" or \"26h\": {e}")))
        }
    }
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
        assert_eq!(
            config.csv.len(),
            ingest_parse::csv::built_in_mappings().len(),
            "built-in CSV mappings when none is configured"
        );
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
