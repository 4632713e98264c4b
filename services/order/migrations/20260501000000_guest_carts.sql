-- Guest carts: the carts of visitors who have not signed in, each named by an opaque token.
--
-- Only the token's SHA-256 digest is kept, so the table yields no usable token. A guest
-- cart's lines are rows of cart_items like any cart's, under the guest cart's id (a random
-- UUID, which no account has) in place of a user id: one table and one set of rules for both
-- kinds of cart. A cart idle for longer than GUEST_CART_IDLE_TTL_SECS is refused, and the
-- sweeper deletes it and its lines; merging it into an account's cart deletes it too.
CREATE TABLE guest_carts (
    id         uuid        PRIMARY KEY,
    token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz NOT NULL DEFAULT now()
);

-- The sweeper looks for the carts idle longest.
CREATE INDEX guest_carts_used_at ON guest_carts (used_at);

COMMENT ON COLUMN cart_items.user_id IS
    'The cart''s owner: a user''s id, or a guest cart''s id (guest_carts.id)';
