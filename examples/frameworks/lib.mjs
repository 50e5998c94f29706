// Shared by the framework scripts: the documents, a fake embedding model, and the step protocol
// the Go test (examples/frameworks_test.go) drives them with.
//
// Each script is run as `node <script> load` (create the table and index the framework's way,
// insert the documents, wait for vecgate to hold them), `node <script> search` (similarity
// searches with and without the framework's metadata filter) or `node <script> churn` (delete the
// best match of the first query, insert churnDocuments, revise the best match of the second
// query (its content, and its metadata's source set to FILTER_SOURCE), where the framework can,
// retag the best match of the third query (its metadata only: the TOASTed content is left
// unchanged, and logical replication sends it as such), and search at once, as search does),
// with the connection string in DATABASE_URL. After each step it prints one JSON line, {"step": name, ...}, and waits for a
// line on stdin before the next, so that the test can read vecgate's counters between steps.

import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import pg from "pg";

export const DIMS = 32;
export const DOCS = 200;

const TOPICS = ["postgres", "vectors", "replication", "indexes", "memory", "latency", "joins", "tokens"];
const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];

// documents are the DOCS documents every script inserts: content, and metadata with a source
// (5 values, the filter's key), a page and a topic. The content ends with APPENDIX letters the
// embedding ignores (Greek and Cyrillic), hardly compressible: each row's content is stored out
// of line (TOAST), as RAG chunks of a few kilobytes are.
export function documents() {
  const docs = [];
  for (let i = 1; i <= DOCS; i++) {
    const topic = TOPICS[i % TOPICS.length];
    const other = TOPICS[(i * 7 + 3) % TOPICS.length];
    const words = [WORDS[i % WORDS.length], WORDS[(i * 5) % WORDS.length], WORDS[(i * 11 + 1) % WORDS.length]];
    docs.push({
      content: `Document ${i} about ${topic} and ${other}: ${words.join(" ")}. ${appendix(`appendix ${i}`)}`,
      metadata: { source: `file${i % 5}.md`, page: i, topic },
    });
  }
  return docs;
}

// churnDocuments are the documents churn inserts, near the queries.
export function churnDocuments() {
  return [
    { content: "Fresh note on postgres replication slots", metadata: { source: "file2.md", page: 1001, topic: "replication" } },
    { content: "Fresh note on vectors kept in memory", metadata: { source: "file3.md", page: 1002, topic: "memory" } },
  ];
}

// QUERIES are the search texts; FILTER_SOURCE the metadata value the filtered searches ask for.
export const QUERIES = ["postgres replication", "vectors and memory", "latency of joins golf"];
export const FILTER_SOURCE = "file2.md";
export const K = 5;

export const APPENDIX = 1500;

// appendix is APPENDIX letters drawn from Greek and Cyrillic lower case by random(seed).
function appendix(seed) {
  const next = random(seed);
  let s = "";
  for (let i = 0; i < APPENDIX; i++) {
    const r = Math.floor(next() * 57);
    s += String.fromCodePoint(r < 25 ? 0x3b1 + r : 0x430 + r - 25);
  }
  return s;
}

// random returns a generator of uniform numbers in (0, 1): xoshiro128** seeded by the SHA-256
// of seed.
function random(seed) {
  const h = createHash("sha256").update(seed).digest();
  let s = [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
  const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;
  return () => {
    const r = (rotl(Math.imul(s[1], 5) >>> 0, 7) * 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11);
    s = s.map((x) => x >>> 0);
    return (r + 0.5) / 4294967296;
  };
}

// wordVector is a word's fixed pseudo-random Gaussian vector.
function wordVector(word) {
  const next = random(word);
  const v = [];
  for (let i = 0; i < DIMS; i++) {
    v.push(Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next())); // Box-Muller
  }
  return v;
}

// embed is the fake model: the normalised sum of the text's word vectors, rounded to float32
// (what the vector column stores). Texts that share words are near; nearest neighbours of the
// queries stay at cosine distances above 0.1, which vecgate answers from memory.
export function embed(text) {
  const sum = new Array(DIMS).fill(0);
  for (const w of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    wordVector(w).forEach((x, i) => (sum[i] += x));
  }
  const n = Math.hypot(...sum) || 1;
  return sum.map((x) => Math.fround(x / n));
}

let lines;

// step prints one step's outcome and waits for the test to say go on.
export async function step(name, fields = {}) {
  process.stdout.write(JSON.stringify({ step: name, ...fields }) + "\n");
  lines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const { done } = await lines.next();
  if (done) {
    throw new Error(`step ${name}: stdin closed`);
  }
}

// finish ends the protocol (and the process, which pools would keep alive).
export function finish() {
  process.stdout.write(JSON.stringify({ step: "end" }) + "\n");
  process.exit(0);
}

// waitForVecgate waits until vecgate's twin of table holds rows rows (SHOW vecgate.status, as a
// superuser or pg_monitor member); directly connected to Postgres, which does not know the
// setting, it returns at once.
export async function waitForVecgate(table, rows) {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      let res;
      try {
        res = await c.query("SHOW vecgate.status");
      } catch (e) {
        if (e.code === "42704") return; // unrecognized configuration parameter: not vecgate
        throw e;
      }
      const twin = res.rows.find((r) => r.table === table || r.table.endsWith("." + table));
      if (twin && twin.state === "ready" && Number(twin.rows) >= rows) return;
      if (Date.now() > deadline) {
        throw new Error(`vecgate does not hold ${rows} rows of ${table}: ${JSON.stringify(res.rows)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await c.end();
  }
}

// mode is the script's argument: "load", "search" or "churn".
export function mode() {
  const m = process.argv[2];
  if (m !== "load" && m !== "search" && m !== "churn") {
    throw new Error(`usage: node ${process.argv[1]} load|search|churn (DATABASE_URL in the environment)`);
  }
  return m;
}
