// Knex with pgvector-node's helpers (pgvector/knex): enableExtension, table.vector, an HNSW
// index through table.index(..., 'hnsw'), pgvector.toSql for inserts, and knex.cosineDistance
// for ordering (the returned distance in knex.raw, as the helper writes it).
import Knex from "knex";
import pgvector from "pgvector/knex";
import { DIMS, DOCS, FILTER_SOURCE, K, QUERIES, churnDocuments, documents, embed, finish, mode, step, waitForVecgate } from "./lib.mjs";

const knex = Knex({ client: "pg", connection: process.env.DATABASE_URL });

if (mode() === "load") {
  await knex.schema.enableExtension("vector");
  await knex.schema.createTable("items", (table) => {
    table.increments("id");
    table.text("content");
    table.jsonb("metadata");
    table.vector("embedding", DIMS);
  });
  await knex.schema.alterTable("items", (table) => {
    table.index(knex.raw("embedding vector_cosine_ops"), "items_embedding_index", "hnsw");
  });
  await step("create");
  await knex("items").insert(documents().map((d) => ({ ...d, embedding: pgvector.toSql(embed(d.content)) })));
  await step("insert");
  await waitForVecgate("items", DOCS);
  await step("wait");
} else {
  if (mode() === "churn") {
    // The best match of a query: its id and metadata.
    const best = async (q) => {
      const [row] = await knex("items").select("id", "metadata").orderBy(knex.cosineDistance("embedding", embed(q))).limit(1);
      return row;
    };
    const top = await best(QUERIES[0]);
    await knex("items").where({ id: top.id }).del();
    await knex("items").insert(churnDocuments().map((d) => ({ ...d, embedding: pgvector.toSql(embed(d.content)) })));
    const second = await best(QUERIES[1]);
    await knex("items")
      .where({ id: second.id })
      .update({ content: knex.raw("content || ' (revised)'"), metadata: { ...second.metadata, source: FILTER_SOURCE } });
    const third = await best(QUERIES[2]);
    await knex("items").where({ id: third.id }).update({ metadata: { ...third.metadata, source: FILTER_SOURCE, retagged: true } });
    await step("write", { deleted: top.id, revised: second.id, retagged: third.id });
  }
  const show = (rows) => rows.map((r) => ({ id: r.id, content: r.content, metadata: r.metadata, score: r.distance }));
  for (const [i, q] of QUERIES.entries()) {
    const embedding = embed(q);
    // The README's query: every column, ordered by distance.
    const items = await knex("items").orderBy(knex.cosineDistance("embedding", embedding)).limit(K);
    await step(`star ${i}`, { results: items.map((r) => ({ id: r.id, content: r.content, metadata: r.metadata })) });
    // Named columns and the distance.
    const nearest = () =>
      knex("items")
        .select("id", "content", "metadata", knex.raw("?? <=> ? AS distance", ["embedding", pgvector.toSql(embedding)]))
        .orderBy("distance")
        .limit(K);
    await step(`distance ${i}`, { results: show(await nearest()) });
    await step(`filter ${i}`, { results: show(await nearest().whereRaw("metadata->>'source' = ?", [FILTER_SOURCE])) });
  }
}
await knex.destroy();
finish();
