-- Metadata filters: WHERE metadata @> '{"source": "handbook"}', metadata ? 'lang'.
CREATE INDEX documents_metadata_gin ON documents USING gin (metadata);
