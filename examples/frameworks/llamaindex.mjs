// LlamaIndex TS: @llamaindex/postgres's PGVectorStore with its default schema (the table
// public.llamaindex_embedding, collection column, cosine distance). The store makes no vector
// index ("TODO add IVFFlat or HNSW indexing?" in its source): the HNSW index is created as
// pgvector's README says. Nodes carry embeddings from the fake model.
import { PGVectorStore } from "@llamaindex/postgres";
import { BaseEmbedding } from "@llamaindex/core/embeddings";
import { Settings } from "@llamaindex/core/global";
import { Document } from "@llamaindex/core/schema";
import { FilterOperator, VectorStoreQueryMode } from "@llamaindex/core/vector-store";
import pg from "pg";
import { DIMS, DOCS, FILTER_SOURCE, K, QUERIES, churnDocuments, documents, embed, finish, mode, step, waitForVecgate } from "./lib.mjs";

class FakeEmbedding extends BaseEmbedding {
  async getTextEmbedding(text) {
    return embed(text);
  }
}
Settings.embedModel = new FakeEmbedding();

// embedded makes nodes of documents, with their embeddings.
async function embedded(docs) {
  const nodes = docs.map((d) => new Document({ text: d.content, metadata: d.metadata }));
  for (const n of nodes) {
    n.embedding = await Settings.embedModel.getTextEmbedding(n.text);
  }
  return nodes;
}

const store = new PGVectorStore({
  clientConfig: { connectionString: process.env.DATABASE_URL },
  dimensions: DIMS,
});

if (mode() === "load") {
  await store.client(); // creates the schema, table and its b-tree indexes
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  await c.query("CREATE INDEX ON llamaindex_embedding USING hnsw (embeddings vector_cosine_ops)");
  await c.end();
  await step("create");
  await store.add(await embedded(documents()));
  await step("insert");
  await waitForVecgate("llamaindex_embedding", DOCS);
  await step("wait");
} else {
  if (mode() === "churn") {
    const top = await store.query({
      queryEmbedding: await Settings.embedModel.getTextEmbedding(QUERIES[0]), similarityTopK: 1, mode: VectorStoreQueryMode.DEFAULT,
    });
    await store.delete(top.ids[0]);
    await store.add(await embedded(churnDocuments()));
    // add is an upsert on the node's id.
    const second = await store.query({
      queryEmbedding: await Settings.embedModel.getTextEmbedding(QUERIES[1]), similarityTopK: 1, mode: VectorStoreQueryMode.DEFAULT,
    });
    const [node] = second.nodes;
    await store.add([new Document({
      id_: second.ids[0], text: `${node.text} (revised)`, metadata: { ...node.metadata, source: FILTER_SOURCE }, embedding: node.embedding,
    })]);
    await step("write", { deleted: top.ids[0], revised: second.ids[0] });
  }
  const show = (r) => r.nodes.map((n, i) => ({ id: r.ids[i], content: n.text, metadata: n.metadata, score: r.similarities[i] }));
  for (const [i, q] of QUERIES.entries()) {
    const query = { queryEmbedding: await Settings.embedModel.getTextEmbedding(q), similarityTopK: K, mode: VectorStoreQueryMode.DEFAULT };
    await step(`search ${i}`, { results: show(await store.query(query)) });
    const filters = { filters: [{ key: "source", value: FILTER_SOURCE, operator: FilterOperator.EQ }] };
    await step(`filter ${i}`, { results: show(await store.query({ ...query, filters })) });
  }
}
await (await store.client()).close();
finish();
