-- Checkout responses by (user, Idempotency-Key). A row without a status is a request still
-- being processed; its response is stored when it finishes, and replayed to every retry with
-- the same key and request. Rows are deleted 24 hours after they were created.
CREATE TABLE idempotency_keys (
    user_id       uuid        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    status_code   smallint,
    content_type  text,
    response_body bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CHECK ((status_code IS NULL) = (response_body IS NULL))
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
