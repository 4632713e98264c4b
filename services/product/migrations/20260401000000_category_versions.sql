-- Categories are edited under optimistic concurrency, like products: every admin write counts
-- a new version, and a write based on an older one is refused instead of overwriting.
ALTER TABLE categories ADD COLUMN version bigint NOT NULL DEFAULT 1;
