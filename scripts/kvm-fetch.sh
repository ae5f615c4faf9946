#!/usr/bin/env bash
# Fetches the Debian arm64 packages the nested KVM test needs (scripts/test-kvm.sh): the
# Linux kernel of the KVM host, busybox-static for its init, qemu-system-arm from
# bookworm-backports and the libraries qemu-system-aarch64 loads. The versions and
# SHA-256 sums are pinned in scripts/kvm-packages.lock; the .debs are cached outside the
# repository and never committed.
#
#   scripts/kvm-fetch.sh                 make sure every pinned .deb is in the cache
#   scripts/kvm-fetch.sh --update-pins   resolve the current versions and rewrite the lock
#   scripts/kvm-fetch.sh --print-cache   print the cache directory
#   scripts/kvm-fetch.sh --print-files   fetch if needed, then print the pinned .debs' paths
#
# apt runs with a private, throw-away state (its own sources list, lists, cache and an
# empty dpkg status, arm64 only, in a temporary directory): the machine's apt
# configuration and dpkg database are neither read for sources nor changed. Only the
# Debian archive keyring in /usr/share/keyrings is read, to check the archive's
# signatures. Every network step has a timeout; a failure ends with one clear line.
#
# Cache: $FERRITE_CACHE_DIR/kvm/debs (default ~/.cache/ferrite/kvm/debs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock="$here/kvm-packages.lock"
cache_root=${FERRITE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrite}
debs="$cache_root/kvm/debs"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

die() {
    printf 'kvm-fetch: error: %s\n' "$*" >&2
    exit 1
}
say() { printf 'kvm-fetch: %s\n' "$*" >&2; }

mode=fetch
case "${1:-}" in
    "") ;;
    --update-pins) mode=update ;;
    --print-cache)
        echo "$debs"
        exit 0
        ;;
    --print-files) mode=files ;;
    -h | --help)
        sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (try --help)" ;;
esac

for tool in apt-get apt-cache dpkg-deb sha256sum timeout; do
    command -v "$tool" >/dev/null || die "'$tool' is missing: the KVM test fetches Debian packages with apt and needs a Debian-family host"
done
[[ -r $keyring ]] || die "$keyring is missing (apt-get install debian-archive-keyring)"

# The .deb in directory $1 of package $2 at version $3, as apt names it (':' in an epoch
# becomes %3a; the architecture is arm64 or all); prints nothing when there is none.
find_deb() {
    local f
    for f in "$1/${2}_${3//:/%3a}_arm64.deb" "$1/${2}_${3//:/%3a}_all.deb"; do
        [[ -f $f ]] && { echo "$f"; return 0; }
    done
    return 0
}

# ---------------------------------------------------------------------------------------
# The private apt state
# ---------------------------------------------------------------------------------------

