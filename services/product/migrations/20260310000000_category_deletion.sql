-- Categories can be deleted. Like products they are kept, marked deleted: deleted products,
-- which orders still refer to, keep the category they were listed under.
ALTER TABLE categories ADD COLUMN deleted_at timestamptz;

-- The slug is unique among the categories that exist; a deleted category frees it.
ALTER TABLE categories DROP CONSTRAINT categories_slug_key;
CREATE UNIQUE INDEX categories_slug_key ON categories (slug) WHERE deleted_at IS NULL;
CREATE INDEX categories_parent_idx ON categories (parent_id);
