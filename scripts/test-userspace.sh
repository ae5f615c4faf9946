#!/usr/bin/env bash
# `make test-userspace`: the user space of user/ (issue 12).
#
#   host tests of its pure parts (ELF validation and its mutation test, cpio, argument
#   block, bootstrap message, line editor): cargo test -p pure on the host;
#   init with run=: every demo on virt -smp 4, a faulting child reported, status 0/1;
#   the scripted shell session (scripts/shell-session.py) typed over the serial console
#   on virt -smp 4 and on raspi4b.
#
# Ends with "N passed, M failed" lines that make test counts.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/machines.sh
source scripts/machines.sh
kernel=${1:-target/kernel8.img}
initrd=${2:-target/initrd.cpio}
host=$(rustc -vV | sed -n 's/^host: //p')
status=0

(cd user && cargo test --quiet -p pure --target "$host") || status=1

passed=0 failed=0
run_case() {
    local name=$1
    shift
    printf 'test userspace/%s ... ' "$name"
    if out=$(scripts/qemu-run.sh --quiet --timeout 60 --initrd "$initrd" "$@" "$kernel" 2>&1); then
        echo ok
        passed=$((passed + 1))
    else
        echo FAILED
        printf '%s\n' "$out" | tail -n 40 | sed 's/^/    | /'
        failed=$((failed + 1))
    fi
}
run_case init-runs-the-demos --machine virt-smp4 --append "lockcheck run=hello:a:b,demo-pingpong:200,demo-vmo,demo-primes:200000" \
    --expect 'Hello from hello! I got 2 argument' --expect 'init: demo-pingpong exited with code 0' \
    --expect 'child \(pid [0-9]+\) reads from shared memory: "hello from the parent process"' \
    --expect 'init: demo-vmo exited with code 0' --expect 'CPUs busy on average' \
    --expect 'init: demo-primes exited with code 0' --status 0
run_case init-reports-a-fault --machine virt-smp4 --append "lockcheck run=demo-fault,demo-fault:stack,hello" \
    --expect 'user fault: .*name=demo-fault' --expect 'init: demo-fault was killed by a fault' \
    --expect 'recursing until the stack overflows' --expect 'init: demo-fault was killed by a fault' \
    --expect 'init: hello exited with code 0' --status 1
run_case init-missing-program --machine virt --append "run=nosuch" --expect 'init: cannot start nosuch: no such program' --status 1
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]] || status=1

for machine in virt-smp4 rpi4; do
    echo "shell session on $machine:"
    read -r -a margs <<<"$(machine_args "$machine")"
    python3 scripts/shell-session.py "$kernel" "$initrd" "${margs[@]}" -append lockcheck || status=1
done
exit $status
