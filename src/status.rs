//! `ingest status [--json]`: per source, what arrived and when, what went in, what did not.

use crate::config::Config;
use crate::store::{self, read};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct StatusReport {
    snapshot: String,
    now: String,
    counts: read::SnapshotCounts,
    sources: Vec<SourceReport>,
}

/// A source's ledger figures and whether its data is current.
#[derive(Debug, Serialize)]
struct SourceReport {
    #[serde(flatten)]
    status: read::SourceStatus,
    stale: bool,
    stale_reason: Option<String>,
    /// The next expected export's deadline (expected time + grace), for sources with `expected`.
    next_deadline: Option<String>,
}

pub fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let conn = store::open_reader(&config.snapshot)?;
    let configured: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let now = crate::time::clock_from_env().now();
    let sources = read::sources(&conn, &configured)?
        .into_iter()
        .map(|status| {
            let last = status.last_export_at.as_deref().and_then(crate::time::parse_rfc3339);
            let freshness = crate::mcp::answers::source_freshness(config, &status.name, last, now);
            SourceReport {
                stale: freshness.stale.is_some(),
                stale_reason: freshness.stale,
                next_deadline: freshness.next_deadline.map(crate::time::rfc3339),
                status,
            }
        })
        .collect();
    let report = StatusReport {
        snapshot: config.snapshot.display().to_string(),
        now: crate::time::rfc3339(now),
        counts: read::counts(&conn)?,
        sources,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn render(report: &StatusReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let c = &report.counts;
    let _ = writeln!(out, "snapshot: {}", report.snapshot);
    let _ = writeln!(
        out,
        "holds: {} patients ({} on the panel) · {} results ({} abnormal)",
        c.patients, c.on_panel, c.observations, c.abnormal_observations
    );
    let _ = writeln!(
        out,
        "      {} medication orders · {} problems · {} allergies · {} documents",
        c.medications, c.problems, c.allergies, c.documents
    );
    for source in &report.sources {
        let s = &source.status;
        let n = |status: &str| s.files.get(status).copied().unwrap_or(0);
        let _ = writeln!(out, "\nsource {}", s.name);
        match &source.stale_reason {
            Some(reason) => {
                let _ = writeln!(out, "  STALE:        {reason}");
            }
            None => {
                let _ = writeln!(out, "  fresh:        yes (as of {})", report.now);
            }
        }
        if let Some(deadline) = &source.next_deadline {
            let _ = writeln!(out, "  next due by:  {deadline}");
        }
        let _ = writeln!(out, "  last export:  {}", s.last_export_at.as_deref().unwrap_or("never"));
        let _ = writeln!(out, "  last ingest:  {}", s.last_ingested_at.as_deref().unwrap_or("never"));
        let _ = writeln!(
            out,
            "  files:        {} ingested · {} with rejects · {} duplicate · {} quarantined",
            n("ingested"),
            n("ingested_with_rejects"),
            n("duplicate"),
            n("quarantined")
        );
        let _ = writeln!(out, "  rejected messages: {}", s.rejects);
        if !s.quarantined.is_empty() {
            let _ = writeln!(out, "  quarantine (newest first):");
            for q in &s.quarantined {
                let _ = writeln!(out, "    #{} {} at {}", q.file_id, q.path, q.received_at);
                let _ = writeln!(out, "       {}", q.error);
                if let Some(now) = &q.quarantined_as {
                    let _ = writeln!(out, "       now at {now} (reason in {now}.error.txt)");
                }
            }
        }
        if !s.recent_files.is_empty() {
            let _ = writeln!(out, "  recent files (newest first):");
            for f in &s.recent_files {
                let _ = writeln!(
                    out,
                    "    #{} {} {} · exported {} · {} messages, {} records, {} rejects",
                    f.file_id, f.status, f.path, f.exported_at, f.messages, f.records, f.rejects
                );
            }
        }
    }
    out
}
