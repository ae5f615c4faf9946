//! The syscall suite: every syscall of ABI.md §4 and every error ABI.md and
//! zircon-vmo-semantics.md name, with Zircon's error order.
//!
//! Boot it as the initrd; the command line may carry `filter=SUBSTR` (run only matching
//! tests), `mmio=0xADDR` (a page of an AMBA PrimeCell device, such as the QEMU virt PL031
//! at 0x9010000, for the physical-VMO test) and `ram=0xADDR` (a RAM page the kernel
//! allocates from; default 0x5000_0000, inside QEMU virt's RAM with -m 512M or more).
//! Output is libtest's; the exit status is 0 only when every test passed.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]
#![no_main]

use user::harness::{kernel_can_read, unmapped_range};
use user::zx::rights::*;
use user::zx::*;
use user::{
    Ctx, Failure, TestResult, check, check_eq, check_hex, check_ok, check_status, entry, fail, rt, skip, sys, tests,
};

entry!(main);

fn main(ctx: &Ctx) -> i64 {
    user::harness::run_tests(ctx, TESTS)
}

static TESTS: &[user::Test] = tests![
    // The calling convention itself.
    registers_preserved_across_svc,
    unused_argument_registers_are_ignored,
    status_is_sign_extended_and_unknown_numbers_fail,
    u32_arguments_ignore_upper_bits,
    debug_write_checks_its_buffer,
    debug_write_cuts_length_at_4096,
    clock_monotonic_advances,
    // Handles.
    handle_values_have_low_bits_set,
    handle_close_rules,
    handle_closed_value_stays_bad,
    handle_bogus_values_are_bad,
    handle_duplicate_rights,
    handle_duplicate_errors,
    handle_replace_rules,
    new_objects_die_with_their_unmade_handle,
    // object_get_info.
    info_handle_basic_values,
    info_vmar_of_root_vmar,
    info_vmo_of_fresh_vmo,
    info_errors,
    info_kmem_stats_sane,
    kmem_free_bytes_return_after_vmos,
    kmem_free_bytes_return_after_mapping,
    kmem_vmo_bytes_track_committed_pages,
    // Properties.
    property_name_set_get,
    property_name_truncated_to_31,
    property_name_buffer_too_small,
    property_content_size,
    property_errors,
    // vmo_create.
    vmo_create_sizes,
    vmo_create_options,
    vmo_create_out_of_range,
    vmo_create_bad_out_pointer,
    vmo_create_out_pointer_in_fresh_pages,
    vmo_create_zero_children_asserted,
    vmo_objects_kept_for_reuse_start_new,
    renewed_vmo_handles_keep_distinct_serials,
    // vmo_read / vmo_write.
    vmo_read_write_roundtrip,
    vmo_read_write_ranges,
    vmo_read_write_rights_and_types,
    vmo_uncached_bad_state_before_range,
    vmo_read_write_bad_buffers,
    vmo_read_write_through_mappings,
    vmo_write_of_many_pages_through_faults,
    vmo_copies_within_a_page_through_faults,
    vmo_write_of_a_whole_fresh_page,
    // Sizes.
    vmo_set_size_not_resizable_unavailable,
    vmo_set_size_range_and_rights,
    vmo_shrink_then_read_past_end,
    vmo_grow_reads_zero,
    vmo_get_size_rights_and_errors,
    // op_range.
    op_commit_widens_and_trims,
    op_decommit,
    op_decommit_misaligned,
    op_decommit_cow_not_supported,
    op_zero_partial_and_whole_pages,
    op_zero_bounds_uncached_and_cow,
    op_cache_ops,
    op_lock_unlock_not_supported,
    op_unknown_op_and_check_order,
    op_rights_per_op,
    // create_child.
    child_snapshot_isolation,
    child_at_least_on_write_isolation,
    child_committed_attribution,
    child_info_fields,
    child_zero_children_signal,
    child_zero_children_grandchild_and_mapping,
    child_resizable,
    child_beyond_parent_reads_zero,
    child_options_invalid,
    child_rights,
    child_name_copied,
    slice_shares_writes_both_ways,
    slice_options_and_bounds,
    slice_of_resizable_not_supported,
    child_of_uncached_bad_state,
    // set_cache_policy.
    cache_policy_all_four,
    cache_policy_invalid_before_handle,
    cache_policy_bad_state,
    cache_policy_rights_and_types,
    // replace_as_executable.
    replace_as_executable_basic,
    replace_as_executable_vmex_checks,
    replace_as_executable_runs_code,
    // create_physical.
    physical_argument_checks,
    physical_ram_access_denied,
    physical_mmio_map_and_read,
    // vmar_map.
    map_kernel_chosen_rw,
    map_specific_overlap_and_overwrite,
    map_specific_outside_vmar,
    map_permission_checks,
    map_invalid_options,
    map_len_and_offset_checks,
    map_past_vmo_end_allowed,
    map_num_mappings,
    map_align_option,
    map_bad_handles_and_out_pointer,
    map_and_get_size_out_pointers_in_fresh_pages,
    // vmar_unmap.
    unmap_splits_mapping,
    unmap_nothing_mapped_ok,
    unmap_invalid_args,
    // vmar_protect.
    protect_downgrade_read_only,
    protect_middle_page,
    protect_hole_not_found,
    protect_exceeding_rights,
    protect_invalid_args,
    // (v2) Sub-VMARs: vmar_allocate, vmar_destroy, and map/unmap/protect in them.
    sub_vmar_rights_info_and_placement,
    sub_vmar_mappings_are_relative_and_bounded,
    sub_vmar_protect_and_unmap_respect_regions,
    sub_vmar_allocate_check_order,
    sub_vmar_allocate_bad_out_pointers_leave_nothing,
    sub_vmar_destroy_unmaps_everything_inside,
    sub_vmar_unmap_destroys_wholly_contained_regions,
    sub_vmar_survives_its_handles,
    sub_vmar_memory_returns,
    // cache_flush.
    cache_flush_options,
    cache_flush_ranges,
    // Signals.
    signal_user_bits,
    signal_invalid_bits_and_rights,
    wait_one_deadlines,
    wait_one_future_deadline_times_out,
    // Page faults.
    fault_commits_touched_pages,
    mapping_and_vmo_calls_agree,
    mapping_after_decommit_and_zero,
    cow_child_mapped_and_written,
    // Heap exhaustion (with the command-line word heap=1 only).
    heap_exhaustion_one_page_mappings_then_one_unmap,
    heap_exhaustion_many_one_page_vmos,
    // Last: the only test that uses FP/SIMD registers.
    memory_exhaustion_gives_no_memory_and_returns_every_frame,
    fp_simd_preserved_across_svc,
];

// ---------------------------------------------------------------------------------------
// Helpers.

/// Start of the kernel half: never a user address.
const KERNEL_ADDR: u64 = 0xffff_0000_0000_0000;
const PAGE: u64 = PAGE_SIZE;

/// A read-only buffer (in the R segment).
static RODATA: [u8; 256] = [0x5A; 256];

fn rodata_addr() -> u64 {
    addr_of(core::hint::black_box(&RODATA))
}

/// Issues a syscall whose pointer arguments are invalid, read-only, or point at memory
/// the test owns and lets the kernel overwrite.
fn raw<const N: usize>(nr: u64, args: [u64; N]) -> Status {
    // SAFETY: every caller passes only pointers described above; the tests are about the
    // kernel refusing the invalid ones.
    unsafe { sys::call_status(nr, args) }
}

#[track_caller]
fn new_vmo(size: u64) -> Result<Handle, Failure> {
    check_ok(vmo_create(size, 0), "vmo_create")
}

#[track_caller]
fn new_resizable(size: u64) -> Result<Handle, Failure> {
    check_ok(vmo_create(size, VMO_RESIZABLE), "vmo_create(RESIZABLE)")
}

#[track_caller]
fn dup(handle: impl AsRaw, rights: u32) -> Result<Handle, Failure> {
    check_ok(handle_duplicate(handle, rights), "handle_duplicate")
}

#[track_caller]
fn info(handle: impl AsRaw) -> Result<InfoVmo, Failure> {
    check_ok(info_vmo(handle), "get_info(VMO)")
}

#[track_caller]
fn committed(handle: impl AsRaw) -> Result<u64, Failure> {
    info(handle).map(|i| i.committed_bytes)
}

/// Maps all `len` bytes of `vmo` wherever the kernel likes.
#[track_caller]
fn map(ctx: &Ctx, options: u32, vmo: impl AsRaw, len: u64) -> Result<Mapping, Failure> {
    check_ok(Mapping::new(ctx.root_vmar, options, 0, vmo, 0, len), "vmar_map")
}

/// Writes `len` bytes of `byte` at `offset`.
#[track_caller]
fn fill(vmo: impl AsRaw, offset: u64, byte: u8, len: u64) -> TestResult {
    let chunk = [byte; 512];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64);
        check_ok(vmo_write(&vmo, &chunk[..n as usize], offset + done), "vmo_write (fill)")?;
        done += n;
    }
    Ok(())
}

/// Checks that `len` bytes at `offset` all read `byte`.
#[track_caller]
fn expect_filled(vmo: impl AsRaw, offset: u64, byte: u8, len: u64, what: &str) -> TestResult {
    let mut chunk = [0u8; 512];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64);
        check_ok(vmo_read(&vmo, &mut chunk[..n as usize], offset + done), "vmo_read (check)")?;
        if let Some(i) = chunk[..n as usize].iter().position(|b| *b != byte) {
            fail!("{what}: byte at {:#x} is {:#04x}, want {byte:#04x}", offset + done + i as u64, chunk[i]);
        }
        done += n;
    }
    Ok(())
}

#[track_caller]
fn read_byte(vmo: impl AsRaw, offset: u64) -> Result<u8, Failure> {
    check_ok(vmo_read_byte(vmo, offset), "vmo_read (byte)")
}

#[track_caller]
fn write_byte(vmo: impl AsRaw, offset: u64, byte: u8) -> TestResult {
    check_ok(vmo_write(vmo, &[byte], offset), "vmo_write (byte)")
}

/// Whether ZX_VMO_ZERO_CHILDREN is asserted now.
fn zero_children(vmo: impl AsRaw) -> bool {
    object_wait_one(vmo, VMO_ZERO_CHILDREN, 0).0 == ZX_OK
}

/// The root VMAR's base (ABI.md §2).
const ROOT_BASE: u64 = USER_BASE;

// ---------------------------------------------------------------------------------------
// The calling convention.

core::arch::global_asm!(
    // fn ferrite_regs_probe(out: *mut [u64; 34], nr: u64, arg0: u64)
    // Loads a distinct pattern into x1..x30 and NZCV, issues syscall `nr` with x0 = arg0,
    // and stores x0..x30, NZCV, SP after and SP before into out[0..34].
    ".section .text.ferrite_regs_probe, \"ax\", %progbits",
    ".global ferrite_regs_probe",
    ".type ferrite_regs_probe, %function",
    "ferrite_regs_probe:",
    "    sub sp, sp, #400",
    "    stp x29, x30, [sp, #272]",
    "    stp x19, x20, [sp, #288]",
    "    stp x21, x22, [sp, #304]",
    "    stp x23, x24, [sp, #320]",
    "    stp x25, x26, [sp, #336]",
    "    stp x27, x28, [sp, #352]",
    "    str x0, [sp, #368]",
    "    mov x9, sp",
    "    str x9, [sp, #264]",
    "    stp x1, x2, [sp, #384]",
    "    mov x9, #0xa0000000",
    "    msr nzcv, x9",
    "    .irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    "    movz x\\n, #\\n",
    "    movk x\\n, #0x5eed, lsl #16",
    "    movk x\\n, #0xc0de, lsl #32",
    "    movk x\\n, #(0xa500 + \\n), lsl #48",
    "    .endr",
    "    ldp x16, x0, [sp, #384]",
    "    svc #0",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    stp x8, x9, [sp, #64]",
    "    stp x10, x11, [sp, #80]",
    "    stp x12, x13, [sp, #96]",
    "    stp x14, x15, [sp, #112]",
    "    stp x16, x17, [sp, #128]",
    "    stp x18, x19, [sp, #144]",
    "    stp x20, x21, [sp, #160]",
    "    stp x22, x23, [sp, #176]",
    "    stp x24, x25, [sp, #192]",
    "    stp x26, x27, [sp, #208]",
    "    stp x28, x29, [sp, #224]",
    "    str x30, [sp, #240]",
    "    mrs x1, nzcv",
    "    str x1, [sp, #248]",
    "    mov x1, sp",
    "    str x1, [sp, #256]",
    "    ldr x0, [sp, #368]",
    "    mov x1, #0",
    "1:  ldr x2, [sp, x1, lsl #3]",
    "    str x2, [x0, x1, lsl #3]",
    "    add x1, x1, #1",
    "    cmp x1, #34",
    "    b.ne 1b",
    "    ldp x19, x20, [sp, #288]",
    "    ldp x21, x22, [sp, #304]",
    "    ldp x23, x24, [sp, #320]",
    "    ldp x25, x26, [sp, #336]",
    "    ldp x27, x28, [sp, #352]",
    "    ldp x29, x30, [sp, #272]",
    "    add sp, sp, #400",
    "    ret",
    ".size ferrite_regs_probe, . - ferrite_regs_probe",
);

unsafe extern "C" {
    fn ferrite_regs_probe(out: *mut [u64; 34], nr: u64, arg0: u64);
}

/// The pattern `ferrite_regs_probe` loads into xN.
fn register_pattern(n: u64) -> u64 {
    n | 0x5eed << 16 | 0xc0de << 32 | (0xa500 + n) << 48
}

fn registers_preserved_across_svc(_: &Ctx) -> TestResult {
    // (number, x0, expected x0): a success, unknown numbers, a failing call whose other
    // arguments are the patterns (invalid options), and a call returning a value.
    let cases: [(u64, u64, Option<i64>); 5] = [
        (nr::HANDLE_CLOSE, 0, Some(0)),
        (0, 0, Some(ZX_ERR_BAD_SYSCALL as i64)),
        (9999, 7, Some(ZX_ERR_BAD_SYSCALL as i64)),
        (nr::VMO_CREATE, PAGE, Some(ZX_ERR_INVALID_ARGS as i64)),
        (nr::CLOCK_GET_MONOTONIC, 0, None),
    ];
    for (number, arg0, want) in cases {
        let mut out = [0u64; 34];
        // SAFETY: the probe saves and restores the callee-saved registers it loads and
        // writes only `out`; the syscalls it issues take no valid pointer (x2 holds a
        // pattern that is not a user address).
        unsafe { ferrite_regs_probe(&mut out, number, arg0) };
        if let Some(want) = want {
            check_eq(out[0] as i64, want, "x0 result")?;
        }
        for n in 1..=30u64 {
            let want = if n == 16 { number } else { register_pattern(n) };
            if out[n as usize] != want {
                fail!("syscall {number}: x{n} changed: {:#x}, want {want:#x}", out[n as usize]);
            }
        }
        check_hex(out[31], 0xa000_0000, "NZCV after svc")?;
        check_hex(out[32], out[33], "SP after svc")?;
    }
    Ok(())
}

/// Issues `nr` with `args` in x0..x(N-1) and a pattern in every argument register past
/// them that would be wrong as any argument: above user space as a pointer, a bogus handle,
/// unknown option bits. Returns x0 as a status (or a small value).
fn call_with_junk_after<const N: usize>(nr: u64, args: [u64; N]) -> Status {
    let mut regs: [u64; 8] = core::array::from_fn(|n| register_pattern(n as u64));
    regs[..N].copy_from_slice(&args);
    // SAFETY: the callers' pointer arguments point at their own locals, which the kernel
    // may overwrite; the patterns are not user addresses.
    unsafe { sys::call(nr, regs) as i64 as Status }
}

/// The raw layer (`sys::call`) sets only the registers a call has, so the kernel must read
/// no other: each call here, with junk in every argument register past its own, must do
/// exactly what its own arguments ask.
fn unused_argument_registers_are_ignored(_: &Ctx) -> TestResult {
    // No arguments: the page size.
    let page = call_with_junk_after(nr::SYSTEM_GET_PAGE_SIZE, []);
    check_eq(page as u64, PAGE, "system_get_page_size with junk in x0..x7")?;
    // One: the null close (a junk x0 would be BAD_HANDLE).
    check_status(call_with_junk_after(nr::HANDLE_CLOSE, [0]), ZX_OK, "handle_close(0), junk in x1..x7")?;
    // Three: vmo_create(size, options, out).
    let mut out = 0u32;
    let status = call_with_junk_after(nr::VMO_CREATE, [PAGE, 0, addr_of(&raw mut out)]);
    check_status(status, ZX_OK, "vmo_create, junk in x3..x7")?;
    let vmo = Handle::from_raw(out);
    // Four: vmo_write and vmo_read(handle, buffer, offset, length).
    let data = 0x0123_4567_89ab_cdefu64.to_le_bytes();
    let status = call_with_junk_after(nr::VMO_WRITE, [vmo.raw_u64(), addr_of(data.as_ptr()), 8, 8]);
    check_status(status, ZX_OK, "vmo_write, junk in x4..x7")?;
    let mut back = [0u8; 8];
    let status = call_with_junk_after(nr::VMO_READ, [vmo.raw_u64(), addr_of(back.as_mut_ptr()), 8, 8]);
    check_status(status, ZX_OK, "vmo_read, junk in x4..x7")?;
    check_eq(back, data, "bytes read back")?;
    // Three, then four: object_signal and object_wait_one on an event.
    let event = check_ok(event_create(0), "event_create")?;
    let status = call_with_junk_after(nr::OBJECT_SIGNAL, [event.raw_u64(), 0, USER_SIGNAL_0 as u64]);
    check_status(status, ZX_OK, "object_signal, junk in x3..x7")?;
    let mut observed = 0u32;
    let args = [event.raw_u64(), USER_SIGNAL_0 as u64, 0, addr_of(&raw mut observed)];
    check_status(call_with_junk_after(nr::OBJECT_WAIT_ONE, args), ZX_OK, "object_wait_one, junk in x4..x7")?;
    check_hex(observed as u64, USER_SIGNAL_0 as u64, "observed signals")
}

fn status_is_sign_extended_and_unknown_numbers_fail(_: &Ctx) -> TestResult {
    let bad_syscall = ZX_ERR_BAD_SYSCALL as i64 as u64;
    // 0, the first numbers past ABI v2's 63, and numbers whose low bits name a real
    // syscall (the number is compared as a full 64-bit value).
    for number in [0, 64, 65, 1000, (1 << 32) | nr::HANDLE_CLOSE, (1 << 63) | 3, u64::MAX] {
        // SAFETY: no argument is a valid pointer.
        let ret = unsafe { sys::call(number, [0, 0, 0, 0, 0, 0, 0, 0]) };
        if ret != bad_syscall {
            fail!("syscall {number:#x}: x0 = {ret:#x}, want {bad_syscall:#x} (BAD_SYSCALL sign-extended)");
        }
    }
    // An error status from a real syscall is sign-extended too.
    // SAFETY: no pointer arguments.
    let ret = unsafe { sys::call(nr::HANDLE_CLOSE, [0xFFFF_FFFF]) };
    check_hex(ret, ZX_ERR_BAD_HANDLE as i64 as u64, "handle_close(bogus) x0")?;
    // The process goes on: a real call still works.
    check_status(handle_close(0u32), ZX_OK, "handle_close(0) after bad syscalls")
}

fn u32_arguments_ignore_upper_bits(_: &Ctx) -> TestResult {
    let mut out = 0u32;
    // options = RESIZABLE with garbage above bit 31.
    let status = raw(nr::VMO_CREATE, [PAGE, 0xDEAD_BEEF_0000_0000 | VMO_RESIZABLE as u64, addr_of(&raw mut out)]);
    check_status(status, ZX_OK, "vmo_create with upper option bits")?;
    let vmo = Handle::from_raw(out);
    check_eq(info(&vmo)?.flags & VMO_FLAG_RESIZABLE, VMO_FLAG_RESIZABLE, "RESIZABLE taken from low bits")?;
    // A handle argument with upper bits set.
    let mut size = 0u64;
    let status = raw(nr::VMO_GET_SIZE, [0xABCD_0000_0000_0000 | vmo.raw_u64(), addr_of(&raw mut size)]);
    check_status(status, ZX_OK, "vmo_get_size with upper handle bits")?;
    check_eq(size, PAGE, "size")?;
    // Rights with upper bits set.
    let status = raw(nr::HANDLE_DUPLICATE, [vmo.raw_u64(), 0xFFFF_FFFF_0000_0000 | READ as u64, addr_of(&raw mut out)]);
    check_status(status, ZX_OK, "handle_duplicate with upper rights bits")?;
    let copy = Handle::from_raw(out);
    check_eq(check_ok(rights_of(&copy), "rights")?, READ, "duplicate's rights")?;
    // Signals with upper bits set.
    let status = raw(nr::OBJECT_SIGNAL, [vmo.raw_u64(), 0xFFFF_0000_0000_0000, 0x1_0000_0000 | USER_SIGNAL_0 as u64]);
    check_status(status, ZX_OK, "object_signal with upper mask bits")?;
    // ZX_HANDLE_INVALID with upper bits set is still the null close (OK), which the
    // kernel answers the long way (its quick test looks at the whole register).
    check_status(raw(nr::HANDLE_CLOSE, [0xFFFF_FFFF_0000_0000]), ZX_OK, "handle_close(0 with upper bits)")
}

fn debug_write_checks_its_buffer(ctx: &Ctx) -> TestResult {
    // (An empty slice's pointer is dangling, not a user address: use a real one.)
    let text = [b' '; 4];
    check_status(raw(nr::DEBUG_WRITE, [addr_of(text.as_ptr()), 0]), ZX_OK, "0 bytes from a valid pointer")?;
    check_status(raw(nr::DEBUG_WRITE, [rodata_addr(), 0]), ZX_OK, "0 bytes from rodata")?;
    check_status(raw(nr::DEBUG_WRITE, [0, 0]), ZX_ERR_INVALID_ARGS, "debug_write(NULL, 0)")?;
    check_status(raw(nr::DEBUG_WRITE, [0, 5]), ZX_ERR_INVALID_ARGS, "debug_write(NULL, 5)")?;
    check_status(raw(nr::DEBUG_WRITE, [KERNEL_ADDR, 5]), ZX_ERR_INVALID_ARGS, "kernel pointer")?;
    check_status(raw(nr::DEBUG_WRITE, [KERNEL_ADDR, 0]), ZX_ERR_INVALID_ARGS, "kernel pointer, 0 bytes")?;
    let hole = check_ok(unmapped_range(ctx, 1), "unmapped range")?;
    check_status(raw(nr::DEBUG_WRITE, [hole, 5]), ZX_ERR_INVALID_ARGS, "unmapped pointer")?;
    check_status(raw(nr::DEBUG_WRITE, [USER_END - 2, 4]), ZX_ERR_INVALID_ARGS, "range past user space")?;
    // A range whose tail runs into an unmapped page.
    let vmo = new_vmo(2 * PAGE)?;
    fill(&vmo, 0, b' ', 2 * PAGE)?;
    let mapping = map(ctx, VM_PERM_READ, &vmo, 2 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, mapping.addr() + PAGE, PAGE), "unmap second page")?;
    check_status(raw(nr::DEBUG_WRITE, [mapping.addr() + PAGE - 2, 4]), ZX_ERR_INVALID_ARGS, "range into unmapped page")
}

fn debug_write_cuts_length_at_4096(ctx: &Ctx) -> TestResult {
    // One readable page of spaces followed by an unmapped page: asking for more than 4096
    // bytes from its start is fine only if the kernel cuts the length first.
    let vmo = new_vmo(2 * PAGE)?;
    fill(&vmo, 0, b' ', PAGE)?;
    let mapping = map(ctx, VM_PERM_READ, &vmo, 2 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, mapping.addr() + PAGE, PAGE), "unmap second page")?;
    check_status(raw(nr::DEBUG_WRITE, [mapping.addr(), 10_000]), ZX_OK, "debug_write of 10000 bytes (cut to 4096)")?;
    check_status(raw(nr::DEBUG_WRITE, [mapping.addr(), u64::MAX]), ZX_OK, "debug_write of 2^64-1 bytes (cut to 4096)")?;
    check_status(
        raw(nr::DEBUG_WRITE, [mapping.addr() + 1, 4096]),
        ZX_ERR_INVALID_ARGS,
        "4096 bytes crossing into the hole",
    )
}

fn clock_monotonic_advances(_: &Ctx) -> TestResult {
    let first = clock_get_monotonic();
    check(first > 0, "clock_get_monotonic is positive")?;
    let mut last = first;
    for _ in 0..1000 {
        let now = clock_get_monotonic();
        if now < last {
            fail!("clock went backwards: {last} then {now}");
        }
        last = now;
    }
    // Spin for 10 ms of the counter EL0 reads; the kernel's clock must advance at least
    // that much minus 1 ms of rounding (a lower bound only, never an upper one).
    let hz = rt::counter_frequency();
    check(hz > 0, "CNTFRQ_EL0 is set")?;
    let before = clock_get_monotonic();
    let start = rt::counter_ticks();
    while rt::counter_ticks() - start < hz / 100 {}
    let after = clock_get_monotonic();
    if after - before < 9_000_000 {
        fail!("clock advanced {} ns over 10 ms of CNTVCT", after - before);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Handles.

fn handle_values_have_low_bits_set(ctx: &Ctx) -> TestResult {
    check_eq(ctx.root_vmar & 3, 3, "root VMAR handle low bits")?;
    check_eq(ctx.root_resource & 3, 3, "root resource handle low bits")?;
    let vmo = new_vmo(PAGE)?;
    check_eq(vmo.raw() & 3, 3, "vmo_create handle low bits")?;
    let copy = dup(&vmo, SAME_RIGHTS)?;
    check_eq(copy.raw() & 3, 3, "duplicate low bits")?;
    check(copy.raw() != vmo.raw(), "a duplicate has a new value")?;
    let child = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, PAGE), "create_child")?;
    check_eq(child.raw() & 3, 3, "child handle low bits")
}

