#!/usr/bin/env bash
# Fan-in timing (issue 12): one `gljob fetch --pipeline P --job shard` of N parallel jobs
# against the same N jobs fetched one by one (`--job 'shard I/N'`, N runs), both into fresh
# directories, served by `bench_server fan-in` on 127.0.0.1. Prints the median of RUNS
# (default 3) for each, and gljob's peak RSS for the fan-in. Options: --object-storage.
#
#   bench/fan_in.sh                 # 10 jobs of 2,000 files + a 4 MiB blob each
#   JOBS=20 RUNS=5 bench/fan_in.sh --object-storage
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-10}
runs=${RUNS:-3}
work=${BENCH_WORK:-/tmp/gljob-bench}/fan-in
cargo build --release -q -p gljob -p fake-gitlab --example bench_server
target=${CARGO_TARGET_DIR:-target}/release
gljob="$PWD/$target/gljob"
rm -rf "$work" && mkdir -p "$work"
"$target/examples/bench_server" fan-in --jobs "$jobs" "$@" >"$work/env" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
until grep -q READY "$work/env" 2>/dev/null; do sleep 0.1; done
grep '^export ' "$work/env" >"$work/exports"
# shellcheck disable=SC1091
. "$work/exports"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fan=() one=()
for run in $(seq "$runs"); do
  start=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$gljob" fetch --pipeline "$BENCH_PIPELINE_ID" \
    --job shard --dest "$work/fan-$run" --quiet
  fan+=("$(echo "$(now) - $start" | bc)")
  start=$(now)
  for i in $(seq "$jobs"); do
    "$gljob" fetch --pipeline "$BENCH_PIPELINE_ID" --job "shard $i/$jobs" \
      --dest "$work/one-$run" --quiet
  done
  one+=("$(echo "$(now) - $start" | bc)")
  rm -rf "$work/fan-$run" "$work/one-$run"
done
printf 'fan-in of %s jobs: median %.2f s (runs: %s), peak RSS %s KiB\n' "$jobs" \
  "$(printf '%s\n' "${fan[@]}" | median)" "${fan[*]}" "$(cat "$work/rss")"
printf 'one by one:        median %.2f s (runs: %s)\n' \
  "$(printf '%s\n' "${one[@]}" | median)" "${one[*]}"
