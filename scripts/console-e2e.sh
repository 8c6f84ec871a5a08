#!/usr/bin/env bash
# The console's end-to-end tests (console/e2e, Playwright driving the system's headless Chromium)
# against a live server, once per database: for each backend it starts `tally serve` on a free
# loopback port with a fresh database (SQLite in a temporary file; PostgreSQL: a new database on
# the server of TALLY_TEST_POSTGRES_URL, dropped afterwards), reads the secret and publishable keys
# the first start prints, runs `npm run console:e2e` against it, and stops it whatever happens.
# Screenshots of every page go to console/e2e/screenshots/<backend>/ (paths printed at the end).
#
#   bash scripts/console-e2e.sh [TALLY_BINARY]
#
# TALLY_BINARY: default target/debug/tally, built first (`cargo build --bin tally`) like
# scripts/examples.sh does; a binary given is used as it is. The binary serves the console it
# embedded when it was built (console/dist). TALLY_E2E_BACKENDS="sqlite postgres" (the default)
# picks the backends; CHROMIUM_PATH the browser (default: chromium on PATH, else /usr/bin/chromium).
# Arguments after `--` go to Playwright (e.g. `-- 02-overview` runs one spec).
# Exits non-zero when any backend fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

tally=
playwright_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; playwright_args=("$@"); break ;;
    *) tally=$1; shift ;;
  esac
done
if [ -z "$tally" ]; then
  cargo build --quiet --bin tally
  tally=target/debug/tally
fi
case "$tally" in /*) ;; *) tally="$root/$tally" ;; esac
[ -x "$tally" ] || { echo "no tally binary at $tally" >&2; exit 1; }

buf=node_modules/.bin/buf
[ -x node_modules/.bin/playwright ] && [ -x "$buf" ] || npm install --no-audit --no-fund --loglevel=error
# The tests' own gRPC clients import the generated code (git-ignored): make it from proto/.
npm run --silent console:gen
node_modules/.bin/tsc -p console/e2e/tsconfig.json # the specs' types (Playwright runs them unchecked)

chromium=${CHROMIUM_PATH:-$(command -v chromium || echo /usr/bin/chromium)}
[ -x "$chromium" ] || { echo "no Chromium at $chromium (apt-get install chromium, or set CHROMIUM_PATH)" >&2; exit 1; }
export CHROMIUM_PATH=$chromium
echo "tally: $tally"
echo "chromium: $chromium ($("$chromium" --version 2>/dev/null || echo 'version unknown'))"

pg_url="${TALLY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
work=$(mktemp -d)
server_pid=
tests_pid=
pg_database=

stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ]; then wait "$server_pid" 2>/dev/null || true; fi
  server_pid=
}
drop_database() {
  if [ -n "$pg_database" ]; then
    psql "$pg_url" -qtAc "DROP DATABASE IF EXISTS \"$pg_database\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "could not drop database $pg_database" >&2
    pg_database=
  fi
}
cleanup() {
  if [ -n "$tests_pid" ]; then kill -TERM "$tests_pid" 2>/dev/null || true; wait "$tests_pid" 2>/dev/null || true; fi
  stop_server
  drop_database
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A URL like PG_URL naming database NAME instead.
with_database() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
}

# run_backend NAME DATABASE_URL: serve on a fresh database, run the specs, stop the server.
run_backend() {
  local backend=$1 database_url=$2 dir="$work/$1" port started
  mkdir -p "$dir"
  port=$(free_port)
  started=$(date +%s)
  NO_COLOR=1 DATABASE_URL="$database_url" "$tally" serve --listen "127.0.0.1:$port" >"$dir/serve.out" 2>"$dir/serve.log" &
  server_pid=$!

  local healthy=
  for _ in $(seq 1 240); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "tally serve ($backend) exited; its log:" >&2; cat "$dir/serve.log" >&2; server_pid=; return 1
    fi
    if grep -q 'publishable key' "$dir/serve.out" &&
      "$buf" curl --protocol grpc --http2-prior-knowledge --timeout 2s \
        "http://127.0.0.1:$port/grpc.health.v1.Health/Check" 2>/dev/null | grep -q '"SERVING"'; then
      healthy=1; break
    fi
    sleep 0.25
  done
  if [ -z "$healthy" ]; then
    echo "tally serve ($backend) is not SERVING with its keys printed after 60 s; its log:" >&2
    tail -n 50 "$dir/serve.log" >&2; return 1
  fi
  local sk pk
  sk=$(sed -n 's/^ *secret key[^:]*: *\(sk_[^ ]*\) *$/\1/p' "$dir/serve.out")
  pk=$(sed -n 's/^ *publishable key[^:]*: *\(pk_[^ ]*\) *$/\1/p' "$dir/serve.out")
  if [ -z "$sk" ] || [ -z "$pk" ]; then
    echo "tally serve ($backend) printed no keys on its first start; stdout:" >&2; sed 's/_[A-Za-z0-9]\{8,\}/_…/g' "$dir/serve.out" >&2
    return 1
  fi
  echo "tally serving on 127.0.0.1:$port ($backend) after $(($(date +%s) - started)) s"

  rm -rf "console/e2e/screenshots/$backend"
  local status=0
  # In the background, so that a TERM (CI's timeout) runs the traps at once instead of after the tests.
  TALLY_URL="http://127.0.0.1:$port" TALLY_GRPC_URL="http://127.0.0.1:$port" TALLY_SK="$sk" TALLY_PK="$pk" \
    TALLY_BACKEND="$backend" npm run --silent console:e2e -- "${playwright_args[@]}" &
  tests_pid=$!
  wait "$tests_pid" || status=$?
  tests_pid=
  stop_server
  if [ "$status" != 0 ]; then
    echo "console end to end on $backend failed; the server's log (last 50 lines, migrations left out):" >&2
    grep -v 'sea_orm_migration' "$dir/serve.log" | tail -n 50 >&2
  fi
  echo "$backend: $(($(date +%s) - started)) s"
  return "$status"
}

failed=()
for backend in ${TALLY_E2E_BACKENDS:-sqlite postgres}; do
  echo; echo "--- console end to end: $backend"
  case "$backend" in
    sqlite)
      run_backend sqlite "sqlite://$work/tally.db?mode=rwc" || failed+=(sqlite)
      ;;
    postgres)
      if ! psql "$pg_url" -qtAc 'SELECT 1' >/dev/null 2>&1; then
        echo "PostgreSQL at $pg_url does not answer" >&2; failed+=(postgres); continue
      fi
      pg_database="tally_console_e2e_$$"
      psql "$pg_url" -qtAc "CREATE DATABASE \"$pg_database\"" >/dev/null
      run_backend postgres "$(with_database "$pg_url" "$pg_database")" || failed+=(postgres)
      drop_database
      ;;
    *) echo "unknown backend $backend (sqlite, postgres)" >&2; failed+=("$backend") ;;
  esac
done

echo; echo "screenshots (console/e2e/screenshots):"
find "$root/console/e2e/screenshots" -name '*.png' 2>/dev/null | sort | sed 's/^/  /'
if [ ${#failed[@]} -gt 0 ]; then
  echo "console end to end failed on: ${failed[*]} (traces of failed tests: $root/console/e2e/results)" >&2
  exit 1
fi
echo "console end to end: passed on ${TALLY_E2E_BACKENDS:-sqlite postgres}"