fn handle_close_rules(_: &Ctx) -> TestResult {
    check_status(handle_close(0u32), ZX_OK, "close(ZX_HANDLE_INVALID)")?;
    let value = new_vmo(PAGE)?.into_raw();
    check_status(handle_close(value), ZX_OK, "close a live handle")?;
    check_status(handle_close(value), ZX_ERR_BAD_HANDLE, "close it again")?;
    check_status(handle_close(0xFFFF_FFFFu32), ZX_ERR_BAD_HANDLE, "close a bogus value")?;
    // A handle with no rights can be closed.
    let vmo = new_vmo(PAGE)?;
    let bare = dup(&vmo, 0)?.into_raw();
    check_status(handle_close(bare), ZX_OK, "close a handle with no rights")?;
    // Closing one handle leaves the others to the same object working.
    let copy = dup(&vmo, SAME_RIGHTS)?.into_raw();
    check_ok(handle_close(copy), "close the copy")?;
    check_status(vmo_get_size(&vmo), ZX_OK, "original still works")
}

fn handle_closed_value_stays_bad(_: &Ctx) -> TestResult {
    let stale = new_vmo(PAGE)?.into_raw();
    check_ok(handle_close(stale), "close")?;
    // Slots are reused, but a generation in the value keeps the old value dead.
    let mut live: [Option<Handle>; 64] = [const { None }; 64];
    for slot in live.iter_mut() {
        let vmo = new_vmo(PAGE)?;
        if vmo.raw() == stale {
            fail!("a new handle reuses the closed value {stale:#x}");
        }
        *slot = Some(vmo);
    }
    check_status(vmo_get_size(stale), ZX_ERR_BAD_HANDLE, "closed value after reuse of slots")?;
    check_status(info_handle_basic(stale), ZX_ERR_BAD_HANDLE, "get_info on the closed value")?;
    // Close them all, make more, and look again.
    for slot in live.iter_mut() {
        *slot = None;
    }
    for _ in 0..64 {
        let vmo = new_vmo(PAGE)?;
        if vmo.raw() == stale {
            fail!("a new handle reuses the closed value {stale:#x} after a close cycle");
        }
    }
    check_status(handle_close(stale), ZX_ERR_BAD_HANDLE, "close the closed value")
}

fn handle_bogus_values_are_bad(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let real = vmo.raw();
    // Values without both low bits set are never handles.
    for bogus in [1u32, 2, real & !1, real & !2, real & !3, 0xFFFF_FFFE] {
        check_status(vmo_get_size(bogus), ZX_ERR_BAD_HANDLE, "value without both low bits")?;
    }
    for bogus in [0u32, 3, 0x7FFF_FFFF, 0xFFFF_FFFF] {
        check_status(vmo_get_size(bogus), ZX_ERR_BAD_HANDLE, "bogus value")?;
    }
    Ok(())
}

fn handle_duplicate_rights(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let koid = check_ok(info_handle_basic(&vmo), "basic")?.koid;
    let same = dup(&vmo, SAME_RIGHTS)?;
    let same_info = check_ok(info_handle_basic(&same), "basic")?;
    check_hex(same_info.rights as u64, DEFAULT_VMO as u64, "SAME_RIGHTS copy")?;
    check_eq(same_info.koid, koid, "duplicate names the same object")?;
    let read = dup(&vmo, READ)?;
    check_hex(check_ok(rights_of(&read), "rights")? as u64, READ as u64, "subset")?;
    let none = dup(&vmo, 0)?;
    check_hex(check_ok(rights_of(&none), "rights")? as u64, 0, "no rights")?;
    check_status(handle_duplicate(&vmo, READ | EXECUTE), ZX_ERR_INVALID_ARGS, "rights beyond the source")?;
    check_status(handle_duplicate(&read, READ), ZX_ERR_ACCESS_DENIED, "source without DUPLICATE")?;
    // DUPLICATE is checked before the rights subset.
    check_status(handle_duplicate(&read, READ | EXECUTE), ZX_ERR_ACCESS_DENIED, "no DUPLICATE beats bad rights")?;
    let dr = dup(&vmo, DUPLICATE | READ)?;
    let again = dup(&dr, SAME_RIGHTS)?;
    check_hex(
        check_ok(rights_of(&again), "rights")? as u64,
        (DUPLICATE | READ) as u64,
        "SAME_RIGHTS of a reduced handle",
    )
}

