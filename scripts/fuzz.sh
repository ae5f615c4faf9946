#!/usr/bin/env bash
# `make fuzz`: the EL0 syscall fuzzer (tests/user/src/bin/fuzz.rs) for many calls,
# one QEMU per seed, as many at a time as there are CPUs. Each run checks every status
# against what Zircon could return, keeps a model of its handles, and at the end closes
# everything and compares KMEM_STATS free_bytes with its start.
#
#   scripts/fuzz.sh KERNEL_IMAGE FUZZ_ELF
#   env: CALLS (total, default 10000000), SEEDS (default "1 2 ... one per CPU"),
#        MACHINE (a preset of scripts/machines.sh, default virt), TIMEOUT (s per run)
#
# Prints per-seed results, the totals, and "N passed, M failed" (one test per seed).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/machines.sh
source "$here/machines.sh"
kernel=${1:?usage: fuzz.sh KERNEL_IMAGE FUZZ_ELF}
elf=${2:?usage: fuzz.sh KERNEL_IMAGE FUZZ_ELF}
machine=${MACHINE:-virt}
cpus=$(nproc 2>/dev/null || echo 2)
read -r -a seeds <<<"${SEEDS:-$(seq -s ' ' 1 "$cpus")}"
calls=${CALLS:-10000000}
per_seed=$(( (calls + ${#seeds[@]} - 1) / ${#seeds[@]} ))
read -r -a margs <<<"$(machine_args "$machine")"
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

echo "fuzz: $calls calls on $machine, seeds ${seeds[*]} ($per_seed each, $cpus at a time)"
started=$(date +%s)
for seed in "${seeds[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $cpus ]]; do wait -n; done
    (
        timeout "${TIMEOUT:-7200}" "${QEMU:-qemu-system-aarch64}" "${margs[@]}" -nographic -nic none \
            -semihosting -kernel "$kernel" -initrd "$elf" \
            -append "seed=$seed calls=$per_seed $(machine_test_args "$machine")" \
            </dev/null >"$logdir/$seed.log" 2>&1
        echo "exit=$?" >>"$logdir/$seed.log"
    ) &
done
wait

passed=0 failed=0 total_calls=0 surprises=0
for seed in "${seeds[@]}"; do
    log="$logdir/$seed.log"
    tr -d '\r' <"$log" >"$log.clean"
    made=$(sed -n 's/^fuzz: \([0-9]*\) calls made, \([0-9]*\) surprises.*/\1/p' "$log.clean" | tail -1)
    odd=$(sed -n 's/^fuzz: \([0-9]*\) calls made, \([0-9]*\) surprises.*/\2/p' "$log.clean" | tail -1)
    status=$(sed -n 's/^exit=//p' "$log.clean" | tail -1)
    total_calls=$((total_calls + ${made:-0}))
    surprises=$((surprises + ${odd:-0}))
    # After closing everything it made, the process holds only the two handles it was
    # born with (root VMAR, root resource), and once it is gone no VMO is left.
    leftovers=$(grep -Eo 'still held [0-9]+ handles .*; [0-9]+ VMOs remain' "$log.clean" | tail -1)
    echo "    seed $seed: at exit the process $leftovers"
    if [[ $status == 0 ]] && grep -q '^1 passed, 0 failed$' "$log.clean" \
        && [[ $leftovers =~ ^still\ held\ 2\ handles.*\ 0\ VMOs\ remain$ ]]; then
        echo "test fuzz/seed-$seed ... ok"
        passed=$((passed + 1))
    else
        echo "test fuzz/seed-$seed ... FAILED (QEMU status $status)"
        grep -E 'surprise|kernel panic|user fault|repro' "$log.clean" | head -20 | sed 's/^/    | /'
        tail -n 5 "$log.clean" | sed 's/^/    | /'
        failed=$((failed + 1))
    fi
    grep -E '^fuzz: (calls per status|free_bytes)' "$log.clean" | sed "s/^/    seed $seed: /"
done
panics=$(cat "$logdir"/*.log.clean | grep -c '^kernel panic:' || true)
echo
echo "fuzz totals: $total_calls calls, $surprises surprises, $panics kernel panics, $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
