#!/usr/bin/env bash
# `make bench`: Ferrite's benchmarks in exact guest instructions, beside Linux 6.1.
#
#   scripts/bench.sh [--no-host] [--out DIR]
#     --no-host   skip the host micro-benchmarks of the pure core (benches/core.rs)
#     --out DIR   where BENCHMARKS.md and benchmarks.svg go (default: docs)
#
# Builds the release kernel and the EL0 benchmark program (tests/user/src/bin/bench.rs),
# boots it twice on QEMU virt with -icount shift=0,sleep=off (each guest instruction is
# 1 ns of virtual time, so the counter gives exact instruction counts), fails unless the
# two runs print identical figures, and has scripts/bench-report.py print the table and
# write the Markdown and the SVG plot.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

host_benches=1 out=docs
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-host) host_benches=0; shift ;;
        --out) out=$2; shift 2 ;;
        *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done

QEMU=${QEMU:-qemu-system-aarch64}
TARGET=aarch64-unknown-none-softfloat
image=target/kernel8.img
program=tests/user/target/$TARGET/release/bench

make --no-print-directory image >&2
(cd tests/user && cargo build --release --quiet --bin bench) >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run: only the BENCH lines, CRs dropped; the whole log on failure.
run_once() {
    local log=$work/log.$1 status
    set +e
    timeout "${TIMEOUT:-600}" "$QEMU" -M virt -cpu cortex-a72 -m 1G -nographic -nic none \
        -semihosting -icount shift=0,sleep=off -kernel "$image" -initrd "$program" \
        </dev/null >"$log" 2>&1
    status=$?
    set -e
    tr -d '\r' <"$log" | grep '^BENCH ' >"$work/bench.$1" || true
    if [[ $status -ne 0 ]] || ! grep -qx 'BENCH done' "$work/bench.$1"; then
        cat "$log" >&2
        echo "bench.sh: FAIL: run $1 did not finish (QEMU status $status)" >&2
        exit 1
    fi
}

echo "bench.sh: run 1 of 2" >&2
run_once 1
echo "bench.sh: run 2 of 2" >&2
run_once 2
if ! diff -u "$work/bench.1" "$work/bench.2" >&2; then
    echo "bench.sh: FAIL: the two runs differ; the figures are not exact" >&2
    exit 1
fi
echo "bench.sh: the two runs print identical figures" >&2

host_args=()
if [[ $host_benches -eq 1 ]]; then
    echo "bench.sh: host micro-benchmarks (benches/core.rs)" >&2
    (cd benches/host && CARGO_TARGET_DIR="$root/target/host-benches" cargo bench --quiet --bench core) \
        | grep '^HOSTBENCH ' >"$work/host" || true
    host_args=(--host "$work/host")
fi

mkdir -p "$out"
python3 "$here/bench-report.py" "$work/bench.1" \
    --image "$image" \
    --qemu-version "$("$QEMU" --version | head -n 1)" \
    --markdown "$out/BENCHMARKS.md" --svg "$out/benchmarks.svg" "${host_args[@]}"
