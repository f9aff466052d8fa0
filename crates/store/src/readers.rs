//! Read-only connections for the MCP side, kept in a small pool: a call takes one, answers from it
//! and gives it back. Nothing holds a connection between calls, so open files do not grow with
//! the number of clients (or of clients that left without saying goodbye): at most the calls in
//! flight, plus `idle` kept open for the next ones.

use super::{Reader, StoreError, open_reader};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    keep: usize,
}

impl Readers {
    /// A pool on `path` that keeps up to `keep` idle connections. One is opened now, so that a
    /// missing or unreadable snapshot is an error at start, not at the first call.
    pub fn open(path: &Path, keep: usize) -> Result<Readers, StoreError> {
        let first = open_reader(path)?;
        Ok(Readers { path: path.to_path_buf(), idle: Mutex::new(vec![first]), keep: keep.max(1) })
    }

    /// A pool that opens its first connection at the first call (for a server that may start
    /// before the snapshot exists).
    pub fn lazy(path: &Path, keep: usize) -> Readers {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()), keep: keep.max(1) }
    }

    /// A connection for one call; back to the pool when the lease is dropped.
    pub fn get(&self) -> Result<Lease<'_>, StoreError> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        Ok(Lease { conn: Some(conn), pool: self })
    }

    /// Idle connections held now.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }
}

/// One connection of a [`Readers`] pool, for one call.
#[derive(Debug)]
pub struct Lease<'a> {
    conn: Option<Reader>,
    pool: &'a Readers,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        self.conn.as_ref().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Only a connection with no transaction left open goes back: one still inside a read
        // transaction would pin an old state of the snapshot for the next call.
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.pool.idle.lock())
            && idle.len() < self.pool.keep
            && conn.is_idle()
        {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_reused_and_at_most_keep_stay_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("snapshot.db");
        drop(super::super::open_writer(&path).expect("create"));
        let pool = Readers::open(&path, 2).expect("pool");
        {
            let leases: Vec<Lease<'_>> = (0..5).map(|_| pool.get().expect("lease")).collect();
            assert_eq!(pool.idle(), 0);
            for lease in &leases {
                assert_eq!(lease.0.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).expect("query"), 1);
            }
        }
        assert_eq!(pool.idle(), 2, "five were open at once; two are kept");
        {
            let lease = pool.get().expect("lease");
            lease.0.execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;").expect("begin");
        }
        assert_eq!(pool.idle(), 1, "a connection left inside a transaction is not reused");
        assert!(Readers::open(&dir.path().join("missing.db"), 2).is_err());
    }
}
