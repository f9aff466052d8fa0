//! `[[source]]` and `[source.sftp]`: where files come from, when they are due, how they are taken.

use super::*;
use crate::raw::*;

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
    pub poll: Option<ingest_core::schedule::Cron>,
    /// When an export is due (`expected` + `grace`): past that without one, the source is stale.
    /// Without it, `stale_after` decides.
    pub expected: Option<ingest_core::schedule::Expectation>,
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

pub(crate) fn check_sftp(
    raw: RawSftp,
    base: &Path,
    duration: &DurationRule<'_>,
) -> Result<SftpConfig, (String, String)> {
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

/// How long an export run's files may wait for its marker before an alert says so.
pub const DEFAULT_HOLD_LIMIT: Duration = Duration::from_secs(3600);

pub use ingest_core::schedule::DEFAULT_STALE_AFTER;

const DEFAULT_INCLUDE: &[&str] = &["*.hl7", "*.hl7v2", "*.msg", "*.txt", "*.dat", "*.csv", "*.pdf"];
const DEFAULT_IGNORE: &[&str] = &["*.tmp", "*.part", "*.partial", "*.swp", "~*", ".*"];

pub(crate) fn check_source(raw: RawSource, base: &Path, data_dir: &Path) -> Result<SourceConfig, (String, String)> {
    let name = raw.name.ok_or(("name".to_string(), "missing: every source needs a name".to_string()))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(("name".into(), format!("{name:?} must be letters, digits, '-' or '_'")));
    }
    let duration =
        |field: &str, value: Option<String>, default: Duration| duration(field, value, default, Zero::Allowed);
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
        Some(text) => Some(ingest_core::schedule::Cron::parse(&text).map_err(|m| ("poll".to_string(), m))?),
        None => None,
    };
    let expected = match (raw.expected, raw.grace) {
        (Some(text), grace) => Some(ingest_core::schedule::Expectation {
            expected: ingest_core::schedule::Cron::parse(&text).map_err(|m| ("expected".to_string(), m))?,
            grace: duration("grace", grace, ingest_core::schedule::DEFAULT_GRACE)?,
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
