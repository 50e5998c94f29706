-- Prepared statements: SQL-level and the extended protocol (psql 17's \bind; pgx tests cover named
-- statements and pipelines).
CREATE TABLE kv (k int PRIMARY KEY, v text, e vector(2));
INSERT INTO kv SELECT g, 'v' || g, ARRAY[g, g * 2]::vector FROM generate_series(1, 20) g;
PREPARE q(int) AS SELECT k, v, e FROM kv WHERE k <= $1 ORDER BY k;
EXECUTE q(3);
EXECUTE q(0);
DEALLOCATE q;
EXECUTE q(1);
SELECT k, v FROM kv WHERE k = $1 \bind 7 \g
SELECT k, e <-> $1::vector AS d FROM kv ORDER BY e <-> $1::vector LIMIT $2 \bind '[3,6]' 3 \g
INSERT INTO kv VALUES ($1, $2, $3) \bind 100 'hundred' '[1,2]' \g
INSERT INTO kv VALUES ($1, $2, $3) \bind 100 'again' '[1,2]' \g
SELECT $1::int + 1 \bind notanint \g
-- a cursor-driven fetch of a larger result
\set FETCH_COUNT 7
SELECT k, v FROM kv ORDER BY k;
\unset FETCH_COUNT
