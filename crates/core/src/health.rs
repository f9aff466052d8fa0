//! A source's health, beside its freshness: whether the daemon can reach it (the last poll or
//! scan, its result, the last error and since when), what it holds (files staged and waiting for
//! their run marker), and what it leaves (files that match no include pattern). Freshness says
//! whether the data is current; health says why it is not, or soon will not be.
//!
//! The daemon writes it to the snapshot (`store::health`), so that every view that reads the
//! snapshot shows the same state: `ingest status`, `/status`, `/metrics` and `snapshot_status`.
//! Pure: what happened and the clock are arguments. Failure messages carry no file names (see
//! `SftpError::without_names`); the untaken files' names are kept for `ingest status` and shown on
//! `/status` only to roles that may see file names, never to the assistant.

use crate::schedule::{Freshness, Rule};
use crate::time::Zone;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What kind of failure a poll or scan met: what the on-call engineer has to do differs for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The SFTP server offered another host key than known_hosts holds.
    HostKeyChanged,
    /// The SFTP server's host key is not in known_hosts at all.
    HostKeyUnknown,
    /// The server refused the login (key not authorized, wrong user, wrong passphrase).
    AuthRefused,
    /// No connection: the name does not resolve, nothing listens, a firewall, a timeout.
    Unreachable,
    PermissionDenied,
    /// A folder (local or remote) or a configured file is missing.
    NotFound,
    DiskFull,
    /// A remote file changed while it was being downloaded.
    RemoteFileChanged,
    /// Anything else (a protocol error, an I/O error); the message says what.
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::HostKeyChanged,
        ErrorKind::HostKeyUnknown,
        ErrorKind::AuthRefused,
        ErrorKind::Unreachable,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::DiskFull,
        ErrorKind::RemoteFileChanged,
        ErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::HostKeyChanged => "host_key_changed",
            ErrorKind::HostKeyUnknown => "host_key_unknown",
            ErrorKind::AuthRefused => "auth_refused",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::DiskFull => "disk_full",
            ErrorKind::RemoteFileChanged => "remote_file_changed",
            ErrorKind::Other => "other",
        }
    }

    /// A refused host key or login: someone has to look, whatever else is going on.
    pub fn is_alarming(self) -> bool {
        matches!(self, ErrorKind::HostKeyChanged | ErrorKind::HostKeyUnknown | ErrorKind::AuthRefused)
    }

    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A few words for a sentence: "the SFTP server's host key changed".
    pub fn phrase(self) -> &'static str {
        match self {
            ErrorKind::HostKeyChanged => "the SFTP server's host key changed",
            ErrorKind::HostKeyUnknown => "the SFTP server's host key is not in known_hosts",
            ErrorKind::AuthRefused => "the SFTP server refused the login",
            ErrorKind::Unreachable => "the server cannot be reached or does not answer",
            ErrorKind::PermissionDenied => "permission was denied (or the file system is read-only)",
            ErrorKind::NotFound => "a folder or file is missing",
            ErrorKind::DiskFull => "the disk is full",
            ErrorKind::RemoteFileChanged => "a remote file changed during its download",
            ErrorKind::Other => "the last poll or scan failed",
        }
    }

    /// A local I/O error's kind.
    pub fn of_io(e: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
            K::NotFound | K::NotADirectory => ErrorKind::NotFound,
            K::StorageFull | K::QuotaExceeded => ErrorKind::DiskFull,
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::StaleNetworkFileHandle
            | K::TimedOut => ErrorKind::Unreachable,
            _ => ErrorKind::Other,
        }
    }
}

/// What one poll (SFTP) or scan (folder) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It worked; the summary says what it saw ("listed 3 · staged 1 · 2 still changing").
    Ok {
        summary: String,
    },
    Failed {
        kind: ErrorKind,
        message: String,
    },
}

/// Files of an export run, staged and waiting for the run's marker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Files held, in every run of the source.
    pub files: i64,
    /// When the oldest of them was first held (kept across a restart).
    pub since: DateTime<Utc>,
    /// The folder of the run held longest, relative to the source's folder ("." for the folder
    /// itself).
    pub run: String,
    /// The marker name the run waits for.
    pub marker: String,
}

impl Held {
    /// Whether it has been held for `limit` or longer.
    pub fn over(&self, limit: std::time::Duration, now: DateTime<Utc>) -> bool {
        (now - self.since).to_std().unwrap_or_default() >= limit
    }
}

/// Files in the folder that no include pattern takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Untaken {
    pub files: i64,
    /// A few of their names, for the person looking.
    pub examples: Vec<String>,
}