fn handle_duplicate_errors(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_status(handle_duplicate(0xFFFF_FFFFu32, SAME_RIGHTS), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    check_status(handle_duplicate(0u32, SAME_RIGHTS), ZX_ERR_BAD_HANDLE, "ZX_HANDLE_INVALID")?;
    for out in [0, KERNEL_ADDR, rodata_addr()] {
        let status = raw(nr::HANDLE_DUPLICATE, [vmo.raw_u64(), SAME_RIGHTS as u64, out]);
        check_status(status, ZX_ERR_INVALID_ARGS, "bad out-pointer")?;
    }
    check_status(vmo_get_size(&vmo), ZX_OK, "source still valid")
}

fn handle_replace_rules(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let koid = check_ok(info_handle_basic(&vmo), "basic")?.koid;
    let old = vmo.into_raw();
    let reduced = check_ok(handle_replace(old, READ | DUPLICATE), "replace with fewer rights")?;
    check_status(vmo_get_size(old), ZX_ERR_BAD_HANDLE, "old value after replace")?;
    let reduced_info = check_ok(info_handle_basic(&reduced), "basic")?;
    check_eq(reduced_info.koid, koid, "same object")?;
    check_hex(reduced_info.rights as u64, (READ | DUPLICATE) as u64, "new rights")?;
    // No DUPLICATE needed, SAME_RIGHTS keeps them.
    let read_only =
        check_ok(handle_replace(dup(&reduced, READ)?.into_raw(), SAME_RIGHTS), "replace without DUPLICATE")?;
    check_hex(check_ok(rights_of(&read_only), "rights")? as u64, READ as u64, "SAME_RIGHTS")?;
    // Rights beyond the source: INVALID_ARGS; the old handle may be gone (newer kernels
    // always remove it) or kept.
    let extra = dup(&reduced, SAME_RIGHTS)?.into_raw();
    check_status(handle_replace(extra, READ | WRITE), ZX_ERR_INVALID_ARGS, "rights beyond the source")?;
    let _ = handle_close(extra);
    check_status(handle_replace(0xFFFF_FFFF, SAME_RIGHTS), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    let victim = dup(&reduced, SAME_RIGHTS)?.into_raw();
    let status = raw(nr::HANDLE_REPLACE, [victim as u64, SAME_RIGHTS as u64, KERNEL_ADDR]);
    check_status(status, ZX_ERR_INVALID_ARGS, "bad out-pointer")?;
    let _ = handle_close(victim);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// object_get_info.

fn info_handle_basic_values(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let basic = check_ok(info_handle_basic(&vmo), "basic(VMO)")?;
    check(basic.koid != 0, "VMO koid is nonzero")?;
    check_eq(basic.obj_type, OBJ_TYPE_VMO, "VMO type")?;
    check_hex(basic.rights as u64, DEFAULT_VMO as u64, "new VMO rights")?;
    check_eq(basic.related_koid, 0, "VMO related_koid")?;
    let other = new_vmo(PAGE)?;
    check(check_ok(info_handle_basic(&other), "basic")?.koid != basic.koid, "two VMOs have two koids")?;
    let vmar = check_ok(info_handle_basic(ctx.root_vmar), "basic(root VMAR)")?;
    check_eq(vmar.obj_type, OBJ_TYPE_VMAR, "root VMAR type")?;
    check_hex(vmar.rights as u64, ROOT_VMAR as u64, "root VMAR rights")?;
    check(vmar.koid != 0 && vmar.koid != basic.koid, "root VMAR koid")?;
    let resource = check_ok(info_handle_basic(ctx.root_resource), "basic(root resource)")?;
    check_eq(resource.obj_type, OBJ_TYPE_RESOURCE, "root resource type")?;
    check_hex(resource.rights as u64, ROOT_RESOURCE as u64, "root resource rights")?;
    // HANDLE_BASIC needs no rights.
    let bare = dup(&vmo, 0)?;
    check_eq(check_ok(info_handle_basic(&bare), "basic(no rights)")?.koid, basic.koid, "koid through a bare handle")
}

fn info_vmar_of_root_vmar(ctx: &Ctx) -> TestResult {
    let vmar = check_ok(info_vmar(ctx.root_vmar), "get_info(VMAR)")?;
    check_hex(vmar.base, 0x1_0000, "root VMAR base")?;
    check_hex(vmar.len, (1 << 47) - 0x1_0000, "root VMAR len")?;
    let vmo = new_vmo(PAGE)?;
    check_status(info_vmar(&vmo), ZX_ERR_WRONG_TYPE, "VMAR topic on a VMO")
}

fn info_vmo_of_fresh_vmo(_: &Ctx) -> TestResult {
    let vmo = new_vmo(5000)?;
    let i = info(&vmo)?;
    check_eq(i.koid, check_ok(info_handle_basic(&vmo), "basic")?.koid, "koid")?;
    check_eq(i.size_bytes, 2 * PAGE, "size_bytes (rounded)")?;
    check_hex(i.flags as u64, (VMO_FLAG_TYPE_PAGED | VMO_FLAG_VIA_HANDLE) as u64, "flags")?;
    check_eq(i.committed_bytes, 0, "committed_bytes")?;
    check_hex(i.handle_rights as u64, DEFAULT_VMO as u64, "handle_rights")?;
    check_eq(i.cache_policy, CACHE_POLICY_CACHED, "cache_policy")?;
    check_eq(i.parent_koid, 0, "parent_koid")?;
    check_eq(i.num_children, 0, "num_children")?;
    check_eq(i.num_mappings, 0, "num_mappings")?;
    check_eq(i.name[0], 0, "empty name")?;
    let resizable = new_resizable(PAGE)?;
    check_hex(
        info(&resizable)?.flags as u64,
        (VMO_FLAG_TYPE_PAGED | VMO_FLAG_VIA_HANDLE | VMO_FLAG_RESIZABLE) as u64,
        "resizable flags",
    )?;
    // handle_rights holds the queried handle's rights; INFO_VMO needs no rights.
    let read = dup(&vmo, READ)?;
    check_hex(info(&read)?.handle_rights as u64, READ as u64, "handle_rights of a reduced handle")?;
    let bare = dup(&vmo, 0)?;
    check_status(info_vmo(&bare), ZX_OK, "INFO_VMO with no rights")
}

fn info_errors(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    // Too small: BUFFER_TOO_SMALL with actual 0 and avail 1.
    for (topic, size, handle) in [
        (INFO_VMO, INFO_VMO_SIZE - 1, vmo.raw()),
        (INFO_HANDLE_BASIC, INFO_HANDLE_BASIC_SIZE - 1, vmo.raw()),
        (INFO_VMAR, INFO_VMAR_SIZE - 1, ctx.root_vmar),
        (INFO_KMEM_STATS, INFO_KMEM_STATS_SIZE - 1, ctx.root_resource),
        (INFO_VMO, 0, vmo.raw()),
    ] {
        let mut buf = [0u8; 128];
        let (mut actual, mut avail) = (77u64, 77u64);
        let args = [
            handle as u64,
            topic as u64,
            addr_of(buf.as_mut_ptr()),
            size as u64,
            addr_of(&raw mut actual),
            addr_of(&raw mut avail),
        ];
        check_status(raw(nr::OBJECT_GET_INFO, args), ZX_ERR_BUFFER_TOO_SMALL, "buffer one byte short")?;
        check_eq((actual, avail), (0, 1), "(actual, avail) after BUFFER_TOO_SMALL")?;
    }
    // A bigger buffer is fine: actual = avail = 1.
    let mut big = [0u8; 200];
    check_eq(check_ok(object_get_info(&vmo, INFO_VMO, &mut big), "200-byte buffer")?, (1, 1), "(actual, avail)")?;
    // actual and avail may be NULL.
    let mut buf = [0u8; INFO_VMO_SIZE];
    let args = [vmo.raw_u64(), INFO_VMO as u64, addr_of(buf.as_mut_ptr()), buf.len() as u64, 0, 0];
    check_status(raw(nr::OBJECT_GET_INFO, args), ZX_OK, "NULL actual and avail")?;
    // An unknown topic is refused before the handle is looked up.
    // (Topic 1 is ABI v2's HANDLE_VALID.)
    for topic in [0u32, 5, 9999, 0x1000_0017 + 1] {
        let args = [0xFFFF_FFFF, topic as u64, addr_of(buf.as_mut_ptr()), buf.len() as u64, 0, 0];
        check_status(raw(nr::OBJECT_GET_INFO, args), ZX_ERR_NOT_SUPPORTED, "unknown topic, bogus handle")?;
    }
    // Handle, then type.
    check_status(object_get_info(0xFFFF_FFFFu32, INFO_VMO, &mut buf), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    let mut small = [0u8; 8];
    check_status(
        object_get_info(0xFFFF_FFFFu32, INFO_VMO, &mut small),
        ZX_ERR_BAD_HANDLE,
        "bogus handle beats small buffer",
    )?;
    check_status(object_get_info(ctx.root_vmar, INFO_VMO, &mut buf), ZX_ERR_WRONG_TYPE, "VMO topic on a VMAR")?;
    check_status(object_get_info(&vmo, INFO_KMEM_STATS, &mut buf), ZX_ERR_WRONG_TYPE, "KMEM_STATS of a VMO")?;
    // Bad buffers.
    let hole = check_ok(unmapped_range(ctx, 1), "unmapped range")?;
    for ptr in [0, KERNEL_ADDR, rodata_addr(), hole, USER_END - 8] {
        let args = [vmo.raw_u64(), INFO_VMO as u64, ptr, INFO_VMO_SIZE as u64, 0, 0];
        check_status(raw(nr::OBJECT_GET_INFO, args), ZX_ERR_INVALID_ARGS, "bad record buffer")?;
    }
    for ptr in [KERNEL_ADDR, rodata_addr(), hole] {
        let args = [vmo.raw_u64(), INFO_VMO as u64, addr_of(buf.as_mut_ptr()), buf.len() as u64, ptr, 0];
        check_status(raw(nr::OBJECT_GET_INFO, args), ZX_ERR_INVALID_ARGS, "bad actual pointer")?;
        let args = [vmo.raw_u64(), INFO_VMO as u64, addr_of(buf.as_mut_ptr()), buf.len() as u64, 0, ptr];
        check_status(raw(nr::OBJECT_GET_INFO, args), ZX_ERR_INVALID_ARGS, "bad avail pointer")?;
    }
    Ok(())
}

fn info_kmem_stats_sane(ctx: &Ctx) -> TestResult {
    let stats = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    check(stats.total_bytes > 0, "total_bytes > 0")?;
    check(stats.free_bytes > 0, "free_bytes > 0")?;
    check(stats.free_bytes <= stats.total_bytes, "free_bytes <= total_bytes")?;
    check_eq(stats.total_bytes % PAGE, 0, "total_bytes is a page multiple")?;
    check_eq(stats.free_bytes % PAGE, 0, "free_bytes is a page multiple")?;
    check_eq(stats.vmo_bytes % PAGE, 0, "vmo_bytes is a page multiple")?;
    check(stats.vmo_bytes <= stats.total_bytes, "vmo_bytes <= total_bytes")
}

/// Creates, commits, clones, writes and closes some VMOs.
fn vmo_churn() -> TestResult {
    let a = new_vmo(4 * PAGE)?;
    check_ok(vmo_op_range(&a, OP_COMMIT, 0, 3 * PAGE), "commit")?;
    let b = new_resizable(PAGE)?;
    fill(&b, 0, 7, PAGE)?;
    check_ok(vmo_set_size(&b, 6 * PAGE), "grow")?;
    fill(&b, 4 * PAGE, 8, 2 * PAGE)?;
    let child = check_ok(vmo_create_child(&a, CHILD_SNAPSHOT, 0, 4 * PAGE), "child")?;
    fill(&child, PAGE, 9, 2 * PAGE)?;
    let slice = check_ok(vmo_create_child(&a, CHILD_SLICE, PAGE, PAGE), "slice")?;
    fill(&slice, 0, 1, PAGE)?;
    let big = new_vmo(64 * PAGE)?;
    check_ok(vmo_op_range(&big, OP_COMMIT, 0, 64 * PAGE), "commit 64 pages")?;
    check_ok(vmo_op_range(&big, OP_DECOMMIT, 0, 32 * PAGE), "decommit 32 pages")?;
    Ok(())
}

fn kmem_free_bytes_return_after_vmos(ctx: &Ctx) -> TestResult {
    vmo_churn()?; // warm-up: lets kernel tables reach their working size
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    {
        let a = new_vmo(16 * PAGE)?;
        check_ok(vmo_op_range(&a, OP_COMMIT, 0, 16 * PAGE), "commit 16 pages")?;
        let during = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
        if during.free_bytes + 16 * PAGE > before.free_bytes {
            fail!(
                "free_bytes fell by {} after committing 16 pages",
                before.free_bytes as i64 - during.free_bytes as i64
            );
        }
        vmo_churn()?;
    }
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    if after.free_bytes != before.free_bytes {
        fail!(
            "free_bytes {} before, {} after (difference {})",
            before.free_bytes,
            after.free_bytes,
            after.free_bytes as i64 - before.free_bytes as i64
        );
    }
    Ok(())
}

fn kmem_free_bytes_return_after_mapping(ctx: &Ctx) -> TestResult {
    let cycle = || -> TestResult {
        let vmo = new_vmo(8 * PAGE)?;
        let mapping = map(ctx, VM_RW, &vmo, 8 * PAGE)?;
        for page in 0..8 {
            mapping.write(page * PAGE, 1);
        }
        let child = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, 8 * PAGE), "child")?;
        let child_map = map(ctx, VM_RW, &child, 8 * PAGE)?;
        child_map.write(3 * PAGE, 2);
        Ok(())
    };
    cycle()?; // warm-up
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    cycle()?;
    cycle()?;
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    if after.free_bytes != before.free_bytes {
        fail!(
            "free_bytes {} before, {} after mapping cycles (difference {}, mmu_overhead {} -> {})",
            before.free_bytes,
            after.free_bytes,
            after.free_bytes as i64 - before.free_bytes as i64,
            before.mmu_overhead_bytes,
            after.mmu_overhead_bytes
        );
    }
    Ok(())
}

fn kmem_vmo_bytes_track_committed_pages(ctx: &Ctx) -> TestResult {
    let vmo_bytes = || check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS").map(|s| s.vmo_bytes);
    let base = vmo_bytes()?;
    {
        let vmo = new_vmo(8 * PAGE)?;
        check_eq(vmo_bytes()?, base, "vmo_bytes after create (nothing committed)")?;
        check_ok(vmo_op_range(&vmo, OP_COMMIT, 0, 3 * PAGE), "commit 3 pages")?;
        check_eq(vmo_bytes()?, base + 3 * PAGE, "vmo_bytes after committing 3 pages")?;
        write_byte(&vmo, 5 * PAGE, 1)?;
        check_eq(vmo_bytes()?, base + 4 * PAGE, "vmo_bytes after writing a 4th page")?;
        let _ = read_byte(&vmo, 7 * PAGE)?;
        check_eq(vmo_bytes()?, base + 4 * PAGE, "vmo_bytes after reading an uncommitted page")?;
        check_ok(vmo_op_range(&vmo, OP_DECOMMIT, 0, PAGE), "decommit 1 page")?;
        check_eq(vmo_bytes()?, base + 3 * PAGE, "vmo_bytes after decommitting 1 page")?;
    }
    check_eq(vmo_bytes()?, base, "vmo_bytes after close")
}

// ---------------------------------------------------------------------------------------
// Properties.

fn property_name_set_get(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_ok(object_set_property(&vmo, PROP_NAME, b"hello"), "set NAME")?;
    let name = check_ok(get_name(&vmo), "get NAME")?;
    check_eq(&name[..6], b"hello\0".as_slice(), "name")?;
    check_eq(&info(&vmo)?.name[..6], b"hello\0".as_slice(), "INFO_VMO name")?;
    check_ok(object_set_property(&vmo, PROP_NAME, b""), "set empty NAME")?;
    check_eq(check_ok(get_name(&vmo), "get NAME")?[0], 0, "empty name")?;
    // A bigger buffer is fine.
    let mut wide = [0xFFu8; 64];
    check_ok(object_set_property(&vmo, PROP_NAME, b"abc"), "set NAME")?;
    check_ok(object_get_property(&vmo, PROP_NAME, &mut wide), "get NAME into 64 bytes")?;
    check_eq(&wide[..4], b"abc\0".as_slice(), "name in a wide buffer")
}

fn property_name_truncated_to_31(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let long = b"0123456789abcdefghijklmnopqrstuvwxyzABCD"; // 40 bytes
    check_ok(object_set_property(&vmo, PROP_NAME, long), "set a 40-byte NAME")?;
    let name = check_ok(get_name(&vmo), "get NAME")?;
    check_eq(&name[..31], &long[..31], "first 31 bytes kept")?;
    check_eq(name[31], 0, "byte 31 is the NUL")?;
    let exact = [b'x'; 32];
    check_ok(object_set_property(&vmo, PROP_NAME, &exact), "set a 32-byte NAME")?;
    let name = check_ok(get_name(&vmo), "get NAME")?;
    check_eq(name[30], b'x', "byte 30")?;
    check_eq(name[31], 0, "byte 31 is the NUL")
}

fn property_name_buffer_too_small(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mut short = [0u8; MAX_NAME_LEN - 1];
    check_status(object_get_property(&vmo, PROP_NAME, &mut short), ZX_ERR_BUFFER_TOO_SMALL, "get NAME into 31 bytes")?;
    check_status(object_get_property(&vmo, PROP_NAME, &mut []), ZX_ERR_BUFFER_TOO_SMALL, "get NAME into 0 bytes")
}

fn property_content_size(_: &Ctx) -> TestResult {
    let vmo = new_vmo(5000)?;
    check_eq(check_ok(get_content_size(&vmo), "content size")?, 5000, "starts at the create size, unrounded")?;
    let resizable = new_resizable(5000)?;
    check_ok(vmo_set_size(&resizable, 9000), "set_size(9000)")?;
    check_eq(check_ok(get_content_size(&resizable), "content size")?, 9000, "follows set_size")?;
    check_eq(check_ok(vmo_get_size(&resizable), "size")?, 3 * PAGE, "size rounded")?;
    check_ok(set_content_size(&resizable, 123), "set content size 123")?;
    check_eq(check_ok(get_content_size(&resizable), "content size")?, 123, "set value")?;
    check_eq(check_ok(vmo_get_size(&resizable), "size")?, 3 * PAGE, "size unchanged by content size")?;
    check_ok(set_content_size(&vmo, 1 << 40), "content size beyond the VMO")?;
    check_eq(check_ok(get_content_size(&vmo), "content size")?, 1 << 40, "any value")?;
    let mut short = [0u8; 7];
    check_status(
        object_get_property(&vmo, PROP_VMO_CONTENT_SIZE, &mut short),
        ZX_ERR_BUFFER_TOO_SMALL,
        "get into 7 bytes",
    )?;
    check_status(object_set_property(&vmo, PROP_VMO_CONTENT_SIZE, &short), ZX_ERR_BUFFER_TOO_SMALL, "set from 7 bytes")
}

fn property_errors(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mut value = [0u8; 64];
    for prop in [0u32, 1, 2, 9999] {
        check_status(object_get_property(&vmo, prop, &mut value), ZX_ERR_INVALID_ARGS, "get unknown property")?;
        check_status(object_set_property(&vmo, prop, &value), ZX_ERR_INVALID_ARGS, "set unknown property")?;
    }
    // set with a NULL value: INVALID_ARGS before the handle is looked up.
    for handle in [vmo.raw_u64(), 0xFFFF_FFFF, 0] {
        let status = raw(nr::OBJECT_SET_PROPERTY, [handle, PROP_NAME as u64, 0, 8]);
        check_status(status, ZX_ERR_INVALID_ARGS, "set_property(NULL value)")?;
    }
    check_status(object_get_property(0xFFFF_FFFFu32, PROP_NAME, &mut value), ZX_ERR_BAD_HANDLE, "get, bogus handle")?;
    check_status(object_set_property(0xFFFF_FFFFu32, PROP_NAME, b"x"), ZX_ERR_BAD_HANDLE, "set, bogus handle")?;
    // Rights: GET_PROPERTY / SET_PROPERTY, checked before the property number.
    let no_get = dup(&vmo, DEFAULT_VMO & !GET_PROPERTY)?;
    check_status(
        object_get_property(&no_get, PROP_NAME, &mut value),
        ZX_ERR_ACCESS_DENIED,
        "get without GET_PROPERTY",
    )?;
    check_status(
        object_get_property(&no_get, 9999, &mut value),
        ZX_ERR_ACCESS_DENIED,
        "no right beats unknown property",
    )?;
    check_ok(object_set_property(&no_get, PROP_NAME, b"ok"), "set without GET_PROPERTY")?;
    let no_set = dup(&vmo, DEFAULT_VMO & !SET_PROPERTY)?;
    check_status(object_set_property(&no_set, PROP_NAME, b"x"), ZX_ERR_ACCESS_DENIED, "set without SET_PROPERTY")?;
    check_status(get_name(&no_set), ZX_OK, "get without SET_PROPERTY")?;
    check_status(
        object_get_property(ctx.root_vmar, PROP_NAME, &mut value),
        ZX_ERR_ACCESS_DENIED,
        "root VMAR has no GET_PROPERTY",
    )?;
    // Bad value buffers.
    let hole = check_ok(unmapped_range(ctx, 1), "unmapped range")?;
    for ptr in [0, KERNEL_ADDR, rodata_addr(), hole] {
        let status = raw(nr::OBJECT_GET_PROPERTY, [vmo.raw_u64(), PROP_NAME as u64, ptr, 32]);
        check_status(status, ZX_ERR_INVALID_ARGS, "get into a bad buffer")?;
        let status = raw(nr::OBJECT_GET_PROPERTY, [vmo.raw_u64(), PROP_VMO_CONTENT_SIZE as u64, ptr, 8]);
        check_status(status, ZX_ERR_INVALID_ARGS, "get content size into a bad buffer")?;
    }
    for ptr in [KERNEL_ADDR, hole] {
        let status = raw(nr::OBJECT_SET_PROPERTY, [vmo.raw_u64(), PROP_NAME as u64, ptr, 8]);
        check_status(status, ZX_ERR_INVALID_ARGS, "set from a bad buffer")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// vmo_create.

fn vmo_create_sizes(_: &Ctx) -> TestResult {
    for (size, rounded) in [(0, 0), (1, PAGE), (PAGE, PAGE), (PAGE + 1, 2 * PAGE), (10 * PAGE - 1, 10 * PAGE)] {
        let vmo = check_ok(vmo_create(size, 0), "vmo_create")?;
        check_eq(check_ok(vmo_get_size(&vmo), "get_size")?, rounded, "size rounded up to a page")?;
        check_eq(info(&vmo)?.size_bytes, rounded, "size_bytes")?;
    }
    // Pages are committed lazily: a 1 GiB VMO costs nothing until touched.
    let big = check_ok(vmo_create(1 << 30, 0), "vmo_create(1 GiB)")?;
    check_eq(committed(&big)?, 0, "1 GiB VMO committed_bytes")?;
    write_byte(&big, (1 << 30) - 1, 0x42)?;
    check_eq(read_byte(&big, (1 << 30) - 1)?, 0x42, "last byte of 1 GiB VMO")?;
    check_eq(committed(&big)?, PAGE, "one page committed")
}

fn vmo_create_options(_: &Ctx) -> TestResult {
    check_ok(vmo_create(PAGE, 0), "options 0")?;
    check_ok(vmo_create(PAGE, VMO_RESIZABLE), "RESIZABLE")?;
    for bad in [1u32, 1 << 3, 1 << 8, 1 << 31, VMO_RESIZABLE | 1] {
        check_status(vmo_create(PAGE, bad), ZX_ERR_INVALID_ARGS, "unknown option bit")?;
    }
    // Options are checked before the size.
    check_status(vmo_create(u64::MAX, 1 << 31), ZX_ERR_INVALID_ARGS, "bad option beats bad size")
}

fn vmo_create_out_of_range(_: &Ctx) -> TestResult {
    for size in [u64::MAX, u64::MAX - PAGE + 1, u64::MAX - PAGE, MAX_VMO_SIZE + 1] {
        check_status(vmo_create(size, 0), ZX_ERR_OUT_OF_RANGE, "size near 2^64")?;
        check_status(vmo_create(size, VMO_RESIZABLE), ZX_ERR_OUT_OF_RANGE, "resizable, size near 2^64")?;
    }
    Ok(())
}

fn vmo_create_bad_out_pointer(ctx: &Ctx) -> TestResult {
    let hole = check_ok(unmapped_range(ctx, 1), "unmapped range")?;
    for out in [0, KERNEL_ADDR, rodata_addr(), hole, USER_END - 2] {
        check_status(raw(nr::VMO_CREATE, [PAGE, 0, out]), ZX_ERR_INVALID_ARGS, "bad out-pointer")?;
    }
    Ok(())
}

/// A handle out-pointer into pages of a mapping that are not committed yet, aligned,
/// unaligned and across a page boundary: the kernel's one-store write faults, the page
/// is committed (both, across the boundary) and the value lands there.
fn vmo_create_out_pointer_in_fresh_pages(ctx: &Ctx) -> TestResult {
    for (offset, pages) in [(0u64, 1u64), (PAGE + 3, 1), (PAGE - 2, 2)] {
        let vmo = new_vmo(2 * PAGE)?;
        let mapping = map(ctx, VM_PERM_READ | VM_PERM_WRITE, &vmo, 2 * PAGE)?;
        let out = mapping.addr() + offset;
        check_status(raw(nr::VMO_CREATE, [PAGE, 0, out]), ZX_OK, "vmo_create writing into a fresh page")?;
        // SAFETY: `out..out + 4` lies in the mapping, which the test owns.
        let value = unsafe { core::ptr::read_unaligned(out as usize as *const u32) };
        check_ok(handle_close(value), "close the handle written through the fresh page")?;
        check_eq(committed(&vmo)?, pages * PAGE, "pages committed by the out-pointer")?;
    }
    Ok(())
}

fn vmo_create_zero_children_asserted(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let (status, observed) = object_wait_one(&vmo, VMO_ZERO_CHILDREN, 0);
    check_status(status, ZX_OK, "wait for ZERO_CHILDREN on a new VMO")?;
    check_hex(observed as u64, VMO_ZERO_CHILDREN as u64, "observed")
}

/// The kernel keeps the objects of closed VMOs and renews them for new ones (the VMO
/// object slab): every new VMO must look new (a fresh koid, no user signal, no name,
/// one handle, its own size and contents), whether the last VMO ended with its last
/// handle, with another handle left (a duplicate), with a counted reference in flight
/// (`replace_as_executable` holds one while the old handle closes) or with a port's
/// registration (a weak reference), and the heap comes back to where it was.
fn vmo_objects_kept_for_reuse_start_new(ctx: &Ctx) -> TestResult {
    let port = check_ok(user::ipc::port_create(), "port_create")?;
    let mut last_koid = 0;
    // A first pass lets the port's tables and the slab reach their working size.
    kept_vmo_rounds(&port, 0..8, &mut last_koid)?;
    vmo_churn()?;
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    kept_vmo_rounds(&port, 8..48, &mut last_koid)?;
    vmo_churn()?;
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    check_eq(after.free_bytes, before.free_bytes, "free bytes after the rounds")?;
    check_eq(after.free_heap_bytes, before.free_heap_bytes, "free heap bytes after the rounds")?;
    Ok(())
}

/// A renewed VMO object's first handle takes its serial number from the object's koid
/// instead of the kernel's counter, so it must still differ from every other handle's:
/// `zx_port_cancel` and the closing of a handle end only the registrations made through
/// that very handle, not those of a duplicate or of another renewed VMO.
fn renewed_vmo_handles_keep_distinct_serials(_: &Ctx) -> TestResult {
    let port = check_ok(user::ipc::port_create(), "port_create")?;
    // Closed VMOs leave their objects for the next creates to renew.
    for _ in 0..4 {
        drop(new_vmo(PAGE)?);
    }
    let a = new_vmo(PAGE)?;
    let b = new_vmo(PAGE)?;
    let a_dup = dup(&a, SAME_RIGHTS)?;
    check_ok(user::ipc::wait_async(&a, &port, 1, USER_SIGNAL_0, 0), "key 1 through a")?;
    check_ok(user::ipc::wait_async(&a_dup, &port, 1, USER_SIGNAL_0, 0), "key 1 through a's duplicate")?;
    check_ok(user::ipc::wait_async(&b, &port, 1, USER_SIGNAL_0, 0), "key 1 through b")?;
    check_ok(user::ipc::wait_async(&a, &port, 3, USER_SIGNAL_0, 0), "key 3 through a")?;
    check_ok(user::ipc::port_cancel(&port, &a, 1), "cancel key 1 through a")?;
    check_status(user::ipc::port_cancel(&port, &a, 1), ZX_ERR_NOT_FOUND, "key 1 through a again")?;
    // Closing a ends its key 3; the duplicate's key 1 and b's stay.
    drop(a);
    check_ok(object_signal(&a_dup, 0, USER_SIGNAL_0), "signal through the duplicate")?;
    check_ok(object_signal(&b, 0, USER_SIGNAL_0), "signal b")?;
    for what in ["the duplicate's packet", "b's packet"] {
        let packet = check_ok(user::ipc::port_wait(&port, 0), what)?;
        check_eq(packet.key, 1, what)?;
    }
    check_status(user::ipc::port_wait(&port, 0).map(|_| ()), ZX_ERR_TIMED_OUT, "no packet through a")?;
    drop(a_dup);
    drop(b);
    Ok(())
}

/// The rounds of [`vmo_objects_kept_for_reuse_start_new`], each ending its VMO the
/// way `round % 4` picks.
fn kept_vmo_rounds(port: &Handle, rounds: core::ops::Range<u64>, last_koid: &mut u64) -> TestResult {
    for round in rounds {
        let size = (1 + round % 3) * PAGE;
        let vmo = new_vmo(size)?;
        let koid = check_ok(koid_of(&vmo), "koid")?;
        if koid <= *last_koid {
            fail!("round {}: koid {} after {}", round, koid, *last_koid);
        }
        *last_koid = koid;
        let (status, observed) = object_wait_one(&vmo, USER_SIGNAL_ALL | VMO_ZERO_CHILDREN, 0);
        check_status(status, ZX_OK, "wait for the signals of a new VMO")?;
        check_hex(observed as u64, VMO_ZERO_CHILDREN as u64, "a new VMO's signals")?;
        check_eq(check_ok(get_name(&vmo), "get_name")?, [0u8; MAX_NAME_LEN], "a new VMO's name")?;
        check_eq(check_ok(user::ipc::handle_count(&vmo), "handle count")?, 1, "a new VMO's handles")?;
        check_eq(check_ok(vmo_get_size(&vmo), "get_size")?, size, "a new VMO's size")?;
        check_eq(read_byte(&vmo, size - 1)?, 0, "a new VMO's last byte")?;
        // Leave marks for the next VMO not to see: signals, a name and pages; or only
        // signals and a name (the VMO stays keepable, but is no longer pristine: it is
        // released into its slot, not parked); or none (a pristine VMO, parked with its
        // object when nothing else holds that).
        let marks = round / 4 % 3;
        if marks < 2 {
            check_ok(object_signal(&vmo, 0, USER_SIGNAL_0 | 4 * USER_SIGNAL_0), "signal")?;
            check_ok(object_set_property(&vmo, PROP_NAME, b"kept"), "set NAME")?;
        }
        let byte = if marks == 0 { 0xA5 } else { 0 };
        if marks == 0 {
            fill(&vmo, 0, byte, size)?;
        }
        match round % 4 {
            // The last handle closes with nothing else holding the object.
            0 => drop(vmo),
            // A duplicate outlives the first handle and still works.
            1 => {
                let other = dup(&vmo, SAME_RIGHTS)?;
                drop(vmo);
                check_eq(read_byte(&other, size - 1)?, byte, "read through the duplicate")?;
                drop(other);
            }
            // The handle closes while the call holds a counted reference to the object,
            // which then gets a new handle.
            2 => {
                let exec = check_ok(vmo_replace_as_executable(vmo.into_raw(), 0u32), "replace_as_executable")?;
                check_eq(read_byte(&exec, size - 1)?, byte, "read through the replacement")?;
                drop(exec);
            }
            // A port registration (a weak reference) is there when the handle closes.
            _ => {
                check_ok(user::ipc::wait_async(&vmo, port, round, 128 * USER_SIGNAL_0, 0), "wait_async")?;
                drop(vmo);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// vmo_read / vmo_write.

fn vmo_read_write_roundtrip(_: &Ctx) -> TestResult {
    let vmo = new_vmo(3 * PAGE)?;
    let mut zeros = [0xFFu8; 100];
    check_ok(vmo_read(&vmo, &mut zeros, PAGE - 50), "read a fresh VMO")?;
    check(zeros.iter().all(|b| *b == 0), "a fresh VMO reads zero")?;
    check_eq(committed(&vmo)?, 0, "reading commits nothing")?;
    let mut data = [0u8; 300];
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8 ^ 0x5A;
    }
    check_ok(vmo_write(&vmo, &data, PAGE - 150), "write across a page boundary")?;
    let mut back = [0u8; 300];
    check_ok(vmo_read(&vmo, &mut back, PAGE - 150), "read it back")?;
    check_eq(back, data, "data")?;
    check_eq(committed(&vmo)?, 2 * PAGE, "two pages committed")?;
    check_ok(vmo_write(&vmo, &data[..8], 3 * PAGE - 8), "write the last 8 bytes")?;
    check_eq(read_byte(&vmo, 3 * PAGE - 1)?, data[7], "last byte")?;
    // Writing from read-only memory is fine.
    check_ok(vmo_write(&vmo, &RODATA, 0), "write from rodata")?;
    expect_filled(&vmo, 0, 0x5A, RODATA.len() as u64, "rodata copy")
}

fn vmo_read_write_ranges(_: &Ctx) -> TestResult {
    let size = 2 * PAGE;
    let vmo = new_vmo(size)?;
    let mut buf = [0u8; 16];
    check_status(vmo_write(&vmo, &[0xAB; 16], size - 8), ZX_ERR_OUT_OF_RANGE, "write overlapping the end")?;
    expect_filled(&vmo, size - 8, 0, 8, "nothing written by a refused write")?;
    check_status(vmo_read(&vmo, &mut buf, size - 8), ZX_ERR_OUT_OF_RANGE, "read overlapping the end")?;
    check_status(vmo_read(&vmo, &mut buf, size), ZX_ERR_OUT_OF_RANGE, "read at the end")?;
    check_status(vmo_read(&vmo, &mut buf, u64::MAX - 1), ZX_ERR_OUT_OF_RANGE, "offset + len wraps")?;
    check_status(vmo_write(&vmo, &buf, u64::MAX - 1), ZX_ERR_OUT_OF_RANGE, "write offset + len wraps")?;
    check_status(vmo_read(&vmo, &mut buf, 1 << 40), ZX_ERR_OUT_OF_RANGE, "far past the end")?;
    check_ok(vmo_read(&vmo, &mut buf, size - 16), "the last 16 bytes")?;
    // Length 0: fine at any offset up to the size, and the pointer is never touched.
    for offset in [0, 10, size] {
        check_status(raw(nr::VMO_READ, [vmo.raw_u64(), 0, offset, 0]), ZX_OK, "read 0 bytes into NULL")?;
        check_status(
            raw(nr::VMO_WRITE, [vmo.raw_u64(), KERNEL_ADDR, offset, 0]),
            ZX_OK,
            "write 0 bytes from a kernel pointer",
        )?;
    }
    check_status(raw(nr::VMO_READ, [vmo.raw_u64(), 0, size + 1, 0]), ZX_ERR_OUT_OF_RANGE, "0 bytes past the end")?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), 0, size + 1, 0]),
        ZX_ERR_OUT_OF_RANGE,
        "write 0 bytes past the end",
    )?;
    // A zero-size VMO.
    let empty = new_vmo(0)?;
    check_status(vmo_read(&empty, &mut buf[..1], 0), ZX_ERR_OUT_OF_RANGE, "1 byte of a 0-byte VMO")?;
    check_status(raw(nr::VMO_READ, [empty.raw_u64(), 0, 0, 0]), ZX_OK, "0 bytes of a 0-byte VMO")
}

fn vmo_read_write_rights_and_types(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mut buf = [0u8; 8];
    let read_only = dup(&vmo, DEFAULT_VMO & !WRITE)?;
    check_status(vmo_write(&read_only, &buf, 0), ZX_ERR_ACCESS_DENIED, "write without WRITE")?;
    check_ok(vmo_read(&read_only, &mut buf, 0), "read with READ")?;
    let write_only = dup(&vmo, DEFAULT_VMO & !READ)?;
    check_status(vmo_read(&write_only, &mut buf, 0), ZX_ERR_ACCESS_DENIED, "read without READ")?;
    check_ok(vmo_write(&write_only, &buf, 0), "write with WRITE")?;
    // The rights check comes before the range check.
    check_status(vmo_read(&write_only, &mut buf, 1 << 40), ZX_ERR_ACCESS_DENIED, "no right beats bad range")?;
    check_status(vmo_read(ctx.root_vmar, &mut buf, 0), ZX_ERR_WRONG_TYPE, "read a VMAR")?;
    check_status(vmo_write(ctx.root_resource, &buf, 0), ZX_ERR_WRONG_TYPE, "write a resource")?;
    // WRONG_TYPE beats ACCESS_DENIED.
    let bare_vmar = dup(ctx.root_vmar, 0)?;
    check_status(vmo_read(&bare_vmar, &mut buf, 0), ZX_ERR_WRONG_TYPE, "VMAR handle with no rights")?;
    check_status(vmo_read(0xFFFF_FFFFu32, &mut buf, 0), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    check_status(vmo_write(0u32, &buf, 0), ZX_ERR_BAD_HANDLE, "ZX_HANDLE_INVALID")
}

fn vmo_uncached_bad_state_before_range(_: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    check_ok(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), "set UNCACHED")?;
    let mut buf = [0u8; 8];
    check_status(vmo_read(&vmo, &mut buf, 0), ZX_ERR_BAD_STATE, "read uncached")?;
    check_status(vmo_write(&vmo, &buf, 0), ZX_ERR_BAD_STATE, "write uncached")?;
    check_status(vmo_read(&vmo, &mut buf, 1 << 40), ZX_ERR_BAD_STATE, "uncached beats range past the end")?;
    check_status(raw(nr::VMO_READ, [vmo.raw_u64(), 0, 0, 0]), ZX_ERR_BAD_STATE, "uncached, length 0")?;
    // Overflow of offset + len is checked before the cache policy.
    check_status(vmo_read(&vmo, &mut buf, u64::MAX - 1), ZX_ERR_OUT_OF_RANGE, "wrap beats uncached")
}

fn vmo_read_write_bad_buffers(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    fill(&vmo, 0, 0x77, 2 * PAGE)?;
    let hole = check_ok(unmapped_range(ctx, 2), "unmapped range")?;
    for ptr in [0, 8, KERNEL_ADDR, u64::MAX - 7, USER_END - 8, USER_END, 1 << 48, hole, rodata_addr()] {
        check_status(raw(nr::VMO_READ, [vmo.raw_u64(), ptr, 0, 16]), ZX_ERR_INVALID_ARGS, "read into a bad buffer")?;
    }
    for ptr in [0, KERNEL_ADDR, u64::MAX - 7, USER_END - 8, hole] {
        check_status(raw(nr::VMO_WRITE, [vmo.raw_u64(), ptr, 0, 16]), ZX_ERR_INVALID_ARGS, "write from a bad buffer")?;
    }
    // A read-only mapping as the destination.
    let other = new_vmo(PAGE)?;
    let ro = map(ctx, VM_PERM_READ, &other, PAGE)?;
    check_status(
        raw(nr::VMO_READ, [vmo.raw_u64(), ro.addr(), 0, 16]),
        ZX_ERR_INVALID_ARGS,
        "read into a read-only mapping",
    )?;
    check_eq(ro.read(0), 0, "read-only mapping unchanged")?;
    // A destination whose second page is unmapped.
    let rw = map(ctx, VM_RW, &other, 2 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, rw.addr() + PAGE, PAGE), "unmap the tail")?;
    check_status(
        raw(nr::VMO_READ, [vmo.raw_u64(), rw.addr(), 0, 2 * PAGE]),
        ZX_ERR_INVALID_ARGS,
        "read running into a hole",
    )?;
    // The VMO is unchanged by refused reads.
    expect_filled(&vmo, 0, 0x77, 2 * PAGE, "source after refused reads")
}

/// Reads and writes within one VMO page whose user buffer faults: pages of a mapping
/// not committed yet (one fault, or two when the buffer straddles two pages), resolved
/// and the copy resumed (the out-of-line retry after the first attempt), and a buffer
/// in a hole (INVALID_ARGS, the VMO unchanged).
fn vmo_copies_within_a_page_through_faults(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    fill(&vmo, 0, 0x11, PAGE)?;
    let src = new_vmo(2 * PAGE)?;
    let window = map(ctx, VM_PERM_READ, &src, 2 * PAGE)?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), window.addr() + PAGE - 50, 10, 100]),
        ZX_OK,
        "write from two untouched pages",
    )?;
    expect_filled(&vmo, 0, 0x11, 10, "before the write")?;
    expect_filled(&vmo, 10, 0, 100, "the written zeros")?;
    expect_filled(&vmo, 110, 0x11, PAGE - 110, "after the write")?;
    let dst = new_vmo(2 * PAGE)?;
    let rw = map(ctx, VM_RW, &dst, 2 * PAGE)?;
    check_status(
        raw(nr::VMO_READ, [vmo.raw_u64(), rw.addr() + PAGE - 100, 200, 300]),
        ZX_OK,
        "read into two untouched pages",
    )?;
    expect_filled(&dst, PAGE - 100, 0x11, 300, "the read bytes")?;
    check_eq(committed(&dst)?, 2 * PAGE, "both pages committed by the read")?;
    check_ok(vmar_unmap(ctx.root_vmar, rw.addr() + PAGE, PAGE), "unmap the second page")?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), rw.addr() + PAGE + 8, 0, 64]),
        ZX_ERR_INVALID_ARGS,
        "write from a hole",
    )?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), rw.addr() + PAGE - 8, 0, 64]),
        ZX_ERR_INVALID_ARGS,
        "write running into a hole",
    )?;
    expect_filled(&vmo, 0, 0x11, 10, "the VMO after refused writes")?;
    expect_filled(&vmo, 110, 0x11, PAGE - 110, "the VMO's tail after refused writes")
}

fn vmo_write_of_many_pages_through_faults(ctx: &Ctx) -> TestResult {
    // A write longer than a page copies runs of pages the VMO holds privately; a page
    // it does not hold, or a fault on the source buffer, takes the general path.
    let vmo = new_vmo(4 * PAGE)?;
    fill(&vmo, 0, 0x11, 4 * PAGE)?;
    let src = new_vmo(4 * PAGE)?;
    fill(&src, 0, 0x22, PAGE)?;
    fill(&src, 2 * PAGE, 0x23, PAGE)?;
    let window = map(ctx, VM_PERM_READ, &src, 4 * PAGE)?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), window.addr() + 100, 50, 3 * PAGE + 10]),
        ZX_OK,
        "unaligned write from an untouched mapping over committed pages",
    )?;
    expect_filled(&vmo, 0, 0x11, 50, "before the write")?;
    expect_filled(&vmo, 50, 0x22, PAGE - 100, "source page 0")?;
    expect_filled(&vmo, PAGE - 50, 0, PAGE, "source page 1 (uncommitted)")?;
    expect_filled(&vmo, 2 * PAGE - 50, 0x23, PAGE, "source page 2")?;
    expect_filled(&vmo, 3 * PAGE - 50, 0, 110, "source page 3 (uncommitted)")?;
    expect_filled(&vmo, 3 * PAGE + 60, 0x11, PAGE - 60, "after the write")?;
    check_eq(committed(&vmo)?, 4 * PAGE, "nothing more committed")?;
    // Runs and commits mixed: pages 1 and 4 committed before, 0, 2 and 3 by the write.
    let sparse = new_vmo(6 * PAGE)?;
    fill(&sparse, PAGE, 0x44, PAGE)?;
    fill(&sparse, 4 * PAGE, 0x45, PAGE)?;
    check_status(raw(nr::VMO_WRITE, [sparse.raw_u64(), window.addr(), 0, 4 * PAGE]), ZX_OK, "write over a sparse VMO")?;
    expect_filled(&sparse, 0, 0x22, PAGE, "page 0")?;
    expect_filled(&sparse, PAGE, 0, PAGE, "page 1")?;
    expect_filled(&sparse, 2 * PAGE, 0x23, PAGE, "page 2")?;
    expect_filled(&sparse, 3 * PAGE, 0, PAGE, "page 3")?;
    expect_filled(&sparse, 4 * PAGE, 0x45, PAGE, "page 4")?;
    check_eq(committed(&sparse)?, 5 * PAGE, "five pages committed")?;
    // A source running into a hole part-way: INVALID_ARGS.
    let rw = map(ctx, VM_RW, &src, 3 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, rw.addr() + PAGE, PAGE), "unmap the middle")?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), rw.addr(), 0, 3 * PAGE]),
        ZX_ERR_INVALID_ARGS,
        "write running into a hole",
    )?;
    // Within one VMO: pages 2 and 3 written from its own mapping of pages 0 and 1.
    let own = map(ctx, VM_RW, &vmo, 4 * PAGE)?;
    fill(&vmo, 0, 0x55, 2 * PAGE)?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), own.addr(), 2 * PAGE, 2 * PAGE]),
        ZX_OK,
        "write a VMO from its own mapping",
    )?;
    expect_filled(&vmo, 2 * PAGE, 0x55, 2 * PAGE, "pages 2 and 3 after the self copy")
}

