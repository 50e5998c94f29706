#!/usr/bin/python3
"""Run hnswlib and FAISS on the same .fvecs/.ivecs files as `vecgate bench
engine` and print one JSON object per setting (same fields as the Go rows).

usage: peers.py --data base.fvecs --queries q.fvecs --gt gt.ivecs
                [--metric l2|ip|cosine] [--k 10] [--threads 2]
                [--lib hnswlib,faiss-hnsw,faiss-flat,faiss-ivf,faiss-ivfsq8,faiss-ivfpq]
                [--m 16] [--ef-construction 64] [--ef 10,20,40,80,160,320]
                [--lists 100] [--probes 1,2,4,8,16,32] [--pq-segments 0]

Use /usr/bin/python3 (Debian's python3-hnswlib and python3-faiss).
"""
import argparse
import json
import sys
import time

import numpy as np


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def read_ivecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].copy()


def recall(got, gt, k):
    hits = 0
    for g, t in zip(got, gt):
        hits += len(set(int(x) for x in g[:k]) & set(int(x) for x in t[:k]))
    return hits / (k * len(got))


def measure(name, setting, search_one, search_batch, queries, gt, k, threads, build_s, bpv, n, d):
    """search_one(q) -> ids (single-thread latency loop); search_batch(Q) -> ids (all threads)."""
    lat = []
    got = []
    t0 = time.perf_counter()
    for q in queries:
        s = time.perf_counter()
        ids = search_one(q)
        lat.append(time.perf_counter() - s)
        got.append(ids)
    qps1 = len(queries) / (time.perf_counter() - t0)
    t1 = time.perf_counter()
    reps = max(1, threads)
    for _ in range(reps):
        search_batch(queries)
    qps_all = reps * len(queries) / (time.perf_counter() - t1)
    lat.sort()
    row = dict(index=name, setting=setting, n=n, dims=d, k=k, build_seconds=build_s,
               bytes_per_vector=bpv, recall=recall(got, gt, k), qps_1thread=qps1,
               qps_all_threads=qps_all, threads=threads,
               p50_us=lat[len(lat) // 2] * 1e6, p99_us=lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1e6)
    print(json.dumps(row), flush=True)
    print("%-28s %-12s recall@%d %.4f  qps1 %8.0f  qps%d %8.0f  p50 %7.1fus  p99 %7.1fus" % (
        name, setting, k, row["recall"], qps1, threads, qps_all, row["p50_us"], row["p99_us"]), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--metric", default="l2")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lib", default="hnswlib,faiss-hnsw")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--ef", default="10,20,40,80,160,320")
    ap.add_argument("--lists", type=int, default=100)
    ap.add_argument("--probes", default="1,2,4,8,16,32")
    ap.add_argument("--pq-segments", type=int, default=0)
    a = ap.parse_args()

    xb = read_fvecs(a.data)
    xq = read_fvecs(a.queries)
    gt = read_ivecs(a.gt)[: len(xq)]
    n, d = xb.shape
    k = a.k
    efs = [int(x) for x in a.ef.split(",") if x]
    probes = [int(x) for x in a.probes.split(",") if x]
    if a.metric == "cosine":
        # Both peers do cosine as inner product over normalised vectors.
        xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
        xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    libs = a.lib.split(",")

    if "hnswlib" in libs:
        import hnswlib
        space = {"l2": "l2", "ip": "ip", "cosine": "ip"}[a.metric]
        idx = hnswlib.Index(space=space, dim=d)
        idx.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.m, random_seed=1)
        idx.set_num_threads(a.threads)
        t = time.perf_counter()
        idx.add_items(xb, np.arange(n), num_threads=a.threads)
        build = time.perf_counter() - t
        # hnswlib's own layout: data + level-0 links + label per element.
        bpv = (d * 4 + (2 * a.m + 1) * 4 + 8)
        for ef in efs:
            idx.set_ef(max(ef, k))
            idx.set_num_threads(1)

            def one(q):
                return idx.knn_query(q, k=k)[0][0]

            def batch(Q):
                idx.set_num_threads(a.threads)
                idx.knn_query(Q, k=k, num_threads=a.threads)
                idx.set_num_threads(1)
            measure("hnswlib m=%d efc=%d" % (a.m, a.ef_construction), "ef=%d" % ef, one, batch,
                    xq, gt, k, a.threads, build, bpv, n, d)

    if any(l.startswith("faiss") for l in libs):
        import faiss
        faiss.omp_set_num_threads(a.threads)
        mt = faiss.METRIC_L2 if a.metric == "l2" else faiss.METRIC_INNER_PRODUCT

        def run_faiss(name, index, settings, set_param, build_s):
            bpv = None
            for label, val in settings:
                set_param(val)

                def one(q):
                    faiss.omp_set_num_threads(1)
                    return index.search(q.reshape(1, -1), k)[1][0]

                def batch(Q):
                    faiss.omp_set_num_threads(a.threads)
                    index.search(Q, k)
                measure(name, label, one, batch, xq, gt, k, a.threads, build_s, bpv, n, d)

        if "faiss-flat" in libs:
            index = faiss.IndexFlat(d, mt)
            t = time.perf_counter()
            index.add(xb)
            run_faiss("faiss IndexFlat", index, [("exact", None)], lambda v: None, time.perf_counter() - t)
        if "faiss-hnsw" in libs:
            index = faiss.IndexHNSWFlat(d, a.m, mt)
            index.hnsw.efConstruction = a.ef_construction
            faiss.omp_set_num_threads(a.threads)
            t = time.perf_counter()
            index.add(xb)
            build = time.perf_counter() - t

            def set_ef(ef):
                index.hnsw.efSearch = max(ef, k)
            run_faiss("faiss HNSWFlat m=%d efc=%d" % (a.m, a.ef_construction), index,
                      [("ef=%d" % e, e) for e in efs], set_ef, build)
        for kind in ("faiss-ivf", "faiss-ivfsq8", "faiss-ivfpq"):
            if kind not in libs:
                continue
            q = faiss.IndexFlat(d, mt)
            if kind == "faiss-ivf":
                index = faiss.IndexIVFFlat(q, d, a.lists, mt)
            elif kind == "faiss-ivfsq8":
                index = faiss.IndexIVFScalarQuantizer(q, d, a.lists, faiss.ScalarQuantizer.QT_8bit, mt)
            else:
                seg = a.pq_segments or d // 4
                index = faiss.IndexIVFPQ(q, d, a.lists, seg, 8, mt)
            faiss.omp_set_num_threads(a.threads)
            t = time.perf_counter()
            rng = np.random.default_rng(1)
            sample = xb[rng.choice(n, size=min(n, max(256 * a.lists, 50 * a.lists)), replace=False)]
            index.train(sample)
            index.add(xb)
            build = time.perf_counter() - t

            def set_probes(p, index=index):
                index.nprobe = p
            run_faiss("%s lists=%d" % (kind.replace("-", " "), a.lists), index,
                      [("probes=%d" % p, p) for p in probes], set_probes, build)


if __name__ == "__main__":
    main()
