//! Kernel test image: boot. After `kernel::boot` has brought the kernel up, checks that
//! the device tree was understood (RAM, GIC, the PL011 console at 0x0900_0000 on QEMU
//! virt), that the frame allocator holds free memory but not the image or the tree, that
//! the kernel runs at EL1, and that the generic counter has a frequency.
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel`); on the host it
//! builds to an empty program so that `cargo test` on the host stays green.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::abi::PAGE_SIZE;
    use ferrite::arch::aarch64::{cpu, mmu, timer};
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::testing::{TestResult, run_tests};
    use ferrite::kernel::{memory, with_kernel};
    use ferrite::mm::PhysAddr;
    use ferrite::platform::{Gic, UartKind};
    use ferrite::{check, check_eq, check_matches};

    /// QEMU virt's PL011 (UART0) registers.
    const VIRT_PL011_BASE: u64 = 0x0900_0000;
    /// QEMU virt's RAM starts at 1 GiB.
    const VIRT_RAM_BASE: u64 = 0x4000_0000;

    /// The heap's first arena, in .bss (arch::aarch64::heap).
    const BOOTSTRAP_HEAP_BYTES: u64 = 256 * 1024;

    /// What the loader handed over, for the tests that check it.
    static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

    #[unsafe(no_mangle)]
    fn ferrite_main(info: BootInfo) -> ! {
        BOOT_INFO.call_once(|| info);
        run_tests(ferrite::kernel_tests!(
            boot:
            device_tree_gives_ram,
            device_tree_gives_gic_and_timer,
            console_is_the_virt_pl011,
            frames_are_free_and_inside_ram,
            image_and_tree_are_reserved,
            runs_at_el1_with_interrupts_masked,
            counter_has_a_frequency,
        ))
    }

    fn device_tree_gives_ram() -> TestResult {
        with_kernel(|_k| {
            let ram = ferrite::kernel::machine().ram.as_slice();
            check!(!ram.is_empty(), "no RAM range in the device tree");
            check!(!ferrite::kernel::machine().ram_truncated);
            check_eq!(ram[0].base, PhysAddr(VIRT_RAM_BASE), "QEMU virt RAM starts at 1 GiB");
            check!(ram.iter().all(|r| r.size >= 16 << 20), "implausibly small RAM: {:?}", ram);
            // The RAM map the rest of the kernel consults is the same.
            let map = memory::RAM.get();
            check!(map.is_some(), "kernel::memory::RAM was not recorded");
            check_eq!(map.map(|m| m.ranges().len()), Some(ram.len()));
            Ok(())
        })
    }

    fn device_tree_gives_gic_and_timer() -> TestResult {
        with_kernel(|_k| {
            check_matches!(ferrite::kernel::machine().gic, Ok(Gic::V2 { .. } | Gic::V3 { .. }));
            if let Ok(gic) = ferrite::kernel::machine().gic {
                // QEMU virt: the distributor is at 0x0800_0000 for both versions.
                check_eq!(gic.distributor().base, PhysAddr(0x0800_0000));
            }
            check_matches!(ferrite::kernel::machine().timer, Ok(_));
            if let Ok(t) = ferrite::kernel::machine().timer {
                check_eq!(t.virt.intid, 27, "the virtual timer is PPI 11 (INTID 27)");
            }
            check!(ferrite::kernel::machine().cpus_in_tree >= 1);
            check!(!ferrite::kernel::machine().model.as_str().is_empty(), "the root node has no model");
            Ok(())
        })
    }

    fn console_is_the_virt_pl011() -> TestResult {
        with_kernel(|_k| {
            check_matches!(ferrite::kernel::machine().console, Ok(_));
            if let Ok(uart) = ferrite::kernel::machine().console {
                check_eq!(uart.kind, UartKind::Pl011);
                check_eq!(uart.regs.base, PhysAddr(VIRT_PL011_BASE));
                check!(uart.regs.size >= 0x1000, "PL011 register block too small: {:#x}", uart.regs.size);
            }
            Ok(())
        })
    }

    fn frames_are_free_and_inside_ram() -> TestResult {
        with_kernel(|k| {
            let total = k.frames.total_bytes();
            let free = k.frames.free_bytes();
            let ram: u64 = ferrite::kernel::machine().ram.iter().map(|r| r.size).sum();
            check!(free > 0, "no free frames after boot");
            check!(free % PAGE_SIZE == 0);
            check!(free <= total, "free {free:#x} > total {total:#x}");
            check!(total <= ram, "the allocator manages {total:#x} bytes, more than RAM {ram:#x}");
            // The heap grew from frames (all but its 256 KiB bootstrap arena in .bss).
            check!(k.heap_bytes > BOOTSTRAP_HEAP_BYTES, "the heap never grew: {} bytes", k.heap_bytes);
            check!(total - free >= k.heap_bytes - BOOTSTRAP_HEAP_BYTES, "the heap's frames are still free");
            // One frame comes from RAM, outside the image, and goes back.
            let pa = k.frames.alloc();
            check_matches!(pa, Ok(_));
            let pa = pa.unwrap_or(PhysAddr(0));
            check!(
                ferrite::kernel::machine()
                    .ram
                    .iter()
                    .any(|r| r.base.0 <= pa.0 && pa.0 + PAGE_SIZE <= r.base.0 + r.size)
            );
            let (image_start, image_end) = mmu::kernel_phys_range();
            check!(pa.0 + PAGE_SIZE <= image_start || pa.0 >= image_end, "frame {pa} inside the image");
            k.frames.free(pa);
            check_eq!(k.frames.free_bytes(), free);
            Ok(())
        })
    }

    fn image_and_tree_are_reserved() -> TestResult {
        let Some(info) = BOOT_INFO.get() else {
            return Err(ferrite::kernel::testing::TestFailure::new("no boot info"));
        };
        check!(info.initrd.is_none(), "the test image was booted with an initrd");
        with_kernel(|k| {
            let (image_start, image_end) = mmu::kernel_phys_range();
            check!(image_start % (2 << 20) == 0, "image loaded at {image_start:#x}, not 2 MiB aligned");
            check!(image_end > image_start);
            // Both are RAM the allocator knows about (reserved), so never handed out...
            check!(k.frames.contains_ram(PhysAddr(image_start), PhysAddr(image_end)));
            let dtb_end = PhysAddr(info.dtb.0 + ferrite::kernel::machine().dtb_total_size as u64);
            check!(k.frames.contains_ram(info.dtb, dtb_end), "the tree at {} is not recorded as RAM", info.dtb);
            // ...and the tree's header is intact, read through the linear map.
            let header = mmu::phys_slice(info.dtb, 8);
            check_eq!(header[..4], [0xd0, 0x0d, 0xfe, 0xed], "device tree magic");
            let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            check_eq!(total, ferrite::kernel::machine().dtb_total_size);
            Ok(())
        })
    }

    fn runs_at_el1_with_interrupts_masked() -> TestResult {
        check_eq!(cpu::current_el(), 1);
        // Kernel code runs with IRQs masked (DAIF.I set), tests included.
        let daif: u64 = aarch64_cpu::registers::DAIF.get();
        check!(daif & (1 << 7) != 0, "IRQs unmasked in kernel code: DAIF={daif:#x}");
        // The vector table is installed in the kernel image.
        let vbar = aarch64_cpu::registers::VBAR_EL1.get();
        check!(vbar >= ferrite::mm::layout::KERNEL_VBASE, "VBAR_EL1 {vbar:#x} is not in the image");
        check_eq!(vbar % 2048, 0);
        Ok(())
    }

    fn counter_has_a_frequency() -> TestResult {
        let freq = timer::frequency();
        check!(freq != 0, "CNTFRQ_EL0 is 0");
        check!(freq >= 1_000_000, "CNTFRQ_EL0 implausibly low: {freq}");
        let (a, b) = (timer::ticks(), timer::ticks());
        check!(b >= a, "the virtual counter went backwards: {a} then {b}");
        Ok(())
    }

    use aarch64_cpu::registers::Readable as _;
}
