//! Queries on the snapshot for `ingest status` and the replay summary. Read-only.

use crate::View;
use rusqlite::{Connection, params};
use serde::Serialize;
use std::collections::BTreeMap;

/// One source as the ledger knows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    /// The newest `exported_at` among the files that went in.
    pub last_export_at: Option<String>,
    /// When the newest file went in.
    pub last_ingested_at: Option<String>,
    /// File count per ledger status (`ingested`, `ingested_with_rejects`, `duplicate`, `quarantined`).
    pub files: BTreeMap<String, i64>,
    /// Messages rejected inside files.
    pub rejects: i64,
    /// Fields left empty (unreadable, not needed to identify their record) in messages that landed.
    pub field_warnings: i64,
    /// Messages of types the snapshot does not use, by type (read and set aside, not rejected).
    pub not_used: BTreeMap<String, i64>,
    pub quarantined: Vec<QuarantinedFile>,
    pub recent_files: Vec<RecentFile>,
    /// Files of the last [`TIME_WARNING_DAYS`] whose export time is doubtful, newest first.
    pub export_time_warnings: Vec<TimeWarning>,
}

impl SourceStatus {
    /// The newest quarantined files (ledger id, when received).
    pub fn quarantined_at(&self) -> Vec<(i64, chrono::DateTime<chrono::Utc>)> {
        self.quarantined
            .iter()
            .filter_map(|q| Some((q.file_id, ingest_core::time::parse_rfc3339(&q.received_at)?)))
            .collect()
    }
}

/// A file whose export time cannot be right, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimeWarning {
    pub file_id: i64,
    pub path: String,
    pub exported_at: String,
    pub received_at: String,
    pub warning: String,
}

/// How far back status views look for files with a doubtful export time.
pub const TIME_WARNING_DAYS: i64 = 7;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarantinedFile {
    pub file_id: i64,
    pub path: String,
    /// Where the file is now (inside quarantine/), with `NAME.error.txt` beside it.
    pub quarantined_as: Option<String>,
    pub received_at: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecentFile {
    pub file_id: i64,
    pub path: String,
    pub status: String,
    pub exported_at: String,
    pub ingested_at: String,
    pub messages: i64,
    pub records: i64,
    pub rejects: i64,
}

/// Totals of the snapshot's contents.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct SnapshotCounts {
    pub patients: i64,
    pub on_panel: i64,
    pub observations: i64,
    pub abnormal_observations: i64,
    pub medications: i64,
    pub problems: i64,
    pub allergies: i64,
    pub documents: i64,
}

/// How many quarantined files and recent files `ingest status` lists per source.
const LIST_LIMIT: i64 = 10;

/// Per-source status, for every source in `configured` plus any other the ledger has seen.
pub fn sources(View(conn): View<'_>, configured: &[String]) -> rusqlite::Result<Vec<SourceStatus>> {
    let mut names: Vec<String> = configured.to_vec();
    let mut stmt = conn.prepare("SELECT DISTINCT source FROM source_files ORDER BY source")?;
    for name in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let name = name?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.iter().map(|name| source(conn, name)).collect()
}

/// The newest `exported_at` of the files that went in, per source.
pub fn last_exports(View(conn): View<'_>) -> rusqlite::Result<BTreeMap<String, String>> {
    let mut stmt = conn.prepare(
        "SELECT source, max(exported_at) FROM source_files
         WHERE status IN ('ingested', 'ingested_with_rejects') GROUP BY source",
    )?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

/// The earliest `exported_at` of the files of `source` that went in: when the source began, for a
/// snapshot the daemon has not watched (a replay).
pub fn first_export(View(conn): View<'_>, source: &str) -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let first: Option<String> = conn.query_row(
        "SELECT min(exported_at) FROM source_files WHERE source = ?1 AND status IN ('ingested', 'ingested_with_rejects')",
        [source],
        |r| r.get(0),
    )?;
    Ok(first.as_deref().and_then(ingest_core::time::parse_rfc3339))
}

