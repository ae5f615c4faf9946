//! The boot sequence, from the first Rust code to a running user program:
//!
//! 1. the heap's bootstrap arena; the boot time;
//! 2. the device tree (validated; a bad or missing tree stops here with one line);
//! 3. the frame allocator over RAM minus reserved ranges, the image, tree and initrd;
//! 4. the kernel's own tables: W^X image, linear map, guard page below the stack;
//! 5. the console UART, logging, the banner and the machine found;
//! 6. the GIC and the timer tick;
//! 7. userboot, or (without an initrd) the self-checks and shutdown.

use super::{KERNEL, Kernel, MACHINE};
use crate::abi::PAGE_SIZE;
use crate::arch::aarch64::mmu::{self, BootTableMemory, DeviceMapping, KernelTableMemory};
use crate::arch::aarch64::static_key::Key;
use crate::arch::aarch64::{cpu, heap, semihosting, timer, user_copy};
use crate::drivers::attach::{self, ConsoleUart};
use crate::error::{ZxError, ZxResult};
use crate::kprintln;
use crate::mm::frame::FrameAllocator;
use crate::mm::layout::{KERNEL_VBASE, LINEAR_BASE, MmioWindows};
use crate::mm::page_table::{MemoryType, PageAttrs, PageTable};
use crate::mm::{PhysAddr, VirtAddr};
use crate::platform::{Board, Gic, Machine, PhysRange, Uart, UartKind};
use crate::vm::vmo::VmoStore;

/// Facts from early boot the rest of the kernel needs.
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// Physical address of the device tree.
    pub dtb: PhysAddr,
    /// The initrd, if the loader gave one.
    pub initrd: Option<PhysRange>,
}

/// Stops before the console exists: one line through semihosting (when the host
/// answers), then shutdown with `status`.
fn early_fail(what: &str, detail: &dyn core::fmt::Display) -> ! {
    kprintln!("ferrite: {what}: {detail}");
    super::shutdown::shutdown(1, "boot failed")
}

