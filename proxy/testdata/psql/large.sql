-- Large results and wide rows.
SELECT g, md5(g::text), repeat('x', g % 50) FROM generate_series(1, 30000) g;
SELECT length(repeat('y', 5000000)) AS five_million, md5(repeat('y', 5000000));
SELECT repeat('z', 200000) AS wide;
SELECT array_agg(g)::text FROM generate_series(1, 20000) g;
