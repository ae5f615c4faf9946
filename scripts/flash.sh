#!/usr/bin/env bash
# scripts/flash.sh — writes target/sdcard.img to an SD card, after making sure the device
# really is a removable card and not a disk this machine is using.
#
# Usage: scripts/flash.sh DEVICE        e.g. scripts/flash.sh /dev/sdb   (Linux only)
#        YES=1 scripts/flash.sh DEVICE  skip the typed confirmation
#
# Refuses, before writing anything, unless DEVICE
#   1. is a block device,
#   2. is a whole disk, not a partition (the image carries its own partition table),
#   3. is removable (/sys/block/<disk>/removable = 1), USB-attached, or an SD card in an
#      MMC slot,
#   4. is not the disk that holds / (nor a disk under the device-mapper/md stack that holds /),
#   5. has neither itself nor any of its partitions mounted, used as swap, or held by
#      another block device (LVM, dm-crypt, md),
#   6. is at least as large as the image.
# Then it shows the device's model and size and asks for "yes" (unless YES=1), and writes
# with dd conv=fsync, followed by sync.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly IMAGE="$REPO_ROOT/target/sdcard.img"

say() { printf 'flash: %s\n' "$*"; }
refuse() { printf 'flash: refusing: %s\n' "$*" >&2; exit 1; }

