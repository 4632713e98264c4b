-- The transactional outbox: every order event is written in the transaction that changes the
-- order, and a relay publishes unpublished rows to RabbitMQ in id order.
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    aggregate_id uuid        NOT NULL,
    routing_key  text        NOT NULL,
    payload      jsonb       NOT NULL,
    -- Trace context (W3C traceparent/tracestate) of the request that wrote the event.
    headers      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
