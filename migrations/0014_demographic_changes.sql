-- 0014: a registration (ADT or census) that corrects a patient's family name, birth date or sex:
-- what the value was and what it became, from which export. A value filled for the first time is
-- no correction, nor is a change of case or spacing, nor a given name (written with or without
-- middle names by different systems, it would read as a correction every morning). Written by a
-- trigger, so that every path that updates a patient is covered.
CREATE TABLE demographic_changes (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    field          TEXT    NOT NULL,   -- family_name, birth_date, sex
    before         TEXT    NOT NULL,
    after          TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL
) STRICT;

CREATE INDEX demographic_changes_patient ON demographic_changes (patient_id, exported_at);

CREATE TRIGGER patients_corrected AFTER UPDATE OF family_name, given_name, birth_date, sex ON patients
BEGIN
    INSERT INTO demographic_changes (patient_id, field, before, after, source_file_id, exported_at, ingested_at)
    SELECT NEW.id, field, before, after, NEW.source_file_id, NEW.exported_at, NEW.ingested_at
    FROM (SELECT 'family_name' AS field, OLD.family_name AS before, NEW.family_name AS after
          UNION ALL SELECT 'birth_date', OLD.birth_date, NEW.birth_date
          UNION ALL SELECT 'sex', OLD.sex, NEW.sex)
    WHERE before IS NOT NULL AND upper(trim(after)) IS NOT upper(trim(before));
END;
