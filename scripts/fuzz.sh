#!/usr/bin/env bash
# `make fuzz`: the EL0 syscall fuzzers for many calls.
#
#  - cfuzz (tests/user/src/bin/cfuzz.rs), the concurrent fuzzer: worker processes and
#    threads on all CPUs of `-smp 4`, each seed booted twice, once under MTTCG
#    (`-accel tcg,thread=multi`, real parallelism, real-time clock) and once under
#    `-icount shift=0,sleep=off` (one host thread, virtual time); it checks every status
#    against its model and, at the end, KMEM free bytes, live objects per type and its
#    own handle counts against the baseline taken after its warm-up round.
#  - fuzz (tests/user/src/bin/fuzz.rs), the single-threaded ABI v1 fuzzer, one boot per
#    seed on one CPU.
#
#   scripts/fuzz.sh KERNEL_IMAGE USER_BIN_DIR
#   env: CALLS   total calls of each fuzzer (default 10000000), split over its runs
#        SEEDS   default "1 2 ... one per CPU"
#        FUZZERS default "cfuzz fuzz"
#        MODES   cfuzz's QEMU modes, default "mttcg icount"
#        ROUNDS  cfuzz rounds per run (default 8; one warm-up round comes on top)
#        JOBS    QEMUs at a time (default: host CPUs / 2 for cfuzz, host CPUs for fuzz)
#        TIMEOUT seconds per run (default 7200; a run killed by it is a hang)
#        LOGDIR  keep every run's console log there (default: a temporary directory)
#
# Prints one test per run, the totals (calls, surprises, kernel panics, hangs, leaked
# frames, objects and handles), and "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/machines.sh
source "$here/machines.sh"
kernel=${1:?usage: fuzz.sh KERNEL_IMAGE USER_BIN_DIR}
bins=${2:?usage: fuzz.sh KERNEL_IMAGE USER_BIN_DIR}
[[ -f $bins ]] && bins=$(dirname "$bins") # the old form: the fuzz ELF itself
cpus=$(nproc 2>/dev/null || echo 2)
read -r -a seeds <<<"${SEEDS:-$(seq -s ' ' 1 "$cpus")}"
read -r -a fuzzers <<<"${FUZZERS:-cfuzz fuzz}"
read -r -a modes <<<"${MODES:-mttcg icount}"
calls=${CALLS:-10000000}
rounds=${ROUNDS:-8}
if [[ -n ${LOGDIR:-} ]]; then
    logdir=$LOGDIR
    mkdir -p "$logdir"
else
    logdir=$(mktemp -d)
    trap 'rm -rf "$logdir"' EXIT
fi
started=$(date +%s)
passed=0 failed=0
t_calls=0 t_surprises=0 t_corrupted=0 t_panics=0 t_hangs=0 t_bytes=0 t_objects=0 t_handles=0

# boot NAME JOBS QEMU-ARGS...: one QEMU in the background, its log in $logdir/NAME.log.
boot() {
    local name=$1 jobs=$2
    shift 2
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n; done
    (
        timeout "${TIMEOUT:-7200}" "${QEMU:-qemu-system-aarch64}" "$@" -nographic -nic none -semihosting \
            -kernel "$kernel" </dev/null >"$logdir/$name.log" 2>&1
        echo "exit=$?" >>"$logdir/$name.log"
    ) &
}

field() { sed -n "s/.*$1=\\(-\\{0,1\\}[0-9]*\\).*/\\1/p" <<<"$2" | tail -1; }

