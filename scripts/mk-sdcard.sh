#!/usr/bin/env bash
# scripts/mk-sdcard.sh — builds target/sdcard.img, a whole-disk image that boots Ferrite on a
# Raspberry Pi 4 once written to an SD card (scripts/flash.sh, or plain dd).
#
# Usage: scripts/mk-sdcard.sh [KERNEL_IMG]      (default target/kernel8.img)
#
# The image (64 MiB):
#   sector 0          MBR with one partition: type 0x0c (FAT32, LBA), bootable flag clear
#   1 MiB .. 64 MiB   that partition, FAT32 with 512-byte clusters, label FERRITE, holding
#     kernel8.img            KERNEL_IMG, unchanged
#     config.txt             firmware/config.txt
#     cmdline.txt            firmware/cmdline.txt
#     bcm2711-rpi-4-b.dtb    tests/fixtures/dtb/bcm2711-rpi-4-b.dtb
#     start4.elf             \  Debian raspi-firmware package, fetched and checked by
#     fixup4.dat              > scripts/fetch-rpi-firmware.sh against scripts/firmware.sha256
#     LICENCE.raspi-firmware /  (the firmware's licence; it asks redistributions to carry it)
# The Pi 4's boot loader reads the first FAT partition it finds in the MBR, so the card needs
# the partition table; a bare FAT image would not boot. FAT32 with 1 sector per cluster is
# one of the two layouts Raspberry Pi OS itself uses.
#
# Built entirely in files (mkfs.vfat -C, mtools, a hand-written MBR): no root, no loop device.
#
# Exit status: 0 built; 1 error; 3 skipped because the firmware cannot be fetched.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly OUTPUT="$REPO_ROOT/target/sdcard.img"
readonly DTB="$REPO_ROOT/tests/fixtures/dtb/bcm2711-rpi-4-b.dtb"
readonly CONFIG_TXT="$REPO_ROOT/firmware/config.txt"
readonly CMDLINE_TXT="$REPO_ROOT/firmware/cmdline.txt"
readonly EXIT_SKIP=3

readonly SECTOR=512
readonly DISK_MIB=64
readonly PART_START_SECTOR=2048                                # 1 MiB, the usual alignment
readonly DISK_SECTORS=$(( DISK_MIB * 1024 * 1024 / SECTOR ))
readonly PART_SECTORS=$(( DISK_SECTORS - PART_START_SECTOR ))
readonly PART_TYPE_FAT32_LBA=0x0c
readonly DISK_SIGNATURE=0x46455252                             # "FERR", any value will do
readonly VOLUME_LABEL=FERRITE

say()  { printf 'mk-sdcard: %s\n' "$*"; }
die()  { printf 'mk-sdcard: error: %s\n' "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

find_mkfs_vfat() {
    local candidate
    for candidate in "$(command -v mkfs.vfat 2>/dev/null || true)" /usr/sbin/mkfs.vfat /sbin/mkfs.vfat; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s\n' "$candidate"
            return
        fi
    done
    die "mkfs.vfat (dosfstools) is not installed; run scripts/setup.sh"
}

# Prints the 4 little-endian bytes of $1 as printf escapes.
le32() {
    local v=$(( $1 ))
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( v & 0xff )) $(( (v >> 8) & 0xff )) \
        $(( (v >> 16) & 0xff )) $(( (v >> 24) & 0xff ))
}

# Prints the 3 CHS bytes of LBA $1 as printf escapes, for the conventional 255-head,
# 63-sector geometry (nothing reads them on a Pi, but they should not be nonsense);
# addresses past cylinder 1023 get the customary 0xfe 0xff 0xff.
chs() {
    local lba=$(( $1 )) heads=255 sectors=63
    local cylinder=$(( lba / (heads * sectors) ))
    if [ "$cylinder" -gt 1023 ]; then
        printf '\\xfe\\xff\\xff'
        return
    fi
    local head=$(( (lba / sectors) % heads )) sector=$(( lba % sectors + 1 ))
    printf '\\x%02x\\x%02x\\x%02x' "$head" $(( sector | ((cylinder >> 8) << 6) )) $(( cylinder & 0xff ))
}

