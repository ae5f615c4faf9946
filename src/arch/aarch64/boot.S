// Ferrite start-up: the Linux arm64 Image header, the drop to EL1, the boot page
// tables and the jump to the high half. Position independent until the MMU is on:
// only PC-relative addressing (adr/adrp) is used before `enable_mmu`.
//
// Entry (ABI.md section 1): x0 = physical address of the device tree, MMU off, at EL3,
// EL2 or EL1, loaded at any 2 MiB-aligned address.

.equ KERNEL_VBASE,     0xFFFFFFFF80000000
.equ PAGE_SIZE,        4096

// Block descriptor attributes used by the boot tables:
// AF | inner shareable | AttrIndx 0 (Normal write-back) | valid block.
.equ BOOT_BLOCK_ATTRS, (1 << 10) | (3 << 8) | (0 << 2) | 1
.equ TABLE_DESC,       3

.section .text.head, "ax"
.global _start
_start:
    b       primary_entry               // code0
    .word   0                           // code1
    .quad   0                           // text_offset: at the 2 MiB-aligned base
    .quad   __kernel_image_size         // image_size, .bss included
    .quad   0xa                         // flags: LE, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                     // res2..res4
    .ascii  "ARM\x64"                   // magic
    .word   0                           // res5: no PE/COFF header

.section .text.boot, "ax"
primary_entry:
    mov     x19, x0                     // x19 = device tree (physical)
    adr     x20, _start                 // x20 = physical load address of the image
    mrs     x21, CurrentEL              // x21 = the exception level we were entered at
    lsr     x21, x21, #2

    // Other CPUs are started by the kernel itself (secondary_entry); one that arrives
    // here anyway (a firmware that releases every CPU at the image) waits for good.
    mrs     x9, mpidr_el1
    and     x9, x9, #0xffffff
    cbz     x9, 1f
0:  wfe
    b       0b
1:
    mov     x22, xzr                    // x22 = 0: the boot CPU
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #3
    b.eq    from_el3
    cmp     x9, #2
    b.eq    from_el2
    b       at_el1

from_el3:
    // Lower ELs are AArch64 and non-secure; HVC enabled, SMC left to firmware.
    mov     x9, #(1 << 10) | (1 << 8) | (3 << 4) | 1    // RW | HCE | RES1 | NS
    msr     scr_el3, x9
    msr     cptr_el3, xzr               // FP/SIMD not trapped to EL3
    // If EL2 exists, set it up as a hypervisor would before an EL1 guest runs.
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #8, #4              // EL2 field
    cbz     x9, 2f
    bl      configure_el2
2:  mov     x9, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el3, x9
    adr     x9, at_el1
    adr     x10, secondary_at_el1
    cmp     x22, #0
    csel    x9, x9, x10, eq
    msr     elr_el3, x9
    eret

from_el2:
    bl      configure_el2
    mov     x9, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, at_el1
    adr     x10, secondary_at_el1
    cmp     x22, #0
    csel    x9, x9, x10, eq
    msr     elr_el2, x9
    eret

// EL2 settings for a guest kernel at EL1: AArch64 EL1, timer and counter access,
// no FP/SIMD trap, GICv3 system registers usable at EL1, no stage 2.
configure_el2:
    mov     x9, #(1 << 31)              // HCR_EL2.RW
    msr     hcr_el2, x9
    mov     x9, #3                      // CNTHCTL_EL2.EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff                 // CPTR_EL2: RES1 bits, TFP = 0
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    mrs     x9, midr_el1
    msr     vpidr_el2, x9
    mrs     x9, mpidr_el1
    msr     vmpidr_el2, x9
    msr     vttbr_el2, xzr
    mrs     x9, id_aa64pfr0_el1
    ubfx    x9, x9, #24, #4             // GIC system register interface present?
    cbz     x9, 3f
    mrs     x9, S3_4_C12_C9_5           // ICC_SRE_EL2
    orr     x9, x9, #0xf                // SRE | DFB | DIB | Enable (EL1 may use SRE)
    msr     S3_4_C12_C9_5, x9
    isb
