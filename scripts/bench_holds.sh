#!/usr/bin/env bash
# CheckBudget alone at 500/s: plain checks and checks that place a hold (BLOCK budgets, each hold
# released after its check, untimed), in turns on one server, each in its own project (same
# workload, same number of budgets) after some ingest so that totals exist.
# Run: bash scripts/bigbox.sh; OUT=$(mktemp -d) bash .bigbox/run.sh scripts/bench_holds.sh
# (needs tally, tally-bench, psql, PG_ADMIN, OUT and RESULTS, which run.sh sets). N events per
# project, C checks.
set -u
N=${N:-20000}; C=${C:-10000}; export RUST_LOG=${RUST_LOG:-warn}
until=$(date -u +%Y-%m-01T00:00:00Z)
t0=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - t0 )) s)"; STEP=$1; }
record() { while read -r line; do echo "$line"; case $line in '{'*) printf '{"step":"%s","result":%s}\n' "$STEP" "$line" >> "$RESULTS";; esac; done; }
fresh() { psql -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" postgres; echo "$PG_ADMIN/$1"; }
url=$(fresh bb_check)
tally --database-url "$url" migrate >/dev/null 2>&1
KEY=$(tally --database-url "$url" keys create --project plain | tail -1)
HKEY=$(tally --database-url "$url" keys create --project holds | tail -1)
RUST_LOG=info tally --database-url "$url" serve --listen 127.0.0.1:50151 > "$OUT/server.log" 2>&1 & SRV=$!
trap 'kill $SRV 2>/dev/null' EXIT
for _ in $(seq 1 300); do grep -q "ready; SERVING" "$OUT/server.log" && break; sleep 0.1; done
T=http://127.0.0.1:50151
step "ingest (setup, plain)"; TALLY_KEY=$KEY timeout 150 tally-bench ingest --target $T --events "$N" --until "$until" --json | record
step "ingest (setup, holds)"; TALLY_KEY=$HKEY timeout 150 tally-bench ingest --target $T --events "$N" --until "$until" --json | record
psql -c ANALYZE bb_check >/dev/null
for round in 1 2; do
  step "CheckBudget alone, 500/s (round $round)"; TALLY_KEY=$KEY timeout 60 tally-bench check --target $T --checks "$C" --rate 500 --json | record
  step "CheckBudget placing a hold, 500/s (round $round)"; TALLY_KEY=$HKEY timeout 100 tally-bench check --target $T --checks "$C" --rate 500 --hold --json | record
done
