-- Orders, their lines and their payment. Ids are UUIDv7, so ordering by id is ordering by
-- creation time and the id alone is a stable pagination cursor.
CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'payment_failed')),
    currency         char(3)     NOT NULL,
    subtotal         bigint      NOT NULL CHECK (subtotal >= 0),
    tax              bigint      NOT NULL CHECK (tax >= 0),
    shipping         bigint      NOT NULL CHECK (shipping >= 0),
    total            bigint      NOT NULL CHECK (total = subtotal + tax + shipping),
    shipping_address jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_user_id_idx ON orders (user_id, id DESC);
CREATE INDEX orders_status_id_idx ON orders (status, id DESC);
-- The expiry sweep looks for old pending orders only.
CREATE INDEX orders_pending_created_idx ON orders (created_at) WHERE status = 'pending';

CREATE TABLE order_lines (
    order_id   uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    product_id uuid    NOT NULL,
    sku        text    NOT NULL,
    name       text    NOT NULL,
    unit_price bigint  NOT NULL CHECK (unit_price >= 0),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total bigint  NOT NULL CHECK (line_total = unit_price * quantity),
    PRIMARY KEY (order_id, position)
);

-- One payment per order. Only the last four digits and the brand of the card are kept: the
-- number and the CVC go to the provider and are forgotten.
CREATE TABLE payments (
    order_id            uuid        PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    provider            text        NOT NULL,
    provider_payment_id text,
    status              text        NOT NULL CHECK (status IN
                            ('pending', 'succeeded', 'declined', 'refunded', 'voided')),
    amount              bigint      NOT NULL,
    currency            char(3)     NOT NULL,
    card_last4          text        NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_brand          text,
    failure_reason      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
