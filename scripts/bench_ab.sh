#!/usr/bin/env bash
# Compares the ingest speed of two server builds: the same load generator (`tally-bench ingest`,
# TALLY_BENCH or target/release/tally-bench) against each server in turn, alternating for ROUNDS
# rounds, each on a fresh PostgreSQL database, so that the machine's drift falls on both sides.
#
#   scripts/bench_ab.sh OLD_TALLY NEW_TALLY [EVENTS] [ROUNDS]
#
# Build the old one from a worktree of the older commit (`cargo build --release --bin tally`), and
# the load generator here (`cargo build --release -p tally-bench`).
set -euo pipefail
old=$1 new=$2 events=${3:-60000} rounds=${4:-3}
bench=${TALLY_BENCH:-target/release/tally-bench}
pg=${TALLY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
port=50171
server=""
log=$(mktemp)
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -f "$log"' EXIT
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    tally=${!build}
    db=tally_ab_${build}_$round
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    url=${pg%/*}/$db
    DATABASE_URL=$url "$tally" migrate >/dev/null 2>&1
    key=$(DATABASE_URL=$url "$tally" keys create --project bench 2>/dev/null)
    DATABASE_URL=$url "$tally" serve --listen "127.0.0.1:$port" >"$log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do grep -q "ready; SERVING" "$log" && break; sleep 0.1; done
    rate=$("$bench" ingest --target "http://127.0.0.1:$port" --key "$key" --events "$events" \
      --until 2026-11-01T00:00:00Z 2>&1 | grep -E "events/s" | tail -1)
    echo "round $round $build: $rate"
    kill "$server"; wait "$server" || true; server=""
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  done
done
