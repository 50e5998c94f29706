-- The vector extension stays: other tables may use it.
DROP TABLE documents;
