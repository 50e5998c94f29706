DROP INDEX documents_metadata_gin;
