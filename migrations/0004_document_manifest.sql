-- 0004: a documents manifest (a CSV export listing PDF notes) says whose each PDF is, for PDFs
-- whose file names carry no MRN. One row per (source, file name); the fresher manifest wins.
CREATE TABLE document_manifest (
    source         TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    mrn            TEXT NOT NULL,
    doc_type       TEXT,
    title          TEXT,
    author         TEXT,
    authored_at    TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT NOT NULL,
    ingested_at    TEXT NOT NULL,
    PRIMARY KEY (source, file_name)
);

-- Why a PDF's text could not be extracted (text_status 'failed'): the document is kept, without
-- text, so that the assistant knows it exists and a person can open the original.
ALTER TABLE documents ADD COLUMN text_error TEXT;
