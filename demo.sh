#!/usr/bin/env bash
# gljob against the bundled fake GitLab (TLS with a private CA, artifacts in "object
# storage" on a second origin): no real GitLab needed. Usage: ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"
cargo build --workspace --quiet

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The fake prints the CI_* variables a job would have, once it is listening.
target/debug/fake-gitlab --tls --object-storage >"$work/env" 2>"$work/fake.log" &
pid=$!
for _ in $(seq 200); do
  grep -q CI_SERVER_TLS_CA_FILE "$work/env" 2>/dev/null && break
  sleep 0.05
done
# shellcheck disable=SC1091
. "$work/env"
export PATH="$PWD/target/debug:$PATH"
mkdir "$work/workspace" && cd "$work/workspace"

show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@" || echo "(exit $?)"; }
show gljob job
show gljob job --field pipeline.id --field user.username
show gljob agents
show gljob fetch --project group/sub/my.project --ref main --job build --list
show gljob fetch --project group/sub/my.project --ref main --job build --dest vendor
show find vendor -exec ls -ld {} +
show gljob fetch --project group/sub/my.project --ref main --job 'test 1/3' --file reports/junit.xml
show gljob fetch --project group/sub/my.project --ref main --job biuld --dest vendor
show gljob fetch --project other/locked --ref main --job build
