-- 0005: the ledger of files downloaded from SFTP sources, so that a restart never downloads a
-- file twice. A remote file is known by its path, size and mtime; sha256 is what was staged.
CREATE TABLE remote_files (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    remote_path   TEXT NOT NULL,   -- relative to the source's remote_dir
    size          INTEGER NOT NULL,
    mtime         INTEGER NOT NULL, -- seconds since the epoch, as the server lists it
    sha256        TEXT NOT NULL,
    staged_path   TEXT NOT NULL,
    downloaded_at TEXT NOT NULL,
    after_action  TEXT,             -- NULL (left on the server), 'deleted', 'moved to …', 'failed: …'
    UNIQUE (source, remote_path, size, mtime)
);
