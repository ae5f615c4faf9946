//! A fixed-seed syscall fuzzer for robustness: `seed=N calls=N [verbose=1]`.
//!
//! Each step picks a syscall number (mostly 1..=25, also 0, the reserved 26..=63 and a few
//! huge numbers) and arguments drawn from the fuzzer's live handles, closed handles, random
//! values, pointers (scratch RW, rodata, text, unmapped, the stack's guard page, kernel
//! addresses, NULL), sizes and offsets around 0, page boundaries and 2^64−1, and random
//! option bits. It checks each status against the set Zircon could return for that call,
//! keeps a model of the handles it owns (a live handle must never be BAD_HANDLE, a closed
//! one never OK, a new one must have both low bits set and be new), and prints a one-line
//! reproducer on any surprise.
//!
//! It never harms itself: it never calls process_exit except at the end, never waits with
//! a deadline in the future, gives the kernel out-pointers only into its scratch mapping
//! (or invalid ones), and unmaps, protects or overwrites only inside mappings it made
//! itself (its arena and the mappings the kernel placed for it).
//!
//! At the end it closes everything it made and checks that KMEM_STATS free_bytes is back
//! at the value measured after a warm-up; then prints its figures and a libtest summary
//! for one test, `fuzz`.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]
#![no_main]

use core::fmt::Write;

use user::console::TextBuf;
use user::harness::stack_bounds;
use user::rng::Rng;
use user::zx::rights::*;
use user::zx::*;
use user::{Ctx, entry, println, rt, sys};

entry!(main);

/// Pages of the scratch mapping that receives every out-pointer the kernel writes.
const SCRATCH_PAGES: u64 = 4;
/// Size of the arena: the only place SPECIFIC maps, unmaps and protects may land.
const ARENA_LEN: u64 = 64 << 20;
/// Where the arena may go; the first free candidate wins.
const ARENA_CANDIDATES: [u64; 5] =
    [0x1000_0000_0000, 0x2000_0000_0000, 0x0100_0000_0000, 0x0010_0000_0000, 0x4000_0000_0000];
/// Live handles the model tracks (the roots included).
const MAX_LIVE: usize = 48;
/// Recently closed handle values kept for reuse as arguments.
const CLOSED_RING: usize = 32;
/// Mappings the kernel placed for the fuzzer.
const MAX_MAPPINGS: usize = 48;
/// Surprises printed in full; later ones are only counted.
const MAX_PRINTED: u32 = 20;
/// A kernel-half address.
const KERNEL_ADDR: u64 = 0xffff_0000_0000_0000;
/// The root VMAR's base.
const ROOT_BASE: u64 = USER_BASE;

/// An empty rodata string for the only valid debug_write pointer.
static EMPTY_TEXT: [u8; 1] = [0];

fn main(ctx: &Ctx) -> i64 {
    let seed = ctx.arg_u64("seed").unwrap_or(1);
    let calls = ctx.arg_u64("calls").unwrap_or(5000);
    println!("running 1 test");
    let verdict = match Fuzzer::new(ctx, seed) {
        Ok(mut fuzzer) => fuzzer.run(calls),
        Err(why) => Err(why),
    };
    user::harness::report_one("fuzz", verdict.as_ref().map_err(|why| why.as_str()).copied())
}

/// A failure message.
type Why = TextBuf<240>;

fn why(args: core::fmt::Arguments<'_>) -> Why {
    let mut text = Why::new();
    let _ = text.write_fmt(args);
    text
}

/// What kind of object a model handle names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Vmo,
    Vmar,
    Resource,
}

/// A handle the fuzzer owns.
#[derive(Clone, Copy)]
struct Live {
    value: u32,
    kind: Kind,
    /// The root VMAR and root resource: never closed or replaced.
    protected: bool,
}

/// What the model expects of one call, besides its status set.
#[derive(Clone, Copy, Default)]
struct Plan {
    nr: u64,
    args: [u64; 8],
    /// Bit i set: STATUS_NAMES[i] is a status Zircon could return.
    allowed: u64,
    /// Handle arguments that the call only looks up.
    handles: [Option<u32>; 2],
    /// A handle argument the call consumes (close, replace, replace_as_executable).
    consumed: Option<u32>,
    /// Where a new handle goes: (pointer, pointer is in scratch, kind of the new object).
    new_handle: Option<(u64, bool, Kind)>,
    /// Where a new mapping's address goes: (pointer, in scratch, len, SPECIFIC address).
    new_mapping: Option<(u64, bool, u64, Option<u64>)>,
    /// The call returns a value, not a status (clock_get_monotonic).
    returns_value: bool,
}

/// The bit for each status in `list`.
fn allow(list: &[Status]) -> u64 {
    let mut bits = 0;
    for status in list {
        if let Some(i) = STATUS_NAMES.iter().position(|(s, _)| s == status) {
            bits |= 1 << i;
        }
    }
    bits
}

/// Syscall names for messages.
fn syscall_name(nr: u64) -> &'static str {
    const NAMES: [&str; 26] = [
        "bad_syscall_0",
        "debug_write",
        "process_exit",
        "clock_get_monotonic",
        "handle_close",
        "handle_duplicate",
        "handle_replace",
        "object_get_info",
        "object_get_property",
        "object_set_property",
        "vmo_create",
        "vmo_read",
        "vmo_write",
        "vmo_get_size",
        "vmo_set_size",
        "vmo_op_range",
        "vmo_create_child",
        "vmo_set_cache_policy",
        "vmo_replace_as_executable",
        "vmo_create_physical",
        "vmar_map",
        "vmar_unmap",
        "vmar_protect",
        "cache_flush",
        "object_signal",
        "object_wait_one",
    ];
    NAMES.get(nr as usize).copied().unwrap_or("reserved_or_unknown")
}

/// Addresses the fuzzer points the kernel at.
struct Layout {
    scratch: u64,
    scratch_end: u64,
    /// The no-access page right after the scratch pages.
    hole: u64,
    arena: u64,
    rodata: u64,
    text: u64,
    guard: Option<u64>,
}

struct Fuzzer<'a> {
    ctx: &'a Ctx,
    seed: u64,
    rng: Rng,
    layout: Layout,
    live: [Option<Live>; MAX_LIVE],
    closed: [u32; CLOSED_RING],
    closed_next: usize,
    mappings: [Option<(u64, u64)>; MAX_MAPPINGS],
    mapping_next: usize,
    tally: [u64; STATUS_NAMES.len()],
    unnamed_statuses: u64,
    calls_by_nr: [u64; 27],
    calls: u64,
    surprises: u32,
    value_reuse: u32,
    verbose: bool,
    mmio: Option<u64>,
    baseline: KmemStats,
}

