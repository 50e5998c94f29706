DROP EVENT TRIGGER IF EXISTS vecgate_catalog_drop;
DROP EVENT TRIGGER IF EXISTS vecgate_catalog_end;
DROP FUNCTION vecgate.catalog_event();
