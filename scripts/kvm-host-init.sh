#!/bin/busybox sh
# PID 1 of the KVM host that scripts/test-kvm.sh boots: Debian's arm64 Linux at EL2 under
# QEMU TCG, with this script, busybox-static and Debian's qemu-system-aarch64 (and the
# libraries it loads) in its initramfs. It waits for /dev/kvm, boots Ferrite under KVM
# once per line of /ferrite/runs, framing each run's console with marker lines, and
# powers the machine off. test-kvm.sh reads the verdicts from the console.
#
# /ferrite/runs, one run per line: NAME|MACHINE|CPUS|INITRD|APPEND (INITRD is a file
# in /ferrite or empty). /ferrite/timeout: seconds before a hung run is killed.

/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "@@ferrite-kvm $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

say "host: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, up $(uptime_s) s"

# KVM is built into Debian's arm64 kernel (CONFIG_KVM=y) and initialises during boot;
# load it should a kernel ever have it as a module.
[ -c /dev/kvm ] || modprobe kvm 2>/dev/null
polls=0
while [ ! -c /dev/kvm ] && [ "$polls" -lt 300 ]; do
    sleep 0.2
    polls=$((polls + 1))
done
if [ ! -c /dev/kvm ]; then
    say "error: no /dev/kvm; the kernel said:"
    dmesg | grep -i kvm
    say "done"
    poweroff -f
fi
say "kvm: $(dmesg | grep -m 1 -iE 'kvm \[[0-9]+\]: .*(VHE|nVHE|hVHE|protected).*' | sed 's/^\[[ 0-9.]*\] //') /dev/kvm at $(uptime_s) s"

limit=$(cat /ferrite/timeout 2>/dev/null || echo 300)
while IFS='|' read -r name machine cpus initrd append; do
    [ -n "$name" ] || continue
    set -- -accel kvm -M "$machine" -cpu host -smp "$cpus" -m 256M -nographic -nic none \
        -kernel /ferrite/kernel8.img
    [ -n "$initrd" ] && set -- "$@" -initrd "/ferrite/$initrd"
    set -- "$@" -append "$append"
    say "begin $name at $(uptime_s) s: qemu-system-aarch64 $*"
    timeout -s KILL "$limit" qemu-system-aarch64 "$@" </dev/null
    status=$?
    echo
    say "end $name status=$status at $(uptime_s) s"
done </ferrite/runs
say "done"
poweroff -f
