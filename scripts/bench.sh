#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: builds the release binaries (the server `tally` and the benchmarks
# `tally-bench`), makes a fresh database, starts the server, and runs the ingest load generator (then the reports over what it loaded), the raw baseline and
# the CheckBudget benchmark against it.
#
#   scripts/bench.sh postgres [EVENTS]   # PostgreSQL over TCP at 127.0.0.1:5432 (TALLY_BENCH_PG)
#   scripts/bench.sh postgres-socket     # the same server over its unix socket
#   scripts/bench.sh sqlite [EVENTS]
#
# Each benchmark gets its own fresh database, so that one does not run on the other's rows.
#
# On PostgreSQL the script runs ANALYZE every TALLY_BENCH_ANALYZE_EVERY seconds (default 10; 0: never)
# while ingest runs, as autovacuum would on a production server: without fresh statistics the
# plans made while the tables were empty stay in use as they grow.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-postgres}
events=${2:-100000}
port=50151
pg_admin=${TALLY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --quiet -p tally -p tally-bench
tally=${CARGO_TARGET_DIR:-target}/release/tally
bench=${CARGO_TARGET_DIR:-target}/release/tally-bench
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; [ -n "$analyzer" ] && kill "$analyzer" 2>/dev/null; rm -rf "$work"' EXIT

fresh_database() { # NAME -> prints its URL
  case "$target" in
    sqlite) echo "sqlite://$work/$1.db?mode=rwc" ;;
    postgres | postgres-socket)
      psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
      if [ "$target" = postgres ]; then
        echo "${pg_admin%/*}/$1"
      else
        echo "postgres://postgres@localhost/$1?host=/var/run/postgresql"
      fi ;;
  esac
}

start_server() { # URL -> exports KEY
  DATABASE_URL=$1 $tally migrate >/dev/null
  KEY=$(DATABASE_URL=$1 $tally keys create --project bench)
  export KEY
  DATABASE_URL=$1 $tally serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    grep -q "ready; SERVING" "$work/server.log" 2>/dev/null && return
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

stop_server() { kill "$server"; wait "$server" || true; server=""; }

analyzer=""
start_analyzing() { # DATABASE NAME
  local every=${TALLY_BENCH_ANALYZE_EVERY:-10}
  [ "$target" = sqlite ] || [ "$every" = 0 ] && return
  (while sleep "$every"; do psql "${pg_admin%/*}/$1" -qc ANALYZE >/dev/null 2>&1 || true; done) &
  analyzer=$!
}
stop_analyzing() { [ -n "$analyzer" ] && kill "$analyzer" 2>/dev/null; analyzer=""; }

target_url="http://127.0.0.1:$port"
# The reports are timed over last calendar month (UTC), into which the ingest workload's 30 days of
# usage times fall.
month_end=$(date -u +%Y-%m-01T00:00:00Z)
month_start=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m-01T00:00:00Z)

echo "== ingest: $events events over 4 streams, batches of 100, usage in the 30 days before $month_end"
url=$(fresh_database tally_bench_ingest); start_server "$url"; start_analyzing tally_bench_ingest
TALLY_KEY=$KEY $bench ingest --target "$target_url" --events "$events" --until "$month_end"
stop_analyzing
echo "== reports over those events ($month_start to $month_end) against a plain GROUP BY over them"
[ "$target" = sqlite ] || psql "${pg_admin%/*}/tally_bench_ingest" -qc ANALYZE
DATABASE_URL=$url TALLY_KEY=$KEY $bench reports --target "$target_url" \
  --start "$month_start" --end "$month_end"
stop_server

echo "== raw baseline: the events' rows (events, lines, cost items), no gRPC, pricing or validation"
url=$(fresh_database tally_bench_raw)
DATABASE_URL=$url $bench raw --events "$events" --until "$month_end"
echo "== raw baseline: every row ingest writes (the events' rows and the running totals)"
url=$(fresh_database tally_bench_raw)
DATABASE_URL=$url $bench raw --events "$events" --until "$month_end" --with-totals

echo "== CheckBudget alone, 500/s for 20 s"
url=$(fresh_database tally_bench_check); start_server "$url"
TALLY_KEY=$KEY $bench check --target "$target_url" --checks 10000 --rate 500
echo "== CheckBudget at 500/s beside full-speed ingest"
start_analyzing tally_bench_check
TALLY_KEY=$KEY $bench check --target "$target_url" --rate 500 --with-ingest --events "$events"
stop_analyzing; stop_server
