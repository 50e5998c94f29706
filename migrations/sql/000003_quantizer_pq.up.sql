-- quantizer = pq (product quantisation) for ivfflat definitions.
ALTER TABLE vecgate.indexes DROP CONSTRAINT indexes_options_check;
ALTER TABLE vecgate.indexes ADD CONSTRAINT indexes_options_check CHECK (
    jsonb_typeof(options) = 'object'
    AND vecgate.int_option(options, 'm', 2, 100)
    AND vecgate.int_option(options, 'ef_construction', 4, 1000)
    AND vecgate.int_option(options, 'lists', 1, 32768)
    AND vecgate.int_option(options, 'dims', 1, 64000)
    AND (NOT options ? 'quantizer' OR options -> 'quantizer' IN ('"none"', '"sq8"', '"binary"', '"pq"'))
    AND (NOT options ? 'include' OR jsonb_typeof(options -> 'include') = 'array')
    AND (NOT options ? 'oversample' OR (jsonb_typeof(options -> 'oversample') = 'number'))
);
COMMENT ON COLUMN vecgate.indexes.options IS 'm, ef_construction, lists (pgvector); quantizer none|sq8|pq|binary, dims (Matryoshka truncation), include (column names), oversample (vecgate only)';
