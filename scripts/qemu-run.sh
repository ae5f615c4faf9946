#!/usr/bin/env bash
# Boots a kernel image on QEMU and checks how it ended.
#
#   scripts/qemu-run.sh [options] KERNEL_IMAGE
#     --machine NAME      a preset from scripts/machines.sh (default: virt)
#     --initrd FILE       the user program to boot
#     --append TEXT       the kernel command line
#     --dtb FILE          hand QEMU this device tree (-dtb) instead of its own
#     --status N          the QEMU exit status expected (default 0)
#     --expect REGEX      a line the output must contain (may repeat)
#     --reject REGEX      a line the output must not contain (may repeat)
#     --summary           the output must end its tests with "N passed, 0 failed"
#     --timeout SECONDS   default 60 (a hang gives status 124)
#     --quiet             print the output only when the check fails
#     --input TEXT        type TEXT and a carriage return on the console one second
#                         after start (stdin is otherwise empty)
#
# Prints `ok` or `FAILED` with the reason, and exits 0 only when every check held.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/machines.sh
source "$here/machines.sh"

machine=virt initrd="" append="" dtb="" want_status=0 timeout_s=60 quiet=0 summary=0 input=""
expects=() rejects=()
while [[ $# -gt 1 ]]; do
    case "$1" in
        --machine) machine=$2; shift 2 ;;
        --initrd) initrd=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --dtb) dtb=$2; shift 2 ;;
        --status) want_status=$2; shift 2 ;;
        --expect) expects+=("$2"); shift 2 ;;
        --reject) rejects+=("$2"); shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --summary) summary=1; shift ;;
        --quiet) quiet=1; shift ;;
        --input) input=$2; shift 2 ;;
        *) echo "qemu-run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
kernel=${1:?usage: qemu-run.sh [options] KERNEL_IMAGE}
read -r -a margs <<<"$(machine_args "$machine")" || exit 2
args=("${margs[@]}" -nographic -nic none -semihosting -kernel "$kernel")
[[ -n $initrd ]] && args+=(-initrd "$initrd")
[[ -n $append ]] && args+=(-append "$append")
[[ -n $dtb ]] && args+=(-dtb "$dtb")

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [[ -n $input ]]; then
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    # The feeder ends up as a `sleep` that keeps stdin open; it is stopped afterwards.
    (sleep 1; printf '%s\r' "$input"; exec sleep "$timeout_s") >"$fifo" &
    feeder=$!
    timeout "$timeout_s" "${QEMU:-qemu-system-aarch64}" "${args[@]}" <"$fifo" >"$log" 2>&1
    status=$?
    kill "$feeder" 2>/dev/null
    rm -f "$fifo"
else
    timeout "$timeout_s" "${QEMU:-qemu-system-aarch64}" "${args[@]}" </dev/null >"$log" 2>&1
    status=$?
fi
tr -d '\r' <"$log" >"$log.clean" && mv "$log.clean" "$log"

why=""
[[ $status -ne $want_status ]] && why="QEMU exited with $status, expected $want_status"
for re in "${expects[@]}"; do
    [[ -z $why ]] && ! grep -Eq -- "$re" "$log" && why="no line matching /$re/"
done
for re in "${rejects[@]}"; do
    [[ -z $why ]] && grep -Eq -- "$re" "$log" && why="a line matching /$re/: $(grep -Em1 -- "$re" "$log")"
done
if [[ -z $why && $summary -eq 1 ]] && ! grep -Eq '^[0-9]+ passed, 0 failed$' "$log"; then
    why="no line 'N passed, 0 failed'"
fi
if [[ -n $why ]]; then
    cat "$log"
    echo "FAILED: $machine: $why"
    exit 1
fi
[[ $quiet -eq 0 ]] && cat "$log"
exit 0
