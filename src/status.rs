//! `ingest status [--json]`: per source, what arrived and when, what went in, what did not.

use crate::config::Config;
use crate::store::{self, read};
use serde::Serialize;

#[derive(Debug, Serialize)]
struct StatusReport {
    snapshot: String,
    counts: read::SnapshotCounts,
    sources: Vec<read::SourceStatus>,
}

pub fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let conn = store::open_reader(&config.snapshot)?;
    let configured: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
    let report = StatusReport {
        snapshot: config.snapshot.display().to_string(),
        counts: read::counts(&conn)?,
        sources: read::sources(&conn, &configured)?,
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
    for s in &report.sources {
        let n = |status: &str| s.files.get(status).copied().unwrap_or(0);
        let _ = writeln!(out, "\nsource {}", s.name);
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
