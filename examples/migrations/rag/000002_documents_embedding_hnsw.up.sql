-- Cosine distance (<=>) top-k: ORDER BY embedding <=> $1 LIMIT k. pgvector's defaults, spelled
-- out; vecgate discovers this index at start and serves those queries from memory.
CREATE INDEX documents_embedding_hnsw ON documents
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
