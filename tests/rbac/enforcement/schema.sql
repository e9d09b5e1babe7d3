-- A clinic: owners see their own patients; `ssn` is hidden from most roles.
CREATE TABLE owners (
    id integer PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE patients (
    id integer PRIMARY KEY,
    owner_id integer NOT NULL REFERENCES owners (id),
    name text NOT NULL,
    ssn text,
    score integer,
    attrs jsonb
);
CREATE TABLE visits (
    id integer PRIMARY KEY,
    patient_id integer NOT NULL REFERENCES patients (id),
    note text
);
CREATE TABLE tags (
    id integer PRIMARY KEY,
    label text NOT NULL
);
CREATE TABLE patient_tags (
    patient_id integer NOT NULL REFERENCES patients (id),
    tag_id integer NOT NULL REFERENCES tags (id),
    PRIMARY KEY (patient_id, tag_id)
);

INSERT INTO owners VALUES (1001, 'Ada'), (1002, 'Bob');
INSERT INTO patients VALUES
    (1, 1001, 'Alice', '111-11-1111', 10, '{"plan": "pro"}'),
    (2, 1001, 'Amir', '122-22-2222', 20, '{"plan": "free"}'),
    (3, 1001, 'Anna', NULL, 30, NULL),
    (4, 1002, 'Bert', '144-44-4444', 40, '{"plan": "pro"}'),
    (5, 1002, 'Bea', '255-55-5555', 50, '{"plan": "free"}'),
    (6, 1002, 'Boris', '166-66-6666', 60, NULL);
INSERT INTO visits VALUES
    (1, 1, 'checkup'), (2, 2, 'flu'), (3, 4, 'broken arm'), (4, 5, 'checkup'), (5, 6, 'flu');
INSERT INTO tags VALUES (1, 'vip'), (2, 'new');
INSERT INTO patient_tags VALUES (1, 1), (4, 1), (5, 2), (2, 2);
