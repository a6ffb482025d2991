#!/bin/sh
# Installs gljob, the GitLab CI job's own helper, in a job's before_script:
#
#   curl -fsSL https://gitlab.example.com/tools/gljob/-/raw/main/install.sh | sh
#   wget -qO- https://gitlab.example.com/tools/gljob/-/raw/main/install.sh | sh
#
# POSIX sh (dash, busybox ash, bash). Downloads with curl, else wget (GNU or busybox),
# verifies the binary's SHA-256 against the release's SHA256SUMS (sha256sum, busybox
# sha256sum or shasum -a 256) and refuses to install on a mismatch, installs atomically (a
# temporary file in the install directory, then mv), and prints the installed version.
# It never uses sudo and never sends credentials: curl and wget would pass a token header on
# to wherever GitLab redirects a download (object storage), so the releases must be readable
# anonymously (a public project, or "Allow anyone to pull from Package Registry").
#
# Environment:
#   GLJOB_VERSION       the version to install, e.g. 0.1.0 (default: latest)
#   GLJOB_INSTALL_DIR   where to install (default: /usr/local/bin if writable, else
#                       $HOME/.local/bin)
#   GLJOB_DOWNLOAD_URL  base URL of the releases (default: the generic package registry of
#                       project GLJOB_PROJECT on this job's GitLab,
#                       $CI_API_V4_URL/projects/<GLJOB_PROJECT>/packages/generic/gljob)
#   GLJOB_PROJECT       path or id of the project that publishes gljob (default: tools/gljob)
#
# Layout below GLJOB_DOWNLOAD_URL (a mirror serves the same files):
#   latest/VERSION                           the newest version, e.g. "0.1.0"
#   <version>/gljob-<version>-x86_64-linux   the static binary
#   <version>/SHA256SUMS                     its checksum, as sha256sum writes it

