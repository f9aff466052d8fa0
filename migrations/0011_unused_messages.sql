-- 0011: messages of types the snapshot does not use (VXU, ORM, SIU, …), counted per file and type:
-- read and set aside, not rejected.
CREATE TABLE unused_messages (
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    message_type   TEXT    NOT NULL,   -- e.g. VXU^V04
    count          INTEGER NOT NULL,
    PRIMARY KEY (source_file_id, message_type)
) STRICT;
