#!/usr/bin/env bash
# scripts/setup.sh — installs what building, testing and imaging Ferrite needs, and only
# what is missing. A second run changes nothing and prints one line.
#
# Usage: scripts/setup.sh [--check]
#   --check   only report what is missing (exit 1 if anything is); install nothing.
#
# What it makes sure of:
#   - the Rust toolchain pinned by rust-toolchain.toml, with that file's targets and
#     components (through rustup);
#   - qemu-system-aarch64 >= 9.0 with the raspi4b machine (Debian 12: from bookworm-backports,
#     whose apt source it adds when no apt source names that suite yet);
#   - python3, used by `make bench` to write the report and the plot;
#   - dtc, mtools (mdir/mcopy/mformat), mkfs.vfat and curl (or wget), used by the SD-card
#     and firmware scripts;
#   - cpio, with which `make test-kvm` packs the initramfs of its KVM host;
#   - gdb-multiarch, optional: a warning, not a failure, when it cannot be had.
# On a Debian-family system it installs with apt-get (through sudo when not root). On any
# other system it prints the exact packages to install and exits 1.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly QEMU_MIN_MAJOR=9
readonly QEMU_MIN_MINOR=0
readonly BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list
readonly BACKPORTS_LINE="deb http://deb.debian.org/debian bookworm-backports main"

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

say()  { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: warning: %s\n' "$*" >&2; }
die()  { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }
# mkfs.vfat lives in /usr/sbin, which is not on an ordinary user's PATH.
have_sbin() { have "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# Commands that need root go through sudo only when we are not root already.
if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
else
    as_root() {
        have sudo || die "need root for '$*' and sudo is not installed"
        sudo "$@"
    }
fi

changed=0        # set to 1 by anything that installed something
missing=()       # --check: what would be installed

# ---------------------------------------------------------------------------------------
# 1. Rust: the toolchain that rust-toolchain.toml pins, with its targets and components.
# ---------------------------------------------------------------------------------------

readonly TOOLCHAIN_FILE="$REPO_ROOT/rust-toolchain.toml"

# Prints the string value of `key = "value"` from the toolchain file.
toolchain_string() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$TOOLCHAIN_FILE" | head -n 1
}

# Prints the items of the one-line array `key = ["a", "b"]`, one per line.
toolchain_array() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\[\(.*\)\].*/\1/p" "$TOOLCHAIN_FILE" \
        | tr ',' '\n' | tr -d '" \t' | sed '/^$/d'
}

ensure_rust() {
    [ -f "$TOOLCHAIN_FILE" ] || die "$TOOLCHAIN_FILE is missing"
    local channel
    channel="$(toolchain_string channel)"
    [ -n "$channel" ] || die "no channel = \"...\" line in $TOOLCHAIN_FILE"
    local -a targets components
    mapfile -t targets < <(toolchain_array targets)
    mapfile -t components < <(toolchain_array components)

    # rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
    if ! have rustup && [ -x "$HOME/.cargo/bin/rustup" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! have rustup; then
        if [ "$check_only" -eq 1 ]; then missing+=("rustup"); return; fi
        die "rustup is not installed. Install it (https://rustup.rs, or 'apt-get install rustup' on Debian 13+), then run scripts/setup.sh again"
    fi

    local toolchains
    toolchains="$(rustup toolchain list)"
    if ! grep -q "^${channel}-" <<<"$toolchains"; then
        if [ "$check_only" -eq 1 ]; then missing+=("rust toolchain $channel"); return; fi
        say "installing Rust $channel with targets ${targets[*]} and components ${components[*]} (rust-toolchain.toml)"
        local IFS_SAVE="$IFS"; IFS=,
        local target_csv="${targets[*]}" component_csv="${components[*]}"
        IFS="$IFS_SAVE"
        rustup toolchain install "$channel" --profile minimal \
            ${component_csv:+--component "$component_csv"} ${target_csv:+--target "$target_csv"} \
            || die "rustup could not install $channel (is its download server reachable?)"
        changed=1
        return
    fi

    local installed_targets installed_components t c
    installed_targets="$(rustup target list --installed --toolchain "$channel")"
    installed_components="$(rustup component list --installed --toolchain "$channel")"
    local -a want_targets=() want_components=()
    for t in "${targets[@]}"; do
        grep -qx "$t" <<<"$installed_targets" || want_targets+=("$t")
    done
    # Installed component names carry the host triple: "llvm-tools-x86_64-unknown-linux-gnu".
    for c in "${components[@]}"; do
        grep -q "^${c}-" <<<"$installed_components" || want_components+=("$c")
    done

    if [ "${#want_targets[@]}" -gt 0 ]; then
        if [ "$check_only" -eq 1 ]; then
            missing+=("rust targets: ${want_targets[*]}")
        else
            say "adding Rust targets ${want_targets[*]} to $channel"
            rustup target add --toolchain "$channel" "${want_targets[@]}" \
                || die "rustup could not add targets ${want_targets[*]}"
            changed=1
        fi
    fi
    if [ "${#want_components[@]}" -gt 0 ]; then
        if [ "$check_only" -eq 1 ]; then
            missing+=("rust components: ${want_components[*]}")
        else
            say "adding Rust components ${want_components[*]} to $channel"
            rustup component add --toolchain "$channel" "${want_components[@]}" \
                || die "rustup could not add components ${want_components[*]}"
            changed=1
        fi
    fi
}

# ---------------------------------------------------------------------------------------
# 2. System tools. Each need has a short name; package names differ per distribution.
# ---------------------------------------------------------------------------------------

# Prints "MAJOR MINOR" of the installed qemu-system-aarch64, or nothing.
qemu_version() {
    have qemu-system-aarch64 || return 0
    qemu-system-aarch64 --version 2>/dev/null \
        | sed -n 's/^QEMU emulator version \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p' | head -n 1
}

# True when qemu-system-aarch64 is new enough and knows the raspi4b machine.
qemu_ok() {
    local version major minor
    version="$(qemu_version)"
    [ -n "$version" ] || return 1
    read -r major minor <<<"$version"
    if [ "$major" -lt "$QEMU_MIN_MAJOR" ] ||
       { [ "$major" -eq "$QEMU_MIN_MAJOR" ] && [ "$minor" -lt "$QEMU_MIN_MINOR" ]; }; then
        return 1
    fi
    # Taken whole first: under pipefail, grep -q closing the pipe early could fail the test.
    local machines
    machines="$(qemu-system-aarch64 -machine help 2>/dev/null || true)"
    grep -qw raspi4b <<<"$machines"
}

# True when the need called $1 is met on this machine.
need_met() {
    case "$1" in
        qemu)       qemu_ok ;;
        dtc)        have dtc ;;
        mtools)     have mdir && have mcopy && have mformat ;;
        dosfstools) have_sbin mkfs.vfat ;;
        curl)       have curl || have wget ;;
        cpio)       have cpio ;;
        python3)    have python3 ;;
        gdb)        have gdb-multiarch ;;
        *)          die "internal: unknown need '$1'" ;;
    esac
}