# Everything is inside main, so that a download cut short runs nothing.
main() {
    set -eu
    tmp=
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    os=$(uname -s)
    arch=$(uname -m)
    [ "$os" = Linux ] ||
        die "unsupported operating system: $os" "gljob is released for Linux on x86_64 only"
    case $arch in
        x86_64 | amd64) ;;
        *) die "unsupported architecture: $arch" "gljob is released for Linux on x86_64 only" ;;
    esac

    if command -v curl >/dev/null 2>&1; then
        downloader=curl
    elif command -v wget >/dev/null 2>&1; then
        downloader=wget
    else
        die "neither curl nor wget is installed" \
            "hint: install one (apk add curl, apt-get install -y curl, ...) or use an image that has one"
    fi
    if command -v sha256sum >/dev/null 2>&1; then
        hasher=sha256sum
    elif command -v shasum >/dev/null 2>&1; then
        hasher=shasum
    elif command -v busybox >/dev/null 2>&1 && busybox sha256sum </dev/null >/dev/null 2>&1; then
        hasher=busybox
    else
        die "no SHA-256 tool (sha256sum, busybox sha256sum or shasum) to verify the download" \
            "gljob is not installed unverified; install coreutils or perl (shasum)"
    fi

    if [ -n "${GLJOB_DOWNLOAD_URL:-}" ]; then
        base=${GLJOB_DOWNLOAD_URL%/}
    else
        api=${CI_API_V4_URL:-}
        if [ -z "$api" ] && [ -n "${CI_SERVER_URL:-}" ]; then
            api=${CI_SERVER_URL%/}/api/v4
        fi
        [ -n "$api" ] ||
            die "GLJOB_DOWNLOAD_URL is not set, and neither is CI_API_V4_URL (not in a GitLab CI job?)" \
                "hint: set GLJOB_DOWNLOAD_URL to the releases' base URL, e.g. https://gitlab.example.com/api/v4/projects/tools%2Fgljob/packages/generic/gljob"
        base=${api%/}/projects/$(encode_project "${GLJOB_PROJECT:-tools/gljob}")/packages/generic/gljob
    fi

    if [ -n "${GLJOB_INSTALL_DIR:-}" ]; then
        dir=${GLJOB_INSTALL_DIR%/}
        [ -n "$dir" ] || dir=/
    elif [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
        dir=/usr/local/bin
    elif [ -n "${HOME:-}" ]; then
        dir=$HOME/.local/bin
    else
        die "/usr/local/bin is not writable and HOME is not set" \
            "hint: set GLJOB_INSTALL_DIR to a writable directory (install.sh never uses sudo)"
    fi
    if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
        die "cannot write to the install directory $dir" \
            "hint: set GLJOB_INSTALL_DIR to a writable directory (install.sh never uses sudo)"
    fi
    # Every temporary lives beside the target, so the final mv is a rename.
    tmp=$dir/.gljob-install-$$

    version=${GLJOB_VERSION:-latest}
    if [ "$version" = latest ]; then
        download "$base/latest/VERSION" "$tmp.version"
        version=
        read -r version <"$tmp.version" || [ -n "$version" ] ||
            die "$base/latest/VERSION is empty"
    fi
    version=${version#v}
    version=${version%"$(printf '\r')"}
    case $version in
        '' | *[!0-9A-Za-z._+-]* | *..*)
            die "not a version: \"$version\"" "GLJOB_VERSION takes a version such as 0.1.0, or latest" ;;
    esac

    file=gljob-$version-x86_64-linux
    say "downloading gljob $version from $base/$version/"
    download "$base/$version/SHA256SUMS" "$tmp.sums"
    download "$base/$version/$file" "$tmp"

    expected=
    while read -r sum name || [ -n "$sum" ]; do
        if [ "${name#\*}" = "$file" ]; then
            expected=$sum
        fi
    done <"$tmp.sums"
    case $expected in
        '' | *[!0-9a-f]*)
            die "$base/$version/SHA256SUMS has no SHA-256 for $file" "gljob is not installed unverified" ;;
    esac
    [ ${#expected} -eq 64 ] ||
        die "$base/$version/SHA256SUMS has no SHA-256 for $file" "gljob is not installed unverified"
    case $hasher in
        sha256sum) actual=$(sha256sum "$tmp") ;;
        shasum) actual=$(shasum -a 256 "$tmp") ;;
        busybox) actual=$(busybox sha256sum "$tmp") ;;
    esac || die "$hasher failed on the download; nothing was installed"
    actual=${actual%% *}
    [ "$actual" = "$expected" ] ||
        die "checksum mismatch for $base/$version/$file: nothing was installed" \
            "expected SHA-256 $expected (from SHA256SUMS)" \
            "got      SHA-256 $actual" \
            "hint: the download was corrupted or tampered with; retry, or check the mirror"

    chmod 755 "$tmp" || die "cannot make $tmp executable"
    "$tmp" --version >/dev/null 2>&1 ||
        die "the downloaded gljob does not run here, so it was not installed" \
            "hint: is $dir mounted noexec? Set GLJOB_INSTALL_DIR to another directory"
    [ ! -d "$dir/gljob" ] ||
        die "$dir/gljob is a directory; nothing was installed"
    mv -f "$tmp" "$dir/gljob" ||
        die "cannot move gljob into place at $dir/gljob"
    installed=$("$dir/gljob" --version) ||
        die "the installed $dir/gljob does not run"
    say "installed $installed at $dir/gljob"
    case ":${PATH:-}:" in
        *":$dir:"*) ;;
        *) say "note: $dir is not on PATH; add it with: export PATH=\"$dir:\$PATH\"" ;;
    esac
}

say() {
    printf 'gljob install: %s\n' "$1" >&2
}

# die TITLE [DETAIL...]: one short paragraph on stderr, then exit 1 (the EXIT trap cleans up).
die() {
    printf 'gljob install: error: %s\n' "$1" >&2
    shift
    for line in "$@"; do
        printf '  %s\n' "$line" >&2
    done
    exit 1
}

cleanup() {
    if [ -n "$tmp" ]; then
        rm -f "$tmp" "$tmp.sums" "$tmp.version"
    fi
}

# download URL FILE: fails the install with the URL on any error (HTTP >= 400 too).
download() {
    case $downloader in
        curl) curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1" && return ;;
        wget) wget -q -O "$2" "$1" && return ;;
    esac
    die "download failed: $1" \
        "hint: check GLJOB_VERSION (is version \"$version\" published?) and GLJOB_DOWNLOAD_URL, and that the releases can be read without credentials"
}

# encode_project PATH: a project path as one URL path segment (group/sub/proj → group%2Fsub%2Fproj).
encode_project() {
    rest=$1
    out=
    while :; do
        case $rest in
            */*)
                out=$out${rest%%/*}%2F
                rest=${rest#*/}
                ;;
            *)
                printf '%s' "$out$rest"
                return
                ;;
        esac
    done
}

main "$@"
