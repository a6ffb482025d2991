#!/bin/sh
# A throwaway virtualenv with python-gitlab from PyPI, for the benchmark (bench/run.sh) and
# the test that drives python-gitlab against the fake GitLab (tests/pygitlab.rs).
#
#   scripts/pygitlab-venv.sh DIR [VERSION]     # VERSION default: $PYTHON_GITLAB_VERSION, else 8.6.0
#
# Reuses DIR when it already holds that version; otherwise builds it beside DIR and moves it
# into place, so a run that fails half-way (no network to PyPI) leaves no broken venv behind
# and two runs at once do not mix. Exit 0: DIR/bin/python has python-gitlab VERSION; 3: no
# python3 with venv (Debian: apt-get install python3-venv); 4: pip could not install it
# (PyPI unreachable?), with pip's output on stderr.
set -eu
dir=$1
version=${2:-${PYTHON_GITLAB_VERSION:-8.6.0}}
if "$dir/bin/python" -c "import gitlab, sys; sys.exit(gitlab.__version__ != '$version')" 2>/dev/null; then
  exit 0
fi
python3 -c 'import ensurepip, venv' 2>/dev/null || {
  echo "pygitlab-venv.sh: python3 with venv and ensurepip is needed (Debian: apt-get install python3-venv)" >&2
  exit 3
}
mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
if ! "$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-input "python-gitlab==$version" >"$tmp/pip.log" 2>&1; then
  echo "pygitlab-venv.sh: pip could not install python-gitlab==$version:" >&2
  cat "$tmp/pip.log" >&2
  exit 4
fi
# A venv's scripts name its own path, so it is used where it was built: move the whole
# directory, then check it from there.
rm -rf "$dir"
mv "$tmp/venv" "$dir" 2>/dev/null || {
  # Another run got there first with its own; use that one.
  "$dir/bin/python" -c "import gitlab" 2>/dev/null && exit 0
  exit 4
}
