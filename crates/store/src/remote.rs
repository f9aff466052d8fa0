//! The ledger of files downloaded from SFTP sources (`remote_files`): what makes a restart
//! download nothing twice, and what tells a staged copy of ours from anything else in staging.

use crate::Writer;
use rusqlite::{OptionalExtension, params};

/// A remote file as listed and as downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download<'a> {
    pub source: &'a str,
    /// Relative to the source's remote folder.
    pub remote_path: &'a str,
    pub size: u64,
    pub mtime: u64,
    pub sha256: &'a str,
    pub staged_path: &'a str,
    pub downloaded_at: &'a str,
    /// `None` (left on the server), `deleted`, `moved to …`, `failed: …`.
    pub after_action: Option<&'a str>,
}

/// The newest download of a remote path, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub size: u64,
    pub mtime: u64,
    pub sha256: String,
    pub staged_path: String,
    pub downloaded_at: String,
}

/// Whether this version (path, size, mtime) of a remote file was downloaded already.
pub fn is_known(
    Writer(conn): &Writer,
    source: &str,
    remote_path: &str,
    size: u64,
    mtime: u64,
) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM remote_files WHERE source = ?1 AND remote_path = ?2 AND size = ?3 AND mtime = ?4",
        )?
        .query_row(params![source, remote_path, size as i64, mtime as i64], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn record(Writer(conn): &Writer, d: &Download<'_>) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO remote_files (source, remote_path, size, mtime, sha256, staged_path, downloaded_at, after_action)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (source, remote_path, size, mtime) DO NOTHING",
        params![
            d.source,
            d.remote_path,
            d.size as i64,
            d.mtime as i64,
            d.sha256,
            d.staged_path,
            d.downloaded_at,
            d.after_action
        ],
    )?;
    Ok(())
}

/// The newest download of `remote_path`.
pub fn latest(Writer(conn): &Writer, source: &str, remote_path: &str) -> rusqlite::Result<Option<Staged>> {
    conn.query_row(
        "SELECT size, mtime, sha256, staged_path, downloaded_at FROM remote_files
         WHERE source = ?1 AND remote_path = ?2 ORDER BY id DESC LIMIT 1",
        params![source, remote_path],
        |r| {
            Ok(Staged {
                size: r.get::<_, i64>(0)? as u64,
                mtime: r.get::<_, i64>(1)? as u64,
                sha256: r.get(2)?,
                staged_path: r.get(3)?,
                downloaded_at: r.get(4)?,
            })
        },
    )
    .optional()
}
