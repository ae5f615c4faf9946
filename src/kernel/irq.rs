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
    TIMER_INTID.store(timer_intid, Ordering::Relaxed);
    timer::arm(timer::frequency() / TICK_HZ);
}

/// Called from the vector table for every IRQ.
pub fn handle_irq() {
    let Some(gic) = GIC.get() else { return };
    while let Some(intid) = gic.acknowledge() {
        if intid == TIMER_INTID.load(Ordering::Relaxed) {
            TICKS.fetch_add(1, Ordering::Relaxed);
            timer::arm(timer::frequency() / TICK_HZ);
        } else {
            log::warn!("unexpected interrupt {intid}");
        }
        gic.end_of_interrupt(intid);
    }
}

/// Waits for the next interrupt (the periodic tick at the latest) with IRQs unmasked,
/// then masks them again. Used by syscalls that sleep.
pub fn sleep_until_interrupt() {
    crate::arch::aarch64::cpu::enable_interrupts();
    crate::arch::aarch64::cpu::wait_for_interrupt();
    crate::arch::aarch64::cpu::disable_interrupts();
}
