#!/usr/bin/python3
"""Turn the JSON rows of bench/peers/run.sh into markdown tables and SVG
recall-vs-QPS plots.

usage: report.py DIR SVGDIR > tables.md
"""
import glob
import re
import json
import os
import sys


def load(d):
    rows = []
    for f in sorted(glob.glob(os.path.join(d, "*.json"))):
        rows += json.load(open(f))
    for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        rows += [json.loads(l) for l in open(f) if l.startswith("{")]
    return rows


def merge(rows):
    """Rows of several rounds (same index, setting, dims): best QPS, best
    build time, mean recall."""
    out, order = {}, []
    for r in rows:
        key = (r["index"], r["setting"], r["dims"], r["n"])
        if key not in out:
            out[key] = dict(r, _recalls=[r["recall"]], rounds=1)
            order.append(key)
            continue
        m = out[key]
        m["_recalls"].append(r["recall"])
        m["rounds"] += 1
        for f in ("qps_1thread", "qps_all_threads"):
            m[f] = max(m[f], r[f])
        m["build_seconds"] = min(m["build_seconds"], r["build_seconds"])
        if r["qps_1thread"] >= m["qps_1thread"]:
            m["p50_us"], m["p99_us"] = r["p50_us"], r["p99_us"]
    res = []
    for k in order:
        m = out[k]
        m["recall"] = sum(m["_recalls"]) / len(m["_recalls"])
        del m["_recalls"]
        res.append(m)
    return res


def fmt(v, p=0):
    return "-" if v is None else ("%.*f" % (p, v))


def table(rows, title):
    print("\n#### %s\n" % title)
    print("| index | setting | recall@10 | QPS 1 thread | QPS all threads | p50 µs | p99 µs | build s | bytes/vector | rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %.4f | %s | %s | %s | %s | %s | %s | %d |" % (
            r["index"], r["setting"], r["recall"], fmt(r["qps_1thread"]), fmt(r["qps_all_threads"]),
            fmt(r["p50_us"], 1), fmt(r["p99_us"], 1), fmt(r["build_seconds"], 2), fmt(r.get("bytes_per_vector")),
            r.get("rounds", 1)))


def svg(rows, path, title):
    W, H, L, B = 720, 440, 70, 50
    series = {}
    for r in rows:
        series.setdefault(r["index"], []).append((r["recall"], r["qps_1thread"]))
    xs = [p[0] for s in series.values() for p in s]
    ys = [p[1] for s in series.values() for p in s]
    x0, x1 = max(0.5, min(xs) - 0.01), 1.0
    import math
    y0, y1 = math.log10(max(1, min(ys) * 0.8)), math.log10(max(ys) * 1.2)
    X = lambda x: L + (x - x0) / (x1 - x0) * (W - L - 20)
    Y = lambda y: H - B - (math.log10(y) - y0) / (y1 - y0) * (H - B - 30)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">%s</text>' % (L, title),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - 20, H - B),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, 30, L, H - B),
           '<text x="%d" y="%d">recall@10</text>' % (W // 2, H - 10),
           '<text x="12" y="%d" transform="rotate(-90 12 %d)">QPS, 1 thread (log)</text>' % (H // 2, H // 2)]
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        out.append('<text x="%d" y="%d" text-anchor="middle">%.2f</text>' % (X(x), H - B + 16, x))
    e = math.floor(y0)
    while e <= y1:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if y0 <= math.log10(v) <= y1:
                out.append('<text x="%d" y="%d" text-anchor="end">%g</text>' % (L - 4, Y(v) + 4, v))
                out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eee"/>' % (L, Y(v), W - 20, Y(v)))
        e += 1
    for i, (name, pts) in enumerate(sorted(series.items())):
        c = colors[i % len(colors)]
        pts = sorted(pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            c, " ".join("%.1f,%.1f" % (X(x), Y(y)) for x, y in pts)))
        for x, y in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(x), Y(y), c))
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (L + 10, 40 + 15 * i, c, name))
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


def summary(rows, title, peer_prefix="hnswlib"):
    """Best single-thread QPS at recall thresholds, and ratios to the peer."""
    names = []
    for r in rows:
        if r["index"] not in names:
            names.append(r["index"])
    peer = next((n for n in names if n.startswith(peer_prefix)), None)

    def best(name, th):
        q = [r["qps_1thread"] for r in rows if r["index"] == name and r["recall"] >= th]
        return max(q) if q else None

    def build(name):
        b = [r["build_seconds"] for r in rows if r["index"] == name]
        return min(b) if b else None
    print("\n#### %s: summary (ratio = index / %s)\n" % (title, peer or "-"))
    print("| index | QPS@recall≥0.95 | ratio | QPS@recall≥0.99 | ratio | build s (%s threads) | ratio |" % rows[0]["threads"])
    print("|---|---|---|---|---|---|---|")
    for n in names:
        cells = []
        for th in (0.95, 0.99):
            v, p = best(n, th), best(peer, th) if peer else None
            cells += [fmt(v), ("%.2f" % (v / p)) if v and p else "-"]
        b, pb = build(n), build(peer) if peer else None
        cells += [fmt(b, 2), ("%.2f" % (b / pb)) if b and pb else "-"]
        print("| %s | %s |" % (n, " | ".join(cells)))


def main():
    d, svgdir = sys.argv[1], sys.argv[2]
    rows = merge(load(d))
    def kind(r):
        n = r["index"].lower()
        return "ivf" if "ivf" in n else "hnsw" if "hnsw" in n else "flat"

    def ds(r):
        return 1536 if "dims=" in r["index"] else r["dims"]

    groups = [
        ("HNSW, 100k x 128, L2", lambda r: kind(r) == "hnsw" and ds(r) == 128),
        ("HNSW, 20k x 1536, cosine", lambda r: kind(r) == "hnsw" and ds(r) == 1536),
        ("HNSW, 20k x 768, cosine (memory)", lambda r: kind(r) == "hnsw" and ds(r) == 768),
        ("Exact (flat), 100k x 128, L2", lambda r: kind(r) == "flat" and ds(r) == 128),
        ("Exact (flat), 20k x 1536 and Matryoshka truncations, cosine", lambda r: kind(r) == "flat" and ds(r) == 1536),
        ("IVF, 100k x 128, L2, lists=100", lambda r: kind(r) == "ivf" and ds(r) == 128),
        ("IVF, 20k x 1536, cosine, lists=100", lambda r: kind(r) == "ivf" and ds(r) == 1536),
    ]
    for title, pred in groups:
        sel = [r for r in rows if pred(r)]
        if not sel:
            continue
        if title.startswith("HNSW"):
            summary(sel, title, "hnswlib")
        elif title.startswith("Exact"):
            summary(sel, title, "faiss")
        elif title.startswith("IVF"):
            summary(sel, title, "faiss ivf ")
        table(sel, title)
        name = title.split(",")[0].split(" ")[0].lower() + "-" + re.search(r" x (\d+)", title).group(1) + ".svg"
        svg(sel, os.path.join(svgdir, name), title)
        print("\n![%s](../bench/results/%s)" % (title, name))


if __name__ == "__main__":
    main()
