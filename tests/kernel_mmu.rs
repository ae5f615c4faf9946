//! Kernel test image: the MMU. Reads the live kernel translation tables back (TTBR1, as
//! `kernel::boot` built them) and checks each region's attributes: `.text` R+X,
//! `.rodata` R, `.data`/`.bss` R+W never executable, the boot stack's guard page
//! unmapped, the linear map Normal write-back, the MMIO windows Device-nGnRE, and no
//! leaf anywhere both writable and executable. Then checks that the hardware enforces
//! it: a store to kernel text or rodata, a fetch from data or from the linear alias of
//! text, and a load from the guard page all fault.
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel`); on the host it
//! builds to an empty program so that `cargo test` on the host stays green.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    extern crate alloc;

    use aarch64_cpu::registers::{MAIR_EL1, Readable as _, SCTLR_EL1, TCR_EL1, TTBR1_EL1};
    use alloc::vec::Vec;
    use core::arch::asm;
    use core::hint::black_box;
    use ferrite::abi::PAGE_SIZE;
    use ferrite::arch::aarch64::mmu::{self, KernelTableMemory};
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::testing::{TestFailure, TestResult, expect_fault, run_tests};
    use ferrite::kernel::with_kernel;
    use ferrite::mm::layout::{KERNEL_VBASE, LINEAR_BASE, LINEAR_SPAN, MMIO_BASE, MMIO_SPAN};
    use ferrite::mm::page_table::{LeafInfo, MAIR_EL1_VALUE, MemoryType, descriptor_attrs};
    use ferrite::mm::{PhysAddr, VirtAddr};
    use ferrite::trap::{FaultKind, TrapCause};
    use ferrite::{check, check_eq, check_matches};

    /// The half of the address space TTBR1 serves: leaf addresses from the table walk
    /// carry only the 48 index bits.
    const KERNEL_HALF: u64 = 0xffff_0000_0000_0000;
    /// Descriptor bits 9..8: shareability; 0b11 is inner shareable.
    const SH_MASK: u64 = 0b11 << 8;
    const SH_INNER: u64 = 0b11 << 8;
    /// `ret`, as an instruction word.
    const RET_INSTRUCTION: u32 = 0xd65f_03c0;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        run_tests(ferrite::kernel_tests!(
            mmu:
            mair_sctlr_and_ttbr1_are_as_built,
            text_is_read_execute,
            rodata_is_read_only,
            data_and_bss_are_read_write_never_execute,
            stack_guard_page_is_unmapped,
            no_leaf_is_writable_and_executable,
            linear_map_is_normal_write_back,
            mmio_windows_are_device_ngnre,
            store_to_kernel_text_faults,
            store_to_rodata_faults,
            store_to_data_succeeds,
            fetch_from_data_faults,
            fetch_from_linear_alias_of_text_faults,
            load_from_guard_page_faults,
            user_half_is_closed_to_the_kernel,
            pan_is_on_when_the_cpu_has_it,
            patched_sites_follow_the_boot_flags,
        ))
    }

    // ----- reading the live tables -------------------------------------------------

    /// The leaf descriptor mapping `va` in the kernel's tables, and where it points.
    fn translate(va: u64) -> Option<(PhysAddr, u64)> {
        with_kernel(|k| {
            let mut table_pages = 0;
            let mut mem = KernelTableMemory { frames: &mut k.frames, table_pages: &mut table_pages };
            k.kernel_table.translate(VirtAddr(va), &mut mem)
        })
    }

    /// Every leaf (page or block) of the kernel's tables: `(va, descriptor, bytes)`.
    fn leaves() -> Vec<(u64, u64, u64)> {
        with_kernel(|k| {
            let mut table_pages = 0;
            let mut mem = KernelTableMemory { frames: &mut k.frames, table_pages: &mut table_pages };
            let mut found = Vec::new();
            k.kernel_table.for_each_leaf(&mut mem, |va, desc, size| found.push((KERNEL_HALF | va.0, desc, size)));
            found
        })
    }

    fn attrs(va: u64, desc: u64) -> Result<LeafInfo, TestFailure> {
        descriptor_attrs(desc).ok_or_else(|| TestFailure::new(format_args!("{va:#x}: invalid leaf {desc:#x}")))
    }

    /// Checks every page of `[start, end)`: mapped to the image's physical pages with
    /// `expect(info)` holding.
    fn check_image_range(
        what: &str,
        (start, end): (u64, u64),
        skip: Option<u64>,
        expect: fn(&LeafInfo) -> bool,
    ) -> TestResult {
        check!(end > start, "{what} is empty");
        check_eq!(start % PAGE_SIZE, 0, "{what} start");
        let mut va = start;
        while va < end {
            if Some(va) != skip {
                let Some((pa, desc)) = translate(va) else {
                    return Err(TestFailure::new(format_args!("{what}: {va:#x} is not mapped")));
                };
                check_eq!(pa, PhysAddr(mmu::kernel_virt_to_phys(va)), "{what}: {va:#x} maps the wrong frame");
                let info = attrs(va, desc)?;
                check!(expect(&info), "{what}: {va:#x} has {info:?} (descriptor {desc:#x})");
                check_eq!(info.memory, Some(MemoryType::NormalWriteBack), "{what}: {va:#x}");
                check!(info.global && info.access_flag, "{what}: {va:#x}: {info:?}");
                check!(!info.el0_read && !info.el0_write && !info.el0_execute, "{what}: {va:#x} open to EL0: {info:?}");
                check_eq!(desc & SH_MASK, SH_INNER, "{what}: {va:#x} not inner shareable");
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    // ----- the tables ----------------------------------------------------------------

    fn mair_sctlr_and_ttbr1_are_as_built() -> TestResult {
        check_eq!(MAIR_EL1.get(), MAIR_EL1_VALUE);
        let sctlr = SCTLR_EL1.get();
        check!(sctlr & 1 != 0, "SCTLR_EL1.M: the MMU is off");
        check!(sctlr & (1 << 19) != 0, "SCTLR_EL1.WXN is clear: writable memory may execute");
        check!(sctlr & (1 << 2) != 0 && sctlr & (1 << 12) != 0, "caches off: SCTLR_EL1={sctlr:#x}");
        let root = with_kernel(|k| k.kernel_table.root());
        check_eq!(TTBR1_EL1.get() & 0x0000_ffff_ffff_fffe, root.0, "TTBR1_EL1 is not the kernel table");
        // TCR_EL1.T1SZ = 16: the kernel half is 48 bits, as the layout assumes.
        check_eq!((TCR_EL1.get() >> 16) & 0x3f, 16);
        Ok(())
    }

    fn text_is_read_execute() -> TestResult {
        let text = mmu::kernel_sections().text;
        check_eq!(black_box(text.0), KERNEL_VBASE, "the image starts with .text");
        check_image_range(".text", text, None, |i| i.el1_execute && !i.el1_write)
    }

    fn rodata_is_read_only() -> TestResult {
        let sections = mmu::kernel_sections();
        // black_box: the bounds are addresses of distinct linker symbols, which LLVM
        // assumes never equal, so a plain `==` between them folds to false.
        check_eq!(black_box(sections.rodata.0), black_box(sections.text.1), ".rodata follows .text");
        check_image_range(".rodata", sections.rodata, None, |i| !i.el1_execute && !i.el1_write)
    }

    fn data_and_bss_are_read_write_never_execute() -> TestResult {
        let sections = mmu::kernel_sections();
        check_eq!(black_box(sections.data.0), black_box(sections.rodata.1), ".data follows .rodata");
        check_eq!(black_box(sections.data.1), KERNEL_VBASE + mmu::kernel_image_size(), ".bss ends the image");
        check_image_range(".data/.bss", sections.data, Some(sections.stack_guard), |i| !i.el1_execute && i.el1_write)
    }

    fn stack_guard_page_is_unmapped() -> TestResult {
        let sections = mmu::kernel_sections();
        let guard = sections.stack_guard;
        check_eq!(guard % PAGE_SIZE, 0);
        check!(sections.data.0 <= guard && guard < sections.data.1, "the guard page {guard:#x} is not in .bss");
        check_eq!(translate(guard), None, "the boot stack's guard page is mapped");
        // The pages on either side are mapped (the hole is exactly one page).
        check!(translate(guard - PAGE_SIZE).is_some() && translate(guard + PAGE_SIZE).is_some());
        Ok(())
    }

    fn no_leaf_is_writable_and_executable() -> TestResult {
        let all = leaves();
        check!(all.len() > 10, "implausibly few leaves: {}", all.len());
        let (image_start, image_end) = (KERNEL_VBASE, KERNEL_VBASE + mmu::kernel_image_size());
        let mut executable = 0;
        for &(va, desc, size) in &all {
            let info = attrs(va, desc)?;
            check!(!(info.el1_write && info.el1_execute), "W+X leaf at {va:#x} ({size:#x} bytes): {desc:#x}");
            check!(!info.el0_read && !info.el0_write && !info.el0_execute, "kernel leaf {va:#x} open to EL0: {info:?}");
            check!(info.global, "kernel leaf {va:#x} is not global");
            if info.el1_execute {
                executable += size;
                // Only the image's .text may execute.
                let text = mmu::kernel_sections().text;
                check!(text.0 <= va && va + size <= text.1, "executable leaf {va:#x} outside .text");
            }
            // Every leaf is in one of the three regions of mm::layout.
            let inside = |start: u64, len: u64| va >= start && va - start < len && size <= len - (va - start);
            check!(
                inside(LINEAR_BASE, LINEAR_SPAN)
                    || inside(MMIO_BASE, MMIO_SPAN)
                    || inside(image_start, image_end - image_start),
                "leaf {va:#x} ({size:#x} bytes) outside the linear map, MMIO and image"
            );
        }
        let text = mmu::kernel_sections().text;
        check_eq!(executable, text.1 - text.0, "executable bytes != .text size");
        Ok(())
    }

    fn linear_map_is_normal_write_back() -> TestResult {
        let ram: Vec<(u64, u64)> =
            with_kernel(|_k| ferrite::kernel::machine().ram.iter().map(|r| (r.base.0, r.size)).collect());
        check!(!ram.is_empty());
        // Both ends of every RAM range, at their linear addresses.
        for &(base, size) in &ram {
            for pa in [base, base + (size & !(PAGE_SIZE - 1)) - PAGE_SIZE] {
                let Some((mapped, desc)) = translate(LINEAR_BASE + pa) else {
                    return Err(TestFailure::new(format_args!("RAM {pa:#x} not in the linear map")));
                };
                check_eq!(mapped, PhysAddr(pa));
                let info = attrs(pa, desc)?;
                check_eq!(info.memory, Some(MemoryType::NormalWriteBack), "linear map of {pa:#x}");
                check!(info.el1_write && !info.el1_execute, "linear map of {pa:#x}: {info:?}");
            }
        }
        // Every linear-map leaf: RAM only, at its own offset, Normal WB inner shareable.
        let mut mapped_bytes = 0;
        for (va, desc, size) in
            leaves().into_iter().filter(|&(va, _, _)| (LINEAR_BASE..LINEAR_BASE + LINEAR_SPAN).contains(&va))
        {
            let pa = va - LINEAR_BASE;
            check_eq!(desc & 0x0000_ffff_ffff_f000 & !(size - 1), pa, "linear leaf {va:#x} maps another frame");
            check!(ram.iter().any(|&(b, s)| b <= pa && pa + size <= b + s), "linear leaf {va:#x} is not RAM");
            let info = attrs(va, desc)?;
            check_eq!(info.memory, Some(MemoryType::NormalWriteBack), "linear leaf {va:#x}");
            check_eq!(desc & SH_MASK, SH_INNER, "linear leaf {va:#x} not inner shareable");
            mapped_bytes += size;
        }
        let ram_pages: u64 = ram.iter().map(|&(_, s)| s & !(PAGE_SIZE - 1)).sum();
        check_eq!(mapped_bytes, ram_pages, "the linear map does not cover exactly RAM");
        Ok(())
    }

    fn mmio_windows_are_device_ngnre() -> TestResult {
        let (uart, gicd) = with_kernel(|_k| {
            (
                ferrite::kernel::machine().console.map(|u| u.regs.base.0).ok(),
                ferrite::kernel::machine().gic.map(|g| g.distributor().base.0).ok(),
            )
        });
        let mut windows = 0;
        let (mut uart_found, mut gicd_found) = (false, false);
        for (va, desc, size) in
            leaves().into_iter().filter(|&(va, _, _)| (MMIO_BASE..MMIO_BASE + MMIO_SPAN).contains(&va))
        {
            let info = attrs(va, desc)?;
            check_eq!(info.memory, Some(MemoryType::Device_nGnRE), "MMIO leaf {va:#x}");
            check!(!info.el1_execute && info.el1_write, "MMIO leaf {va:#x}: {info:?}");
            check_eq!(size, PAGE_SIZE, "MMIO leaf {va:#x} is a block");
            let pa = desc & 0x0000_ffff_ffff_f000;
            uart_found |= Some(pa) == uart;
            gicd_found |= Some(pa) == gicd;
            windows += 1;
        }
        check!(windows > 0, "no MMIO mappings");
        check!(uart_found, "the console UART {uart:#x?} is not mapped in the MMIO area");
        check!(gicd_found, "the GIC distributor {gicd:#x?} is not mapped in the MMIO area");
        Ok(())
    }

    // ----- what the hardware enforces --------------------------------------------------

    /// Stores `value` at `addr` with one `str`; returns the address of that instruction.
    fn store_u32(addr: u64, value: u32) -> u64 {
        let at: u64;
        // SAFETY: callers pass a mapped address they expect to be read-only (the store
        // then faults and is skipped by the expected-fault hook) or a word they own;
        // the value stored is the one already there, so even a wrong expectation does
        // not change memory.
        unsafe {
            asm!("adr {at}, 3f", "3: str {v:w}, [{a}]", at = out(reg) at, v = in(reg) value, a = in(reg) addr, options(nostack));
        }
        at
    }

    /// Loads a word from `addr` with one `ldr`; returns the address of that instruction.
    fn load_u64(addr: u64) -> u64 {
        let at: u64;
        // SAFETY: a load changes nothing; callers expect it to fault and the expected-
        // fault hook skips it (the output register then holds whatever it held).
        unsafe {
            asm!("adr {at}, 3f", "3: ldr {v}, [{a}]", at = out(reg) at, v = out(reg) _, a = in(reg) addr, options(nostack, readonly));
        }
        at
    }

    /// Branches with link to `addr`, which is expected to hold `ret` or to fault on fetch
    /// (the hook then resumes at the link register, just after the `blr`).
    fn call_at(addr: u64) {
        // SAFETY: `addr` holds a lone `ret` (it touches nothing and returns here) or is
        // not executable, in which case the fetch faults and the hook resumes at x30.
        unsafe { asm!("blr {a}", a = in(reg) addr, clobber_abi("C")) };
    }

    /// A `ret` in kernel text.
    fn text_ret() -> u64 {
        unsafe extern "C" {
            fn kernel_mmu_test_ret();
        }
        kernel_mmu_test_ret as *const () as u64
    }

    core::arch::global_asm!(
        ".section .text.kernel_mmu_test_ret, \"ax\"",
        ".global kernel_mmu_test_ret",
        ".balign 4",
        "kernel_mmu_test_ret:",
        "    ret",
    );

    /// A `ret` in `.data`.
    #[unsafe(link_section = ".data.kernel_mmu_test")]
    static mut RET_IN_DATA: u32 = RET_INSTRUCTION;

    /// A word in `.data` the test may store to.
    #[unsafe(link_section = ".data.kernel_mmu_test")]
    static mut WORD_IN_DATA: u32 = 0x1234_5678;

    /// A word in `.rodata`.
    #[unsafe(link_section = ".rodata.kernel_mmu_test")]
    #[used]
    static WORD_IN_RODATA: u32 = 0xfeed_f00d;

    fn check_permission_fault_on_write(what: &str, addr: u64) -> TestResult {
        // SAFETY: `addr` is a mapped, aligned word of the image.
        let before = unsafe { core::ptr::read_volatile(addr as *const u32) };
        let mut at = 0;
        let fault = expect_fault(|| at = store_u32(addr, before));
        let Some(fault) = fault else {
            return Err(TestFailure::new(format_args!("a store to {what} at {addr:#x} did not fault")));
        };
        check_eq!(fault.exception_class(), 0x25, "data abort from EL1 expected, ESR={:#x}", fault.esr);
        check_matches!(
            fault.cause(),
            TrapCause::DataAbort { same_el: true, write: true, fault: FaultKind::Permission { .. }, far_valid: true }
        );
        check_eq!(fault.far, addr);
        check_eq!(fault.elr, at);
        // SAFETY: as above.
        check_eq!(unsafe { core::ptr::read_volatile(addr as *const u32) }, before);
        Ok(())
    }

    fn store_to_kernel_text_faults() -> TestResult {
        let target = text_ret();
        check!(mmu::kernel_sections().text.0 <= target && target < mmu::kernel_sections().text.1);
        check_permission_fault_on_write("kernel text", target)?;
        // The text still runs.
        call_at(target);
        Ok(())
    }

    fn store_to_rodata_faults() -> TestResult {
        let target = &raw const WORD_IN_RODATA as u64;
        let rodata = mmu::kernel_sections().rodata;
        check!(rodata.0 <= target && target < rodata.1, "{target:#x} is not in .rodata");
        check_permission_fault_on_write(".rodata", target)
    }

    /// The positive control for the store probes: a store to a writable word works and
    /// takes no fault.
    fn store_to_data_succeeds() -> TestResult {
        let target = &raw mut WORD_IN_DATA as u64;
        let fault = expect_fault(|| {
            store_u32(target, 0x0bad_cafe);
        });
        check_eq!(fault, None, "a store to .data faulted");
        // SAFETY: a word of this image only this test touches.
        check_eq!(unsafe { core::ptr::read_volatile(target as *const u32) }, 0x0bad_cafe);
        Ok(())
    }

    fn check_fetch_faults(what: &str, addr: u64) -> TestResult {
        let Some(fault) = expect_fault(|| call_at(addr)) else {
            return Err(TestFailure::new(format_args!("{what} at {addr:#x} executed")));
        };
        check_eq!(fault.exception_class(), 0x21, "instruction abort from EL1 expected, ESR={:#x}", fault.esr);
        check_matches!(
            fault.cause(),
            TrapCause::InstructionAbort { same_el: true, fault: FaultKind::Permission { .. } }
        );
        check_eq!(fault.far, addr);
        check_eq!(fault.elr, addr);
        Ok(())
    }

    fn fetch_from_data_faults() -> TestResult {
        // The positive control: the same instruction in .text runs.
        check_eq!(expect_fault(|| call_at(text_ret())), None, "calling a `ret` in .text faulted");
        let target = &raw const RET_IN_DATA as u64;
        // SAFETY: reads a static of this image.
        check_eq!(unsafe { core::ptr::read_volatile(target as *const u32) }, RET_INSTRUCTION);
        check_fetch_faults("a `ret` in .data", target)
    }

    fn fetch_from_linear_alias_of_text_faults() -> TestResult {
        let text = text_ret();
        let alias = LINEAR_BASE + mmu::kernel_virt_to_phys(text);
        // SAFETY: the linear map covers all RAM, the image included.
        check_eq!(unsafe { core::ptr::read_volatile(alias as *const u32) }, RET_INSTRUCTION);
        check_fetch_faults("the linear alias of kernel text", alias)
    }

    fn load_from_guard_page_faults() -> TestResult {
        let guard = mmu::kernel_sections().stack_guard;
        let mut at = 0;
        let Some(fault) = expect_fault(|| at = load_u64(guard + 0x800)) else {
            return Err(TestFailure::new("a load from the stack guard page did not fault"));
        };
        check_eq!(fault.exception_class(), 0x25);
        check_matches!(
            fault.cause(),
            TrapCause::DataAbort { same_el: true, write: false, fault: FaultKind::Translation { .. }, far_valid: true }
        );
        check_eq!(fault.far, guard + 0x800);
        check_eq!(fault.elr, at);
        Ok(())
    }

    fn user_half_is_closed_to_the_kernel() -> TestResult {
        // No process runs, so TTBR0 names the empty table (ASID 0): any user address
        // faults at level 0.
        let empty = ferrite::kernel::aspace::EMPTY_TTBR0.load(core::sync::atomic::Ordering::Relaxed);
        check!(
            empty != 0 && aarch64_cpu::registers::TTBR0_EL1.get() == empty,
            "TTBR0 does not name the empty table with no process"
        );
        let addr = ferrite::abi::USER_BASE;
        let Some(fault) = expect_fault(|| {
            load_u64(addr);
        }) else {
            return Err(TestFailure::new("a load from user space did not fault"));
        };
        check_matches!(
            fault.cause(),
            TrapCause::DataAbort { same_el: true, write: false, fault: FaultKind::Translation { level: 0 }, .. }
        );
        check_eq!(fault.far, addr);
        Ok(())
    }

    /// With PAN (ARMv8.1; `-cpu max` has it, cortex-a72 does not) the kernel runs with
    /// PSTATE.PAN set, and SCTLR_EL1.SPAN is clear so every exception entry sets it again;
    /// without PAN the copy routine is told not to toggle it.
    fn pan_is_on_when_the_cpu_has_it() -> TestResult {
        let pan: u64;
        if ferrite::arch::aarch64::cpu::has_pan() {
            // SAFETY: reads PSTATE.PAN (S3_0_C4_C2_3), which exists on this CPU.
            unsafe { asm!("mrs {}, S3_0_C4_C2_3", out(reg) pan, options(nomem, nostack)) };
            check_eq!(pan >> 22 & 1, 1, "PSTATE.PAN at EL1");
            check_eq!(SCTLR_EL1.get() >> 23 & 1, 0, "SCTLR_EL1.SPAN (0: exception entry sets PAN)");
        } else {
            check_eq!(SCTLR_EL1.get() >> 23 & 1, 1, "SCTLR_EL1.SPAN is RES1 without PAN");
        }
        Ok(())
    }

    /// Boot patched every static-key site (arch/aarch64/static_key.rs) as the flags say:
    /// a `b` (or the record's instruction) where the flag is on, the assembled `nop` or
    /// `movz wN, #0` where it is off, read back through the text mapping. This image
    /// boots with `lockcheck` (scripts/run-kernel-test.sh) and without `vmcheck`, so
    /// both states are present; on `-cpu max` the user copies' PAN sites are patched to
    /// `msr pan`, on cortex-a72 they stay `nop`.
    fn patched_sites_follow_the_boot_flags() -> TestResult {
        use ferrite::arch::aarch64::static_key::{self, Key};
        use ferrite::insn::NOP;
        let on = |key: Key| match key {
            Key::OrderCheck => ferrite::kernel::sync::checks_enabled(),
            Key::VmCheck => ferrite::kernel::aspace::vm_check_flag(),
            Key::Pan => ferrite::arch::aarch64::user_copy::pan_in_use(),
        };
        check!(ferrite::kernel::sync::checks_enabled());
        check_eq!(ferrite::kernel::sync::order_check(), true, "the patched lock-order branch");
        check_eq!(ferrite::kernel::sync::order_check_value(), true, "the patched lock-order value");
        check!(ferrite::kernel::syscalls::lock_checking_table_in_use(), "syscalls through the lock-checking table");
        check_eq!(ferrite::kernel::aspace::vm_check_enabled(), false, "the unpatched vmcheck branch");
        check_eq!(ferrite::arch::aarch64::user_copy::pan_in_use(), ferrite::arch::aarch64::cpu::has_pan());
        let sites = static_key::sites();
        let count = |key: Key| sites.iter().filter(|site| site.key == key as u32).count();
        check!(count(Key::OrderCheck) > 10, "order-check sites: {}", count(Key::OrderCheck));
        check!(count(Key::VmCheck) > 0);
        // SET_PAN at the entry and exit of each of the copy routines.
        check!(count(Key::Pan) >= 4, "PAN sites: {}", count(Key::Pan));
        check_eq!(static_key::mismatched_sites(on), 0, "sites that disagree with their flag");
        // And the check can fail: with every flag inverted, every site disagrees.
        check_eq!(static_key::mismatched_sites(|key| !on(key)), sites.len());
        let text = |va: u64| {
            // SAFETY: `va` is a site in the kernel's text, mapped readable.
            unsafe { core::ptr::read_volatile(va as *const u32) }
        };
        for site in sites.iter().filter(|site| site.key == Key::VmCheck as u32) {
            check_eq!(text(site.site), NOP, "a vmcheck site");
        }
        for site in sites.iter().filter(|site| site.key == Key::OrderCheck as u32 && site.target != 0) {
            let offset = ferrite::insn::branch_offset(text(site.site));
            check_eq!(offset.map(|o| site.site.wrapping_add(o as u64)), Some(site.target), "an order-check branch");
        }
        Ok(())
    }
}
