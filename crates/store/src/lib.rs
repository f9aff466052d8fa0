//! The snapshot: one SQLite file in WAL mode, and the only crate that knows SQL. `open_writer`
//! applies the embedded migrations and gives the one [`Writer`]; `open_reader` gives a read-only
//! [`Reader`]. `write` holds the ledger and the per-file transaction with its precedence rules,
//! `read` the status queries, `snapshot` the MCP side's, `health` and `remote` the sources' rows,
//! `purge` the deletes of retention.
//!
//! Read-only is a type: queries take a [`View`], which a reader, a read transaction or the writer
//! lends; writes take the [`Writer`], which only `open_writer` makes. None of them hands out the
//! SQLite connection, so no other crate can run SQL, and the MCP side, which holds only readers,
//! cannot reach a write.

pub mod health;
pub mod purge;
pub mod read;
pub mod readers;
pub mod remote;
pub mod snapshot;
pub mod write;

/// The ledger's verdict on a file, for every reader of the ledger.
pub use write::FileStatus;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};
use std::path::Path;
use std::time::Duration;

/// The numbered files in `migrations/`, in order. Append only.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/0001_ledger_and_snapshot.sql"),
    include_str!("../../../migrations/0002_orders_problems_allergies_documents.sql"),
    include_str!("../../../migrations/0003_pdf_documents.sql"),
    include_str!("../../../migrations/0004_document_manifest.sql"),
    include_str!("../../../migrations/0005_remote_files.sql"),
    include_str!("../../../migrations/0006_document_parent_index.sql"),
    include_str!("../../../migrations/0007_history.sql"),
    include_str!("../../../migrations/0008_export_time_warning.sql"),
    include_str!("../../../migrations/0009_source_health.sql"),
    include_str!("../../../migrations/0010_field_warnings.sql"),
    include_str!("../../../migrations/0011_unused_messages.sql"),
    include_str!("../../../migrations/0012_observation_comment.sql"),
    include_str!("../../../migrations/0013_census_notes.sql"),
    include_str!("../../../migrations/0014_demographic_changes.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("snapshot {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("snapshot {path}: migration failed: {source}")]
    Migration { path: String, source: rusqlite_migration::Error },
    #[error("snapshot {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("snapshot {path} does not exist (nothing has been ingested yet?)")]
    Missing { path: String },
    /// A snapshot an older `ingest` wrote, not yet brought up to date by this one's writer.
    #[error(
        "snapshot {path} is at schema version {found}; this ingest reads version {expected}. The daemon \
         (or a replay) brings it up to date when it starts: start it, then ask again"
    )]
    OldSchema { path: String, found: i64, expected: i64 },
}

/// Prepared statements the writer keeps.
const STATEMENT_CACHE: usize = 64;

/// The writer's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 32 * 1024;

/// How long a writer or reader waits for the other's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The error of a query or a write (SQLite's).
pub type Error = rusqlite::Error;

/// The snapshot opened for writing: the daemon's (or a replay's) one connection. The ledger, the
/// records, the sources' health and retention's deletes are written through it; between its
/// transactions it reads as a [`View`] too.
#[derive(Debug)]
pub struct Writer(Connection);

/// The snapshot opened read-only (the open flag, `query_only` and an authorizer that allows
/// reads only). It offers [`View`]s, never a write.
#[derive(Debug)]
pub struct Reader(Connection);

/// What a query reads through: lent by a [`Reader`], a [`ReadTransaction`] or the [`Writer`].
#[derive(Debug, Clone, Copy)]
pub struct View<'a>(&'a Connection);

/// One read transaction on a [`Reader`]: every query through its view sees the same state of the
/// snapshot, whatever the writer commits meanwhile. Ends when dropped.
#[derive(Debug)]
pub struct ReadTransaction<'a>(rusqlite::Transaction<'a>);

impl Writer {
    pub fn view(&self) -> View<'_> {
        View(&self.0)
    }

    /// Opens a transaction around several files' own (an export run), so that a reader sees all
    /// of them or none; ended by [`Writer::commit_run`] or [`Writer::roll_back_run`].
    pub fn begin_run(&self) -> Result<(), Error> {
        self.0.execute_batch("BEGIN IMMEDIATE")
    }

    pub fn commit_run(&self) -> Result<(), Error> {
        self.0.execute_batch("COMMIT")
    }

    pub fn roll_back_run(&self) -> Result<(), Error> {
        self.0.execute_batch("ROLLBACK")
    }
}

impl Reader {
    pub fn view(&self) -> View<'_> {
        View(&self.0)
    }

    /// A read transaction: one state of the snapshot for every query of one answer.
    pub fn transaction(&self) -> Result<ReadTransaction<'_>, Error> {
        self.0.unchecked_transaction().map(ReadTransaction)
    }

    /// Whether no transaction is open (a pooled reader goes back only then).
    pub(crate) fn is_idle(&self) -> bool {
        self.0.is_autocommit()
    }
}