for fuzzer in "${fuzzers[@]}"; do
    if [[ $fuzzer == cfuzz ]]; then
        runs=$((${#seeds[@]} * ${#modes[@]}))
        per_run=$(((calls + runs - 1) / runs))
        jobs=${JOBS:-$(((cpus + 1) / 2))}
        echo "cfuzz: $calls calls on virt -smp 4, seeds ${seeds[*]}, modes ${modes[*]} ($per_run per run, $rounds rounds + a warm-up, $jobs at a time)"
        for seed in "${seeds[@]}"; do
            for mode in "${modes[@]}"; do
                case $mode in
                    mttcg) accel=(-accel tcg,thread=multi) ;;
                    icount) accel=(-icount shift=0,sleep=off) ;;
                    *) echo "fuzz.sh: unknown mode $mode" >&2; exit 2 ;;
                esac
                boot "cfuzz-$seed-$mode" "$jobs" -M virt -cpu cortex-a72 -smp 4 -m 512M "${accel[@]}" \
                    -initrd "$bins/cfuzz" -append "seed=$seed calls=$per_run rounds=$rounds lockcheck testinfo"
            done
        done
    else
        per_run=$(((calls + ${#seeds[@]} - 1) / ${#seeds[@]}))
        echo "fuzz: $calls calls on virt, seeds ${seeds[*]} ($per_run each, ${JOBS:-$cpus} at a time)"
        read -r -a margs <<<"$(machine_args virt)"
        for seed in "${seeds[@]}"; do
            boot "fuzz-$seed" "${JOBS:-$cpus}" "${margs[@]}" -initrd "$bins/fuzz" \
                -append "seed=$seed calls=$per_run $(machine_test_args virt)"
        done
    fi
    wait
done

for log in "$logdir"/*.log; do
    name=$(basename "$log" .log)
    tr -d '\r' <"$log" >"$log.clean"
    status=$(sed -n 's/^exit=//p' "$log.clean" | tail -1)
    panics=$(grep -c '^kernel panic' "$log.clean")
    t_panics=$((t_panics + panics))
    [[ $status == 124 ]] && t_hangs=$((t_hangs + 1))
    ok=0
    if [[ $name == cfuzz-* ]]; then
        totals=$(grep '^cfuzz: totals:' "$log.clean" | tail -1)
        leaked=$(grep '^cfuzz: leaked:' "$log.clean" | tail -1)
        made=$(field calls "$totals") odd=$(field surprises "$totals") hung=$(field hangs "$totals")
        t_calls=$((t_calls + ${made:-0})) t_surprises=$((t_surprises + ${odd:-0})) t_hangs=$((t_hangs + ${hung:-0}))
        bad=$(field corrupted "$totals")
        t_corrupted=$((t_corrupted + ${bad:-0}))
        bytes=$(field bytes "$leaked") objects=$(field objects "$leaked") handles=$(field handles "$leaked")
        t_bytes=$((t_bytes + ${bytes:-0})) t_objects=$((t_objects + ${objects:-0})) t_handles=$((t_handles + ${handles:-0}))
        if [[ $status == 0 ]] && grep -q '^1 passed, 0 failed$' "$log.clean" \
            && [[ $leaked == 'cfuzz: leaked: bytes=0 objects=0 handles=0' ]]; then
            ok=1
        fi
        summary="$totals"
    else
        made=$(sed -n 's/^fuzz: \([0-9]*\) calls made, \([0-9]*\) surprises.*/\1/p' "$log.clean" | tail -1)
        odd=$(sed -n 's/^fuzz: \([0-9]*\) calls made, \([0-9]*\) surprises.*/\2/p' "$log.clean" | tail -1)
        t_calls=$((t_calls + ${made:-0}))
        t_surprises=$((t_surprises + ${odd:-0}))
        # After closing everything it made, the process holds only the handles it was
        # born with, and once it is gone no VMO is left.
        leftovers=$(grep -Eo 'still held [0-9]+ handles .*; [0-9]+ VMOs remain' "$log.clean" | tail -1)
        if [[ $status == 0 ]] && grep -q '^1 passed, 0 failed$' "$log.clean" \
            && [[ $leftovers =~ ^still\ held\ [0-9]+\ handles.*\ 0\ VMOs\ remain$ ]]; then
            ok=1
        fi
        summary="$(grep -E '^fuzz: [0-9]+ calls made' "$log.clean" | tail -1); at exit the process $leftovers"
    fi
    if [[ $ok == 1 ]]; then
        echo "test fuzz/$name ... ok"
        passed=$((passed + 1))
    else
        echo "test fuzz/$name ... FAILED (QEMU status $status)"
        grep -E 'SURPRISE|HANG|CORRUPTED|kernel panic|did not finish|ended with|leaked|FAILED' "$log.clean" | head -20 | sed 's/^/    | /'
        tail -n 5 "$log.clean" | sed 's/^/    | /'
        failed=$((failed + 1))
    fi
    echo "    $summary"
    grep -E '^cfuzz: (leaked|free_bytes|live objects|calls per status|syscall numbers)' "$log.clean" | sed 's/^/    /'
done
# The calls per status over every cfuzz run.
by_status=$(cat "$logdir"/cfuzz-*.log.clean 2>/dev/null | sed -n 's/^cfuzz: calls per status://p' | tr ' ' '\n' \
    | awk -F= 'NF == 2 { n[$1] += $2; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
        END { for (i = 1; i <= k; i++) printf " %s=%.0f", order[i], n[order[i]] }')
[[ -n $by_status ]] && echo && echo "cfuzz calls per status:$by_status"
echo
echo "fuzz totals: $t_calls calls, $t_surprises surprises, $t_corrupted corrupted, $t_panics kernel panics, $t_hangs hangs, leaked $t_bytes bytes ($((t_bytes / 4096)) frames), $t_objects objects, $t_handles handles, $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
