#!/bin/sh
# Publishes the release that scripts/release.sh left in dist/ to this project's GitLab generic
# package registry, in the layout install.sh reads:
#   <registry>/gljob/<version>/gljob-<version>-x86_64-linux
#   <registry>/gljob/<version>/SHA256SUMS
#   <registry>/gljob/latest/VERSION      uploaded last, so it names only a complete release
# GitLab keeps every upload of a file name and serves the newest, so re-uploading
# latest/VERSION moves "latest" (this needs the project to allow duplicate generic packages,
# GitLab's default).
#
# Runs in a tag pipeline (.gitlab-ci.yml) with the job token: CI_API_V4_URL, CI_PROJECT_ID,
# CI_JOB_TOKEN, and CI_COMMIT_TAG, which must be v<version>. GLJOB_DIST overrides dist/.
set -eu

dist=${GLJOB_DIST:-$(dirname "$0")/../dist}
die() {
    echo "publish.sh: $*" >&2
    exit 1
}

[ -f "$dist/latest" ] || die "$dist/latest is missing: run scripts/release.sh first"
read -r version <"$dist/latest" || [ -n "${version:-}" ] || die "$dist/latest is empty"
if [ -n "${CI_COMMIT_TAG:-}" ] && [ "$CI_COMMIT_TAG" != "v$version" ]; then
    die "tag $CI_COMMIT_TAG does not match the version being published ($version)"
fi
: "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}" "${CI_JOB_TOKEN:?}"
url=${CI_API_V4_URL%/}/projects/$CI_PROJECT_ID/packages/generic/gljob
binary=gljob-$version-x86_64-linux
(cd "$dist" && sha256sum -c SHA256SUMS) || die "$dist/SHA256SUMS does not match $binary"

# upload FILE PATH: PUT dist/FILE to <registry>/gljob/PATH; GitLab's answer on failure.
upload() {
    answer=$(curl --fail-with-body --silent --show-error --header "JOB-TOKEN: $CI_JOB_TOKEN" \
        --upload-file "$dist/$1" "$url/$2" 2>&1) ||
        die "PUT $url/$2 failed: $answer"
    echo "published $url/$2"
}
upload "$binary" "$version/$binary"
upload SHA256SUMS "$version/SHA256SUMS"
upload latest latest/VERSION
