#!/usr/bin/env bash
# gljob against the bundled fake GitLab (TLS with a private CA, artifacts in "object
# storage" on a second origin): no real GitLab needed. Usage: ./demo.sh
# (GLJOB_DEMO_PREBUILT=1 skips the build: tests/readme.rs runs the demo so, having built it.)
set -euo pipefail
cd "$(dirname "$0")"

# The build `cargo test --workspace` reuses unit for unit. --examples makes cargo resolve
# features with the dev-dependencies, as a test build does: a plain `cargo build` resolves
# them without, and the tests would then compile rustix, getrandom, zip, fake-gitlab and
# gljob itself a second time. Cargo's own progress lines show how far it is.
if [ -z "${GLJOB_DEMO_PREBUILT:-}" ]; then
  printf '== building gljob and the fake GitLab (the first build takes minutes; cargo test reuses it)\n' >&2
  cargo build --workspace --bins --examples
fi
bin=$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)

work=$(mktemp -d)
cleanup() {
  if [ -n "${FAKE_GITLAB_PID:-}" ]; then kill "$FAKE_GITLAB_PID" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The CI_* variables a job would have, printed once the fake listens; it serves on in the
# background until the cleanup kills it.
eval "$("$bin/fake-gitlab" --tls --object-storage --background --log "$work/fake.log")"
export PATH="$bin:$PATH"
mkdir "$work/workspace" && cd "$work/workspace"

show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@" || echo "(exit $?)"; }
show gljob job
show gljob job --field pipeline.id --field user.username
show gljob agents
show gljob fetch --ref main --job build --dest vendor
show find vendor -exec ls -ld {} +
show gljob fetch --ref main --job build --file dist/bin/app -o bin/
show ls -l bin/app
show gljob fetch --project group/sub/my.project --ref main --job build --list
show gljob fetch --project group/sub/my.project --ref main --job 'test 1/3' --file reports/junit.xml
show gljob fetch --project group/sub/my.project --ref main --job biuld --dest vendor
show gljob fetch --project other/locked --ref main --job build
