#!/usr/bin/env bash
# Runs the Python and TypeScript examples (examples/) against a live server: builds `tally` (debug),
# serves it on a free loopback port with a fresh SQLite database, makes a key for a project named
# "examples", waits for health SERVING, then runs both examples. Fails if either fails; always stops
# the server. Used by .ci/run; run it by hand the same way: `bash scripts/examples.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

buf=node_modules/.bin/buf
[ -x "$buf" ] || npm install --no-audit --no-fund --loglevel=error
cache=node_modules/.cache/tally-ci
mkdir -p "$cache"

cargo build --quiet --bin tally
tally="$PWD/target/debug/tally"

work=$(mktemp -d)
server_pid=
stop() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    for _ in $(seq 1 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 143' TERM INT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$work/tally.db?mode=rwc"
"$tally" serve --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!

healthy=
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "tally serve exited; its log:" >&2; cat "$work/serve.log" >&2; exit 1
  fi
  if "$buf" curl --protocol grpc --http2-prior-knowledge --timeout 2s \
      "http://127.0.0.1:$port/grpc.health.v1.Health/Check" 2>/dev/null | grep -q '"SERVING"'; then
    healthy=1; break
  fi
  sleep 0.5
done
if [ -z "$healthy" ]; then echo "tally serve is not SERVING after 60 s; its log:" >&2; cat "$work/serve.log" >&2; exit 1; fi
echo "tally serving on 127.0.0.1:$port (database $work/tally.db)"

TALLY_KEY=$("$tally" keys create --project examples 2>"$work/keys.log")
case "$TALLY_KEY" in sk_*) ;; *) echo "tally keys create printed no key:" >&2; cat "$work/keys.log" >&2; exit 1 ;; esac
export TALLY_KEY TALLY_ADDRESS="127.0.0.1:$port"

status=0
echo; echo "--- examples/python"
venv="$cache/examples-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r examples/python/requirements.txt
TALLY_STUBS_DIR="$work/python-stubs" timeout 120 "$venv/bin/python" examples/python/tally_example.py || status=1

echo; echo "--- examples/typescript"
(cd examples/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
(cd examples/typescript && timeout 120 node dist/tally_example.js) || status=1

if [ "$status" != 0 ]; then
  echo "an example failed; the server's log:" >&2; tail -n 50 "$work/serve.log" >&2
  exit 1
fi
echo; echo "examples: 2 passed, 0 failed"
