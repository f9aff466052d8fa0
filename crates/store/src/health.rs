//! Each source's health (`ingest_core::health`) in the snapshot. Two writers own separate columns: the
//! source's checker (an SFTP poll task, or the folder loop's scan) the check columns, the untaken
//! files and the error counts; the folder loop the held run and the alert state. Each writes only
//! its own, so neither undoes the other's.

use crate::{View, Writer};
use chrono::{DateTime, Utc};
use ingest_core::health::{ErrorKind, Failure, Held, SourceHealth, Untaken};
use ingest_core::time::{parse_rfc3339, rfc3339};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::BTreeMap;

/// The row of `source`, created (watched from `now`) if it has none.
pub fn ensure(Writer(conn): &Writer, source: &str, kind: &str, now: DateTime<Utc>) -> rusqlite::Result<SourceHealth> {
    conn.execute(
        "INSERT INTO source_health (source, kind, watched_since) VALUES (?1, ?2, ?3)
         ON CONFLICT (source) DO UPDATE SET kind = excluded.kind",
        params![source, kind, rfc3339(now)],
    )?;
    Ok(load(View(conn), source)?.unwrap_or_else(|| SourceHealth::new(kind, now)))
}

/// What a poll or scan found: the check columns, the untaken files and the error counts.
pub fn save_check(Writer(conn): &Writer, source: &str, h: &SourceHealth) -> rusqlite::Result<()> {
    let time = |t: Option<DateTime<Utc>>| t.map(rfc3339);
    let f = h.failing.as_ref();
    conn.execute(
        "UPDATE source_health SET last_check_at = ?2, last_check = ?3, last_ok_at = ?4, error_kind = ?5,
             error = ?6, failing_since = ?7, untaken_files = ?8, untaken_examples = ?9
         WHERE source = ?1",
        params![
            source,
            time(h.last_check_at),
            h.last_check,
            time(h.last_ok_at),
            f.map(|f| f.kind.as_str()),
            f.map(|f| f.message.as_str()),
            f.map(|f| rfc3339(f.since)),
            h.untaken.files,
            h.untaken.examples.join("\n"),
        ],
    )?;
    for (kind, count) in &h.errors {
        conn.execute(
            "INSERT INTO source_errors (source, kind, count) VALUES (?1, ?2, ?3)
             ON CONFLICT (source, kind) DO UPDATE SET count = excluded.count",
            params![source, kind, count],
        )?;
    }
    Ok(())
}

/// What the folder holds, and whether the held run was alerted.
pub fn save_holding(Writer(conn): &Writer, source: &str, h: &SourceHealth) -> rusqlite::Result<()> {
    let held = h.held.as_ref();
    conn.execute(
        "UPDATE source_health SET held_files = ?2, held_since = ?3, held_run = ?4, held_marker = ?5,
             held_alerted_at = ?6
         WHERE source = ?1",
        params![
            source,
            held.map_or(0, |h| h.files),
            held.map(|h| rfc3339(h.since)),
            held.map(|h| h.run.as_str()),
            held.map(|h| h.marker.as_str()),
            h.held_alerted_at.map(rfc3339),
        ],
    )?;
    Ok(())
}

/// Since when the source has been reported stale (`None`: it is fresh).
pub fn save_stale_since(Writer(conn): &Writer, source: &str, since: Option<DateTime<Utc>>) -> rusqlite::Result<()> {
    conn.execute("UPDATE source_health SET stale_since = ?2 WHERE source = ?1", params![source, since.map(rfc3339)])?;
    Ok(())
}

pub fn load(View(conn): View<'_>, source: &str) -> rusqlite::Result<Option<SourceHealth>> {
    let health = conn.query_row(&format!("{SELECT} WHERE source = ?1"), [source], of_row).optional()?;
    match health {
        Some((_, mut h)) => {
            h.errors = errors(conn, source)?;
            Ok(Some(h))
        }
        None => Ok(None),
    }
}

