-- 0006: documents are looked up by the document they add to or replace: on every document
-- written (is there already a T10 that replaces it?) and on every read_document (its addenda).
-- Without an index each of those scans the whole documents table, text included, which made a
-- replay slower with every document already in the snapshot.
CREATE INDEX documents_parent ON documents (parent_id) WHERE parent_id IS NOT NULL;