# Prints the package that provides need $2 on package manager $1 (first match wins).
package_for() {
    case "$1:$2" in
        apt:qemu)                        echo qemu-system-arm ;;
        apt:dtc)                         echo device-tree-compiler ;;
        apt:gdb|apk:gdb)                 echo gdb-multiarch ;;
        apk:qemu|dnf:qemu|pacman:qemu)   echo qemu-system-aarch64 ;;
        zypper:qemu)                     echo qemu-arm ;;
        brew:qemu)                       echo qemu ;;
        *:dtc)                           echo dtc ;;
        *:mtools)                        echo mtools ;;
        *:dosfstools)                    echo dosfstools ;;
        *:curl)                          echo curl ;;
        *:cpio)                          echo cpio ;;
        brew:python3)                    echo python ;;
        *:python3)                       echo python3 ;;
        *:gdb)                           echo gdb ;;
        *)                               echo "$2" ;;
    esac
}

os_field() {
    [ -r /etc/os-release ] || return 0
    # shellcheck disable=SC1091
    ( . /etc/os-release && eval "printf '%s\n' \"\${$1:-}\"" )
}

is_debian_family() {
    have apt-get && have dpkg || return 1
    local id like
    id="$(os_field ID)"; like="$(os_field ID_LIKE)"
    [ "$id" = debian ] || [[ " $like " == *" debian "* ]] || [ "$id" = ubuntu ]
}

# Prints the native package manager of a non-Debian system, or "unknown".
other_package_manager() {
    if [ "$(uname -s)" = Darwin ]; then echo brew; return; fi
    local m
    for m in dnf pacman zypper apk; do
        if have "$m"; then echo "$m"; return; fi
    done
    echo unknown
}

# True when some apt source (one-line or deb822 format) names bookworm-backports.
backports_source_present() {
    grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/
}

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        say "refreshing the apt package lists"
        as_root apt-get update -q >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
}

apt_install() {
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        || die "apt-get install $* failed"
    changed=1
}

