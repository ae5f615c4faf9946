#!/usr/bin/env bash
# Where one benchmark operation's instructions go, function by function.
#
#   scripts/bench-profile.sh NAME [OPS] [SMP]
#
# Boots the benchmark initrd of scripts/bench.sh twice with `only=NAME` and `ops=OPS`
# (default 20) and `ops=2*OPS`, tracing with QEMU's `-d in_asm,exec,nochain`, and has
# scripts/bench-profile.py print the difference per operation and function (kernel and
# EL0), so set-up and shut-down cancel out. Build first (`make image user`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
name=${1:?usage: bench-profile.sh NAME [OPS] [SMP]}
ops=${2:-20}
smp=${3:-1}
bins=tests/user/target/aarch64-unknown-none-softfloat/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/mk-test-elf.py" exit0 "$work/exit0"
python3 "$here/mkcpio.py" "$work/bench.cpio" "bin/bench=$bins/bench" "bin/bench-child=$bins/bench-child" \
    "bin/exit0=$work/exit0"
for n in "$ops" $((2 * ops)); do
    timeout 600 "${QEMU:-qemu-system-aarch64}" -M virt -cpu cortex-a72 -m 1G -smp "$smp" -nographic -nic none \
        -semihosting -icount shift=0,sleep=off -kernel target/kernel8.img -initrd "$work/bench.cpio" \
        -append "init=bin/bench only=$name ops=$n" -d in_asm,exec,nochain -D "$work/trace.$n" \
        </dev/null >"$work/out.$n" 2>&1 || { cat "$work/out.$n" >&2; exit 1; }
    grep '^BENCH' "$work/out.$n" | tr -d '\r' | grep -v -e cntfrq -e done >&2 || true
done
python3 "$here/bench-profile.py" "$work/trace.$ops" "$work/trace.$((2 * ops))" "$ops" \
    --elf target/aarch64-unknown-none-softfloat/release/ferrite --elf "$bins/bench" --elf "$bins/bench-child"
