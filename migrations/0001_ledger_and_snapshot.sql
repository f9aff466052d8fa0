-- 0001: the ledger of files, per-message rejects, patients, panel membership, observations.
-- Migrations are append-only: never edit a released file; add the next number instead.
-- Times are RFC 3339 UTC text (`2026-11-24T05:00:00Z`), which sorts as time.

-- Every file seen, whatever became of it.
CREATE TABLE source_files (
    id                 INTEGER PRIMARY KEY,
    source             TEXT    NOT NULL,
    path               TEXT    NOT NULL,               -- where the file was found
    size               INTEGER NOT NULL,
    mtime              TEXT    NOT NULL,
    sha256             TEXT    NOT NULL,
    kind               TEXT    NOT NULL,               -- hl7, unknown
    exported_at        TEXT    NOT NULL,
    exported_at_origin TEXT    NOT NULL,               -- FHS-7, BHS-7, MSH-7 or mtime
    received_at        TEXT    NOT NULL,               -- when the file was found ready
    ingested_at        TEXT    NOT NULL,               -- when this row's transaction committed
    status             TEXT    NOT NULL CHECK (status IN
                           ('ingested', 'ingested_with_rejects', 'duplicate', 'quarantined')),
    duplicate_of       INTEGER REFERENCES source_files (id),
    messages           INTEGER NOT NULL DEFAULT 0,     -- messages understood
    records            INTEGER NOT NULL DEFAULT 0,     -- records written
    rejects            INTEGER NOT NULL DEFAULT 0,     -- messages rejected
    error              TEXT,                           -- why it was quarantined
    disposition        TEXT                            -- archived / kept / deleted / quarantined path
) STRICT;
CREATE INDEX source_files_sha256 ON source_files (sha256);
CREATE INDEX source_files_source ON source_files (source, path);

-- A message that could not be understood; the rest of its file landed.
CREATE TABLE rejects (
    id             INTEGER PRIMARY KEY,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    message_index  INTEGER NOT NULL,                   -- 1-based position in the file
    line           INTEGER NOT NULL,                   -- 1-based line where the message starts
    control_id     TEXT,                               -- MSH-10
    segment        TEXT,                               -- e.g. PID-3
    reason         TEXT    NOT NULL,
    raw            TEXT    NOT NULL
) STRICT;
CREATE INDEX rejects_file ON rejects (source_file_id);

CREATE TABLE patients (
    id             INTEGER PRIMARY KEY,
    mrn            TEXT    NOT NULL UNIQUE,
    family_name    TEXT,
    given_name     TEXT,
    birth_date     TEXT,                               -- YYYY-MM-DD
    sex            TEXT,
    -- 1 once a registration (ADT) has been applied: from then on its demographics and provenance
    -- win over result messages, which only fill empty fields.
    registered     INTEGER NOT NULL DEFAULT 0,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL
) STRICT;

-- Every PID-3 repetition; `system` is `authority/type`.
CREATE TABLE patient_identifiers (
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    system         TEXT    NOT NULL,
    value          TEXT    NOT NULL,
    id_type        TEXT,
    authority      TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL,
    PRIMARY KEY (patient_id, system, value)
) STRICT;

-- Membership of a source's panel and the current stay. `active` is NULL when only updates
-- (A08) have been seen.
CREATE TABLE panel (
    source         TEXT    NOT NULL,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    active         INTEGER,
    location       TEXT,
    attending      TEXT,
    visit_number   TEXT,
    admitted_at    TEXT,
    discharged_at  TEXT,
    last_event     TEXT,                               -- e.g. A03
    last_event_at  TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL,
    PRIMARY KEY (source, patient_id)
) STRICT;

CREATE TABLE observations (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    order_id        TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    code_system     TEXT,
    name            TEXT,
    value_type      TEXT,
    value           TEXT,
    numeric_value   REAL,
    unit            TEXT,
    reference_range TEXT,
    abnormal_flag   TEXT,
    status          TEXT,
    observed_at     TEXT    NOT NULL,                  -- '' when the message gave none
    resulted_at     TEXT,
    first_exported_at TEXT  NOT NULL,                  -- the oldest export that carried this result
    source_file_id  INTEGER NOT NULL REFERENCES source_files (id),
    exported_at     TEXT    NOT NULL,
    ingested_at     TEXT    NOT NULL,
    UNIQUE (patient_id, order_id, code, observed_at)
) STRICT;
CREATE INDEX observations_patient_time ON observations (patient_id, observed_at);
