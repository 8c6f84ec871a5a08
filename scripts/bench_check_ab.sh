#!/usr/bin/env bash
# Compares CheckBudget latency of two server builds (as scripts/bench_ab.sh does ingest): CheckBudget alone, 5,000 checks at 500/s, old and new server builds in turns on fresh databases.
#   scripts/bench_check_ab.sh OLD_TALLY NEW_TALLY [ROUNDS]   (each with --metrics-listen on; an old build ignores it)
set -u
old=$1 new=$2 rounds=${3:-2}
bench=${TALLY_BENCH:-target/release/tally-bench}
pg=postgres://postgres@127.0.0.1:5432/postgres
for round in $(seq 1 $rounds); do for build in old new; do
  tally=${!build}; db=tally_chk_${build}_$round
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
  url=${pg%/*}/$db
  DATABASE_URL=$url "$tally" migrate >/dev/null 2>&1
  key=$(DATABASE_URL=$url "$tally" keys create --project bench 2>/dev/null)
  RUST_LOG=warn DATABASE_URL=$url TALLY_METRICS_LISTEN=127.0.0.1:0 "$tally" serve --listen 127.0.0.1:50172 >/tmp/chk_srv.log 2>&1 & srv=$!
  sleep 3
  "$bench" ingest --target http://127.0.0.1:50172 --key "$key" --events 5000 --until 2026-12-01T00:00:00Z >/dev/null 2>&1
  line=$("$bench" check --target http://127.0.0.1:50172 --key "$key" --checks 5000 --rate 500 --until 2026-12-01T00:00:00Z --json 2>/dev/null | tail -1)
  echo "round $round $build: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k:v for k,v in d.items() if "p5" in k or "p9" in k or "latency" in k})' 2>&1 | head -c 300)"
  kill $srv; wait $srv 2>/dev/null
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
done; done
