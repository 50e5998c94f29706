#!/bin/sh
# HNSW head-to-head against hnswlib (and FAISS HNSWFlat), alternating runs so
# that load from other processes hits both alike; report.py keeps the best
# QPS of the rounds per (index, setting). Expects the data of run.sh in $OUT.
set -eu
VG=${VG:-vecgate}
OUT=${OUT:-/tmp/vg}
T=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
PEERS="$(dirname "$0")/peers.py"
cd "$OUT"
D128="-data b128.fvecs -queries q128.fvecs -gt gt128.ivecs -metric l2"
P128="--data b128.fvecs --queries q128.fvecs --gt gt128.ivecs --metric l2"
D1536="-data b1536.fvecs -queries q1536.fvecs -gt gt1536.ivecs -metric cosine"
P1536="--data b1536.fvecs --queries q1536.fvecs --gt gt1536.ivecs --metric cosine"
for r in $(seq 1 "$ROUNDS"); do
	for set in 128 1536; do
		eval D=\$D$set
		eval P=\$P$set
		echo "== round $r go-hnsw-$set" >&2
		$VG bench engine $D -index hnsw -m 16 -ef-construction 64 -threads "$T" -json "go-hnsw-$set-r$r.json" >&2
		echo "== round $r go-hnsw-sq8-$set" >&2
		$VG bench engine $D -index hnsw -quantizer sq8 -oversample 2 -threads "$T" -json "go-hnsw-sq8-$set-r$r.json" >&2
		echo "== round $r py-hnsw-$set" >&2
		/usr/bin/python3 "$PEERS" $P --lib hnswlib,faiss-hnsw --m 16 --ef-construction 64 --threads "$T" > "py-hnsw-$set-r$r.jsonl"
	done
done
