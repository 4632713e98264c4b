-- The catalog: categories, products and their full-text search document.

-- Typo-tolerant search falls back to trigram similarity on product names.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE categories (
    id uuid PRIMARY KEY,
    slug text NOT NULL CONSTRAINT categories_slug_key UNIQUE,
    name text NOT NULL,
    parent_id uuid CONSTRAINT categories_parent_id_fkey REFERENCES categories (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id uuid PRIMARY KEY,
    sku text NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    price_amount bigint NOT NULL CHECK (price_amount >= 0),
    price_currency text NOT NULL CHECK (price_currency ~ '^[A-Z]{3}$'),
    image_url text,
    attributes jsonb NOT NULL DEFAULT '{}',
    category_id uuid NOT NULL CONSTRAINT products_category_id_fkey REFERENCES categories (id),
    active boolean NOT NULL DEFAULT true,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Deleted products are kept: reservations and orders still refer to them.
    deleted_at timestamptz,
    -- The search document: the name weighs most, then the description, then SKU and attributes.
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', description), 'B')
        || setweight(to_tsvector('simple', sku), 'C')
        || setweight(jsonb_to_tsvector('english', attributes, '["string"]'), 'C')
    ) STORED
);

-- SKU and slug are unique among the products that exist; a deleted product frees them.
CREATE UNIQUE INDEX products_sku_key ON products (sku) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX products_slug_key ON products (slug) WHERE deleted_at IS NULL;
CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
-- Keyset pagination orders: price both ways, newest first.
CREATE INDEX products_price_idx ON products (price_amount, id) WHERE deleted_at IS NULL;
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id);

-- The words of product names, for typo correction: a query that full-text search cannot match
-- is rewritten word by word to the most similar known words (trigram similarity, the GiST index
-- answers nearest-neighbour `<->` lookups) and searched again. The lexicon is small however many
-- products there are, unlike a similarity scan over every name. Words of renamed or deleted
-- products stay; correcting to one of them finds nothing, as the uncorrected query did.
CREATE TABLE search_words (
    word text PRIMARY KEY
);
CREATE INDEX search_words_trgm_idx ON search_words USING gist (word gist_trgm_ops);

-- Statement-level, so a bulk insert adds its words in one sorted statement.
CREATE FUNCTION products_learn_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT DISTINCT word
    FROM changed, regexp_split_to_table(lower(changed.name), '[^[:alnum:]]+') AS word
    WHERE length(word) BETWEEN 3 AND 40 AND word ~ '[[:alpha:]]'
    ORDER BY word
    ON CONFLICT (word) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_learn_words_on_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION products_learn_words();
CREATE TRIGGER products_learn_words_on_update AFTER UPDATE ON products
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION products_learn_words();