/// Called from the start-up assembly on the boot CPU, MMU on, in the high half.
pub fn start(dtb_pa: u64, load_pa: u64, entry_el: u64) -> ! {
    // This is CPU 0 (`exception::kernel_entry` recorded it in TPIDR_EL1).
    super::cpu::this().mpidr.store(cpu::mpidr(), core::sync::atomic::Ordering::Relaxed);
    mmu::set_kernel_phys_base(load_pa);
    heap::init_bootstrap_heap();
    super::irq::mark_boot_time(timer::ticks());
    // Sparse page indices are hashed with a seed a program cannot know.
    crate::vm::page_list::set_hash_seed(timer::ticks().wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ dtb_pa.rotate_left(17));
    let _ = semihosting::available();

    // 2. The device tree, read through the boot identity map.
    let blob = match mmu::boot_device_tree(dtb_pa) {
        Ok(blob) => blob,
        Err(why) => early_fail("no usable device tree", &why),
    };
    let mut machine = match Machine::from_fdt(blob) {
        Ok(machine) => machine,
        Err(e) => early_fail("the device tree is invalid", &e),
    };
    // RAM or registers this CPU cannot address: refuse the tree, or drop the device.
    if let Err(e) = machine.check_physical_reach(cpu::physical_address_bits()) {
        early_fail("the device tree is invalid", &e);
    }
    super::shutdown::set_psci(machine.psci.ok().map(|p| p.method));

    // 3. Physical memory.
    let mut frames = FrameAllocator::new();
    let (image_start, image_end) = mmu::kernel_phys_range();
    let reserved_by_kernel = [
        PhysRange { base: PhysAddr(image_start), size: image_end - image_start },
        PhysRange { base: PhysAddr(dtb_pa), size: machine.dtb_total_size as u64 },
        // Page 0: the Raspberry Pi's armstub and spin table (harmless elsewhere).
        PhysRange { base: PhysAddr(0), size: PAGE_SIZE },
    ];
    for range in machine.usable_ranges(&reserved_by_kernel).iter() {
        frames.add_range(range.base, PhysAddr(range.base.0 + range.size));
    }
    for range in reserved_by_kernel.iter().take(2).chain(machine.initrd.iter()) {
        frames.add_reserved_ram(range.base, PhysAddr(range.base.0 + range.size));
    }
    super::memory::RAM
        .call_once(|| super::memory::RamMap::new(machine.ram.iter().map(|r| (r.base.0, r.base.0 + r.size))));

    // 4. The kernel's tables.
    let mut kernel_table = match build_kernel_tables(&machine) {
        Ok(table) => table,
        Err(e) => early_fail("cannot build the kernel page tables", &e),
    };
    mmu::activate_kernel_tables(kernel_table.root());
    mmu::disable_user_tables();
    if cpu::has_pan() {
        cpu::enable_pan();
        user_copy::set_pan_in_use(true);
    }
    cpu::allow_el0_counter();
    let ram_bytes = machine.ram.iter().map(|r| r.size).sum();
    let heap_bytes = match heap::grow_heap(&mut frames, ram_bytes) {
        Ok(bytes) => bytes,
        Err(e) => early_fail("cannot grow the kernel heap", &e),
    };

    // 5. Console and logging.
    let mut devices = DeviceMapper { table: &mut kernel_table, windows: MmioWindows::new(), frames: &mut frames };
    let console_ok = attach_console(&machine, &mut devices);
    crate::drivers::console::init_logging(machine.bootargs.as_str());
    print_banner(&machine, dtb_pa, entry_el, heap_bytes, devices.frames);
    if !console_ok {
        log::warn!("console: no usable UART in the device tree; using semihosting only");
    }

    // 6. Interrupts and the timer tick.
    match attach_gic(&machine, &mut devices) {
        Ok(gic) => super::irq::start(gic, machine.timer.map_or(VIRTUAL_TIMER_INTID, |t| t.virt.intid)),
        Err(e) => log::error!("interrupts: no interrupt controller ({e}); no timer tick"),
    }
    // Console input (zx_debug_read): the PL011's receive interrupt, or a polled mini UART.
    let pl011 = [machine.console.ok(), machine.pl011.ok()].into_iter().flatten().find(|u| u.kind == UartKind::Pl011);
    super::ipc::console_input::start(pl011.and_then(|u| u.irq).map(|irq| irq.intid));
    let mmio = devices.windows;

    // The kernel state.
    let zero_page = frames.alloc().unwrap_or_else(|e| early_fail("no memory for the zero page", &e));
    mmu::zero_page(zero_page);
    let initrd = machine.initrd;
    // `vmcheck` turns the order check on too: the calls that read the order-check flag
    // once (`with_kernel_checked`) skip the audit when the order check is off.
    let vm_check = crate::platform::cmdline_flag(machine.bootargs.as_str(), "vmcheck");
    if vm_check || crate::platform::cmdline_flag(machine.bootargs.as_str(), "lockcheck") {
        super::sync::enable_order_check();
        super::syscalls::use_checked_table();
    }
    if vm_check {
        super::aspace::enable_vm_check();
    }
    // The flags are final: the hot sites that stand for them become `b`s (or `msr pan`)
    // where a flag is on. Before the other CPUs start and before any user thread.
    crate::arch::aarch64::static_key::apply(|key| match key {
        Key::OrderCheck => super::sync::checks_enabled(),
        Key::VmCheck => super::aspace::vm_check_flag(),
        Key::Pan => user_copy::pan_in_use(),
    });
    if crate::platform::cmdline_flag(machine.bootargs.as_str(), "testinfo") {
        super::object::enable_test_info();
    }
    let narrow_asids = crate::platform::cmdline_flag(machine.bootargs.as_str(), "asid8");
    MACHINE.call_once(|| machine);
    *KERNEL.lock() = Kernel {
        frames,
        kernel_table,
        kernel_table_pages: 0,
        mmio,
        vmos: VmoStore::new(),
        aspaces: crate::vm::id_table::IdTable::new(),
        stack_slots: super::kstack::StackSlots::new(),
        zero_page,
        user_table_pages: 0,
        heap_bytes,
        vmo_objects: super::vm_object::VmoObjectSlab::new(),
        booted: true,
    };

    // This CPU: number 0, its boot path becomes its idle loop; TTBR0 names the empty
    // table (the zero page) until a thread runs.
    super::cpu::this().idle.adopt_running();
    super::cpu::mark_online(0);
    super::aspace::EMPTY_TTBR0.store(zero_page.0, core::sync::atomic::Ordering::Relaxed);
    super::aspace::init_asids(true, narrow_asids);
    super::aspace::activate_none();
    mmu::enable_user_walks();
    start_other_cpus();
    let info = BootInfo { dtb: PhysAddr(dtb_pa), initrd };
    crate::arch::aarch64::exception::call_main(info)
}

