#!/usr/bin/env bash
# `make test-kvm`: Ferrite as a real KVM guest, without an arm64 machine.
#
#   scripts/test-kvm.sh KERNEL_IMAGE USER_BIN_DIR
#   scripts/test-kvm.sh [--initrd FILE] [--append TEXT] [--gic 3|2] [--smp N] KERNEL_IMAGE
#
# The second form boots one program of your choice (any static ELF the kernel accepts as
# its initrd; none for the boot self-checks with --append selftest) under KVM the same
# way, prints its console and judges it like the runs below (a "N passed, 0 failed"
# line and the status-0 shutdown as the last line).
#
# QEMU TCG emulates an arm64 machine with EL2 (-M virt,virtualization=on,gic-version=3
# -cpu max -smp 2 -m 2G) and boots Debian 12's stock arm64 Linux on it; KVM comes up
# in that kernel (VHE). Its initramfs holds busybox-static, Debian's arm64
# qemu-system-aarch64 10.0 with its libraries, the Ferrite image and the EL0 test
# programs; its init (scripts/kvm-host-init.sh) boots Ferrite with
# `qemu-system-aarch64 -accel kvm -cpu host`, once per run below, and powers off.
#
#   boot/gicv3          -M virt,gic-version=3 (in-kernel vGICv3), no initrd, the boot self-checks
#   syscalls/gicv3      the syscall suite (tests/user syscalls), 1 vCPU
#   syscalls/gicv3-smp2 the same with 2 vCPUs
#   boot/gicv2, syscalls/gicv2, syscalls/gicv2-smp2
#                       -M virt,gic-version=2,kernel-irqchip=off: the host's (emulated)
#                       GICv3 has no GICv2 compatibility interface, so KVM cannot
#                       emulate a GICv2 in the kernel and QEMU does it in user space
#
# Under KVM there is no semihosting and QEMU always exits 0 (the kernel stops with PSCI
# SYSTEM_OFF), so each run is judged by its console: the last line must be the
# kernel's "shutting down (status 0)" line, and the tests' "N passed, 0 failed" line
# must be there. The Debian packages come from scripts/kvm-fetch.sh (pinned versions
# and SHA-256 sums, cached in ~/.cache/ferrite/kvm); the host kernel and the static
# part of the initramfs are cached there too.
#
# Environment: KVM_TIMEOUT (seconds for the whole nested boot, default 900),
# KVM_RUN_TIMEOUT (seconds before one hung Ferrite run is killed, default 300),
# KVM_VERBOSE=1 (print the whole console).
#
# Output reads like cargo test's and ends with "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage="usage: test-kvm.sh KERNEL_IMAGE USER_BIN_DIR, or test-kvm.sh [--initrd FILE] [--append TEXT] [--gic 3|2] [--smp N] KERNEL_IMAGE"
custom=0 custom_initrd="" custom_append="" custom_gic=3 custom_smp=1
while [[ $# -gt 0 && $1 == --* ]]; do
    [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }
    case $1 in
        --initrd) custom_initrd=$2 ;;
        --append) custom_append=$2 ;;
        --gic) custom_gic=$2 ;;
        --smp) custom_smp=$2 ;;
        *) echo "test-kvm.sh: unknown option $1; $usage" >&2; exit 2 ;;
    esac
    custom=1
    shift 2
done
kernel=${1:?$usage}
if [[ $custom -eq 0 ]]; then
    bins=${2:?$usage}
fi
outer_timeout=${KVM_TIMEOUT:-900}
run_timeout=${KVM_RUN_TIMEOUT:-300}
qemu=${QEMU:-qemu-system-aarch64}
start=$SECONDS
work="" stage=""
trap 'rm -rf ${work:+"$work"} ${stage:+"$stage"}' EXIT

# The runs: NAME|MACHINE|CPUS|INITRD|APPEND (read by kvm-host-init.sh), and what each must show.
test_args="mmio=0x9010000 ram=0x44000000"
gicv3="virt,gic-version=3"
gicv2="virt,gic-version=2,kernel-irqchip=off"
runs=(
    "boot/gicv3|$gicv3|1||loglevel=info selftest"
    "syscalls/gicv3|$gicv3|1|syscalls|$test_args"
    "syscalls/gicv3-smp2|$gicv3|2|syscalls|$test_args"
    "boot/gicv2|$gicv2|1||loglevel=info selftest"
    "syscalls/gicv2|$gicv2|1|syscalls|$test_args"
    "syscalls/gicv2-smp2|$gicv2|2|syscalls|$test_args"
)
if [[ $custom -eq 1 ]]; then
    case $custom_gic in
        3) machine=$gicv3 ;;
        2) machine=$gicv2 ;;
        *) echo "test-kvm.sh: --gic is 3 or 2" >&2; exit 2 ;;
    esac
    runs=("custom/gicv$custom_gic-smp$custom_smp|$machine|$custom_smp|${custom_initrd:+program}|$custom_append")
fi

