#!/usr/bin/env bash
# Build KenLM's `lmplz` (n-gram estimation) and `build_binary` (ARPA -> binary) from the
# kenlm sdist pinned in envs/requirements.txt, and copy them into DEST_BIN_DIR (`make install`
# uses .venv/bin). The PyPI `kenlm` wheel only ships the query module, not these programs.
#
#   scripts/build_lmplz.sh [--force] DEST_BIN_DIR
#
# Idempotent: does nothing when both programs already exist in DEST_BIN_DIR and start
# (--force rebuilds anyway). Needs the Debian packages below; as root with apt-get it installs
# the missing ones, otherwise it names them and stops. Environment: PYTHON (an interpreter with
# pip and setuptools; default DEST_BIN_DIR/python, else python3), NATPIPE_BUILD_JOBS (default 2),
# NATPIPE_WHEELHOUSE (a directory filled by `make wheelhouse`: the sdist is taken from there, with
# no network; `make install WHEELHOUSE=DIR` sets it).
set -euo pipefail

log() { echo "[natpipe] $*" >&2; }
die() { echo "[natpipe] error: $*" >&2; exit 1; }

force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
[[ $# -eq 1 ]] || die "usage: $0 [--force] DEST_BIN_DIR"
dest=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
programs=(lmplz build_binary)
jobs=${NATPIPE_BUILD_JOBS:-2}

# One pin for the kenlm Python module and these programs.
version=$(sed -n 's/^kenlm==\([^[:space:]#]*\).*/\1/p' "$repo/envs/requirements.txt" 2>/dev/null | head -n1)
version=${version:-0.3.0}

# `PROG --help` prints usage; a program that cannot start (missing shared library, wrong
# architecture, not executable) exits 126/127 from the loader or shell instead.
starts() {
    [[ -f "$1" && -x "$1" ]] || return 1
    local rc=0
    "$1" --help </dev/null >/dev/null 2>&1 || rc=$?
    [[ $rc -ne 126 && $rc -ne 127 && $rc -lt 128 ]]
}

if [[ $force -eq 0 ]] && starts "$dest/lmplz" && starts "$dest/build_binary"; then
    log "lmplz and build_binary already in $dest (kenlm $version); nothing to build"
    exit 0
fi

# --- Debian build dependencies -------------------------------------------------------------
packages=(build-essential cmake zlib1g-dev libboost-program-options-dev libboost-system-dev
          libboost-thread-dev libboost-test-dev)
if command -v dpkg-query >/dev/null 2>&1; then
    # shellcheck source=scripts/debian.sh
    source "$here/debian.sh"
    read -ra missing <<<"$(missing_debian_packages "${packages[@]}")"
    if [[ ${#missing[@]} -gt 0 ]]; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "installing Debian build dependencies: ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q >/dev/null || die "apt-get update failed; install by hand: apt-get install ${missing[*]}"
            apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
                || die "apt-get install failed for: ${missing[*]}"
        else
            die "building lmplz needs these missing Debian packages: ${missing[*]} (install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}; then rerun make install)"
        fi
    fi
else
    log "no dpkg-query: not checking packages; the build needs a C++ compiler, cmake, zlib and Boost (program_options system thread unit_test_framework) development files"
fi
for tool in cmake c++ make; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (Debian packages: ${packages[*]})"
done

# --- Fetch and build -----------------------------------------------------------------------
python=${PYTHON:-}
if [[ -z "$python" ]]; then
    if [[ -x "$dest/python" ]]; then python=$dest/python; else python=python3; fi
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/natpipe-kenlm.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

wheelhouse=${NATPIPE_WHEELHOUSE:-}
if [[ -n "$wheelhouse" ]]; then
    [[ -d "$wheelhouse" ]] || die "NATPIPE_WHEELHOUSE=$wheelhouse is not a directory"
    sdist=$(find "$wheelhouse" -maxdepth 1 -iname "kenlm-$version.tar.gz" | head -n1)
    [[ -n "$sdist" ]] || die "no kenlm-$version.tar.gz in the wheelhouse $wheelhouse (make wheelhouse puts it there)"
    log "using $sdist (wheelhouse; no download)"
else
    log "downloading the kenlm $version source distribution"
    # --no-build-isolation: with isolation, pip would build kenlm's build requirements (cmake,
    # setuptools) from source too just to read the sdist's metadata.
    "$python" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: \
        --no-build-isolation -d "$work/dist" "kenlm==$version" >"$work/pip.log" 2>&1 \
        || { tail -n 20 "$work/pip.log" >&2; die "pip download kenlm==$version failed (with $python)"; }
    sdist=$(find "$work/dist" -maxdepth 1 -name 'kenlm-*.tar.gz' | head -n1)
    [[ -n "$sdist" ]] || die "pip download produced no kenlm-*.tar.gz in $work/dist"
fi
tar -xzf "$sdist" -C "$work"
src=$(find "$work" -mindepth 2 -maxdepth 2 -name CMakeLists.txt -path "*/kenlm-*" -printf '%h\n' | head -n1)
[[ -n "$src" ]] || die "$(basename "$sdist") has no top-level CMakeLists.txt"

log "building lmplz and build_binary (cmake, -j$jobs; ~1-2 min)"
build() {
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCOMPILE_TESTS=OFF \
        -DENABLE_PYTHON=OFF -DENABLE_INTERPOLATE=OFF \
        && cmake --build "$work/build" --target "${programs[@]}" -j "$jobs"
}
build >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "building kenlm $version failed (Debian packages needed: ${packages[*]})"; }

mkdir -p "$dest"
for program in "${programs[@]}"; do
    built=$(find "$work/build" -type f -name "$program" -perm -u+x | head -n1)
    [[ -n "$built" ]] || die "the build produced no $program"
    # Copy next to the destination, then rename: a reader never sees a half-written program.
    install -m 755 "$built" "$dest/.$program.tmp$$"
    mv -f "$dest/.$program.tmp$$" "$dest/$program"
    starts "$dest/$program" || die "$dest/$program was built but does not start"
done
log "lmplz and build_binary (kenlm $version) installed into $dest in $((SECONDS - start)) s"
