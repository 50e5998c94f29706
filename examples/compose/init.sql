-- Demo data for docker-compose.yml: run once by the Postgres image on first start
-- (/docker-entrypoint-initdb.d), with psql -v ON_ERROR_STOP=1, in database postgres.
--
-- items: 5,000 rows in 10 categories; each category's 8-d embeddings cluster around their own
-- centre. Deterministic (no random()), so every start of the demo has the same data.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE items (
    id        bigserial PRIMARY KEY,
    category  int       NOT NULL,
    title     text      NOT NULL,
    embedding vector(8) NOT NULL
);

INSERT INTO items (category, title, embedding)
SELECT g % 10,
       format('item %s (category %s)', g, g % 10),
       (SELECT array_agg(round((cos((g % 10) * d + d) + 0.25 * sin(g * 12.9898 * d))::numeric, 4) ORDER BY d)
          FROM generate_series(1, 8) AS d)::vector(8)
  FROM generate_series(1, 5000) AS g;

-- pgvector's own index; vecgate finds it at start and builds its in-memory equivalent.
CREATE INDEX items_embedding_hnsw ON items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX items_category ON items (category);

ANALYZE items;

-- Try, directly and through vecgate:
--   SELECT id, title, embedding <-> '[1,0,1,0,1,0,1,0]' AS distance
--     FROM items ORDER BY embedding <-> '[1,0,1,0,1,0,1,0]' LIMIT 5;