impl ReadTransaction<'_> {
    pub fn view(&self) -> View<'_> {
        View(&self.0)
    }
}

/// Open (creating if needed, 0600 in a 0700 directory) the snapshot for writing, and bring its
/// schema up to date.
pub fn open_writer(path: &Path) -> Result<Writer, StoreError> {
    let shown = path.display().to_string();
    let io = |source| StoreError::Io { path: shown.clone(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ingest_fsutil::create_private_dir(dir).map_err(io)?;
    }
    ingest_fsutil::create_private_file(path).map_err(io)?;
    let sqlite = |source| StoreError::Sqlite { path: shown.clone(), source };
    let mut conn = Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // FULL: a file is archived only after its transaction is durable. The page cache (SQLite's
    // default is 2 MiB) holds the index pages that new results land on: each patient's part of
    // the observation indexes. With 2 MiB, a snapshot of a few million results reads most of them
    // back from the file for every insert, and a replay slowed down as the snapshot grew. Statement
    // journals (an upsert inside a file's transaction keeps one) stay in memory, not in temp files.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY;",
        WRITER_CACHE_KIB
    ))
    .map_err(sqlite)?;
    // Every statement of a file's transaction stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let migrations = Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect());
    migrations.to_latest(&mut conn).map_err(|source| StoreError::Migration { path: shown.clone(), source })?;
    Ok(Writer(conn))
}

/// Open an existing snapshot read-only (no writes possible through this connection).
pub fn open_reader(path: &Path) -> Result<Reader, StoreError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(StoreError::Missing { path: shown });
    }
    let sqlite = |source| StoreError::Sqlite { path: shown.clone(), source };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // The readers' queries name this version's columns: an older snapshot would fail each of
    // them with "no such column"; say once what is wrong instead. (Read before the authorizer,
    // which refuses pragmas.)
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    let expected = MIGRATIONS.len() as i64;
    if found < expected {
        return Err(StoreError::OldSchema { path: shown, found, expected });
    }
    conn.execute_batch("PRAGMA query_only = ON;").map_err(sqlite)?;
    conn.authorizer(Some(read_only_authorizer)).map_err(sqlite)?;
    Ok(Reader(conn))
}

/// Whether a reader's snapshot answers a query (`/readyz`).
pub fn ping(View(conn): View<'_>) -> Result<(), Error> {
    conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).map(drop)
}

/// The third lock on a reader (after the read-only open flag and `query_only`): SQLite asks before
/// every action, and only reading is allowed.
fn read_only_authorizer(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Read { .. }
        | AuthAction::Select
        | AuthAction::Function { .. }
        | AuthAction::Recursive
        | AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. } => Authorization::Allow,
        // FTS5 asks for this read-only pragma to notice changes; no other pragma is allowed.
        AuthAction::Pragma { pragma_name: "data_version", pragma_value: None } => Authorization::Allow,
        _ => Authorization::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_idempotent() {
        assert!(Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect()).validate().is_ok());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        drop(open_writer(&path).expect("first open"));
        let conn = open_writer(&path).expect("second open");
        let version: i64 = conn.0.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = conn.0.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_reader_refuses_a_snapshot_an_older_ingest_wrote_and_says_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).expect("open");
        let older = MIGRATIONS.len() - 1;
        let migrations = Migrations::new(MIGRATIONS[..older].iter().map(|sql| M::up(sql)).collect());
        migrations.to_latest(&mut conn).expect("older schema");
        drop(conn);
        let err = open_reader(&path).expect_err("an older schema");
        let text = err.to_string();
        assert!(
            text.contains(&format!("is at schema version {older}; this ingest reads version {}", older + 1)),
            "{text}"
        );
        drop(open_writer(&path).expect("the writer migrates it"));
        assert!(open_reader(&path).is_ok());
    }

    #[test]
    fn reader_can_search_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        drop(open_writer(&path).expect("create"));
        let reader = open_reader(&path).expect("reader");
        let n: i64 = reader
            .0
            .query_row("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH '\"fever\"'", [], |r| r.get(0))
            .expect("search");
        assert_eq!(n, 0);
    }

    #[test]
    fn reader_cannot_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        drop(open_writer(&path).expect("create"));
        let reader = open_reader(&path).expect("reader");
        for sql in [
            "DELETE FROM patients",
            "INSERT INTO rejects (source_file_id, message_index, line, reason, raw) VALUES (1, 1, 1, 'x', 'x')",
            "CREATE TABLE t (x)",
            "PRAGMA query_only = OFF",
            "ATTACH DATABASE ':memory:' AS other",
        ] {
            assert!(reader.0.execute_batch(sql).is_err(), "{sql} must be refused");
        }
        // query_only cannot be switched off, so the authorizer is still in the way.
        assert!(reader.0.execute("DELETE FROM patients", []).is_err());
        let n: i64 = reader.0.query_row("SELECT count(*) FROM patients", [], |r| r.get(0)).expect("read");
        assert_eq!(n, 0);
    }
}
