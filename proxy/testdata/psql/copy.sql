-- COPY both ways, text, CSV and binary, and \copy with files.
CREATE TABLE c (id int, t text, e vector(3));
COPY c FROM STDIN;
1	one	[1,2,3]
2	two	[4,5,6]
3	\N	\N
\.
COPY c FROM STDIN WITH (FORMAT csv);
4,"four, with comma","[7,8,9]"
5,,"[0,0,1]"
\.
COPY c TO STDOUT;
COPY c TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT id, t FROM c ORDER BY id DESC) TO STDOUT;
COPY c FROM STDIN;
6	bad	[1,2]
\.
\copy c TO '/tmp/vecgate_corpus_c.bin' WITH (FORMAT binary)
CREATE TABLE c2 (LIKE c);
\copy c2 FROM '/tmp/vecgate_corpus_c.bin' WITH (FORMAT binary)
SELECT * FROM c2 ORDER BY id;
\copy (SELECT g, md5(g::text) FROM generate_series(1, 2000) g) TO '/tmp/vecgate_corpus_big.csv' CSV
CREATE TABLE big (g int, h text);
\copy big FROM '/tmp/vecgate_corpus_big.csv' CSV
SELECT count(*), min(g), max(g), md5(string_agg(h, ',' ORDER BY g)) FROM big;
\copy big TO STDOUT