3:  ret

// A secondary CPU, started by the kernel (arch::aarch64::smp) through PSCI CPU_ON or a
// spin table, MMU off, at EL2 or EL1. `secondary_boot` (written by the boot CPU before it
// starts each CPU, one at a time) holds its stack top, CPU index and the kernel's TTBR1.
.global secondary_entry
secondary_entry:
    mov     x22, #1                     // x22 = 1: a secondary CPU
    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #3
    b.eq    from_el3
    cmp     x9, #2
    b.eq    from_el2
secondary_at_el1:
    mov     x9, #(1 << 20)              // FP/SIMD trapped at EL0 only (as at_el1)
    msr     cpacr_el1, x9
    isb
    bl      enable_mmu                  // the boot tables: identity + image
    ldr     x9, =secondary_high_entry
    br      x9

at_el1:
    // FP/SIMD: trapped at EL0 only (CPACR_EL1.FPEN = 0b01). The kernel is built
    // soft-float and never leaves the registers changed; a thread's first FP/SIMD
    // instruction traps and gets its state then (lazy switching, arch::context).
    mov     x9, #(1 << 20)
    msr     cpacr_el1, x9
    isb

    // Boot stack (physical for now).
    adrp    x9, boot_stack_top
    add     x9, x9, :lo12:boot_stack_top
    mov     sp, x9

    // Zero .bss.
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
4:  cmp     x9, x10
    b.hs    5f
    stp     xzr, xzr, [x9], #16
    b       4b
5:
    bl      build_boot_tables
    // The tables were written with the MMU (and so the data cache) off: drop any stale
    // lines for them and the stack so cacheable walks and loads see memory.
    adrp    x9, boot_l0_high
    adrp    x10, boot_tables_end
9:  dc      ivac, x9
    add     x9, x9, #64
    cmp     x9, x10
    b.lo    9b
    adrp    x9, boot_stack_bottom
    adrp    x10, boot_stack_top
10: dc      ivac, x9
    add     x9, x9, #64
    cmp     x9, x10
    b.lo    10b
    dsb     sy
    bl      enable_mmu

    // Now in the high half: absolute addresses are valid.
    ldr     x9, =high_entry
    br      x9