fn vmo_write_of_a_whole_fresh_page(ctx: &Ctx) -> TestResult {
    // A write of a whole uncommitted page copies into a frame that is not zeroed first
    // and commits it after the copy; a copy that faults takes the general path, and the
    // page never shows what the frame held before.
    let vmo = new_vmo(5 * PAGE)?;
    let buf = [0x61u8; PAGE as usize];
    check_ok(vmo_write(&vmo, &buf, PAGE), "whole-page write into a fresh page")?;
    expect_filled(&vmo, PAGE, 0x61, PAGE, "page 1")?;
    check_eq(committed(&vmo)?, PAGE, "one page committed")?;
    // From an untouched mapping of another VMO: the copy faults, then the general path.
    let src = new_vmo(2 * PAGE)?;
    fill(&src, 0, 0x62, PAGE)?;
    let window = map(ctx, VM_PERM_READ, &src, 2 * PAGE)?;
    check_status(raw(nr::VMO_WRITE, [vmo.raw_u64(), window.addr(), 0, PAGE]), ZX_OK, "write from a mapping")?;
    expect_filled(&vmo, 0, 0x62, PAGE, "page 0")?;
    // A source that runs into a hole half-way: INVALID_ARGS, and the rest of the page
    // reads as zeros, as after a commit of a zero page.
    let rw = map(ctx, VM_RW, &src, 2 * PAGE)?;
    rw.write(0, 0x62);
    check_ok(vmar_unmap(ctx.root_vmar, rw.addr() + PAGE, PAGE), "unmap the tail")?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), rw.addr() + PAGE / 2, 2 * PAGE, PAGE]),
        ZX_ERR_INVALID_ARGS,
        "write running into a hole",
    )?;
    expect_filled(&vmo, 2 * PAGE + PAGE / 2, 0, PAGE / 2, "the part of page 2 after the fault")?;
    // A mapping that showed the zero page sees the committed page afterwards.
    let shown = map(ctx, VM_PERM_READ, &vmo, 5 * PAGE)?;
    check_eq(shown.read(3 * PAGE + 5), 0, "page 3 reads as zero through the mapping")?;
    let other = [0x63u8; PAGE as usize];
    check_ok(vmo_write(&vmo, &other, 3 * PAGE), "whole-page write after the zero page was shown")?;
    check_eq(shown.read(3 * PAGE + 5), 0x63, "page 3 through the mapping after the write")?;
    // Page 3 written from the mapping's own view of itself, once more: the same bytes.
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), shown.addr() + 3 * PAGE, 3 * PAGE, PAGE]),
        ZX_OK,
        "a page written from its own mapping",
    )?;
    expect_filled(&vmo, 3 * PAGE, 0x63, PAGE, "page 3 after the self copy")?;
    // An uncommitted page written from a mapping that shows it as the zero page: zeros.
    check_eq(shown.read(4 * PAGE), 0, "page 4 reads as zero through the mapping")?;
    check_status(
        raw(nr::VMO_WRITE, [vmo.raw_u64(), shown.addr() + 4 * PAGE, 4 * PAGE, PAGE]),
        ZX_OK,
        "an uncommitted page written from its own zero-page mapping",
    )?;
    expect_filled(&vmo, 4 * PAGE, 0, PAGE, "page 4 after the self copy")?;
    check_eq(committed(&vmo)?, 5 * PAGE, "every page committed")
}

fn vmo_read_write_through_mappings(ctx: &Ctx) -> TestResult {
    // Copying into a mapping of another VMO: the kernel must fault the destination in
    // without deadlocking on either VMO.
    let source = new_vmo(2 * PAGE)?;
    fill(&source, 0, 0x31, PAGE)?;
    fill(&source, PAGE, 0x32, PAGE)?;
    let target = new_vmo(2 * PAGE)?;
    let window = map(ctx, VM_RW, &target, 2 * PAGE)?;
    check_status(
        raw(nr::VMO_READ, [source.raw_u64(), window.addr(), 0, 2 * PAGE]),
        ZX_OK,
        "read into an untouched mapping",
    )?;
    check_eq((window.read(0), window.read(2 * PAGE - 1)), (0x31, 0x32), "bytes through the mapping")?;
    expect_filled(&target, 0, 0x31, PAGE, "target page 0")?;
    check_eq(committed(&target)?, 2 * PAGE, "target committed by the copy")?;
    // Writing from an untouched read-only mapping copies zeros.
    let blank = new_vmo(PAGE)?;
    let blank_map = map(ctx, VM_PERM_READ, &blank, PAGE)?;
    check_status(
        raw(nr::VMO_WRITE, [source.raw_u64(), blank_map.addr(), 0, PAGE]),
        ZX_OK,
        "write from an untouched mapping",
    )?;
    expect_filled(&source, 0, 0, PAGE, "zeros copied")?;
    // Within one VMO: page 1 copied onto page 0 through its own mapping.
    let own = map(ctx, VM_RW, &source, 2 * PAGE)?;
    check_status(
        raw(nr::VMO_READ, [source.raw_u64(), own.addr(), PAGE, PAGE]),
        ZX_OK,
        "read a VMO into its own mapping",
    )?;
    expect_filled(&source, 0, 0x32, PAGE, "page 0 after the self copy")
}

// ---------------------------------------------------------------------------------------
// Sizes.

fn vmo_set_size_not_resizable_unavailable(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_status(vmo_set_size(&vmo, 2 * PAGE), ZX_ERR_UNAVAILABLE, "grow a fixed-size VMO")?;
    check_status(vmo_set_size(&vmo, 0), ZX_ERR_UNAVAILABLE, "shrink a fixed-size VMO")?;
    check_status(vmo_set_size(&vmo, u64::MAX), ZX_ERR_UNAVAILABLE, "UNAVAILABLE beats a bad size")?;
    check_eq(check_ok(vmo_get_size(&vmo), "size")?, PAGE, "size unchanged")
}

fn vmo_set_size_range_and_rights(ctx: &Ctx) -> TestResult {
    let vmo = new_resizable(PAGE)?;
    for size in [u64::MAX, u64::MAX - PAGE + 1, MAX_VMO_SIZE + 1] {
        check_status(vmo_set_size(&vmo, size), ZX_ERR_OUT_OF_RANGE, "size near 2^64")?;
    }
    check_ok(vmo_set_size(&vmo, 5000), "set_size(5000)")?;
    check_eq(check_ok(vmo_get_size(&vmo), "size")?, 2 * PAGE, "size rounded up")?;
    check_ok(vmo_set_size(&vmo, 0), "set_size(0)")?;
    check_eq(check_ok(vmo_get_size(&vmo), "size")?, 0, "size 0")?;
    let read_only = dup(&vmo, DEFAULT_VMO & !WRITE)?;
    check_status(vmo_set_size(&read_only, PAGE), ZX_ERR_ACCESS_DENIED, "set_size without WRITE")?;
    check_status(vmo_set_size(ctx.root_vmar, PAGE), ZX_ERR_WRONG_TYPE, "set_size of a VMAR")?;
    check_status(vmo_set_size(0xFFFF_FFFFu32, PAGE), ZX_ERR_BAD_HANDLE, "bogus handle")
}

fn vmo_shrink_then_read_past_end(_: &Ctx) -> TestResult {
    let vmo = new_resizable(3 * PAGE)?;
    write_byte(&vmo, 100, b'X')?;
    write_byte(&vmo, 2 * PAGE + 5, b'Y')?;
    check_eq(committed(&vmo)?, 2 * PAGE, "two pages written")?;
    check_ok(vmo_set_size(&vmo, PAGE), "shrink to one page")?;
    let mut byte = [0u8];
    check_status(vmo_read(&vmo, &mut byte, PAGE), ZX_ERR_OUT_OF_RANGE, "read past the new end")?;
    check_status(vmo_write(&vmo, &byte, 2 * PAGE + 5), ZX_ERR_OUT_OF_RANGE, "write past the new end")?;
    check_eq(committed(&vmo)?, PAGE, "pages past the end freed")?;
    check_ok(vmo_set_size(&vmo, 3 * PAGE), "grow back")?;
    check_eq(read_byte(&vmo, 100)?, b'X', "data below the cut kept")?;
    check_eq(read_byte(&vmo, 2 * PAGE + 5)?, 0, "data past the cut gone")
}

fn vmo_grow_reads_zero(_: &Ctx) -> TestResult {
    let vmo = new_resizable(PAGE)?;
    fill(&vmo, 0, 0xEE, PAGE)?;
    check_ok(vmo_set_size(&vmo, 4 * PAGE), "grow to 4 pages")?;
    expect_filled(&vmo, PAGE, 0, 3 * PAGE, "grown pages")?;
    expect_filled(&vmo, 0, 0xEE, PAGE, "old page")?;
    check_eq(committed(&vmo)?, PAGE, "growing commits nothing")
}

fn vmo_get_size_rights_and_errors(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(3 * PAGE)?;
    let bare = dup(&vmo, 0)?;
    check_eq(check_ok(vmo_get_size(&bare), "get_size with no rights")?, 3 * PAGE, "size")?;
    for ptr in [0, KERNEL_ADDR, rodata_addr(), USER_END - 4] {
        check_status(raw(nr::VMO_GET_SIZE, [vmo.raw_u64(), ptr]), ZX_ERR_INVALID_ARGS, "bad size pointer")?;
    }
    check_status(vmo_get_size(ctx.root_vmar), ZX_ERR_WRONG_TYPE, "get_size of a VMAR")?;
    check_status(vmo_get_size(0xFFFF_FFFFu32), ZX_ERR_BAD_HANDLE, "bogus handle")
}

// ---------------------------------------------------------------------------------------
// op_range.

fn op_commit_widens_and_trims(_: &Ctx) -> TestResult {
    let size = 4 * PAGE;
    let vmo = new_vmo(size)?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, 0, 0), "COMMIT of nothing")?;
    check_eq(committed(&vmo)?, 0, "nothing committed")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, 0x10, 0x100), "COMMIT(0x10, 0x100)")?;
    check_eq(committed(&vmo)?, PAGE, "widened to page 0")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, PAGE - 1, 2), "COMMIT across a boundary")?;
    check_eq(committed(&vmo)?, 2 * PAGE, "pages 0 and 1")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, 3 * PAGE + 1, u64::MAX / 2), "overlong COMMIT")?;
    check_eq(committed(&vmo)?, 3 * PAGE, "trimmed to page 3")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, size, 10), "COMMIT at the end (trimmed to 0)")?;
    check_status(vmo_op_range(&vmo, OP_COMMIT, size + 1, 1), ZX_ERR_OUT_OF_RANGE, "COMMIT past the end")?;
    check_status(vmo_op_range(&vmo, OP_COMMIT, PAGE, u64::MAX), ZX_ERR_OUT_OF_RANGE, "COMMIT whose end wraps")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, 0, size), "COMMIT everything")?;
    check_eq(committed(&vmo)?, size, "all committed")?;
    expect_filled(&vmo, 0, 0, size, "committed pages read zero")
}

fn op_decommit(_: &Ctx) -> TestResult {
    let size = 4 * PAGE;
    let vmo = new_vmo(size)?;
    fill(&vmo, 0, 0xC5, size)?;
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, PAGE, PAGE), "DECOMMIT page 1")?;
    check_eq(committed(&vmo)?, 3 * PAGE, "three pages left")?;
    expect_filled(&vmo, PAGE, 0, PAGE, "decommitted page")?;
    expect_filled(&vmo, 0, 0xC5, PAGE, "page 0 kept")?;
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, size, PAGE), "DECOMMIT at the end (trimmed to 0)")?;
    check_status(vmo_op_range(&vmo, OP_DECOMMIT, size + PAGE, PAGE), ZX_ERR_OUT_OF_RANGE, "DECOMMIT past the end")?;
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, 0, (u64::MAX / 2) & !(PAGE - 1)), "overlong DECOMMIT (clamped)")?;
    check_eq(committed(&vmo)?, 0, "everything decommitted")?;
    // A slice forwards DECOMMIT to its parent.
    let parent = new_vmo(size)?;
    fill(&parent, 0, 0x11, size)?;
    let slice = check_ok(vmo_create_child(&parent, CHILD_SLICE, PAGE, 2 * PAGE), "slice")?;
    check_ok(vmo_op_range(&slice, OP_DECOMMIT, 0, PAGE), "DECOMMIT through a slice")?;
    expect_filled(&parent, PAGE, 0, PAGE, "parent page behind the slice")?;
    expect_filled(&parent, 2 * PAGE, 0x11, PAGE, "next parent page kept")?;
    check_eq(committed(&parent)?, 3 * PAGE, "parent committed after slice DECOMMIT")
}

fn op_decommit_misaligned(_: &Ctx) -> TestResult {
    let vmo = new_vmo(4 * PAGE)?;
    // Checked even when nothing is committed.
    for (offset, len) in [(1, PAGE), (0, 100), (PAGE, PAGE - 1), (PAGE + 1, 1)] {
        check_status(
            vmo_op_range(&vmo, OP_DECOMMIT, offset, len),
            ZX_ERR_INVALID_ARGS,
            "misaligned DECOMMIT, empty VMO",
        )?;
    }
    fill(&vmo, 0, 1, 4 * PAGE)?;
    check_status(vmo_op_range(&vmo, OP_DECOMMIT, 1, PAGE), ZX_ERR_INVALID_ARGS, "misaligned DECOMMIT")?;
    check_eq(committed(&vmo)?, 4 * PAGE, "nothing decommitted")
}

fn op_decommit_cow_not_supported(_: &Ctx) -> TestResult {
    let parent = new_vmo(2 * PAGE)?;
    fill(&parent, 0, 0x22, 2 * PAGE)?;
    {
        let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 2 * PAGE), "snapshot child")?;
        check_status(vmo_op_range(&child, OP_DECOMMIT, 0, PAGE), ZX_ERR_NOT_SUPPORTED, "DECOMMIT on a COW child")?;
        check_status(vmo_op_range(&child, OP_DECOMMIT, 1, 1), ZX_ERR_NOT_SUPPORTED, "COW child beats misalignment")?;
        check_status(
            vmo_op_range(&parent, OP_DECOMMIT, 0, PAGE),
            ZX_ERR_NOT_SUPPORTED,
            "DECOMMIT on a parent with a COW child",
        )?;
        let aow =
            check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, PAGE), "AT_LEAST_ON_WRITE child")?;
        check_status(
            vmo_op_range(&aow, OP_DECOMMIT, 0, PAGE),
            ZX_ERR_NOT_SUPPORTED,
            "DECOMMIT on an AT_LEAST_ON_WRITE child",
        )?;
    }
    check_ok(vmo_op_range(&parent, OP_DECOMMIT, 0, PAGE), "DECOMMIT once the children are gone")?;
    check_eq(committed(&parent)?, PAGE, "one page left")
}

fn op_zero_partial_and_whole_pages(_: &Ctx) -> TestResult {
    let vmo = new_vmo(3 * PAGE)?;
    fill(&vmo, 0, 0xAA, 3 * PAGE)?;
    check_ok(vmo_op_range(&vmo, OP_ZERO, 100, 200), "ZERO(100, 200)")?;
    expect_filled(&vmo, 0, 0xAA, 100, "bytes before")?;
    expect_filled(&vmo, 100, 0, 200, "zeroed bytes")?;
    expect_filled(&vmo, 300, 0xAA, 100, "bytes after")?;
    check_eq(committed(&vmo)?, 3 * PAGE, "a partial ZERO keeps the page")?;
    check_ok(vmo_op_range(&vmo, OP_ZERO, PAGE - 8, 16), "ZERO across a boundary")?;
    expect_filled(&vmo, PAGE - 8, 0, 16, "zeroed across the boundary")?;
    expect_filled(&vmo, PAGE + 8, 0xAA, 8, "after the boundary zero")?;
    check_ok(vmo_op_range(&vmo, OP_ZERO, PAGE, PAGE), "ZERO the middle page")?;
    expect_filled(&vmo, PAGE, 0, PAGE, "middle page")?;
    expect_filled(&vmo, 2 * PAGE, 0xAA, PAGE, "last page")?;
    check_eq(committed(&vmo)?, 2 * PAGE, "a whole zeroed page is decommitted")?;
    // Partial head, whole middle, partial tail.
    let other = new_vmo(3 * PAGE)?;
    fill(&other, 0, 0xBB, 3 * PAGE)?;
    check_ok(vmo_op_range(&other, OP_ZERO, PAGE - 10, PAGE + 20), "ZERO head+whole+tail")?;
    expect_filled(&other, 0, 0xBB, PAGE - 10, "head kept")?;
    expect_filled(&other, PAGE - 10, 0, PAGE + 20, "zeroed span")?;
    expect_filled(&other, 2 * PAGE + 10, 0xBB, PAGE - 10, "tail kept")?;
    check_eq(committed(&other)?, 2 * PAGE, "middle page decommitted")
}

fn op_zero_bounds_uncached_and_cow(_: &Ctx) -> TestResult {
    let size = 2 * PAGE;
    let vmo = new_vmo(size)?;
    fill(&vmo, 0, 0x99, size)?;
    for offset in [0, 10, PAGE, size] {
        check_ok(vmo_op_range(&vmo, OP_ZERO, offset, 0), "ZERO of length 0")?;
    }
    check_status(vmo_op_range(&vmo, OP_ZERO, size + 1, 0), ZX_ERR_OUT_OF_RANGE, "ZERO past the end")?;
    check_ok(vmo_op_range(&vmo, OP_ZERO, size - 10, 100), "overlong ZERO (trimmed)")?;
    expect_filled(&vmo, size - 10, 0, 10, "trimmed ZERO")?;
    expect_filled(&vmo, size - 20, 0x99, 10, "before the trimmed ZERO")?;
    // A COW child's ZERO never shows through to, or exposes, the parent.
    let child = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, size), "child")?;
    check_ok(vmo_op_range(&child, OP_ZERO, 0, size), "ZERO the child")?;
    expect_filled(&child, 0, 0, size - 10, "child zeroed")?;
    expect_filled(&vmo, 0, 0x99, size - 10, "parent untouched")?;
    let uncached = new_vmo(PAGE)?;
    check_ok(vmo_set_cache_policy(&uncached, CACHE_POLICY_UNCACHED), "UNCACHED")?;
    check_status(vmo_op_range(&uncached, OP_ZERO, 0, PAGE), ZX_ERR_BAD_STATE, "ZERO uncached")
}

fn op_cache_ops(_: &Ctx) -> TestResult {
    let size = 0x8000;
    let vmo = new_vmo(size)?;
    fill(&vmo, 0x4000, 3, 0x2000)?;
    for op in [OP_CACHE_SYNC, OP_CACHE_INVALIDATE, OP_CACHE_CLEAN, OP_CACHE_CLEAN_INVALIDATE] {
        check_status(vmo_op_range(&vmo, op, 0, 0), ZX_ERR_INVALID_ARGS, "cache op of size 0")?;
        check_status(vmo_op_range(&vmo, op, size + 1, 0), ZX_ERR_INVALID_ARGS, "size 0 beats range")?;
        for (offset, len) in [(size, 1), (size + 1, 1), (u64::MAX, 1), (1, size), (0, size + 1), (8, u64::MAX)] {
            check_status(vmo_op_range(&vmo, op, offset, len), ZX_ERR_OUT_OF_RANGE, "cache op outside the VMO")?;
        }
        for (offset, len) in [(0x5200, 0x1200), (0, size), (0x10, 5), (size - 1, 1)] {
            check_status(vmo_op_range(&vmo, op, offset, len), ZX_OK, "cache op inside the VMO")?;
        }
    }
    expect_filled(&vmo, 0x4000, 3, 0x1000, "data after clean ops")
}

fn op_lock_unlock_not_supported(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_status(vmo_op_range(&vmo, OP_LOCK, 0, PAGE), ZX_ERR_NOT_SUPPORTED, "LOCK")?;
    check_status(vmo_op_range(&vmo, OP_UNLOCK, 0, PAGE), ZX_ERR_NOT_SUPPORTED, "UNLOCK")
}

fn op_unknown_op_and_check_order(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    for op in [0u32, 5, 14, 100, 0xFFFF_FFFF] {
        check_status(vmo_op_range(&vmo, op, 0, PAGE), ZX_ERR_INVALID_ARGS, "unknown op")?;
    }
    // The handle is looked up (and typed) before the op is decoded, but rights come after.
    check_status(vmo_op_range(0xFFFF_FFFFu32, 0, 0, PAGE), ZX_ERR_BAD_HANDLE, "bogus handle beats bad op")?;
    check_status(vmo_op_range(0u32, 99, 0, PAGE), ZX_ERR_BAD_HANDLE, "invalid handle beats bad op")?;
    check_status(vmo_op_range(ctx.root_vmar, 0, 0, PAGE), ZX_ERR_WRONG_TYPE, "wrong type beats bad op")?;
    check_status(vmo_op_range(ctx.root_vmar, OP_COMMIT, 0, PAGE), ZX_ERR_WRONG_TYPE, "COMMIT on a VMAR")?;
    let bare = dup(&vmo, 0)?;
    check_status(vmo_op_range(&bare, 0, 0, PAGE), ZX_ERR_INVALID_ARGS, "bad op beats missing rights")?;
    check_status(vmo_op_range(&bare, OP_COMMIT, 0, PAGE), ZX_ERR_ACCESS_DENIED, "COMMIT with no rights")?;
    // op_range's buffer is unused by these ops: a bad pointer is ignored.
    let status = raw(nr::VMO_OP_RANGE, [vmo.raw_u64(), OP_COMMIT as u64, 0, PAGE, KERNEL_ADDR, 64]);
    check_status(status, ZX_OK, "COMMIT ignores the buffer")
}

fn op_rights_per_op(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let read_only = dup(&vmo, DEFAULT_VMO & !WRITE)?;
    let write_only = dup(&vmo, DEFAULT_VMO & !READ)?;
    for op in [OP_COMMIT, OP_DECOMMIT, OP_ZERO, OP_CACHE_INVALIDATE] {
        check_status(vmo_op_range(&read_only, op, 0, PAGE), ZX_ERR_ACCESS_DENIED, "WRITE op without WRITE")?;
        check_status(vmo_op_range(&write_only, op, 0, PAGE), ZX_OK, "WRITE op with WRITE")?;
    }
    for op in [OP_CACHE_SYNC, OP_CACHE_CLEAN, OP_CACHE_CLEAN_INVALIDATE] {
        check_status(vmo_op_range(&write_only, op, 0, PAGE), ZX_ERR_ACCESS_DENIED, "READ op without READ")?;
        check_status(vmo_op_range(&read_only, op, 0, PAGE), ZX_OK, "READ op with READ")?;
    }
    // Rights come before the size check.
    check_status(vmo_op_range(&read_only, OP_CACHE_INVALIDATE, 0, 0), ZX_ERR_ACCESS_DENIED, "rights before size 0")?;
    check_status(vmo_op_range(&read_only, OP_COMMIT, 1 << 40, 1), ZX_ERR_ACCESS_DENIED, "rights before range")
}

// ---------------------------------------------------------------------------------------
// create_child.

fn child_snapshot_isolation(_: &Ctx) -> TestResult {
    let parent = new_vmo(2 * PAGE)?;
    write_byte(&parent, 0, b'a')?;
    write_byte(&parent, PAGE, b'b')?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 2 * PAGE), "SNAPSHOT child")?;
    check_eq((read_byte(&child, 0)?, read_byte(&child, PAGE)?), (b'a', b'b'), "child sees the parent's data")?;
    write_byte(&parent, 0, b'P')?;
    check_eq(read_byte(&child, 0)?, b'a', "parent write after the snapshot is not seen by the child")?;
    write_byte(&child, PAGE, b'C')?;
    check_eq(read_byte(&parent, PAGE)?, b'b', "child write is not seen by the parent")?;
    check_eq(read_byte(&child, PAGE)?, b'C', "child sees its own write")?;
    check_eq(read_byte(&parent, 0)?, b'P', "parent sees its own write")?;
    // Closing the parent leaves the child's content alone, and the other way round.
    drop(parent);
    check_eq((read_byte(&child, 0)?, read_byte(&child, PAGE)?), (b'a', b'C'), "child after the parent closed")
}

fn child_at_least_on_write_isolation(_: &Ctx) -> TestResult {
    let parent = new_vmo(2 * PAGE)?;
    write_byte(&parent, 0, b'a')?;
    write_byte(&parent, PAGE, b'b')?;
    let child =
        check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, 2 * PAGE), "AT_LEAST_ON_WRITE child")?;
    check_eq((read_byte(&child, 0)?, read_byte(&child, PAGE)?), (b'a', b'b'), "child sees the parent's data")?;
    write_byte(&child, PAGE, b'C')?;
    check_eq(read_byte(&parent, PAGE)?, b'b', "child write is not seen by the parent")?;
    // Once the child has written a page, the parent's later writes stay out of it.
    write_byte(&parent, PAGE, b'Q')?;
    check_eq(read_byte(&child, PAGE)?, b'C', "parent write to a page the child forked")?;
    check_eq(read_byte(&parent, PAGE)?, b'Q', "parent sees its own write")?;
    let info = info(&child)?;
    check_eq(info.flags & VMO_FLAG_IS_COW_CLONE, VMO_FLAG_IS_COW_CLONE, "IS_COW_CLONE")
}

fn child_committed_attribution(_: &Ctx) -> TestResult {
    let parent = new_vmo(4 * PAGE)?;
    fill(&parent, 0, 1, 2 * PAGE)?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 4 * PAGE), "child")?;
    check_eq(committed(&child)?, 0, "a new child has nothing committed")?;
    check_eq(committed(&parent)?, 2 * PAGE, "the parent keeps its pages")?;
    let _ = read_byte(&child, 0)?;
    check_eq(committed(&child)?, 0, "reading the child commits nothing")?;
    write_byte(&child, 0, 9)?;
    check_eq(committed(&child)?, PAGE, "child write forks one page")?;
    check_eq(committed(&parent)?, 2 * PAGE, "parent unchanged by the fork")?;
    write_byte(&child, 3 * PAGE, 9)?;
    check_eq(committed(&child)?, 2 * PAGE, "child write to a page the parent never had")?;
    check_ok(vmo_op_range(&child, OP_COMMIT, PAGE, PAGE), "COMMIT a child page")?;
    check_eq(committed(&child)?, 3 * PAGE, "committed child page")?;
    check_eq(read_byte(&child, PAGE)?, 1, "committed child page copies the parent's content")
}

