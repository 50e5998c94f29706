-- vecgate's index definitions: indexes created through vecgate (CREATE INDEX ... USING hnsw|ivfflat
-- with vecgate's options) and offloaded indexes that exist only here. pgvector's own indexes are
-- discovered from pg_index and are not copied into this table.
CREATE SCHEMA IF NOT EXISTS vecgate;

COMMENT ON SCHEMA vecgate IS 'vecgate sidecar: index definitions and instance state. DROP SCHEMA vecgate CASCADE removes vecgate.';

-- vecgate.int_option is true when opts has no key k, or holds an integer between lo and hi there.
CREATE FUNCTION vecgate.int_option(opts jsonb, k text, lo numeric, hi numeric) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN NOT opts ? k THEN true
        WHEN jsonb_typeof(opts -> k) <> 'number' THEN false
        ELSE (opts ->> k)::numeric = trunc((opts ->> k)::numeric)
             AND (opts ->> k)::numeric BETWEEN lo AND hi
    END;

CREATE TABLE vecgate.indexes (
    schema_name text        NOT NULL,
    name        text        NOT NULL,
    table_name  text        NOT NULL,
    column_name text        NOT NULL,
    method      text        NOT NULL,
    metric      text        NOT NULL,
    options     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    mode        text        NOT NULL DEFAULT 'mirror',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, name),
    CONSTRAINT indexes_method_check CHECK (method IN ('hnsw', 'ivfflat', 'flat')),
    CONSTRAINT indexes_metric_check CHECK (metric IN ('<->', '<#>', '<=>', '<+>', '<~>', '<%>')),
    CONSTRAINT indexes_mode_check CHECK (mode IN ('mirror', 'offload')),
    CONSTRAINT indexes_options_check CHECK (
        jsonb_typeof(options) = 'object'
        AND vecgate.int_option(options, 'm', 2, 100)
        AND vecgate.int_option(options, 'ef_construction', 4, 1000)
        AND vecgate.int_option(options, 'lists', 1, 32768)
        AND vecgate.int_option(options, 'dims', 1, 64000)
        AND (NOT options ? 'quantizer' OR options -> 'quantizer' IN ('"none"', '"sq8"', '"binary"'))
        AND (NOT options ? 'include' OR jsonb_typeof(options -> 'include') = 'array')
        AND (NOT options ? 'oversample' OR (jsonb_typeof(options -> 'oversample') = 'number'))
    )
);

CREATE INDEX indexes_table_idx ON vecgate.indexes (schema_name, table_name, column_name);

COMMENT ON TABLE vecgate.indexes IS 'vector indexes defined through vecgate (one row per index)';
COMMENT ON COLUMN vecgate.indexes.schema_name IS 'schema of the index and its table';
COMMENT ON COLUMN vecgate.indexes.name IS 'index name, unique per schema as in Postgres';
COMMENT ON COLUMN vecgate.indexes.metric IS 'pgvector distance operator: <-> L2, <#> negative inner product, <=> cosine, <+> L1, <~> Hamming, <%> Jaccard';
COMMENT ON COLUMN vecgate.indexes.options IS 'm, ef_construction, lists (pgvector); quantizer none|sq8|binary, dims (Matryoshka truncation), include (column names), oversample (vecgate only)';
COMMENT ON COLUMN vecgate.indexes.mode IS 'mirror: also built by Postgres; offload: held by vecgate only';
