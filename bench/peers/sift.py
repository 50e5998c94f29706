#!/usr/bin/python3
"""Extract SIFT descriptors from local images into .fvecs (base and held-out queries).

The SIFT-like 128-d data set of BENCH.md: OpenCV's SIFT over every image found under the given
folders (Debian's wallpaper packages), at a few scales, deduplicated, shuffled with a seed, and
split into base and query vectors. Nothing downloads; nothing is committed.

usage: sift.py --out DIR [--max 200000] [--queries 1000] [--seed 1] FOLDER...
"""
import argparse
import os
import struct
import sys

import cv2
import numpy as np


def images(folders):
    for root in folders:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if f.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                    yield os.path.join(dirpath, f)


def write_fvecs(path, x):
    with open(path, "wb") as f:
        for row in x:
            f.write(struct.pack("<i", len(row)))
            f.write(row.astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("folders", nargs="+")
    a = ap.parse_args()
    sift = cv2.SIFT_create()
    parts, total = [], 0
    for path in images(a.folders):
        img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        for scale in (1.0, 0.5, 0.25):
            h, w = img.shape
            if max(h, w) * scale < 200:
                continue
            im = img if scale == 1.0 else cv2.resize(img, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
            _, d = sift.detectAndCompute(im, None)
            if d is not None:
                parts.append(d)
                total += len(d)
        print(f"{path}: {total} descriptors so far", file=sys.stderr)
        if total >= 10 * (a.max + a.queries):
            break
    x = np.unique(np.concatenate(parts).astype(np.float32), axis=0)
    rng = np.random.default_rng(a.seed)
    rng.shuffle(x)
    n = min(len(x) - a.queries, a.max)
    os.makedirs(a.out, exist_ok=True)
    write_fvecs(os.path.join(a.out, "sift-base.fvecs"), x[:n])
    write_fvecs(os.path.join(a.out, "sift-q.fvecs"), x[n:n + a.queries])
    print(f"{n} base and {a.queries} query descriptors from {total} extracted ({len(x)} distinct)", file=sys.stderr)


if __name__ == "__main__":
    main()
