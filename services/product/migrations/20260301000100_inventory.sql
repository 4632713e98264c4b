-- Inventory, reservations for orders, and the order events already applied.

-- One row per product. `reserved` units are held by open reservations; the units anyone can
-- still buy are `on_hand - reserved`. The checks make overselling impossible whatever the code does.
CREATE TABLE inventory (
    product_id uuid PRIMARY KEY REFERENCES products (id),
    on_hand bigint NOT NULL CONSTRAINT inventory_on_hand_check CHECK (on_hand >= 0),
    reserved bigint NOT NULL DEFAULT 0 CONSTRAINT inventory_reserved_check CHECK (reserved >= 0),
    CONSTRAINT inventory_reserved_within_on_hand CHECK (reserved <= on_hand)
);

CREATE TABLE reservations (
    order_id uuid PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('reserved', 'committed', 'released', 'expired')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The sweeper only ever looks for open reservations past their deadline.
CREATE INDEX reservations_due_idx ON reservations (expires_at) WHERE status = 'reserved';

CREATE TABLE reservation_lines (
    order_id uuid NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products (id),
    quantity bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- Order events applied, by `event_id`: a redelivered event finds its id here and is skipped.
CREATE TABLE processed_events (
    event_id uuid PRIMARY KEY,
    kind text NOT NULL,
    order_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
