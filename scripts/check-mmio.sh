#!/usr/bin/env bash
# Checks that every device-register access of the kernel is one a hypervisor can emulate:
# a single ldr/str of the register's width with a plain [Xn] address (no writeback, no
# pair). See "MMIO accessors" in docs/ARCHITECTURE.md for the design.
#
#   scripts/check-mmio.sh KERNEL_ELF
#
# 1. In the linked kernel, each accessor ferrite_mmio_{read,write}{8,16,32,64} is exactly
#    its one load or store with address [x0], then ret (llvm-objdump from rustup's
#    llvm-tools).
# 2. The kernel calls the accessors the drivers need (32-bit reads and writes, the
#    64-bit GICD_IROUTER writes), so the register types really go through them.
# 3. In the source, no driver reaches device memory another way: no tock-registers
#    register types (their volatile accesses let the compiler pick the instruction), no
#    volatile or raw pointer accesses, no load or store in inline assembly, except in
#    src/drivers/mmio.rs; device mappings are handed to drivers only.
#
# Output reads like cargo test's and ends with "N passed, M failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
elf=${1:?usage: check-mmio.sh KERNEL_ELF}
[[ -f $elf ]] || { echo "check-mmio: no kernel ELF at $elf (make kernel builds it)" >&2; exit 2; }
host=$(rustc -vV | sed -n 's/^host: //p')
objdump="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-objdump"
[[ -x $objdump ]] || { echo "check-mmio: $objdump missing (rustup component add llvm-tools)" >&2; exit 2; }

passed=0 failed=0 failures=()
result() { # name, empty-or-reason
    if [[ -z $2 ]]; then
        echo "test $1 ... ok"
        passed=$((passed + 1))
    else
        echo "test $1 ... FAILED: $2"
        failed=$((failed + 1))
        failures+=("$1")
    fi
}

dis=$(mktemp)
trap 'rm -f "$dis"' EXIT
"$objdump" -d --no-show-raw-insn --no-leading-addr "$elf" >"$dis" || { echo "check-mmio: llvm-objdump failed" >&2; exit 2; }

# The instructions of one function (symbol name exact), normalised to "mnemonic operands".
body() {
    awk -v sym="<$1>:" '$0 == sym {on = 1; next} on && /^$/ {exit} on && NF {$1 = $1; print}' "$dis"
}

# 1. The accessors.
declare -A expected=(
    [ferrite_mmio_read8]="ldrb w0, [x0]"
    [ferrite_mmio_read16]="ldrh w0, [x0]"
    [ferrite_mmio_read32]="ldr w0, [x0]"
    [ferrite_mmio_read64]="ldr x0, [x0]"
    [ferrite_mmio_write8]="strb w1, [x0]"
    [ferrite_mmio_write16]="strh w1, [x0]"
    [ferrite_mmio_write32]="str w1, [x0]"
    [ferrite_mmio_write64]="str x1, [x0]"
)
for width in 8 16 32 64; do
    for op in read write; do
        sym=ferrite_mmio_$op$width
        got=$(body "$sym" | tr '\n' ';')
        want="${expected[$sym]};ret;"
        if [[ -z $got ]]; then
            result "mmio/accessor/$sym" "symbol not found in $elf"
        elif [[ $got != "$want" ]]; then
            result "mmio/accessor/$sym" "disassembles to '$got', expected '$want'"
        else
            result "mmio/accessor/$sym" ""
        fi
    done
done

# 2. The drivers' accesses go through them.
for sym in ferrite_mmio_read32 ferrite_mmio_write32 ferrite_mmio_write64; do
    calls=$(grep -cE "^[[:space:]]*(bl|b)[[:space:]]+0x[0-9a-f]+ <$sym>$" "$dis")
    if [[ $calls -gt 0 ]]; then
        result "mmio/called/$sym" ""
    else
        result "mmio/called/$sym" "no call to $sym in the kernel: the register types do not use the accessors"
    fi
done

# 3. The source: one way to device memory.
cd "$root" || exit 2
# Comment lines (the design notes name what they forbid) do not count.
code() { grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'; }
hits=$(grep -rnE 'tock_registers::registers|InMemoryRegister' src --include='*.rs' | code)
result "mmio/source/no-tock-register-types" "${hits:+the register types of tock-registers (volatile accesses, any instruction): $hits}"

hits=$(grep -rnE 'read_volatile|write_volatile|ptr::(read|write|copy)|read_unaligned|write_unaligned|as \*(const|mut)|from_raw_parts' \
    src/drivers --include='*.rs' | grep -v '^src/drivers/mmio.rs:' | code)
result "mmio/source/no-raw-access-in-drivers" "${hits:+raw memory access outside mmio.rs: $hits}"

# Inline assembly in the drivers may only move system registers (mrs/msr), never touch memory.
hits=$(grep -rnE '(asm!|global_asm!|naked_asm!)' src/drivers --include='*.rs' | grep -v '^src/drivers/mmio.rs:' | code |
    grep -vE 'asm!\(concat!\("(mrs|msr) ')
result "mmio/source/no-memory-asm-in-drivers" "${hits:+inline assembly other than mrs/msr outside mmio.rs: $hits}"

hits=$(grep -rnE '\.va\(\)' src --include='*.rs' | grep -vE '^src/(drivers/|arch/aarch64/mmu.rs:)' | code)
result "mmio/source/device-mappings-go-to-drivers" "${hits:+the address of a device mapping used outside the drivers: $hits}"

echo
for f in "${failures[@]}"; do echo "  failed: $f"; done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
