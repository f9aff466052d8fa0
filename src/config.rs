//! Configuration: TOML read in two stages, raw (serde) then checked ([`Config`]), so that every
//! error names the file and the key. Where it comes from: `--config`, then `$INGEST_CONFIG`, then
//! `/etc/ingest/ingest.toml`, then built-in defaults that serve a local trial run.

use crate::parse::{MrnRule, ParseOptions};
use crate::time::Zone;
use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
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
    pub sources: Vec<SourceConfig>,
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
    /// Only names matching one of these are exports; the rest are left alone.
    pub include: GlobSet,
    /// Temporary names, never taken even when they match `include`.
    pub ignore: GlobSet,
}

impl SourceConfig {
    /// Whether a file name (no directory) is an export this source should take.
    pub fn wants(&self, file_name: &str) -> bool {
        self.include.is_match(file_name) && !self.ignore.is_match(file_name) && self.trigger_for(file_name).is_none()
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
        let mrn = MrnRule {
            id_type: hl7.mrn_type.unwrap_or_else(|| MrnRule::default().id_type),
            authority: hl7.mrn_authority.filter(|a| !a.is_empty()),
        };

        let raw_sources = if raw.source.is_empty() {
            vec![RawSource { name: Some("inbox".into()), path: Some(data_dir.join("inbox")), ..RawSource::default() }]
        } else {
            raw.source
        };
        let mut sources: Vec<SourceConfig> = Vec::new();
        for (i, raw) in raw_sources.into_iter().enumerate() {
            let key = |field: &str| format!("source[{i}].{field}");
            let source = check_source(raw, base).map_err(|(field, m)| err(&key(&field), m))?;
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
        Ok(Config { origin, data_dir, snapshot, zone, mrn, sources })
    }

    /// Replace the snapshot path (`--db`).
    pub fn with_snapshot(mut self, snapshot: Option<&Path>) -> Config {
        if let Some(path) = snapshot {
            self.snapshot = path.to_path_buf();
        }
        self
    }

    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions { zone: self.zone, mrn: self.mrn.clone() }
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir.join("archive")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// A short human description, for `check-config` and the daemon's first log line.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "config: {}\nsnapshot: {}\ndata dir: {}\ntime zone for times without offset: {}\nMRN: first PID-3 of type {}{}\n",
            self.origin,
            self.snapshot.display(),
            self.data_dir.display(),
            self.zone,
            self.mrn.id_type,
            self.mrn.authority.as_deref().map(|a| format!(" from {a}")).unwrap_or_default(),
        );
        for s in &self.sources {
            out.push_str(&format!(
                "source {}: folder {}{} · settle {} · rescan every {} · {} · after ingest: {:?}\n",
                s.name,
                s.path.display(),
                if s.recursive { " (recursive)" } else { "" },
                humantime::format_duration(s.settle),
                humantime::format_duration(s.rescan_interval),
                if s.require_trigger {
                    format!("requires a trigger file ({})", s.trigger_suffixes.join(", "))
                } else {
                    format!("trigger files {}", s.trigger_suffixes.join(", "))
                },
                s.after_ingest,
            ));
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
    hl7: Option<RawHl7>,
    #[serde(default)]
    source: Vec<RawSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHl7 {
    mrn_type: Option<String>,
    mrn_authority: Option<String>,
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
    include: Option<Vec<String>>,
    ignore: Option<Vec<String>>,
}

const DEFAULT_INCLUDE: &[&str] = &["*.hl7", "*.hl7v2", "*.msg", "*.txt", "*.dat", "*.csv", "*.pdf"];
const DEFAULT_IGNORE: &[&str] = &["*.tmp", "*.part", "*.partial", "*.swp", "~*", ".*"];

fn check_source(raw: RawSource, base: &Path) -> Result<SourceConfig, (String, String)> {
    let name = raw.name.ok_or(("name".to_string(), "missing: every source needs a name".to_string()))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(("name".into(), format!("{name:?} must be letters, digits, '-' or '_'")));
    }
    match raw.kind.as_deref().unwrap_or("folder") {
        "folder" => {}
        "sftp" => return Err(("kind".into(), "sftp sources are not available in this version".into())),
        other => return Err(("kind".into(), format!("unknown source kind {other:?} (expected \"folder\")"))),
    }
    let path = raw.path.ok_or(("path".to_string(), "missing: the folder the export is written to".to_string()))?;
    let duration = |field: &str, value: Option<String>, default: Duration| match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(&text)
            .map_err(|e| (field.to_string(), format!("{text:?} is not a duration such as \"2s\" or \"5m\": {e}"))),
    };
    let settle = duration("settle", raw.settle, Duration::from_secs(2))?;
    let rescan_interval = duration("rescan_interval", raw.rescan_interval, Duration::from_secs(60))?;
    if rescan_interval < Duration::from_secs(1) {
        return Err(("rescan_interval".into(), "must be at least 1s".into()));
    }
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
    let include = globs("include", raw.include, DEFAULT_INCLUDE)?;
    let ignore = globs("ignore", raw.ignore, DEFAULT_IGNORE)?;
    Ok(SourceConfig {
        name,
        path: base.join(path),
        recursive: raw.recursive.unwrap_or(true),
        settle,
        rescan_interval,
        trigger_suffixes,
        require_trigger,
        after_ingest,
        include,
        ignore,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Origin::File("/etc/ingest/test.toml".into()), Path::new("/etc/ingest"))
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
            ("data_dir = \"/srv/x/data\"\n[[source]]\nname = \"a\"\npath = \"/srv/x\"", "source[0].path"),
        ];
        for (text, key) in cases {
            let err = load(text).expect_err(text);
            let shown = err.to_string();
            assert!(shown.starts_with("/etc/ingest/test.toml: "), "{shown}");
            assert_eq!(err.key, key, "{shown}");
        }
    }
}
