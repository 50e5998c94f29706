-- The schema itself stays: it holds vecgate.schema_migrations. DROP SCHEMA vecgate CASCADE removes it.
DROP TABLE vecgate.indexes;
DROP FUNCTION vecgate.int_option(jsonb, text, numeric, numeric);
