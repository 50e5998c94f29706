// Drizzle ORM over node-postgres, as its pgvector guide writes it: a table with a vector column
// and an HNSW index (vector_cosine_ops), the similarity `1 - cosineDistance(...)` filtered on a
// threshold and sorted descending, and the plain `cosineDistance` ordering. Drizzle's schema
// tool (drizzle-kit) is not needed to query: the table is created with the SQL it generates for
// this schema. The metadata filter is written with Drizzle's sql template, as its docs do for
// jsonb.
import { cosineDistance, desc, eq, gt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import { index, jsonb, pgTable, serial, text, vector } from "drizzle-orm/pg-core";
import { DIMS, DOCS, FILTER_SOURCE, K, QUERIES, churnDocuments, documents as corpus, embed, finish, mode, step, waitForVecgate } from "./lib.mjs";

const documents = pgTable(
  "documents",
  {
    id: serial("id").primaryKey(),
    content: text("content").notNull(),
    metadata: jsonb("metadata"),
    embedding: vector("embedding", { dimensions: DIMS }),
  },
  (table) => [index("embeddingIndex").using("hnsw", table.embedding.op("vector_cosine_ops"))],
);

const db = drizzle(process.env.DATABASE_URL);

if (mode() === "load") {
  // What `drizzle-kit generate` writes for the schema above.
  await db.execute(sql`CREATE EXTENSION IF NOT EXISTS vector`);
  await db.execute(sql.raw(`CREATE TABLE "documents" (
	"id" serial PRIMARY KEY NOT NULL,
	"content" text NOT NULL,
	"metadata" jsonb,
	"embedding" vector(${DIMS})
)`));
  await db.execute(sql`CREATE INDEX "embeddingIndex" ON "documents" USING hnsw ("embedding" vector_cosine_ops)`);
  await step("create");
  await db.insert(documents).values(corpus().map((d) => ({ ...d, embedding: embed(d.content) })));
  await step("insert");
  await waitForVecgate("documents", DOCS);
  await step("wait");
} else {
  if (mode() === "churn") {
    // The best match of a query: its id and metadata.
    const best = async (q) => {
      const distance = cosineDistance(documents.embedding, embed(q));
      const [row] = await db.select({ id: documents.id, metadata: documents.metadata }).from(documents).orderBy(distance).limit(1);
      return row;
    };
    const top = await best(QUERIES[0]);
    await db.delete(documents).where(eq(documents.id, top.id));
    await db.insert(documents).values(churnDocuments().map((d) => ({ ...d, embedding: embed(d.content) })));
    const second = await best(QUERIES[1]);
    const revised = { content: sql`${documents.content} || ' (revised)'`, metadata: { ...second.metadata, source: FILTER_SOURCE } };
    await db.update(documents).set(revised).where(eq(documents.id, second.id));
    const third = await best(QUERIES[2]);
    const retagged = { metadata: { ...third.metadata, source: FILTER_SOURCE, retagged: true } };
    await db.update(documents).set(retagged).where(eq(documents.id, third.id));
    await step("write", { deleted: top.id, revised: second.id, retagged: third.id });
  }
  const bySource = sql`${documents.metadata}->>'source' = ${FILTER_SOURCE}`;
  for (const [i, q] of QUERIES.entries()) {
    const embedding = embed(q);
    // The guide's query: similarity above a threshold, most similar first (the guide's 0.5
    // would leave the fake model's best matches out, near 0.5).
    const similarity = sql`1 - (${cosineDistance(documents.embedding, embedding)})`;
    const similar = await db
      .select({ id: documents.id, content: documents.content, metadata: documents.metadata, score: similarity })
      .from(documents)
      .where(gt(similarity, 0.4))
      .orderBy((t) => desc(t.score))
      .limit(K);
    await step(`similarity ${i}`, { results: similar });
    // Ordered by cosineDistance, the distance returned.
    const distance = cosineDistance(documents.embedding, embedding);
    const nearest = db
      .select({ id: documents.id, content: documents.content, metadata: documents.metadata, score: distance })
      .from(documents);
    await step(`distance ${i}`, { results: await nearest.orderBy(distance).limit(K) });
    const filtered = db
      .select({ id: documents.id, content: documents.content, metadata: documents.metadata, score: distance })
      .from(documents)
      .where(bySource);
    await step(`filter ${i}`, { results: await filtered.orderBy(distance).limit(K) });
  }
}
await db.$client.end();
finish();