passed=0 failed=0 failures=()
pass() {
    echo "test $1 ... ok"
    passed=$((passed + 1))
}
fail() {
    echo "test $1 ... FAILED: $2"
    failed=$((failed + 1))
    failures+=("$1")
}
finish() {
    echo
    for f in "${failures[@]}"; do echo "  failed: $f"; done
    echo "test-kvm: $((SECONDS - start)) s in all"
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
    exit
}

programs=("$kernel")
if [[ $custom -eq 1 ]]; then
    [[ -n $custom_initrd ]] && programs+=("$custom_initrd")
else
    programs+=("$bins/syscalls")
fi
for f in "${programs[@]}"; do
    [[ -f $f ]] || {
        fail kvm/setup "$f is missing (make image user)"
        finish
    }
done
for tool in cpio dpkg-deb sha256sum timeout "$qemu"; do
    command -v "$tool" >/dev/null || {
        fail kvm/setup "'$tool' is missing (scripts/setup.sh installs what the tests need)"
        finish
    }
done

# 1. The pinned Debian packages.
if ! pinned=$("$here/kvm-fetch.sh" --print-files); then
    fail kvm/packages "could not fetch the pinned Debian packages (see the kvm-fetch lines above)"
    finish
fi
mapfile -t pinned <<<"$pinned"
debs=$("$here/kvm-fetch.sh" --print-cache)
kernel_deb=$(printf '%s\n' "${pinned[@]}" | grep '/linux-image-[^/]*$' | head -n 1)

# 2. The KVM host: its kernel and the static part of its initramfs, cached per lock file.
host=$(rustc -vV | sed -n 's/^host: //p')
readobj="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-readobj"
base_format=1 # bump when the layout below changes
base_key=$( (
    echo "$base_format"
    cat "$here/kvm-packages.lock"
) | sha256sum | cut -c1-16)
cache_kvm=$(dirname "$debs")
base="$cache_kvm/base-$base_key"

