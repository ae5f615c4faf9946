#!/usr/bin/env bash
# `make bench`: Ferrite's benchmarks in exact guest instructions, beside Linux 6.1.
#
#   scripts/bench.sh [--no-host] [--out DIR]
#     --no-host   skip the host micro-benchmarks of the pure core (benches/core.rs)
#     --out DIR   where BENCHMARKS.md, benchmarks.svg and benchmarks.tsv go (default: docs)
#
# Builds the release kernel and the benchmark initrd: a cpio archive of bin/bench
# (tests/user/src/bin/bench.rs), bin/bench-child (the other process of the cross-process
# figures) and bin/exit0 (a 3-instruction program, scripts/mk-test-elf.py). Boots it on
# QEMU virt with -icount shift=0,sleep=off (each guest instruction is 1 ns of virtual
# time, so the counter gives exact instruction counts) on -smp 1 (every figure), -smp 2
# (the cross-CPU round trips) and -smp 4 (reset to the first EL0 instruction), each
# twice, and fails unless the two runs print identical figures. One more -smp 4 boot
# without -icount (MTTCG, wall-clock) gives the scaling figure. scripts/bench-report.py
# prints the table and writes the Markdown, the SVG plot and the TSV of the figures; it
# fails (and writes nothing) when a figure misses its target by more than it did in the
# last committed docs/benchmarks.tsv, unless BENCH_ACCEPT_REGRESSION=1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

host_benches=1 out=docs
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-host) host_benches=0; shift ;;
        --out) out=$2; shift 2 ;;
        *) sed -n '2,18p' "$0" >&2; exit 2 ;;
    esac
done

QEMU=${QEMU:-qemu-system-aarch64}
TARGET=aarch64-unknown-none-softfloat
image=target/kernel8.img
bins=tests/user/target/$TARGET/release

make --no-print-directory image >&2
(cd tests/user && cargo build --release --quiet --bin bench --bin bench-child) >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/mk-test-elf.py" exit0 "$work/exit0"
initrd=$work/bench.cpio
python3 "$here/mkcpio.py" "$initrd" "bin/bench=$bins/bench" "bin/bench-child=$bins/bench-child" \
    "bin/exit0=$work/exit0"

# One boot: `boot NAME SMP ICOUNT APPEND`; keeps the BENCH (and SCALE) lines, CRs
# dropped, in $work/NAME; prints the whole log on failure.
boot() {
    local name=$1 smp=$2 icount=$3 append=$4 log=$work/log.$1 status
    local accel=(-icount shift=0,sleep=off)
    [[ $icount == no ]] && accel=(-accel tcg,thread=multi)
    set +e
    timeout "${TIMEOUT:-600}" "$QEMU" -M virt -cpu cortex-a72 -m 1G -smp "$smp" -nographic -nic none \
        -semihosting "${accel[@]}" -kernel "$image" -initrd "$initrd" -append "init=bin/bench $append" \
        </dev/null >"$log" 2>&1
    status=$?
    set -e
    tr -d '\r' <"$log" | grep -E '^(BENCH|SCALE) ' >"$work/$name" || true
    if [[ $status -ne 0 ]] || ! grep -qx 'BENCH done' "$work/$name"; then
        cat "$log" >&2
        echo "bench.sh: FAIL: boot $name did not finish (QEMU status $status)" >&2
        exit 1
    fi
}

for run in 1 2; do
    echo "bench.sh: run $run of 2: -smp 1, -smp 2, -smp 4" >&2
    boot "smp1.$run" 1 yes ""
    boot "smp2.$run" 2 yes "only=futex_pingpong,channel_pingpong"
    boot "smp4.$run" 4 yes "only=none"
    cat "$work/smp1.$run" "$work/smp2.$run" "$work/smp4.$run" | grep -v -e '^BENCH done$' -e '^BENCH cntfrq' \
        >"$work/bench.$run"
    grep '^BENCH cntfrq' "$work/smp1.$run" >>"$work/bench.$run"
done
if ! diff -u "$work/bench.1" "$work/bench.2" >&2; then
    echo "bench.sh: FAIL: the two runs differ; the figures are not exact" >&2
    exit 1
fi
echo "bench.sh: the two runs print identical figures" >&2
echo "bench.sh: MTTCG scaling boot (-smp 4, no -icount, wall-clock)" >&2
boot scale 4 no "only=scale scale"

host_args=()
if [[ $host_benches -eq 1 ]]; then
    echo "bench.sh: host micro-benchmarks (benches/core.rs)" >&2
    (cd benches/host && CARGO_TARGET_DIR="$root/target/host-benches" cargo bench --quiet --bench core) \
        | grep '^HOSTBENCH ' >"$work/host" || true
    host_args=(--host "$work/host")
fi

# The regression gate's baseline: the figures of the last committed report.
git show "HEAD:$out/benchmarks.tsv" >"$work/baseline.tsv" 2>/dev/null || : >"$work/baseline.tsv"
accept=()
[[ ${BENCH_ACCEPT_REGRESSION:-0} == 1 ]] && accept=(--accept-regression)

mkdir -p "$out"
python3 "$here/bench-report.py" "$work/bench.1" \
    --image "$image" \
    --qemu-version "$("$QEMU" --version | head -n 1)" \
    --scale "$work/scale" --baseline "$work/baseline.tsv" "${accept[@]}" \
    --markdown "$out/BENCHMARKS.md" --svg "$out/benchmarks.svg" --tsv "$out/benchmarks.tsv" "${host_args[@]}"