fn source(conn: &Connection, name: &str) -> rusqlite::Result<SourceStatus> {
    let (last_export_at, last_ingested_at, rejects, field_warnings) = conn.query_row(
        "SELECT max(CASE WHEN status IN ('ingested', 'ingested_with_rejects') THEN exported_at END),
                max(CASE WHEN status IN ('ingested', 'ingested_with_rejects') THEN ingested_at END),
                coalesce(sum(CASE WHEN status != 'quarantined' THEN rejects END), 0),
                coalesce(sum(warnings), 0)
         FROM source_files WHERE source = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut stmt = conn.prepare(
        "SELECT u.message_type, sum(u.count) FROM unused_messages u JOIN source_files f ON f.id = u.source_file_id
         WHERE f.source = ?1 GROUP BY u.message_type",
    )?;
    let not_used: BTreeMap<String, i64> =
        stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut files = BTreeMap::new();
    for status in ["ingested", "ingested_with_rejects", "duplicate", "quarantined"] {
        files.insert(status.to_string(), 0);
    }
    let mut stmt = conn.prepare("SELECT status, count(*) FROM source_files WHERE source = ?1 GROUP BY status")?;
    for row in stmt.query_map([name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (status, n) = row?;
        files.insert(status, n);
    }
    let mut stmt = conn.prepare(
        "SELECT id, path, disposition, received_at, coalesce(error, '') FROM source_files
         WHERE source = ?1 AND status = 'quarantined' ORDER BY id DESC LIMIT ?2",
    )?;
    let quarantined = stmt
        .query_map(params![name, LIST_LIMIT], |r| {
            Ok(QuarantinedFile {
                file_id: r.get(0)?,
                path: r.get(1)?,
                quarantined_as: r.get(2)?,
                received_at: r.get(3)?,
                error: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT id, path, status, exported_at, ingested_at, messages, records, rejects FROM source_files
         WHERE source = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let recent_files = stmt
        .query_map(params![name, LIST_LIMIT], |r| {
            Ok(RecentFile {
                file_id: r.get(0)?,
                path: r.get(1)?,
                status: r.get(2)?,
                exported_at: r.get(3)?,
                ingested_at: r.get(4)?,
                messages: r.get(5)?,
                records: r.get(6)?,
                rejects: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT id, path, exported_at, received_at, export_time_warning FROM source_files
         WHERE source = ?1 AND export_time_warning IS NOT NULL AND status != 'duplicate'
           AND received_at >= strftime('%Y-%m-%dT%H:%M:%SZ', (SELECT max(received_at) FROM source_files WHERE source = ?1), ?3)
         ORDER BY id DESC LIMIT ?2",
    )?;
    let export_time_warnings = stmt
        .query_map(params![name, LIST_LIMIT, format!("-{TIME_WARNING_DAYS} days")], |r| {
            Ok(TimeWarning {
                file_id: r.get(0)?,
                path: r.get(1)?,
                exported_at: r.get(2)?,
                received_at: r.get(3)?,
                warning: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(SourceStatus {
        name: name.to_string(),
        last_export_at,
        last_ingested_at,
        files,
        rejects,
        field_warnings,
        not_used,
        quarantined,
        recent_files,
        export_time_warnings,
    })
}

/// A file as the status page's timeline draws it: when it came, and what became of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Arrival {
    pub file_id: i64,
    pub received_at: String,
    pub exported_at: String,
    pub status: String,
}

/// The most files a timeline draws per source.
const ARRIVALS_LIMIT: i64 = 5000;

/// The files of `source` received at or after `since` (RFC 3339), oldest first.
pub fn arrivals(View(conn): View<'_>, source: &str, since: &str) -> rusqlite::Result<Vec<Arrival>> {
    let mut stmt = conn.prepare(
        "SELECT id, received_at, exported_at, status FROM (
             SELECT id, received_at, exported_at, status FROM source_files
             WHERE source = ?1 AND received_at >= ?2 ORDER BY id DESC LIMIT ?3)
         ORDER BY id",
    )?;
    stmt.query_map(params![source, since, ARRIVALS_LIMIT], |r| {
        Ok(Arrival { file_id: r.get(0)?, received_at: r.get(1)?, exported_at: r.get(2)?, status: r.get(3)? })
    })?
    .collect()
}

/// A message rejected inside a file that otherwise went in: where, and why. Not its text (PHI).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecentReject {
    pub file_id: i64,
    pub path: String,
    /// 1-based position of the message in the file, and the line it starts on.
    pub message_index: i64,
    pub line: i64,
    /// MSH-10.
    pub control_id: Option<String>,
    pub segment: Option<String>,
    pub reason: String,
}

/// A field left empty in a message that landed: where, and why. Not its value (PHI).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecentWarning {
    pub file_id: i64,
    pub path: String,
    pub message_index: i64,
    pub line: i64,
    pub control_id: Option<String>,
    pub field: Option<String>,
    pub reason: String,
}

/// The newest field warnings of `source`, newest first.
pub fn recent_warnings(View(conn): View<'_>, source: &str) -> rusqlite::Result<Vec<RecentWarning>> {
    let mut stmt = conn.prepare(
        "SELECT f.id, f.path, w.message_index, w.line, w.control_id, w.field, w.reason
         FROM field_warnings w JOIN source_files f ON f.id = w.source_file_id
         WHERE f.source = ?1 ORDER BY w.id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![source, LIST_LIMIT], |r| {
        Ok(RecentWarning {
            file_id: r.get(0)?,
            path: r.get(1)?,
            message_index: r.get(2)?,
            line: r.get(3)?,
            control_id: r.get(4)?,
            field: r.get(5)?,
            reason: r.get(6)?,
        })
    })?
    .collect()
}

/// The newest rejects of `source`, newest first.
pub fn recent_rejects(View(conn): View<'_>, source: &str) -> rusqlite::Result<Vec<RecentReject>> {
    let mut stmt = conn.prepare(
        "SELECT f.id, f.path, r.message_index, r.line, r.control_id, r.segment, r.reason
         FROM rejects r JOIN source_files f ON f.id = r.source_file_id
         WHERE f.source = ?1 AND f.status != 'quarantined'
         ORDER BY r.id DESC LIMIT ?2",
    )?;
    stmt.query_map(params![source, LIST_LIMIT], |r| {
        Ok(RecentReject {
            file_id: r.get(0)?,
            path: r.get(1)?,
            message_index: r.get(2)?,
            line: r.get(3)?,
            control_id: r.get(4)?,
            segment: r.get(5)?,
            reason: r.get(6)?,
        })
    })?
    .collect()
}

pub fn counts(View(conn): View<'_>) -> rusqlite::Result<SnapshotCounts> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM patients),
                (SELECT count(DISTINCT patient_id) FROM panel WHERE active = 1),
                (SELECT count(*) FROM observations WHERE deleted = 0),
                (SELECT count(*) FROM observations WHERE deleted = 0 AND abnormal_flag IS NOT NULL
                    AND abnormal_flag NOT IN ('', 'N')),
                (SELECT count(*) FROM medications),
                (SELECT count(*) FROM problems WHERE deleted = 0),
                (SELECT count(*) FROM allergies),
                (SELECT count(*) FROM documents)",
        [],
        |r| {
            Ok(SnapshotCounts {
                patients: r.get(0)?,
                on_panel: r.get(1)?,
                observations: r.get(2)?,
                abnormal_observations: r.get(3)?,
                medications: r.get(4)?,
                problems: r.get(5)?,
                allergies: r.get(6)?,
                documents: r.get(7)?,
            })
        },
    )
}