// Boot tables:
//   TTBR1: KERNEL_VBASE.. -> the image, 2 MiB blocks (L0[511] -> L1[510] -> L2[0..n]).
//   TTBR0: identity 1 GiB blocks for the GiB holding the image and the GiB holding the
//          device tree, so that the first Rust code can read the tree.
build_boot_tables:
    // L0 (TTBR1)
    adrp    x9, boot_l0_high
    adrp    x10, boot_l1_high
    orr     x11, x10, #TABLE_DESC
    str     x11, [x9, #511 * 8]
    adrp    x12, boot_l2_high
    orr     x11, x12, #TABLE_DESC
    str     x11, [x10, #510 * 8]
    // L2 blocks: enough 2 MiB blocks for the whole image including .bss.
    ldr     x13, =__kernel_image_size
    ldr     x14, =0x1fffff
    add     x13, x13, x14
    lsr     x13, x13, #21               // number of blocks
    mov     x14, x20                    // physical base of the image
    ldr     x15, =BOOT_BLOCK_ATTRS
6:  orr     x11, x14, x15
    str     x11, [x12], #8
    add     x14, x14, #0x200000
    subs    x13, x13, #1
    b.ne    6b

    // Identity map (TTBR0): L0[pa >> 39] -> L1, 1 GiB blocks.
    adrp    x9, boot_l0_low
    adrp    x10, boot_l1_low
    orr     x11, x10, #TABLE_DESC
    lsr     x12, x20, #39
    str     x11, [x9, x12, lsl #3]
    lsr     x12, x20, #30
    and     x12, x12, #511
    lsl     x11, x12, #30
    orr     x11, x11, x15
    str     x11, [x10, x12, lsl #3]
    // The device tree's GiB, if it shares the image's L0 entry.
    lsr     x13, x19, #39
    lsr     x14, x20, #39
    cmp     x13, x14
    b.ne    7f
    lsr     x12, x19, #30
    and     x12, x12, #511
    lsl     x11, x12, #30
    orr     x11, x11, x15
    str     x11, [x10, x12, lsl #3]
7:  ret

enable_mmu:
    ldr     x9, =0x440004ff             // MAIR: 0 Normal WB, 1 Device-nGnRE, 2 Device-nGnRnE, 3 Normal NC
    msr     mair_el1, x9
    // TCR: T0SZ=T1SZ=16 (48-bit), 4 KiB granules, WBWA inner shareable walks,
    // IPS from the CPU's physical address range.
    ldr     x9, =(16 | (1 << 8) | (1 << 10) | (3 << 12) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30))
    mrs     x10, id_aa64mmfr0_el1
    and     x10, x10, #7
    cmp     x10, #5
    mov     x11, #5
    csel    x10, x10, x11, ls
    orr     x9, x9, x10, lsl #32
    msr     tcr_el1, x9
    adrp    x9, boot_l0_low
    msr     ttbr0_el1, x9
    adrp    x9, boot_l0_high
    msr     ttbr1_el1, x9
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    // SCTLR_EL1: M C SA SA0 I (WXN comes with the final tables), EL0 may use DC ZVA / CTR_EL0 / WFI / WFE / DC CVAU,
    // the v8.0 RES1 bits; SPAN=1 (PAN, when the CPU has it, is set up from Rust).
    ldr     x9, =0x34D5D81D
    msr     sctlr_el1, x9
    isb
    // Return to the same physical code (identity mapped through TTBR0).
    ret

.section .text, "ax"
high_entry:
    ldr     x9, =boot_stack_top
    mov     sp, x9
    adr     x9, exception_vectors       // high-half address (PC-relative from here)
    msr     vbar_el1, x9
    isb
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x19                     // device tree (physical)
    mov     x1, x20                     // physical load address
    mov     x2, x21                     // exception level at entry
    bl      kernel_entry
8:  wfi
    b       8b

// A secondary CPU in the high half: the kernel's own tables, its stack, its index.
secondary_high_entry:
    ldr     x9, =secondary_boot
    ldr     x10, [x9, #16]              // the kernel's TTBR1 root
    dsb     ishst
    msr     ttbr1_el1, x10
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x10, [x9, #0]               // stack top
    mov     sp, x10
    adr     x10, exception_vectors
    msr     vbar_el1, x10
    isb
    ldr     x0, [x9, #8]                // CPU index
    mov     x29, xzr
    mov     x30, xzr
    bl      secondary_cpu_entry
9:  wfi
    b       9b

.section .data
.balign 8
// Filled in by arch::aarch64::smp before each secondary CPU is started: stack top,
// CPU index, TTBR1 root. Read by that CPU with its caches off, so the writer cleans it
// to memory.
.global secondary_boot
secondary_boot:
    .quad 0, 0, 0, 0

.section .bss.boot, "aw", %nobits
.balign PAGE_SIZE
boot_l0_high:  .space PAGE_SIZE
boot_l1_high:  .space PAGE_SIZE
boot_l2_high:  .space PAGE_SIZE
boot_l0_low:   .space PAGE_SIZE
boot_l1_low:   .space PAGE_SIZE
boot_tables_end:
// The boot CPU's stack, in the upper half of a 128 KiB slot whose lower half ends in its
// guard page, which the final kernel tables leave unmapped (kernel::kstack explains the
// slot shape; vectors.S tests the STACK_BIT of SP to detect an overflow). Not zeroed.
.section .kstack, "aw", %nobits
.balign 131072
boot_stack_slot:
    .space 65536 - PAGE_SIZE
.global boot_stack_guard
boot_stack_guard: .space PAGE_SIZE
.global boot_stack_bottom
boot_stack_bottom:
    .space 65536
.global boot_stack_top
boot_stack_top:
// A small stack for reporting a kernel stack overflow.
.balign 16
.global emergency_stack_bottom
emergency_stack_bottom:
    .space 16 * 1024
.global emergency_stack_top
emergency_stack_top:
