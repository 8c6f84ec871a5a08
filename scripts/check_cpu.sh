#!/usr/bin/env bash
# CPU time one CheckBudget costs, summed over the server, the PostgreSQL backends serving it and the
# load generator (utime + stime from /proc, and /usr/bin/time for the load generator). On a shared
# two-core machine latency moves with whatever else runs; CPU time per call barely does, and it is
# what a check takes away from ingest running beside it.
#
#   scripts/check_cpu.sh [CHECKS] [TALLY_BINARY] [TALLY_BENCH_BINARY]
#
# Default 5000 checks at 500/s, target/release/tally and target/release/tally-bench (both built by
# `cargo build --release -p tally -p tally-bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
checks=${1:-5000}
tally=${2:-target/release/tally}
bench=${3:-target/release/tally-bench}
port=50152
db=tally_bench_check_cpu
pg_admin=${TALLY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
work=$(mktemp -d); server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
url=${pg_admin%/*}/$db
DATABASE_URL=$url $tally migrate >/dev/null 2>&1
TALLY_KEY=$(DATABASE_URL=$url $tally keys create --project bench 2>/dev/null)
export TALLY_KEY
DATABASE_URL=$url $tally serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do grep -q "ready; SERVING" "$work/server.log" 2>/dev/null && break; sleep 0.1; done
target=http://127.0.0.1:$port
# Creates the budgets and fills the connection pool before measuring.
$bench check --target $target --checks 500 --rate 1000 >/dev/null
ticks() { local sum=0; for pid in "$@"; do [ -r "/proc/$pid/stat" ] && sum=$((sum + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo $sum; }
backends() { pgrep -f "postgres: .* $db " | tr '\n' ' '; }
s0=$(ticks $server); p0=$(ticks $(backends))
/usr/bin/time -f "%U %S" -o "$work/client" $bench check --target $target --checks "$checks" --rate 500 | grep latency
s1=$(ticks $server); p1=$(ticks $(backends))
read -r cu cs <"$work/client"
awk -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v cu="$cu" -v cs="$cs" -v hz="$(getconf CLK_TCK)" -v n="$checks" 'BEGIN {
  printf "CPU per check (us): server %.0f  postgres %.0f  load generator %.0f  total %.0f\n",
    s / hz / n * 1e6, p / hz / n * 1e6, (cu + cs) / n * 1e6, (s / hz + p / hz + cu + cs) / n * 1e6 }'
