#!/usr/bin/env bash
# scripts/fetch-rpi-firmware.sh — fetches the Raspberry Pi 4 boot firmware (start4.elf,
# fixup4.dat) from Debian's raspi-firmware package, verifies it, and caches it.
#
# Usage: scripts/fetch-rpi-firmware.sh
#   Prints the directory holding start4.elf, fixup4.dat and LICENCE.raspi-firmware on
#   stdout (everything else goes to stderr), e.g.
#       target/firmware-cache/raspi-firmware_1.20220830+ds-1
#
# The package is pinned by version; its .deb and every file taken out of it must match the
# SHA-256 sums in scripts/firmware.sha256 (kept in the repository). A cached copy that
# still matches is used without touching the network. target/ is never committed.
#
# Environment:
#   DEBIAN_MIRROR     archive to download from (default http://deb.debian.org/debian)
#   RPI_FIRMWARE_DEB  a local copy of the pinned .deb to use instead of downloading
#
# Exit status: 0 done; 1 error (a checksum mismatch, a missing tool, the pinned file gone
# from the archive); 3 skipped because the archive cannot be reached.
set -euo pipefail

readonly PACKAGE_VERSION="1.20220830+ds-1"
readonly DEB_NAME="raspi-firmware_${PACKAGE_VERSION}_all.deb"
readonly DEB_POOL_PATH="pool/non-free-firmware/r/raspi-firmware/$DEB_NAME"
# Inside the package                          -> name in the cache / on the SD card
readonly -a MEMBERS=(
    "./usr/lib/raspi-firmware/start4.elf"
    "./usr/lib/raspi-firmware/fixup4.dat"
    "./usr/share/doc/raspi-firmware/copyright"
)
readonly -a CACHED_NAMES=(start4.elf fixup4.dat LICENCE.raspi-firmware)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly SUMS_FILE="$REPO_ROOT/scripts/firmware.sha256"
readonly CACHE_DIR="$REPO_ROOT/target/firmware-cache/raspi-firmware_$PACKAGE_VERSION"
readonly MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly EXIT_SKIP=3

say()  { printf 'fetch-rpi-firmware: %s\n' "$*" >&2; }
die()  { printf 'fetch-rpi-firmware: error: %s\n' "$*" >&2; exit 1; }
skip() { printf 'fetch-rpi-firmware: skip: %s\n' "$*" >&2; exit "$EXIT_SKIP"; }

have() { command -v "$1" >/dev/null 2>&1; }

sha256_of() {
    if have sha256sum; then
        sha256sum "$1" | cut -d' ' -f1
    elif have shasum; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed"
    fi
}

# Prints the expected SHA-256 of the entry named $1 in the sums file.
expected_sum() {
    local sum
    sum="$(awk -v name="$1" '$1 !~ /^#/ && $2 == name { print $1; exit }' "$SUMS_FILE")"
    [ -n "$sum" ] || die "no SHA-256 for '$1' in $SUMS_FILE"
    printf '%s\n' "$sum"
}

# True when file $1 exists and its SHA-256 is the sum recorded for name $2.
matches() {
    [ -f "$1" ] && [ "$(sha256_of "$1")" = "$(expected_sum "$2")" ]
}

# The name a cached file is recorded under in the sums file.
sum_name_for() {
    case "$1" in
        LICENCE.raspi-firmware) echo copyright ;;
        *) echo "$1" ;;
    esac
}

cache_is_complete() {
    local name
    for name in "${CACHED_NAMES[@]}"; do
        matches "$CACHE_DIR/$name" "$(sum_name_for "$name")" || return 1
    done
}