fn child_info_fields(_: &Ctx) -> TestResult {
    let parent = new_vmo(2 * PAGE)?;
    let parent_koid = info(&parent)?.koid;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 5000), "child")?;
    let child_info = info(&child)?;
    check_eq(child_info.parent_koid, parent_koid, "parent_koid")?;
    check(child_info.koid != parent_koid, "child has its own koid")?;
    check_eq(child_info.size_bytes, 2 * PAGE, "child size rounded")?;
    check_hex(
        child_info.flags as u64,
        (VMO_FLAG_TYPE_PAGED | VMO_FLAG_VIA_HANDLE | VMO_FLAG_IS_COW_CLONE) as u64,
        "child flags",
    )?;
    check_eq(info(&parent)?.num_children, 1, "num_children with one child")?;
    check_eq(info(&parent)?.flags & VMO_FLAG_IS_COW_CLONE, 0, "the parent is no clone")?;
    let second = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 0, PAGE), "second child")?;
    check_eq(info(&parent)?.num_children, 2, "num_children with two")?;
    let slice = check_ok(vmo_create_child(&parent, CHILD_SLICE, 0, PAGE), "slice")?;
    let slice_info = info(&slice)?;
    check_eq(slice_info.flags & VMO_FLAG_IS_COW_CLONE, 0, "a slice is no COW clone")?;
    check_eq(slice_info.parent_koid, parent_koid, "slice parent_koid")?;
    drop(second);
    drop(slice);
    check_eq(info(&parent)?.num_children, 1, "num_children after closing two")?;
    drop(child);
    check_eq(info(&parent)?.num_children, 0, "num_children after closing all")
}

fn child_zero_children_signal(_: &Ctx) -> TestResult {
    let parent = new_vmo(PAGE)?;
    check(zero_children(&parent), "ZERO_CHILDREN on a new VMO")?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    let (status, observed) = object_wait_one(&parent, VMO_ZERO_CHILDREN, 0);
    check_status(status, ZX_ERR_TIMED_OUT, "ZERO_CHILDREN cleared by a child")?;
    check_eq(observed & VMO_ZERO_CHILDREN, 0, "observed without ZERO_CHILDREN")?;
    check(zero_children(&child), "the child itself has no children")?;
    drop(child);
    check(zero_children(&parent), "ZERO_CHILDREN set again when the child closes")?;
    let slice = check_ok(vmo_create_child(&parent, CHILD_SLICE, 0, PAGE), "slice")?;
    check(!zero_children(&parent), "a slice clears it too")?;
    drop(slice);
    check(zero_children(&parent), "set again after the slice")
}

fn child_zero_children_grandchild_and_mapping(ctx: &Ctx) -> TestResult {
    let parent = new_vmo(PAGE)?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    let grandchild = check_ok(vmo_create_child(&child, CHILD_SNAPSHOT, 0, PAGE), "grandchild")?;
    drop(child);
    check(!zero_children(&parent), "a live grandchild keeps ZERO_CHILDREN clear")?;
    drop(grandchild);
    check(zero_children(&parent), "set when the last descendant is gone")?;
    // A mapping of a child keeps it alive.
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    let mapping = map(ctx, VM_PERM_READ, &child, PAGE)?;
    drop(child);
    check(!zero_children(&parent), "a mapped child keeps ZERO_CHILDREN clear")?;
    drop(mapping);
    check(zero_children(&parent), "set when the mapping goes")
}

fn child_resizable(_: &Ctx) -> TestResult {
    let parent = new_vmo(PAGE)?;
    write_byte(&parent, 0, 5)?;
    let fixed = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    check_status(vmo_set_size(&fixed, 2 * PAGE), ZX_ERR_UNAVAILABLE, "set_size of a fixed child")?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT | CHILD_RESIZABLE, 0, PAGE), "resizable child")?;
    check_eq(info(&child)?.flags & VMO_FLAG_RESIZABLE, VMO_FLAG_RESIZABLE, "RESIZABLE flag")?;
    check_ok(vmo_set_size(&child, 3 * PAGE), "grow the child")?;
    expect_filled(&child, PAGE, 0, 2 * PAGE, "grown child pages")?;
    check_eq(read_byte(&child, 0)?, 5, "inherited byte")?;
    check_ok(vmo_set_size(&child, 0), "shrink the child to 0")?;
    check_ok(vmo_set_size(&child, PAGE), "grow it again")?;
    check_eq(read_byte(&child, 0)?, 0, "a regrown child does not see the parent again")?;
    let aow = check_ok(
        vmo_create_child(&parent, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE | CHILD_RESIZABLE, 0, PAGE),
        "resizable AOW child",
    )?;
    check_ok(vmo_set_size(&aow, 2 * PAGE), "grow the AOW child")
}

fn child_beyond_parent_reads_zero(_: &Ctx) -> TestResult {
    let parent = new_vmo(PAGE)?;
    fill(&parent, 0, 0x44, PAGE)?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 3 * PAGE), "child larger than the parent")?;
    check_eq(check_ok(vmo_get_size(&child), "size")?, 3 * PAGE, "child size")?;
    expect_filled(&child, 0, 0x44, PAGE, "inherited page")?;
    expect_filled(&child, PAGE, 0, 2 * PAGE, "pages beyond the parent")?;
    let offset_child =
        check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, PAGE, 2 * PAGE), "child past the parent's end")?;
    expect_filled(&offset_child, 0, 0, 2 * PAGE, "child wholly beyond the parent")?;
    write_byte(&offset_child, 5, 1)?;
    check_eq(read_byte(&offset_child, 5)?, 1, "writable beyond the parent")
}

fn child_options_invalid(_: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    for options in [
        0,
        CHILD_RESIZABLE,
        CHILD_NO_WRITE,
        CHILD_SNAPSHOT | CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
        CHILD_SNAPSHOT | 1 << 6,
        CHILD_SNAPSHOT | 1 << 31,
        1 << 1,
    ] {
        check_status(vmo_create_child(&vmo, options, 0, PAGE), ZX_ERR_INVALID_ARGS, "bad child options")?;
    }
    check_status(vmo_create_child(&vmo, CHILD_SNAPSHOT, 100, PAGE), ZX_ERR_INVALID_ARGS, "unaligned offset")?;
    check_status(
        vmo_create_child(&vmo, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, 1, PAGE),
        ZX_ERR_INVALID_ARGS,
        "unaligned offset (AOW)",
    )?;
    for size in [u64::MAX, u64::MAX - PAGE + 1, MAX_VMO_SIZE + 1] {
        check_status(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, size), ZX_ERR_OUT_OF_RANGE, "child size near 2^64")?;
    }
    check_status(vmo_create_child(0xFFFF_FFFFu32, CHILD_SNAPSHOT, 0, PAGE), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    check_status(vmo_create_child(0xFFFF_FFFFu32, 0, 0, PAGE), ZX_ERR_BAD_HANDLE, "bogus handle beats bad options")?;
    // A bad out-pointer drops the new child at once.
    let status = raw(nr::VMO_CREATE_CHILD, [vmo.raw_u64(), CHILD_SNAPSHOT as u64, 0, PAGE, KERNEL_ADDR]);
    check_status(status, ZX_ERR_INVALID_ARGS, "bad out-pointer")?;
    check_eq(info(&vmo)?.num_children, 0, "no child left behind")?;
    check(zero_children(&vmo), "ZERO_CHILDREN still set")
}

fn child_rights(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let rd = dup(&vmo, READ | DUPLICATE)?;
    let child = check_ok(vmo_create_child(&rd, CHILD_SNAPSHOT, 0, PAGE), "child of READ|DUPLICATE")?;
    check_hex(
        check_ok(rights_of(&child), "rights")? as u64,
        (READ | DUPLICATE | WRITE | GET_PROPERTY | SET_PROPERTY) as u64,
        "COW child rights",
    )?;
    let no_write = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT | CHILD_NO_WRITE, 0, PAGE), "NO_WRITE child")?;
    check_hex(
        check_ok(rights_of(&no_write), "rights")? as u64,
        (DEFAULT_VMO & !WRITE) as u64,
        "NO_WRITE child rights",
    )?;
    check_status(vmo_write(&no_write, b"x", 0), ZX_ERR_ACCESS_DENIED, "write a NO_WRITE child")?;
    // EXECUTE is dropped for COW children but kept for slices.
    let exec = check_ok(vmo_replace_as_executable(dup(&vmo, SAME_RIGHTS)?.into_raw(), 0u32), "replace_as_executable")?;
    let cow = check_ok(vmo_create_child(&exec, CHILD_SNAPSHOT, 0, PAGE), "COW child of executable")?;
    check_eq(check_ok(rights_of(&cow), "rights")? & EXECUTE, 0, "COW child loses EXECUTE")?;
    let exec_slice = check_ok(vmo_create_child(&exec, CHILD_SLICE, 0, PAGE), "slice of executable")?;
    check_eq(check_ok(rights_of(&exec_slice), "rights")? & EXECUTE, EXECUTE, "slice keeps EXECUTE")?;
    let rdm = dup(&vmo, READ | DUPLICATE | MAP)?;
    let slice = check_ok(vmo_create_child(&rdm, CHILD_SLICE, 0, PAGE), "slice of READ|DUPLICATE|MAP")?;
    check_hex(
        check_ok(rights_of(&slice), "rights")? as u64,
        (READ | DUPLICATE | MAP | GET_PROPERTY | SET_PROPERTY) as u64,
        "slice rights",
    )?;
    // DUPLICATE and READ are both needed, and checked before the options.
    let no_dup = dup(&vmo, DEFAULT_VMO & !DUPLICATE)?;
    check_status(vmo_create_child(&no_dup, CHILD_SNAPSHOT, 0, PAGE), ZX_ERR_ACCESS_DENIED, "child without DUPLICATE")?;
    let no_read = dup(&vmo, DEFAULT_VMO & !READ)?;
    check_status(vmo_create_child(&no_read, CHILD_SNAPSHOT, 0, PAGE), ZX_ERR_ACCESS_DENIED, "child without READ")?;
    check_status(vmo_create_child(&no_read, 0, 0, PAGE), ZX_ERR_ACCESS_DENIED, "rights before options")?;
    check_status(vmo_create_child(ctx.root_vmar, CHILD_SNAPSHOT, 0, PAGE), ZX_ERR_WRONG_TYPE, "child of a VMAR")
}

fn child_name_copied(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_ok(object_set_property(&vmo, PROP_NAME, b"parent-name"), "set NAME")?;
    let child = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    let name = check_ok(get_name(&child), "child NAME")?;
    check_eq(&name[..12], b"parent-name\0".as_slice(), "child name copied from the parent")
}

fn slice_shares_writes_both_ways(_: &Ctx) -> TestResult {
    let parent = new_vmo(4 * PAGE)?;
    let slice = check_ok(vmo_create_child(&parent, CHILD_SLICE, PAGE, 2 * PAGE), "slice")?;
    check_eq(check_ok(vmo_get_size(&slice), "size")?, 2 * PAGE, "slice size")?;
    write_byte(&slice, 3, b'S')?;
    check_eq(read_byte(&parent, PAGE + 3)?, b'S', "slice write seen by the parent")?;
    write_byte(&parent, 2 * PAGE + 7, b'P')?;
    check_eq(read_byte(&slice, PAGE + 7)?, b'P', "parent write seen by the slice")?;
    let mut byte = [0u8];
    check_status(vmo_read(&slice, &mut byte, 2 * PAGE), ZX_ERR_OUT_OF_RANGE, "read past the slice")?;
    let small = check_ok(vmo_create_child(&parent, CHILD_SLICE, 0, 42), "42-byte slice")?;
    check_eq(check_ok(vmo_get_size(&small), "size")?, PAGE, "slice size rounded up")?;
    let empty = check_ok(vmo_create_child(&parent, CHILD_SLICE, 0, 0), "zero-size slice")?;
    check_status(vmo_read(&empty, &mut byte, 0), ZX_ERR_OUT_OF_RANGE, "read 1 byte of a zero-size slice")?;
    check_status(vmo_write(&empty, &byte, 0), ZX_ERR_OUT_OF_RANGE, "write 1 byte of a zero-size slice")?;
    // A slice of a slice reaches the same pages.
    let inner = check_ok(vmo_create_child(&slice, CHILD_SLICE, PAGE, PAGE), "slice of a slice")?;
    check_eq(read_byte(&inner, 7)?, b'P', "nested slice sees the parent")
}

fn slice_options_and_bounds(_: &Ctx) -> TestResult {
    let size = 4 * PAGE;
    let vmo = new_vmo(size)?;
    for options in [
        CHILD_SLICE | CHILD_SNAPSHOT,
        CHILD_SLICE | CHILD_RESIZABLE,
        CHILD_SLICE | CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
        CHILD_SLICE | 1 << 6,
    ] {
        check_status(vmo_create_child(&vmo, options, 0, PAGE), ZX_ERR_INVALID_ARGS, "SLICE with another option")?;
    }
    let no_write = check_ok(vmo_create_child(&vmo, CHILD_SLICE | CHILD_NO_WRITE, 0, PAGE), "SLICE|NO_WRITE")?;
    check_eq(check_ok(rights_of(&no_write), "rights")? & WRITE, 0, "NO_WRITE slice has no WRITE")?;
    check_status(vmo_create_child(&vmo, CHILD_SLICE, 100, PAGE), ZX_ERR_INVALID_ARGS, "unaligned slice offset")?;
    for (offset, len) in [(size, PAGE), (u64::MAX - PAGE + 1, PAGE), (PAGE, size), (3 * PAGE, 2 * PAGE)] {
        check_status(
            vmo_create_child(&vmo, CHILD_SLICE, offset, len),
            ZX_ERR_INVALID_ARGS,
            "slice outside the parent",
        )?;
    }
    check_status(vmo_create_child(&vmo, CHILD_SLICE, 0, u64::MAX), ZX_ERR_OUT_OF_RANGE, "slice size 2^64-1")?;
    check_ok(vmo_create_child(&vmo, CHILD_SLICE, size, 0), "zero-size slice at the end")?;
    check_ok(vmo_create_child(&vmo, CHILD_SLICE, 0, size), "slice of everything")?;
    Ok(())
}

fn slice_of_resizable_not_supported(_: &Ctx) -> TestResult {
    let vmo = new_resizable(2 * PAGE)?;
    check_status(vmo_create_child(&vmo, CHILD_SLICE, 0, PAGE), ZX_ERR_NOT_SUPPORTED, "slice of a resizable VMO")?;
    check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, PAGE), "COW child of a resizable VMO")?;
    Ok(())
}

fn child_of_uncached_bad_state(_: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    check_ok(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), "UNCACHED")?;
    for options in [CHILD_SNAPSHOT, CHILD_SNAPSHOT_AT_LEAST_ON_WRITE, CHILD_SLICE] {
        check_status(vmo_create_child(&vmo, options, 0, PAGE), ZX_ERR_BAD_STATE, "child of an uncached VMO")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// set_cache_policy.

fn cache_policy_all_four(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    for policy in
        [CACHE_POLICY_UNCACHED, CACHE_POLICY_UNCACHED_DEVICE, CACHE_POLICY_WRITE_COMBINING, CACHE_POLICY_CACHED]
    {
        check_ok(vmo_set_cache_policy(&vmo, policy), "set a policy on a clean VMO")?;
        check_eq(info(&vmo)?.cache_policy, policy, "cache_policy reported")?;
    }
    let resizable = new_resizable(PAGE)?;
    check_ok(vmo_set_cache_policy(&resizable, CACHE_POLICY_UNCACHED), "UNCACHED on a resizable VMO")?;
    let i = info(&resizable)?;
    check_hex(i.flags as u64, (VMO_FLAG_TYPE_PAGED | VMO_FLAG_VIA_HANDLE | VMO_FLAG_RESIZABLE) as u64, "flags")?;
    check_eq(i.cache_policy, CACHE_POLICY_UNCACHED, "policy")
}

fn cache_policy_invalid_before_handle(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    for policy in [4u32, 5, 0x100, 0xFFFF_FFFF] {
        check_status(vmo_set_cache_policy(&vmo, policy), ZX_ERR_INVALID_ARGS, "policy outside the mask")?;
        check_status(
            vmo_set_cache_policy(0xFFFF_FFFFu32, policy),
            ZX_ERR_INVALID_ARGS,
            "bad policy beats bogus handle",
        )?;
    }
    check_status(vmo_set_cache_policy(0xFFFF_FFFFu32, CACHE_POLICY_CACHED), ZX_ERR_BAD_HANDLE, "bogus handle")
}

fn cache_policy_bad_state(ctx: &Ctx) -> TestResult {
    // Mapped.
    let vmo = new_vmo(PAGE)?;
    let mapping = map(ctx, VM_PERM_READ, &vmo, PAGE)?;
    check_status(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), ZX_ERR_BAD_STATE, "mapped VMO")?;
    drop(mapping);
    check_ok(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), "after the unmap")?;
    check_ok(vmo_set_cache_policy(&vmo, CACHE_POLICY_CACHED), "back to CACHED")?;
    // Has children / is a child.
    let child = check_ok(vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, PAGE), "child")?;
    check_status(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), ZX_ERR_BAD_STATE, "VMO with a child")?;
    check_status(vmo_set_cache_policy(&child, CACHE_POLICY_UNCACHED), ZX_ERR_BAD_STATE, "COW child")?;
    drop(child);
    let slice = check_ok(vmo_create_child(&vmo, CHILD_SLICE, 0, PAGE), "slice")?;
    check_status(vmo_set_cache_policy(&slice, CACHE_POLICY_UNCACHED), ZX_ERR_BAD_STATE, "slice")?;
    check_status(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), ZX_ERR_BAD_STATE, "VMO with a slice")?;
    drop(slice);
    // Committed pages: cached -> uncached is allowed, away from uncached is not.
    let committed_vmo = new_vmo(PAGE)?;
    write_byte(&committed_vmo, 0, 1)?;
    check_ok(vmo_set_cache_policy(&committed_vmo, CACHE_POLICY_UNCACHED), "cached -> uncached with pages")?;
    let uncached = new_vmo(2 * PAGE)?;
    check_ok(vmo_set_cache_policy(&uncached, CACHE_POLICY_UNCACHED), "UNCACHED")?;
    check_ok(vmo_op_range(&uncached, OP_COMMIT, 0, PAGE), "COMMIT while uncached")?;
    check_status(
        vmo_set_cache_policy(&uncached, CACHE_POLICY_CACHED),
        ZX_ERR_BAD_STATE,
        "uncached with pages -> cached",
    )?;
    check_status(
        vmo_set_cache_policy(&uncached, CACHE_POLICY_WRITE_COMBINING),
        ZX_ERR_BAD_STATE,
        "uncached with pages -> WC",
    )
}

fn cache_policy_rights_and_types(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let no_map = dup(&vmo, DEFAULT_VMO & !MAP)?;
    check_status(vmo_set_cache_policy(&no_map, CACHE_POLICY_UNCACHED), ZX_ERR_ACCESS_DENIED, "without MAP")?;
    let map_only = dup(&vmo, MAP)?;
    check_ok(vmo_set_cache_policy(&map_only, CACHE_POLICY_UNCACHED), "MAP is enough")?;
    check_status(vmo_set_cache_policy(ctx.root_vmar, CACHE_POLICY_UNCACHED), ZX_ERR_WRONG_TYPE, "VMAR")
}

// ---------------------------------------------------------------------------------------
// replace_as_executable.

fn replace_as_executable_basic(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let koid = info(&vmo)?.koid;
    let old = vmo.into_raw();
    let exec = check_ok(vmo_replace_as_executable(old, 0u32), "with vmex ZX_HANDLE_INVALID")?;
    check_status(vmo_get_size(old), ZX_ERR_BAD_HANDLE, "the old handle is consumed")?;
    let basic = check_ok(info_handle_basic(&exec), "basic")?;
    check_eq(basic.koid, koid, "same VMO")?;
    check_hex(basic.rights as u64, (DEFAULT_VMO | EXECUTE) as u64, "rights + EXECUTE")?;
    let with_root =
        check_ok(vmo_replace_as_executable(new_vmo(PAGE)?.into_raw(), ctx.root_resource), "with the root resource")?;
    check_eq(check_ok(rights_of(&with_root), "rights")? & EXECUTE, EXECUTE, "EXECUTE added")?;
    check_status(rights_of(ctx.root_resource), ZX_OK, "the root resource is not consumed")?;
    let reduced = dup(&exec, READ | MAP)?;
    let reduced_exec = check_ok(vmo_replace_as_executable(reduced.into_raw(), 0u32), "reduced handle")?;
    check_hex(check_ok(rights_of(&reduced_exec), "rights")? as u64, (READ | MAP | EXECUTE) as u64, "only EXECUTE added")
}