# Prints the kernel name of the whole disk that block device $1 (a kernel name such as
# sda1, mmcblk0p1, dm-0) belongs to, following device-mapper/md stacks down to every
# underlying disk (one per line).
underlying_disks() {
    local name="$1" sys="/sys/class/block/$1"
    [ -e "$sys" ] || return 0
    local slaves=("$sys"/slaves/*)
    if [ -e "${slaves[0]}" ]; then
        local slave
        for slave in "${slaves[@]}"; do
            underlying_disks "$(basename "$slave")"
        done
        return
    fi
    if [ -e "$sys/partition" ]; then
        basename "$(dirname "$(readlink -f "$sys")")"
    else
        printf '%s\n' "$name"
    fi
}

# Prints the kernel name of the block device behind one /proc/self/mountinfo line ($1 =
# its major:minor field, $2 = its mount source), or nothing when it has none. The number
# finds devices that /proc/mounts names vaguely (/dev/root); the source covers file
# systems such as btrfs that report an anonymous device number.
mount_device_name() {
    local majmin="$1" source="$2"
    if [ -e "/sys/dev/block/$majmin" ]; then
        basename "$(readlink -f "/sys/dev/block/$majmin")"
    elif [[ "$source" == /dev/* ]] && [ -b "$source" ]; then
        basename "$(readlink -f "$source")"
    fi
}

# Prints "major:minor source mountpoint" for every mounted file system.
mounts() {
    # mountinfo: id parent major:minor root mountpoint options... - fstype source superopts
    awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { print $3, $(i + 2), $5; break } }' \
        /proc/self/mountinfo
}

# Prints the kernel names of the disks under every mounted or swap device, one per line.
disks_in_use() {
    local majmin source mountpoint name
    {
        mounts | while read -r majmin source mountpoint; do
            name="$(mount_device_name "$majmin" "$source")"
            [ -z "$name" ] || underlying_disks "$name"
        done
        awk 'NR > 1 { print $1 }' /proc/swaps 2>/dev/null | while read -r source; do
            if [ -b "$source" ]; then
                underlying_disks "$(basename "$(readlink -f "$source")")"
            fi
        done
    } | sort -u
}

# Prints the kernel names of the disks under the file system mounted at /.
disks_under_root() {
    local majmin source mountpoint name
    mounts | while read -r majmin source mountpoint; do
        [ "$mountpoint" = / ] || continue
        name="$(mount_device_name "$majmin" "$source")"
        [ -z "$name" ] || underlying_disks "$name"
    done | sort -u
}

human_size() {
    awk -v b="$1" 'BEGIN {
        split("B KB MB GB TB", unit, " "); i = 1
        while (b >= 1000 && i < 5) { b /= 1000; i++ }
        printf (i == 1 ? "%d %s" : "%.1f %s"), b, unit[i]
    }'
}

main() {
    [ "$#" -eq 1 ] || { echo "usage: scripts/flash.sh DEVICE   (e.g. /dev/sdb; YES=1 skips the prompt)" >&2; exit 2; }
    local device="$1"

    [ "$(uname -s)" = Linux ] || refuse "this script only knows Linux's /sys; on other systems write $IMAGE with your OS's disk tool"
    [ -f "$IMAGE" ] || refuse "$IMAGE does not exist; run 'make sdcard' first"

    # 1. A block device (symlinks such as /dev/disk/by-id/... are followed).
    [ -e "$device" ] || refuse "$device does not exist"
    local resolved
    resolved="$(readlink -f "$device")"
    [ -b "$resolved" ] || refuse "$device is not a block device"
    local name sys
    name="$(basename "$resolved")"
    sys="/sys/class/block/$name"
    [ -e "$sys" ] || refuse "$device ($name) has no entry in /sys/class/block"

    # 2. A whole disk.
    if [ -e "$sys/partition" ]; then
        refuse "$device is a partition; give the whole disk, /dev/$(underlying_disks "$name" | head -n 1)"
    fi
    [ -e "/sys/block/$name" ] || refuse "$device is not a whole disk"

    # 3. Removable, USB-attached, or an SD card.
    local removable path card_type="" reason=""
    removable="$(cat "/sys/block/$name/removable" 2>/dev/null || echo 0)"
    path="$(readlink -f "/sys/block/$name")"
    [ -r "/sys/block/$name/device/type" ] && card_type="$(cat "/sys/block/$name/device/type" 2>/dev/null || true)"
    if [ "$removable" = 1 ]; then
        reason="removable"
    elif [[ "$path" == */usb* ]]; then
        reason="USB-attached"
    elif [[ "$name" == mmcblk* ]] && [ "$card_type" = SD ]; then
        reason="an SD card"
    else
        refuse "$device is neither removable nor USB-attached nor an SD card (removable=$removable, $path)"
    fi

    # 4. Not the disk that holds /. (Lists are taken whole before matching: a pipeline into
    #    grep -q could hide a failure of the lister.)
    local root_disks in_use_disks
    root_disks="$(disks_under_root)" || refuse "cannot tell which disk holds /"
    if grep -qx -- "$name" <<<"$root_disks"; then
        refuse "$device holds this machine's root file system"
    fi

    # 5. Nothing on it in use.
    in_use_disks="$(disks_in_use)" || refuse "cannot tell which disks are mounted"
    if grep -qx -- "$name" <<<"$in_use_disks"; then
        local mounted
        mounted="$(awk -v d="/dev/$name" 'index($1, d) == 1 { print $1 " on " $2 }' /proc/mounts | tr '\n' ';')"
        refuse "$device or one of its partitions is mounted or used as swap (${mounted:-see /proc/mounts, /proc/swaps}); unmount it first"
    fi
    local part holders
    for part in "$sys" "$sys"/"$name"*; do
        [ -d "$part/holders" ] || continue
        holders=("$part"/holders/*)
        if [ -e "${holders[0]}" ]; then
            refuse "$(basename "$part") is in use by $(basename "${holders[0]}") (LVM, dm-crypt or md); release it first"
        fi
    done

    # 6. Large enough.
    local sectors bytes image_bytes
    sectors="$(cat "/sys/block/$name/size")"
    bytes=$(( sectors * 512 ))
    image_bytes="$(wc -c < "$IMAGE")"
    [ "$bytes" -gt 0 ] || refuse "$device has no medium (size 0); insert the card"
    [ "$bytes" -ge "$image_bytes" ] || refuse "$device ($(human_size "$bytes")) is smaller than the image ($(human_size "$image_bytes"))"

    local vendor model
    vendor="$(sed 's/[[:space:]]*$//' "/sys/block/$name/device/vendor" 2>/dev/null || true)"
    model="$(sed 's/[[:space:]]*$//' "/sys/block/$name/device/model" 2>/dev/null || cat "/sys/block/$name/device/name" 2>/dev/null || echo "unknown model")"
    say "device:  $device -> /dev/$name ($reason)"
    say "model:   ${vendor:+$vendor }$model"
    say "size:    $(human_size "$bytes") ($sectors sectors)"
    say "image:   ${IMAGE#"$REPO_ROOT"/} ($(human_size "$image_bytes"))"
    say "everything on /dev/$name will be overwritten."

    if [ "${YES:-0}" != 1 ]; then
        [ -t 0 ] || refuse "no terminal to confirm on; run it from a terminal, or set YES=1"
        local answer
        read -r -p 'flash: type "yes" to write: ' answer
        [ "$answer" = yes ] || refuse "not confirmed"
    fi

    local -a as_root=()
    if [ ! -w "/dev/$name" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 || refuse "/dev/$name is not writable and sudo is not installed"
            as_root=(sudo)
        fi
    fi
    say "writing..."
    "${as_root[@]}" dd if="$IMAGE" of="/dev/$name" bs=4M conv=fsync status=progress
    sync
    say "done; remove the card and put it in the Raspberry Pi 4 (docs/RASPBERRY_PI.md)"
}

main "$@"
