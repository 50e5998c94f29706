package pgtest_test

import (
	_ "github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	_ "github.com/golang-migrate/migrate/v4/source/iofs"
	_ "github.com/jackc/pglogrepl"
	_ "github.com/jackc/pgx/v5/pgproto3"
	_ "github.com/pganalyze/pg_query_go/v6"
	_ "github.com/pgvector/pgvector-go/pgx"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.uber.org/goleak"
)