impl Untaken {
    pub fn of(names: &[String]) -> Untaken {
        Untaken { files: names.len() as i64, examples: names.iter().take(UNTAKEN_EXAMPLES).cloned().collect() }
    }
}

/// How many untaken names are kept as examples.
pub const UNTAKEN_EXAMPLES: usize = 5;

/// A source's health as stored, and as `ingest status --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceHealth {
    /// `sftp` or `folder`.
    pub kind: String,
    /// When the daemon first watched or polled this source: the status timeline counts expected
    /// exports from then (or from its first export, if earlier).
    pub watched_since: DateTime<Utc>,
    pub last_check_at: Option<DateTime<Utc>>,
    /// What the last check saw, or why it failed.
    pub last_check: Option<String>,
    pub last_ok_at: Option<DateTime<Utc>>,
    /// The current failure (`None` when the last check worked).
    pub failing: Option<Failure>,
    pub held: Option<Held>,
    pub untaken: Untaken,
    /// Failures counted per kind since the source was first watched.
    pub errors: BTreeMap<String, i64>,
    /// Since when the daemon has reported (and alerted) the source stale; kept so that a restart
    /// does not alert again.
    pub stale_since: Option<DateTime<Utc>>,
    /// When the last held-run alert went out: it stands for every run staged before it.
    pub held_alerted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// The first failed check of this spell.
    pub since: DateTime<Utc>,
}

/// A change worth an alert, from one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    StartedFailing(Failure),
    /// Working again after failing since `since`.
    Recovered {
        since: DateTime<Utc>,
        kind: ErrorKind,
    },
}

impl SourceHealth {
    pub fn new(kind: &str, now: DateTime<Utc>) -> SourceHealth {
        SourceHealth {
            kind: kind.to_string(),
            watched_since: now,
            last_check_at: None,
            last_check: None,
            last_ok_at: None,
            failing: None,
            held: None,
            untaken: Untaken::default(),
            errors: BTreeMap::new(),
            stale_since: None,
            held_alerted_at: None,
        }
    }

    /// Take in one check. A failure of another kind than the current one continues the spell (the
    /// kind and message are updated), so an alert goes out when failing starts and when it ends;
    /// except that a refused host key or login is alerted even inside a spell (an outage must not
    /// hide an impostor).
    pub fn record(&mut self, check: Check, now: DateTime<Utc>) -> Option<Change> {
        self.last_check_at = Some(now);
        match check {
            Check::Ok { summary } => {
                self.last_check = Some(summary);
                self.last_ok_at = Some(now);
                self.failing.take().map(|f| Change::Recovered { since: f.since, kind: f.kind })
            }
            Check::Failed { kind, message } => {
                self.last_check = Some(format!("failed: {message}"));
                *self.errors.entry(kind.as_str().to_string()).or_insert(0) += 1;
                match &mut self.failing {
                    Some(f) => {
                        let alarming = f.kind != kind && kind.is_alarming();
                        f.kind = kind;
                        f.message = message;
                        alarming.then(|| Change::StartedFailing(f.clone()))
                    }
                    None => {
                        let failure = Failure { kind, message, since: now };
                        self.failing = Some(failure.clone());
                        Some(Change::StartedFailing(failure))
                    }
                }
            }
        }
    }

    /// Whether the source works: its last check did not fail.
    pub fn is_up(&self) -> bool {
        self.failing.is_none()
    }

    /// The held run, if it is past `limit` and no alert has gone out for it (an alert sent after
    /// the run was first held stands for it).
    pub fn held_unalerted_past(&self, limit: std::time::Duration, now: DateTime<Utc>) -> Option<&Held> {
        let held = self.held.as_ref().filter(|h| h.over(limit, now))?;
        let alerted = self.held_alerted_at.is_some_and(|at| at >= held.since);
        (!alerted).then_some(held)
    }

    /// What is wrong, one line each, worst first; empty when nothing is. For the status views
    /// and the assistant.
    pub fn problems(&self, zone: Zone, now: DateTime<Utc>, hold_limit: Option<std::time::Duration>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.failing {
            let last_ok = match self.last_ok_at {
                Some(t) => format!("last good {} {}", self.check_word(), zone.stamp(t)),
                None => format!("no {} has worked yet", self.check_word()),
            };
            out.push(format!(
                "FAILING since {} ({} ago): {}. {last_ok}. {}",
                zone.stamp(f.since),
                ago(f.since, now),
                f.kind.phrase(),
                f.message
            ));
        }
        if let Some(h) = &self.held {
            let over = hold_limit.filter(|limit| h.over(*limit, now));
            out.push(format!(
                "HELD: {} file(s) of the export run in {} staged since {} ({} ago), waiting for its marker {}{}",
                h.files,
                h.run,
                zone.stamp(h.since),
                ago(h.since, now),
                h.marker,
                match over {
                    Some(limit) => format!(
                        " — over the {} hold limit: the marker never came, or a file is missing",
                        crate::time::human_duration(limit)
                    ),
                    None => String::new(),
                }
            ));
        }
        if self.untaken.files > 0 {
            out.push(format!(
                "NOT TAKEN: {} file(s) match no include pattern, e.g. {}",
                self.untaken.files,
                self.untaken.examples.join(", ")
            ));
        }
        out
    }

