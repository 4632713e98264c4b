-- A table for the kit's own tests of migrations and constraint mapping.
CREATE TABLE things (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    CONSTRAINT things_name_key UNIQUE (name)
);