impl<'a> Fuzzer<'a> {
    /// Warms the kernel up, measures KMEM_STATS, then builds the scratch mapping, the
    /// arena and the model.
    fn new(ctx: &'a Ctx, seed: u64) -> Result<Fuzzer<'a>, Why> {
        let guard = stack_bounds(rt::stack_pointer(), 64 << 20).map(|(_, guard)| guard);
        // Warm-up: grow the handle table past what the model can hold, and build and
        // tear down the scratch and arena once so their page tables exist.
        warm_up().map_err(|s| why(format_args!("warm-up failed: {}", status_name(s))))?;
        let (scratch, arena) =
            make_scratch_and_arena(ctx.root_vmar).map_err(|s| why(format_args!("setup failed: {}", status_name(s))))?;
        let _ = vmar_unmap(ctx.root_vmar, scratch, (SCRATCH_PAGES + 1) * PAGE_SIZE);
        let _ = vmar_unmap(ctx.root_vmar, arena, ARENA_LEN);
        let baseline =
            kmem_stats(ctx.root_resource).map_err(|s| why(format_args!("KMEM_STATS: {}", status_name(s))))?;
        let (scratch, arena) =
            make_scratch_and_arena(ctx.root_vmar).map_err(|s| why(format_args!("setup failed: {}", status_name(s))))?;
        let text_fn: fn(&Ctx) -> i64 = main;
        let layout = Layout {
            scratch,
            scratch_end: scratch + SCRATCH_PAGES * PAGE_SIZE,
            hole: scratch + SCRATCH_PAGES * PAGE_SIZE,
            arena,
            rodata: addr_of(core::hint::black_box(&EMPTY_TEXT)),
            text: text_fn as usize as u64,
            guard,
        };
        println!(
            "fuzz: seed={seed} scratch={scratch:#x} arena={arena:#x} guard={:#x} free_bytes={}",
            guard.unwrap_or(0),
            baseline.free_bytes
        );
        let mut fuzzer = Fuzzer {
            ctx,
            seed,
            rng: Rng(seed),
            layout,
            live: [None; MAX_LIVE],
            closed: [0; CLOSED_RING],
            closed_next: 0,
            mappings: [None; MAX_MAPPINGS],
            mapping_next: 0,
            tally: [0; STATUS_NAMES.len()],
            unnamed_statuses: 0,
            calls_by_nr: [0; 27],
            calls: 0,
            surprises: 0,
            value_reuse: 0,
            verbose: ctx.arg("verbose").is_some_and(|v| v == "1"),
            mmio: ctx.arg_u64("mmio"),
            baseline,
        };
        fuzzer.live[0] = Some(Live { value: ctx.root_vmar, kind: Kind::Vmar, protected: true });
        fuzzer.live[1] = Some(Live { value: ctx.root_resource, kind: Kind::Resource, protected: true });
        Ok(fuzzer)
    }

    /// Makes `calls` calls, cleans up and judges.
    fn run(&mut self, calls: u64) -> Result<(), Why> {
        for _ in 0..calls {
            let plan = self.plan();
            self.execute(&plan);
            if self.calls.is_multiple_of(1000) {
                println!("fuzz: {} calls, {} surprises", self.calls, self.surprises);
            }
            if self.calls.is_multiple_of(64) {
                self.check_roots();
            }
        }
        self.cleanup();
        self.report()
    }

    // ---------------------------------------------------------------------------------
    // Model.

    fn live_slot(&self, value: u32) -> Option<usize> {
        self.live.iter().position(|slot| slot.is_some_and(|l| l.value == value))
    }

    fn is_closed(&self, value: u32) -> bool {
        value != 0 && self.closed.contains(&value) && self.live_slot(value).is_none()
    }

    fn kind_of(&self, value: u32) -> Option<Kind> {
        self.live_slot(value).and_then(|i| self.live[i]).map(|l| l.kind)
    }

    fn forget(&mut self, value: u32) {
        if let Some(i) = self.live_slot(value) {
            self.live[i] = None;
            self.closed[self.closed_next] = value;
            self.closed_next = (self.closed_next + 1) % CLOSED_RING;
        }
    }

    /// Takes a new handle into the model, closing the oldest unprotected one if full.
    fn adopt(&mut self, value: u32, kind: Kind) {
        if let Some(i) = self.closed.iter().position(|c| *c == value) {
            self.closed[i] = 0;
            self.value_reuse += 1;
        }
        let slot = match self.live.iter().position(|s| s.is_none()) {
            Some(free) => free,
            None => {
                // Full: close an unprotected handle, picked at random.
                let victims = MAX_LIVE as u64;
                let mut pick = self.rng.below(victims) as usize;
                while self.live[pick].is_none_or(|l| l.protected) {
                    pick = (pick + 1) % MAX_LIVE;
                }
                let victim = self.live[pick].map_or(0, |l| l.value);
                if handle_close(victim).is_err() {
                    self.surprise_text(format_args!("model close of live handle {victim:#x} failed"));
                }
                self.forget(victim);
                pick
            }
        };
        self.live[slot] = Some(Live { value, kind, protected: false });
    }

    fn track_mapping(&mut self, addr: u64, len: u64) {
        if let Some((old_addr, old_len)) = self.mappings[self.mapping_next] {
            let _ = vmar_unmap(self.ctx.root_vmar, old_addr, old_len);
        }
        self.mappings[self.mapping_next] = Some((addr, len));
        self.mapping_next = (self.mapping_next + 1) % MAX_MAPPINGS;
    }

    fn check_roots(&mut self) {
        for (value, what) in [(self.ctx.root_vmar, "root VMAR"), (self.ctx.root_resource, "root resource")] {
            if info_handle_basic(value).is_err() {
                self.surprise_text(format_args!("the {what} handle {value:#x} stopped working"));
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Argument pools.

    /// A handle value to look up: mostly live (of `want` kind when possible).
    fn handle(&mut self, want: Kind) -> u32 {
        let roll = self.rng.below(100);
        if roll < 80 {
            let mut candidates = [0u32; MAX_LIVE];
            let mut count = 0;
            for live in self.live.iter().flatten() {
                if roll >= 65 || live.kind == want {
                    candidates[count] = live.value;
                    count += 1;
                }
            }
            if count > 0 {
                return self.rng.pick_or(&candidates[..count], 0);
            }
        }
        match self.rng.below(6) {
            0 | 1 => {
                let closed = self.closed;
                let value = self.rng.pick_or(&closed, 0);
                if value != 0 { value } else { self.rng.next() as u32 | 3 }
            }
            2 => 0,
            3 => self.rng.next() as u32 | 3,
            4 => self.rng.next() as u32,
            _ => 0xFFFF_FFFF,
        }
    }

    /// A handle value a call may consume: never a root handle.
    fn consumable(&mut self, want: Kind) -> u32 {
        let value = self.handle(want);
        if self.live_slot(value).and_then(|i| self.live[i]).is_some_and(|l| l.protected) { 0 } else { value }
    }

    /// A u32 argument, sometimes with garbage above bit 31 (the kernel must ignore it).
    fn u32_arg(&mut self, value: u32) -> u64 {
        if self.rng.one_in(16) { (self.rng.next() & !0xFFFF_FFFF) | value as u64 } else { value as u64 }
    }

    fn random_u32(&mut self, common: &[u32]) -> u32 {
        if self.rng.one_in(5) { self.rng.next() as u32 } else { self.rng.pick_or(common, 0) }
    }

    fn rights(&mut self) -> u32 {
        match self.rng.below(8) {
            0 => SAME_RIGHTS,
            1 => 0,
            2 => DEFAULT_VMO,
            3 => READ | DUPLICATE,
            4 => READ | WRITE | MAP | DUPLICATE,
            5 => self.rng.next() as u32 & DEFAULT_VMO,
            6 => self.rng.next() as u32 & 0xFFFF,
            _ => self.rng.next() as u32,
        }
    }

    fn vmo_size(&mut self) -> u64 {
        if self.rng.one_in(12) {
            let huge = [1 << 30, 1 << 40, u64::MAX, u64::MAX - PAGE_SIZE + 1, MAX_VMO_SIZE, MAX_VMO_SIZE + 1];
            return if self.rng.one_in(3) { self.rng.next() } else { self.rng.pick_or(&huge, u64::MAX) };
        }
        let small = [0, 1, 4095, 4096, 4097, 8192, 3 * 4096 + 5, 16 * 4096, 1 << 20];
        if self.rng.one_in(4) { self.rng.below(1 << 18) } else { self.rng.pick_or(&small, 4096) }
    }

    fn offset(&mut self) -> u64 {
        let common =
            [0, 1, 8, 4095, 4096, 4097, 8192, 12288, 1 << 20, 1 << 30, u64::MAX, u64::MAX - 4095, MAX_VMO_SIZE];
        match self.rng.below(8) {
            0 => self.rng.below(1 << 16),
            1 => self.rng.next(),
            _ => self.rng.pick_or(&common, 0),
        }
    }

    /// A pointer the kernel writes `size` bytes to: (pointer, inside scratch).
    fn out_ptr(&mut self, size: u64) -> (u64, bool) {
        if self.rng.below(100) < 85 {
            let slots = (PAGE_SIZE - size) / 8;
            return (self.layout.scratch + 8 * self.rng.below(slots), true);
        }
        let bad = [
            0,
            8,
            KERNEL_ADDR,
            0xffff_ffff_ffff_fff8,
            USER_END - 2,
            1 << 48,
            self.layout.rodata,
            self.layout.text,
            self.layout.guard.unwrap_or(0),
            self.layout.scratch_end - 2,
        ];
        (self.rng.pick_or(&bad, 0), false)
    }

    /// A buffer for the kernel: (pointer, length). `kernel_writes`: the kernel writes it.
    fn buffer(&mut self, kernel_writes: bool) -> (u64, u64) {
        let lengths = [0, 1, 7, 8, 16, 31, 32, 71, 72, 103, 104, 200, 4095, 4096, 4097, 8192, 65536, 1 << 20];
        let huge = [1 << 32, 1 << 47, 1 << 63, u64::MAX, u64::MAX - 7];
        let mut len = match self.rng.below(10) {
            0 => self.rng.below(300),
            1 => self.rng.pick_or(&huge, u64::MAX),
            _ => self.rng.pick_or(&lengths, 0),
        };
        let ptr = match self.rng.below(20) {
            0..=7 => {
                let ptr = self.layout.scratch + self.rng.below(SCRATCH_PAGES * PAGE_SIZE);
                // Stay inside scratch, plus a few bytes into the unmapped page after it.
                if len < 1 << 40 {
                    len = len.min(self.layout.scratch_end + 16 - ptr);
                }
                ptr
            }
            8 | 9 => {
                let ptr = self.layout.arena + self.rng.below(ARENA_LEN);
                if len < 1 << 40 {
                    len = len.min(self.layout.arena + ARENA_LEN - ptr);
                }
                ptr
            }
            10 | 11 => match self.mapping_target() {
                Some((addr, end)) => {
                    let ptr = addr + self.rng.below((end - addr).min(1 << 20));
                    len = len.min(end - ptr);
                    ptr
                }
                None => self.layout.scratch,
            },
            12 => self.layout.rodata,
            13 => self.layout.text,
            14 => 0,
            15 => self.layout.guard.unwrap_or(KERNEL_ADDR),
            16 => self.layout.hole,
            17 => USER_END - self.rng.below(64),
            18 => KERNEL_ADDR + self.rng.below(1 << 30),
            _ => self.rng.next() | 1 << 63,
        };
        if !kernel_writes && ptr == self.layout.rodata {
            // Reading our own image is harmless at any length.
            return (ptr, len);
        }
        (ptr, len)
    }

    /// A mapping the kernel placed for the fuzzer: (start, end).
    fn mapping_target(&mut self) -> Option<(u64, u64)> {
        let mut candidates = [(0u64, 0u64); MAX_MAPPINGS];
        let mut count = 0;
        for (addr, len) in self.mappings.iter().flatten() {
            candidates[count] = (*addr, addr + len);
            count += 1;
        }
        if count == 0 { None } else { Some(self.rng.pick_or(&candidates[..count], (0, 0))) }
    }

    /// A range to unmap or protect: inside the arena or a fuzzer mapping, or invalid in a
    /// way that cannot reach anything else even if the kernel ignored the error.
    fn own_range(&mut self) -> (u64, u64) {
        let (start, end) = match self.rng.below(10) {
            0..=4 => (self.layout.arena, self.layout.arena + ARENA_LEN),
            5..=7 => self.mapping_target().unwrap_or((self.layout.arena, self.layout.arena + ARENA_LEN)),
            8 => {
                return (KERNEL_ADDR + PAGE_SIZE * self.rng.below(1 << 20), self.rng.next());
            }
            _ => return (self.rng.below(USER_BASE), PAGE_SIZE),
        };
        let pages = ((end - start) / PAGE_SIZE).max(1);
        let first = self.rng.below(pages.min(1 << 20));
        let addr = start + first * PAGE_SIZE;
        let room = end.saturating_sub(addr);
        let mut len = match self.rng.below(4) {
            0 => room,
            1 => 0,
            _ => PAGE_SIZE * (1 + self.rng.below((room / PAGE_SIZE).clamp(1, 16))),
        };
        len = len.min(room);
        if self.rng.one_in(8) {
            // Unaligned: refused, and harmless even if the kernel rounded it down.
            return (addr + 1 + self.rng.below(PAGE_SIZE - 1), len.saturating_sub(PAGE_SIZE));
        }
        if self.rng.one_in(8) && len > 1 {
            len -= 1; // rounded up by the kernel, still inside the range
        }
        (addr, len)
    }

    // ---------------------------------------------------------------------------------
    // Planning one call.

    fn plan(&mut self) -> Plan {
        let nr = match self.rng.below(100) {
            0..=84 => {
                let mut nr = 1 + self.rng.below(25);
                if nr == nr::PROCESS_EXIT {
                    nr = nr::VMO_CREATE; // process_exit only at the end
                }
                nr
            }
            85..=89 => 0,
            // ABI v2's calls 26..=63 are not modelled here (processes, threads and IPC are
            // the concurrent fuzzer's); numbers past them are unknown.
            90..=96 => 64 + self.rng.below(38),
            _ => self
                .rng
                .pick_or(&[64, 1000, (1 << 32) | nr::HANDLE_CLOSE, (1 << 63) | nr::VMO_CREATE, u64::MAX], u64::MAX),
        };
        let mut plan = Plan { nr, ..Plan::default() };
        let common_bad = [ZX_ERR_BAD_HANDLE, ZX_ERR_WRONG_TYPE, ZX_ERR_ACCESS_DENIED, ZX_ERR_INVALID_ARGS];
        match nr {
            nr::DEBUG_WRITE => {
                let (ptr, len) = if self.rng.one_in(3) {
                    (self.layout.rodata, 0)
                } else {
                    // Never a user page that a later mapping could fill: the console
                    // would print whatever it holds.
                    let bad = [0, KERNEL_ADDR, USER_END - 1, 1 << 48, 8];
                    (self.rng.pick_or(&bad, 0), self.rng.pick_or(&[0, 1, 5, 4096, 4097, u64::MAX], 1))
                };
                plan.args[..2].copy_from_slice(&[ptr, len]);
                plan.allowed = allow(&[ZX_OK, ZX_ERR_INVALID_ARGS]);
            }
            nr::CLOCK_GET_MONOTONIC => plan.returns_value = true,
            nr::HANDLE_CLOSE => {
                let h = self.consumable(Kind::Vmo);
                plan.args[0] = self.u32_arg(h);
                plan.consumed = Some(h);
                plan.allowed = allow(&[ZX_OK, ZX_ERR_BAD_HANDLE]);
            }
            nr::HANDLE_DUPLICATE | nr::HANDLE_REPLACE => {
                let h = if nr == nr::HANDLE_REPLACE { self.consumable(Kind::Vmo) } else { self.handle(Kind::Vmo) };
                let rights = self.rights();
                let (out, in_scratch) = self.out_ptr(4);
                plan.args[..3].copy_from_slice(&[self.u32_arg(h), self.u32_arg(rights), out]);
                let kind = self.kind_of(h).unwrap_or(Kind::Vmo);
                plan.new_handle = Some((out, in_scratch, kind));
                if nr == nr::HANDLE_REPLACE {
                    plan.consumed = Some(h);
                    plan.allowed = allow(&[ZX_OK, ZX_ERR_BAD_HANDLE, ZX_ERR_INVALID_ARGS, ZX_ERR_NO_MEMORY]);
                } else {
                    plan.handles[0] = Some(h);
                    plan.allowed =
                        allow(&[ZX_OK, ZX_ERR_BAD_HANDLE, ZX_ERR_ACCESS_DENIED, ZX_ERR_INVALID_ARGS, ZX_ERR_NO_MEMORY]);
                }
            }
            nr::OBJECT_GET_INFO => {
                let want = self.rng.pick_or(&[Kind::Vmo, Kind::Vmar, Kind::Resource], Kind::Vmo);
                let h = self.handle(want);
                let topic = self.random_u32(&[INFO_HANDLE_BASIC, INFO_VMAR, INFO_KMEM_STATS, INFO_VMO, 0, 0x1000_0017]);
                let (buf, len) = self.buffer(true);
                let actual = if self.rng.one_in(3) { 0 } else { self.out_ptr(8).0 };
                let avail = if self.rng.one_in(3) { 0 } else { self.out_ptr(8).0 };
                plan.args[..6].copy_from_slice(&[self.u32_arg(h), self.u32_arg(topic), buf, len, actual, avail]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_NOT_SUPPORTED, ZX_ERR_BUFFER_TOO_SMALL]);
            }
            nr::OBJECT_GET_PROPERTY | nr::OBJECT_SET_PROPERTY => {
                let h = self.handle(Kind::Vmo);
                let prop = self.random_u32(&[PROP_NAME, PROP_VMO_CONTENT_SIZE, 0, 2, 4]);
                let (buf, len) = self.buffer(nr == nr::OBJECT_GET_PROPERTY);
                plan.args[..4].copy_from_slice(&[self.u32_arg(h), self.u32_arg(prop), buf, len]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_BUFFER_TOO_SMALL]);
            }
            nr::VMO_CREATE => {
                let size = self.vmo_size();
                let options = self.random_u32(&[0, 0, VMO_RESIZABLE, 1, 1 << 2, 1 << 3]);
                let (out, in_scratch) = self.out_ptr(4);
                plan.args[..3].copy_from_slice(&[size, self.u32_arg(options), out]);
                plan.new_handle = Some((out, in_scratch, Kind::Vmo));
                plan.allowed = allow(&[ZX_OK, ZX_ERR_INVALID_ARGS, ZX_ERR_OUT_OF_RANGE, ZX_ERR_NO_MEMORY]);
            }
            nr::VMO_READ | nr::VMO_WRITE => {
                let h = self.handle(Kind::Vmo);
                let (buf, len) = self.buffer(nr == nr::VMO_READ);
                let offset = self.offset();
                plan.args[..4].copy_from_slice(&[self.u32_arg(h), buf, offset, len]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad)
                    | allow(&[ZX_OK, ZX_ERR_OUT_OF_RANGE, ZX_ERR_BAD_STATE, ZX_ERR_NOT_SUPPORTED, ZX_ERR_NO_MEMORY]);
            }
            nr::VMO_GET_SIZE => {
                let h = self.handle(Kind::Vmo);
                let (out, _) = self.out_ptr(8);
                plan.args[..2].copy_from_slice(&[self.u32_arg(h), out]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&[ZX_OK, ZX_ERR_BAD_HANDLE, ZX_ERR_WRONG_TYPE, ZX_ERR_INVALID_ARGS]);
            }
            nr::VMO_SET_SIZE => {
                let h = self.handle(Kind::Vmo);
                let size = self.vmo_size();
                plan.args[..2].copy_from_slice(&[self.u32_arg(h), size]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad)
                    | allow(&[
                        ZX_OK,
                        ZX_ERR_UNAVAILABLE,
                        ZX_ERR_OUT_OF_RANGE,
                        ZX_ERR_NO_MEMORY,
                        ZX_ERR_BAD_STATE,
                        ZX_ERR_NOT_SUPPORTED,
                    ]);
            }
            nr::VMO_OP_RANGE => {
                let h = self.handle(Kind::Vmo);
                let op = self.random_u32(&[1, 2, 3, 4, 6, 7, 8, 9, 10, 1, 10, 0, 5, 11]);
                let (offset, size) = (self.offset(), self.offset());
                let (buf, len) = self.buffer(true);
                plan.args[..6].copy_from_slice(&[self.u32_arg(h), self.u32_arg(op), offset, size, buf, len]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad)
                    | allow(&[ZX_OK, ZX_ERR_OUT_OF_RANGE, ZX_ERR_NOT_SUPPORTED, ZX_ERR_BAD_STATE, ZX_ERR_NO_MEMORY]);
            }
            nr::VMO_CREATE_CHILD => {
                let h = self.handle(Kind::Vmo);
                let options = self.random_u32(&[
                    CHILD_SNAPSHOT,
                    CHILD_SNAPSHOT | CHILD_RESIZABLE,
                    CHILD_SLICE,
                    CHILD_SNAPSHOT_AT_LEAST_ON_WRITE,
                    CHILD_SNAPSHOT_AT_LEAST_ON_WRITE | CHILD_RESIZABLE,
                    CHILD_SNAPSHOT | CHILD_NO_WRITE,
                    CHILD_SLICE | CHILD_NO_WRITE,
                    CHILD_SLICE | CHILD_RESIZABLE,
                    0,
                ]);
                let (offset, size) = (self.offset() & !(PAGE_SIZE - 1) | self.rng.below(2), self.vmo_size());
                let (out, in_scratch) = self.out_ptr(4);
                plan.args[..5].copy_from_slice(&[self.u32_arg(h), self.u32_arg(options), offset, size, out]);
                plan.handles[0] = Some(h);
                plan.new_handle = Some((out, in_scratch, Kind::Vmo));
                plan.allowed = allow(&common_bad)
                    | allow(&[ZX_OK, ZX_ERR_OUT_OF_RANGE, ZX_ERR_NOT_SUPPORTED, ZX_ERR_BAD_STATE, ZX_ERR_NO_MEMORY]);
            }
            nr::VMO_SET_CACHE_POLICY => {
                let h = self.handle(Kind::Vmo);
                let policy = self.random_u32(&[0, 1, 2, 3, 4]);
                plan.args[..2].copy_from_slice(&[self.u32_arg(h), self.u32_arg(policy)]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_BAD_STATE, ZX_ERR_NOT_SUPPORTED]);
            }
            nr::VMO_REPLACE_AS_EXECUTABLE => {
                let h = self.consumable(Kind::Vmo);
                let vmex = match self.rng.below(4) {
                    0 | 1 => 0,
                    2 => self.ctx.root_resource,
                    _ => self.handle(Kind::Vmo),
                };
                let (out, in_scratch) = self.out_ptr(4);
                plan.args[..3].copy_from_slice(&[self.u32_arg(h), self.u32_arg(vmex), out]);
                plan.consumed = Some(h);
                plan.handles[0] = if vmex == 0 { None } else { Some(vmex) };
                plan.new_handle = Some((out, in_scratch, Kind::Vmo));
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_NO_MEMORY]);
            }
            nr::VMO_CREATE_PHYSICAL => {
                let resource = if self.rng.one_in(2) { self.ctx.root_resource } else { self.handle(Kind::Resource) };
                let mut paddrs = [0x5000_0000u64, 0x4000_0000, 0x5000_0001, u64::MAX - PAGE_SIZE + 1, 0x5000_0000];
                if let Some(mmio) = self.mmio {
                    paddrs[4] = mmio;
                }
                let paddr = self.rng.pick_or(&paddrs, 0x5000_0000);
                let size = self.rng.pick_or(&[PAGE_SIZE, 2 * PAGE_SIZE, 0, 100, u64::MAX, 1 << 30], PAGE_SIZE);
                let (out, in_scratch) = self.out_ptr(4);
                plan.args[..4].copy_from_slice(&[self.u32_arg(resource), paddr, size, out]);
                plan.handles[0] = Some(resource);
                plan.new_handle = Some((out, in_scratch, Kind::Vmo));
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_OUT_OF_RANGE, ZX_ERR_NO_MEMORY]);
            }
            nr::VMAR_MAP => self.plan_map(&mut plan),
            nr::VMAR_UNMAP | nr::VMAR_PROTECT => {
                let vmar = if self.rng.one_in(8) { self.handle(Kind::Vmar) } else { self.ctx.root_vmar };
                let (addr, len) = self.own_range();
                if nr == nr::VMAR_UNMAP {
                    plan.args[..3].copy_from_slice(&[self.u32_arg(vmar), addr, len]);
                    plan.allowed =
                        allow(&[ZX_OK, ZX_ERR_BAD_HANDLE, ZX_ERR_WRONG_TYPE, ZX_ERR_INVALID_ARGS, ZX_ERR_BAD_STATE]);
                } else {
                    let mut options = self.rng.below(8) as u32;
                    if self.rng.one_in(10) {
                        options |= 1 << self.rng.below(32);
                    }
                    plan.args[..4].copy_from_slice(&[self.u32_arg(vmar), self.u32_arg(options), addr, len]);
                    plan.allowed =
                        allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_NOT_FOUND, ZX_ERR_BAD_STATE, ZX_ERR_NO_MEMORY]);
                }
                plan.handles[0] = Some(vmar);
            }
            nr::CACHE_FLUSH => {
                let (addr, max) = match self.rng.below(4) {
                    0 => (self.layout.scratch + self.rng.below(PAGE_SIZE), PAGE_SIZE),
                    1 => (self.layout.rodata, 64),
                    2 => (self.layout.text, 256),
                    _ => (self.rng.pick_or(&[0, 8, KERNEL_ADDR, USER_END, u64::MAX - 3], 0), u64::MAX),
                };
                let len = if self.rng.one_in(4) { self.rng.next() } else { self.rng.below(max.min(8192)) };
                let len = if max == u64::MAX { len } else { len.min(max) };
                let options = self.random_u32(&[1, 2, 3, 6, 7, 0, 4, 5, 8]);
                plan.args[..3].copy_from_slice(&[addr, len, self.u32_arg(options)]);
                plan.allowed = allow(&[ZX_OK, ZX_ERR_INVALID_ARGS]);
            }
            nr::OBJECT_SIGNAL => {
                let h = self.handle(Kind::Vmo);
                let clear = self.random_u32(&[0, USER_SIGNAL_0, USER_SIGNAL_ALL, VMO_ZERO_CHILDREN, 1]);
                let set = self.random_u32(&[0, USER_SIGNAL_0 << 3, USER_SIGNAL_ALL, VMO_ZERO_CHILDREN, 1 << 23]);
                plan.args[..3].copy_from_slice(&[self.u32_arg(h), self.u32_arg(clear), self.u32_arg(set)]);
                plan.handles[0] = Some(h);
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK]);
            }
            nr::OBJECT_WAIT_ONE => {
                let h = self.handle(Kind::Vmo);
                let signals =
                    self.random_u32(&[VMO_ZERO_CHILDREN, USER_SIGNAL_0, USER_SIGNAL_ALL | VMO_ZERO_CHILDREN, 0]);
                // Never a deadline in the future: the call must not block.
                let now = clock_get_monotonic();
                let deadline = self.rng.pick_or(&[0i64, -1, i64::MIN, 1, now - 1], 0);
                let (observed, _) = self.out_ptr(4);
                plan.args[..4].copy_from_slice(&[self.u32_arg(h), self.u32_arg(signals), deadline as u64, observed]);
                plan.handles[0] = Some(h);
                // (ABI v2: a VMAR or resource handle is not waitable: NOT_SUPPORTED.)
                plan.allowed = allow(&common_bad) | allow(&[ZX_OK, ZX_ERR_TIMED_OUT, ZX_ERR_NOT_SUPPORTED]);
            }
            _ => {
                for arg in plan.args.iter_mut() {
                    *arg = if self.rng.one_in(2) { self.rng.next() } else { 0 };
                }
                plan.allowed = allow(&[ZX_ERR_BAD_SYSCALL]);
            }
        }
        plan
    }

    fn plan_map(&mut self, plan: &mut Plan) {
        let vmar = if self.rng.one_in(10) { self.handle(Kind::Vmar) } else { self.ctx.root_vmar };
        let vmo = self.handle(Kind::Vmo);
        let mut options = self.rng.below(8) as u32;
        let placement = self.rng.below(10);
        match placement {
            0 | 1 => options |= VM_SPECIFIC,
            2 => options |= VM_SPECIFIC_OVERWRITE,
            _ => {}
        }
        if self.rng.one_in(8) {
            options |= VM_MAP_RANGE;
        }
        if self.rng.one_in(16) {
            options |= VM_REQUIRE_NON_RESIZABLE;
        }
        if self.rng.one_in(16) {
            options |= self.rng.pick_or(
                &[VM_CAN_MAP_READ, VM_CAN_MAP_WRITE, VM_CAN_MAP_EXECUTE, VM_CAN_MAP_SPECIFIC, 1 << 20],
                1 << 20,
            );
        }
        if self.rng.one_in(8) {
            options |= vm_align(8 + self.rng.below(27) as u32);
        }
        let lengths = [PAGE_SIZE, 2 * PAGE_SIZE, 1, 3 * PAGE_SIZE + 1, 16 * PAGE_SIZE, 1 << 20, 0];
        let mut len = match self.rng.below(12) {
            0 => self.rng.below(1 << 24),
            1 => self.rng.pick_or(&[1 << 40, u64::MAX, u64::MAX - PAGE_SIZE + 1], u64::MAX),
            _ => self.rng.pick_or(&lengths, PAGE_SIZE),
        };
        let specific = options & (VM_SPECIFIC | VM_SPECIFIC_OVERWRITE) != 0;
        let mut vmar_offset = 0;
        let mut specific_addr = None;
        if specific {
            if self.rng.one_in(6) {
                vmar_offset =
                    self.rng.pick_or(&[!(PAGE_SIZE - 1), 1 << 47, self.layout.arena - ROOT_BASE + 1], u64::MAX);
            } else {
                let addr = self.layout.arena + PAGE_SIZE * self.rng.below(ARENA_LEN / PAGE_SIZE);
                vmar_offset = addr - ROOT_BASE;
                specific_addr = Some(addr);
                if options & VM_SPECIFIC_OVERWRITE != 0 {
                    // Overwrite only inside the arena.
                    len = len.min(self.layout.arena + ARENA_LEN - addr);
                }
            }
        } else if self.rng.one_in(8) {
            vmar_offset = self.offset();
        }
        let vmo_offset = if self.rng.one_in(3) { self.offset() } else { 0 };
        let (out, in_scratch) = self.out_ptr(8);
        plan.args[..7].copy_from_slice(&[
            self.u32_arg(vmar),
            self.u32_arg(options),
            vmar_offset,
            self.u32_arg(vmo),
            vmo_offset,
            len,
            out,
        ]);
        plan.handles = [Some(vmar), Some(vmo)];
        plan.new_mapping = Some((out, in_scratch, len, specific_addr));
        plan.allowed = allow(&[
            ZX_OK,
            ZX_ERR_BAD_HANDLE,
            ZX_ERR_WRONG_TYPE,
            ZX_ERR_ACCESS_DENIED,
            ZX_ERR_INVALID_ARGS,
            ZX_ERR_NOT_SUPPORTED,
            ZX_ERR_NO_MEMORY,
            ZX_ERR_BAD_STATE,
            ZX_ERR_OUT_OF_RANGE,
        ]);
    }

    // ---------------------------------------------------------------------------------
    // Running one call and checking it.

    fn describe(&self, plan: &Plan) -> TextBuf<200> {
        let mut text = TextBuf::<200>::new();
        let used = match plan.nr {
            nr::VMAR_MAP => 7,
            nr::OBJECT_GET_INFO | nr::VMO_OP_RANGE => 6,
            nr::VMO_CREATE_CHILD => 5,
            nr::CLOCK_GET_MONOTONIC => 0,
            1..=25 => 4,
            _ => 8,
        };
        let _ = write!(text, "{}[{:#x}](", syscall_name(plan.nr), plan.nr);
        for (i, arg) in plan.args.iter().take(used).enumerate() {
            let _ = write!(text, "{}{arg:#x}", if i == 0 { "" } else { ", " });
        }
        let _ = write!(text, ")");
        text
    }

    fn execute(&mut self, plan: &Plan) {
        self.calls += 1;
        let index = self.calls;
        if self.verbose {
            println!("fuzz: #{index} {}", self.describe(plan).as_str());
        }
        // SAFETY: every pointer argument is invalid, read-only, or inside the scratch
        // mapping, the arena or a mapping the kernel placed for the fuzzer: memory that
        // holds nothing the program relies on.
        let ret = unsafe { sys::call(plan.nr, plan.args) };
        self.calls_by_nr[(plan.nr as usize).min(26)] += 1;
        if plan.returns_value {
            if (ret as i64) < 0 {
                self.surprise(plan, ret, "clock_get_monotonic returned a negative time");
            }
            return;
        }
        let status = ret as i64 as i32;
        if self.verbose {
            println!("fuzz:   -> {} ({status})", status_name(status));
        }
        if ret as i64 != status as i64 {
            self.surprise(plan, ret, "x0 is not a sign-extended 32-bit status");
            return;
        }
        match STATUS_NAMES.iter().position(|(s, _)| *s == status) {
            Some(i) => self.tally[i] += 1,
            None => self.unnamed_statuses += 1,
        }
        let allowed = STATUS_NAMES.iter().position(|(s, _)| *s == status).is_some_and(|i| plan.allowed & (1 << i) != 0);
        if !allowed {
            self.surprise(plan, ret, "status outside the set Zircon returns for this call");
        }
        self.check_handles(plan, ret, status);
        self.check_results(plan, ret, status);
    }

    /// The handle-model rules for one call.
    fn check_handles(&mut self, plan: &Plan, ret: u64, status: Status) {
        let looked_up: [u32; 2] = [plan.handles[0].unwrap_or(0), plan.handles[1].unwrap_or(0)];
        let all_live = looked_up.iter().zip(plan.handles).all(|(v, h)| h.is_none() || self.live_slot(*v).is_some());
        if status == ZX_ERR_BAD_HANDLE
            && all_live
            && plan.handles.iter().any(|h| h.is_some())
            && plan.consumed.is_none_or(|c| self.live_slot(c).is_some())
        {
            self.surprise(plan, ret, "BAD_HANDLE although every handle argument is live");
        }
        if status == ZX_OK && looked_up.iter().any(|v| self.is_closed(*v)) {
            self.surprise(plan, ret, "OK with a closed handle value");
        }
        let Some(consumed) = plan.consumed else {
            return;
        };
        if status == ZX_OK && consumed != 0 && self.live_slot(consumed).is_none() {
            self.surprise(plan, ret, "OK consuming a handle the fuzzer does not own");
        }
        if plan.nr == nr::HANDLE_CLOSE {
            if self.live_slot(consumed).is_some() {
                if status == ZX_OK {
                    self.forget(consumed);
                } else {
                    self.surprise(plan, ret, "closing a live handle failed");
                }
            }
            return;
        }
        // replace / replace_as_executable: the old value is gone on success, and may be
        // gone on failure; ask the kernel.
        if self.live_slot(consumed).is_some() {
            let still_valid = info_handle_basic(consumed).is_ok();
            if status == ZX_OK && still_valid {
                self.surprise(plan, ret, "the replaced handle still works");
            }
            if !still_valid {
                self.forget(consumed);
            }
        }
    }

    /// New handles and mappings.
    fn check_results(&mut self, plan: &Plan, ret: u64, status: Status) {
        if status != ZX_OK {
            return;
        }
        if let Some((out, in_scratch, kind)) = plan.new_handle {
            if !in_scratch {
                self.surprise(plan, ret, "OK although the out-pointer was invalid");
                return;
            }
            // SAFETY: `out` lies in the scratch mapping, which stays mapped RW.
            let value = unsafe { core::ptr::read_volatile(out as usize as *const u32) };
            if value & 3 != 3 {
                self.surprise(plan, ret, "new handle value without both low bits set");
                return;
            }
            if self.live_slot(value).is_some() {
                self.surprise(plan, ret, "new handle value equals a live handle");
                return;
            }
            if self.verbose {
                println!("fuzz:   new handle {value:#x}");
            }
            self.adopt(value, kind);
        }
        if let Some((out, in_scratch, len, specific)) = plan.new_mapping {
            if !in_scratch {
                self.surprise(plan, ret, "vmar_map OK although mapped_addr was invalid");
                return;
            }
            // SAFETY: `out` lies in the scratch mapping.
            let addr = unsafe { core::ptr::read_volatile(out as usize as *const u64) };
            let len = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            if addr % PAGE_SIZE != 0 || addr < USER_BASE || addr.checked_add(len).is_none_or(|end| end > USER_END) {
                self.surprise(plan, ret, "vmar_map returned an address outside user space");
                return;
            }
            if specific.is_some_and(|want| want != addr) {
                self.surprise(plan, ret, "SPECIFIC mapping placed elsewhere");
            }
            // Every mapping is tracked: a SPECIFIC one may reach beyond the arena into
            // free space, and the part outside the arena must be unmapped at the end.
            self.track_mapping(addr, len);
        }
    }

    fn surprise(&mut self, plan: &Plan, ret: u64, what: &str) {
        self.surprises += 1;
        if self.surprises > MAX_PRINTED {
            return;
        }
        let status = ret as i64 as i32;
        let mut allowed = TextBuf::<160>::new();
        for (i, (_, name)) in STATUS_NAMES.iter().enumerate() {
            if plan.allowed & (1 << i) != 0 {
                let _ = write!(allowed, " {name}");
            }
        }
        println!(
            "fuzz: SURPRISE #{} at call {}: {} -> {} ({status}, x0={ret:#x}): {what}; allowed:{}; reproduce: seed={} calls={} verbose=1",
            self.surprises,
            self.calls,
            self.describe(plan).as_str(),
            status_name(status),
            allowed.as_str(),
            self.seed,
            self.calls
        );
    }

    fn surprise_text(&mut self, args: core::fmt::Arguments<'_>) {
        self.surprises += 1;
        if self.surprises <= MAX_PRINTED {
            println!(
                "fuzz: SURPRISE #{} at call {}: {args}; reproduce: seed={} calls={} verbose=1",
                self.surprises, self.calls, self.seed, self.calls
            );
        }
    }

    // ---------------------------------------------------------------------------------
    // The end.

    fn cleanup(&mut self) {
        for i in 0..MAX_LIVE {
            let Some(live) = self.live[i] else { continue };
            if live.protected {
                continue;
            }
            if let Err(status) = handle_close(live.value) {
                self.surprise_text(format_args!(
                    "closing live handle {:#x} at the end: {}",
                    live.value,
                    status_name(status)
                ));
            }
            self.forget(live.value);
        }
        for value in self.closed {
            if value != 0 && info_handle_basic(value).is_ok() {
                self.surprise_text(format_args!("closed handle value {value:#x} works again"));
            }
        }
        for i in 0..MAX_MAPPINGS {
            if let Some((addr, len)) = self.mappings[i].take() {
                let _ = vmar_unmap(self.ctx.root_vmar, addr, len);
            }
        }
        if let Some(guard) = self.layout.guard
            && user::harness::kernel_can_read(guard)
        {
            self.surprise_text(format_args!("the stack guard page {guard:#x} is mapped now"));
        }
        let _ = vmar_unmap(self.ctx.root_vmar, self.layout.arena, ARENA_LEN);
        let _ = vmar_unmap(self.ctx.root_vmar, self.layout.scratch, (SCRATCH_PAGES + 1) * PAGE_SIZE);
        self.check_roots();
    }

    fn report(&mut self) -> Result<(), Why> {
        let after = kmem_stats(self.ctx.root_resource)
            .map_err(|s| why(format_args!("KMEM_STATS at the end: {}", status_name(s))))?;
        println!(
            "fuzz: {} calls made, {} surprises, {} closed values reused by new handles",
            self.calls, self.surprises, self.value_reuse
        );
        let mut line = TextBuf::<1024>::new();
        for (i, (_, name)) in STATUS_NAMES.iter().enumerate() {
            if self.tally[i] > 0 {
                let _ = write!(line, " {name}={}", self.tally[i]);
            }
        }
        if self.unnamed_statuses > 0 {
            let _ = write!(line, " other={}", self.unnamed_statuses);
        }
        println!("fuzz: calls per status:{}", line.as_str());
        let mut line = TextBuf::<1024>::new();
        for (nr, count) in self.calls_by_nr.iter().enumerate() {
            if *count > 0 {
                let _ = write!(line, " {}={count}", if nr == 26 { "reserved/huge" } else { syscall_name(nr as u64) });
            }
        }
        println!("fuzz: calls per syscall:{}", line.as_str());
        let before = self.baseline;
        println!(
            "fuzz: free_bytes {} -> {} ({:+}), vmo_bytes {} -> {}, mmu_overhead_bytes {} -> {}, free_heap_bytes {} -> {}",
            before.free_bytes,
            after.free_bytes,
            after.free_bytes as i64 - before.free_bytes as i64,
            before.vmo_bytes,
            after.vmo_bytes,
            before.mmu_overhead_bytes,
            after.mmu_overhead_bytes,
            before.free_heap_bytes,
            after.free_heap_bytes
        );
        if self.surprises > 0 {
            return Err(why(format_args!(
                "{} surprises (first {} printed above)",
                self.surprises,
                self.surprises.min(MAX_PRINTED)
            )));
        }
        if after.free_bytes != before.free_bytes {
            return Err(why(format_args!(
                "free_bytes {} after cleanup, {} at the start: {} bytes not returned",
                after.free_bytes,
                before.free_bytes,
                before.free_bytes as i64 - after.free_bytes as i64
            )));
        }
        Ok(())
    }
}

