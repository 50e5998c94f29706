// LangChain JS: @langchain/community's PGVectorStore with its default schema (the tables
// langchain_pg_embedding and langchain_pg_collection), cosine distance, the HNSW index its
// createHnswIndex makes, and a fake Embeddings class.
import { PGVectorStore } from "@langchain/community/vectorstores/pgvector";
import { Embeddings } from "@langchain/core/embeddings";
import { Document } from "@langchain/core/documents";
import { DIMS, DOCS, FILTER_SOURCE, K, QUERIES, churnDocuments, documents, embed, finish, mode, step, waitForVecgate } from "./lib.mjs";

class FakeEmbeddings extends Embeddings {
  async embedDocuments(texts) {
    return texts.map(embed);
  }
  async embedQuery(text) {
    return embed(text);
  }
}

const store = await PGVectorStore.initialize(new FakeEmbeddings({}), {
  postgresConnectionOptions: { connectionString: process.env.DATABASE_URL },
  tableName: "langchain_pg_embedding",
  collectionTableName: "langchain_pg_collection",
  collectionName: "vecgate_docs",
  distanceStrategy: "cosine",
  dimensions: DIMS,
});

if (mode() === "load") {
  await store.createHnswIndex({ dimensions: DIMS });
  await step("create");
  await store.addDocuments(documents().map((d) => new Document({ pageContent: d.content, metadata: d.metadata })));
  await step("insert");
  await waitForVecgate("langchain_pg_embedding", DOCS);
  await step("wait");
} else {
  if (mode() === "churn") {
    const [top] = await store.similaritySearch(QUERIES[0], 1);
    await store.delete({ ids: [top.id] });
    await store.addDocuments(churnDocuments().map((d) => new Document({ pageContent: d.content, metadata: d.metadata })));
    // No update in the store's API: the document is deleted and added again with its id.
    const [second] = await store.similaritySearch(QUERIES[1], 1);
    await store.delete({ ids: [second.id] });
    const revised = new Document({ pageContent: `${second.pageContent} (revised)`, metadata: { ...second.metadata, source: FILTER_SOURCE } });
    await store.addDocuments([revised], { ids: [second.id] });
    await step("write", { deleted: top.id, revised: second.id });
  }
  const show = (pairs) =>
    pairs.map(([doc, score]) => ({ id: doc.id, content: doc.pageContent, metadata: doc.metadata, score }));
  for (const [i, q] of QUERIES.entries()) {
    await step(`search ${i}`, { results: show(await store.similaritySearchWithScore(q, K)) });
    await step(`filter ${i}`, { results: show(await store.similaritySearchWithScore(q, K, { source: FILTER_SOURCE })) });
    // Maximal marginal relevance: fetchK rows with their embeddings, K of them kept.
    const mmr = await store.maxMarginalRelevanceSearch(q, { k: K, fetchK: 20 });
    await step(`mmr ${i}`, { results: mmr.map((doc) => ({ id: doc.id, content: doc.pageContent, metadata: doc.metadata })) });
  }
}
await store.end();
finish();