/// The architected INTID of the EL1 virtual timer (PPI 11), when the tree has no timer.
const VIRTUAL_TIMER_INTID: u32 = 27;

/// Maps device registers into the kernel's MMIO windows during boot.
struct DeviceMapper<'a> {
    table: &'a mut PageTable,
    windows: MmioWindows,
    frames: &'a mut FrameAllocator,
}

impl DeviceMapper<'_> {
    fn map(&mut self, range: PhysRange) -> ZxResult<DeviceMapping> {
        let mut tables = KernelTableMemory { frames: self.frames, table_pages: &mut 0 };
        mmu::map_device(self.table, &mut self.windows, &mut tables, range.base, range.size.max(PAGE_SIZE))
    }
}

/// Brings up the console: `console=pl011` or `console=miniuart` on the command line picks
/// the UART; otherwise the one stdout-path names, with the first PL011 mirrored when that
/// is another UART (the Pi's mini UART is QEMU raspi4b's second serial port, the PL011
/// its first). Returns false when no UART could be used (semihosting stays the console).
fn attach_console(machine: &Machine, devices: &mut DeviceMapper<'_>) -> bool {
    let wanted = crate::platform::cmdline_value(machine.bootargs.as_str(), "console");
    let pick = |uart: &Uart| match wanted {
        Some("pl011") => uart.kind == UartKind::Pl011,
        Some("miniuart") => uart.kind == UartKind::MiniUart,
        _ => true,
    };
    let (primary, mirror) = match (machine.console, machine.pl011) {
        (Ok(c), Ok(p)) if wanted.is_none() && p.regs.base != c.regs.base => (Some(c), Some(p)),
        (Ok(c), _) if pick(&c) => (Some(c), None),
        (_, Ok(p)) if pick(&p) => (Some(p), None),
        _ => (None, None),
    };
    if let Some(uart) = mirror {
        attach_uart(machine, devices, uart, true);
    }
    primary.is_some_and(|uart| attach_uart(machine, devices, uart, false))
}

/// Maps and programs one UART as the console (or its mirror). On a Raspberry Pi the
/// console UART also gets GPIO 14/15.
fn attach_uart(machine: &Machine, devices: &mut DeviceMapper<'_>, uart: Uart, mirror: bool) -> bool {
    let kind = match uart.kind {
        UartKind::Pl011 => ConsoleUart::Pl011,
        UartKind::MiniUart => ConsoleUart::MiniUart,
    };
    if let (Ok(gpio), Board::RaspberryPi4, false) = (machine.gpio, machine.board, mirror)
        && let Ok(gpio) = devices.map(gpio)
    {
        attach::route_uart_pins(gpio, kind);
    }
    // The PL011's reference clock is in the tree; the mini UART's divisor is left as the
    // firmware set it (its clock, the VPU's, is not a fixed clock).
    let clock = if kind == ConsoleUart::Pl011 { uart.clock_hz } else { None };
    devices
        .map(uart.regs)
        .and_then(|regs| attach::attach_console(kind, regs, clock, uart.baud.unwrap_or(115_200), mirror))
        .is_ok()
}

