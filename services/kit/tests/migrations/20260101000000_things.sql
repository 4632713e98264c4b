-- A table for the kit's own tests of migrations and constraint mapping.
CREATE TABLE things (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    size integer NOT NULL DEFAULT 1,
    CONSTRAINT things_name_key UNIQUE (name),
    CONSTRAINT things_size_positive CHECK (size > 0)
);
