//! Boot-time patched branches ("static keys", as Linux calls them) for flags that are
//! fixed at boot and never change: the lock-order check (`lockcheck`), the VM audit
//! (`vmcheck`) and PAN (whether the CPU has it, so the user copies lift it).
//!
//! A hot site that would load the flag and branch on it (adrp, ldrb, cbnz: 3
//! instructions) is instead one `nop`, recorded in the linker section
//! `__ferrite_patch_sites` ([`crate::insn::PatchSite`]: the site, its "on" target or the
//! instruction to write, and the key). [`apply`] runs once on the boot CPU, after the
//! command line is read and PAN is known and before any other CPU or user thread runs:
//! each site whose key is on becomes a `b` to its "on" code (the Rust sites) or the
//! given instruction (`msr pan, #imm` in user_copy.S). The flags themselves stay in
//! their atomics for cold code and tests.
//!
//! The image's text is mapped read+execute only; the patcher writes the same physical
//! bytes through their writable, never-executable alias in the linear map, then does
//! the full maintenance the architecture requires before modified code runs: `dc cvau`
//! of each written line (the data cache is physically indexed, so the alias's clean is
//! the text's), `dsb ish`, `ic ialluis` (every instruction cache of the inner shareable
//! domain, whatever its indexing, so the alias's address does not matter), `dsb ish`,
//! `isb`.

use super::mmu;
use crate::insn::PatchSite;
use crate::mm::layout::LINEAR_BASE;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// The flags with patched sites (the `key` of a [`PatchSite`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Key {
    /// The lock-order check (`lockcheck` or `vmcheck`): `kernel::sync`.
    OrderCheck = 0,
    /// The VM audit after each VM-locked section (`vmcheck`): `kernel::aspace`.
    VmCheck = 1,
    /// PAN in use: the user copies' `SET_PAN` (user_copy.S, which spells the key as the
    /// constant `key_pan`).
    Pan = 2,
}

impl Key {
    fn from_u32(key: u32) -> Option<Key> {
        match key {
            0 => Some(Key::OrderCheck),
            1 => Some(Key::VmCheck),
            2 => Some(Key::Pan),
            _ => None,
        }
    }
}

unsafe extern "C" {
    // linker.ld: the records of every site, 32 bytes each.
    static __patch_sites_start: PatchSite;
    static __patch_sites_end: PatchSite;
}

/// Every site's record.
pub fn sites() -> &'static [PatchSite] {
    let start = &raw const __patch_sites_start;
    let end = &raw const __patch_sites_end;
    let count = (end as usize - start as usize) / core::mem::size_of::<PatchSite>();
    // SAFETY: linker.ld puts the start and stop symbols around the section, in .rodata
    // (read-only, never written), 8-aligned; the section holds only 32-byte records
    // the sites' assembly wrote in `PatchSite`'s layout (two `.quad`s, four 4-byte
    // words, after `.balign 8`).
    unsafe { core::slice::from_raw_parts(start, count) }
}

/// The body of a function that says whether `$key` is on: a branch site that falls
/// through to `false` (a `nop`) while the key is off and, patched at boot, jumps to a
/// cold `return true` when it is on.
macro_rules! key_is_on {
    ($key:expr) => {{
        // SAFETY: the assembly is a `nop` (patched at boot into a `b` to the `label`
        // operand, which is what `asm goto` permits) and a record in a read-only data
        // section; it touches no register, memory or flag.
        unsafe {
            asm!(
                "2: nop",
                ".pushsection __ferrite_patch_sites, \"a\"",
                ".balign 8",
                ".quad 2b",
                ".quad {on}",
                ".word {key}",
                ".word 0",
                ".word 0xd503201f",
                ".word 0",
                ".popsection",
                on = label {
                    core::hint::cold_path();
                    return true;
                },
                key = const $key as u32,
                options(nomem, nostack, preserves_flags),
            )
        }
        false
    }};
}

/// Whether the lock-order check is on: what `kernel::sync::checks_enabled` says, as one
/// `nop` (the flag off) or one `b` (on) instead of a load and a test.
#[inline(always)]
pub fn order_check_enabled() -> bool {
    key_is_on!(Key::OrderCheck)
}

