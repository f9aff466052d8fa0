-- 0013: what a census says of a stay beyond the panel fields (a mapping's `extra` columns, e.g.
-- code status, isolation, diet), kept with its own export time: an ADT update of the stay neither
-- carries nor clears it.
ALTER TABLE panel ADD COLUMN census_notes TEXT;
ALTER TABLE panel ADD COLUMN census_notes_exported_at TEXT;