fn replace_as_executable_vmex_checks(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let other = new_vmo(PAGE)?;
    let value = dup(&vmo, SAME_RIGHTS)?.into_raw();
    check_status(vmo_replace_as_executable(value, &other), ZX_ERR_WRONG_TYPE, "vmex is a VMO")?;
    let _ = handle_close(value); // consumed or not, it must not leak
    let value = dup(&vmo, SAME_RIGHTS)?.into_raw();
    check_status(vmo_replace_as_executable(value, ctx.root_vmar), ZX_ERR_WRONG_TYPE, "vmex is a VMAR")?;
    let _ = handle_close(value);
    check_status(vmo_replace_as_executable(0xFFFF_FFFF, 0u32), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    let vmar_copy = dup(ctx.root_vmar, SAME_RIGHTS)?.into_raw();
    check_status(vmo_replace_as_executable(vmar_copy, 0u32), ZX_ERR_WRONG_TYPE, "handle is a VMAR")?;
    let _ = handle_close(vmar_copy);
    let value = dup(&vmo, SAME_RIGHTS)?.into_raw();
    let status = raw(nr::VMO_REPLACE_AS_EXECUTABLE, [value as u64, 0, KERNEL_ADDR]);
    check_status(status, ZX_ERR_INVALID_ARGS, "bad out-pointer")?;
    let _ = handle_close(value);
    Ok(())
}

fn replace_as_executable_runs_code(ctx: &Ctx) -> TestResult {
    // `mov x0, #42; ret`
    let code: [u8; 8] = [0x40, 0x05, 0x80, 0xd2, 0xc0, 0x03, 0x5f, 0xd6];
    let vmo = new_vmo(PAGE)?;
    check_ok(vmo_write(&vmo, &code, 0), "write code")?;
    check_status(
        Mapping::new(ctx.root_vmar, VM_PERM_READ | VM_PERM_EXECUTE, 0, &vmo, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|X mapping without EXECUTE",
    )?;
    let exec = check_ok(vmo_replace_as_executable(vmo.into_raw(), 0u32), "replace_as_executable")?;
    let text = map(ctx, VM_PERM_READ | VM_PERM_EXECUTE, &exec, PAGE)?;
    check_ok(cache_flush(text.addr(), code.len() as u64, CACHE_FLUSH_DATA | CACHE_FLUSH_INSN), "cache_flush")?;
    // SAFETY: the page holds exactly `mov x0, #42; ret`, mapped R+X and made coherent.
    let function: extern "C" fn() -> u64 = unsafe { core::mem::transmute(text.addr() as usize) };
    check_eq(function(), 42, "code run from an executable mapping")
}

// ---------------------------------------------------------------------------------------
// create_physical.

/// QEMU virt's PL031 RTC, used for argument checks (never mapped unless named by `mmio=`).
const SOME_MMIO: u64 = 0x0901_0000;

fn physical_argument_checks(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_status(vmo_create_physical(&vmo, SOME_MMIO, PAGE), ZX_ERR_WRONG_TYPE, "resource is a VMO")?;
    check_status(vmo_create_physical(ctx.root_vmar, SOME_MMIO, PAGE), ZX_ERR_WRONG_TYPE, "resource is a VMAR")?;
    check_status(vmo_create_physical(0xFFFF_FFFFu32, SOME_MMIO, PAGE), ZX_ERR_BAD_HANDLE, "bogus resource")?;
    let root = ctx.root_resource;
    check_status(vmo_create_physical(root, SOME_MMIO + 1, PAGE), ZX_ERR_INVALID_ARGS, "unaligned paddr")?;
    check_status(vmo_create_physical(root, SOME_MMIO, 0), ZX_ERR_INVALID_ARGS, "size 0")?;
    check_status(vmo_create_physical(root, SOME_MMIO, 100), ZX_ERR_INVALID_ARGS, "unaligned size")?;
    check_status(
        vmo_create_physical(root, u64::MAX - PAGE + 1, 2 * PAGE),
        ZX_ERR_INVALID_ARGS,
        "paddr + size overflows",
    )?;
    check_status(vmo_create_physical(root, PAGE, u64::MAX - PAGE + 1), ZX_ERR_INVALID_ARGS, "huge size overflows")
}

fn physical_ram_access_denied(ctx: &Ctx) -> TestResult {
    let ram = ctx.arg_u64("ram").unwrap_or(0x5000_0000);
    check_status(vmo_create_physical(ctx.root_resource, ram, PAGE), ZX_ERR_ACCESS_DENIED, "a page of RAM")?;
    check_status(vmo_create_physical(ctx.root_resource, ram, 16 * PAGE), ZX_ERR_ACCESS_DENIED, "16 pages of RAM")
}

fn physical_mmio_map_and_read(ctx: &Ctx) -> TestResult {
    let Some(paddr) = ctx.arg_u64("mmio") else {
        skip!("no mmio=0xADDR word on the command line");
    };
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    {
        let vmo = check_ok(vmo_create_physical(ctx.root_resource, paddr, PAGE), "create_physical(mmio)")?;
        check_hex(check_ok(rights_of(&vmo), "rights")? as u64, DEFAULT_VMO as u64, "physical VMO rights")?;
        let i = info(&vmo)?;
        check_eq(i.flags & VMO_FLAG_TYPE_PAGED, 0, "not TYPE_PAGED")?;
        check_eq(i.cache_policy, CACHE_POLICY_UNCACHED, "starts UNCACHED")?;
        check_eq(i.size_bytes, PAGE, "size")?;
        check_eq(i.committed_bytes, 0, "never committed")?;
        let mut buf = [0u8; 4];
        check_status(vmo_read(&vmo, &mut buf, 0), ZX_ERR_NOT_SUPPORTED, "read a physical VMO")?;
        check_status(vmo_write(&vmo, &buf, 0), ZX_ERR_NOT_SUPPORTED, "write a physical VMO")?;
        check_status(
            vmo_create_child(&vmo, CHILD_SNAPSHOT, 0, PAGE),
            ZX_ERR_NOT_SUPPORTED,
            "COW clone of a physical VMO",
        )?;
        check_ok(vmo_set_cache_policy(&vmo, CACHE_POLICY_UNCACHED), "same policy again")?;
        check_ok(vmo_op_range(&vmo, OP_CACHE_CLEAN, 0, PAGE), "cache op on a physical VMO")?;
        let slice = check_ok(vmo_create_child(&vmo, CHILD_SLICE, 0, PAGE), "slice of a physical VMO")?;
        // Issue 13, defect 7: the slice names its parent (Zircon's PhysicalSlice test).
        check_eq(info(&slice)?.parent_koid, i.koid, "a physical slice's parent_koid")?;
        let mapping = map(ctx, VM_PERM_READ, &slice, PAGE)?;
        // Every AMBA PrimeCell (PL011, PL031) has the cell ID 0xB105F00D in its last
        // four words, one byte per word.
        let mut cell_id = 0u32;
        for word in 0..4u64 {
            // SAFETY: the mapping covers the page; the register is a 32-bit word.
            let value = unsafe { core::ptr::read_volatile((mapping.addr() + 0xFF0 + 4 * word) as usize as *const u32) };
            cell_id |= (value & 0xFF) << (8 * word);
        }
        check_hex(cell_id as u64, 0xB105_F00D, "PrimeCell ID read through the mapping")?;
        check_eq(info(&vmo)?.num_children, 1, "the slice is a child")?;
    }
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    check_eq(after.vmo_bytes, before.vmo_bytes, "physical VMOs never count as committed")
}

/// Raw values of the duplicates that fill the handle table (more than it can hold).
static FILLER: [core::sync::atomic::AtomicU32; 65_600] = [const { core::sync::atomic::AtomicU32::new(0) }; 65_600];

/// Issue 13, defect 1: with the handle table full, `zx_vmo_create`, `zx_vmo_create_child`
/// (COW and slice) and `zx_vmo_create_physical` fail with NO_MEMORY (ABI v2) and the object
/// they made dies with its unmade handle: the parent gets no child, keeps
/// ZERO_CHILDREN, and every frame comes back once the handles are closed.
fn new_objects_die_with_their_unmade_handle(ctx: &Ctx) -> TestResult {
    use core::sync::atomic::Ordering::Relaxed;
    // Commit the filler's own pages first, so that they do not count as a difference.
    FILLER.iter().for_each(|slot| slot.store(0, Relaxed));
    vmo_churn()?;
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    let parent = new_vmo(4 * PAGE)?;
    fill(&parent, 0, 0x3C, 4 * PAGE)?;
    let mut held = 0;
    let filled = loop {
        if held == FILLER.len() {
            break Err(Failure::new(format_args!("the handle table never filled up")));
        }
        match handle_duplicate(&parent, SAME_RIGHTS) {
            Ok(h) => {
                FILLER[held].store(h.into_raw(), Relaxed);
                held += 1;
            }
            Err(ZX_ERR_NO_MEMORY) => break Ok(()),
            Err(status) => break Err(Failure::new(format_args!("handle_duplicate while filling the table: {status}"))),
        }
    };
    let result = filled.and_then(|()| {
        check_status(vmo_create(PAGE, 0), ZX_ERR_NO_MEMORY, "vmo_create, table full")?;
        check_status(
            vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 4 * PAGE),
            ZX_ERR_NO_MEMORY,
            "COW child, table full",
        )?;
        check_status(vmo_create_child(&parent, CHILD_SLICE, 0, PAGE), ZX_ERR_NO_MEMORY, "slice, table full")?;
        if let Some(mmio) = ctx.arg_u64("mmio") {
            check_status(
                vmo_create_physical(ctx.root_resource, mmio, PAGE),
                ZX_ERR_NO_MEMORY,
                "physical VMO, table full",
            )?;
        }
        Ok(())
    });
    for slot in &FILLER[..held] {
        check_ok(handle_close(slot.swap(0, Relaxed)), "closing a filler handle")?;
    }
    result?;
    check_eq(info(&parent)?.num_children, 0, "children left by the failed calls")?;
    check(zero_children(&parent), "ZERO_CHILDREN after the failed calls")?;
    drop(parent);
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    check_eq(after.vmo_bytes, before.vmo_bytes, "vmo_bytes after closing every handle")?;
    check_eq(after.free_bytes, before.free_bytes, "free_bytes after closing every handle")
}

// ---------------------------------------------------------------------------------------
// vmar_map.

fn map_kernel_chosen_rw(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 2 * PAGE)?;
    check_eq(mapping.addr() % PAGE, 0, "address page-aligned")?;
    check(mapping.addr() >= USER_BASE && mapping.addr() + 2 * PAGE <= USER_END, "inside user space")?;
    mapping.write(PAGE + 9, 0x6B);
    check_eq(read_byte(&vmo, PAGE + 9)?, 0x6B, "store through the mapping seen by vmo_read")?;
    write_byte(&vmo, 17, 0x6C)?;
    check_eq(mapping.read(17), 0x6C, "vmo_write seen through the mapping")?;
    // No permissions at all is a legal mapping.
    let none = check_ok(Mapping::new(ctx.root_vmar, 0, 0, &vmo, 0, PAGE), "mapping with no permissions")?;
    check(!kernel_can_read(none.addr()), "a no-permission mapping is not readable")?;
    Ok(())
}

fn map_specific_overlap_and_overwrite(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    write_byte(&vmo, 0, 1)?;
    let other = new_vmo(2 * PAGE)?;
    write_byte(&other, 0, 2)?;
    let free = check_ok(unmapped_range(ctx, 2), "free range")?;
    let offset = free - ROOT_BASE;
    let first = check_ok(Mapping::new(ctx.root_vmar, VM_RW | VM_SPECIFIC, offset, &vmo, 0, 2 * PAGE), "SPECIFIC map")?;
    check_hex(first.addr(), free, "SPECIFIC address")?;
    check_eq(first.read(0), 1, "content at the SPECIFIC address")?;
    check_status(
        vmar_map(ctx.root_vmar, VM_RW | VM_SPECIFIC, offset, &other, 0, PAGE),
        ZX_ERR_NO_MEMORY,
        "SPECIFIC over a mapping",
    )?;
    check_status(
        vmar_map(ctx.root_vmar, VM_RW | VM_SPECIFIC, offset + PAGE, &other, 0, 2 * PAGE),
        ZX_ERR_NO_MEMORY,
        "SPECIFIC partly over a mapping",
    )?;
    let over = check_ok(
        Mapping::new(ctx.root_vmar, VM_RW | VM_SPECIFIC_OVERWRITE, offset, &other, 0, PAGE),
        "SPECIFIC_OVERWRITE",
    )?;
    check_hex(over.addr(), free, "SPECIFIC_OVERWRITE address")?;
    check_eq(first.read(0), 2, "overwritten page shows the new VMO")?;
    check_eq(info(&vmo)?.num_mappings, 1, "the old mapping keeps its other page")?;
    check_eq(first.read(PAGE), 0, "old mapping's second page")
}

fn map_specific_outside_vmar(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    let root_len = USER_END - ROOT_BASE;
    for offset in [!(PAGE - 1), root_len, root_len - PAGE, 1 << 48] {
        check_status(
            vmar_map(ctx.root_vmar, VM_PERM_READ | VM_SPECIFIC, offset, &vmo, 0, 2 * PAGE),
            ZX_ERR_INVALID_ARGS,
            "SPECIFIC outside the VMAR",
        )?;
    }
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ | VM_SPECIFIC, 100, &vmo, 0, PAGE),
        ZX_ERR_INVALID_ARGS,
        "unaligned SPECIFIC offset",
    )?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ, PAGE, &vmo, 0, PAGE),
        ZX_ERR_INVALID_ARGS,
        "vmar_offset without SPECIFIC",
    )
}

fn map_permission_checks(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let no_map = dup(&vmo, DEFAULT_VMO & !MAP)?;
    check_status(vmar_map(ctx.root_vmar, 0, 0, &no_map, 0, PAGE), ZX_ERR_ACCESS_DENIED, "VMO without MAP")?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_WRITE, 0, &no_map, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "no MAP beats bad protection",
    )?;
    let read_map = dup(&vmo, READ | MAP | DUPLICATE)?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_WRITE, 0, &read_map, 0, PAGE),
        ZX_ERR_INVALID_ARGS,
        "WRITE without READ",
    )?;
    check_status(
        vmar_map(ctx.root_vmar, VM_RW, 0, &read_map, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|W through a READ handle",
    )?;
    check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ, 0, &read_map, 0, PAGE), "R through a READ handle")?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ | VM_PERM_EXECUTE, 0, &vmo, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|X without EXECUTE",
    )?;
    // The VMAR handle's rights bound the mapping too.
    let read_vmar = dup(ctx.root_vmar, READ | DUPLICATE)?;
    check_status(
        vmar_map(&read_vmar, VM_RW, 0, &vmo, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|W through a READ VMAR handle",
    )?;
    check_ok(Mapping::new(&read_vmar, VM_PERM_READ, 0, &vmo, 0, PAGE), "R through a READ VMAR handle")?;
    let write_vmar = dup(ctx.root_vmar, WRITE)?;
    check_status(
        vmar_map(&write_vmar, VM_PERM_READ, 0, &vmo, 0, PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R through a VMAR handle without READ",
    )?;
    Ok(())
}

fn map_invalid_options(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let bad = [
        VM_PERM_WRITE,
        VM_PERM_EXECUTE,
        VM_PERM_WRITE | VM_PERM_EXECUTE,
        VM_PERM_READ | VM_CAN_MAP_READ,
        VM_PERM_READ | VM_CAN_MAP_WRITE,
        VM_PERM_READ | VM_CAN_MAP_EXECUTE,
        VM_PERM_READ | VM_CAN_MAP_SPECIFIC,
        VM_PERM_READ | VM_MAP_RANGE | VM_SPECIFIC_OVERWRITE,
        VM_PERM_READ | 1 << 20,
        VM_PERM_READ | vm_align(9),
        VM_PERM_READ | vm_align(33),
        VM_PERM_READ | vm_align(1),
    ];
    for options in bad {
        check_status(vmar_map(ctx.root_vmar, options, 0, &vmo, 0, PAGE), ZX_ERR_INVALID_ARGS, "invalid map options")?;
    }
    let resizable = new_resizable(PAGE)?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ | VM_REQUIRE_NON_RESIZABLE, 0, &resizable, 0, PAGE),
        ZX_ERR_NOT_SUPPORTED,
        "REQUIRE_NON_RESIZABLE on a resizable VMO",
    )?;
    check_ok(
        Mapping::new(ctx.root_vmar, VM_PERM_READ | VM_REQUIRE_NON_RESIZABLE, 0, &vmo, 0, PAGE),
        "REQUIRE_NON_RESIZABLE",
    )?;
    check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ | VM_MAP_RANGE, 0, &vmo, 0, PAGE), "MAP_RANGE")?;
    Ok(())
}

fn map_len_and_offset_checks(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    check_status(vmar_map(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 0, 0), ZX_ERR_INVALID_ARGS, "len 0")?;
    let one = check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 0, 1), "len 1")?;
    check_eq(info(&vmo)?.num_mappings, 1, "len 1 maps a page")?;
    drop(one);
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 100, PAGE),
        ZX_ERR_INVALID_ARGS,
        "unaligned vmo_offset",
    )?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ, 0, &vmo, !(PAGE - 1), 2 * PAGE),
        ZX_ERR_INVALID_ARGS,
        "vmo_offset + len wraps",
    )?;
    check_status(vmar_map(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 0, u64::MAX), ZX_ERR_INVALID_ARGS, "len 2^64-1")?;
    let at_offset = check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ, 0, &vmo, PAGE, PAGE), "map the second page")?;
    write_byte(&vmo, PAGE + 1, 0x3C)?;
    check_eq(at_offset.read(1), 0x3C, "vmo_offset honoured")
}

fn map_past_vmo_end_allowed(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mapping = check_ok(Mapping::new(ctx.root_vmar, VM_RW, 0, &vmo, 0, 3 * PAGE), "map 3 pages of a 1-page VMO")?;
    mapping.write(5, 1);
    check_eq(read_byte(&vmo, 5)?, 1, "the page inside the VMO works")?;
    // The kernel's copy into the part past the end fails instead of faulting us.
    check(!kernel_can_read(mapping.addr() + PAGE), "the part past the end is not readable")?;
    Ok(())
}

fn map_num_mappings(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let reader = dup(&vmo, READ)?;
    check_eq(info(&vmo)?.num_mappings, 0, "no mappings")?;
    let first = map(ctx, VM_RW, &vmo, PAGE)?;
    check_eq(info(&vmo)?.num_mappings, 1, "one mapping")?;
    let second = map(ctx, VM_PERM_READ, &vmo, PAGE)?;
    check_eq(info(&vmo)?.num_mappings, 2, "two mappings")?;
    drop(second);
    check_eq(info(&vmo)?.num_mappings, 1, "after an unmap")?;
    // Closing the VMO handles leaves the mapping working.
    drop(vmo);
    first.write(0, 0x5F);
    check_eq(read_byte(&reader, 0)?, 0x5F, "mapping works after its handle closed")?;
    check_eq(info(&reader)?.num_mappings, 1, "the mapping is still counted")?;
    drop(first);
    check_eq(info(&reader)?.num_mappings, 0, "after the last unmap")
}

fn map_align_option(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    for log2 in [12u32, 16, 20, 21, 30] {
        let mapping =
            check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ | vm_align(log2), 0, &vmo, 0, PAGE), "aligned map")?;
        check_eq(mapping.addr() % (1 << log2), 0, "mapping address alignment")?;
    }
    Ok(())
}

fn map_bad_handles_and_out_pointer(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    check_status(vmar_map(0xFFFF_FFFFu32, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_BAD_HANDLE, "bogus VMAR")?;
    check_status(vmar_map(ctx.root_vmar, VM_PERM_READ, 0, 0xFFFF_FFFFu32, 0, PAGE), ZX_ERR_BAD_HANDLE, "bogus VMO")?;
    check_status(vmar_map(&vmo, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_WRONG_TYPE, "VMAR handle is a VMO")?;
    check_status(
        vmar_map(ctx.root_vmar, VM_PERM_READ, 0, ctx.root_vmar, 0, PAGE),
        ZX_ERR_WRONG_TYPE,
        "VMO handle is a VMAR",
    )?;
    for out in [0, KERNEL_ADDR, rodata_addr()] {
        let args = [ctx.root_vmar as u64, VM_PERM_READ as u64, 0, vmo.raw_u64(), 0, PAGE, out];
        check_status(raw(nr::VMAR_MAP, args), ZX_ERR_INVALID_ARGS, "bad mapped_addr pointer")?;
    }
    check_eq(info(&vmo)?.num_mappings, 0, "refused maps leave no mapping")
}

/// The 8-byte out-values of `zx_vmar_map` (the address) and `zx_vmo_get_size` written
/// into pages of a mapping that are not committed yet, aligned, unaligned and across a
/// page boundary: the kernel's one-store write faults, the general copy commits the
/// page (both, across the boundary) and the value lands there.
fn map_and_get_size_out_pointers_in_fresh_pages(ctx: &Ctx) -> TestResult {
    for (offset, pages) in [(0u64, 1u64), (PAGE + 3, 1), (PAGE - 4, 2)] {
        let target = new_vmo(PAGE)?;
        let vmo = new_vmo(2 * PAGE)?;
        let mapping = map(ctx, VM_PERM_READ | VM_PERM_WRITE, &vmo, 2 * PAGE)?;
        let out = mapping.addr() + offset;
        let args = [ctx.root_vmar as u64, VM_PERM_READ as u64, 0, target.raw_u64(), 0, PAGE, out];
        check_status(raw(nr::VMAR_MAP, args), ZX_OK, "vmar_map writing into a fresh page")?;
        // SAFETY: `out..out + 8` lies in the mapping, which the test owns.
        let addr = unsafe { core::ptr::read_unaligned(out as usize as *const u64) };
        check_eq(info(&target)?.num_mappings, 1, "the mapping was made")?;
        check_ok(vmar_unmap(ctx.root_vmar, addr, PAGE), "unmap at the address written")?;
        check_eq(info(&target)?.num_mappings, 0, "the address written was the mapping's")?;
        check_eq(committed(&vmo)?, pages * PAGE, "pages committed by the out-pointer")?;
        let sized = new_vmo(3 * PAGE - 5)?;
        let fresh = new_vmo(2 * PAGE)?;
        let mapping = map(ctx, VM_PERM_READ | VM_PERM_WRITE, &fresh, 2 * PAGE)?;
        let out = mapping.addr() + offset;
        check_status(raw(nr::VMO_GET_SIZE, [sized.raw_u64(), out]), ZX_OK, "vmo_get_size into a fresh page")?;
        // SAFETY: as above.
        let size = unsafe { core::ptr::read_unaligned(out as usize as *const u64) };
        check_eq(size, 3 * PAGE, "size written through the fresh page")?;
        check_eq(committed(&fresh)?, pages * PAGE, "pages committed by the size out-pointer")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// vmar_unmap.

fn unmap_splits_mapping(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(3 * PAGE)?;
    for page in 0..3 {
        write_byte(&vmo, page * PAGE, b'A' + page as u8)?;
    }
    let mapping = map(ctx, VM_RW, &vmo, 3 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, mapping.addr() + PAGE, PAGE), "unmap the middle page")?;
    check(!kernel_can_read(mapping.addr() + PAGE), "middle page gone")?;
    check_eq((mapping.read(0), mapping.read(2 * PAGE)), (b'A', b'C'), "outer pages still mapped")?;
    mapping.write(1, b'x');
    mapping.write(2 * PAGE + 1, b'y');
    check_eq((read_byte(&vmo, 1)?, read_byte(&vmo, 2 * PAGE + 1)?), (b'x', b'y'), "stores through both halves")?;
    check_eq(info(&vmo)?.num_mappings, 2, "the split leaves two mappings")?;
    // A length that is not a page multiple is rounded up.
    check_ok(vmar_unmap(ctx.root_vmar, mapping.addr(), 1), "unmap 1 byte (one page)")?;
    check(!kernel_can_read(mapping.addr()), "first page gone")?;
    check_eq(mapping.read(2 * PAGE), b'C', "last page still mapped")?;
    Ok(())
}

fn unmap_nothing_mapped_ok(ctx: &Ctx) -> TestResult {
    let free = check_ok(unmapped_range(ctx, 4), "free range")?;
    check_ok(vmar_unmap(ctx.root_vmar, free, 4 * PAGE), "unmap a range with nothing mapped")?;
    // A range that covers a mapping and holes around it.
    let vmo = new_vmo(PAGE)?;
    let mapping = check_ok(
        Mapping::new(ctx.root_vmar, VM_PERM_READ | VM_SPECIFIC, free + PAGE - ROOT_BASE, &vmo, 0, PAGE),
        "map in the middle",
    )?;
    check_ok(vmar_unmap(ctx.root_vmar, free, 4 * PAGE), "unmap around a mapping")?;
    check(!kernel_can_read(mapping.addr()), "mapping in the range is gone")?;
    check_eq(info(&vmo)?.num_mappings, 0, "num_mappings")
}

fn unmap_invalid_args(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mapping = map(ctx, VM_PERM_READ, &vmo, PAGE)?;
    check_status(vmar_unmap(ctx.root_vmar, mapping.addr() + 1, PAGE), ZX_ERR_INVALID_ARGS, "unaligned address")?;
    check_status(vmar_unmap(ctx.root_vmar, mapping.addr(), 0), ZX_ERR_INVALID_ARGS, "length 0")?;
    check_status(vmar_unmap(ctx.root_vmar, KERNEL_ADDR, PAGE), ZX_ERR_INVALID_ARGS, "kernel address")?;
    check_status(
        vmar_unmap(ctx.root_vmar, USER_END - PAGE, 2 * PAGE),
        ZX_ERR_INVALID_ARGS,
        "past the end of user space",
    )?;
    check_status(
        vmar_unmap(ctx.root_vmar, mapping.addr(), !(PAGE - 1)),
        ZX_ERR_INVALID_ARGS,
        "address + length wraps",
    )?;
    check_status(vmar_unmap(0xFFFF_FFFFu32, mapping.addr(), PAGE), ZX_ERR_BAD_HANDLE, "bogus VMAR")?;
    check_status(vmar_unmap(&vmo, mapping.addr(), PAGE), ZX_ERR_WRONG_TYPE, "VMO as VMAR")?;
    check_eq(info(&vmo)?.num_mappings, 1, "mapping untouched by refused unmaps")
}

// ---------------------------------------------------------------------------------------
// vmar_protect.

fn protect_downgrade_read_only(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    fill(&vmo, 0, 0x12, 2 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 2 * PAGE)?;
    mapping.write(0, 0x34);
    check_ok(vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr(), 2 * PAGE), "protect to read-only")?;
    check_status(
        raw(nr::VMO_READ, [vmo.raw_u64(), mapping.addr(), 0, 16]),
        ZX_ERR_INVALID_ARGS,
        "vmo_read into a read-only mapping",
    )?;
    check_eq(mapping.read(0), 0x34, "still readable")?;
    check_ok(vmar_protect(ctx.root_vmar, VM_RW, mapping.addr(), 2 * PAGE), "back to read-write")?;
    mapping.write(PAGE, 0x56);
    check_eq(read_byte(&vmo, PAGE)?, 0x56, "writable again")?;
    check_ok(vmar_protect(ctx.root_vmar, 0, mapping.addr(), PAGE), "protect to no access")?;
    check(!kernel_can_read(mapping.addr()), "no-access page not readable")?;
    check_ok(vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr(), PAGE), "readable again")?;
    check_eq(mapping.read(0), 0x34, "content kept across protect")
}

fn protect_middle_page(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(3 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 3 * PAGE)?;
    check_ok(vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr() + PAGE, PAGE), "protect the middle page")?;
    let into = |page: u64| raw(nr::VMO_READ, [vmo.raw_u64(), mapping.addr() + page * PAGE, 0, 8]);
    check_status(into(0), ZX_OK, "first page writable")?;
    check_status(into(1), ZX_ERR_INVALID_ARGS, "middle page read-only")?;
    check_status(into(2), ZX_OK, "last page writable")
}

fn protect_hole_not_found(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 2 * PAGE)?;
    check_ok(vmar_unmap(ctx.root_vmar, mapping.addr() + PAGE, PAGE), "make a hole")?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr(), 2 * PAGE),
        ZX_ERR_NOT_FOUND,
        "range with a hole",
    )?;
    let free = check_ok(unmapped_range(ctx, 2), "free range")?;
    check_status(vmar_protect(ctx.root_vmar, VM_PERM_READ, free, 2 * PAGE), ZX_ERR_NOT_FOUND, "nothing mapped")
}

fn protect_exceeding_rights(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let read_map = dup(&vmo, READ | MAP)?;
    let mapping = map(ctx, VM_PERM_READ, &read_map, PAGE)?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_RW, mapping.addr(), PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|W beyond the VMO handle's rights",
    )?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_PERM_READ | VM_PERM_EXECUTE, mapping.addr(), PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|X beyond the VMO handle's rights",
    )?;
    let writable = map(ctx, VM_RW, &vmo, PAGE)?;
    let read_vmar = dup(ctx.root_vmar, READ)?;
    check_status(
        vmar_protect(&read_vmar, VM_RW, writable.addr(), PAGE),
        ZX_ERR_ACCESS_DENIED,
        "R|W through a READ VMAR handle",
    )?;
    check_ok(vmar_protect(&read_vmar, VM_PERM_READ, writable.addr(), PAGE), "R through a READ VMAR handle")
}

fn protect_invalid_args(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, PAGE)?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr() + 1, PAGE),
        ZX_ERR_INVALID_ARGS,
        "unaligned address",
    )?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_PERM_WRITE, mapping.addr(), PAGE),
        ZX_ERR_INVALID_ARGS,
        "WRITE without READ",
    )?;
    check_status(
        vmar_protect(ctx.root_vmar, VM_PERM_READ | VM_SPECIFIC, mapping.addr(), PAGE),
        ZX_ERR_INVALID_ARGS,
        "non-PERM flag",
    )?;
    check_status(vmar_protect(ctx.root_vmar, VM_PERM_READ, mapping.addr(), 0), ZX_ERR_INVALID_ARGS, "length 0")?;
    check_status(vmar_protect(0xFFFF_FFFFu32, VM_PERM_READ, mapping.addr(), PAGE), ZX_ERR_BAD_HANDLE, "bogus VMAR")?;
    check_status(vmar_protect(&vmo, VM_PERM_READ, mapping.addr(), PAGE), ZX_ERR_WRONG_TYPE, "VMO as VMAR")?;
    check_status(raw(nr::VMO_READ, [vmo.raw_u64(), mapping.addr(), 0, 8]), ZX_OK, "mapping still writable")
}

