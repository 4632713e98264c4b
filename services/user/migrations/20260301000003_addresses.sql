-- Saved postal addresses, chosen at checkout.
CREATE TABLE addresses (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient   text        NOT NULL,
    line1       text        NOT NULL,
    line2       text,
    city        text        NOT NULL,
    postal_code text        NOT NULL,
    region      text,
    country     text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX addresses_user_idx ON addresses (user_id, created_at, id);
