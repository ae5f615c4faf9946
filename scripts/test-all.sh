#!/usr/bin/env bash
# `make test`: every level, one after another, then one line with the totals.
#
#   0. lint gates: fmt --check, clippy -D warnings (make lint)
#   1. host unit tests of the pure core          (make test-host)
#   2. kernel test images booted in QEMU           (make test-kernel)
#      and the MMIO accessor check                 (make check-mmio)
#   3. EL0 programs on the boot matrix, isolation, bad initrd, fuzz (make test-system)
#   3b. user space: pure parts on the host, init and the demos, a scripted shell
#      session over the serial console on virt -smp 4 and raspi4b (make test-userspace)
#   4. Ferrite as a KVM guest, nested under QEMU TCG (make test-kvm)
#   5. the Raspberry Pi SD card image              (make test-sdcard)
#
# A level that fails still lets the others run; the exit status is 0 only when every
# test of every level passed. The last line reads "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

total_passed=0 total_failed=0 broken=()
level() {
    local name=$1 target=$2 log status passed failed
    log=$(mktemp)
    echo "== $name (make $target)"
    make --no-print-directory "$target" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    # libtest: "test result: ok. 12 passed; 0 failed; ..."; ours: "12 passed, 0 failed".
    # The scripts of the MMIO and KVM levels end with one such line for the whole level
    # (a failure there quotes the guest's own summaries): only their last line counts.
    local counts
    counts=$(tr -d '\r' <"$log" | grep -Eo '[0-9]+ passed[;,] [0-9]+ failed')
    [[ $target == check-mmio || $target == test-kvm ]] && counts=$(tail -n 1 <<<"$counts")
    passed=$(awk '{p += $1} END {print p + 0}' <<<"$counts")
    failed=$(awk '{f += $3} END {print f + 0}' <<<"$counts")
    if [[ $status -ne 0 && $failed -eq 0 ]]; then
        failed=1 # the level broke before it could count (a build error, a crash)
    fi
    if [[ $target == test-sdcard ]]; then
        if [[ $status -eq 0 ]]; then passed=1; else failed=1; fi
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    [[ $status -ne 0 ]] && broken+=("$name")
    rm -f "$log"
    echo
}

level "lint gates" lint
level "host unit tests" test-host
level "kernel tests in QEMU" test-kernel
level "MMIO accessors (one ldr/str per register access)" check-mmio
level "system tests (EL0 programs, boot matrix)" test-system
level "user space (init, shell session, demos)" test-userspace
level "Ferrite as a KVM guest (nested under QEMU TCG)" test-kvm
level "Raspberry Pi SD card image" test-sdcard

for b in "${broken[@]}"; do echo "level failed: $b"; done
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 && ${#broken[@]} -eq 0 ]]
