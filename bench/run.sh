#!/usr/bin/env bash
# gljob's benchmark (GitLab issue 6): gljob fetch against curl + unzip and python-gitlab on
# three generated workloads served by the fake GitLab, in local, object-storage and
# bandwidth-limited modes; also --path/--list transfer sizes and the GET /job round trip.
# Writes BENCHMARKS.md. See BENCHMARKS.md § Method.
#
#   bench/run.sh             # the full benchmark (tens of minutes)
#   bench/run.sh --quick     # tiny workloads, one run: checks the harness (well under a minute once built)
#   bench/run.sh --help      # all options
#   bench/run.sh --report-from /tmp/gljob-bench/samples.json   # rewrite the report from a run's samples
#
# Needs (Debian): curl unzip time python3-venv, and hyperfine for the GET /job timing
# (`--install-deps` installs what is missing with apt-get). Environment: BENCH_WORK (work
# directory, default /tmp/gljob-bench: workloads, venv, raw samples), CARGO_TARGET_DIR,
# GLJOB_BIN (measure this gljob binary instead of building one), PYTHON_GITLAB_VERSION,
# RIPUNZIP_BIN (use this ripunzip instead of installing one), RIPUNZIP_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

for a in "$@"; do
  case $a in
    # Nothing to build or measure for these.
    -h | --help | --report-from | --report-from=*) exec python3 "$here/harness.py" "$@" ;;
  esac
done
install_deps=false
args=()
for a in "$@"; do
  if [ "$a" = --install-deps ]; then install_deps=true; else args+=("$a"); fi
done

# Debian packages the benchmark needs.
need=()
command -v curl >/dev/null || need+=(curl)
command -v unzip >/dev/null || need+=(unzip)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -n "${RIPUNZIP_BIN:-}" ] || [ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  if $install_deps; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
  elif [ "${need[*]}" = hyperfine ]; then
    echo "bench/run.sh: hyperfine not found: GET /job is timed by the harness itself (apt-get install hyperfine, or --install-deps)" >&2
  else
    echo "bench/run.sh: missing: ${need[*]} (Debian: apt-get install ${need[*]}, or run with --install-deps)" >&2
    exit 3
  fi
fi

export BENCH_WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/gljob-bench}
mkdir -p "$BENCH_WORK"
target=${CARGO_TARGET_DIR:-$root/target}

echo "== building (release): gljob, fake-gitlab's bench_server" >&2
if [ -z "${GLJOB_BIN:-}" ]; then
  cargo build --release --quiet -p gljob
  GLJOB_BIN=$target/release/gljob
fi
cargo build --release --quiet -p fake-gitlab --example bench_server
export GLJOB_BIN
export BENCH_SERVER_BIN=$target/release/examples/bench_server

# ripunzip (Google's parallel unzip, issue 15's peer), built from crates.io into the work
# directory once.
ripunzip_root=$BENCH_WORK/ripunzip
if [ -z "${RIPUNZIP_BIN:-}" ]; then
  RIPUNZIP_BIN=$ripunzip_root/bin/ripunzip
  if [ ! -x "$RIPUNZIP_BIN" ]; then
    echo "== cargo install ripunzip ${RIPUNZIP_VERSION:-2.0.3} into $ripunzip_root (once; needs libssl-dev)" >&2
    cargo install --quiet --locked ripunzip --version "${RIPUNZIP_VERSION:-2.0.3}" --root "$ripunzip_root"
  fi
fi
export RIPUNZIP_BIN

# A throwaway virtualenv with python-gitlab, kept in the work directory between runs (the
# same script makes the one tests/pygitlab.rs uses).
venv=$BENCH_WORK/venv
echo "== virtualenv with python-gitlab ${PYTHON_GITLAB_VERSION:-8.6.0} in $venv" >&2
"$root/scripts/pygitlab-venv.sh" "$venv"
export BENCH_PYTHON=$venv/bin/python

exec python3 "$here/harness.py" ${args[@]+"${args[@]}"}
