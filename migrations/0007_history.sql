-- 0007: what each export said, kept beside the current state, so that the overnight digest can say
-- what changed by the export that carried it: a transfer's from → to, a dose's before → after, a
-- patient who left the census. The current tables stay the answer to "what is"; these answer
-- "what did this export change". Written in the file's transaction, purged with the patient.

-- One row per ADT event or census verdict applied to a stay.
CREATE TABLE panel_history (
    id             INTEGER PRIMARY KEY,
    source         TEXT    NOT NULL,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    -- join, leave, update, cancel_admit, cancel_discharge (an ADT event or a census row),
    -- census_absent (a census that did not list the patient), or current (the state when this
    -- table was created)
    action         TEXT    NOT NULL,
    event          TEXT,                               -- the ADT trigger, e.g. A02; NULL for a census
    event_at       TEXT,
    location       TEXT,
    attending      TEXT,
    admitted_at    TEXT,
    discharged_at  TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX panel_history_patient ON panel_history (patient_id, source, exported_at);

-- One row per medication order as each export carried it.
CREATE TABLE medication_history (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    order_id       TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    code           TEXT,
    code_system    TEXT,
    dose           TEXT,
    route          TEXT,
    frequency      TEXT,
    status         TEXT,
    start_at       TEXT,
    end_at         TEXT,
    source_file_id INTEGER NOT NULL REFERENCES source_files (id),
    exported_at    TEXT    NOT NULL,
    ingested_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX medication_history_order ON medication_history (patient_id, order_id, exported_at);

-- A snapshot made before this migration: its current state is the first history it has.
INSERT INTO panel_history (source, patient_id, action, event, event_at, location, attending, admitted_at,
                           discharged_at, source_file_id, exported_at, ingested_at)
SELECT source, patient_id, 'current', last_event, last_event_at, location, attending, admitted_at, discharged_at,
       source_file_id, exported_at, ingested_at
FROM panel;
INSERT INTO medication_history (patient_id, order_id, name, code, code_system, dose, route, frequency, status,
                                start_at, end_at, source_file_id, exported_at, ingested_at)
SELECT patient_id, order_id, name, code, code_system, dose, route, frequency, status, start_at, end_at,
       source_file_id, exported_at, ingested_at
FROM medications;
