-- Admins pick the products the home page features.
ALTER TABLE products ADD COLUMN featured boolean NOT NULL DEFAULT false;

-- A handful of featured products among many: the home page lists them newest first
-- (`featured=true`, no text), and this index holds just those rows in that order, so the list
-- never scans the catalog. Text searches filtered by `featured` go through the search index.
CREATE INDEX products_featured_idx ON products (created_at DESC, id DESC)
    WHERE featured AND deleted_at IS NULL;
