-- DDL, DML, errors, notices, transactions and savepoints, through psql.
\set VERBOSITY verbose
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, embedding vector(3));
INSERT INTO items VALUES (1, 'a', '[1,2,3]'), (2, 'b', '[4,5,6]'), (3, 'c', NULL);
INSERT INTO items VALUES (1, 'dup', '[0,0,0]');
UPDATE items SET name = name || '!' WHERE id > 1 RETURNING *;
DELETE FROM items WHERE id = 3 RETURNING id, name;
SELECT id, name, embedding, embedding <-> '[1,1,1]' AS l2, embedding <#> '[1,1,1]' AS ip,
       embedding <=> '[1,1,1]' AS cos, embedding <+> '[1,1,1]' AS l1
  FROM items ORDER BY embedding <-> '[1,1,1]' LIMIT 5;
SELECT '[1,2]'::vector <-> '[1,2,3]'::vector;
SELECT '[1,NaN]'::vector;
SELECT 1/0;
SELEC 1;
DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; RAISE WARNING 'careful'; END $$;
BEGIN;
INSERT INTO items VALUES (10, 'in txn', '[1,1,1]');
SAVEPOINT s1;
INSERT INTO items VALUES (10, 'dup in txn', '[1,1,1]');
SELECT 'aborted txn ignores this';
ROLLBACK TO SAVEPOINT s1;
INSERT INTO items VALUES (11, 'after savepoint', '[2,2,2]');
RELEASE s1;
COMMIT;
SELECT id, name FROM items ORDER BY id;
BEGIN;
DELETE FROM items;
ROLLBACK;
SELECT count(*) FROM items;
-- several statements in one simple Query message
SELECT 1 AS one\; SELECT 2 AS two\; SELECT 'x' AS three;
SHOW server_version_num;
SET application_name = 'corpus';
SHOW application_name;
\d items
