-- Search at catalog scale: a common word matches thousands of products, all of which are ranked.

-- Exact-name matches rank first. The few products named exactly the query are found once through
-- this index, instead of lowering the name of every full-text match.
CREATE INDEX products_lower_name_idx ON products (lower(name));

-- With fastupdate, a GIN index collects new entries in an unsorted pending list until a vacuum,
-- or an insert that overflows the 4 MB limit, merges them; every search reads the whole list
-- meanwhile (a few milliseconds each at 100,000 products). The catalog is read far more often
-- than written, so entries go straight into the index, and the list gathered so far is merged.
ALTER INDEX products_search_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('products_search_idx');
