#!/usr/bin/env bash
# Builds gljob's release into dist/:
#   dist/gljob-<version>-x86_64-linux   one static, stripped x86_64 Linux executable
#   dist/SHA256SUMS                     its SHA-256, in sha256sum's format
#   dist/latest                         the version, for install.sh's "latest"
# and refuses a binary that is dynamically linked, does not run, or exceeds the size budget.
#
# Static glibc (target x86_64-unknown-linux-gnu with +crt-static): the musl target is not
# available here. glibc 2.34+ has its "files" and "dns" NSS modules built in, so a static
# binary resolves host names from /etc/hosts and /etc/resolv.conf with no NSS libraries and no
# /etc/nsswitch.conf (tests/images.rs proves it in a root holding nothing but gljob).
#
# Usage: scripts/release.sh   (CARGO_TARGET_DIR and GLJOB_GIT_REV are honoured)
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
budget=$((4 * 1024 * 1024))

pkgid=$(cargo pkgid --quiet -p gljob)
version=${pkgid##*[#@]}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] || {
  echo "release.sh: cannot read the version from cargo pkgid: $pkgid" >&2
  exit 1
}

# An explicit --target keeps +crt-static away from build scripts, which run on the host.
# The path remaps keep the build machine's paths out of the binary.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static --remap-path-prefix=$PWD=. --remap-path-prefix=$cargo_home=cargo"
cargo build --release --locked --target "$target" -p gljob

built="${CARGO_TARGET_DIR:-target}/$target/release/gljob"
name="gljob-$version-x86_64-linux"

fail() {
  echo "release.sh: $*" >&2
  exit 1
}
if command -v file >/dev/null; then
  kind=$(file -b "$built")
  [[ $kind == *"static"* && $kind == *"stripped"* && $kind != *"not stripped"* ]] ||
    fail "$built is not a static, stripped executable: $kind"
else
  echo "release.sh: warning: 'file' is not installed; the static check is skipped" >&2
fi
size=$(stat -c %s "$built")
((size <= budget)) || fail "$built is $size bytes, over the budget of $budget (4 MiB)"
"$built" --version | grep -q "^gljob $version " || fail "$built --version does not say $version"

rm -rf dist
mkdir dist
cp "$built" "dist/$name"
(cd dist && sha256sum "$name" >SHA256SUMS)
printf '%s\n' "$version" >dist/latest

echo "release.sh: dist/$name: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB of the 4 MiB budget), static"
"dist/$name" --version
cat dist/SHA256SUMS
