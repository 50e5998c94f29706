// Package examples holds no code: it is the home of vecgate's runnable examples and of the tests
// that keep them working.
//
//   - migrations/rag: a user migration folder (a RAG documents table with its HNSW and GIN
//     indexes) for `vecgate migrate --path`; rag_test.go applies it directly and through vecgate
//     and checks both give the same schema and the same top-k rows.
//   - compose/init.sql: the demo table that docker-compose.yml (at the repository root) loads into
//     its Postgres; compose_test.go runs it against the test Postgres and checks docker-compose.yml
//     and the Dockerfile against the real `vecgate serve` flags.
//   - frameworks: LangChain JS, LlamaIndex TS, Drizzle and Knex scripts (package.json and its
//     lockfile; node_modules is installed by the test, never committed) and a GORM program (its
//     own module); frameworks_test.go runs each through an in-process vecgate and directly,
//     requires the same answers and checks which path vecgate took per step
//     (docs/frameworks.md).
package examples
