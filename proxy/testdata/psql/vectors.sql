-- Vector queries of every shape vecgate intercepts, with an HNSW index, so that through a vecgate
-- that intercepts they are answered by it (once its twin is built) and must print the same.
CREATE TABLE docs (id bigint PRIMARY KEY, tenant int NOT NULL, title text, emb vector(4));
INSERT INTO docs SELECT g, g % 7, 'doc ' || g, ARRAY[g % 10, (g * 3) % 11, (g * 7) % 13, g * 0.001]::vector FROM generate_series(1, 2000) g;
CREATE INDEX docs_emb ON docs USING hnsw (emb vector_l2_ops);
CREATE INDEX docs_emb_cos ON docs USING hnsw (emb vector_cosine_ops);
SELECT pg_sleep(1.5);
SELECT id FROM docs ORDER BY emb <-> '[1,2,3,1]' LIMIT 5;
SELECT id FROM docs ORDER BY emb <-> '[4,4,4,1]' LIMIT 3;
SELECT id FROM docs ORDER BY emb <-> '[8,1,6,0.5]' LIMIT 3 OFFSET 1;
SELECT id, title FROM docs ORDER BY emb <-> '[9,9,9,1]', id LIMIT 5;
SELECT id, title, tenant FROM docs WHERE tenant = 3 ORDER BY emb <-> '[1,2,3,1]', id LIMIT 6;
SELECT id FROM docs WHERE title LIKE 'doc 1%' ORDER BY emb <=> '[1,0,0,0]', id LIMIT 4 OFFSET 2;
SET vecgate.exact_distances = on;
SELECT id, round((emb <-> '[1,2,3,1]')::numeric, 6) AS d FROM docs ORDER BY emb <-> '[1,2,3,1]', id LIMIT 5;
RESET vecgate.exact_distances;
SELECT id FROM docs ORDER BY emb <-> '[1,2,3]' LIMIT 5;
SELECT id FROM docs ORDER BY emb <-> '[1,2,nan,4]' LIMIT 5;
SELECT id FROM docs ORDER BY emb <-> $1 LIMIT 2 \bind '[5,5,5,1]' \g
INSERT INTO docs VALUES (5000, 1, 'new', '[1,2,3,1]');
SELECT id FROM docs ORDER BY emb <-> '[1,2,3,1]', id LIMIT 3;
DELETE FROM docs WHERE id = 5000;
SELECT id FROM docs ORDER BY emb <-> '[1,2,3,1]', id LIMIT 3;
DROP INDEX docs_emb_cos;