// ---------------------------------------------------------------------------------------
// (v2) Sub-VMARs (ABI.md 62, 63).

const CAN_R: u32 = VM_CAN_MAP_READ;
const CAN_RW: u32 = VM_CAN_MAP_READ | VM_CAN_MAP_WRITE;
const CAN_RWX: u32 = VM_CAN_MAP_READ | VM_CAN_MAP_WRITE | VM_CAN_MAP_EXECUTE;

/// A sub-VMAR that is destroyed when dropped (closing its handle would not destroy it).
struct SubVmar {
    handle: Handle,
    addr: u64,
}

impl SubVmar {
    #[track_caller]
    fn new(parent: impl AsRaw, options: u32, offset: u64, len: u64) -> Result<SubVmar, Failure> {
        let (handle, addr) = check_ok(vmar_allocate(parent, options, offset, len), "vmar_allocate")?;
        Ok(SubVmar { handle, addr })
    }
}

impl Drop for SubVmar {
    fn drop(&mut self) {
        let _ = vmar_destroy(&self.handle);
    }
}

fn sub_vmar_rights_info_and_placement(ctx: &Ctx) -> TestResult {
    let region = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 16 * PAGE)?;
    let basic = check_ok(info_handle_basic(&region.handle), "HANDLE_BASIC")?;
    check_eq((basic.obj_type, basic.props), (OBJ_TYPE_VMAR, 0), "a VMAR, not waitable")?;
    check_hex(basic.rights as u64, (DEFAULT_VMAR | READ | WRITE) as u64, "rights 0x8003 | READ | WRITE")?;
    let root_koid = check_ok(info_handle_basic(ctx.root_vmar), "root HANDLE_BASIC")?.koid;
    check(basic.koid != root_koid, "its own koid")?;
    let range = check_ok(info_vmar(&region.handle), "ZX_INFO_VMAR")?;
    check_eq((range.base, range.len), (region.addr, 16 * PAGE), "ZX_INFO_VMAR: its base and length")?;
    check(region.addr % PAGE == 0 && region.addr >= USER_BASE && region.addr + 16 * PAGE <= USER_END, "in user space")?;
    for (flags, want) in [
        (0, DEFAULT_VMAR),
        (CAN_R, DEFAULT_VMAR | READ),
        (VM_CAN_MAP_READ | VM_CAN_MAP_EXECUTE, DEFAULT_VMAR | READ | EXECUTE),
        (CAN_RWX | VM_CAN_MAP_SPECIFIC, DEFAULT_VMAR | READ | WRITE | EXECUTE),
    ] {
        let sub = SubVmar::new(ctx.root_vmar, flags, 0, PAGE)?;
        check_hex(check_ok(rights_of(&sub.handle), "rights")? as u64, want as u64, "rights per CAN_MAP_*")?;
    }
    for log2 in [16u32, 20, 21] {
        let aligned = SubVmar::new(ctx.root_vmar, CAN_R | vm_align(log2), 0, PAGE)?;
        check_eq(aligned.addr % (1 << log2), 0, "ZX_VM_ALIGN_n")?;
    }
    let compact = SubVmar::new(ctx.root_vmar, CAN_R | VM_COMPACT, 0, 2 * PAGE)?;
    check(compact.addr % PAGE == 0, "COMPACT is accepted")?;
    let vmo = new_vmo(PAGE)?;
    check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ | VM_COMPACT, 0, &vmo, 0, PAGE), "COMPACT on vmar_map")?;
    // Two regions never overlap.
    let other = SubVmar::new(ctx.root_vmar, CAN_R, 0, 16 * PAGE)?;
    check(other.addr + 16 * PAGE <= region.addr || region.addr + 16 * PAGE <= other.addr, "disjoint regions")
}

fn sub_vmar_mappings_are_relative_and_bounded(ctx: &Ctx) -> TestResult {
    let region = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 16 * PAGE)?;
    let h = &region.handle;
    let vmo = new_vmo(4 * PAGE)?;
    let at = check_ok(Mapping::new(h, VM_RW | VM_SPECIFIC, 4 * PAGE, &vmo, 0, 2 * PAGE), "SPECIFIC map")?;
    check_hex(at.addr(), region.addr + 4 * PAGE, "SPECIFIC offsets are relative to the region")?;
    at.write(7, 0x5A);
    check_eq(read_byte(&vmo, 7)?, 0x5A, "a store through the mapping reaches the VMO")?;
    let inner = SubVmar::new(h, CAN_R | VM_SPECIFIC, 8 * PAGE, 4 * PAGE)?;
    check_hex(inner.addr, region.addr + 8 * PAGE, "a nested region at a SPECIFIC offset")?;
    let inside = |addr: u64, base: u64, len: u64| base <= addr && addr < base + len;
    for _ in 0..4 {
        let m = check_ok(Mapping::new(h, VM_PERM_READ, 0, &vmo, 0, PAGE), "map anywhere in the region")?;
        check(inside(m.addr(), region.addr, 16 * PAGE), "placed inside the region")?;
        check(!inside(m.addr(), inner.addr, 4 * PAGE), "not inside the nested region")?;
        check(!inside(m.addr(), at.addr(), 2 * PAGE), "not over a mapping")?;
        m.leak(); // stays until the region is destroyed
    }
    let in_inner = check_ok(Mapping::new(&inner.handle, VM_PERM_READ, 0, &vmo, 0, PAGE), "map in the nested region")?;
    check(inside(in_inner.addr(), inner.addr, 4 * PAGE), "placed inside the nested region")?;
    check_eq(in_inner.read(7), 0x5A, "the nested mapping shows the VMO")?;
    let cases: [(&Handle, u32, u64, u64, Status, &str); 9] = [
        (h, VM_PERM_READ | VM_SPECIFIC, 15 * PAGE, 2 * PAGE, ZX_ERR_INVALID_ARGS, "SPECIFIC past the end"),
        (h, VM_PERM_READ | VM_SPECIFIC, 16 * PAGE, PAGE, ZX_ERR_INVALID_ARGS, "SPECIFIC at the end"),
        (h, VM_PERM_READ | VM_SPECIFIC, 5 * PAGE, PAGE, ZX_ERR_NO_MEMORY, "SPECIFIC over a mapping"),
        (h, VM_PERM_READ | VM_SPECIFIC, 9 * PAGE, PAGE, ZX_ERR_NO_MEMORY, "SPECIFIC over the nested region"),
        (h, VM_PERM_READ | VM_SPECIFIC_OVERWRITE, 7 * PAGE, 2 * PAGE, ZX_ERR_INVALID_ARGS, "OVERWRITE of a region"),
        (h, VM_PERM_READ | VM_PERM_EXECUTE, 0, PAGE, ZX_ERR_ACCESS_DENIED, "EXECUTE without CAN_MAP_EXECUTE"),
        (h, VM_PERM_READ, PAGE, PAGE, ZX_ERR_INVALID_ARGS, "an offset without SPECIFIC"),
        (&inner.handle, VM_RW, 0, PAGE, ZX_ERR_ACCESS_DENIED, "WRITE in a read-only region"),
        (&inner.handle, VM_PERM_READ | VM_SPECIFIC, 0, PAGE, ZX_ERR_ACCESS_DENIED, "no CAN_MAP_SPECIFIC"),
    ];
    for (vmar, options, offset, len, want, what) in cases {
        check_status(vmar_map(vmar, options, offset, &vmo, 0, len), want, what)?;
    }
    check_status(vmar_map(h, VM_PERM_READ, 0, &vmo, 0, 17 * PAGE), ZX_ERR_INVALID_ARGS, "longer than the region")?;
    // The region is full now but for what the loop left: fill it, then NO_MEMORY.
    while vmar_map(h, VM_PERM_READ, 0, &vmo, 0, PAGE).is_ok() {}
    check_status(vmar_map(h, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_NO_MEMORY, "a full region")?;
    // `at`, ten one-page mappings in the ten free pages, and the one in the nested region.
    check_eq(info(&vmo)?.num_mappings, 12, "mappings in the region and the nested one")?;
    drop(in_inner);
    drop(at);
    drop(inner);
    drop(region);
    check_eq(info(&vmo)?.num_mappings, 0, "destroying the regions unmapped everything")
}

fn sub_vmar_protect_and_unmap_respect_regions(ctx: &Ctx) -> TestResult {
    let region = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 8 * PAGE)?;
    let h = &region.handle;
    let vmo = new_vmo(8 * PAGE)?;
    let low = check_ok(Mapping::new(h, VM_RW | VM_SPECIFIC, 0, &vmo, 0, 2 * PAGE), "map pages 0-1")?;
    let inner = SubVmar::new(h, CAN_RW | VM_SPECIFIC, 2 * PAGE, 2 * PAGE)?;
    let nested = check_ok(Mapping::new(&inner.handle, VM_RW, 0, &vmo, 2 * PAGE, 2 * PAGE), "map in the nested")?;
    let high = check_ok(Mapping::new(h, VM_RW | VM_SPECIFIC, 4 * PAGE, &vmo, 4 * PAGE, 2 * PAGE), "map pages 4-5")?;
    let writable = |addr: u64| raw(nr::VMO_READ, [vmo.raw_u64(), addr, 0, 8]) == ZX_OK;
    // Protect inside the region's own mappings works.
    check_ok(vmar_protect(h, VM_PERM_READ, low.addr(), 2 * PAGE), "protect in the region")?;
    check(!writable(low.addr()) && kernel_can_read(low.addr()), "read-only now")?;
    check_ok(vmar_protect(h, VM_RW, low.addr(), 2 * PAGE), "back to read-write")?;
    check(writable(low.addr() + PAGE), "writable again")?;
    // A range with a nested region in it: INVALID_ARGS, nothing changed.
    check_status(vmar_protect(h, VM_PERM_READ, low.addr(), 6 * PAGE), ZX_ERR_INVALID_ARGS, "across a region")?;
    check(writable(low.addr()) && writable(high.addr()), "unchanged")?;
    check_status(vmar_protect(ctx.root_vmar, VM_PERM_READ, low.addr(), PAGE), ZX_ERR_INVALID_ARGS, "through root")?;
    check_status(vmar_protect(h, VM_PERM_READ, region.addr + 6 * PAGE, PAGE), ZX_ERR_NOT_FOUND, "a hole")?;
    check_status(
        vmar_protect(h, VM_PERM_READ, region.addr + 7 * PAGE, 2 * PAGE),
        ZX_ERR_INVALID_ARGS,
        "a range past the region's end",
    )?;
    check_status(
        vmar_protect(h, VM_PERM_READ | VM_PERM_EXECUTE, low.addr(), PAGE),
        ZX_ERR_ACCESS_DENIED,
        "EXECUTE through a handle of a region without CAN_MAP_EXECUTE",
    )?;
    check_ok(vmar_protect(&inner.handle, VM_PERM_READ, nested.addr(), 2 * PAGE), "protect in the nested")?;
    check(!writable(nested.addr()), "the nested mapping is read-only")?;
    // Unmap: the range must lie in the region; a partial overlap with a region is refused.
    check_status(vmar_unmap(&inner.handle, low.addr(), PAGE), ZX_ERR_INVALID_ARGS, "outside the region")?;
    check_status(vmar_unmap(h, nested.addr(), PAGE), ZX_ERR_INVALID_ARGS, "inside a nested region")?;
    check_status(vmar_unmap(h, low.addr() + PAGE, 2 * PAGE), ZX_ERR_INVALID_ARGS, "half of a nested region")?;
    check_status(vmar_unmap(ctx.root_vmar, low.addr(), PAGE), ZX_ERR_INVALID_ARGS, "through root")?;
    check(kernel_can_read(low.addr()) && kernel_can_read(nested.addr()), "refused unmaps change nothing")?;
    check_ok(vmar_unmap(h, low.addr() + PAGE, PAGE), "a page of the region's own mapping")?;
    check(!kernel_can_read(low.addr() + PAGE) && kernel_can_read(low.addr()), "split")?;
    check_eq(info(&vmo)?.num_mappings, 3, "low, nested, high")?;
    drop((low, nested, high));
    Ok(())
}

fn sub_vmar_allocate_check_order(ctx: &Ctx) -> TestResult {
    let root = ctx.root_vmar;
    let vmo = new_vmo(PAGE)?;
    // 1. The handle, its type, the rights for the CAN_MAP_* bits (before the options).
    check_status(vmar_allocate(0xFFFF_FFFFu32, CAN_R, 0, PAGE), ZX_ERR_BAD_HANDLE, "a bogus parent")?;
    check_status(vmar_allocate(&vmo, CAN_R, 0, PAGE), ZX_ERR_WRONG_TYPE, "a VMO as parent")?;
    let read_only = dup(root, READ)?;
    check_status(vmar_allocate(&read_only, CAN_RW, 0, PAGE), ZX_ERR_ACCESS_DENIED, "CAN_MAP_WRITE without WRITE")?;
    check_status(
        vmar_allocate(&read_only, VM_CAN_MAP_EXECUTE | VM_PERM_READ, 0, 1),
        ZX_ERR_ACCESS_DENIED,
        "rights before options",
    )?;
    let no_rights = dup(root, 0)?;
    let bare = SubVmar::new(&no_rights, VM_CAN_MAP_SPECIFIC, 0, PAGE)?;
    check_hex(check_ok(rights_of(&bare.handle), "rights")? as u64, DEFAULT_VMAR as u64, "no R/W/X")?;
    // 2. Option bits, then the alignment field.
    for bad in [VM_PERM_READ, VM_SPECIFIC_OVERWRITE, VM_MAP_RANGE, VM_REQUIRE_NON_RESIZABLE, 1 << 12, 1 << 20] {
        check_status(vmar_allocate(root, CAN_R | bad, 0, 1), ZX_ERR_INVALID_ARGS, "an option bit it refuses")?;
    }
    for log2 in [1u32, 9, 33, 255] {
        check_status(vmar_allocate(root, CAN_R | vm_align(log2), 0, PAGE), ZX_ERR_INVALID_ARGS, "a bad ALIGN_n")?;
    }
    // 3. The size's alignment, before a destroyed parent.
    let (gone, _) = check_ok(vmar_allocate(root, CAN_R, 0, PAGE), "a parent to destroy")?;
    check_ok(vmar_destroy(&gone), "destroy it")?;
    for size in [1, PAGE - 1, PAGE + 1] {
        check_status(vmar_allocate(root, CAN_R, 0, size), ZX_ERR_INVALID_ARGS, "size not a page multiple")?;
        check_status(vmar_allocate(&gone, CAN_R, 0, size), ZX_ERR_INVALID_ARGS, "size before BAD_STATE")?;
    }
    // 4. A destroyed parent, before size 0.
    check_status(vmar_allocate(&gone, CAN_R, 0, 0), ZX_ERR_BAD_STATE, "a destroyed parent")?;
    // 5. Size 0.
    check_status(vmar_allocate(root, CAN_R, 0, 0), ZX_ERR_INVALID_ARGS, "size 0")?;
    // 6. CAN_MAP_* the parent lacks, before an offset without SPECIFIC.
    let rw = SubVmar::new(root, CAN_RW, 0, 16 * PAGE)?;
    let exec = vmar_allocate(&rw.handle, VM_CAN_MAP_EXECUTE, PAGE, PAGE);
    check_status(exec, ZX_ERR_ACCESS_DENIED, "CAN_MAP_EXECUTE the parent lacks")?;
    // 7. An offset without SPECIFIC, before SPECIFIC without CAN_MAP_SPECIFIC.
    check_status(vmar_allocate(&rw.handle, CAN_R, PAGE, PAGE), ZX_ERR_INVALID_ARGS, "offset, no SPECIFIC")?;
    // 8. SPECIFIC in a parent without CAN_MAP_SPECIFIC, before the range.
    let status = vmar_allocate(&rw.handle, CAN_R | VM_SPECIFIC, 1 << 40, PAGE);
    check_status(status, ZX_ERR_ACCESS_DENIED, "SPECIFIC without CAN_MAP_SPECIFIC")?;
    // 9. The range against the parent.
    let s = SubVmar::new(root, CAN_R | VM_CAN_MAP_SPECIFIC | vm_align(16), 0, 32 * PAGE)?;
    check_eq(s.addr % (64 * 1024), 0, "ALIGN_64KB")?;
    let sh = &s.handle;
    for (offset, size, what) in [
        (32 * PAGE, PAGE, "offset = size"),
        (31 * PAGE, 2 * PAGE, "a range past the end"),
        (!(PAGE - 1), PAGE, "offset near 2^64"),
        (PAGE, !(PAGE - 1), "offset + size wraps"),
    ] {
        check_status(vmar_allocate(sh, CAN_R | VM_SPECIFIC, offset, size), ZX_ERR_INVALID_ARGS, what)?;
    }
    check_status(vmar_allocate(sh, CAN_R, 0, 33 * PAGE), ZX_ERR_INVALID_ARGS, "larger than the parent")?;
    // 10. The SPECIFIC base's alignment, then overlaps; no room without SPECIFIC.
    check_status(vmar_allocate(sh, CAN_R | VM_SPECIFIC, 100, PAGE), ZX_ERR_INVALID_ARGS, "unaligned offset")?;
    let align = CAN_R | VM_SPECIFIC | vm_align(16);
    check_status(vmar_allocate(sh, align, PAGE, PAGE), ZX_ERR_INVALID_ARGS, "a base that misses ALIGN_64KB")?;
    let half = SubVmar::new(sh, align, 16 * PAGE, 16 * PAGE)?;
    check_hex(half.addr, s.addr + 16 * PAGE, "a SPECIFIC base on ALIGN_64KB")?;
    let mapped = check_ok(Mapping::new(sh, VM_PERM_READ | VM_SPECIFIC, 2 * PAGE, &vmo, 0, PAGE), "map")?;
    check_status(vmar_allocate(sh, CAN_R | VM_SPECIFIC, 15 * PAGE, 2 * PAGE), ZX_ERR_NO_MEMORY, "over a region")?;
    check_status(vmar_allocate(sh, CAN_R | VM_SPECIFIC, PAGE, 2 * PAGE), ZX_ERR_NO_MEMORY, "over a mapping")?;
    check_status(vmar_allocate(sh, CAN_R, 0, 14 * PAGE), ZX_ERR_NO_MEMORY, "no room")?;
    let fits = SubVmar::new(sh, CAN_R, 0, 13 * PAGE)?;
    check_hex(fits.addr, s.addr + 3 * PAGE, "the lowest free range")?;
    drop(mapped);
    Ok(())
}

fn sub_vmar_allocate_bad_out_pointers_leave_nothing(ctx: &Ctx) -> TestResult {
    // A one-page parent: a second one-page child fits only if the first is gone.
    let parent = SubVmar::new(ctx.root_vmar, CAN_R, 0, PAGE)?;
    let p = parent.handle.raw_u64();
    let mut handle = 0u32;
    let mut addr = 0u64;
    let handle_ptr = addr_of(&raw mut handle);
    for bad in [0, KERNEL_ADDR, rodata_addr()] {
        let status = raw(nr::VMAR_ALLOCATE, [p, CAN_R as u64, 0, PAGE, handle_ptr, bad]);
        check_status(status, ZX_ERR_INVALID_ARGS, "an unwritable child_addr")?;
        check_eq(handle, 0, "no handle written")?;
        let status = raw(nr::VMAR_ALLOCATE, [p, CAN_R as u64, 0, PAGE, bad, addr_of(&raw mut addr)]);
        check_status(status, ZX_ERR_INVALID_ARGS, "an unwritable child_vmar")?;
    }
    let (child, child_addr) = check_ok(vmar_allocate(&parent.handle, CAN_R, 0, PAGE), "the parent is empty again")?;
    check_hex(child_addr, parent.addr, "its one page")?;
    check_ok(vmar_destroy(&child), "destroy")
}

fn sub_vmar_destroy_unmaps_everything_inside(ctx: &Ctx) -> TestResult {
    let region = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 8 * PAGE)?;
    let h = &region.handle;
    let (vmo, vmo2) = (new_vmo(2 * PAGE)?, new_vmo(PAGE)?);
    let at = check_ok(vmar_map(h, VM_RW | VM_SPECIFIC, 0, &vmo, 0, 2 * PAGE), "map")?;
    // SAFETY: a store through the mapping just made.
    unsafe { core::ptr::write_volatile(at as *mut u8, 1) };
    let (inner, inner_addr) =
        check_ok(vmar_allocate(h, CAN_R | VM_CAN_MAP_SPECIFIC | VM_SPECIFIC, 4 * PAGE, 4 * PAGE), "inner")?;
    let deep = check_ok(vmar_map(&inner, VM_PERM_READ, 0, &vmo2, 0, PAGE), "map in the inner region")?;
    let (deeper, _) = check_ok(vmar_allocate(&inner, CAN_R | VM_SPECIFIC, 2 * PAGE, 2 * PAGE), "deeper")?;
    check_ok(vmar_map(&deeper, VM_PERM_READ, 0, &vmo2, 0, PAGE), "map in the deeper region")?;
    check_eq(info(&vmo2)?.num_mappings, 2, "two mappings of vmo2")?;
    let no_rights = dup(h, 0)?;
    check_ok(vmar_destroy(&no_rights), "destroy (no right needed)")?;
    check_eq(info(&vmo)?.num_mappings, 0, "the mapping is gone")?;
    check_eq(info(&vmo2)?.num_mappings, 0, "the nested regions' mappings are gone")?;
    check(!kernel_can_read(at) && !kernel_can_read(deep), "nothing readable there")?;
    check_status(vmar_map(h, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_BAD_STATE, "map in it")?;
    check_status(vmar_allocate(h, CAN_R, 0, PAGE), ZX_ERR_BAD_STATE, "allocate in it")?;
    check_status(vmar_unmap(h, at, PAGE), ZX_ERR_BAD_STATE, "unmap in it")?;
    check_status(vmar_protect(h, VM_PERM_READ, at, PAGE), ZX_ERR_BAD_STATE, "protect in it")?;
    check_status(vmar_destroy(h), ZX_ERR_BAD_STATE, "destroy it again")?;
    for nested in [&inner, &deeper] {
        check_status(vmar_destroy(nested), ZX_ERR_BAD_STATE, "a nested region is destroyed too")?;
        check_status(vmar_map(nested, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_BAD_STATE, "map in a nested one")?;
    }
    // Argument errors still come before BAD_STATE.
    check_status(vmar_unmap(h, at, 0), ZX_ERR_INVALID_ARGS, "unmap length 0")?;
    check_status(vmar_protect(h, VM_PERM_WRITE, at, PAGE), ZX_ERR_INVALID_ARGS, "protect W without R")?;
    check_status(vmar_allocate(h, CAN_R, 0, 1), ZX_ERR_INVALID_ARGS, "allocate size 1")?;
    let info_after = check_ok(info_vmar(&inner), "ZX_INFO_VMAR of a destroyed region")?;
    check_eq((info_after.base, info_after.len), (inner_addr, 4 * PAGE), "its range as it was")?;
    // Its range is free in the root again.
    let again = Mapping::new(ctx.root_vmar, VM_RW | VM_SPECIFIC, at - ROOT_BASE, &vmo, 0, 8 * PAGE);
    check_ok(again, "the range is free again (map over it)")?;
    // The root VMAR cannot be destroyed; other objects and values are refused.
    check_status(vmar_destroy(ctx.root_vmar), ZX_ERR_NOT_SUPPORTED, "the root VMAR")?;
    check_status(vmar_destroy(dup(ctx.root_vmar, 0)?), ZX_ERR_NOT_SUPPORTED, "the root VMAR, no rights")?;
    check_status(vmar_destroy(&vmo), ZX_ERR_WRONG_TYPE, "a VMO")?;
    check_status(vmar_destroy(0xFFFF_FFFFu32), ZX_ERR_BAD_HANDLE, "a bogus handle")
}

fn sub_vmar_unmap_destroys_wholly_contained_regions(ctx: &Ctx) -> TestResult {
    // A sandbox region, so that the unmaps below can never reach the program's memory.
    let sandbox = SubVmar::new(ctx.root_vmar, CAN_R | VM_CAN_MAP_SPECIFIC, 0, 16 * PAGE)?;
    let sb = &sandbox.handle;
    let vmo = new_vmo(PAGE)?;
    let whole = SubVmar::new(sb, CAN_R | VM_CAN_MAP_SPECIFIC | VM_SPECIFIC, 4 * PAGE, 2 * PAGE)?;
    let (nested, _) = check_ok(vmar_allocate(&whole.handle, CAN_R | VM_SPECIFIC, PAGE, PAGE), "nested")?;
    check_ok(vmar_map(&nested, VM_PERM_READ, 0, &vmo, 0, PAGE), "map in the nested")?;
    check_ok(vmar_map(&whole.handle, VM_PERM_READ, 0, &vmo, 0, PAGE), "map in the region")?;
    let beside = check_ok(vmar_map(sb, VM_PERM_READ | VM_SPECIFIC, 6 * PAGE, &vmo, 0, PAGE), "beside")?;
    check_eq(info(&vmo)?.num_mappings, 3, "three mappings")?;
    for (addr, len, what) in [
        (whole.addr, PAGE, "the first half"),
        (whole.addr + PAGE, 2 * PAGE, "the second half and beyond"),
        (whole.addr - PAGE, 2 * PAGE, "before and the first half"),
    ] {
        check_status(vmar_unmap(sb, addr, len), ZX_ERR_INVALID_ARGS, what)?;
    }
    check_eq(info(&vmo)?.num_mappings, 3, "refused unmaps change nothing")?;
    check_ok(vmar_unmap(sb, whole.addr - PAGE, 4 * PAGE), "unmap a range holding the region")?;
    check_eq(info(&vmo)?.num_mappings, 0, "its mappings, the nested ones and the one beside went")?;
    check(!kernel_can_read(beside), "the mapping beside is gone")?;
    check_status(vmar_map(&whole.handle, VM_PERM_READ, 0, &vmo, 0, PAGE), ZX_ERR_BAD_STATE, "destroyed")?;
    check_status(vmar_destroy(&nested), ZX_ERR_BAD_STATE, "the nested region is destroyed")?;
    // The range is free in the sandbox again.
    let again = SubVmar::new(sb, CAN_R | VM_SPECIFIC, 3 * PAGE, 4 * PAGE)?;
    check_hex(again.addr, whole.addr - PAGE, "the range is free again")
}

fn sub_vmar_survives_its_handles(ctx: &Ctx) -> TestResult {
    let sandbox = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 8 * PAGE)?;
    let sb = &sandbox.handle;
    let vmo = new_vmo(PAGE)?;
    write_byte(&vmo, 0, 0x77)?;
    let (handle, addr) = check_ok(vmar_allocate(sb, CAN_R | VM_SPECIFIC, 2 * PAGE, 2 * PAGE), "allocate")?;
    let mapped = check_ok(vmar_map(&handle, VM_PERM_READ, 0, &vmo, 0, PAGE), "map in it")?;
    drop(handle);
    // SAFETY: a load through a mapping that closing the region's handle left in place.
    check_eq(unsafe { core::ptr::read_volatile(mapped as *const u8) }, 0x77, "the mapping stays")?;
    let status = vmar_map(sb, VM_PERM_READ | VM_SPECIFIC, 3 * PAGE, &vmo, 0, PAGE);
    check_status(status, ZX_ERR_NO_MEMORY, "the region still holds its range")?;
    check_eq(info(&vmo)?.num_mappings, 1, "one mapping")?;
    check_ok(vmar_unmap(sb, addr, 2 * PAGE), "unmap the whole region")?;
    check_eq(info(&vmo)?.num_mappings, 0, "gone with the region")?;
    check_ok(vmar_map(sb, VM_PERM_READ | VM_SPECIFIC, 3 * PAGE, &vmo, 0, PAGE), "the range is free").map(|_| ())
}

