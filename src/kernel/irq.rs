//! Interrupts: the GIC, the periodic timer tick, and the monotonic clock.

use crate::arch::aarch64::timer;
use crate::drivers::gic::Gic;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Timer ticks per second.
pub const TICK_HZ: u64 = 100;

static GIC: spin::Once<Gic> = spin::Once::new();
static TIMER_INTID: AtomicU32 = AtomicU32::new(27);
static TICKS: AtomicU64 = AtomicU64::new(0);
static BOOT_COUNTER: AtomicU64 = AtomicU64::new(0);
/// The console UART's receive interrupt (`u32::MAX`: none).
static CONSOLE_INTID: AtomicU32 = AtomicU32::new(u32::MAX);

/// The counter value at boot ("time 0" of the monotonic clock).
pub fn boot_counter() -> u64 {
    BOOT_COUNTER.load(Ordering::Relaxed)
}

/// The SGI that asks a CPU to reschedule (a thread became ready for it, or one it runs
/// was killed).
pub const SGI_RESCHEDULE: u32 = 0;

/// Interrupts CPU `target` so that it reschedules (an SGI through the GIC).
pub fn send_reschedule(target: usize) {
    if let Some(gic) = GIC.get() {
        let address = crate::kernel::cpu::get(target).gic_target.load(Ordering::Acquire);
        gic.send_sgi(SGI_RESCHEDULE, address);
    }
}

/// Records the counter value that is "time 0" for `zx_clock_get_monotonic`.
pub fn mark_boot_time(counter: u64) {
    BOOT_COUNTER.store(counter, Ordering::Relaxed);
}

/// Nanoseconds since boot, from the virtual counter.
pub fn uptime_nanos() -> u64 {
    let freq = timer::frequency().max(1);
    let ticks = timer::ticks().saturating_sub(BOOT_COUNTER.load(Ordering::Relaxed));
    ((ticks as u128 * 1_000_000_000) / freq as u128) as u64
}

/// Timer interrupts taken so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Takes ownership of the interrupt controller, enables the virtual timer's PPI and
/// starts the periodic tick.
pub fn start(gic: Gic, timer_intid: u32) {
    let gic = GIC.call_once(|| gic);
    if let Err(e) = gic.init().and_then(|()| gic.enable_interrupt(timer_intid)) {
        log::error!("gic: cannot enable the timer interrupt {timer_intid}: {e}");
        return;
    }
    if let Err(e) = gic.enable_interrupt(SGI_RESCHEDULE) {
        log::error!("gic: cannot enable the reschedule SGI: {e}");
    }
    let local = crate::kernel::cpu::this();
    local.gic_target.store(gic.this_cpu_target(local.mpidr.load(Ordering::Relaxed)), Ordering::Release);
    TIMER_INTID.store(timer_intid, Ordering::Relaxed);
    timer::arm(timer::frequency() / TICK_HZ);
}

/// Lets the console UART's receive interrupt `intid` in (from the device tree).
pub fn enable_console_input(intid: u32) {
    let Some(gic) = GIC.get() else { return };
    CONSOLE_INTID.store(intid, Ordering::Relaxed);
    if let Err(e) = gic.enable_interrupt(intid) {
        CONSOLE_INTID.store(u32::MAX, Ordering::Relaxed);
        log::warn!("console: cannot enable the receive interrupt {intid}: {e}");
    }
}

/// Whether the scheduler owns the timer (once the first thread exists): then each timer
/// interrupt is its business, else the boot-time tick's.
static SCHEDULING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Hands the timer to the scheduler.
pub fn start_scheduling() {
    SCHEDULING.store(true, Ordering::Release);
}

/// Called from the vector table for every IRQ.
pub fn handle_irq() {
    let Some(gic) = GIC.get() else { return };
    while let Some(acknowledged) = gic.acknowledge() {
        let intid = crate::drivers::gic::acknowledged_intid(acknowledged);
        if intid == TIMER_INTID.load(Ordering::Relaxed) {
            TICKS.fetch_add(1, Ordering::Relaxed);
            crate::kernel::cpu::this().timer_irqs.fetch_add(1, Ordering::Relaxed);
            crate::kernel::sync::watchdog_tick();
            crate::kernel::ipc::console_input::poll();
            if SCHEDULING.load(Ordering::Acquire) {
                crate::kernel::sched::timer_interrupt();
            } else {
                timer::arm(timer::frequency() / TICK_HZ);
            }
        } else if intid == CONSOLE_INTID.load(Ordering::Relaxed) {
            crate::kernel::ipc::console_input::on_interrupt();
        } else if intid == SGI_RESCHEDULE {
            let local = crate::kernel::cpu::this();
            local.reschedule_irqs.fetch_add(1, Ordering::Relaxed);
            local.need_resched.store(true, Ordering::Relaxed);
        } else {
            log::warn!("unexpected interrupt {intid}");
        }
        gic.end_of_interrupt(acknowledged);
    }
}

/// Waits for the next interrupt (the periodic tick at the latest) with IRQs unmasked,
/// then masks them again. Used by syscalls that sleep.
pub fn sleep_until_interrupt() {
    crate::arch::aarch64::cpu::enable_interrupts();
    crate::arch::aarch64::cpu::wait_for_interrupt();
    crate::arch::aarch64::cpu::disable_interrupts();
}

/// Per-CPU interrupt set-up of a secondary CPU: its GIC CPU interface (and, on GICv3,
/// its redistributor), the timer PPI and the reschedule SGI, its timer.
pub fn start_secondary() -> crate::error::ZxResult {
    let gic = GIC.get().ok_or(crate::error::ZxError::BadState)?;
    gic.init_this_cpu(&[TIMER_INTID.load(Ordering::Relaxed), SGI_RESCHEDULE])?;
    let local = crate::kernel::cpu::this();
    local.gic_target.store(gic.this_cpu_target(local.mpidr.load(Ordering::Relaxed)), Ordering::Release);
    timer::arm(timer::frequency() / TICK_HZ);
    Ok(())
}
