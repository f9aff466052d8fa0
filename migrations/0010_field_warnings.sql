-- 0010: fields that could not be read and were left empty, in messages (or rows) that still
-- landed: where (message, line, control id, field) and why; never the value. Counted per file.
CREATE TABLE field_warnings (
    id             INTEGER PRIMARY KEY,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    message_index  INTEGER NOT NULL,   -- 1-based position of the message or row in the file
    line           INTEGER NOT NULL,   -- 1-based line where it starts
    control_id     TEXT,               -- MSH-10
    field          TEXT,               -- e.g. PID-7
    reason         TEXT    NOT NULL
) STRICT;
CREATE INDEX field_warnings_file ON field_warnings (source_file_id);

ALTER TABLE source_files ADD COLUMN warnings INTEGER NOT NULL DEFAULT 0;
