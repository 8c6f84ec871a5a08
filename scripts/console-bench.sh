#!/usr/bin/env bash
# Times opening the console's overview over EVENTS events (default 1,000,000) on PostgreSQL, in
# headless Chromium, against the overview's own four calls from Node (BENCHMARKS.md, "Console").
#
#   scripts/console-bench.sh [EVENTS] [LOADS]
#
# Builds the release binaries, loads the ingest benchmark's events into last calendar month (UTC)
# through the server (about 4 to 11 minutes for 1,000,000 on a two-core machine), runs ANALYZE,
# restarts the server, then opens the overview over that month LOADS times (default 15).
# TALLY_CONSOLE_BENCH_KEEP=1 keeps the database (tally_console_bench) and skips the load when it
# already holds the events.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
loads=${2:-15}
port=50171
pg_admin=${TALLY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
database=tally_console_bench
url="${pg_admin%/*}/$database"
cargo build --release --quiet -p tally -p tally-bench
tally=${CARGO_TARGET_DIR:-target}/release/tally
bench=${CARGO_TARGET_DIR:-target}/release/tally-bench
npm install --no-audit --no-fund --loglevel=error
npm run --silent console:gen
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

start_server() {
  DATABASE_URL=$url $tally serve --listen "127.0.0.1:$port" --no-bootstrap-key >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    grep -q "ready; SERVING" "$work/server.log" 2>/dev/null && return
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$server"; wait "$server" || true; server=""; }

month_end=$(date -u +%Y-%m-01T00:00:00Z)
month_start=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m-01T00:00:00Z)
loaded=$(psql "$url" -qtAc "SELECT count(*) FROM cost_events" 2>/dev/null || echo 0)
if [ "${TALLY_CONSOLE_BENCH_KEEP:-}" = 1 ] && [ "$loaded" = "$events" ]; then
  echo "== $database already holds $events events"
else
  psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" >/dev/null
  DATABASE_URL=$url $tally migrate >/dev/null
  start_server
  echo "== loading $events events into $month_start .. $month_end"
  secret=$(DATABASE_URL=$url $tally keys create --project bench)
  TALLY_KEY=$secret $bench ingest --target "http://127.0.0.1:$port" --events "$events" --until "$month_end"
  stop_server
fi
psql "$url" -qc "VACUUM ANALYZE" >/dev/null
publishable=$(DATABASE_URL=$url $tally keys create --project bench --publishable --name console-bench)
start_server
echo "== the overview over $month_start .. $month_end, $loads loads"
TALLY_URL="http://127.0.0.1:$port" TALLY_KEY=$publishable BENCH_START=$month_start BENCH_END=$month_end BENCH_LOADS=$loads \
  node_modules/.bin/playwright test -c console/bench/playwright.config.ts
stop_server
[ "${TALLY_CONSOLE_BENCH_KEEP:-}" = 1 ] || psql "$pg_admin" -qc "DROP DATABASE $database" >/dev/null
