DROP INDEX documents_embedding_hnsw;