/// Maps the GIC the tree describes (for GICv3, the boot CPU's redistributor frames).
fn attach_gic(machine: &Machine, devices: &mut DeviceMapper<'_>) -> ZxResult<crate::drivers::gic::Gic> {
    /// One redistributor: its RD_base and SGI_base frames, 64 KiB each.
    const REDISTRIBUTOR_FRAMES: u64 = 0x20000;
    match machine.gic {
        Ok(Gic::V2 { distributor, cpu_interface }) => {
            Ok(attach::gic_v2(devices.map(distributor)?, devices.map(cpu_interface)?))
        }
        Ok(Gic::V3 { distributor, redistributors }) => {
            // Every CPU's frames, as far as the CPUs the tree lists need them.
            let cpus = machine.cpus.len().max(1) as u64;
            let needed = PhysRange { size: redistributors.size.min(REDISTRIBUTOR_FRAMES * cpus), ..redistributors };
            Ok(attach::gic_v3(devices.map(distributor)?, devices.map(needed)?))
        }
        Err(e) => {
            log::error!("gic: {e}");
            Err(ZxError::NotSupported)
        }
    }
}

/// The kernel half's tables: the image by section with W^X (and the stack's guard page
/// left out), and every RAM range in the linear map (normal write-back, never
/// executable).
fn build_kernel_tables(machine: &Machine) -> ZxResult<PageTable> {
    let sections = mmu::kernel_sections();
    let (text, rodata, data, guard) = (sections.text, sections.rodata, sections.data, sections.stack_guard);

    let mut pool = BootTableMemory::new();
    let mut table = PageTable::new(&mut pool)?;
    let mut map = |(start, end): (u64, u64), attrs: PageAttrs, table: &mut PageTable| -> ZxResult {
        if end > start {
            let pa = PhysAddr(mmu::kernel_virt_to_phys(start));
            table.map_range(VirtAddr(start), pa, end - start, attrs, &mut pool)?;
        }
        Ok(())
    };
    map(text, PageAttrs::kernel(true, false, true, MemoryType::NormalWriteBack), &mut table)?;
    map(rodata, PageAttrs::kernel(true, false, false, MemoryType::NormalWriteBack), &mut table)?;
    let rw = PageAttrs::kernel(true, true, false, MemoryType::NormalWriteBack);
    map((data.0, guard), rw, &mut table)?;
    map((guard + PAGE_SIZE, data.1), rw, &mut table)?;
    for range in machine.ram.iter() {
        let va = VirtAddr(LINEAR_BASE + range.base.0);
        table.map_range(va, range.base, range.size & !(PAGE_SIZE - 1), rw, &mut pool)?;
    }
    let _ = KERNEL_VBASE;
    Ok(table)
}

fn print_banner(machine: &Machine, dtb_pa: u64, entry_el: u64, heap_bytes: u64, frames: &FrameAllocator) {
    kprintln!();
    kprintln!(
        "Ferrite {} (AArch64): entered at EL{entry_el}, running at EL{}",
        env!("CARGO_PKG_VERSION"),
        cpu::current_el()
    );
    kprintln!(
        "machine: {} ({:?}), device tree at {dtb_pa:#x} ({} bytes)",
        machine.model,
        machine.board,
        machine.dtb_total_size
    );
    kprintln!("cpus: {} in the tree", machine.cpus_in_tree);
    for cpu in machine.cpus.iter() {
        kprintln!("  cpu mpidr={:#x} enable-method={:?}", cpu.mpidr, cpu.enable_method);
    }
    for ram in machine.ram.iter() {
        kprintln!("ram: {:#012x}..{:#012x} ({} MiB)", ram.base.0, ram.base.0 + ram.size, ram.size >> 20);
    }
    for r in machine.reserved.iter() {
        kprintln!("reserved: {:#012x}..{:#012x}", r.base.0, r.base.0 + r.size);
    }
    if let Some(initrd) = machine.initrd {
        kprintln!("initrd: {:#012x}..{:#012x} ({} bytes)", initrd.base.0, initrd.base.0 + initrd.size, initrd.size);
    }
    match &machine.console {
        Ok(uart) => {
            kprintln!("console: {:?} at {:#x} (stdout-path \"{}\")", uart.kind, uart.regs.base.0, machine.stdout_path)
        }
        Err(e) => kprintln!("console: {e}"),
    }
    match &machine.gic {
        Ok(Gic::V2 { distributor, cpu_interface }) => {
            kprintln!("gic: v2, distributor {:#x}, cpu interface {:#x}", distributor.base.0, cpu_interface.base.0)
        }
        Ok(Gic::V3 { distributor, redistributors }) => {
            kprintln!("gic: v3, distributor {:#x}, redistributors {:#x}", distributor.base.0, redistributors.base.0)
        }
        Err(e) => kprintln!("gic: {e}"),
    }
    match &machine.timer {
        Ok(t) => kprintln!(
            "timer: {} Hz, virtual INTID {}, physical INTID {}",
            timer::frequency(),
            t.virt.intid,
            t.nonsecure_phys.intid
        ),
        Err(e) => kprintln!("timer: {e}"),
    }
    match &machine.psci {
        Ok(p) => kprintln!("psci: {:?}", p.method),
        Err(_) => kprintln!("psci: none"),
    }
    kprintln!("command line: \"{}\"", machine.bootargs);
    let (start, end) = mmu::kernel_phys_range();
    kprintln!("memory layout:");
    kprintln!("  kernel image  {KERNEL_VBASE:#018x} -> phys {start:#x}..{end:#x} ({} KiB)", (end - start) >> 10);
    kprintln!("  linear map    {LINEAR_BASE:#018x} + phys");
    kprintln!("  mmio windows  {:#018x}", crate::mm::layout::MMIO_BASE);
    kprintln!("  user space    {:#x}..{:#x}", crate::abi::USER_BASE, crate::abi::USER_END);
    kprintln!(
        "frames: {} MiB total, {} MiB free; heap {} KiB; semihosting {}",
        frames.total_bytes() >> 20,
        frames.free_bytes() >> 20,
        heap_bytes >> 10,
        if semihosting::available() { "yes" } else { "no" }
    );
}

