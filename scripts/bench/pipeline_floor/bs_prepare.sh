#!/usr/bin/env bash
# backstack itself for the reference row of measure.py (variant `backstack`): a project in FLOOR_BS_DIR
# (default $TMPDIR/floor_bs) on the floor database (seed.sql run first: the same rows and hot ids as the
# floor apps), with scripts/bench/items.sql as its migration (a no-op on the seeded table: `if not exists`),
# and its anon key in anon_key there.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DIR=${FLOOR_BS_DIR:-${TMPDIR:-/tmp}/floor_bs}
export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/${FLOOR_DATABASE:-bs_pipe_exp}
rm -rf "$DIR"
.venv/bin/python -m backstack init "$DIR" >/dev/null
cp scripts/bench/items.sql "$DIR/migrations/0001_items.sql"
.venv/bin/python -m backstack keys --dir "$DIR" --json |
  .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["anon"])' >"$DIR/anon_key"
echo "backstack project in $DIR"