/// Creates and closes enough handles, pages and mappings that the kernel's tables reach
/// the size the fuzz run needs.
fn warm_up() -> Result<(), Status> {
    touch_stack();
    let mut handles: [Option<Handle>; 2 * MAX_LIVE] = [const { None }; 2 * MAX_LIVE];
    for pair in handles.chunks_mut(2) {
        let vmo = vmo_create(2 * PAGE_SIZE, 0)?;
        vmo_op_range(&vmo, OP_COMMIT, 0, 2 * PAGE_SIZE)?;
        let copy = handle_duplicate(&vmo, SAME_RIGHTS)?;
        if let [first, second] = pair {
            *first = Some(vmo);
            *second = Some(copy);
        }
    }
    Ok(())
}

/// Touches 64 KiB of stack below the current frame, so that the stack pages the run
/// uses are committed before the baseline is measured (they are never freed).
#[inline(never)]
fn touch_stack() {
    let mut pages = [0u8; 64 * 1024];
    for page in pages.chunks_mut(PAGE_SIZE as usize) {
        if let Some(first) = page.first_mut() {
            *first = 1;
        }
    }
    core::hint::black_box(&mut pages);
}

/// Maps the scratch pages with a no-access page after them, and the arena (no access,
/// placed SPECIFIC at the first free candidate). Both VMO handles are closed again: the
/// mappings keep the VMOs, and the fuzzer cannot name them.
fn make_scratch_and_arena(root: u32) -> Result<(u64, u64), Status> {
    let scratch_vmo = vmo_create((SCRATCH_PAGES + 1) * PAGE_SIZE, 0)?;
    let scratch = vmar_map(root, VM_RW, 0, &scratch_vmo, 0, (SCRATCH_PAGES + 1) * PAGE_SIZE)?;
    // The page after the scratch pages stays mapped with no access, so that no later
    // mapping can fill it: any kernel copy that runs off the scratch end faults there.
    vmar_protect(root, 0, scratch + SCRATCH_PAGES * PAGE_SIZE, PAGE_SIZE)?;
    let arena_vmo = vmo_create(ARENA_LEN, 0)?;
    for candidate in ARENA_CANDIDATES {
        if let Ok(arena) = vmar_map(root, VM_SPECIFIC, candidate - ROOT_BASE, &arena_vmo, 0, ARENA_LEN) {
            return Ok((scratch, arena));
        }
    }
    Err(ZX_ERR_NO_MEMORY)
}
