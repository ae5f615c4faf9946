//! Copies to and from user memory. The range check is pure (`syscall::user_ptr`); the
//! copy itself is an assembly routine whose faults are fixed up (user_copy.S): a fault
//! ends the copy early and reports where, so the caller can resolve it (commit a page
//! of a mapping) and resume, or give up with `ZX_ERR_INVALID_ARGS`. The kernel never
//! takes a fatal fault on a user pointer.

use super::percpu::{MAX_CPUS, cpu_index};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether PAN is on, so the copy routine lifts it around user accesses: boot patches
/// the routine's `SET_PAN` sites from it (`static_key::Key::Pan`).
static PAN_IN_USE: AtomicBool = AtomicBool::new(false);

/// The last user-copy fault of each CPU: where, and whether it was a store. Per CPU
/// because copies run on several CPUs at once (small copies take no lock, see
/// `kernel::syscalls::user`); a copy and the fault it reports happen on one CPU with
/// interrupts masked, so the entry is read back by the same copy that set it.
static FAULT_ADDR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static FAULT_WRITE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

unsafe extern "C" {
    fn ferrite_copy_user(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn ferrite_copy_user_q(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static user_copy_begin: u8;
    static user_copy_end: u8;
    static user_copy_fault: u8;
    static user_copy_small_begin: u8;
    static user_copy_small_end: u8;
    static user_copy_small_fault: u8;
    fn ferrite_store_user_read(
        dst: *mut u8,
        src: *const u8,
        len: usize,
        actual_bytes: *mut u32,
        actual_handles: *mut u32,
    ) -> usize;
    static user_unpriv_begin: u8;
    static user_unpriv_end: u8;
    static user_unpriv_fault: u8;
}

/// Records that PAN is enabled (see `cpu::enable_pan`); boot then patches the copy
/// routine's sites ([`static_key::apply`](super::static_key::apply)).
pub fn set_pan_in_use(on: bool) {
    PAN_IN_USE.store(on, Ordering::Relaxed);
}

/// Whether PAN is enabled ([`set_pan_in_use`]).
pub fn pan_in_use() -> bool {
    PAN_IN_USE.load(Ordering::Relaxed)
}

/// If `pc` is inside the copy routine, records the fault and returns the address to
/// resume at.
pub fn fixup_for(pc: u64, far: u64, write: bool) -> Option<u64> {
    let (begin, end, fault) =
        (&raw const user_copy_begin as u64, &raw const user_copy_end as u64, &raw const user_copy_fault as u64);
    let (small_begin, small_end, small_fault) = (
        &raw const user_copy_small_begin as u64,
        &raw const user_copy_small_end as u64,
        &raw const user_copy_small_fault as u64,
    );
    let (unpriv_begin, unpriv_end, unpriv_fault) =
        (&raw const user_unpriv_begin as u64, &raw const user_unpriv_end as u64, &raw const user_unpriv_fault as u64);
    let resume = if (begin..end).contains(&pc) {
        fault
    } else if (small_begin..small_end).contains(&pc) {
        small_fault
    } else if (unpriv_begin..unpriv_end).contains(&pc) {
        unpriv_fault
    } else {
        inline_fixup_for(pc)?
    };
    FAULT_ADDR[cpu_index()].store(far, Ordering::Relaxed);
    FAULT_WRITE[cpu_index()].store(write, Ordering::Relaxed);
    Some(resume)
}

/// One record of the exception table (linker.ld's `.ex_table`): an inline user access
/// (`resume_at_label!`, `resume_at_stub!`) and where to resume when it faults.
#[repr(C)]
struct ExTableEntry {
    site: u64,
    fixup: u64,
}

unsafe extern "C" {
    // linker.ld: the records of every inline user access, 16 bytes each.
    static __ex_table_start: ExTableEntry;
    static __ex_table_end: ExTableEntry;
}

/// The fixup of the inline user access at `pc`, if it is one. A linear search: there are
/// a handful of records, and only a fault on a user address looks.
fn inline_fixup_for(pc: u64) -> Option<u64> {
    let start = &raw const __ex_table_start;
    let end = &raw const __ex_table_end;
    let count = (end as usize - start as usize) / core::mem::size_of::<ExTableEntry>();
    // SAFETY: linker.ld puts the start and stop symbols around the section, in .rodata
    // (read-only, never written), 8-aligned; the section holds only the 16-byte records
    // (two `.quad`s after `.balign 8`) that `resume_at_label!` and
    // `resume_at_stub!` write.
    let table = unsafe { core::slice::from_raw_parts(start, count) };
    table.iter().find(|entry| entry.site == pc).map(|entry| entry.fixup)
}

/// Where a copy stopped: the user address that faulted and whether it was a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFault {
    /// Bytes copied before the fault.
    pub copied: usize,
    /// The faulting address.
    pub addr: u64,
    /// True for a store.
    pub write: bool,
}

/// Copies `len` bytes between user address `user` and kernel memory at `kernel_va`
/// (`to_user` says which way). The user range must already be checked to lie in user
/// space.
///
/// # Safety
/// `kernel_va..kernel_va+len` must be mapped kernel memory that may be read (and
/// written, when `to_user` is false) for the duration of the call.
#[inline(always)]
pub unsafe fn copy(user: u64, kernel_va: u64, len: usize, to_user: bool) -> Result<(), CopyFault> {
    // SAFETY: the caller's promise, passed on.
    unsafe { copy_with(ferrite_copy_user, user, kernel_va, len, to_user) }
}

/// The copy routine's signature (`ferrite_copy_user` or its `_q` entry).
type CopyRoutine = unsafe extern "C" fn(*mut u8, *const u8, usize) -> usize;

/// [`copy`] through `routine`.
///
/// # Safety
/// As for [`copy`].
#[inline(always)]
unsafe fn copy_with(
    routine: CopyRoutine,
    user: u64,
    kernel_va: u64,
    len: usize,
    to_user: bool,
) -> Result<(), CopyFault> {
    // SAFETY: the kernel side is the caller's promise; user-side faults are fixed up.
    let left = unsafe {
        if to_user {
            routine(user as *mut u8, kernel_va as *const u8, len)
        } else {
            routine(kernel_va as *mut u8, user as *const u8, len)
        }
    };
    if left == 0 {
        return Ok(());
    }
    Err(recorded_fault(len - left.min(len)))
}

/// Copies `len` bytes between two kernel buffers with the user copies' routine (1 KiB
/// per iteration in q registers, which it saves and restores), for long kernel copies
/// such as userboot loading the initrd; short ones cost about what memcpy does.
///
/// # Safety
/// `src..src + len` must be readable and `dst..dst + len` writable kernel memory that
/// does not overlap it, with the MMU on (the q accesses may be unaligned).
pub unsafe fn copy_kernel(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's promise; kernel memory does not fault, so nothing is left.
    let left = unsafe { ferrite_copy_user(dst, src, len) };
    debug_assert_eq!(left, 0, "a kernel-to-kernel copy faulted");
}

/// The fault this CPU's fixup recorded (`fixup_for`) for a copy that moved `copied`
/// bytes before it.
#[cold]
fn recorded_fault(copied: usize) -> CopyFault {
    CopyFault {
        copied,
        addr: FAULT_ADDR[cpu_index()].load(Ordering::Relaxed),
        write: FAULT_WRITE[cpu_index()].load(Ordering::Relaxed),
    }
}

/// Copies between a user address and a kernel buffer.
#[inline(always)]
pub fn copy_slice_to_user(user: u64, src: &[u8]) -> Result<(), CopyFault> {
    // SAFETY: `src` is a live kernel slice.
    unsafe { copy(user, src.as_ptr() as u64, src.len(), true) }
}

/// Records each numbered site (`"N"` for the instruction labelled `N:`) of an inline
/// user access in the exception table with the assembly's `fault` label operand as its
/// resume address. For an access whose only outputs are scratch registers it discards
/// (`out(reg) _`), which stable Rust allows beside a label; a fault changes no other
/// register (the EL1 exception path restores them all), as `asm goto` requires.
macro_rules! resume_at_label {
    ($($site:literal),+) => {
        concat!(
            ".pushsection .ex_table, \"a\"\n",
            ".balign 8\n",
            $(".quad ", $site, "b, {fault}\n",)+
            ".popsection",
        )
    };
}

/// One unprivileged store of `$value` (register width `$width`: `w` or `x`) to the user
/// address `$user`, inline, with its fault fixed up through the exception table: `Ok`,
/// or the recorded fault when the store faulted.
///
/// The `sttr` is recorded in `.ex_table` (linker.ld) with the address of the `label`
/// block; a fault on it makes [`fixup_for`] resume there, with every register as the
/// store left it (the EL1 exception path saves and restores them all), which is what
/// `asm goto` promises the block. An unprivileged store needs no PAN switch (see
/// user_copy.S). Inline rather than a call to a routine: the value and the address stay
/// in whatever registers the compiler chose, where a call moved them into x0/x1 and
/// cost the `bl`, the routine's status and its test (7 instructions per store).
macro_rules! store_to_user_inline {
    ($user:expr, $value:expr, $width:literal) => {{
        // SAFETY: no kernel memory is involved: the store is unprivileged (EL0's
        // permissions) to a user address the caller checked; a fault on it resumes at
        // the label block, which reports it.
        unsafe {
            core::arch::asm!(
                concat!("2: sttr {value:", $width, "}, [{user}]"),
                resume_at_label!("2"),
                user = in(reg) $user,
                value = in(reg) $value,
                fault = label {
                    core::hint::cold_path();
                    return Err(recorded_fault(0));
                },
                options(nostack, preserves_flags),
            )
        }
        Ok(())
    }};
}

/// Stores `value` (little-endian, as every copy here) at user address `user`, which the
/// caller checked to lie in user space with its 4 bytes: one inline store instruction
/// (`store_to_user_inline!`) instead of the copy loop.
#[inline(always)]
pub fn store_u32_to_user(user: u64, value: u32) -> Result<(), CopyFault> {
    store_to_user_inline!(user, value, "w")
}

/// [`store_u32_to_user`] for a 64-bit value (8 bytes checked by the caller).
#[inline(always)]
pub fn store_u64_to_user(user: u64, value: u64) -> Result<(), CopyFault> {
    store_to_user_inline!(user, value, "x")
}

/// The end of an inline user access whose outputs rule out an `asm goto` label (a load,
/// whose value is an output): sets the `failed` operand to 0,
/// and records each numbered site (`"N"` for the instruction labelled `N:`) in the
/// exception table with a stub in `.text.ex_fixup` as its resume address, which sets
/// `failed` to 1 and branches back to the end, as Linux's fixups do. A fault changes no
/// other register (the EL1 exception path restores them all).
macro_rules! resume_at_stub {
    ($($site:literal),+) => {
        concat!(
            "mov {failed:w}, #0\n",
            "3:\n",
            ".pushsection .text.ex_fixup, \"ax\"\n",
            "4: mov {failed:w}, #1\n",
            "b 3b\n",
            ".popsection\n",
            ".pushsection .ex_table, \"a\"\n",
            ".balign 8\n",
            $(".quad ", $site, "b, 4b\n",)+
            ".popsection",
        )
    };
}

/// Loads the 32-bit little-endian value at user address `user`, which the caller checked
/// to lie in user space with its 4 bytes and to be 4-byte aligned: one inline load with
/// an exception-table record instead of the copy loop. The load is unprivileged (see
/// user_copy.S: it would also fail on an execute-only page, which no user mapping is),
/// so a caller takes the general copy on any failure.
///
/// A load has an output, which `asm goto` does not allow with a label (unstable), so
/// its record resumes at a stub in `.text.ex_fixup` that sets the failure flag and
/// branches back, as Linux's fixups do.
#[inline(always)]
pub fn load_u32_from_user(user: u64) -> Result<u32, CopyFault> {
    let (value, failed): (u32, u32);
    // SAFETY: no kernel memory is involved: the load is unprivileged (EL0's permissions)
    // from a user address the caller checked; a fault on it resumes at the stub, which
    // only sets `failed` (the EL1 exception path restores every other register).
    unsafe {
        core::arch::asm!(
            "2: ldtr {value:w}, [{user}]",
            resume_at_stub!("2"),
            user = in(reg) user,
            value = out(reg) value,
            failed = out(reg) failed,
            options(nostack, preserves_flags, readonly),
        )
    }
    if failed == 0 {
        return Ok(value);
    }
    Err(recorded_fault(0))
}

/// Copies the 48 bytes at user address `user`, which the caller checked to lie in user
/// space with its 48 bytes, into `dst`: six inline unprivileged loads, each with its
/// exception-table record (resuming at the label block: the loaded words go straight to
/// `dst`, so the assembly has no output to keep), then the kernel stores, so a fault
/// stores nothing (a port packet into its FIFO slot). Unprivileged, as
/// [`load_u32_from_user`], so a caller takes the general copy on any failure; on one,
/// `dst` is as it was.
#[inline(always)]
pub fn load_48_from_user(dst: &mut [u8; 48], user: u64) -> Result<(), CopyFault> {
    // SAFETY: as `load_u32_from_user`, six loads from the user (a fault resumes at the
    // label block, which reports it); then three stores to `dst`, a live, exclusively
    // borrowed kernel buffer of 48 bytes, made only when no load faulted.
    unsafe {
        core::arch::asm!(
            "20: ldtr {w0}, [{user}]",
            "21: ldtr {w1}, [{user}, #8]",
            "22: ldtr {w2}, [{user}, #16]",
            "23: ldtr {w3}, [{user}, #24]",
            "24: ldtr {w4}, [{user}, #32]",
            "25: ldtr {w5}, [{user}, #40]",
            "stp {w0}, {w1}, [{dst}]",
            "stp {w2}, {w3}, [{dst}, #16]",
            "stp {w4}, {w5}, [{dst}, #32]",
            resume_at_label!("20", "21", "22", "23", "24", "25"),
            user = in(reg) user,
            dst = in(reg) dst.as_mut_ptr(),
            w0 = out(reg) _, w1 = out(reg) _, w2 = out(reg) _,
            w3 = out(reg) _, w4 = out(reg) _, w5 = out(reg) _,
            fault = label {
                core::hint::cold_path();
                return Err(recorded_fault(0));
            },
            options(nostack, preserves_flags),
        )
    }
    Ok(())
}

/// Copies `src` to user address `user`, which the caller checked to lie in user space
/// with its 48 bytes: the kernel loads, then six inline unprivileged stores, each with
/// its exception-table record (resuming at the label block, as [`load_48_from_user`]'s).
/// A port packet out of its FIFO slot. On a fault some of the bytes may be stored; the
/// caller copies the whole block again.
#[inline(always)]
pub fn store_48_to_user(user: u64, src: &[u8; 48]) -> Result<(), CopyFault> {
    // SAFETY: three loads from `src`, a live kernel buffer of 48 bytes, then six stores
    // as `store_to_user_inline!`'s; no kernel memory is written.
    unsafe {
        core::arch::asm!(
            "ldp {w0}, {w1}, [{src}]",
            "ldp {w2}, {w3}, [{src}, #16]",
            "ldp {w4}, {w5}, [{src}, #32]",
            "20: sttr {w0}, [{user}]",
            "21: sttr {w1}, [{user}, #8]",
            "22: sttr {w2}, [{user}, #16]",
            "23: sttr {w3}, [{user}, #24]",
            "24: sttr {w4}, [{user}, #32]",
            "25: sttr {w5}, [{user}, #40]",
            resume_at_label!("20", "21", "22", "23", "24", "25"),
            user = in(reg) user,
            src = in(reg) src.as_ptr(),
            w0 = out(reg) _, w1 = out(reg) _, w2 = out(reg) _,
            w3 = out(reg) _, w4 = out(reg) _, w5 = out(reg) _,
            fault = label {
                core::hint::cold_path();
                return Err(recorded_fault(0));
            },
            options(nostack, preserves_flags),
        )
    }
    Ok(())
}

/// A received message's result in one call of the fault-fixing routines: `src.len()` as
/// a 32-bit value at `actual_bytes` and 0 at `actual_handles` (unprivileged stores, each
/// skipped when its address is 0), then `src` to `user`. The caller checked every range
/// (a used size pointer with its 4 bytes, `user` with `src.len()` bytes when not empty).
/// On a fault some of it may be stored; the caller makes the whole copy-out again.
#[inline(always)]
pub fn store_read_to_user(user: u64, src: &[u8], actual_bytes: u64, actual_handles: u64) -> Result<(), CopyFault> {
    // SAFETY: `src` is a live kernel slice; faults on the user addresses are fixed up and
    // reported (the size stores in the unprivileged range, the bytes in the copy's).
    let left = unsafe {
        ferrite_store_user_read(
            user as *mut u8,
            src.as_ptr(),
            src.len(),
            actual_bytes as *mut u32,
            actual_handles as *mut u32,
        )
    };
    if left == 0 {
        return Ok(());
    }
    Err(recorded_fault(0))
}

/// Copies from a user address into a kernel buffer.
#[inline(always)]
pub fn copy_slice_from_user(dst: &mut [u8], user: u64) -> Result<(), CopyFault> {
    // SAFETY: `dst` is a live, exclusively borrowed kernel slice.
    unsafe { copy(user, dst.as_mut_ptr() as u64, dst.len(), false) }
}

/// Copies between a user address and a kernel page reached through the linear map.
/// The caller (a syscall holding the kernel lock) holds the page for the duration.
/// Inlined: its checks are a few instructions around the call of the copy routine.
#[inline(always)]
pub fn copy_kernel_page(user: u64, kernel_va: u64, len: usize, to_user: bool) -> Result<(), CopyFault> {
    let page = kernel_va & !0xfff;
    let in_linear_map = crate::mm::layout::linear_phys(crate::mm::VirtAddr(page)).is_some();
    if !in_linear_map || (kernel_va & 0xfff) as usize + len > 4096 {
        // Not a single page of the linear map: refuse rather than touch it.
        return Err(CopyFault { copied: 0, addr: u64::MAX, write: false });
    }
    // SAFETY: the range lies within one linear-map page held by the caller. The `_q`
    // entry skips the small-copy test: these are mostly whole pages.
    unsafe { copy_with(ferrite_copy_user_q, user, kernel_va, len, to_user) }
}
