#!/bin/sh
# Regenerates the QEMU `virt` device-tree fixtures in tests/fixtures/dtb/.
#
# Each fixture is the exact blob QEMU would hand a kernel (`dumpdtb=` writes it and
# exits before any guest code runs). `dtb-randomness=off` drops the kaslr-seed and
# rng-seed properties so the output is byte-for-byte reproducible for a given QEMU
# version. The blobs are 1 MiB because QEMU sets the header's totalsize to 1 MiB;
# they are kept as dumped so tests see what the kernel sees.
#
# Usage: scripts/dump-dtbs.sh [OUTPUT_DIR]   (default tests/fixtures/dtb)
# Needs: qemu-system-aarch64 (fixtures were made with 10.0.2).
set -eu

QEMU="${QEMU:-qemu-system-aarch64}"
repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
outdir="${1:-$repo_root/tests/fixtures/dtb}"

command -v "$QEMU" >/dev/null 2>&1 || {
    echo "dump-dtbs: '$QEMU' is required but not installed" >&2
    exit 1
}
mkdir -p "$outdir"

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT INT TERM

# A 4 KiB stand-in kernel and initrd: QEMU only accepts -initrd/-append together
# with -kernel, and only their placement (not their contents) reaches the tree.
head -c 4096 /dev/zero >"$workdir/kernel.bin"
head -c 4096 /dev/zero >"$workdir/initrd.img"

# dump NAME MACHINE_OPTIONS [EXTRA QEMU ARGS...]
dump() {
    name=$1
    machine_opts=$2
    shift 2
    file="$outdir/virt-$name.dtb"
    "$QEMU" -M "virt${machine_opts},dumpdtb=$file,dtb-randomness=off" \
        -cpu cortex-a72 -nographic -nic none "$@"
    echo "dump-dtbs: wrote $file"
}

dump default     ""                   -m 512M
dump smp4        ""                   -m 512M -smp 4
dump mem2g       ""                   -m 2G
dump gicv3       ",gic-version=3"     -m 512M
dump el2         ",virtualization=on" -m 512M
dump secure      ",secure=on"         -m 512M
dump initrd      ""                   -m 512M -kernel "$workdir/kernel.bin" \
    -initrd "$workdir/initrd.img" -append "console=ttyAMA0 loglevel=debug"

"$QEMU" --version | head -n 1