    /// The part of a stale reason that says why: "the SFTP server's host key changed at 04:12
    /// CST", "2 file(s) staged since 05:02 CST are held waiting for the run marker DONE", or, when
    /// nothing is wrong here, that the export did not come ("the last poll, at 05:46 CST, worked
    /// and found nothing new: the export was not written or not delivered").
    pub fn why_stale(&self, zone: Zone) -> Option<String> {
        if let Some(f) = &self.failing {
            return Some(format!("{} at {}", f.kind.phrase(), zone.stamp(f.since)));
        }
        if let Some(h) = &self.held {
            return Some(format!(
                "{} file(s) staged since {} are held waiting for the run marker {}",
                h.files,
                zone.stamp(h.since),
                h.marker
            ));
        }
        self.last_ok_at.map(|at| {
            let place = if self.kind == "sftp" { "on the SFTP server" } else { "in the folder" };
            format!(
                "the last {}, at {}, worked and found no new export {place}: the EHR has not written or delivered it",
                self.check_word(),
                zone.stamp(at)
            )
        })
    }

    /// What an assistant needs of the problems: short, without messages or file names (a name can
    /// carry an identifier), and what it means for the data.
    pub fn problems_for_assistant(
        &self,
        zone: Zone,
        now: DateTime<Utc>,
        hold_limit: Option<std::time::Duration>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.failing {
            out.push(format!(
                "FAILING since {} ({} ago): {}; no new export can arrive until the integration team fixes it",
                zone.stamp(f.since),
                ago(f.since, now),
                f.kind.phrase()
            ));
        }
        if let Some(h) = &self.held {
            let over = hold_limit.is_some_and(|limit| h.over(limit, now));
            out.push(format!(
                "HELD: {} file(s) of an export run, staged since {}, wait for the run's marker{}; they are not in \
                 the snapshot yet",
                h.files,
                zone.stamp(h.since),
                if over { " (past the hold limit)" } else { "" }
            ));
        }
        out
    }

    /// "poll" (SFTP) or "scan" (folder).
    pub fn check_word(&self) -> &'static str {
        if self.kind == "sftp" { "poll" } else { "scan" }
    }
}

/// A source's freshness by its rule (its `expected` schedule, else the most an export may age;
/// `Config::freshness_rule` says which), with why from its health when it is stale: "…; the SFTP
/// server's host key changed at 04:12 CST, see ingest status". Status, the daemon and the MCP side
/// all judge freshness here.
pub fn freshness(
    rule: Rule<'_>,
    name: &str,
    last_export: Option<DateTime<Utc>>,
    health: Option<&SourceHealth>,
    now: DateTime<Utc>,
    zone: Zone,
) -> Freshness {
    let mut freshness = rule.judge(name, last_export, now, zone);
    if let (Some(reason), Some(why)) = (&mut freshness.stale, health.and_then(|h| h.why_stale(zone))) {
        reason.push_str("; ");
        reason.push_str(&why);
    }
    freshness
}