# Writes the 1 MiB that precede the partition: the MBR in sector 0, zeros after it.
write_disk_head() {
    local out="$1"
    head -c $(( PART_START_SECTOR * SECTOR )) /dev/zero > "$out"
    local entry
    entry="\\x00$(chs "$PART_START_SECTOR")"
    entry+="$(printf '\\x%02x' $(( PART_TYPE_FAT32_LBA )))"
    entry+="$(chs $(( PART_START_SECTOR + PART_SECTORS - 1 )))"
    entry+="$(le32 "$PART_START_SECTOR")$(le32 "$PART_SECTORS")"
    # 440: disk signature, 444: two zero bytes, 446: partition 1, 510: boot signature.
    printf '%b' "$(le32 "$DISK_SIGNATURE")\\x00\\x00${entry}" |
        dd of="$out" bs=1 seek=440 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$out" bs=1 seek=510 conv=notrunc status=none
}

# Prints the unsigned little-endian integer of $3 bytes at offset $2 of file $1.
read_le() {
    local bytes value=0 i
    read -r -a bytes <<<"$(od -An -tu1 -j "$2" -N "$3" "$1")"
    for (( i = ${#bytes[@]} - 1; i >= 0; i-- )); do
        value=$(( value * 256 + bytes[i] ))
    done
    printf '%s\n' "$value"
}

# Fails unless image $1 has the MBR this script means to write and a FAT32 boot sector
# at the start of partition 1.
check_partition_table() {
    local image="$1" part_offset=$(( PART_START_SECTOR * SECTOR ))
    [ "$(read_le "$image" 510 2)" -eq $(( 0xaa55 )) ] || die "internal: no MBR boot signature"
    [ "$(read_le "$image" 450 1)" -eq $(( PART_TYPE_FAT32_LBA )) ] || die "internal: partition 1 is not type 0x0c"
    [ "$(read_le "$image" 454 4)" -eq "$PART_START_SECTOR" ] || die "internal: partition 1 does not start at 1 MiB"
    [ "$(read_le "$image" 458 4)" -eq "$PART_SECTORS" ] || die "internal: partition 1 has the wrong length"
    [ "$(read_le "$image" 462 16)" -eq 0 ] || die "internal: MBR entries 2-4 are not empty"
    [ "$(read_le "$image" $(( part_offset + 510 )) 2)" -eq $(( 0xaa55 )) ] || die "internal: no FAT boot sector at 1 MiB"
    [ "$(dd if="$image" bs=1 skip=$(( part_offset + 82 )) count=8 status=none)" = "FAT32   " ] \
        || die "internal: the partition is not FAT32"
    [ "$(read_le "$image" $(( part_offset + 28 )) 4)" -eq "$PART_START_SECTOR" ] \
        || die "internal: the FAT's hidden-sector count does not match the partition start"
}

main() {
    local kernel="${1:-$REPO_ROOT/target/kernel8.img}"

    # 1. Inputs and tools.
    local mkfs_vfat
    mkfs_vfat="$(find_mkfs_vfat)"
    if ! have mcopy || ! have mdir; then die "mtools is not installed; run scripts/setup.sh"; fi
    [ -s "$kernel" ] || die "no kernel image at $kernel; build it with 'make image'"
    [ -f "$DTB" ] || die "$DTB is missing; it is committed (scripts/fetch-rpi-dtb.sh recreates it)"
    [ -f "$CONFIG_TXT" ] || die "$CONFIG_TXT is missing"
    [ -f "$CMDLINE_TXT" ] || die "$CMDLINE_TXT is missing"
    if [ "$(od -An -tx1 -j56 -N4 "$kernel" | tr -d ' \n')" != "41524d64" ]; then
        say "warning: $kernel has no arm64 Image header (\"ARM\\x64\" at byte 56); the firmware loads it at 0x200000 all the same"
    fi
    [ "$(od -An -tx1 -N4 "$DTB" | tr -d ' \n')" = "d00dfeed" ] || die "$DTB is not a flattened device tree"

    # 2. Firmware: fetched once, checked every time; exit 3 passes a skip through.
    local firmware_dir status=0
    firmware_dir="$("$REPO_ROOT/scripts/fetch-rpi-firmware.sh")" || status=$?
    if [ "$status" -eq "$EXIT_SKIP" ]; then
        printf 'mk-sdcard: skip: the Raspberry Pi firmware cannot be fetched, so no SD card image\n' >&2
        exit "$EXIT_SKIP"
    fi
    [ "$status" -eq 0 ] || die "fetching the Raspberry Pi firmware failed"

    # Source file -> name on the card.
    local -a sources=(
        "$kernel" "$CONFIG_TXT" "$CMDLINE_TXT" "$DTB"
        "$firmware_dir/start4.elf" "$firmware_dir/fixup4.dat" "$firmware_dir/LICENCE.raspi-firmware"
    )
    local -a names=(
        kernel8.img config.txt cmdline.txt bcm2711-rpi-4-b.dtb
        start4.elf fixup4.dat LICENCE.raspi-firmware
    )

    local total=0 i
    for i in "${!sources[@]}"; do
        total=$(( total + $(wc -c < "${sources[$i]}") ))
    done
    # FAT and directory overhead stay well under 2 MiB at this size.
    if [ "$total" -gt $(( (PART_SECTORS * SECTOR) - 2 * 1024 * 1024 )) ]; then
        die "the files need $total bytes, more than the ${DISK_MIB} MiB image holds; raise DISK_MIB"
    fi

    # 3. The FAT32 partition, as a file of its own.
    mkdir -p "$REPO_ROOT/target"
    local work
    work="$(mktemp -d "$REPO_ROOT/target/.sdcard.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: $work is local to main
    trap "rm -rf '$work'" EXIT
    export MTOOLS_SKIP_CHECK=1     # image files have no real disk geometry

    "$mkfs_vfat" -C -F 32 -S "$SECTOR" -s 1 -h "$PART_START_SECTOR" -n "$VOLUME_LABEL" \
        "$work/partition.img" $(( PART_SECTORS * SECTOR / 1024 )) >/dev/null \
        || die "mkfs.vfat failed"
    for i in "${!sources[@]}"; do
        mcopy -i "$work/partition.img" "${sources[$i]}" "::${names[$i]}" \
            || die "could not copy ${sources[$i]} into the image"
    done

    # 4. MBR + partition = the whole-disk image.
    write_disk_head "$work/head.img"
    cat "$work/head.img" "$work/partition.img" > "$work/sdcard.img"
    [ "$(wc -c < "$work/sdcard.img")" -eq $(( DISK_SECTORS * SECTOR )) ] \
        || die "internal: image size is not ${DISK_MIB} MiB"

    # 5. Check it the way the Pi's boot loader reads it: the partition entry in the MBR, the
    #    FAT boot sector where that entry points, then every file read back and compared.
    check_partition_table "$work/sdcard.img"
    for i in "${!names[@]}"; do
        mcopy -n -i "$work/sdcard.img@@$(( PART_START_SECTOR * SECTOR ))" "::${names[$i]}" "$work/readback" \
            || die "${names[$i]} is missing from the image"
        cmp -s "$work/readback" "${sources[$i]}" || die "${names[$i]} in the image differs from ${sources[$i]}"
        rm -f "$work/readback"
    done

    mv "$work/sdcard.img" "$OUTPUT"
    say "wrote ${OUTPUT#"$REPO_ROOT"/} (${DISK_MIB} MiB: MBR, partition 1 = FAT32 type 0x0c at 1 MiB, $PART_SECTORS sectors)"
    say "files on the boot partition (mdir -i ${OUTPUT#"$REPO_ROOT"/}@@1M ::):"
    mdir -i "$OUTPUT@@1M" ::
    say "write it with: make flash DEVICE=/dev/sdX   (or: scripts/flash.sh /dev/sdX)"
}

main "$@"