/// Runs the initrd as the first process, or, without one, shows the timer ticking and
/// shuts down (status 0).
pub fn run_userboot(info: BootInfo) -> ! {
    let Some(initrd) = info.initrd else {
        let selftest = crate::platform::cmdline_flag(super::machine().bootargs.as_str(), "selftest");
        if selftest {
            let passed = super::selftest::run();
            super::shutdown::shutdown(if passed { 0 } else { 1 }, "self-checks done, no initrd to run")
        }
        show_ticks();
        super::shutdown::shutdown(0, "no initrd to run")
    };
    // The tree's initrd range must be RAM the linear map covers before it is read.
    let in_ram = super::memory::RAM
        .get()
        .is_some_and(|ram| ram.ranges().iter().any(|&(start, end)| initrd.base.0 >= start && initrd.end() <= end));
    if !in_ram {
        kprintln!(
            "ferrite: refusing the initrd: {:#x}..{:#x} (from the device tree) is not inside RAM",
            initrd.base.0,
            initrd.end()
        );
        super::shutdown::shutdown(crate::abi::exit_status::BAD_INITRD, "the initrd was refused")
    }
    let image = mmu::phys_slice(initrd.base, initrd.size as usize);
    let cmdline = super::machine().bootargs.as_str();
    match super::userboot::start(image, cmdline) {
        Ok(()) => {
            super::irq::start_scheduling();
            super::sched::idle_loop()
        }
        Err(super::userboot::UserbootError::Refused(why)) => {
            kprintln!("ferrite: refusing the initrd: {why}");
            super::shutdown::shutdown(crate::abi::exit_status::BAD_INITRD, "the initrd was refused")
        }
        Err(super::userboot::UserbootError::Kernel(e)) => {
            kprintln!("ferrite: cannot start the initrd: {e}");
            super::shutdown::shutdown(1, "userboot failed")
        }
    }
}

/// How long the boot CPU waits for a started CPU to come up. Ample: a CPU comes up in
/// well under a millisecond; only an emulator on a loaded host (MTTCG vCPUs compete for
/// its cores) ever took more than one second.
const START_WAIT_SECONDS: u64 = 5;

