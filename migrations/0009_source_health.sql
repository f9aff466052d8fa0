-- 0009: each source's health, written by the daemon, read by every view: when it was first
-- watched, its last poll or scan and the result, the current failure (kind, message, since when),
-- the export run held for its marker, the files no include pattern takes, and the alert state
-- (stale since, held run alerted) that a restart must not send again. Times are RFC 3339 UTC.
CREATE TABLE source_health (
    source          TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,      -- 'sftp' or 'folder'
    watched_since   TEXT NOT NULL,
    last_check_at   TEXT,
    last_check      TEXT,
    last_ok_at      TEXT,
    error_kind      TEXT,               -- NULL when the last check worked
    error           TEXT,
    failing_since   TEXT,
    held_files      INTEGER NOT NULL DEFAULT 0,
    held_since      TEXT,
    held_run        TEXT,
    held_marker     TEXT,
    untaken_files   INTEGER NOT NULL DEFAULT 0,
    untaken_examples TEXT NOT NULL DEFAULT '', -- names, one per line
    stale_since     TEXT,
    held_alerted_at TEXT
);

-- Failures counted per source and kind (for /metrics' ingest_source_errors_total).
CREATE TABLE source_errors (
    source TEXT NOT NULL,
    kind   TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (source, kind)
);
