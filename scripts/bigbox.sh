#!/usr/bin/env bash
# Packs the 16-core suite (../shared/tools/bigbox) with the benchmarks' own binary: runs the shared
# prepare.sh (the server and PostgreSQL 15 packed into .bigbox/), then adds `tally-bench` to the
# bundle, a run.sh that puts it on PATH beside `tally`, and a suite.sh that calls `tally-bench …`
# where the shared one calls `tally bench …` (which the server no longer has).
#
#   bash scripts/bigbox.sh                       # release build of tally and tally-bench, then pack
#   OUT=$(mktemp -d) N=3000 bash .bigbox/run.sh  # a dry run here; on the 16-core machine: command
#                                                # `bash .bigbox/run.sh`, carry [".bigbox"]
#
# The binaries are built here, into whatever target directory cargo uses (CARGO_TARGET_DIR too);
# prepare.sh runs unchanged in a scratch directory that holds them where it looks for them, with its
# own `cargo build` turned into a no-op.
set -euo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel); cd "$top"
tools=${TALLY_BIGBOX_TOOLS:-$top/../shared/tools/bigbox}
[ -f "$tools/prepare.sh" ] || { echo "no prepare.sh in $tools (set TALLY_BIGBOX_TOOLS)" >&2; exit 1; }

cargo build --release --quiet -p tally -p tally-bench
release=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release

scratch=$(mktemp -d); chmod 755 "$scratch"; trap 'rm -rf "$scratch"' EXIT
git -C "$scratch" init -q
mkdir -p "$scratch/target/release" "$scratch/shim"
cp "$release/tally" "$scratch/target/release/tally"
printf '#!/bin/sh\nexit 0\n' > "$scratch/shim/cargo"; chmod +x "$scratch/shim/cargo"
(cd "$scratch" && PATH="$scratch/shim:$PATH" bash "$tools/prepare.sh" >/dev/null)

# The bundle again, with tally-bench and any library it needs that tally does not.
stage=$scratch/stage; mkdir "$stage"
tar -C "$stage" -xJf "$scratch/.bigbox/bundle.tar.xz"
cp "$release/tally-bench" "$stage/root/tally-bench"; strip "$stage/root/tally-bench" 2>/dev/null || true
ldd "$stage/root/tally-bench" | awk '/=>/ && $3 ~ /^\// {print $3} /ld-linux/ {print $1}' | sort -u |
  while read -r lib; do [ -e "$stage/lib/$(basename "$lib")" ] || cp -L "$lib" "$stage/lib/"; done
mkdir -p .bigbox
tar -C "$stage" -cf - root lib pgdata | xz -T2 -6 > .bigbox/bundle.tar.xz

# run.sh: the shared one, also making a tally-bench wrapper (the packed loader, as for tally) just
# before it runs the script.
last='bash "$script"'
grep -qxF "$last" "$tools/run.sh" || { echo "$tools/run.sh no longer runs: $last" >&2; exit 1; }
wrapper=$(cat <<'SH'
printf '#!/bin/sh\nexec %s --library-path %s %s "$@"\n' "$L" "$W/lib" "$W/root/tally-bench" > "$W/bin/tally-bench"; chmod +x "$W/bin/tally-bench"
SH
)
LAST=$last ADD=$wrapper awk '$0 == ENVIRON["LAST"] {print ENVIRON["ADD"]} {print}' "$tools/run.sh" > .bigbox/run.sh
# suite.sh: the shared one with `tally bench X` spelled `tally-bench X`.
sed 's/\btally bench /tally-bench /g' "$tools/suite.sh" > .bigbox/suite.sh
if grep -n 'tally bench' .bigbox/suite.sh; then echo "suite.sh still calls tally bench" >&2; exit 1; fi
exclude=$(git rev-parse --git-path info/exclude)
grep -qx '/.bigbox/' "$exclude" 2>/dev/null || echo '/.bigbox/' >> "$exclude"
echo "packed: $(du -h .bigbox/bundle.tar.xz | cut -f1) in .bigbox/ (tally, tally-bench, PostgreSQL 15)"
echo "run it: command 'bash .bigbox/run.sh' (or 'bash .bigbox/run.sh YOUR_SCRIPT.sh'), carry [\".bigbox\"], timeout about 540 s"
