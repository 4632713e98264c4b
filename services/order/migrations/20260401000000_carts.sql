-- One cart per user: a line per product. Prices are not stored: the cart always shows the
-- catalog's current price, and checkout prices it again.
CREATE TABLE cart_items (
    user_id    uuid        NOT NULL,
    product_id uuid        NOT NULL,
    quantity   integer     NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);
