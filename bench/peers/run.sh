#!/bin/sh
# Engine benchmark: vecgate's indexes vs hnswlib and FAISS on the same files,
# in the same run. Produces JSON rows in $OUT and prints the tables.
#
#   VG=/path/to/vecgate OUT=/tmp/vg bench/peers/run.sh
#
# Needs: apt-get install -y python3-hnswlib python3-faiss (uses /usr/bin/python3).
# Data is generated under $OUT and never committed.
set -eu
VG=${VG:-vecgate}
OUT=${OUT:-/tmp/vg}
T=${THREADS:-2}
PEERS="$(dirname "$0")/peers.py"
PY=/usr/bin/python3
mkdir -p "$OUT"
cd "$OUT"

# Data sets: SIFT-like 128-d (L2) and embedding-like 1536-d (cosine).
[ -f b128.fvecs ] || $VG bench gen -n 100000 -nq 1000 -dims 128 -seed 1 -out b128.fvecs -queries-out q128.fvecs
[ -f gt128.ivecs ] || $VG bench gt -data b128.fvecs -queries q128.fvecs -metric l2 -k 100 -out gt128.ivecs
[ -f b1536.fvecs ] || $VG bench gen -n 20000 -nq 500 -dims 1536 -clusters 200 -normalize -seed 2 -out b1536.fvecs -queries-out q1536.fvecs
[ -f gt1536.ivecs ] || $VG bench gt -data b1536.fvecs -queries q1536.fvecs -metric cosine -k 100 -out gt1536.ivecs

run() { # name, args...
	name=$1; shift
	echo "== $name" >&2
	$VG bench engine -threads "$T" -json "$name.json" "$@" >&2
}
peer() { # name, args...
	name=$1; shift
	echo "== $name" >&2
	$PY "$PEERS" --threads "$T" "$@" > "$name.jsonl"
}

D128="-data b128.fvecs -queries q128.fvecs -gt gt128.ivecs -metric l2"
P128="--data b128.fvecs --queries q128.fvecs --gt gt128.ivecs --metric l2"
D1536="-data b1536.fvecs -queries q1536.fvecs -gt gt1536.ivecs -metric cosine"
P1536="--data b1536.fvecs --queries q1536.fvecs --gt gt1536.ivecs --metric cosine"

# HNSW, interleaved with the peers so machine noise hits both alike
# (run-hnsw.sh repeats this in alternating rounds; SKIP_HNSW=1 skips it here).
if [ -z "${SKIP_HNSW:-}" ]; then
run  go-hnsw-128 $D128 -index hnsw -m 16 -ef-construction 64
peer py-hnsw-128 $P128 --lib hnswlib,faiss-hnsw --m 16 --ef-construction 64
run  go-hnsw-sq8-128 $D128 -index hnsw -quantizer sq8 -oversample 2
run  go-hnsw-1536 $D1536 -index hnsw -m 16 -ef-construction 64
peer py-hnsw-1536 $P1536 --lib hnswlib,faiss-hnsw --m 16 --ef-construction 64
run  go-hnsw-sq8-1536 $D1536 -index hnsw -quantizer sq8 -oversample 2
run  go-hnsw-sq8c-1536 $D1536 -index hnsw -quantizer sq8 -codes-only
fi

# Exact.
run  go-flat-128 $D128 -index flat
peer py-flat-128 $P128 --lib faiss-flat
run  go-flat-1536 $D1536 -index flat
peer py-flat-1536 $P1536 --lib faiss-flat
run  go-flat-bin-1536 $D1536 -index flat -quantizer binary -oversample 10
run  go-flat-mat512-1536 $D1536 -index flat -dims 512
run  go-flat-mat256-1536 $D1536 -index flat -dims 256

# IVF (lists = 100, probes sweep).
for q in none sq8 pq; do
	run go-ivf-$q-128 $D128 -index ivf -lists 100 -quantizer $q -pq-segments 32
done
peer py-ivf-128 $P128 --lib faiss-ivf,faiss-ivfsq8,faiss-ivfpq --lists 100 --pq-segments 32
for q in none sq8; do
	run go-ivf-$q-1536 $D1536 -index ivf -lists 100 -quantizer $q
done
peer py-ivf-1536 $P1536 --lib faiss-ivf,faiss-ivfsq8 --lists 100

# Memory at 768 dims (pgvector's HNSW: about 3.9 KB per 784-d vector, BENCH.md).
[ -f b768.fvecs ] || $VG bench gen -n 20000 -nq 500 -dims 768 -clusters 200 -normalize -seed 3 -out b768.fvecs -queries-out q768.fvecs
[ -f gt768.ivecs ] || $VG bench gt -data b768.fvecs -queries q768.fvecs -metric cosine -k 100 -out gt768.ivecs
D768="-data b768.fvecs -queries q768.fvecs -gt gt768.ivecs -metric cosine"
run go-hnsw-768 $D768 -index hnsw -ef 40,80
run go-hnsw-sq8c-768 $D768 -index hnsw -quantizer sq8 -codes-only -ef 40,80
run go-hnsw-sq8-768 $D768 -index hnsw -quantizer sq8 -oversample 2 -ef 40,80
