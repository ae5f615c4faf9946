#!/usr/bin/env bash
# QEMU machine presets shared by the run, test and benchmark scripts (sourced).
#   machine_args NAME   prints the QEMU arguments of a preset
#   machine_test_args NAME   command-line words the EL0 tests need on that machine: a
#                       device page they may map (mmio=) and a RAM page (ram=)
#   machine_cpus NAME   the number of CPUs the preset gives the guest
#   MACHINES            the boot matrix, in the order `make test` runs it
#   TASK_MACHINES       the CPU-count matrix of the task suite (tests/user/src/bin/tasks.rs)
#   TASK_PARALLEL_MACHINE, TASK_PARALLEL_RUNS
#                       the preset the task suite also runs on several times with vCPUs
#                       truly in parallel (multi-threaded TCG, no -icount), and how often

MACHINES="virt virt-smp4 virt-128m virt-2g virt-a53 virt-max virt-gicv3 virt-el2 virt-el2-gicv3-max virt-secure rpi4"
TASK_MACHINES="virt virt-smp2 virt-smp4 virt-smp8 rpi4 virt-el2-gicv3-max virt-smp4-icount"
TASK_PARALLEL_MACHINE=virt-smp4-mttcg
TASK_PARALLEL_RUNS=3

machine_args() {
    local here rpi_dtb
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    rpi_dtb="$here/tests/fixtures/dtb/bcm2711-rpi-4-b.dtb"
    case "$1" in
        virt)               echo "-M virt -cpu cortex-a72 -m 512M" ;;
        virt-smp2)          echo "-M virt -cpu cortex-a72 -m 512M -smp 2" ;;
        virt-smp4)          echo "-M virt -cpu cortex-a72 -m 512M -smp 4" ;;
        virt-smp8)          echo "-M virt -cpu cortex-a72 -m 512M -smp 8" ;;
        # One host thread per vCPU, so the guest's CPUs really run at the same time
        # (QEMU's default for this guest on most hosts; here it is asked for).
        virt-smp4-mttcg)    echo "-M virt -cpu cortex-a72 -m 512M -smp 4 -accel tcg,thread=multi" ;;
        # -icount: one host thread runs the vCPUs in turn, counting instructions, so
        # interleavings differ from the parallel runs (and nothing runs truly at once).
        virt-smp4-icount)   echo "-M virt -cpu cortex-a72 -m 512M -smp 4 -icount shift=auto" ;;
        virt-128m)          echo "-M virt -cpu cortex-a72 -m 128M" ;;
        virt-2g)            echo "-M virt -cpu cortex-a72 -m 2G" ;;
        virt-a53)           echo "-M virt -cpu cortex-a53 -m 512M" ;;
        virt-max)           echo "-M virt -cpu max -m 512M" ;;
        virt-gicv3)         echo "-M virt,gic-version=3 -cpu cortex-a72 -m 512M" ;;
        virt-el2)           echo "-M virt,virtualization=on -cpu cortex-a72 -m 512M" ;;
        virt-el2-gicv3-max) echo "-M virt,virtualization=on,gic-version=3 -cpu max -m 2G -smp 4" ;;
        virt-secure)        echo "-M virt,secure=on -cpu cortex-a72 -m 512M" ;;
        # Not in the matrix: the concurrent fuzzer's two modes (scripts/fuzz.sh).
        virt-smp4-mttcg)    echo "-M virt -cpu cortex-a72 -m 512M -smp 4 -accel tcg,thread=multi" ;;
        virt-smp4-icount)   echo "-M virt -cpu cortex-a72 -m 512M -smp 4 -icount shift=0,sleep=off" ;;
        # raspi4b: exactly 2 GiB and 4 CPUs; the mini UART (stdout-path) is the second
        # serial port, the mirrored PL011 the first.
        rpi4)               echo "-M raspi4b -dtb $rpi_dtb" ;;
        # raspi4b without a tree: QEMU hands the kernel ATAGs (x0 = 0x100), which the
        # kernel must refuse with one line.
        rpi4-no-dtb)        echo "-M raspi4b" ;;
        *) echo "machines.sh: unknown machine '$1' (one of: $MACHINES)" >&2; return 1 ;;
    esac
}

machine_cpus() {
    local args
    args=$(machine_args "$1") || return 1
    case " $args " in
        *" -M raspi4b "*) echo 4 ;;
        *" -smp "*) sed -E 's/.* -smp ([0-9]+).*/\1/' <<<"$args" ;;
        *) echo 1 ;;
    esac
}

# (lockcheck: the kernel checks its lock order on every acquisition.)
machine_test_args() {
    case "$1" in
        rpi4) echo "mmio=0xfe201000 ram=0x10000000 lockcheck" ;;   # the PL011; low RAM
        *)    echo "mmio=0x9010000 ram=0x44000000 lockcheck" ;;    # the PL031 RTC; RAM at 1 GiB + 64 MiB
    esac
}
