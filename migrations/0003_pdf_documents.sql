-- 0003: what is kept of a PDF note beyond its text (NULL for HL7 documents). The original file is
-- found through the document's ledger row (source_files.path and disposition).
ALTER TABLE documents ADD COLUMN page_count INTEGER;
ALTER TABLE documents ADD COLUMN text_status TEXT;   -- 'ok' | 'no_text_layer'
ALTER TABLE documents ADD COLUMN sha256 TEXT;