fn sub_vmar_memory_returns(ctx: &Ctx) -> TestResult {
    let cycle = || -> TestResult {
        let vmo = new_vmo(4 * PAGE)?;
        let outer = SubVmar::new(ctx.root_vmar, CAN_RW | VM_CAN_MAP_SPECIFIC, 0, 64 * PAGE)?;
        let (mid, _) = check_ok(vmar_allocate(&outer.handle, CAN_RW, 0, 32 * PAGE), "mid")?;
        let (leaf, _) = check_ok(vmar_allocate(&mid, CAN_RW, 0, 8 * PAGE), "leaf")?;
        for vmar in [&outer.handle, &mid, &leaf] {
            let addr = check_ok(vmar_map(vmar, VM_RW, 0, &vmo, 0, 4 * PAGE), "map")?;
            for page in 0..4 {
                // SAFETY: a store through the mapping just made.
                unsafe { core::ptr::write_volatile((addr + page * PAGE) as *mut u8, page as u8) };
            }
        }
        Ok(())
    };
    cycle()?; // warm-up
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    cycle()?;
    cycle()?;
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS")?;
    check_eq(after.free_bytes, before.free_bytes, "free_bytes after sub-VMAR cycles")?;
    check_eq(after.mmu_overhead_bytes, before.mmu_overhead_bytes, "page tables")
}

// ---------------------------------------------------------------------------------------
// cache_flush.

fn cache_flush_options(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, PAGE)?;
    mapping.write(0, 1);
    let valid = [
        CACHE_FLUSH_INSN,
        CACHE_FLUSH_DATA,
        CACHE_FLUSH_DATA | CACHE_FLUSH_INSN,
        CACHE_FLUSH_DATA | CACHE_FLUSH_INVALIDATE,
        CACHE_FLUSH_DATA | CACHE_FLUSH_INVALIDATE | CACHE_FLUSH_INSN,
    ];
    for options in valid {
        check_ok(cache_flush(mapping.addr(), PAGE, options), "valid cache_flush options")?;
    }
    for options in [
        0,
        CACHE_FLUSH_INVALIDATE,
        CACHE_FLUSH_INVALIDATE | CACHE_FLUSH_INSN,
        1 << 3,
        CACHE_FLUSH_DATA | 1 << 3,
        u32::MAX,
    ] {
        check_status(cache_flush(mapping.addr(), PAGE, options), ZX_ERR_INVALID_ARGS, "invalid cache_flush options")?;
    }
    check_eq(mapping.read(0), 1, "data survives the flushes")
}

fn cache_flush_ranges(_: &Ctx) -> TestResult {
    for (addr, len) in [
        (0, 16),
        (8, 16),
        (KERNEL_ADDR, 16),
        (USER_END - 8, 16),
        (USER_END, 8),
        (u64::MAX - 7, 16),
        (rodata_addr(), u64::MAX),
    ] {
        check_status(cache_flush(addr, len, CACHE_FLUSH_DATA), ZX_ERR_INVALID_ARGS, "range not inside user space")?;
    }
    check_ok(cache_flush(rodata_addr(), RODATA.len() as u64, CACHE_FLUSH_DATA), "flush rodata")
}

// ---------------------------------------------------------------------------------------
// Signals.

fn signal_user_bits(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let user7 = USER_SIGNAL_0 << 7;
    check_ok(object_signal(&vmo, 0, USER_SIGNAL_0 | user7), "set USER_0 and USER_7")?;
    let (status, observed) = object_wait_one(&vmo, USER_SIGNAL_0, 0);
    check_status(status, ZX_OK, "wait for a set signal")?;
    check_hex(observed as u64, (USER_SIGNAL_0 | user7 | VMO_ZERO_CHILDREN) as u64, "observed")?;
    check_ok(object_signal(&vmo, USER_SIGNAL_0, 0), "clear USER_0")?;
    let (status, observed) = object_wait_one(&vmo, USER_SIGNAL_0, 0);
    check_status(status, ZX_ERR_TIMED_OUT, "wait for a cleared signal")?;
    check_hex(observed as u64, (user7 | VMO_ZERO_CHILDREN) as u64, "observed after clear")?;
    // Clear and set in one call: clear first, then set.
    check_ok(object_signal(&vmo, user7, user7), "clear and set USER_7")?;
    check_eq(object_wait_one(&vmo, user7, 0).0, ZX_OK, "USER_7 still set")?;
    check_ok(object_signal(&vmo, USER_SIGNAL_ALL, 0), "clear all user signals")?;
    let (_, observed) = object_wait_one(&vmo, USER_SIGNAL_ALL, 0);
    check_hex(observed as u64, VMO_ZERO_CHILDREN as u64, "only ZERO_CHILDREN left")
}

fn signal_invalid_bits_and_rights(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    for mask in [VMO_ZERO_CHILDREN, 1, 1 << 23, USER_SIGNAL_0 | 1] {
        check_status(object_signal(&vmo, 0, mask), ZX_ERR_INVALID_ARGS, "set a non-user signal")?;
        check_status(object_signal(&vmo, mask, 0), ZX_ERR_INVALID_ARGS, "clear a non-user signal")?;
    }
    check(zero_children(&vmo), "ZERO_CHILDREN untouched")?;
    let no_signal = dup(&vmo, DEFAULT_VMO & !SIGNAL)?;
    check_status(object_signal(&no_signal, 0, USER_SIGNAL_0), ZX_ERR_ACCESS_DENIED, "signal without SIGNAL")?;
    let no_wait = dup(&vmo, DEFAULT_VMO & !WAIT)?;
    check_status(object_wait_one(&no_wait, USER_SIGNAL_0, 0).0, ZX_ERR_ACCESS_DENIED, "wait without WAIT")?;
    check_status(object_signal(0xFFFF_FFFFu32, 0, USER_SIGNAL_0), ZX_ERR_BAD_HANDLE, "signal a bogus handle")?;
    check_status(object_wait_one(0xFFFF_FFFFu32, USER_SIGNAL_0, 0).0, ZX_ERR_BAD_HANDLE, "wait on a bogus handle")?;
    let _ = ctx;
    Ok(())
}

fn wait_one_deadlines(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let now = clock_get_monotonic();
    for deadline in [0, 1, now - 1, -1, i64::MIN] {
        let (status, observed) = object_wait_one(&vmo, USER_SIGNAL_0, deadline);
        check_status(status, ZX_ERR_TIMED_OUT, "deadline in the past")?;
        check_hex(observed as u64, VMO_ZERO_CHILDREN as u64, "observed on TIMED_OUT")?;
    }
    check_status(object_wait_one(&vmo, 0, 0).0, ZX_ERR_TIMED_OUT, "waiting for no signals")?;
    // A satisfied signal returns at once, even with an infinite deadline.
    let (status, observed) = object_wait_one(&vmo, VMO_ZERO_CHILDREN, TIME_INFINITE);
    check_status(status, ZX_OK, "satisfied with an infinite deadline")?;
    check_eq(observed & VMO_ZERO_CHILDREN, VMO_ZERO_CHILDREN, "observed")?;
    check_ok(object_signal(&vmo, 0, USER_SIGNAL_0), "set USER_0")?;
    check_status(
        object_wait_one(&vmo, USER_SIGNAL_0 | (USER_SIGNAL_0 << 1), TIME_INFINITE).0,
        ZX_OK,
        "any of two signals",
    )?;
    for ptr in [KERNEL_ADDR, rodata_addr()] {
        let status = raw(nr::OBJECT_WAIT_ONE, [vmo.raw_u64(), USER_SIGNAL_0 as u64, 0, ptr]);
        check_status(status, ZX_ERR_INVALID_ARGS, "bad observed pointer")?;
    }
    Ok(())
}

fn wait_one_future_deadline_times_out(_: &Ctx) -> TestResult {
    let vmo = new_vmo(PAGE)?;
    let deadline = clock_get_monotonic() + 2_000_000;
    let (status, observed) = object_wait_one(&vmo, USER_SIGNAL_0, deadline);
    check_status(status, ZX_ERR_TIMED_OUT, "wait 2 ms for a signal nobody sets")?;
    check_hex(observed as u64, VMO_ZERO_CHILDREN as u64, "observed")?;
    let now = clock_get_monotonic();
    if now < deadline {
        fail!("returned {} ns before the deadline", deadline - now);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Page faults.

fn fault_commits_touched_pages(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(8 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 8 * PAGE)?;
    check_eq(committed(&vmo)?, 0, "mapping commits nothing")?;
    mapping.write(PAGE + 3, 1);
    check_eq(committed(&vmo)?, PAGE, "one store, one page")?;
    mapping.write(5 * PAGE + 4095, 2);
    mapping.write(5 * PAGE, 3);
    check_eq(committed(&vmo)?, 2 * PAGE, "two touched pages")?;
    check_eq(mapping.read(3 * PAGE + 17), 0, "an untouched page reads zero")?;
    let after_read = committed(&vmo)?;
    check(after_read == 2 * PAGE || after_read == 3 * PAGE, "a read fault commits at most its page")?;
    check_eq((read_byte(&vmo, PAGE + 3)?, read_byte(&vmo, 5 * PAGE + 4095)?), (1, 2), "stores seen by vmo_read")
}

fn mapping_and_vmo_calls_agree(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    let writer = map(ctx, VM_RW, &vmo, 2 * PAGE)?;
    let reader = map(ctx, VM_PERM_READ, &vmo, 2 * PAGE)?;
    for i in 0..64u64 {
        writer.write(i * 127, i as u8);
    }
    for i in 0..64u64 {
        if reader.read(i * 127) != i as u8 {
            fail!("second mapping disagrees at {:#x}", i * 127);
        }
    }
    let mut buf = [0u8; 128];
    check_ok(vmo_read(&vmo, &mut buf, 0), "vmo_read")?;
    check_eq((buf[0], buf[127]), (0, 1), "vmo_read sees the stores")?;
    check_ok(vmo_write(&vmo, &[9; 16], PAGE), "vmo_write")?;
    check_eq((writer.read(PAGE), reader.read(PAGE + 15)), (9, 9), "both mappings see vmo_write")?;
    Ok(())
}

fn mapping_after_decommit_and_zero(ctx: &Ctx) -> TestResult {
    let vmo = new_vmo(2 * PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, 2 * PAGE)?;
    mapping.write(0, b'Z');
    mapping.write(PAGE, b'Y');
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, 0, PAGE), "DECOMMIT page 0")?;
    check_eq(mapping.read(0), 0, "decommitted page reads zero through the mapping")?;
    check_ok(vmo_op_range(&vmo, OP_ZERO, PAGE, PAGE), "ZERO page 1")?;
    check_eq(mapping.read(PAGE), 0, "zeroed page reads zero through the mapping")?;
    mapping.write(PAGE, b'W');
    check_eq(read_byte(&vmo, PAGE)?, b'W', "the page works again after ZERO")?;
    check_ok(vmo_op_range(&vmo, OP_COMMIT, 0, 2 * PAGE), "COMMIT a mapped range")?;
    check_eq(mapping.read(PAGE), b'W', "COMMIT keeps the data")
}

fn cow_child_mapped_and_written(ctx: &Ctx) -> TestResult {
    let parent = new_vmo(2 * PAGE)?;
    write_byte(&parent, 0, b'p')?;
    let child = check_ok(vmo_create_child(&parent, CHILD_SNAPSHOT, 0, 2 * PAGE), "child")?;
    let child_map = map(ctx, VM_RW, &child, 2 * PAGE)?;
    let parent_map = map(ctx, VM_RW, &parent, 2 * PAGE)?;
    check_eq(child_map.read(0), b'p', "child mapping sees the parent's data")?;
    child_map.write(0, b'c');
    check_eq(read_byte(&parent, 0)?, b'p', "child store not in the parent")?;
    check_eq(parent_map.read(0), b'p', "parent mapping unchanged")?;
    check_eq(read_byte(&child, 0)?, b'c', "child store seen by vmo_read")?;
    check_eq(committed(&child)?, PAGE, "child committed one page")?;
    parent_map.write(0, b'P');
    parent_map.write(PAGE, b'Q');
    check_eq(child_map.read(0), b'c', "parent store not in the child's forked page")?;
    check_eq(child_map.read(PAGE), 0, "parent store after the snapshot not in the child")
}

// ---------------------------------------------------------------------------------------
// FP/SIMD.

core::arch::global_asm!(
    // fn ferrite_fp_probe(input: *const [u128; 32], output: *mut [u128; 32],
    //                     control: *mut [u64; 4], touch: *mut u8)
    // Loads v0..v31 from input and FPCR/FPSR from control[0..2], makes two syscalls
    // (and a page fault when touch is not NULL), then stores v0..v31 to output and
    // FPCR/FPSR to control[2..4], and zeroes FPCR/FPSR again.
    ".section .text.ferrite_fp_probe, \"ax\", %progbits",
    ".arch_extension fp",
    ".arch_extension simd",
    ".global ferrite_fp_probe",
    ".type ferrite_fp_probe, %function",
    "ferrite_fp_probe:",
    "    ldp q0, q1, [x0, #0]",
    "    ldp q2, q3, [x0, #32]",
    "    ldp q4, q5, [x0, #64]",
    "    ldp q6, q7, [x0, #96]",
    "    ldp q8, q9, [x0, #128]",
    "    ldp q10, q11, [x0, #160]",
    "    ldp q12, q13, [x0, #192]",
    "    ldp q14, q15, [x0, #224]",
    "    ldp q16, q17, [x0, #256]",
    "    ldp q18, q19, [x0, #288]",
    "    ldp q20, q21, [x0, #320]",
    "    ldp q22, q23, [x0, #352]",
    "    ldp q24, q25, [x0, #384]",
    "    ldp q26, q27, [x0, #416]",
    "    ldp q28, q29, [x0, #448]",
    "    ldp q30, q31, [x0, #480]",
    "    ldr x9, [x2, #0]",
    "    msr fpcr, x9",
    "    ldr x9, [x2, #8]",
    "    msr fpsr, x9",
    "    mov x0, #0",
    "    mov x16, #4",
    "    svc #0",
    "    cbz x3, 1f",
    "    strb wzr, [x3]",
    "1:  mov x16, #3",
    "    svc #0",
    "    stp q0, q1, [x1, #0]",
    "    stp q2, q3, [x1, #32]",
    "    stp q4, q5, [x1, #64]",
    "    stp q6, q7, [x1, #96]",
    "    stp q8, q9, [x1, #128]",
    "    stp q10, q11, [x1, #160]",
    "    stp q12, q13, [x1, #192]",
    "    stp q14, q15, [x1, #224]",
    "    stp q16, q17, [x1, #256]",
    "    stp q18, q19, [x1, #288]",
    "    stp q20, q21, [x1, #320]",
    "    stp q22, q23, [x1, #352]",
    "    stp q24, q25, [x1, #384]",
    "    stp q26, q27, [x1, #416]",
    "    stp q28, q29, [x1, #448]",
    "    stp q30, q31, [x1, #480]",
    "    mrs x9, fpcr",
    "    str x9, [x2, #16]",
    "    mrs x9, fpsr",
    "    str x9, [x2, #24]",
    "    msr fpcr, xzr",
    "    msr fpsr, xzr",
    "    ret",
    ".size ferrite_fp_probe, . - ferrite_fp_probe",
);

unsafe extern "C" {
    fn ferrite_fp_probe(input: *const [u128; 32], output: *mut [u128; 32], control: *mut [u64; 4], touch: *mut u8);
}

#[repr(C, align(16))]
struct Vectors([u128; 32]);

fn fp_simd_preserved_across_svc(ctx: &Ctx) -> TestResult {
    let mut input = Vectors([0; 32]);
    for (n, v) in input.0.iter_mut().enumerate() {
        *v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128.rotate_left(4 * n as u32) ^ (n as u128 * 0x0101_0101);
    }
    // FPCR: RMode = toward zero, FZ, DN, AHP. FPSR: the cumulative flags and QC.
    let fpcr = 0x07C0_0000u64;
    let fpsr = 0x0800_009Fu64;
    let vmo = new_vmo(PAGE)?;
    let mapping = map(ctx, VM_RW, &vmo, PAGE)?;
    for touch in [core::ptr::null_mut(), mapping.addr() as usize as *mut u8] {
        let mut output = Vectors([0; 32]);
        let mut control = [fpcr, fpsr, 0, 0];
        // SAFETY: the probe reads `input`, writes `output` and `control`, stores one
        // byte to `touch` (a fresh RW mapping, or skipped when NULL), and leaves
        // FPCR/FPSR zeroed as the soft-float code expects (it never reads them).
        unsafe { ferrite_fp_probe(&input.0, &mut output.0, &mut control, touch) };
        for n in 0..32 {
            if output.0[n] != input.0[n] {
                fail!(
                    "v{n} changed across svc{}: {:#x}, want {:#x}",
                    if touch.is_null() { "" } else { " and a page fault" },
                    output.0[n],
                    input.0[n]
                );
            }
        }
        check_hex(control[2], fpcr, "FPCR across svc")?;
        check_hex(control[3], fpsr, "FPSR across svc")?;
    }
    check_eq(committed(&vmo)?, PAGE, "the touch faulted a page in")
}

/// Issue 13, defect 2 (with `heap=1` only: hundreds of thousands of calls): mapping one
/// page at a time until the kernel heap runs out ends in NO_MEMORY, and one unmap of the
/// whole range then removes every mapping (it used to panic the kernel: the unmap
/// built lists of every mapping it removed).
fn heap_exhaustion_one_page_mappings_then_one_unmap(ctx: &Ctx) -> TestResult {
    if ctx.arg("heap").is_none() {
        skip!("no heap=1 word on the command line");
    }
    const OFFSET: u64 = 1 << 38; // 256 GiB into the root VMAR: nothing else is there
    const LIMIT: u64 = 8_000_000;
    vmo_churn()?;
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    let vmo = new_vmo(PAGE)?;
    let mut mapped = 0u64;
    loop {
        // SPECIFIC, so that placing each mapping does not scan the others.
        match vmar_map(ctx.root_vmar, VM_PERM_READ | VM_SPECIFIC, OFFSET + mapped * PAGE, &vmo, 0, PAGE) {
            Ok(_) => mapped += 1,
            Err(ZX_ERR_NO_MEMORY) => break,
            Err(status) => fail!("vmar_map number {mapped}: {status}"),
        }
        if mapped == LIMIT {
            fail!("{LIMIT} mappings and the heap never ran out");
        }
    }
    check(mapped > 1000, "at least a thousand mappings before NO_MEMORY")?;
    check_eq(info(&vmo)?.num_mappings, mapped, "num_mappings when the heap ran out")?;
    let base = USER_BASE + OFFSET;
    check_ok(vmar_unmap(ctx.root_vmar, base, mapped * PAGE), "one unmap of every mapping")?;
    check_eq(info(&vmo)?.num_mappings, 0, "num_mappings after the unmap")?;
    drop(vmo);
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    check_eq(after.free_bytes, before.free_bytes, "free_bytes after the unmap")?;
    check_eq(after.vmo_bytes, before.vmo_bytes, "vmo_bytes after the unmap")
}

/// Issue 13, defect 2 (with `heap=1` only): one-page VMOs until the kernel says
/// NO_MEMORY (or the handle table is full); the VMO table used to grow by doubling and
/// panic the kernel at about 32,000 VMOs on 512 MiB. Closing them all returns every
/// frame, and a VMO made afterwards can still commit a page.
fn heap_exhaustion_many_one_page_vmos(ctx: &Ctx) -> TestResult {
    use core::sync::atomic::Ordering::Relaxed;
    if ctx.arg("heap").is_none() {
        skip!("no heap=1 word on the command line");
    }
    FILLER.iter().for_each(|slot| slot.store(0, Relaxed));
    vmo_churn()?;
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    let mut held = 0;
    let result = loop {
        if held == FILLER.len() {
            break Err(Failure::new(format_args!("{held} VMOs and nothing ran out")));
        }
        match vmo_create(PAGE, 0) {
            Ok(vmo) => {
                FILLER[held].store(vmo.into_raw(), Relaxed);
                held += 1;
            }
            Err(ZX_ERR_NO_MEMORY) | Err(ZX_ERR_NO_RESOURCES) => break Ok(()),
            Err(status) => break Err(Failure::new(format_args!("vmo_create number {held}: {status}"))),
        }
    };
    let answered = handle_close(0u32);
    for slot in &FILLER[..held] {
        check_ok(handle_close(slot.swap(0, Relaxed)), "closing a VMO")?;
    }
    result?;
    check(held > 1000, "at least a thousand VMOs")?;
    check_ok(answered, "a syscall with the heap full")?;
    fill(&new_vmo(PAGE)?, 0, 0x5A, PAGE)?;
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    check_eq(after.free_bytes, before.free_bytes, "free_bytes after closing every VMO")?;
    check_eq(after.vmo_bytes, before.vmo_bytes, "vmo_bytes after closing every VMO")
}

/// Issue 6: committing VMOs until memory runs out ends in NO_MEMORY (never a kernel
/// panic), the kernel keeps answering, and closing the VMOs returns every frame.
fn memory_exhaustion_gives_no_memory_and_returns_every_frame(ctx: &Ctx) -> TestResult {
    const CHUNK: u64 = 32 << 20;
    const MAX_VMOS: usize = 256; // 8 GiB: more than any machine of the matrix has
    vmo_churn()?;
    let before = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    let mut held: [Option<Handle>; MAX_VMOS] = [const { None }; MAX_VMOS];
    let mut ran_out = false;
    for slot in held.iter_mut() {
        let vmo = match vmo_create(CHUNK, 0) {
            Ok(vmo) => vmo,
            Err(ZX_ERR_NO_MEMORY) => {
                ran_out = true;
                break;
            }
            Err(status) => fail!("vmo_create while filling memory: {status}"),
        };
        let commit = vmo_op_range(&vmo, OP_COMMIT, 0, CHUNK);
        *slot = Some(vmo);
        match commit {
            Ok(()) => {}
            Err(ZX_ERR_NO_MEMORY) => {
                ran_out = true;
                break;
            }
            Err(status) => fail!("COMMIT while filling memory: {status}"),
        }
    }
    check(ran_out, "memory never ran out")?;
    let full = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS when full")?;
    check(full.free_bytes < before.free_bytes / 8, "most free memory was committed")?;
    // The kernel still answers, and a write that needs a fresh page is refused cleanly.
    check_status(handle_close(0u32), ZX_OK, "a syscall with memory full")?;
    let Some(last) = held.iter().flatten().last() else { fail!("no VMO was made") };
    check_eq(check_ok(vmo_get_size(last), "get_size when full")?, CHUNK, "size")?;
    for slot in held.iter_mut() {
        *slot = None; // closes the handle
    }
    let after = check_ok(kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    check_eq(after.free_bytes, before.free_bytes, "free_bytes after closing every VMO")?;
    check_eq(after.vmo_bytes, before.vmo_bytes, "vmo_bytes after closing every VMO")
}