/// Starts every other CPU the tree lists (ABI.md section 7), one at a time: PSCI
/// `CPU_ON` through the tree's conduit, or the spin table. Each gets a kernel stack for
/// its idle loop and the next CPU number once it reports itself online; one that has
/// not within [`START_WAIT_SECONDS`] is reported and left out, with every CPU after it
/// (`cpu::give_up_on`).
fn start_other_cpus() {
    use crate::arch::aarch64::smp::{StartMethod, start_cpu};
    use crate::platform::EnableMethod;
    let machine = super::machine();
    let me = cpu::mpidr();
    let conduit = machine.psci.ok().map(|p| p.method);
    let mut next = 1;
    for other in machine.cpus.iter().filter(|c| c.mpidr != me) {
        if next >= crate::arch::aarch64::percpu::MAX_CPUS {
            kprintln!("cpus: more than {} CPUs; cpu {:#x} left out", next, other.mpidr);
            break;
        }
        let method = match (other.enable_method, conduit) {
            (EnableMethod::Psci, Some(conduit)) => StartMethod::Psci(conduit),
            (EnableMethod::SpinTable { release_addr }, _) => StartMethod::SpinTable(release_addr),
            (how, _) => {
                kprintln!("cpus: cpu {:#x} has no usable enable method ({how:?}); left out", other.mpidr);
                continue;
            }
        };
        let stack = match super::kstack::KernelStack::new() {
            Ok(stack) => stack,
            Err(e) => {
                kprintln!("cpus: no memory for cpu {:#x}'s stack ({e}); left out", other.mpidr);
                break;
            }
        };
        if let Err(e) = start_cpu(other.mpidr, method, next, stack.top()) {
            kprintln!("cpus: cpu {:#x} did not start ({e:?}); left out", other.mpidr);
            continue;
        }
        // The stack is the CPU's idle stack for good (or, if it is left out, the stack
        // it parks on).
        core::mem::forget(stack);
        let started = timer::ticks();
        let limit = START_WAIT_SECONDS * timer::frequency();
        let online = || super::cpu::get(next).online.load(core::sync::atomic::Ordering::Acquire);
        while !online() && timer::ticks().wrapping_sub(started) <= limit {
            crate::arch::aarch64::cpu::spin_wait_hint();
        }
        // A started CPU cannot be called back, and one that comes up late would run with
        // this index: so the give-up is a handshake (it parks if it loses), and no CPU is
        // started after it, so that the online CPUs stay 0..n with no index used twice.
        if !online() && super::cpu::give_up_on(next) {
            kprintln!(
                "cpus: cpu {:#x} did not come up within {START_WAIT_SECONDS} s; it and any CPU after it are left out",
                other.mpidr
            );
            break;
        }
        while !online() {
            // It won the handshake just now: it is marking itself online.
            crate::arch::aarch64::cpu::spin_wait_hint();
        }
        next += 1;
    }
    log::info!("cpus: {} online", super::cpu::online_count());
}

/// A secondary CPU's first Rust code (after boot.S set its stack and tables).
pub fn secondary_start(index: usize) -> ! {
    super::cpu::this().idle.adopt_running();
    super::cpu::this().mpidr.store(cpu::mpidr(), core::sync::atomic::Ordering::Relaxed);
    mmu::finish_secondary_tables();
    if cpu::has_pan() {
        cpu::enable_pan();
    }
    cpu::allow_el0_counter();
    super::aspace::init_asids(false, false);
    super::aspace::activate_none();
    mmu::enable_user_walks();
    if let Err(e) = super::irq::start_secondary() {
        kprintln!("cpus: cpu {index} cannot take interrupts ({e}); left out");
        cpu::park()
    }
    if !super::cpu::claim_online(index) {
        // The boot CPU gave up waiting and counts this CPU out.
        cpu::park()
    }
    super::sched::idle_loop()
}

/// Waits for a few timer ticks and reports them, to show interrupts arriving.
pub fn show_ticks() {
    let start = super::irq::ticks();
    for _ in 0..1000 {
        if super::irq::ticks() >= start + 3 {
            break;
        }
        super::irq::sleep_until_interrupt();
    }
    log::info!(
        "timer: {} ticks at {} Hz, uptime {} ms",
        super::irq::ticks(),
        super::irq::TICK_HZ,
        super::irq::uptime_nanos() / 1_000_000
    );
}
