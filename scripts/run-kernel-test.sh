#!/usr/bin/env bash
# Cargo runner for the kernel test images (tests/kernel_*.rs; see .cargo/config.toml):
# turns the test ELF into a raw arm64 Image and boots it in QEMU, which exits with the
# status the test runner passes to semihosting (0 all passed, 1 a test failed, 101 a
# kernel panic; images named kernel_panic_* must end in one). A hung image is killed after KERNEL_TEST_TIMEOUT seconds (default 60)
# and the script exits 124, as timeout(1) does.
#
#   scripts/run-kernel-test.sh ELF [ignored libtest arguments...]
#
# Environment:
#   MACHINE              QEMU machine arguments
#                        (default: -M virt -cpu cortex-a72 -m 512M)
#   QEMU                 the QEMU binary (default: qemu-system-aarch64)
#   KERNEL_TEST_TIMEOUT  seconds before the run is killed (default: 60)
#   KERNEL_TEST_CMDLINE  the kernel command line (default: lockcheck, as every test run
#                        passes: the flag is final at boot, where the kernel patches the
#                        sites that test it, so an image cannot turn it on later)
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 TEST_ELF [args...]" >&2
    exit 2
fi
elf=$1
shift
# Cargo passes libtest's arguments (filters, --nocapture, ...); the in-kernel runner
# takes none, so they are ignored.

qemu=${QEMU:-qemu-system-aarch64}
timeout_s=${KERNEL_TEST_TIMEOUT:-60}
cmdline=${KERNEL_TEST_CMDLINE-lockcheck}
read -r -a machine <<< "${MACHINE:--M virt -cpu cortex-a72 -m 512M}"

host=$(rustc -vV | sed -n 's/^host: //p')
objcopy="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-objcopy"
if [[ ! -x $objcopy ]]; then
    echo "$0: $objcopy not found (rustup component add llvm-tools)" >&2
    exit 2
fi

image="$elf.img"
"$objcopy" -O binary "$elf" "$image"

name=$(basename "$elf")
echo "kernel test: $name on ${machine[*]} (timeout ${timeout_s}s)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
timeout --foreground "$timeout_s" \
    "$qemu" "${machine[@]}" -nographic -nic none -semihosting -kernel "$image" -append "$cmdline" \
    </dev/null | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -eq 124 ]]; then
    echo "kernel test: $name timed out after ${timeout_s}s" >&2
fi
# Images named kernel_panic_* must end in a kernel panic: status 101 and a line
# "kernel panic: <what they announced with 'expect kernel panic: <what>'>".
if [[ $name == kernel_panic_* ]]; then
    expected=$(tr -d '\r' <"$log" | sed -n 's/^expect kernel panic: //p' | head -n 1)
    if [[ $status -eq 101 && -n $expected ]] && tr -d '\r' <"$log" | grep -qF "kernel panic: $expected"; then
        echo "test result: ok. 1 passed, 0 failed (the kernel panicked as expected, status 101)"
        exit 0
    fi
    echo "test result: FAILED. 0 passed, 1 failed (wanted status 101 and 'kernel panic: $expected'; got status $status)"
    exit 1
fi
exit "$status"
