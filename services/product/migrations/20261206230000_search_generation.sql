-- The search generation: a number that moves on with every committed write that can change a
-- search's result (which products match, in which order, under which filters). The search keeps
-- the pages it computed with the generation they were computed at, and serves one again only
-- while the generation is still that one (src/search/pages.rs).
CREATE TABLE search_generation (
    only_row boolean PRIMARY KEY DEFAULT true CONSTRAINT search_generation_one_row CHECK (only_row),
    value bigint NOT NULL
);
INSERT INTO search_generation (value) VALUES (1);

-- Once per transaction, at its commit (the triggers are deferred): the row's lock is then the
-- last one a writer takes, so two writers never hold it while waiting for each other's rows, and
-- a reader sees the new number in the same snapshot as the changes it stands for. The setting,
-- local to the transaction, skips the update for every row after the first: a bulk insert of
-- 100,000 products moves the generation once.
CREATE FUNCTION search_generation_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('search.generation_advanced', true) IS DISTINCT FROM 'on' THEN
        UPDATE search_generation SET value = value + 1;
        PERFORM set_config('search.generation_advanced', 'on', true);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER products_search_generation
    AFTER INSERT OR UPDATE OR DELETE ON products
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION search_generation_advance();

-- A category filter takes the category's subtree, so any category write counts too.
CREATE CONSTRAINT TRIGGER categories_search_generation
    AFTER INSERT OR UPDATE OR DELETE ON categories
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION search_generation_advance();

-- Stock changes with every reservation, but a search only sees whether a product is in stock (the
-- `in_stock` filter): the quantities on a page are read fresh with it, so only a product going in
-- or out of stock counts.
CREATE CONSTRAINT TRIGGER inventory_search_generation
    AFTER UPDATE ON inventory
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ((OLD.on_hand > OLD.reserved) IS DISTINCT FROM (NEW.on_hand > NEW.reserved))
    EXECUTE FUNCTION search_generation_advance();
CREATE CONSTRAINT TRIGGER inventory_rows_search_generation
    AFTER INSERT OR DELETE ON inventory
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION search_generation_advance();