# Downloads URL $1 to file $2. Exits 3 when the archive cannot be reached, 1 when it
# answers with an error (the pinned file is gone: a real problem, not a skip).
download() {
    local url="$1" out="$2" status=0
    if have curl; then
        curl --fail --silent --show-error --location --connect-timeout 20 --max-time 600 \
             --output "$out" "$url" || status=$?
        case "$status" in
            0) ;;
            22) die "the archive answered with an HTTP error for $url; the pinned version may have left the archive: update PACKAGE_VERSION and scripts/firmware.sha256, or set RPI_FIRMWARE_DEB" ;;
            *) skip "cannot reach $MIRROR (curl exit $status); the SD card needs start4.elf and fixup4.dat from $DEB_NAME" ;;
        esac
    elif have wget; then
        wget --quiet --timeout=20 --output-document="$out" "$url" || status=$?
        case "$status" in
            0) ;;
            8) die "the archive answered with an error for $url; the pinned version may have left the archive: update PACKAGE_VERSION and scripts/firmware.sha256, or set RPI_FIRMWARE_DEB" ;;
            *) skip "cannot reach $MIRROR (wget exit $status); the SD card needs start4.elf and fixup4.dat from $DEB_NAME" ;;
        esac
    else
        skip "neither curl nor wget is installed (scripts/setup.sh installs curl)"
    fi
}

# Writes the package's data archive, as an uncompressed tar stream, to stdout.
deb_data_tar() {
    local deb="$1"
    if have dpkg-deb; then
        dpkg-deb --fsys-tarfile "$deb"
        return
    fi
    have ar || die "need dpkg-deb, or ar from binutils, to unpack $DEB_NAME"
    local member
    member="$(ar t "$deb" | grep '^data\.tar' | head -n 1)"
    case "$member" in
        data.tar.xz)  ar p "$deb" "$member" | xz -dc ;;
        data.tar.zst) ar p "$deb" "$member" | zstd -dc ;;
        data.tar.gz)  ar p "$deb" "$member" | gzip -dc ;;
        data.tar)     ar p "$deb" "$member" ;;
        *) die "$DEB_NAME has no data archive I can read ('$member')" ;;
    esac
}

main() {
    [ -f "$SUMS_FILE" ] || die "$SUMS_FILE is missing"

    if cache_is_complete; then
        printf '%s\n' "$CACHE_DIR"
        return
    fi

    mkdir -p "$CACHE_DIR"
    local work
    work="$(mktemp -d "$CACHE_DIR/.work.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: $work is local to main
    trap "rm -rf '$work'" EXIT

    # 1. The .deb: from the cache, from RPI_FIRMWARE_DEB, or from the archive.
    local deb="$CACHE_DIR/$DEB_NAME"
    if ! matches "$deb" "$DEB_NAME"; then
        rm -f "$deb"
        if [ -n "${RPI_FIRMWARE_DEB:-}" ]; then
            [ -f "$RPI_FIRMWARE_DEB" ] || die "RPI_FIRMWARE_DEB=$RPI_FIRMWARE_DEB is not a file"
            say "using $RPI_FIRMWARE_DEB"
            cp "$RPI_FIRMWARE_DEB" "$work/$DEB_NAME"
        else
            say "downloading $MIRROR/$DEB_POOL_PATH"
            download "$MIRROR/$DEB_POOL_PATH" "$work/$DEB_NAME"
        fi
        matches "$work/$DEB_NAME" "$DEB_NAME" ||
            die "SHA-256 mismatch for $DEB_NAME: got $(sha256_of "$work/$DEB_NAME"), want $(expected_sum "$DEB_NAME")"
        mv "$work/$DEB_NAME" "$deb"
    fi
    say "$DEB_NAME verified (SHA-256 $(expected_sum "$DEB_NAME"))"

    # 2. The files we need, each checked against its own recorded sum.
    mkdir -p "$work/extract"
    deb_data_tar "$deb" | tar -x -C "$work/extract" "${MEMBERS[@]}" ||
        die "could not extract ${MEMBERS[*]} from $DEB_NAME"
    local i source name
    for i in "${!MEMBERS[@]}"; do
        source="$work/extract/${MEMBERS[$i]#./}"
        name="${CACHED_NAMES[$i]}"
        matches "$source" "$(sum_name_for "$name")" ||
            die "SHA-256 mismatch for ${MEMBERS[$i]} in $DEB_NAME"
        mv "$source" "$CACHE_DIR/$name"
        say "$name verified"
    done

    printf '%s\n' "$CACHE_DIR"
}

main "$@"