# True when apt knows an installable version of package $1.
apt_has_candidate() {
    local candidate
    candidate="$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

ensure_system_tools() {
    local -a required_missing=()
    local need optional_gdb_missing=0
    for need in qemu dtc mtools dosfstools curl cpio python3; do
        need_met "$need" || required_missing+=("$need")
    done
    need_met gdb || optional_gdb_missing=1

    if [ "${#required_missing[@]}" -eq 0 ] && [ "$optional_gdb_missing" -eq 0 ]; then
        return
    fi

    if [ "$check_only" -eq 1 ]; then
        for need in "${required_missing[@]}"; do missing+=("$need"); done
        [ "$optional_gdb_missing" -eq 0 ] || warn "gdb-multiarch is not installed (optional; only 'make gdb' needs it)"
        return
    fi

    if ! is_debian_family; then
        local manager packages="" optional=""
        manager="$(other_package_manager)"
        for need in "${required_missing[@]}"; do packages+=" $(package_for "$manager" "$need")"; done
        [ "$optional_gdb_missing" -eq 0 ] || optional=" $(package_for "$manager" gdb)"
        if [ "${#required_missing[@]}" -eq 0 ]; then
            warn "gdb is not installed (optional); install the package:${optional}"
            return
        fi
        case "$manager" in
            brew)    echo "setup: this is not Debian; install with: brew install${packages}${optional}" >&2 ;;
            dnf)     echo "setup: this is not Debian; install with: sudo dnf install${packages}${optional}" >&2 ;;
            pacman)  echo "setup: this is not Debian; install with: sudo pacman -S${packages}${optional}" >&2 ;;
            zypper)  echo "setup: this is not Debian; install with: sudo zypper install${packages}${optional}" >&2 ;;
            apk)     echo "setup: this is not Debian; install with: sudo apk add${packages}${optional}" >&2 ;;
            *)
                local debian_names=""
                for need in "${required_missing[@]}"; do debian_names+=" $(package_for apt "$need")"; done
                echo "setup: this is not Debian; install the equivalents of these Debian packages:${debian_names}" >&2 ;;
        esac
        if [[ " ${required_missing[*]} " == *" qemu "* ]]; then
            echo "setup: QEMU must be $QEMU_MIN_MAJOR.$QEMU_MIN_MINOR or newer and have the raspi4b machine" >&2
        fi
        echo "setup: then run scripts/setup.sh again" >&2
        exit 1
    fi

    local codename
    codename="$(os_field VERSION_CODENAME)"
    local -a plain_packages=()
    local install_qemu=0
    for need in "${required_missing[@]}"; do
        if [ "$need" = qemu ]; then
            install_qemu=1
            local found
            found="$(qemu_version)"
            if [ -n "$found" ]; then
                say "qemu-system-aarch64 ${found/ /.} is older than $QEMU_MIN_MAJOR.$QEMU_MIN_MINOR or lacks raspi4b; upgrading"
            fi
        else
            plain_packages+=("$(package_for apt "$need")")
        fi
    done
    if [ "$optional_gdb_missing" -eq 1 ]; then
        apt_update_once
        if apt_has_candidate gdb-multiarch; then
            plain_packages+=(gdb-multiarch)
        else
            warn "gdb-multiarch is not available from apt here (optional; only 'make gdb' needs it)"
        fi
    fi

    if [ "$install_qemu" -eq 1 ]; then
        if [ "$codename" = bookworm ]; then
            # Debian 12 ships QEMU 7.2, which has no raspi4b; backports has a current QEMU.
            if ! backports_source_present; then
                say "adding the bookworm-backports apt source ($BACKPORTS_LIST)"
                printf '%s\n' "$BACKPORTS_LINE" | as_root tee "$BACKPORTS_LIST" >/dev/null
                changed=1
                apt_updated=0
            fi
            apt_update_once
            say "apt-get install -t bookworm-backports qemu-system-arm"
            as_root env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-arm \
                || die "could not install qemu-system-arm from bookworm-backports"
            changed=1
        else
            apt_update_once
            apt_install qemu-system-arm
        fi
        if ! qemu_ok; then
            die "qemu-system-aarch64 is still older than $QEMU_MIN_MAJOR.$QEMU_MIN_MINOR or lacks raspi4b after installing (found: $(qemu_version | tr ' ' .)); this release's QEMU is too old, use Debian 12 with backports or Debian 13"
        fi
    fi

    if [ "${#plain_packages[@]}" -gt 0 ]; then
        apt_update_once
        apt_install "${plain_packages[@]}"
    fi

    for need in "${required_missing[@]}"; do
        need_met "$need" || die "'$need' is still missing after installing"
    done
}

# ---------------------------------------------------------------------------------------

ensure_rust
ensure_system_tools

if [ "$check_only" -eq 1 ]; then
    if [ "${#missing[@]}" -gt 0 ]; then
        printf 'setup: missing: %s\n' "${missing[@]}" >&2
        echo "setup: run scripts/setup.sh to install them" >&2
        exit 1
    fi
    say "everything present"
elif [ "$changed" -eq 0 ]; then
    say "everything present"
else
    say "done; qemu $(qemu_version | tr ' ' .), rustc $(rustc --version 2>/dev/null | cut -d' ' -f2)"
fi