/// Every source's health, by name. A snapshot from before health existed (read by a newer
/// `ingest mcp` or `ingest status` until the daemon has migrated it) has none.
pub fn load_all(View(conn): View<'_>) -> rusqlite::Result<BTreeMap<String, SourceHealth>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'source_health'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(BTreeMap::new());
    }
    let mut stmt = conn.prepare_cached(SELECT)?;
    let rows: Vec<(String, SourceHealth)> = stmt.query_map([], of_row)?.collect::<rusqlite::Result<_>>()?;
    let mut out = BTreeMap::new();
    for (name, mut h) in rows {
        h.errors = errors(conn, &name)?;
        out.insert(name, h);
    }
    Ok(out)
}

const SELECT: &str = "SELECT source, kind, watched_since, last_check_at, last_check, last_ok_at, error_kind, error,
        failing_since, held_files, held_since, held_run, held_marker, untaken_files, untaken_examples,
        stale_since, held_alerted_at
    FROM source_health";

fn of_row(r: &Row<'_>) -> rusqlite::Result<(String, SourceHealth)> {
    let time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<String>>(i)?.as_deref().and_then(parse_rfc3339))
    };
    let failing = match (r.get::<_, Option<String>>(6)?, time(8)?) {
        (Some(kind), Some(since)) => Some(Failure {
            kind: ErrorKind::parse(&kind).unwrap_or(ErrorKind::Other),
            message: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            since,
        }),
        _ => None,
    };
    let held_files: i64 = r.get(9)?;
    let held = match time(10)? {
        Some(since) if held_files > 0 => Some(Held {
            files: held_files,
            since,
            run: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
            marker: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
        }),
        _ => None,
    };
    let examples: String = r.get(14)?;
    let health = SourceHealth {
        kind: r.get(1)?,
        watched_since: time(2)?.unwrap_or_default(),
        last_check_at: time(3)?,
        last_check: r.get(4)?,
        last_ok_at: time(5)?,
        failing,
        held,
        untaken: Untaken {
            files: r.get(13)?,
            examples: examples.lines().filter(|l| !l.is_empty()).map(str::to_string).collect(),
        },
        errors: BTreeMap::new(),
        stale_since: time(15)?,
        held_alerted_at: time(16)?,
    };
    Ok((r.get(0)?, health))
}

fn errors(conn: &Connection, source: &str) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut stmt = conn.prepare_cached("SELECT kind, count FROM source_errors WHERE source = ?1")?;
    stmt.query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_core::health::Check;

    #[test]
    fn each_writer_keeps_its_columns_and_a_reload_gives_back_what_was_saved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = crate::open_writer(&dir.path().join("s.db")).expect("open");
        let t0 = parse_rfc3339("2026-12-03T10:00:00Z").expect("t");
        let mut checker = ensure(&conn, "ehr", "sftp", t0).expect("ensure");
        let mut folder = ensure(&conn, "ehr", "sftp", t0 + chrono::Duration::hours(1)).expect("again");
        assert_eq!(folder.watched_since, t0, "the first watch is kept");
        checker.record(Check::Failed { kind: ErrorKind::AuthRefused, message: "no".into() }, t0);
        checker.untaken = Untaken { files: 1, examples: vec!["notes.txt".into()] };
        save_check(&conn, "ehr", &checker).expect("check");
        folder.held = Some(Held { files: 3, since: t0, run: ".".into(), marker: "DONE".into() });
        save_holding(&conn, "ehr", &folder).expect("holding");
        save_stale_since(&conn, "ehr", Some(t0)).expect("stale");
        let back = load(conn.view(), "ehr").expect("load").expect("row");
        assert_eq!(back.failing, checker.failing);
        assert_eq!(back.errors.get("auth_refused"), Some(&1));
        assert_eq!(back.held, folder.held);
        assert_eq!(back.untaken, checker.untaken);
        assert_eq!(back.stale_since, Some(t0));
        assert_eq!(load_all(conn.view()).expect("all").len(), 1);
    }
}