work=""
cleanup() { if [[ -n $work ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT

apt_private() {
    APT_CONFIG="$work/apt.conf" "$@"
}

make_apt_state() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/ferrite-apt.XXXXXX")
    mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/etc/apt.conf.d" \
        "$work/etc/preferences.d" "$work/etc/sources.list.d" "$work/download"
    : >"$work/state/status"
    local opts="arch=arm64 signed-by=$keyring"
    cat >"$work/etc/sources.list" <<EOF
deb [$opts] $mirror bookworm main
deb [$opts] $mirror bookworm-updates main
deb [$opts] $security_mirror bookworm-security main
deb [$opts] $mirror bookworm-backports main
EOF
    # APT_CONFIG is read first; pointing Dir::Etc::main and ::parts elsewhere keeps the
    # machine's /etc/apt configuration out entirely.
    cat >"$work/apt.conf" <<EOF
Dir::State "$work/state";
Dir::State::status "$work/state/status";
Dir::Cache "$work/cache";
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$work/etc/apt.conf.d";
Dir::Etc::sourcelist "$work/etc/sources.list";
Dir::Etc::sourceparts "$work/etc/sources.list.d";
Dir::Etc::preferences "$work/etc/preferences";
Dir::Etc::preferencesparts "$work/etc/preferences.d";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::http::Timeout "30";
Acquire::https::Timeout "30";
Acquire::Retries "2";
APT::Sandbox::User "$(id -un)";
Debug::NoLocking "true";
EOF
    say "reading the package lists of bookworm, bookworm-updates, bookworm-security and bookworm-backports (arm64) into a private apt state"
    local log="$work/update.log"
    if ! timeout 300 env APT_CONFIG="$work/apt.conf" apt-get -q update >"$log" 2>&1; then
        sed 's/^/    /' "$log" >&2
        die "apt-get update failed (is $mirror reachable?)"
    fi
    if grep -qE '^(W|E): (Failed|Some index files failed)' "$log"; then
        grep -E '^(W|E):' "$log" | sed 's/^/    /' >&2
        die "apt could not read every package list (is $mirror reachable?)"
    fi
}

# Downloads "pkg=version" arguments into $work/download; dies with apt's words on failure.
apt_download() {
    local log="$work/download.log"
    if ! (cd "$work/download" && timeout 900 env APT_CONFIG="$work/apt.conf" apt-get -q download "$@") >"$log" 2>&1; then
        grep -E '^(E|W):' "$log" | sed 's/^/    /' >&2 || tail -n 5 "$log" | sed 's/^/    /' >&2
        if grep -qE "Version '.*' for '.*' was not found|Unable to locate package" "$log"; then
            die "a pinned package version is no longer in the Debian archive; run scripts/kvm-fetch.sh --update-pins and commit scripts/kvm-packages.lock"
        fi
        die "downloading the packages failed (is $mirror reachable?)"
    fi
}

# ---------------------------------------------------------------------------------------
# fetch: every pinned .deb in the cache, with the pinned SHA-256
# ---------------------------------------------------------------------------------------

read_lock() {
    [[ -r $lock ]] || die "$lock is missing"
    grep -vE '^[[:space:]]*(#|$)' "$lock"
}

fetch() {
    mkdir -p "$debs"
    local -a missing=()
    local package version sum file
    while read -r package version sum; do
        file=$(find_deb "$debs" "$package" "$version")
        if [[ -n $file ]] && [[ $(sha256sum "$file" | cut -d' ' -f1) == "$sum" ]]; then
            continue
        fi
        [[ -n $file ]] && rm -f "$file"
        missing+=("$package=$version")
    done < <(read_lock)
    # .debs of earlier pins are no longer needed.
    local cached keep
    for cached in "$debs"/*.deb; do
        [[ -e $cached ]] || continue
        keep=0
        while read -r package version sum; do
            [[ $(find_deb "$debs" "$package" "$version") == "$cached" ]] && keep=1
        done < <(read_lock)
        [[ $keep -eq 1 ]] || rm -f "$cached"
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    say "fetching ${#missing[@]} pinned arm64 packages into $debs"
    make_apt_state
    apt_download "${missing[@]}"
    while read -r package version sum; do
        [[ -n $(find_deb "$debs" "$package" "$version") ]] && continue
        file=$(find_deb "$work/download" "$package" "$version")
        [[ -n $file ]] || die "apt did not download $package $version"
        local got
        got=$(sha256sum "$file" | cut -d' ' -f1)
        [[ $got == "$sum" ]] || die "$(basename "$file") has SHA-256 $got, but scripts/kvm-packages.lock pins $sum"
        mv "$file" "$debs/"
    done < <(read_lock)
    say "all pinned packages present and verified"
}

# ---------------------------------------------------------------------------------------
# --update-pins: resolve the current versions and keep only what the KVM host loads
# ---------------------------------------------------------------------------------------

readobj() {
    local host
    host=$(rustc -vV | sed -n 's/^host: //p')
    "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-readobj" "$@"
}

# DT_NEEDED names of an ELF file.
needed_libs() {
    readobj --needed-libs "$1" | sed -n '/NeededLibraries \[/,/\]/p' | sed '1d;$d' | tr -d ' '
}

update_pins() {
    make_apt_state
    local -a pins=()
    # The KVM host's kernel: Debian 12's current point-release kernel (bookworm main), through
    # the linux-image-arm64 meta-package's dependency.
    local meta_version kernel_package
    meta_version=$(apt_private apt-cache madison linux-image-arm64 | awk -F'|' '$3 ~ / bookworm\/main / {gsub(/ /, "", $2); print $2; exit}')
    [[ -n $meta_version ]] || die "no linux-image-arm64 in bookworm main"
    kernel_package=$(apt_private apt-cache show "linux-image-arm64=$meta_version" |
        sed -n 's/^Depends: \(linux-image-6\.1\.0-[0-9]*-arm64\) (= \([^)]*\)).*/\1=\2/p' | head -n 1)
    [[ -n $kernel_package ]] || die "could not read the kernel package linux-image-arm64 $meta_version depends on"
    pins+=("$kernel_package")
    pins+=("busybox-static=$(apt_private apt-cache policy busybox-static | sed -n 's/^ *Candidate: //p')")

    # QEMU from bookworm-backports and its whole dependency closure, resolved against an
    # empty system; only the packages holding files qemu-system-aarch64 loads are kept.
    local -a closure
    mapfile -t closure < <(apt_private apt-get -s install --no-install-recommends -t bookworm-backports qemu-system-arm |
        awk '/^Inst /{v = $3; gsub(/[()]/, "", v); print $2 "=" v}')
    [[ ${#closure[@]} -gt 0 ]] || die "apt could not resolve qemu-system-arm from bookworm-backports"
    say "downloading qemu-system-arm and its ${#closure[@]} packages to find the libraries it loads"
    apt_download "${closure[@]}"
    local tree="$work/tree" entry deb
    mkdir -p "$tree"
    declare -A owner=()
    for entry in "${closure[@]}"; do
        deb=$(find_deb "$work/download" "${entry%%=*}" "${entry#*=}")
        [[ -n $deb ]] || die "apt did not download $entry"
        dpkg-deb -x "$deb" "$tree"
        while read -r path; do owner[$path]=$entry; done < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||' | grep -v '/$' | grep .)
    done
    declare -A keep=([${owner[usr/bin/qemu-system-aarch64]}]=1)
    local -a todo=(usr/bin/qemu-system-aarch64)
    declare -A seen=()
    while [[ ${#todo[@]} -gt 0 ]]; do
        local file=${todo[0]} lib dir found
        todo=("${todo[@]:1}")
        while read -r lib; do
            [[ -n $lib && -z ${seen[$lib]:-} ]] || continue
            seen[$lib]=1
            found=""
            for dir in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
                if [[ -e $tree/$dir/$lib ]]; then found=$dir/$lib; break; fi
            done
            [[ -n $found ]] || die "no package of the closure provides $lib"
            # A library name is usually a symlink; the package of its target counts.
            local real
            real=$(realpath --relative-to="$tree" "$tree/$found")
            [[ -n ${owner[$real]:-} ]] || die "no package owns $real"
            keep[${owner[$real]}]=1
            [[ -n ${owner[$found]:-} ]] && keep[${owner[$found]}]=1
            todo+=("$real")
        done < <(needed_libs "$tree/$file")
    done
    for entry in "${!keep[@]}"; do pins+=("$entry"); done

    mapfile -t pins < <(printf '%s\n' "${pins[@]}" | sort -u)
    apt_download "${pins[@]}"
    {
        echo "# Debian arm64 packages for make test-kvm (scripts/kvm-fetch.sh; rewritten by --update-pins)."
        echo "# package version sha256"
        for entry in "${pins[@]}"; do
            deb=$(find_deb "$work/download" "${entry%%=*}" "${entry#*=}")
            printf '%s %s %s\n' "${entry%%=*}" "${entry#*=}" "$(sha256sum "$deb" | cut -d' ' -f1)"
        done
    } >"$lock"
    say "wrote $lock (${#pins[@]} packages); run scripts/kvm-fetch.sh to fill the cache"
}

case $mode in
    update) update_pins ;;
    fetch) fetch ;;
    files)
        fetch
        while read -r package version sum; do
            find_deb "$debs" "$package" "$version"
        done < <(read_lock)
        ;;
esac
