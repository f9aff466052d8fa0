//! The on-call view: per source, whether this morning's export arrived, what went in,
//! what was quarantined or rejected and why. One [`Report`] is gathered from the ledger and shown
//! by `ingest status` on a terminal ([`table`]) or as JSON (`--json`), by the daemon's `/status`
//! page ([`page`]), and its figures by the daemon's `/metrics` ([`crate::metrics`]). No patient data: file names, counts, message control
//! ids, reasons.

pub mod page;
pub mod table;

use chrono::{DateTime, Utc};
use ingest_config::Config;
use ingest_core::schedule::{Verdict, Window};
use ingest_store::{FileStatus, View, read};
use serde::Serialize;

/// How far back the freshness timeline reaches.
pub const TIMELINE_DAYS: i64 = 14;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub snapshot: String,
    pub now: DateTime<Utc>,
    pub counts: read::SnapshotCounts,
    pub sources: Vec<SourceReport>,
}

/// A source's ledger figures and whether its data is current.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    #[serde(flatten)]
    pub status: read::SourceStatus,
    pub stale: bool,
    pub stale_reason: Option<String>,
    /// The next expected export's deadline (expected time + grace), for sources with `expected`.
    pub next_deadline: Option<DateTime<Utc>>,
    /// Whether the daemon can reach the source: its last poll or scan worked (true when the
    /// daemon has not checked it yet).
    pub up: bool,
    /// What is wrong, one line each, worst first: failing since when and why, a run held for its
    /// marker, files no include pattern takes. Empty when nothing is.
    pub problems: Vec<String>,
    /// The health as the daemon last wrote it (absent until the daemon has run with the source).
    pub health: Option<ingest_core::health::SourceHealth>,
    pub recent_rejects: Vec<read::RecentReject>,
    pub recent_warnings: Vec<read::RecentWarning>,
    pub timeline: Timeline,
}

/// The last [`TIMELINE_DAYS`] of a source: each expected export against its deadline, and every file.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// The start of the window: [`TIMELINE_DAYS`] ago, or when the source began (first watched,
    /// or its first export), whichever is later: expected times before it are not counted.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The `expected` schedule as written, when the source has one.
    pub expected: Option<String>,
    pub grace_seconds: Option<u64>,
    /// Without `expected`: how old the newest export may be.
    pub stale_after_seconds: Option<u64>,
    pub windows: Vec<Window>,
    pub arrivals: Vec<read::Arrival>,
}

impl Timeline {
    /// How many expected exports came on time, late, not at all, or are still due.
    pub fn tally(&self, verdict: Verdict) -> usize {
        self.windows.iter().filter(|w| w.verdict == verdict).count()
    }
}

impl SourceReport {
    /// Whether a file received in the last 24 h was quarantined (what it held is missing).
    pub fn recently_quarantined(&self) -> bool {
        self.problems.iter().any(|p| p.starts_with("QUARANTINED"))
    }

    /// Files with a ledger status.
    pub fn files(&self, status: FileStatus) -> i64 {
        self.status.files.get(status.as_str()).copied().unwrap_or(0)
    }
}

/// Gather the report from the ledger, for the configured sources and any other the ledger knows.
pub fn report(conn: View<'_>, config: &Config, now: DateTime<Utc>) -> Result<Report, ingest_store::Error> {
    let configured: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let health = ingest_store::health::load_all(conn)?;
    let mut sources = Vec::new();
    for status in read::sources(conn, &configured)? {
        let health = health.get(&status.name).cloned();
        let last = status.last_export_at.as_deref().and_then(ingest_core::time::parse_rfc3339);
        let freshness = ingest_core::health::freshness(
            config.freshness_rule(&status.name),
            &status.name,
            last,
            health.as_ref(),
            now,
            config.zone,
        );
        let source = config.source(&status.name);
        let expectation = source.and_then(|s| s.expected.as_ref());
        let began = [health.as_ref().map(|h| h.watched_since), read::first_export(conn, &status.name)?]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        // From the expected export the source's first file counts for: a file counts for the
        // expected time E when exported no earlier than half a period before E, so a first export
        // at 05:03 is this 05:00's, and one at 04:55 the 05:00 after it.
        let first = began;
        let began = expectation.map_or(began, |e| {
            let (zone, cron) = (config.zone, &e.expected);
            let period = match (cron.last_at_or_before(began, zone), cron.next_after(began, zone)) {
                (Some(before), Some(after)) => after - before,
                _ => chrono::Duration::days(1),
            };
            cron.last_at_or_before(began + period / 2, zone).unwrap_or(began)
        });
        let from = (now - chrono::Duration::days(TIMELINE_DAYS)).max(began);
        let received_from = (now - chrono::Duration::days(TIMELINE_DAYS)).max(first.min(began));
        let arrivals = read::arrivals(conn, &status.name, &ingest_core::time::rfc3339(received_from))?;
        let windows = match expectation {
            Some(exp) => {
                let went_in: Vec<_> = arrivals
                    .iter()
                    .filter(|a| FileStatus::parse(&a.status).is_some_and(|s| s.landed()))
                    .filter_map(|a| {
                        Some((
                            ingest_core::time::parse_rfc3339(&a.exported_at)?,
                            ingest_core::time::parse_rfc3339(&a.received_at)?,
                        ))
                    })
                    .collect();
                ingest_core::schedule::windows(exp, config.zone, from, now, &went_in)
            }
            None => Vec::new(),
        };
        let stale_after = match (source, expectation) {
            (_, Some(_)) => None,
            (Some(s), None) => Some(s.stale_after),
            (None, None) => Some(ingest_config::DEFAULT_STALE_AFTER),
        };
        let hold_limit = source.filter(|s| s.run_marker.is_some()).map(|s| s.hold_limit);
        let mut problems = health.as_ref().map(|h| h.problems(config.zone, now, hold_limit)).unwrap_or_default();
        problems.extend(ingest_core::health::recently_quarantined(&status.quarantined_at(), now, config.zone));
        sources.push(SourceReport {
            up: health.as_ref().is_none_or(|h| h.is_up()),
            problems,
            health,
            stale: freshness.stale.is_some(),
            stale_reason: freshness.stale,
            next_deadline: freshness.next_deadline,
            recent_rejects: read::recent_rejects(conn, &status.name)?,
            recent_warnings: read::recent_warnings(conn, &status.name)?,
            timeline: Timeline {
                from,
                to: now,
                expected: expectation.map(|e| e.expected.as_str().to_string()),
                grace_seconds: expectation.map(|e| e.grace.as_secs()),
                stale_after_seconds: stale_after.map(|d| d.as_secs()),
                windows,
                arrivals,
            },
            status,
        });
    }
    Ok(Report { snapshot: config.snapshot.display().to_string(), now, counts: read::counts(conn)?, sources })
}

/// Messages not used, by type, on one line: `VXU^V04 88, ORM^O01 25` (most first).
pub fn not_used_line(not_used: &std::collections::BTreeMap<String, i64>) -> String {
    let mut types: Vec<(&String, &i64)> = not_used.iter().collect();
    types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    types.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ")
}

/// The last component of a ledger path (the tables show names; the JSON has whole paths).
pub fn file_name(path: &str) -> String {
    std::path::Path::new(path).file_name().map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// `ingest status [--json]`.
pub fn run(config: &Config, json: bool, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let reader = ingest_store::open_reader(&config.snapshot)?;
    let report = report(reader.view(), config, now)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        use std::io::IsTerminal as _;
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        print!("{}", table::render(&report, config.zone, colour));
    }
    Ok(())
}
