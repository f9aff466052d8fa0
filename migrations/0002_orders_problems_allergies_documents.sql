-- 0002: medications, problems (diagnoses and problem list), allergies, documents with full-text search.
-- Same conventions as 0001: every row carries its provenance and is replaced only by a fresher export.

CREATE TABLE medications (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    order_id       TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    code           TEXT,
    code_system    TEXT,
    dose           TEXT,
    route          TEXT,
    frequency      TEXT,
    status         TEXT,                               -- active, held, discontinued, cancelled, completed
    start_at       TEXT,
    end_at         TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL,
    UNIQUE (patient_id, order_id)
) STRICT;

CREATE TABLE problems (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    problem_key    TEXT    NOT NULL,                   -- the code, else the description
    code           TEXT,
    code_system    TEXT,
    description    TEXT    NOT NULL,
    status         TEXT,
    onset_at       TEXT,
    resolved_at    TEXT,
    origin         TEXT    NOT NULL,                   -- diagnosis (DG1) or problem_list (PRB)
    deleted        INTEGER NOT NULL DEFAULT 0,         -- PRB-1 DE: kept as a tombstone, not shown
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL,
    UNIQUE (patient_id, problem_key)
) STRICT;

CREATE TABLE allergies (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    allergen_key   TEXT    NOT NULL,                   -- the code, else the allergen text
    code           TEXT,
    code_system    TEXT,
    allergen       TEXT    NOT NULL,
    allergy_type   TEXT,
    severity       TEXT,
    reaction       TEXT,
    identified_at  TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL,
    UNIQUE (patient_id, allergen_key)
) STRICT;

CREATE TABLE documents (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    document_id    TEXT    NOT NULL UNIQUE,
    parent_id      TEXT,                               -- the document an addendum adds to or a replacement replaces
    doc_type       TEXT,
    title          TEXT,
    authored_at    TEXT,
    author         TEXT,
    status         TEXT,
    event          TEXT    NOT NULL,                   -- T02, T04, T06, T08, T10, ORU
    replaced_by    TEXT,                               -- set when a T10 replaces this document
    text           TEXT    NOT NULL,
    first_exported_at TEXT NOT NULL,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX documents_patient ON documents (patient_id, authored_at);

-- Full-text search over documents (title and text), kept in step by triggers.
CREATE VIRTUAL TABLE documents_fts USING fts5 (
    title, text, content = 'documents', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER documents_fts_insert AFTER INSERT ON documents BEGIN
    INSERT INTO documents_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TRIGGER documents_fts_delete AFTER DELETE ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
END;
CREATE TRIGGER documents_fts_update AFTER UPDATE OF title, text ON documents BEGIN
    INSERT INTO documents_fts (documents_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
    INSERT INTO documents_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
END;

-- A result withdrawn by the lab (OBX-11 D or X) stays as a tombstone, so that an older export
-- replayed later cannot bring it back; readers skip deleted rows.
ALTER TABLE observations ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
