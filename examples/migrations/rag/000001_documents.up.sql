-- A RAG document store: text chunks, their metadata and an embedding (1536 dimensions, e.g.
-- OpenAI text-embedding-3-small). Works the same applied directly to Postgres or through vecgate.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id         bigserial PRIMARY KEY,
    content    text        NOT NULL,
    metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    embedding  vector(1536),
    created_at timestamptz NOT NULL DEFAULT now()
);
