-- Accounts. The email is stored normalised (trimmed, lowercased) by the service, so the unique
-- constraint is what makes "one account per address" hold under concurrent registrations.
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    display_name  text        NOT NULL,
    -- An argon2id PHC string; its parameters travel with it, so old hashes keep verifying
    -- after the configured parameters change.
    password_hash text        NOT NULL,
    roles         text[]      NOT NULL DEFAULT ARRAY['customer'],
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_roles_check
        CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['customer', 'admin']::text[])
);