build_base() {
    local tree ir deb lib dir found
    # Built beside the cache entry and renamed into place: concurrent runs cannot see
    # half an entry.
    stage=$(mktemp -d "$cache_kvm/build.XXXXXX") || return 1
    tree=$stage/tree ir=$stage/ir
    mkdir -p "$tree" "$ir"/{bin,sbin,usr/bin,usr/sbin,lib/aarch64-linux-gnu,proc,sys,dev,tmp,ferrite} "$stage/out"
    [[ -n $kernel_deb ]] || { echo "no linux-image package among the pinned ones" >&2; return 1; }
    dpkg-deb --fsys-tarfile "$kernel_deb" | tar -x -C "$stage" --wildcards './boot/vmlinuz-*' || return 1
    for deb in "${pinned[@]}"; do
        [[ $deb == "$kernel_deb" ]] || dpkg-deb -x "$deb" "$tree" || return 1
    done
    cp "$tree/bin/busybox" "$ir/bin/busybox" || return 1
    cp "$tree/usr/bin/qemu-system-aarch64" "$ir/usr/bin/" || return 1
    # The libraries qemu-system-aarch64 loads, by their DT_NEEDED names, transitively.
    local -a todo=("$ir/usr/bin/qemu-system-aarch64")
    local -A seen=()
    while [[ ${#todo[@]} -gt 0 ]]; do
        local file=${todo[0]}
        todo=("${todo[@]:1}")
        while read -r lib; do
            [[ -n $lib && -z ${seen[$lib]:-} ]] || continue
            seen[$lib]=1
            found=""
            for dir in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
                if [[ -e $tree/$dir/$lib ]]; then found=$tree/$dir/$lib; break; fi
            done
            [[ -n $found ]] || { echo "no pinned package provides $lib" >&2; return 1; }
            cp -L "$found" "$ir/lib/aarch64-linux-gnu/$lib" || return 1
            todo+=("$ir/lib/aarch64-linux-gnu/$lib")
        done < <("$readobj" --needed-libs "$file" | sed -n '/NeededLibraries \[/,/\]/p' | sed '1d;$d' | tr -d ' ')
    done
    ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$ir/lib/ld-linux-aarch64.so.1"
    (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$stage/out/base.cpio" || return 1
    mv "$stage"/boot/vmlinuz-* "$stage/out/vmlinuz" || return 1
    # Another run may have built the same entry meanwhile; either copy will do.
    mv -T "$stage/out" "$base" 2>/dev/null || [[ -f $base/base.cpio ]]
}

if [[ ! -f $base/vmlinuz || ! -f $base/base.cpio ]]; then
    echo "test-kvm: building the KVM host's kernel and initramfs in $base"
    build_base
    built=$?
    rm -rf "$stage"
    if [[ $built -ne 0 ]]; then
        fail kvm/host-image "could not build the KVM host's initramfs from the pinned packages"
        finish
    fi
    # Entries of earlier pins are no longer needed.
    for old in "$cache_kvm"/base-*; do
        [[ $old == "$base" ]] || rm -rf "$old"
    done
fi

# 3. This run's part of the initramfs: init, Ferrite, the EL0 programs, the run list.
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrite-kvm.XXXXXX")
mkdir -p "$work/ir/ferrite"
install -m 0755 "$here/kvm-host-init.sh" "$work/ir/init"
cp "$kernel" "$work/ir/ferrite/kernel8.img"
if [[ $custom -eq 1 ]]; then
    [[ -n $custom_initrd ]] && cp "$custom_initrd" "$work/ir/ferrite/program"
else
    cp "$bins/syscalls" "$work/ir/ferrite/syscalls"
fi
printf '%s\n' "${runs[@]}" >"$work/ir/ferrite/runs"
echo "$run_timeout" >"$work/ir/ferrite/timeout"
(cd "$work/ir" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/run.cpio"
cat "$base/base.cpio" "$work/run.cpio" >"$work/initramfs.cpio"

# 4. The nested boot.
log=$work/console.log
echo "running ${#runs[@]} Ferrite boots under KVM in Linux $(basename "$kernel_deb" | cut -d_ -f2) under QEMU TCG"
boot_start=$SECONDS
timeout -s KILL "$outer_timeout" "$qemu" -M virt,virtualization=on,gic-version=3 -cpu max -smp 2 -m 2G \
    -nographic -nic none -no-reboot -kernel "$base/vmlinuz" -initrd "$work/initramfs.cpio" \
    -append "console=ttyAMA0 rdinit=/init quiet panic=-1" </dev/null 2>&1 | tr -d '\r' >"$log"
outer_status=${PIPESTATUS[0]}
if [[ ${KVM_VERBOSE:-0} == 1 || $custom -eq 1 ]]; then
    cat "$log"
fi
grep -E '^@@ferrite-kvm (host|kvm):' "$log" | sed 's/^@@ferrite-kvm /kvm host: /'
echo "kvm host: nested boot took $((SECONDS - boot_start)) s (QEMU status $outer_status)"
if [[ $outer_status -eq 137 ]]; then
    echo "kvm host: killed after $outer_timeout s (KVM_TIMEOUT)"
fi
if ! grep -q '^@@ferrite-kvm done' "$log"; then
    echo "kvm host: did not finish its runs; its console ends:"
    tail -n 25 "$log" | sed 's/^/    | /'
fi

# 5. The verdicts.
judge() { # name, kind; the run's console lines are in $work/run.log
    local out=$work/run.log last
    last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
    grep -q '^Ferrite ' "$out" || { echo "no Ferrite banner"; return; }
    grep -q 'semihosting no' "$out" || { echo "no 'semihosting no' line (is this really KVM?)"; return; }
    grep -q '^psci: Hvc' "$out" || { echo "no 'psci: Hvc' line"; return; }
    grep -q '^kernel panic' "$out" && { grep -m 1 '^kernel panic' "$out"; return; }
    grep -Eq '^[0-9]+ passed, 0 failed$' "$out" || { echo "no line 'N passed, 0 failed'"; return; }
    case $2 in
        boot)
            grep -Eq 'timer: [0-9]+ ticks' "$out" || { echo "no timer ticks"; return; }
            [[ $last =~ ^ferrite:\ .*no\ initrd\ to\ run\;\ shutting\ down\ \(status\ 0\)$ ]] ||
                { echo "last line is '$last', not the status-0 shutdown"; return; }
            ;;
        custom)
            [[ $last =~ ^ferrite:\ .*shutting\ down\ \(status\ 0\)$ ]] ||
                { echo "last line is '$last', not the status-0 shutdown"; return; }
            ;;
        syscalls)
            grep -Eq 'W\^X audit: [1-9][0-9]* user pages mapped, 0 writable\+executable' "$out" ||
                { echo "no W^X audit line"; return; }
            [[ $last == "ferrite: the first process exited; shutting down (status 0)" ]] ||
                { echo "last line is '$last', not the status-0 shutdown"; return; }
            ;;
    esac
}

for entry in "${runs[@]}"; do
    name=${entry%%|*}
    kind=${name%%/*}
    awk -v n="$name" '$0 ~ "^@@ferrite-kvm begin " n " " {on = 1; next}
        $0 ~ "^@@ferrite-kvm end " n " " {exit} on' "$log" >"$work/run.log"
    end_line=$(grep -m 1 "^@@ferrite-kvm end $name " "$log")
    if ! grep -q "^@@ferrite-kvm begin $name " "$log"; then
        fail "kvm/$name" "the KVM host never started it"
        continue
    fi
    if [[ -z $end_line ]]; then
        why="it never ended (the KVM host stopped or timed out)"
    elif [[ $end_line != *" status=0 "* ]]; then
        why="qemu-system-aarch64 -accel kvm exited with ${end_line#*status=}"
    else
        why=$(judge "$name" "$kind")
    fi
    if [[ -z $why ]]; then
        pass "kvm/$name"
    else
        fail "kvm/$name" "$why"
        tail -n 25 "$work/run.log" | sed 's/^/    | /'
    fi
done
finish