/// How far back a quarantined file counts as part of this morning's trouble.
pub const RECENT_QUARANTINE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Files quarantined in the last [`RECENT_QUARANTINE`] (ledger id, when received), as one line:
/// an export that came but did not go in is broken, not fresh. No names, no reasons (the views
/// list those where they may).
pub fn recently_quarantined(files: &[(i64, DateTime<Utc>)], now: DateTime<Utc>, zone: Zone) -> Option<String> {
    let recent: Vec<&(i64, DateTime<Utc>)> = files.iter().filter(|(_, at)| now - *at < RECENT_QUARANTINE).collect();
    let newest = recent.iter().map(|(_, at)| *at).max()?;
    let ids: Vec<String> = recent.iter().map(|(id, _)| format!("#{id}")).collect();
    Some(format!(
        "QUARANTINED: {} file(s) received in the last 24 h did not go in (the newest at {}; ledger {}): \
         what they held is not in the snapshot",
        recent.len(),
        zone.stamp(newest),
        ids.join(", ")
    ))
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0) as u64;
    crate::time::human_duration(std::time::Duration::from_secs(if secs >= 3600 { secs / 60 * 60 } else { secs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).expect("time")
    }

    #[test]
    fn failing_is_one_spell_from_the_first_failure_to_the_first_success() {
        let mut h = SourceHealth::new("sftp", at("2026-12-03T10:00:00Z"));
        assert_eq!(h.record(Check::Ok { summary: "listed 0".into() }, at("2026-12-03T10:01:00Z")), None);
        let failed = |kind| Check::Failed { kind, message: "x".into() };
        let change = h.record(failed(ErrorKind::Unreachable), at("2026-12-03T10:12:00Z"));
        assert!(matches!(change, Some(Change::StartedFailing(ref f)) if f.kind == ErrorKind::Unreachable));
        // Another kind in the same spell: no second alert, the kind is the newest; but a refused
        // host key is alerted even inside a spell.
        assert_eq!(h.record(failed(ErrorKind::Other), at("2026-12-03T10:12:30Z")), None);
        let change = h.record(failed(ErrorKind::HostKeyChanged), at("2026-12-03T10:13:00Z"));
        assert!(matches!(change, Some(Change::StartedFailing(ref f)) if f.since == at("2026-12-03T10:12:00Z")));
        assert_eq!(h.record(failed(ErrorKind::HostKeyChanged), at("2026-12-03T10:14:00Z")), None);
        assert_eq!(
            h.failing.as_ref().map(|f| (f.kind, f.since)),
            Some((ErrorKind::HostKeyChanged, at("2026-12-03T10:12:00Z")))
        );
        assert_eq!(h.errors.get("unreachable"), Some(&1));
        assert_eq!(h.errors.get("host_key_changed"), Some(&2));
        assert!(!h.is_up());
        let change = h.record(Check::Ok { summary: "listed 2".into() }, at("2026-12-03T10:20:00Z"));
        assert_eq!(
            change,
            Some(Change::Recovered { since: at("2026-12-03T10:12:00Z"), kind: ErrorKind::HostKeyChanged })
        );
        assert!(h.is_up());
    }

    #[test]
    fn a_file_quarantined_in_the_last_day_is_a_problem_without_its_name() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        let now = at("2026-12-03T12:00:00Z");
        let files = [(13, at("2026-12-03T11:02:00Z")), (9, at("2026-12-01T11:00:00Z"))];
        assert_eq!(
            recently_quarantined(&files, now, zone).as_deref(),
            Some(
                "QUARANTINED: 1 file(s) received in the last 24 h did not go in (the newest at 2026-12-03 05:02 CST; \
                 ledger #13): what they held is not in the snapshot"
            )
        );
        assert_eq!(recently_quarantined(&files[1..], now, zone), None, "two days ago is not this morning");
    }

    #[test]
    fn a_stale_source_that_works_says_the_export_did_not_come() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        let mut h = SourceHealth::new("sftp", at("2026-12-03T10:00:00Z"));
        assert_eq!(h.why_stale(zone), None, "nothing known yet");
        h.record(Check::Ok { summary: "listed 3".into() }, at("2026-12-03T11:46:00Z"));
        assert_eq!(
            h.why_stale(zone).as_deref(),
            Some(
                "the last poll, at 2026-12-03 05:46 CST, worked and found no new export on the SFTP server: the EHR \
                 has not written or delivered it"
            )
        );
    }

    #[test]
    fn problems_say_since_when_in_the_zone_and_what_was_last_good() {
        let zone = Zone::parse("America/Chicago").expect("zone");
        let mut h = SourceHealth::new("sftp", at("2026-12-03T10:00:00Z"));
        h.record(Check::Ok { summary: "listed 0".into() }, at("2026-12-03T10:11:00Z"));
        h.record(
            Check::Failed { kind: ErrorKind::HostKeyChanged, message: "it offered …".into() },
            at("2026-12-03T10:12:00Z"),
        );
        h.held =
            Some(Held { files: 2, since: at("2026-12-03T11:02:00Z"), run: "2026-12-03".into(), marker: "DONE".into() });
        let now = at("2026-12-03T12:40:00Z");
        let lines = h.problems(zone, now, Some(std::time::Duration::from_secs(3600)));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("FAILING since 2026-12-03 04:12 CST (2 h 28 min ago): the SFTP server's host key changed. last good poll 2026-12-03 04:11 CST"), "{}", lines[0]);
        assert!(
            lines[1].contains("2 file(s) of the export run in 2026-12-03 staged since 2026-12-03 05:02 CST"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("over the 1 h hold limit"), "{}", lines[1]);
        assert_eq!(h.why_stale(zone).as_deref(), Some("the SFTP server's host key changed at 2026-12-03 04:12 CST"));
    }
}