/// [`order_check_enabled`] as a value in a register: one `movz wN, #0` that boot
/// patches to `movz wN, #1`, where the flag's load took two instructions, and no
/// `asm goto`. For a site whose "on" path needs values of its own: a label block makes
/// the compiler compute them before the site, on the common path too
/// (`sync::with_order_check`, where that cost more than the branch saved).
#[inline(always)]
pub fn order_check_value() -> bool {
    let flag: u32;
    // SAFETY: the assembly sets `flag` (0 as assembled, 1 once patched) and records the
    // site in a read-only data section: it touches no other register, memory or flag.
    // The record's two words are the same `movz` assembled with each immediate, so they
    // name the register the compiler chose.
    unsafe {
        asm!(
            "2: movz {flag:w}, #0",
            ".pushsection __ferrite_patch_sites, \"a\"",
            ".balign 8",
            ".quad 2b",
            ".quad 0",
            ".word {key}",
            "movz {flag:w}, #1",
            "movz {flag:w}, #0",
            ".word 0",
            ".popsection",
            flag = out(reg) flag,
            key = const Key::OrderCheck as u32,
            options(pure, nomem, nostack, preserves_flags),
        )
    };
    flag != 0
}

/// Whether the VM audit is on (`kernel::aspace::vm_check_enabled`), as a patched site.
#[inline(always)]
pub fn vm_check_enabled() -> bool {
    key_is_on!(Key::VmCheck)
}

static APPLIED: AtomicBool = AtomicBool::new(false);

/// Patches every site whose key `on` says is on. Runs once: a second call does nothing.
///
/// Boot calls it on the boot CPU after the flags are final (the command line read,
/// PAN known) and before it starts the other CPUs or any user thread, so no CPU runs a
/// site while it changes and every later reader of a flag's atomic agrees with the
/// sites. Panics on a record it cannot honour (a link-time layout error: a branch out
/// of reach, an unknown key), before writing anything.
pub fn apply(on: impl Fn(Key) -> bool) {
    if APPLIED.swap(true, Ordering::AcqRel) {
        return;
    }
    for site in sites() {
        if Key::from_u32(site.key).is_none() || site.word_when_on().is_none() {
            panic!("patch site {:#x}: ill-formed record {site:?}", site.site);
        }
    }
    let mut words = 0u32;
    for site in sites() {
        let (Some(key), Some(word)) = (Key::from_u32(site.key), site.word_when_on()) else { continue };
        if !on(key) {
            continue;
        }
        let alias = LINEAR_BASE + mmu::kernel_virt_to_phys(site.site);
        // SAFETY: `site.site` is a 4-aligned instruction in the image's text (the record
        // was written by the site's own assembly; checked aligned by `word_when_on`), so
        // `alias` is the same physical word through the linear map, which maps all RAM,
        // the image included, read-write. No CPU executes the site now (the boot CPU
        // is here; no other CPU runs yet), and the cache maintenance below makes every
        // instruction fetch see the new word. `dc cvau` cleans the line to the point of
        // unification by its physical address (data caches behave as PIPT).
        unsafe {
            core::ptr::write_volatile(alias as *mut u32, word);
            asm!("dc cvau, {}", in(reg) alias, options(nostack, preserves_flags));
        }
        words += 1;
    }
    if words == 0 {
        return;
    }
    // SAFETY: barriers and an instruction-cache invalidate (no effect on memory): the
    // cleans complete, every instruction cache of the inner shareable domain drops its
    // lines (whatever their indexing), that completes, and this CPU refetches.
    unsafe { asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// How many sites hold something else than their key's state says (0 when every site
/// was patched as `on` says): for the kernel tests.
pub fn mismatched_sites(on: impl Fn(Key) -> bool) -> usize {
    sites()
        .iter()
        .filter(|site| {
            let expected = Key::from_u32(site.key).and_then(|key| site.expected(on(key)));
            // SAFETY: the site is an instruction in the image's text, mapped readable.
            let word = unsafe { core::ptr::read_volatile(site.site as *const u32) };
            expected != Some(word)
        })
        .count()
}
