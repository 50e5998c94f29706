-- Catalog changes for vecgate to see in its replication stream, in commit order with the data:
-- GRANT/REVOKE, ALTER TABLE (row-level security, RENAME, SET SCHEMA), CREATE/ALTER/DROP POLICY,
-- CREATE TABLE ... INHERITS / PARTITION OF, DROP TABLE all fire ddl_command_end or sql_drop (checked
-- on Postgres 17). Every such command writes a transactional logical decoding message (prefix
-- 'vecgate.catalog') instead of updating a row, so concurrent DDL never waits on a lock of
-- vecgate's. Role membership (GRANT role TO user) and other shared objects fire no event trigger.
CREATE FUNCTION vecgate.catalog_event() RETURNS event_trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    temp_only boolean;
BEGIN
    IF TG_EVENT = 'sql_drop' THEN
        SELECT bool_and(is_temporary) INTO temp_only FROM pg_event_trigger_dropped_objects();
    ELSIF TG_TAG = 'DROP TABLE' THEN
        RETURN; -- told by its sql_drop, which knows whether the tables were temporary
    ELSE
        SELECT bool_and(schema_name IS NOT NULL AND (schema_name = 'pg_temp' OR schema_name LIKE 'pg\_temp\_%'))
          INTO temp_only FROM pg_event_trigger_ddl_commands();
    END IF;
    IF temp_only THEN
        RETURN; -- temporary objects are the creating session's own; it checks again by itself
    END IF;
    PERFORM pg_logical_emit_message(true, 'vecgate.catalog', TG_TAG);
EXCEPTION WHEN OTHERS THEN
    NULL; -- vecgate never makes a user's DDL fail; it keeps its time bound (10 s) then
END $$;

COMMENT ON FUNCTION vecgate.catalog_event() IS 'event trigger: tells vecgate through its replication stream that the catalog changed';

-- Creating an event trigger needs a superuser. Without one vecgate sees other sessions' catalog
-- changes only through its time bounds (and says so in its status).
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        CREATE EVENT TRIGGER vecgate_catalog_end ON ddl_command_end EXECUTE FUNCTION vecgate.catalog_event();
        CREATE EVENT TRIGGER vecgate_catalog_drop ON sql_drop EXECUTE FUNCTION vecgate.catalog_event();
    ELSE
        RAISE NOTICE 'vecgate: not a superuser: no event trigger, catalog changes are seen within 10 s';
    END IF;
END $$;
