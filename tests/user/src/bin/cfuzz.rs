//! The concurrent syscall fuzzer (issue 13): `seed=N calls=N [rounds=N workers=N
//! threads=N cthreads=N verbose=1]`.
//!
//! Each round, this program (the controller, the first process) makes a job and starts
//! `workers` copies of itself in it (worker processes), each running `threads` fuzz
//! threads; it runs `cthreads` fuzz threads of its own and a reaper thread. Every fuzz
//! thread calls every ABI v2 syscall (0..=63 and unknown numbers) with arguments drawn
//! from its own handles (of every object type), garbage handles, good and bad pointers,
//! sizes, options and short deadlines, and checks each status against the set Zircon
//! could return for those arguments (a status outside it is a *surprise*, printed with
//! the thread, call and arguments). Handles travel between processes over a ring of
//! channels linking every fuzz thread (a received handle is identified with
//! ZX_INFO_HANDLE_BASIC and used from then on); the reaper kills worker threads and
//! whole worker processes at random moments; fuzz threads create, start and kill
//! threads, processes and jobs; a shared resizable VMO is mapped, unmapped, protected,
//! resized and decommitted by threads of every process while, in one worker per round,
//! a toucher thread loads and stores through those mappings (a worker dying of a fault
//! is an allowed outcome; the controller never touches a mapping another thread can
//! change). Every wait has a deadline of at most a few milliseconds.
//!
//! Reproducible from the seed: each thread's stream is derived from (seed, round,
//! process, thread), and its i-th call draws one word from it, so the syscall and the
//! recipe of its arguments are fixed; which handle values fill them and what the call
//! returns depend on the interleaving.
//!
//! Round 0 is a warm-up. Then the baseline is taken: KMEM_STATS, the kernel's live
//! objects per type (`FERRITE_OBJECT_COUNTS`, with `testinfo` on the command line) and
//! this process's ZX_INFO_PROCESS_HANDLE_STATS. After the last round, once every worker
//! is dead and every handle closed, all three must be back (free bytes allowing the
//! page-table pages this live process grew, ABI.md 4.3). The program prints its totals
//! and `1 passed, 0 failed` or `0 passed, 1 failed`.
#![no_std]
#![no_main]
#![allow(clippy::result_large_err)]

use core::fmt::Write;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use user::console::TextBuf;
use user::ipc::{self, Packet, SEC, Thread, WaitItem};
use user::rng::Rng;
use user::zx::rights::*;
use user::zx::*;
use user::{Ctx, entry, println, sys};

entry!(main);

/// The test-only get_info topic: live kernel objects per type (docs/ABI.md).
const INFO_OBJECT_COUNTS: u32 = 0x4652_0001;
const INFO_PROCESS_HANDLE_STATS: u32 = 21;
const INFO_PROCESS: u32 = 3;
const ROOT_VMAR_LEN: u64 = USER_END - USER_BASE;
const KERNEL_ADDR: u64 = 0xffff_0000_0000_0000;
/// Fuzz threads per process at most (report records are per (process, thread)).
const MAX_THREADS: usize = 8;
const MAX_WORKERS: usize = 6;
/// Handle slots of one fuzz thread.
const SLOTS: usize = 40;
/// Mappings one fuzz thread keeps track of.
const MAPS: usize = 12;
/// Scratch pages of a fuzz thread (followed by a no-access page).
const SCRATCH_PAGES: u64 = 4;
/// Bytes of the home sub-VMAR of each fuzz thread.
const HOME_LEN: u64 = 64 << 20;
/// Largest VMO a fuzz thread makes or grows to (more would let a few threads exhaust RAM).
const VMO_CAP: u64 = 256 << 10;
/// Worker exit codes.
const EXIT_OK: i64 = 0;
const EXIT_FUZZ_EXIT: i64 = 77;
const EXIT_SETUP: i64 = 78;
const EXIT_HANG: i64 = 79;
const RETCODE_KILLED: i64 = -1024;
const RETCODE_FAULT: i64 = -1028;

static NAME: [u8; 8] = *b"cfuzzer\0";
static RODATA: [u8; 64] = [0x5a; 64];

// ---- per-process shared state (reset by each worker at start: a copy starts with the
// controller's data) --------------------------------------------------------------------

/// Futex words the threads of one process share.
static FUTEXES: [AtomicI32; 4] = [const { AtomicI32::new(0) }; 4];
/// Mappings published for the toucher: address | pages << 48 | writable bit 0.
static PUBLISHED: [AtomicU64; MAX_THREADS * 4] = [const { AtomicU64::new(0) }; MAX_THREADS * 4];
/// Set when the toucher must stop.
static STOP: AtomicU32 = AtomicU32::new(0);
/// Touches made by the toucher.
static TOUCHES: AtomicU64 = AtomicU64::new(0);
/// Where the toucher reports its touches (a report record of this worker).
static TOUCH_RECORD: AtomicU64 = AtomicU64::new(0);
/// Where process_write_memory may write in any copy of this program: nothing reads it.
static mut SINK: [u8; 4096] = [0; 4096];

fn sink_addr() -> u64 {
    addr_of(&raw const SINK)
}

// ---- small helpers ---------------------------------------------------------------------

/// The stream of thread `thread` of process `proc` in round `round`.
fn stream(seed: u64, round: u64, proc: u64, thread: u64) -> Rng {
    let mut r = Rng(seed ^ 0x6366_757a_7a00_0000);
    let mut word = r.next();
    for part in [round, proc, thread] {
        r = Rng(word ^ part.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        word = r.next();
    }
    Rng(word)
}

fn bit(status: Status) -> u64 {
    STATUS_NAMES.iter().position(|(s, _)| *s == status).map_or(0, |i| 1 << i)
}

fn bits(list: &[Status]) -> u64 {
    list.iter().fold(0, |acc, s| acc | bit(*s))
}

fn raw(nr: u64, args: [u64; 8]) -> u64 {
    // SAFETY: every pointer a fuzz call passes is invalid, read-only, or inside memory the
    // calling thread lets the kernel overwrite (its scratch pages, SINK, its own mappings).
    unsafe { sys::call(nr, args) }
}

fn valid(handle: u32) -> bool {
    object_get_info(handle, 1, &mut []).is_ok()
}

fn basic(handle: u32) -> Option<(u32, u32)> {
    info_handle_basic(handle).ok().map(|b| (b.obj_type, b.rights))
}

/// Writes one line with a single debug_write, so lines of different threads never mix.
fn say(args: core::fmt::Arguments<'_>) {
    let mut line = TextBuf::<600>::new();
    let _ = line.write_fmt(args);
    let _ = line.write_str("\n");
    let _ = debug_write(line.as_str().as_bytes());
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

fn now() -> i64 {
    clock_get_monotonic()
}

// A thread entry for threads the fuzz starts: yields a few times and exits; needs no stack.
core::arch::global_asm!(
    ".section .text.cfuzz_spin, \"ax\", %progbits",
    ".global cfuzz_spin",
    "cfuzz_spin:",
    "    mov x9, #20",
    "1:  mov x0, #0",
    "    mov x16, #55", // zx_nanosleep(0): yield
    "    svc #0",
    "    subs x9, x9, #1",
    "    b.ne 1b",
    "    mov x16, #32", // zx_thread_exit
    "    svc #0",
    "    brk #1",
);

unsafe extern "C" {
    fn cfuzz_spin();
}

fn spin_entry() -> u64 {
    cfuzz_spin as *const () as usize as u64
}

// ---- the model -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Vmo,
    Vmar,
    RootVmar,
    Resource,
    Process,
    Thread,
    Job,
    Channel,
    Event,
    EventPair,
    Port,
    Timer,
    Other,
}

fn kind_of(obj_type: u32) -> Kind {
    match obj_type {
        1 => Kind::Process,
        2 => Kind::Thread,
        3 => Kind::Vmo,
        4 => Kind::Channel,
        5 => Kind::Event,
        6 => Kind::Port,
        15 => Kind::Resource,
        16 => Kind::EventPair,
        17 => Kind::Job,
        18 => Kind::Vmar,
        22 => Kind::Timer,
        _ => Kind::Other,
    }
}

const WAITABLE: &[Kind] =
    &[Kind::Vmo, Kind::Process, Kind::Thread, Kind::Job, Kind::Channel, Kind::Event, Kind::EventPair, Kind::Timer];
const TASKS: &[Kind] = &[Kind::Process, Kind::Thread, Kind::Job];
const VMARS: &[Kind] = &[Kind::Vmar, Kind::RootVmar];

#[derive(Clone, Copy)]
struct Slot {
    value: u32,
    kind: Kind,
    rights: u32,
    /// Set-up handles the fuzz never closes, sends or replaces.
    pinned: bool,
    /// A VMAR's range.
    base: u64,
    len: u64,
}

#[derive(Clone, Copy)]
struct Map {
    vmar: u32,
    addr: u64,
    len: u64,
    published: Option<usize>,
}

/// A handle argument: its value and the slot it came from (None: invalid on purpose).
type Arg = (u32, Option<usize>);

/// One planned call.
struct Plan {
    nr: u64,
    args: [u64; 8],
    allowed: u64,
    /// Out-pointers for new handles and the kind of object each names.
    new_handles: [(u64, Option<Kind>); 2],
    /// Slots whose handles the call may consume (verified afterwards).
    consumes: [usize; 10],
    consumed: usize,
    /// The call must consume them (close, process_start's arg1).
    must_consume: bool,
    /// vmar_map: (vmar slot value, out pointer, len, writable, publish for the toucher).
    mapping: Option<(u32, u64, u64, bool, bool)>,
    /// vmar_allocate: the out pointers of the child handle and address.
    alloc: Option<(u64, u64)>,
    /// channel_read/call: (handle array, actual_handles pointer).
    received: Option<(u64, u64)>,
    /// channel_read: echo the message back (answering a pending call).
    echo: Option<(u32, u64, u64)>,
    /// A call returning a value, not a status: which one.
    value: u8,
}

impl Plan {
    fn new(nr: u64) -> Plan {
        Plan {
            nr,
            args: [0; 8],
            allowed: 0,
            new_handles: [(0, None); 2],
            consumes: [0; 10],
            consumed: 0,
            must_consume: false,
            mapping: None,
            alloc: None,
            received: None,
            echo: None,
            value: 0,
        }
    }
}

/// What one fuzz thread starts with.
#[derive(Clone, Copy, Default)]
struct Setup {
    seed: u64,
    round: u64,
    proc: u64,
    thread: u64,
    calls: u64,
    /// This thread lives in the controller: no self-destruction of any kind.
    controller: bool,
    /// The toucher touches what this thread publishes.
    publish: bool,
    /// The process's root VMAR, for the scratch pages (never in a slot in the controller).
    scratch_vmar: u32,
    /// Pinned slots: the round's job, the root resource, the thread's home sub-VMAR.
    job: u32,
    resource: u32,
    home: u32,
    /// Worker only: its own process and root VMAR.
    process: u32,
    root_vmar: u32,
    /// The shared VMO (pinned too); unpinned: two ring channel ends, a duplicate of home.
    shared_vmo: u32,
    chans: [u32; 2],
    home_dup: u32,
    /// Unpinned: a channel end whose peer this process's echo thread serves.
    echo: u32,
    /// calls, surprises (the report record).
    report: u64,
    verbose: bool,
}

struct Fuzzer<'a> {
    s: &'a Setup,
    rng: Rng,
    slots: [Option<Slot>; SLOTS],
    maps: [Option<Map>; MAPS],
    scratch: u64,
    calls: u64,
    surprises: u64,
    last_clock: i64,
    last_ticks: u64,
    publish_next: usize,
}

const OK: Status = ZX_OK;
const B: Status = ZX_ERR_BAD_HANDLE;
const W: Status = ZX_ERR_WRONG_TYPE;
const A: Status = ZX_ERR_ACCESS_DENIED;
const I: Status = ZX_ERR_INVALID_ARGS;
const NS: Status = ZX_ERR_NOT_SUPPORTED;
const NM: Status = ZX_ERR_NO_MEMORY;
const OOR: Status = ZX_ERR_OUT_OF_RANGE;
const BTS: Status = ZX_ERR_BUFFER_TOO_SMALL;
const BS: Status = ZX_ERR_BAD_STATE;
const TO: Status = ZX_ERR_TIMED_OUT;
const SW: Status = ZX_ERR_SHOULD_WAIT;
const PC: Status = ZX_ERR_PEER_CLOSED;
const NF: Status = ZX_ERR_NOT_FOUND;
const UN: Status = ZX_ERR_UNAVAILABLE;

/// Syscall numbers with weights: (first number, last number, weight of each).
const WEIGHTS: &[(u64, u64, u64)] = &[
    (1, 1, 1),
    (3, 3, 1),
    (4, 25, 3),
    (26, 31, 3),
    (33, 33, 3),
    (34, 63, 3),
    (2, 2, 1),   // process_exit (workers, very rarely acted on)
    (32, 32, 1), // thread_exit (idem)
    (0, 0, 1),
    (64, 64, 2), // unknown numbers
];

impl<'a> Fuzzer<'a> {
    fn new(s: &'a Setup) -> Option<Fuzzer<'a>> {
        let vmo = vmo_create((SCRATCH_PAGES + 1) * PAGE_SIZE, 0).ok()?;
        let scratch = vmar_map(s.scratch_vmar, VM_RW, 0, &vmo, 0, (SCRATCH_PAGES + 1) * PAGE_SIZE).ok()?;
        vmar_protect(s.scratch_vmar, 0, scratch + SCRATCH_PAGES * PAGE_SIZE, PAGE_SIZE).ok()?;
        let mut f = Fuzzer {
            s,
            rng: stream(s.seed, s.round, s.proc, s.thread),
            slots: [None; SLOTS],
            maps: [None; MAPS],
            scratch,
            calls: 0,
            surprises: 0,
            last_clock: 0,
            last_ticks: 0,
            publish_next: 0,
        };
        for (value, pinned) in [
            (s.job, true),
            (s.resource, true),
            (s.home, true),
            (s.process, true),
            (s.root_vmar, true),
            // Pinned (it stays for the toucher's mappings); duplicates of it travel.
            (s.shared_vmo, true),
            (s.chans[0], false),
            (s.chans[1], false),
            (s.home_dup, false),
            (s.echo, false),
        ] {
            if value != 0 {
                f.adopt(value, pinned);
            }
        }
        Some(f)
    }

    // ---- slots ---------------------------------------------------------------------

    fn slot(&self, i: Option<usize>) -> Option<Slot> {
        i.and_then(|i| self.slots[i])
    }

    fn find(&self, value: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.is_some_and(|s| s.value == value))
    }

    /// Takes a handle into the model (type and rights from the kernel); when every slot
    /// is full, a random unpinned one is closed first.
    fn adopt(&mut self, value: u32, pinned: bool) {
        let Some((ty, rights)) = basic(value) else {
            self.surprise_text(format_args!("a new handle {value:#x} does not work"));
            return;
        };
        let mut kind = kind_of(ty);
        let (mut base, mut len) = (0, 0);
        if kind == Kind::Vmar {
            if let Ok(info) = info_vmar(value) {
                (base, len) = (info.base, info.len);
            }
            if len == ROOT_VMAR_LEN {
                kind = Kind::RootVmar;
            }
        }
        let free = match self.slots.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None => {
                let mut i = self.rng.below(SLOTS as u64) as usize;
                while self.slots[i].is_none_or(|s| s.pinned) {
                    i = (i + 1) % SLOTS;
                }
                let victim = self.slots[i].map_or(0, |s| s.value);
                if handle_close(victim).is_err() {
                    self.surprise_text(format_args!("closing live handle {victim:#x} failed"));
                }
                self.slots[i] = None;
                i
            }
        };
        self.slots[free] = Some(Slot { value, kind, rights, pinned, base, len });
    }

    /// A handle argument: mostly a live slot of one of `want` (any slot sometimes),
    /// else an invalid value. `consumable`: never a pinned slot.
    fn handle(&mut self, r: &mut Rng, want: &[Kind], consumable: bool) -> Arg {
        let roll = r.below(100);
        if roll < 88 {
            let mut candidates = [0usize; SLOTS];
            let mut n = 0;
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(s) = s
                    && (roll >= 75 || want.contains(&s.kind))
                    && !(consumable && s.pinned)
                {
                    candidates[n] = i;
                    n += 1;
                }
            }
            if n > 0 {
                let i = candidates[r.below(n as u64) as usize];
                return (self.slots[i].map_or(0, |s| s.value), Some(i));
            }
        }
        let value = match r.below(5) {
            0 | 1 => 0,
            2 => r.next() as u32 & !3 | 1,
            3 => r.next() as u32 & !3,
            _ => r.next() as u32 | 3,
        };
        (value, None)
    }

    /// Adds the lookup statuses for `arg`: BAD_HANDLE for an invalid value, WRONG_TYPE
    /// (and ACCESS_DENIED, which some calls check first) for another kind, ACCESS_DENIED
    /// when `rights` are missing.
    fn need(&self, p: &mut Plan, arg: Arg, kinds: &[Kind], rights: u32) {
        match self.slot(arg.1) {
            None => p.allowed |= bit(B),
            Some(s) => {
                if !kinds.is_empty() && !kinds.contains(&s.kind) {
                    p.allowed |= bit(W) | bit(A);
                } else if s.rights & rights != rights {
                    p.allowed |= bit(A);
                }
            }
        }
    }

    fn consume(&self, p: &mut Plan, arg: Arg) {
        if let Some(i) = arg.1
            && p.consumed < p.consumes.len()
            && !p.consumes[..p.consumed].contains(&i)
        {
            p.consumes[p.consumed] = i;
            p.consumed += 1;
        }
    }

    // ---- argument pools --------------------------------------------------------------

    /// An out-pointer for `size` bytes: (pointer, in scratch).
    fn out(&self, r: &mut Rng, size: u64) -> (u64, bool) {
        if r.below(100) < 90 {
            return (self.scratch + 8 * r.below((PAGE_SIZE - size) / 8), true);
        }
        let bad = [0, 8, KERNEL_ADDR, u64::MAX - 3, USER_END - 2, addr_of(RODATA.as_ptr()), spin_entry()];
        (r.pick(&bad), false)
    }

    /// A buffer: (pointer, length, in scratch). The kernel may write all of it when
    /// `writes`: such buffers stay in the scratch pages (or run into the no-access page
    /// after them) or are invalid.
    fn buffer(&self, r: &mut Rng, writes: bool, max: u64) -> (u64, u64, bool) {
        let len = match r.below(10) {
            0 => r.below(300),
            1 => r.pick(&[1 << 20, 1 << 32, u64::MAX, 65536, 65537]),
            _ => r.pick(&[0, 1, 4, 8, 16, 24, 32, 48, 72, 104, 256, 4095, 4096, 4097, 8192]),
        }
        .min(max);
        let scratch_buffers = self.scratch + 2 * PAGE_SIZE;
        match r.below(16) {
            0..=10 => {
                let ptr = scratch_buffers + r.below(2 * PAGE_SIZE);
                let end = self.scratch + SCRATCH_PAGES * PAGE_SIZE + 16;
                let len = if len < 1 << 30 { len.min(end - ptr) } else { len };
                (ptr, len, ptr + len <= scratch_buffers + 2 * PAGE_SIZE)
            }
            11 if !writes => (addr_of(RODATA.as_ptr()), len.min(64), false),
            12 if !writes => (spin_entry(), len.min(64), false),
            13 => (0, len, false),
            14 => (KERNEL_ADDR + r.below(1 << 30), len, false),
            _ => (r.pick(&[USER_END - 8, 1 << 48, 8, self.scratch + SCRATCH_PAGES * PAGE_SIZE]), len, false),
        }
    }

    fn deadline(&self, r: &mut Rng) -> i64 {
        match r.below(6) {
            0 => 0,
            1 => i64::MIN,
            2 => -1,
            3 => now() - 1000,
            _ => ipc::deadline_after(r.below(300_000) as i64),
        }
    }

    fn size(&self, r: &mut Rng) -> u64 {
        match r.below(12) {
            0 => r.pick(&[u64::MAX, u64::MAX - PAGE_SIZE + 1, MAX_VMO_SIZE + 1]),
            1 => r.below(VMO_CAP + 1),
            2 => VMO_CAP,
            _ => r.pick(&[0, 1, 100, 4096, 4097, 8192, 3 * 4096, 16 * 4096]),
        }
    }

    fn offset(&self, r: &mut Rng) -> u64 {
        match r.below(8) {
            0 => r.below(1 << 17),
            1 => r.next(),
            _ => r.pick(&[0, 1, 8, 4095, 4096, 8192, 12288, 1 << 20, u64::MAX, u64::MAX - 4095]),
        }
    }

    fn u32_arg(&self, r: &mut Rng, value: u32) -> u64 {
        if r.one_in(16) { (r.next() & !0xFFFF_FFFF) | value as u64 } else { value as u64 }
    }

    fn rights(&self, r: &mut Rng) -> u32 {
        match r.below(6) {
            0 | 1 => SAME_RIGHTS,
            2 => 0,
            3 => READ | WRITE | TRANSFER | DUPLICATE | WAIT | INSPECT,
            4 => r.next() as u32 & 0x7FFFF,
            _ => r.next() as u32,
        }
    }

    /// A range of `s`'s VMAR (relative offset and length), or a bad one.
    fn vmar_range(&self, r: &mut Rng, s: Option<Slot>) -> (u64, u64) {
        let len = s.map_or(HOME_LEN, |s| s.len.min(1 << 40));
        let pages = (len / PAGE_SIZE).max(1);
        let first = r.below(pages);
        let room = pages - first;
        let n = match r.below(4) {
            0 => room,
            1 => 0,
            _ => 1 + r.below(room.min(64)),
        };
        let (mut off, mut l) = (first * PAGE_SIZE, n * PAGE_SIZE);
        if r.one_in(10) {
            off += 1 + r.below(PAGE_SIZE - 1);
        }
        if r.one_in(10) {
            l = r.pick(&[u64::MAX, len + PAGE_SIZE, 1 << 47, l + 1]);
        }
        (off, l)
    }

    /// A range to unmap or protect through `vmar`: anywhere in a sub-VMAR; in a root VMAR
    /// only a mapping this thread made through that handle (or something refused).
    fn own_range(&mut self, r: &mut Rng, vmar: Arg) -> (u64, u64) {
        let s = self.slot(vmar.1);
        match s {
            Some(s) if s.kind == Kind::Vmar => {
                let (off, len) = self.vmar_range(r, Some(s));
                (s.base.wrapping_add(off), len)
            }
            _ => {
                let mut mine = [(0u64, 0u64); MAPS];
                let mut n = 0;
                for m in self.maps.iter().flatten() {
                    if m.vmar == vmar.0 {
                        mine[n] = (m.addr, m.len);
                        n += 1;
                    }
                }
                if n > 0 && !r.one_in(8) {
                    let (addr, len) = mine[r.below(n as u64) as usize];
                    let pages = len / PAGE_SIZE;
                    let first = r.below(pages);
                    return (addr + first * PAGE_SIZE, (1 + r.below(pages - first)) * PAGE_SIZE);
                }
                (r.pick(&[KERNEL_ADDR, 0, 8, USER_END, u64::MAX & !4095]), r.pick(&[PAGE_SIZE, 0, u64::MAX]))
            }
        }
    }

    // ---- planning ------------------------------------------------------------------

    fn pick_nr(r: &mut Rng) -> u64 {
        let total: u64 = WEIGHTS.iter().map(|(a, b, w)| (b - a + 1) * w).sum();
        let mut roll = r.below(total);
        for &(a, b, w) in WEIGHTS {
            let span = (b - a + 1) * w;
            if roll < span {
                let nr = a + roll / w;
                return if nr == 64 { r.pick(&[64, 65, 100, 1000, 1 << 32 | 4, u64::MAX]) } else { nr };
            }
            roll -= span;
        }
        0
    }

    fn plan(&mut self, r: &mut Rng) -> Plan {
        let nr = Self::pick_nr(r);
        let mut p = Plan::new(nr);
        let a = &mut p.args;
        match nr {
            1 => {
                let ptr = r.pick(&[addr_of(RODATA.as_ptr()), 0, KERNEL_ADDR, USER_END - 1]);
                let len = if ptr == addr_of(RODATA.as_ptr()) { 0 } else { r.pick(&[0, 1, 4097]) };
                a[0] = ptr;
                a[1] = len;
                p.allowed = bits(&[OK, I]);
            }
            2 => {
                // Only a worker ends itself, and rarely; otherwise the number is replaced
                // by an unknown one.
                if self.s.controller || !r.one_in(2000) {
                    p.nr = 1 << 40 | 2;
                    p.allowed = bits(&[ZX_ERR_BAD_SYSCALL]);
                } else {
                    a[0] = EXIT_FUZZ_EXIT as u64;
                }
            }
            3 => p.value = 3,
            4 => {
                let h = self.handle(r, &[], true);
                a[0] = self.u32_arg(r, h.0);
                p.allowed = bits(&[OK]);
                self.need(&mut p, h, &[], 0);
                if h.0 == 0 {
                    p.allowed |= bit(OK);
                }
                self.consume(&mut p, h);
                p.must_consume = true;
            }
            5 | 6 => {
                let h = self.handle(r, &[], nr == 6);
                let rights = self.rights(r);
                let (out, good) = self.out(r, 4);
                p.args[..3].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, rights), out]);
                p.new_handles[0] = (out, good.then_some(Kind::Other));
                p.allowed = bits(&[OK, I, NM]);
                if !good {
                    p.allowed &= !bit(OK);
                }
                self.need(&mut p, h, &[], if nr == 5 { DUPLICATE } else { 0 });
                if nr == 6 {
                    self.consume(&mut p, h);
                }
            }
            7 => {
                let h = self.handle(r, &[Kind::Process, Kind::Thread, Kind::Job, Kind::Vmo, Kind::Timer], false);
                let topic = if r.one_in(6) {
                    r.next() as u32
                } else {
                    r.pick(&[1, 2, 3, 4, 7, 8, 9, 10, 12, 15, 17, 19, 21, 23, 24, 25])
                };
                let (buf, len, _) = self.buffer(r, true, u64::MAX);
                let actual = if r.one_in(3) { 0 } else { self.out(r, 8).0 };
                let avail = if r.one_in(3) { 0 } else { self.out(r, 8).0 };
                p.args[..6].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, topic), buf, len, actual, avail]);
                p.allowed = bits(&[OK, I, BTS, NS, BS, W, A]);
                self.need(&mut p, h, &[], 0);
            }
            8 | 9 => {
                let h = self.handle(r, &[Kind::Vmo, Kind::Process, Kind::Thread, Kind::Job], false);
                let prop = r.pick(&[PROP_NAME, PROP_VMO_CONTENT_SIZE, PROP_NAME, 0, 4, 12]);
                let (buf, len, _) = self.buffer(r, nr == 8, u64::MAX);
                p.args[..4].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, prop), buf, len]);
                p.allowed = bits(&[OK, I, BTS, NS, W, A, BS, OOR, UN]);
                self.need(&mut p, h, &[], 0);
            }
            10 => {
                let size = self.size(r);
                let options = r.pick(&[0, 0, VMO_RESIZABLE, 1, 4]);
                let (out, good) = self.out(r, 4);
                p.args[..3].copy_from_slice(&[size, self.u32_arg(r, options), out]);
                p.new_handles[0] = (out, good.then_some(Kind::Vmo));
                p.allowed = bits(&[OK, I, OOR, NM]);
            }
            11 | 12 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let (buf, len, _) = self.buffer(r, nr == 11, u64::MAX);
                let off = self.offset(r);
                p.args[..4].copy_from_slice(&[self.u32_arg(r, h.0), buf, off, len]);
                p.allowed = bits(&[OK, I, OOR, BS, NS, NM]);
                self.need(&mut p, h, &[Kind::Vmo], if nr == 11 { READ } else { WRITE });
            }
            13 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let (out, _) = self.out(r, 8);
                p.args[..2].copy_from_slice(&[self.u32_arg(r, h.0), out]);
                p.allowed = bits(&[OK, I]);
                self.need(&mut p, h, &[Kind::Vmo], 0);
            }
            14 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let mut size = self.size(r);
                if h.0 == self.s.shared_vmo && !r.one_in(16) {
                    // The shared VMO shrinks below its mapped pages only now and then.
                    size = r.pick(&[16, 17, 32]) * PAGE_SIZE;
                }
                p.args[..2].copy_from_slice(&[self.u32_arg(r, h.0), size]);
                p.allowed = bits(&[OK, UN, OOR, NM, BS, NS, I]);
                self.need(&mut p, h, &[Kind::Vmo], WRITE);
                if h.0 == self.s.shared_vmo && size < 16 * PAGE_SIZE {
                    self.forget_maps_in(0, 0, u64::MAX);
                }
            }
            15 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let op = r.pick(&[1, 2, 3, 4, 6, 7, 8, 9, 10, 2, 10, 0, 5, 11]);
                let (off, size) = (self.offset(r), if r.one_in(2) { self.size(r) } else { self.offset(r) });
                // COMMIT commits at most VMO_CAP: the VMO is at most that big, or the
                // range is refused.
                let (buf, len, _) = self.buffer(r, true, u64::MAX);
                p.args[..6].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, op), off, size, buf, len]);
                p.allowed = bits(&[OK, I, OOR, NS, BS, NM, A]);
                self.need(&mut p, h, &[Kind::Vmo], 0);
            }
            16 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let options = r.pick(&[1, 1 | 4, 8, 16, 16 | 4, 1 | 32, 8 | 32, 8 | 4, 0, 2]);
                let off = self.offset(r) & !(PAGE_SIZE - 1) | r.below(2);
                let size = self.size(r);
                let (out, good) = self.out(r, 4);
                p.args[..5].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, options), off, size, out]);
                p.new_handles[0] = (out, good.then_some(Kind::Vmo));
                p.allowed = bits(&[OK, I, OOR, NS, BS, NM, A]);
                self.need(&mut p, h, &[Kind::Vmo], 0);
            }
            17 => {
                let h = self.handle(r, &[Kind::Vmo], false);
                let policy = r.pick(&[0, 1, 2, 3, 4, 0]);
                p.args[..2].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, policy)]);
                p.allowed = bits(&[OK, BS, NS, I, A]);
                self.need(&mut p, h, &[Kind::Vmo], 0);
            }
            18 => {
                let h = self.handle(r, &[Kind::Vmo], true);
                let vmex = if r.one_in(2) { (0, None) } else { self.handle(r, &[Kind::Resource], false) };
                let (out, good) = self.out(r, 4);
                p.args[..3].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, vmex.0), out]);
                p.new_handles[0] = (out, good.then_some(Kind::Vmo));
                p.allowed = bits(&[OK, NM, I, A, W]);
                self.need(&mut p, h, &[Kind::Vmo], 0);
                if vmex.0 != 0 {
                    self.need(&mut p, vmex, &[Kind::Resource], 0);
                }
                self.consume(&mut p, h);
            }
            19 => {
                // RAM (refused), bad ranges, or QEMU virt's flash at 0 (a physical VMO
                // nobody touches: the toucher only touches the shared VMO).
                let h = self.handle(r, &[Kind::Resource], false);
                let paddr = r.pick(&[0x4000_0000u64, 0x4400_0000, 0x5000_0001, u64::MAX - PAGE_SIZE + 1, 0, 0x1000]);
                let size = r.pick(&[PAGE_SIZE, 0, 100, u64::MAX, 2 * PAGE_SIZE]);
                let (out, good) = self.out(r, 4);
                p.args[..4].copy_from_slice(&[self.u32_arg(r, h.0), paddr, size, out]);
                p.new_handles[0] = (out, good.then_some(Kind::Vmo));
                p.allowed = bits(&[I, A, OOR, NM]);
                if paddr < 0x0800_0000 {
                    p.allowed |= bit(OK);
                }
                self.need(&mut p, h, &[Kind::Resource], 0);
            }
            20 => self.plan_map(r, &mut p),
            21 | 22 => {
                let vmar = self.handle(r, VMARS, false);
                let (addr, len) = self.own_range(r, vmar);
                if nr == 21 {
                    p.args[..3].copy_from_slice(&[self.u32_arg(r, vmar.0), addr, len]);
                    p.allowed = bits(&[OK, I, BS]);
                } else {
                    let options = r.pick(&[0, 1, 3, 5, 7, 2, 1 << 20]);
                    p.args[..4].copy_from_slice(&[self.u32_arg(r, vmar.0), self.u32_arg(r, options), addr, len]);
                    p.allowed = bits(&[OK, I, NF, BS, NM, A]);
                }
                self.need(&mut p, vmar, VMARS, 0);
                if nr == 21 || r.one_in(2) {
                    self.forget_maps_in(vmar.0, addr, len);
                }
            }
            23 => {
                let (addr, len) = match r.below(3) {
                    0 => (self.scratch + r.below(PAGE_SIZE), r.below(PAGE_SIZE)),
                    1 => (spin_entry(), 64),
                    _ => (r.pick(&[0, KERNEL_ADDR, USER_END, u64::MAX - 3]), r.next()),
                };
                let options = r.pick(&[1, 2, 3, 6, 7, 0, 4, 5, 8]);
                p.args[..3].copy_from_slice(&[addr, len, self.u32_arg(r, options)]);
                p.allowed = bits(&[OK, I]);
            }
            24 | 38 => {
                let h = self.handle(r, WAITABLE, false);
                let clear = r.pick(&[0, USER_SIGNAL_0, USER_SIGNAL_ALL, 1 << 3, 1]);
                let set = r.pick(&[0, USER_SIGNAL_0 << 3, USER_SIGNAL_ALL, 1 << 3, 1 << 23, 1 << 2]);
                p.args[..3].copy_from_slice(&[self.u32_arg(r, h.0), self.u32_arg(r, clear), self.u32_arg(r, set)]);
                p.allowed = bits(&[OK, I, NS]);
                if nr == 38 {
                    p.allowed |= bit(PC);
                }
                self.need(&mut p, h, &[], if nr == 24 { SIGNAL } else { 1 << 13 });
            }
            25 => {
                let h = self.handle(r, WAITABLE, false);
                let signals = r.pick(&[1, 2, 4, 8, 1 << 4, USER_SIGNAL_0, USER_SIGNAL_ALL | 0xff, 0]);
                let deadline = self.deadline(r);
                let (observed, _) = if r.one_in(4) { (0, false) } else { self.out(r, 4) };
                p.args[..4].copy_from_slice(&[
                    self.u32_arg(r, h.0),
                    self.u32_arg(r, signals),
                    deadline as u64,
                    observed,
                ]);
                p.allowed = bits(&[OK, TO, NS, I]);
                self.need(&mut p, h, &[], WAIT);
            }
            26 => {
                let job = self.handle(r, &[Kind::Job], false);
                let (o1, g1) = self.out(r, 4);
                let o2 = if g1 { o1 ^ 8 } else { self.scratch };
                let (name, len) = if r.one_in(10) { (0, 4) } else { (addr_of(NAME.as_ptr()), r.pick(&[0, 3, 8, 64])) };
                let options = if r.one_in(10) { 1 } else { 0 };
                p.args[..6].copy_from_slice(&[self.u32_arg(r, job.0), name, len, options, o1, o2]);
                p.new_handles = [(o1, g1.then_some(Kind::Process)), (o2, g1.then_some(Kind::RootVmar))];
                p.allowed = bits(&[OK, I, BS, NM]);
                self.need(&mut p, job, &[Kind::Job], 0);
                p.allowed |= bit(A);
            }
            27 => {
                let process = self.handle(r, &[Kind::Process], false);
                let thread = self.handle(r, &[Kind::Thread], false);
                let arg1 = if r.one_in(2) { (0, None) } else { self.handle(r, &[Kind::Event, Kind::Vmo], true) };
                let entry = r.pick(&[spin_entry(), spin_entry(), 0, KERNEL_ADDR, 8]);
                p.args[..6].copy_from_slice(&[
                    self.u32_arg(r, process.0),
                    self.u32_arg(r, thread.0),
                    entry,
                    0,
                    self.u32_arg(r, arg1.0),
                    r.next(),
                ]);
                p.allowed = bits(&[OK, I, BS, A]);
                self.need(&mut p, process, &[Kind::Process], WRITE);
                self.need(&mut p, thread, &[Kind::Thread], WRITE);
                self.consume(&mut p, arg1);
                p.must_consume = true;
                if entry == 0 && !self.s.controller && !r.one_in(20) {
                    // A worker rarely starts something at 0 (it may be its own thread).
                    p.args[2] = spin_entry();
                }
            }
            28 | 29 => {
                let process = self.handle(r, &[Kind::Process], false);
                let vaddr = r.pick(&[sink_addr(), sink_addr() + 100, 0, KERNEL_ADDR, 0x7000_0000_0000]);
                let (buf, mut len, _) = self.buffer(r, nr == 28, u64::MAX);
                if nr == 29 && vaddr >= sink_addr() && vaddr < sink_addr() + 4096 {
                    len = len.min(sink_addr() + 4096 - vaddr);
                }
                let (actual, _) = if r.one_in(5) { (0, false) } else { self.out(r, 8) };
                p.args[..5].copy_from_slice(&[self.u32_arg(r, process.0), vaddr, buf, len, actual]);
                p.allowed = bits(&[OK, I, BS, NM, NS, OOR]);
                self.need(&mut p, process, &[Kind::Process], if nr == 28 { READ | WRITE } else { WRITE });
            }
            30 => {
                let process = self.handle(r, &[Kind::Process], false);
                let (out, good) = self.out(r, 4);
                let (name, len) = if r.one_in(10) { (0, 4) } else { (addr_of(NAME.as_ptr()), r.pick(&[0, 7, 40])) };
                let options = if r.one_in(10) { 1 } else { 0 };
                p.args[..5].copy_from_slice(&[self.u32_arg(r, process.0), name, len, options, out]);
                p.new_handles[0] = (out, good.then_some(Kind::Thread));
                p.allowed = bits(&[OK, I, NM, BS]);
                self.need(&mut p, process, &[Kind::Process], 1 << 18);
            }
            31 => {
                let thread = self.handle(r, &[Kind::Thread], false);
                let mut entry = r.pick(&[spin_entry(), spin_entry(), spin_entry(), 0, KERNEL_ADDR]);
                if entry == 0 && !self.s.controller && !r.one_in(20) {
                    entry = spin_entry();
                }
                p.args[..5].copy_from_slice(&[self.u32_arg(r, thread.0), entry, 0, r.next(), r.next()]);
                p.allowed = bits(&[OK, BS, I]);
                self.need(&mut p, thread, &[Kind::Thread], 1 << 18);
            }
            32 => {
                if self.s.controller || !r.one_in(500) {
                    p.nr = 1 << 40 | 32;
                    p.allowed = bits(&[ZX_ERR_BAD_SYSCALL]);
                }
            }
            33 => {
                let mut task = self.handle(r, TASKS, false);
                // Own process and the round's job: rarely.
                if let Some(s) = self.slot(task.1)
                    && s.pinned
                    && !r.one_in(if self.s.controller { 20_000 } else { 3000 })
                {
                    task = (0, None);
                }
                a[0] = self.u32_arg(r, task.0);
                p.allowed = bits(&[OK]);
                self.need(&mut p, task, TASKS, 1 << 9);
            }
            34 => {
                let job = self.handle(r, &[Kind::Job], false);
                let (out, good) = self.out(r, 4);
                let options = if r.one_in(10) { 1 } else { 0 };
                p.args[..3].copy_from_slice(&[self.u32_arg(r, job.0), options, out]);
                p.new_handles[0] = (out, good.then_some(Kind::Job));
                p.allowed = bits(&[OK, I, OOR, BS, NM, A]);
                self.need(&mut p, job, &[Kind::Job], 0);
            }
            35 => {
                let n = r.below(6) as usize;
                let array = self.scratch + PAGE_SIZE;
                let mut picked: [Arg; 8] = [(0, None); 8];
                for h in picked.iter_mut().take(n) {
                    *h = if r.one_in(6) { (r.next() as u32 & !3, None) } else { self.handle(r, &[], true) };
                }
                if n >= 2 && r.one_in(4) {
                    // A value repeated: the second names no handle any more.
                    picked[1] = picked[0];
                    p.allowed |= bit(B);
                }
                if (1..n).any(|i| picked[i].0 != 0 && picked[..i].iter().any(|h| h.0 == picked[i].0)) {
                    p.allowed |= bit(B);
                }
                let mut values = [0u32; 8];
                for (v, h) in values.iter_mut().zip(picked).take(n) {
                    *v = h.0;
                    self.consume(&mut p, h);
                    if h.1.is_none() && h.0 != 0 {
                        p.allowed |= bit(B);
                    }
                }
                for (i, v) in values.iter().enumerate().take(n) {
                    // SAFETY: the scratch pages are ours.
                    unsafe { core::ptr::write_volatile((array + 4 * i as u64) as usize as *mut u32, *v) };
                }
                let ptr = if r.one_in(10) { r.pick(&[0, KERNEL_ADDR]) } else { array };
                if ptr != array && n > 0 {
                    p.allowed |= bit(I);
                    p.consumed = 0;
                }
                p.must_consume = ptr == array;
                p.args[..2].copy_from_slice(&[ptr, n as u64]);
                p.allowed |= bit(OK);
            }
            36 => {
                let n = r.pick(&[0, 1, 2, 3, 5, 65]);
                let items = self.scratch + PAGE_SIZE + 512;
                for i in 0..(n.min(8)) {
                    let h = self.handle(r, WAITABLE, false);
                    let item = WaitItem { handle: h.0, waitfor: r.pick(&[1, 4, 8, USER_SIGNAL_0, 0]), pending: 0 };
                    // SAFETY: the scratch pages are ours.
                    unsafe { core::ptr::write_volatile((items + 12 * i) as usize as *mut WaitItem, item) };
                    self.need(&mut p, h, &[], WAIT);
                }
                let ptr = if r.one_in(10) { r.pick(&[0, KERNEL_ADDR]) } else { items };
                let deadline = self.deadline(r);
                p.args[..3].copy_from_slice(&[ptr, if n == 65 { 65 } else { n.min(8) }, deadline as u64]);
                p.allowed |= bits(&[OK, TO, OOR, I, NS]);
            }
            37 => {
                let object = self.handle(r, WAITABLE, false);
                let port = self.handle(r, &[Kind::Port], false);
                let signals = r.pick(&[1, 2, 4, 8, USER_SIGNAL_0, 0, 1 << 4]);
                let options = r.pick(&[0, 0, 1, 2, 4]);
                p.args[..5].copy_from_slice(&[
                    self.u32_arg(r, object.0),
                    self.u32_arg(r, port.0),
                    r.below(4),
                    self.u32_arg(r, signals),
                    self.u32_arg(r, options),
                ]);
                p.allowed = bits(&[OK, I, NS, NM]);
                self.need(&mut p, port, &[Kind::Port], WRITE);
                self.need(&mut p, object, &[], WAIT);
            }
            39 | 41 | 45 => {
                let (o1, g1) = self.out(r, 4);
                let o2 = if g1 { o1 ^ 8 } else { self.scratch };
                let options = if r.one_in(10) { r.pick(&[1, 2, 0x8000_0000]) } else { 0 };
                p.args[..3].copy_from_slice(&[self.u32_arg(r, options), o1, o2]);
                let kind = match nr {
                    39 => Kind::Event,
                    41 => Kind::Channel,
                    _ => Kind::Port,
                };
                p.new_handles[0] = (o1, g1.then_some(kind));
                if nr == 41 {
                    p.new_handles[1] = (o2, g1.then_some(kind));
                }
                p.allowed = bits(&[OK, I, NM]);
            }
            40 => {
                let (o1, g1) = self.out(r, 4);
                let o2 = if g1 { o1 ^ 8 } else { self.scratch };
                let options = if r.one_in(10) { 1 } else { 0 };
                p.args[..3].copy_from_slice(&[self.u32_arg(r, options), o1, o2]);
                p.new_handles = [(o1, g1.then_some(Kind::EventPair)), (o2, g1.then_some(Kind::EventPair))];
                p.allowed = bits(&[OK, I, NM, NS]);
            }
            42 => {
                let h = self.handle(r, &[Kind::Channel], false);
                let options = r.pick(&[0, 0, 1, 2]);
                let (bytes, nb, _) = self.buffer(r, true, 65536);
                let handles = self.scratch + PAGE_SIZE + 1024;
                let mut nh = r.pick(&[0, 1, 4, 64, 64, 65]);
                let hptr = if r.one_in(10) { r.pick(&[0, KERNEL_ADDR]) } else { handles };
                let ab = if r.one_in(8) { 0 } else { self.scratch + PAGE_SIZE + 1600 };
                let ah = if r.one_in(8) { 0 } else { self.scratch + PAGE_SIZE + 1608 };
                if ah == 0 {
                    // Handles received without their count could not be taken into the
                    // model (and closed at the end): none may be received.
                    nh = 0;
                }
                p.args = [self.u32_arg(r, h.0), options, bytes, hptr, nb.min(u32::MAX as u64), nh, ab, ah];
                p.allowed = bits(&[OK, NS, PC, SW, BTS, I, NM]);
                self.need(&mut p, h, &[Kind::Channel], READ);
                if hptr == handles && ah != 0 {
                    p.received = Some((handles, ah));
                    if r.one_in(3) && nb >= 4 {
                        p.echo = Some((h.0, bytes, ab));
                    }
                }
            }
            43 | 44 => self.plan_write(r, &mut p),
            46 => {
                let port = self.handle(r, &[Kind::Port], false);
                let packet = self.scratch + PAGE_SIZE + 2048;
                let ptr = if r.one_in(10) { r.pick(&[0, KERNEL_ADDR]) } else { packet };
                p.args[..2].copy_from_slice(&[self.u32_arg(r, port.0), ptr]);
                p.allowed = bits(&[OK, I, SW, NM]);
                self.need(&mut p, port, &[Kind::Port], WRITE);
            }
            47 => {
                let port = self.handle(r, &[Kind::Port], false);
                let deadline = self.deadline(r);
                let (out, _) = if r.one_in(10) { (0, false) } else { (self.scratch + PAGE_SIZE + 2112, true) };
                p.args[..3].copy_from_slice(&[self.u32_arg(r, port.0), deadline as u64, out]);
                p.allowed = bits(&[OK, TO, I]);
                self.need(&mut p, port, &[Kind::Port], READ);
            }
            48 => {
                let port = self.handle(r, &[Kind::Port], false);
                let source = self.handle(r, WAITABLE, false);
                p.args[..3].copy_from_slice(&[self.u32_arg(r, port.0), self.u32_arg(r, source.0), r.below(4)]);
                p.allowed = bits(&[OK, NF, NS]);
                self.need(&mut p, port, &[Kind::Port], WRITE);
                self.need(&mut p, source, &[], WAIT);
            }
            49..=51 => {
                let word = |r: &mut Rng| -> (u64, bool) {
                    if r.one_in(8) {
                        (r.pick(&[0, 2, KERNEL_ADDR, 0x7000_0000_0000]), false)
                    } else {
                        (addr_of(FUTEXES[r.below(4) as usize].as_ptr()), true)
                    }
                };
                let (ptr, good) = word(r);
                let current = if good && !r.one_in(4) {
                    // SAFETY: a futex word of ours.
                    unsafe { core::ptr::read_volatile(ptr as usize as *const i32) }
                } else {
                    r.below(3) as i32
                };
                if good && r.one_in(3) {
                    FUTEXES[r.below(4) as usize].fetch_add(1, Ordering::Relaxed);
                }
                let owner = if r.one_in(3) { self.handle(r, &[Kind::Thread], false) } else { (0, None) };
                match nr {
                    49 => {
                        let deadline = self.deadline(r);
                        p.args[..4].copy_from_slice(&[ptr, current as u32 as u64, owner.0 as u64, deadline as u64]);
                        p.allowed = bits(&[OK, TO, BS, I, W]);
                    }
                    50 => {
                        p.args[..2].copy_from_slice(&[ptr, r.pick(&[0, 1, 2, u32::MAX as u64])]);
                        p.allowed = bits(&[OK, I]);
                    }
                    _ => {
                        let (ptr2, _) = word(r);
                        p.args[..6].copy_from_slice(&[
                            ptr,
                            r.below(3),
                            current as u32 as u64,
                            ptr2,
                            r.below(3),
                            owner.0 as u64,
                        ]);
                        p.allowed = bits(&[OK, BS, I, W]);
                    }
                }
                if owner.0 != 0 && owner.1.is_none() {
                    p.allowed |= bit(B);
                }
            }
            52 => {
                let (out, good) = self.out(r, 4);
                let options = r.pick(&[0, 1, 2, 3]);
                let clock = if r.one_in(10) { 1 } else { 0 };
                p.args[..3].copy_from_slice(&[options, clock, out]);
                p.new_handles[0] = (out, good.then_some(Kind::Timer));
                p.allowed = bits(&[OK, I, NM]);
            }
            53 => {
                let timer = self.handle(r, &[Kind::Timer], false);
                let deadline = match r.below(4) {
                    0 => 0,
                    1 => i64::MAX,
                    _ => ipc::deadline_after(r.below(2_000_000) as i64),
                };
                let slack = r.pick(&[0i64, 0, 1000, -1]);
                p.args[..3].copy_from_slice(&[self.u32_arg(r, timer.0), deadline as u64, slack as u64]);
                p.allowed = bits(&[OK, OOR]);
                self.need(&mut p, timer, &[Kind::Timer], WRITE);
            }
            54 => {
                let timer = self.handle(r, &[Kind::Timer], false);
                a[0] = self.u32_arg(r, timer.0);
                p.allowed = bits(&[OK]);
                self.need(&mut p, timer, &[Kind::Timer], WRITE);
            }
            55 => {
                a[0] = self.deadline(r) as u64;
                p.allowed = bits(&[OK]);
            }
            56..=60 => {
                a[0] = r.next() >> r.below(64);
                p.value = nr as u8;
            }
            61 => {
                let h = self.handle(r, &[Kind::Resource], false);
                let (buf, _, _) = self.buffer(r, true, 0);
                let (actual, _) = self.out(r, 8);
                // Only 0-byte reads: nothing may wait for console input.
                p.args[..4].copy_from_slice(&[self.u32_arg(r, h.0), buf, 0, actual]);
                p.allowed = bits(&[OK, I]);
                self.need(&mut p, h, &[Kind::Resource], 0);
            }
            62 => {
                let parent = self.handle(r, VMARS, false);
                let s = self.slot(parent.1);
                let mut options = r.pick(&[0, 1 << 7 | 1 << 8, 1 << 6 | 1 << 7 | 1 << 8, 1 << 3, 1 << 9]);
                if r.one_in(3) {
                    options |= 1 << 4;
                }
                if r.one_in(10) {
                    options |= r.pick(&[1, 1 << 5, 1 << 10, 12 << 24, 50 << 24]);
                }
                let (mut off, mut size) = self.vmar_range(r, s);
                if options & (1 << 4) == 0 && !r.one_in(10) {
                    off = 0;
                }
                size = size.min(HOME_LEN / 4).max(if r.one_in(10) { 0 } else { PAGE_SIZE });
                let o1 = self.scratch + 8 * r.below(256);
                let o2 = o1 + 2048;
                p.args[..6].copy_from_slice(&[self.u32_arg(r, parent.0), self.u32_arg(r, options), off, size, o1, o2]);
                p.alloc = Some((o1, o2));
                p.allowed = bits(&[OK, I, BS, A, NM]);
                self.need(&mut p, parent, VMARS, 0);
            }
            63 => {
                let vmar = self.handle(r, VMARS, false);
                a[0] = self.u32_arg(r, vmar.0);
                p.allowed = bits(&[OK, NS, BS]);
                self.need(&mut p, vmar, VMARS, 0);
                if self.slot(vmar.1).is_some_and(|s| s.kind == Kind::Vmar) {
                    let s = self.slot(vmar.1).unwrap_or(Slot {
                        value: 0,
                        kind: Kind::Other,
                        rights: 0,
                        pinned: false,
                        base: 0,
                        len: 0,
                    });
                    self.forget_maps_in(0, s.base, s.len);
                }
            }
            _ => {
                for arg in p.args.iter_mut() {
                    *arg = if r.one_in(2) { r.next() } else { 0 };
                }
                p.allowed = bits(&[ZX_ERR_BAD_SYSCALL]);
            }
        }
        if p.new_handles.iter().any(|(out, kind)| *out != 0 && kind.is_none()) {
            p.allowed &= !bit(OK);
        }
        p
    }

    fn plan_map(&mut self, r: &mut Rng, p: &mut Plan) {
        let vmar = self.handle(r, VMARS, false);
        let mut vmo = self.handle(r, &[Kind::Vmo], false);
        if self.s.publish
            && r.one_in(2)
            && let Some(i) = self.find(self.s.shared_vmo)
        {
            vmo = (self.s.shared_vmo, Some(i));
        }
        let s = self.slot(vmar.1);
        let mut options = r.pick(&[1, 3, 3, 3, 1, 0, 5, 7]);
        let (mut off, mut len) = self.vmar_range(r, s);
        let sub = s.is_some_and(|s| s.kind == Kind::Vmar);
        match r.below(6) {
            0 | 1 => options |= VM_SPECIFIC,
            2 if sub => options |= VM_SPECIFIC_OVERWRITE,
            _ => off = if r.one_in(10) { off } else { 0 },
        }
        if r.one_in(8) {
            options |= r.pick(&[VM_MAP_RANGE, VM_REQUIRE_NON_RESIZABLE, VM_COMPACT, 1 << 6, 1 << 20, 14 << 24]);
        }
        if len > 1 << 40 || r.one_in(3) {
            len = if r.one_in(8) { len } else { r.pick(&[PAGE_SIZE, 2 * PAGE_SIZE, 16 * PAGE_SIZE, 1, 0]) };
        }
        let vmo_off = if r.one_in(4) { self.offset(r) } else { 0 };
        let (out, good) = self.out(r, 8);
        p.args[..7].copy_from_slice(&[
            self.u32_arg(r, vmar.0),
            self.u32_arg(r, options),
            off,
            self.u32_arg(r, vmo.0),
            vmo_off,
            len,
            out,
        ]);
        p.allowed = bits(&[OK, I, NS, NM, BS, OOR, A]);
        if options & VM_SPECIFIC_OVERWRITE != 0
            && let Some(s) = s
        {
            // Whatever this thread had there is replaced.
            self.forget_maps_in(vmar.0, s.base.wrapping_add(off), len);
        }
        // The toucher touches only mappings of the shared VMO from its start, readable:
        // they fault only when some thread unmaps, protects, overwrites or shrinks. And
        // only mappings in this process: VMAR handles of other processes travel over the
        // channels too, and an address mapped there may be anything here (publishing
        // one once had the toucher increment bytes of this worker's report mapping).
        let own_vmar = vmar.0 != 0 && (vmar.0 == self.s.root_vmar || vmar.0 == self.s.home);
        let publish = own_vmar && vmo.0 == self.s.shared_vmo && vmo.1.is_some() && vmo_off == 0 && options & 1 != 0;
        if good {
            p.mapping = Some((vmar.0, out, len, options & 2 != 0, publish));
        } else {
            p.allowed &= !bit(OK);
        }
        self.need(p, vmar, VMARS, 0);
        self.need(p, vmo, &[Kind::Vmo], MAP);
    }

    fn plan_write(&mut self, r: &mut Rng, p: &mut Plan) {
        let h = self.handle(r, &[Kind::Channel], false);
        let page = self.scratch + PAGE_SIZE;
        let (bytes, mut nb, _) = self.buffer(r, false, 70000);
        if nb > 256 && !r.one_in(20) {
            nb = r.below(64);
        }
        let n = r.pick(&[0, 0, 1, 1, 2, 3, 65]);
        let mut values = [0u32; 4];
        let mut live_entries = true;
        for v in values.iter_mut().take(n.min(4) as usize) {
            let h2 = self.handle(r, &[], true);
            *v = h2.0;
            if h2.1.is_none() {
                live_entries = false;
            }
            self.consume(p, h2);
        }
        let array = page + 2400;
        for (i, v) in values.iter().enumerate() {
            // SAFETY: the scratch pages are ours.
            unsafe { core::ptr::write_volatile((array + 4 * i as u64) as usize as *mut u32, *v) };
        }
        let nh = if n == 65 { 65 } else { n.min(4) };
        let hptr = if r.one_in(12) { r.pick(&[0, KERNEL_ADDR]) } else { array };
        p.allowed = bits(&[OK, I, OOR, NS, PC, SW, NM, A]);
        let used = &values[..nh.min(4) as usize];
        let repeated = (1..used.len()).any(|i| used[..i].contains(&used[i]));
        if !live_entries || repeated || used.contains(&h.0) {
            p.allowed |= bit(B);
        }
        self.need(p, h, &[Kind::Channel], WRITE);
        if p.nr == 43 {
            let options = if r.one_in(10) { 1 } else { 0 };
            p.args[..6].copy_from_slice(&[self.u32_arg(r, h.0), options, bytes, nb, hptr, nh]);
        } else {
            // zx_channel_call_args_t at page + 2560; the reply into page + 1024 (handles)
            // and the buffer pages.
            let args = page + 3000;
            let rd_bytes = self.scratch + 2 * PAGE_SIZE;
            let rd_nb = r.pick(&[0, 4, 64, 8192]);
            let rd_nh = r.pick(&[0, 1, 64]);
            let block = [bytes, hptr, rd_bytes, page + 1024, nb | nh << 32, rd_nb | rd_nh << 32];
            for (i, w) in block.iter().enumerate() {
                // SAFETY: the scratch pages are ours.
                unsafe { core::ptr::write_volatile((args + 8 * i as u64) as usize as *mut u64, *w) };
            }
            let aptr = if r.one_in(12) { r.pick(&[0, KERNEL_ADDR]) } else { args };
            let ab = if r.one_in(10) { 0 } else { page + 1600 };
            let ah = page + 1608;
            // Half the calls wait up to 5 ms: long enough for an echo to answer.
            let deadline = if r.one_in(2) { ipc::deadline_after(r.below(5_000_000) as i64) } else { self.deadline(r) };
            let options = if r.one_in(10) { 1 } else { 0 };
            p.args[..6].copy_from_slice(&[self.u32_arg(r, h.0), options, deadline as u64, aptr, ab, ah]);
            p.allowed |= bits(&[TO, BTS]);
            if aptr == args && ab != 0 {
                p.received = Some((page + 1024, ah));
            }
            if aptr != args {
                p.consumed = 0;
            }
        }
        if hptr != array {
            p.consumed = 0;
        }
        p.must_consume = nh <= 4;
    }

    /// Stops tracking (and unpublishes) this thread's mappings that `[addr, addr+len)`
    /// overlaps in VMAR `vmar` (0: any VMAR).
    fn forget_maps_in(&mut self, vmar: u32, addr: u64, len: u64) {
        let end = addr.saturating_add(len);
        for i in 0..MAPS {
            if let Some(m) = self.maps[i]
                && (vmar == 0 || m.vmar == vmar)
                && m.addr < end
                && addr < m.addr + m.len
            {
                self.unpublish(m.published);
                self.maps[i] = None;
            }
        }
    }

    fn unpublish(&mut self, slot: Option<usize>) {
        if let Some(slot) = slot {
            // Mostly unpublished before the unmap; sometimes left for the toucher to find.
            if !self.rng.one_in(10) {
                PUBLISHED[slot].store(0, Ordering::Relaxed);
            }
        }
    }

    // ---- running -------------------------------------------------------------------

    fn run(&mut self) {
        for _ in 0..self.s.calls {
            let mut r = Rng(self.rng.next());
            let plan = self.plan(&mut r);
            self.execute(&plan);
            self.report();
        }
    }

    /// Adds one to word `word` of this thread's report record.
    fn count(&self, word: usize) {
        let record = self.s.report as usize as *const AtomicU64;
        // SAFETY: the report record is mapped for the whole run; only this thread writes
        // it; `word` is below RECORD_BYTES / 8.
        unsafe { (*record.add(word)).fetch_add(1, Ordering::Relaxed) };
    }

    fn report(&self) {
        let record = self.s.report as usize as *const AtomicU64;
        // SAFETY: the report record is mapped for the whole run and only this thread
        // writes it.
        unsafe {
            (*record).store(self.calls, Ordering::Relaxed);
            (*record.add(1)).store(self.surprises, Ordering::Relaxed);
        }
    }

    fn execute(&mut self, p: &Plan) {
        self.calls += 1;
        if self.s.verbose {
            say(format_args!("cfuzz: p{} t{} #{} {}", self.s.proc, self.s.thread, self.calls, Describe(p)));
        }
        if p.nr == 46 {
            let packet = Packet::user(self.calls, [self.calls; 4]);
            let at = self.scratch + PAGE_SIZE + 2048;
            // SAFETY: the scratch pages are ours.
            unsafe { core::ptr::write_volatile(at as usize as *mut Packet, packet) };
        }
        let record = self.s.report as usize as *const AtomicU64;
        // SAFETY: the report record is mapped for the whole run; word 3 is this thread's.
        unsafe { (*record.add(3)).store(p.nr.min(1 << 20) << 32 | p.args[0] & 0xFFFF_FFFF, Ordering::Relaxed) };
        let ret = raw(p.nr, p.args);
        self.count(REC_CALLS + (p.nr as usize).min(64));
        if p.value != 0 {
            self.count(REC_OKS + (p.nr as usize).min(64));
            self.check_value(p, ret);
            return;
        }
        let status = ret as i64 as i32;
        let at = STATUS_NAMES.iter().position(|(s, _)| *s == status).map_or(REC_OTHER_STATUS, |i| REC_STATUS + i);
        self.count(at);
        if status == OK {
            self.count(REC_OKS + (p.nr as usize).min(64));
        }
        if ret as i64 != status as i64 || status > 0 || p.allowed & bit(status) == 0 {
            self.surprise(p, status, "status outside the model");
        }
        // Handles the call may have consumed.
        for &i in &p.consumes[..p.consumed] {
            let Some(s) = self.slots[i] else { continue };
            let gone = !valid(s.value);
            if gone {
                self.slots[i] = None;
            } else if p.must_consume || status == OK {
                self.surprise(p, status, "a consumed handle still works");
                let _ = handle_close(s.value);
                self.slots[i] = None;
            }
        }
        if status != OK {
            return;
        }
        for (out, kind) in p.new_handles {
            if kind.is_some() {
                // SAFETY: `out` lies in the scratch pages.
                let value = unsafe { core::ptr::read_volatile(out as usize as *const u32) };
                self.take_new(p, value);
            }
        }
        if let Some((vmar, out, len, writable, publish)) = p.mapping {
            // SAFETY: `out` lies in the scratch pages.
            let addr = unsafe { core::ptr::read_volatile(out as usize as *const u64) };
            let len = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
            self.track_map(vmar, addr, len, writable, publish);
        }
        if let Some((o1, o2)) = p.alloc {
            // SAFETY: both lie in the scratch pages.
            let (value, addr) = unsafe {
                (
                    core::ptr::read_volatile(o1 as usize as *const u32),
                    core::ptr::read_volatile(o2 as usize as *const u64),
                )
            };
            if addr % PAGE_SIZE != 0 || addr < USER_BASE {
                self.surprise(p, status, "vmar_allocate placed a region outside user space");
            }
            self.take_new(p, value);
        }
        if let Some((handles, ah)) = p.received {
            // SAFETY: both lie in the scratch pages.
            let n = unsafe { core::ptr::read_volatile(ah as usize as *const u32) };
            if n > 64 {
                self.surprise(p, status, "more than 64 handles received");
                return;
            }
            for i in 0..n as u64 {
                // SAFETY: as above.
                let value = unsafe { core::ptr::read_volatile((handles + 4 * i) as usize as *const u32) };
                self.take_new(p, value);
            }
            if let Some((channel, bytes, ab)) = p.echo {
                // SAFETY: as above.
                let nb = if ab != 0 { unsafe { core::ptr::read_volatile(ab as usize as *const u32) } } else { 0 };
                if self.in_scratch(bytes) && nb >= 4 && bytes + nb as u64 <= self.scratch + SCRATCH_PAGES * PAGE_SIZE {
                    let _ = raw(43, [channel as u64, 0, bytes, nb as u64, 0, 0, 0, 0]);
                }
            }
        }
    }

    fn in_scratch(&self, ptr: u64) -> bool {
        ptr >= self.scratch && ptr < self.scratch + SCRATCH_PAGES * PAGE_SIZE
    }

    fn take_new(&mut self, p: &Plan, value: u32) {
        if value & 3 != 3 {
            self.surprise(p, 0, "a new handle value without both low bits set");
            return;
        }
        if self.find(value).is_some() {
            self.surprise(p, 0, "a new handle value equals a live one");
            return;
        }
        self.adopt(value, false);
    }

    fn track_map(&mut self, vmar: u32, addr: u64, len: u64, writable: bool, publish: bool) {
        let i = (self.calls as usize) % MAPS;
        if let Some(old) = self.maps[i] {
            self.unpublish(old.published);
            // Only a mapping through a root VMAR is unmapped here; a sub-VMAR's stay
            // until the fuzz unmaps them or the region goes.
            if self.slots.iter().flatten().any(|s| s.value == old.vmar && s.kind == Kind::RootVmar) {
                let _ = vmar_unmap(old.vmar, old.addr, old.len);
            }
        }
        let mut published = None;
        if self.s.publish && publish && len > 0 {
            let slot = self.s.thread as usize * 4 + self.publish_next % 4;
            self.publish_next += 1;
            let pages = (len / PAGE_SIZE).min(16);
            PUBLISHED[slot].store(addr | pages << 48 | writable as u64, Ordering::Relaxed);
            published = Some(slot);
        }
        self.maps[i] = Some(Map { vmar, addr, len, published });
    }

    fn check_value(&mut self, p: &Plan, ret: u64) {
        let value = ret as i64;
        let bad = match p.value {
            3 => {
                let bad = value < self.last_clock;
                self.last_clock = value;
                bad
            }
            57 => {
                let bad = ret < self.last_ticks;
                self.last_ticks = ret;
                bad
            }
            58 => ret != user::rt::counter_frequency(),
            59 => ret == 0 || ret > 64,
            60 => ret != 4096,
            _ => false,
        };
        if bad {
            self.surprise(p, 0, "a value call returned a wrong value");
        }
    }

    fn surprise(&mut self, p: &Plan, status: Status, what: &str) {
        self.surprises += 1;
        self.report();
        if self.surprises > 10 {
            return;
        }
        let mut allowed = TextBuf::<200>::new();
        for (i, (_, name)) in STATUS_NAMES.iter().enumerate() {
            if p.allowed & (1 << i) != 0 {
                let _ = write!(allowed, " {name}");
            }
        }
        say(format_args!(
            "cfuzz: SURPRISE round {} process {} thread {} call {}: {} -> {} ({status}): {what}; allowed:{}; reproduce: seed={}",
            self.s.round,
            self.s.proc,
            self.s.thread,
            self.calls,
            Describe(p),
            status_name(status),
            allowed.as_str(),
            self.s.seed
        ));
    }

    fn surprise_text(&mut self, args: core::fmt::Arguments<'_>) {
        self.surprises += 1;
        self.report();
        if self.surprises <= 10 {
            say(format_args!(
                "cfuzz: SURPRISE round {} process {} thread {} call {}: {args}",
                self.s.round, self.s.proc, self.s.thread, self.calls
            ));
        }
    }

    /// The controller's threads close everything they made: every slot, their mappings
    /// (the home region with everything in it), the scratch pages.
    fn cleanup(&mut self) {
        for i in 0..MAPS {
            if let Some(m) = self.maps[i].take()
                && self.slots.iter().flatten().any(|s| s.value == m.vmar && s.kind == Kind::RootVmar)
            {
                let _ = vmar_unmap(m.vmar, m.addr, m.len);
            }
        }
        for i in 0..SLOTS {
            if let Some(s) = self.slots[i].take() {
                if s.kind == Kind::Vmar && !s.pinned && s.base != 0 {
                    // A sub-VMAR of this process outside home (one a worker placed in a
                    // region it got from us): destroy it too.
                    let _ = vmar_destroy(s.value);
                }
                if s.kind == Kind::Vmar && s.pinned {
                    let _ = vmar_destroy(s.value);
                }
                if handle_close(s.value).is_err() {
                    self.surprise_text(format_args!("closing live handle {:#x} at the end failed", s.value));
                }
            }
        }
        let _ = vmar_unmap(self.s.scratch_vmar, self.scratch, (SCRATCH_PAGES + 1) * PAGE_SIZE);
    }
}

/// A call, for messages.
struct Describe<'a>(&'a Plan);

impl core::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "syscall {}(", self.0.nr)?;
        for (i, a) in self.0.args.iter().enumerate() {
            write!(f, "{}{a:#x}", if i == 0 { "" } else { ", " })?;
        }
        write!(f, ")")
    }
}

fn fuzz_thread(s: &Setup) {
    let Some(mut f) = Fuzzer::new(s) else {
        say(format_args!("cfuzz: process {} thread {}: no scratch pages", s.proc, s.thread));
        let record = s.report as usize as *const AtomicU64;
        // SAFETY: the report record is mapped for the whole run.
        unsafe { (*record.add(1)).fetch_add(1, Ordering::Relaxed) };
        return;
    };
    f.run();
    if s.controller {
        f.cleanup();
    }
    f.report();
    let record = s.report as usize as *const AtomicU64;
    // SAFETY: the report record is mapped for the whole run.
    unsafe { (*record.add(3)).fetch_or(1 << 63, Ordering::Relaxed) };
}

/// The toucher: loads and stores through the mappings the fuzz threads of this process
/// published, until told to stop. A mapping unmapped, protected or shrunk meanwhile
/// kills the process with a fault, which the controller counts as an allowed end.
fn toucher(seed: u64) {
    let mut r = Rng(seed);
    while STOP.load(Ordering::Relaxed) == 0 {
        let word = PUBLISHED[r.below(PUBLISHED.len() as u64) as usize].load(Ordering::Relaxed);
        if word != 0 {
            let addr = word & 0x0000_FFFF_FFFF_F000;
            let pages = word >> 48;
            let at = addr + r.below(pages) * PAGE_SIZE + r.below(PAGE_SIZE);
            // SAFETY: a published fuzz mapping of this process; nothing in Rust refers to
            // it. If it is gone the process dies of the fault, which is allowed here.
            unsafe {
                let byte = core::ptr::read_volatile(at as usize as *const u8);
                if word & 1 != 0 && r.one_in(2) {
                    core::ptr::write_volatile(at as usize as *mut u8, byte.wrapping_add(1));
                }
            }
            let touches = TOUCHES.fetch_add(1, Ordering::Relaxed) + 1;
            let record = TOUCH_RECORD.load(Ordering::Relaxed);
            if record != 0 {
                // SAFETY: the report record is mapped for the process's whole life.
                unsafe { (*((record + 16) as usize as *const AtomicU64)).store(touches, Ordering::Relaxed) };
            }
        }
        if r.one_in(16) {
            ipc::nanosleep(ipc::deadline_after(r.below(100_000) as i64));
        }
    }
}

// ---- workers ---------------------------------------------------------------------------

/// The bootstrap message: words, then handles.
const BOOT_WORDS: usize = 8;

/// The first code of a worker process: `channel` carries its bootstrap message.
extern "C" fn worker_main(channel: u64, _arg: u64) -> ! {
    let channel = channel as u32;
    STOP.store(0, Ordering::Relaxed);
    TOUCHES.store(0, Ordering::Relaxed);
    TOUCH_RECORD.store(0, Ordering::Relaxed);
    for w in PUBLISHED.iter() {
        w.store(0, Ordering::Relaxed);
    }
    for w in FUTEXES.iter() {
        w.store(0, Ordering::Relaxed);
    }
    let (status, _) = object_wait_one(channel, ipc::CHANNEL_READABLE, ipc::deadline_after(30 * SEC));
    let mut bytes = [0u8; BOOT_WORDS * 8];
    let mut handles = [0u32; 64];
    let (read, _, nh) = ipc::channel_read(channel, &mut bytes, &mut handles);
    if status != OK || read != OK {
        process_exit(EXIT_SETUP);
    }
    let word = |i: usize| u64_at(&bytes, i * 8);
    let (seed, round, proc, threads, calls, toucher_role) = (word(0), word(1), word(2), word(3), word(4), word(5));
    let verbose = word(6) != 0;
    let threads = (threads as usize).min(MAX_THREADS);
    // handles: report VMO, root VMAR, process, then per thread: job, resource, shared VMO,
    // two channel ends.
    let (report_vmo, root_vmar, process) = (handles[0], handles[1], handles[2]);
    if nh as usize != 3 + 5 * threads {
        process_exit(EXIT_SETUP);
    }
    let report_len = report_bytes();
    let Ok(report) = vmar_map(root_vmar, VM_RW, 0, report_vmo, 0, report_len) else { process_exit(EXIT_SETUP) };
    let ctx = Ctx {
        root_vmar,
        root_resource: 0,
        cmdline: "",
        entry_sp: 0,
        start_ticks: 0,
        regs: [root_vmar as u64, 0, 0, process as u64, 0, 0, 0, 0],
    };
    let mut setups = [Setup::default(); MAX_THREADS];
    let mut echo_ends = [0u32; MAX_THREADS];
    for (t, s) in setups.iter_mut().enumerate().take(threads) {
        let h = &handles[3 + 5 * t..8 + 5 * t];
        let Ok((home, _)) = vmar_allocate(root_vmar, 0x1C0 | VM_CAN_MAP_EXECUTE, 0, HOME_LEN) else {
            process_exit(EXIT_SETUP)
        };
        let home_dup = handle_duplicate(&home, SAME_RIGHTS).map(Handle::into_raw).unwrap_or(0);
        *s = Setup {
            seed,
            round,
            proc,
            thread: t as u64,
            calls,
            controller: false,
            publish: toucher_role != 0,
            scratch_vmar: root_vmar,
            job: h[0],
            resource: h[1],
            home: home.into_raw(),
            process: handle_duplicate(process, SAME_RIGHTS).map(Handle::into_raw).unwrap_or(0),
            root_vmar: handle_duplicate(root_vmar, SAME_RIGHTS).map(Handle::into_raw).unwrap_or(0),
            shared_vmo: h[2],
            chans: [h[3], h[4]],
            home_dup,
            echo: echo_pair(&mut echo_ends, t),
            report: report + record_offset(proc, t as u64),
            verbose,
        };
    }
    let bodies: [_; MAX_THREADS] = core::array::from_fn(|t| {
        let s = &setups[t];
        move || fuzz_thread(s)
    });
    let mut running: [Option<Thread<'_>>; MAX_THREADS] = Default::default();
    let mut thread_handles = [0u32; MAX_THREADS];
    for t in 0..threads {
        match Thread::spawn(&ctx, &bodies[t]) {
            Ok(thread) => {
                thread_handles[t] = handle_duplicate(thread.handle(), SAME_RIGHTS).map(Handle::into_raw).unwrap_or(0);
                running[t] = Some(thread);
            }
            Err(_) => process_exit(EXIT_SETUP),
        }
    }
    TOUCH_RECORD.store(report + record_offset(proc, 15), Ordering::Relaxed);
    let touch = || toucher(seed ^ proc << 32 ^ round);
    let touching = if toucher_role != 0 { Thread::spawn(&ctx, &touch).ok() } else { None };
    let echo_stop = AtomicU32::new(0);
    let echo = || echo_server(&echo_ends[..threads], &echo_stop);
    let echoing = Thread::spawn(&ctx, &echo).ok();
    // The reaper may kill these threads.
    let live: &[u32] = &thread_handles[..threads];
    let _ = ipc::channel_write(channel, b"threads", live);
    let mut hung = false;
    for t in running.iter_mut().filter_map(Option::take) {
        if t.join(300 * SEC).is_err() {
            hung = true;
        }
    }
    STOP.store(1, Ordering::Relaxed);
    echo_stop.store(1, Ordering::Relaxed);
    if let Some(t) = touching {
        let _ = t.join(10 * SEC);
    }
    if let Some(t) = echoing {
        let _ = t.join(10 * SEC);
    }
    process_exit(if hung { EXIT_HANG } else { EXIT_OK })
}

/// One thread's report record: words 0..4 calls, surprises, touches, last call; then
/// the calls per status (STATUS_NAMES order, word 30 any other), per syscall number
/// (64: unknown numbers) and the OKs per number.
const RECORD_BYTES: u64 = 2048;
const REC_STATUS: usize = 8;
const REC_OTHER_STATUS: usize = 30;
const REC_CALLS: usize = 32;
const REC_OKS: usize = 100;

fn report_bytes() -> u64 {
    ((MAX_WORKERS as u64 + 1) * 16 * RECORD_BYTES).div_ceil(PAGE_SIZE) * PAGE_SIZE
}

fn record_offset(proc: u64, thread: u64) -> u64 {
    (proc * 16 + thread) * RECORD_BYTES
}

// ---- the controller --------------------------------------------------------------------

struct Config {
    seed: u64,
    rounds: u64,
    workers: usize,
    threads: usize,
    cthreads: usize,
    calls_per_thread: u64,
    verbose: bool,
}

struct Totals {
    calls: u64,
    surprises: u64,
    hangs: u64,
    exits: [u64; 4], // ok, killed, fault, fuzz exit
    odd_exits: u64,
    touches: u64,
    kills: u64,
    statuses: [u64; 32],
    per_nr: [u64; 65],
    oks: [u64; 65],
    /// Canary bytes changed and report records that do not add up.
    corrupted: u64,
}

fn main(ctx: &Ctx) -> i64 {
    let seed = ctx.arg_u64("seed").unwrap_or(1);
    let calls = ctx.arg_u64("calls").unwrap_or(20_000);
    let rounds = ctx.arg_u64("rounds").unwrap_or(3).max(1);
    let workers = (ctx.arg_u64("workers").unwrap_or(3) as usize).clamp(1, MAX_WORKERS);
    let threads = (ctx.arg_u64("threads").unwrap_or(3) as usize).clamp(1, MAX_THREADS);
    let cthreads = (ctx.arg_u64("cthreads").unwrap_or(2) as usize).clamp(1, MAX_THREADS);
    let per_round = (workers * threads + cthreads) as u64;
    // Round 0 (the warm-up) counts as a round of calls too.
    let calls_per_thread = (calls / ((rounds + 1) * per_round)).max(1);
    let config =
        Config { seed, rounds, workers, threads, cthreads, calls_per_thread, verbose: ctx.arg("verbose") == Some("1") };
    println!("running 1 test");
    println!(
        "cfuzz: seed={seed} calls={calls} rounds={rounds} (+1 warm-up) workers={workers} threads={threads} cthreads={cthreads} calls/thread/round={calls_per_thread} cpus={}",
        ipc::num_cpus()
    );
    let mut totals = Totals {
        calls: 0,
        surprises: 0,
        hangs: 0,
        exits: [0; 4],
        odd_exits: 0,
        touches: 0,
        kills: 0,
        statuses: [0; 32],
        per_nr: [0; 65],
        oks: [0; 65],
        corrupted: 0,
    };
    let verdict = run(ctx, &config, &mut totals);
    println!(
        "cfuzz: totals: calls={} surprises={} hangs={} corrupted={} workers: exited={} killed={} faulted={} fuzz-exited={} other={} kills={} touches={}",
        totals.calls,
        totals.surprises,
        totals.hangs,
        totals.corrupted,
        totals.exits[0],
        totals.exits[1],
        totals.exits[2],
        totals.exits[3],
        totals.odd_exits,
        totals.kills,
        totals.touches
    );
    let mut line = TextBuf::<1024>::new();
    for (i, (_, name)) in STATUS_NAMES.iter().enumerate() {
        if totals.statuses[i] > 0 {
            let _ = write!(line, " {name}={}", totals.statuses[i]);
        }
    }
    if totals.statuses[REC_OTHER_STATUS - REC_STATUS] > 0 {
        let _ = write!(line, " other={}", totals.statuses[REC_OTHER_STATUS - REC_STATUS]);
    }
    println!("cfuzz: calls per status:{}", line.as_str());
    let called = (0..64).filter(|&nr| totals.per_nr[nr] > 0).count();
    let succeeded = (1..64).filter(|&nr| totals.oks[nr] > 0).count();
    let mut never = TextBuf::<300>::new();
    for nr in 1..64 {
        if totals.oks[nr] == 0 && nr != 2 && nr != 32 {
            let _ = write!(never, " {nr}");
        }
    }
    println!(
        "cfuzz: syscall numbers called: {called} of 0..=63 and {} calls of unknown numbers; numbers that returned OK: {succeeded} of 1..=63 (never, besides the exits 2 and 32:{})",
        totals.per_nr[64],
        never.as_str()
    );
    let clean = totals.surprises == 0 && totals.hangs == 0 && totals.odd_exits == 0 && totals.corrupted == 0;
    let verdict = match &verdict {
        Ok(()) if clean => Ok(()),
        Ok(()) => Err("surprises, hangs, corruption or workers that ended wrongly (above)"),
        Err(why) => Err(why.as_str()),
    };
    user::harness::report_one("cfuzz", verdict)
}

type Why = TextBuf<300>;

fn why(args: core::fmt::Arguments<'_>) -> Why {
    let mut text = Why::new();
    let _ = text.write_fmt(args);
    text
}

/// What is measured before and after.
struct Baseline {
    kmem: KmemStats,
    objects: [u64; 32],
    handles: [u32; 64],
}

fn measure(ctx: &Ctx) -> Result<Baseline, Why> {
    let kmem = kmem_stats(ctx.root_resource).map_err(|s| why(format_args!("KMEM_STATS: {}", status_name(s))))?;
    let mut buf = [0u8; 256];
    object_get_info(ctx.root_resource, INFO_OBJECT_COUNTS, &mut buf)
        .map_err(|s| why(format_args!("the object-count topic: {} (boot with the word testinfo)", status_name(s))))?;
    let mut objects = [0u64; 32];
    for (i, o) in objects.iter_mut().enumerate() {
        *o = u64_at(&buf, i * 8);
    }
    object_get_info(ctx.process(), INFO_PROCESS_HANDLE_STATS, &mut buf)
        .map_err(|s| why(format_args!("PROCESS_HANDLE_STATS: {}", status_name(s))))?;
    let mut handles = [0u32; 64];
    for (i, h) in handles.iter_mut().enumerate() {
        *h = u32::from_le_bytes([buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]]);
    }
    Ok(Baseline { kmem, objects, handles })
}

/// Measures until `settled` holds of the measurement, or for about a second (50 looks
/// 20 ms apart): exited threads are reaped by the next context switch on their CPU, so
/// the counts may take a moment to come down. Returns the last measurement either way.
fn measure_when(ctx: &Ctx, settled: impl Fn(&Baseline) -> bool) -> Result<Baseline, Why> {
    let mut now = measure(ctx)?;
    for _ in 0..50 {
        if settled(&now) {
            break;
        }
        ipc::nanosleep(ipc::deadline_after(20 * ipc::MSEC));
        now = measure(ctx)?;
    }
    Ok(now)
}

const TYPE_NAMES: [(usize, &str); 12] = [
    (0, "store-vmo"),
    (1, "process"),
    (2, "thread"),
    (3, "vmo"),
    (4, "channel"),
    (5, "event"),
    (6, "port"),
    (15, "resource"),
    (16, "eventpair"),
    (17, "job"),
    (18, "vmar"),
    (22, "timer"),
];

fn run(ctx: &Ctx, config: &Config, totals: &mut Totals) -> Result<(), Why> {
    // Warm-up: one round, then the baseline.
    round(ctx, config, 0, totals)?;
    // The warm-up's last threads may still be on their way out, as at the end (below):
    // the baseline waits until only this process and its one thread are left, or it
    // would count a dying thread that the end's measurement then finds gone.
    let before =
        measure_when(ctx, |m| m.objects[OBJ_TYPE_PROCESS as usize] == 1 && m.objects[OBJ_TYPE_THREAD as usize] == 1)?;
    println!(
        "cfuzz: baseline after the warm-up: free_bytes={} mmu_overhead_bytes={} free_heap_bytes={}",
        before.kmem.free_bytes, before.kmem.mmu_overhead_bytes, before.kmem.free_heap_bytes
    );
    for r in 1..=config.rounds {
        round(ctx, config, r, totals)?;
    }
    // Everything is dead and closed; the last thread objects may still be on their way
    // out (reaped by the next context switch on their CPU): give them a moment.
    let after = measure_when(ctx, |m| m.objects == before.objects && m.kmem.free_bytes == before.kmem.free_bytes)?;
    // Allowed to stay: page tables this live process grew (ABI.md 4.3) and the kernel's
    // own tables for the kernel-stack area, kept at the most threads alive at once.
    let kernel_tables = after.objects[31].saturating_sub(before.objects[31]) * PAGE_SIZE;
    let grown_tables = after.kmem.mmu_overhead_bytes.saturating_sub(before.kmem.mmu_overhead_bytes) + kernel_tables;
    let leaked_bytes = before.kmem.free_bytes as i64 - after.kmem.free_bytes as i64 - grown_tables as i64;
    let mut objects_line = TextBuf::<600>::new();
    let mut leaked_objects = 0i64;
    for (ty, name) in TYPE_NAMES {
        let (b, a) = (before.objects[ty], after.objects[ty]);
        let _ = write!(objects_line, " {name}={b}->{a}");
        leaked_objects += (a as i64 - b as i64).abs();
    }
    for ty in 0..31 {
        if !TYPE_NAMES.iter().any(|(t, _)| *t == ty) {
            leaked_objects += (after.objects[ty] as i64 - before.objects[ty] as i64).abs();
        }
    }
    let mut leaked_handles = 0i64;
    let mut handles_line = TextBuf::<300>::new();
    for ty in 0..64 {
        let (b, a) = (before.handles[ty], after.handles[ty]);
        if b != 0 || a != 0 {
            let _ = write!(handles_line, " type{ty}={b}->{a}");
        }
        leaked_handles += (a as i64 - b as i64).abs();
    }
    println!(
        "cfuzz: free_bytes {} -> {} (page tables grown {grown_tables}), wired_bytes {} -> {}, vmo_bytes {} -> {}, total_heap_bytes {} -> {}, free_heap_bytes {} -> {}, ipc_bytes {} -> {}",
        before.kmem.free_bytes,
        after.kmem.free_bytes,
        before.kmem.wired_bytes,
        after.kmem.wired_bytes,
        before.kmem.vmo_bytes,
        after.kmem.vmo_bytes,
        before.kmem.total_heap_bytes,
        after.kmem.total_heap_bytes,
        before.kmem.free_heap_bytes,
        after.kmem.free_heap_bytes,
        before.kmem.ipc_bytes,
        after.kmem.ipc_bytes
    );
    println!("cfuzz: live objects:{}", objects_line.as_str());
    println!("cfuzz: handles of this process:{}", handles_line.as_str());
    println!("cfuzz: leaked: bytes={leaked_bytes} objects={leaked_objects} handles={leaked_handles}");
    if leaked_bytes != 0 || leaked_objects != 0 || leaked_handles != 0 {
        return Err(why(format_args!(
            "leaked {leaked_bytes} bytes, {leaked_objects} objects, {leaked_handles} handles"
        )));
    }
    Ok(())
}

/// One round: a job with the workers, this process's fuzz threads and the reaper; then
/// every worker dead, the job killed and every handle of the round closed.
fn round(ctx: &Ctx, config: &Config, r: u64, totals: &mut Totals) -> Result<(), Why> {
    let fail = |what: &str, s: Status| why(format_args!("round {r}: {what}: {}", status_name(s)));
    let job = ipc::job_create(ctx.root_job()).map_err(|s| fail("job_create", s))?;
    let report_vmo = vmo_create(report_bytes(), 0).map_err(|s| fail("report VMO", s))?;
    let report =
        Mapping::new(ctx.root_vmar, VM_RW, 0, &report_vmo, 0, report_bytes()).map_err(|s| fail("report mapping", s))?;
    let shared = vmo_create(16 * PAGE_SIZE, VMO_RESIZABLE).map_err(|s| fail("shared VMO", s))?;
    let (w, t, c) = (config.workers, config.threads, config.cthreads);
    // The ring: fuzz thread k (controller threads first, then each worker's) gets end A
    // of pair k and end B of pair k-1.
    let n = c + w * t;
    let mut ring = [(0u32, 0u32); MAX_THREADS * (MAX_WORKERS + 1)];
    for pair in ring.iter_mut().take(n) {
        let (a, b) = ipc::channel_create().map_err(|s| fail("channel_create", s))?;
        *pair = (a.into_raw(), b.into_raw());
    }
    let ends = |k: usize| [ring[k].0, ring[(k + n - 1) % n].1];
    let dup = |h: u32| handle_duplicate(h, SAME_RIGHTS).map(Handle::into_raw).unwrap_or(0);
    // Workers.
    let mut copies: [Option<ipc::Spawned>; MAX_WORKERS] = Default::default();
    for i in 0..w {
        let copy = ipc::spawn_copy_in(ctx, job.raw(), b"cfuzz-worker", worker_main, 0)
            .map_err(|s| fail("starting a worker", s))?;
        let proc = i as u64 + 1;
        let toucher = (r + i as u64) % w as u64 == 0;
        let words = [config.seed, r, proc, t as u64, config.calls_per_thread, toucher as u64, config.verbose as u64, 0];
        let mut bytes = [0u8; BOOT_WORDS * 8];
        for (k, word) in words.iter().enumerate() {
            bytes[k * 8..k * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        let mut handles = [0u32; 64];
        handles[0] = dup(report_vmo.raw());
        handles[1] = dup(copy.vmar.raw());
        handles[2] = dup(copy.process.raw());
        for th in 0..t {
            let [a, b] = ends(c + i * t + th);
            handles[3 + 5 * th..8 + 5 * th].copy_from_slice(&[
                dup(job.raw()),
                dup(ctx.root_resource),
                dup(shared.raw()),
                a,
                b,
            ]);
        }
        ipc::channel_write(&copy.channel, &bytes, &handles[..3 + 5 * t]).map_err(|s| fail("bootstrap", s))?;
        copies[i] = Some(copy);
    }
    // This process's fuzz threads: no root VMAR, no process handle of ours, in slots.
    let mut setups = [Setup::default(); MAX_THREADS];
    let mut echo_ends = [0u32; MAX_THREADS];
    for (th, s) in setups.iter_mut().enumerate().take(c) {
        let (home, _) = vmar_allocate(ctx.root_vmar, 0x1C0 | VM_CAN_MAP_EXECUTE, 0, HOME_LEN)
            .map_err(|s| fail("vmar_allocate", s))?;
        let [a, b] = ends(th);
        *s = Setup {
            seed: config.seed,
            round: r,
            proc: 0,
            thread: th as u64,
            calls: config.calls_per_thread,
            controller: true,
            publish: false,
            scratch_vmar: ctx.root_vmar,
            job: dup(job.raw()),
            resource: dup(ctx.root_resource),
            home_dup: dup(home.raw()),
            home: home.into_raw(),
            process: 0,
            root_vmar: 0,
            shared_vmo: dup(shared.raw()),
            chans: [a, b],
            echo: echo_pair(&mut echo_ends, th),
            report: report.addr() + record_offset(0, th as u64),
            verbose: config.verbose,
        };
    }
    let bodies: [_; MAX_THREADS] = core::array::from_fn(|th| {
        let s = &setups[th];
        move || fuzz_thread(s)
    });
    let mut running: [Option<Thread<'_>>; MAX_THREADS] = Default::default();
    for th in 0..c {
        running[th] = Some(Thread::spawn(ctx, &bodies[th]).map_err(|s| fail("spawning a fuzz thread", s))?);
    }
    let echo_stop = AtomicU32::new(0);
    let echo = || echo_server(&echo_ends[..c], &echo_stop);
    let echoing = Thread::spawn(ctx, &echo).map_err(|s| fail("spawning the echo thread", s))?;
    // The reaper.
    let done = AtomicU32::new(0);
    let kills = AtomicU64::new(0);
    let procs: [u32; MAX_WORKERS] = core::array::from_fn(|i| copies[i].as_ref().map_or(0, |c| c.process.raw()));
    let chans: [u32; MAX_WORKERS] = core::array::from_fn(|i| copies[i].as_ref().map_or(0, |c| c.channel.raw()));
    let corrupted = AtomicU64::new(0);
    let reap = || reaper(stream(config.seed, r, 0, 15), &procs[..w], &chans[..w], &done, &kills, &corrupted);
    let reaper_thread = Thread::spawn(ctx, &reap).map_err(|s| fail("spawning the reaper", s))?;
    // Every worker ends (exits, is killed, faults) within the bound, or it is a hang.
    let limit = ipc::deadline_after(600 * SEC);
    for (i, copy) in copies.iter().enumerate().take(w) {
        let Some(copy) = copy else { continue };
        let (status, _) = object_wait_one(&copy.process, ipc::TASK_TERMINATED, limit);
        if status != OK {
            totals.hangs += 1;
            println!("cfuzz: HANG: round {r}: worker {} did not end within 600 s", i + 1);
        }
    }
    for th in running.iter_mut().filter_map(Option::take) {
        if th.join(300 * SEC).is_err() {
            totals.hangs += 1;
            println!("cfuzz: HANG: round {r}: a fuzz thread of the controller did not end within 300 s");
        }
    }
    echo_stop.store(1, Ordering::Relaxed);
    if echoing.join(30 * SEC).is_err() {
        totals.hangs += 1;
        println!("cfuzz: HANG: round {r}: the echo thread did not end");
    }
    done.store(1, Ordering::Relaxed);
    if reaper_thread.join(30 * SEC).is_err() {
        totals.hangs += 1;
        println!("cfuzz: HANG: round {r}: the reaper did not end");
    }
    let _ = ipc::task_kill(&job);
    if ipc::wait_terminated(&job, 60 * SEC).is_err() {
        totals.hangs += 1;
        println!("cfuzz: HANG: round {r}: the round's job did not end within 60 s of its kill");
    }
    // Results.
    let mut round_calls = 0;
    let mut round_surprises = 0;
    for proc in 0..=w as u64 {
        for th in 0..16 {
            let at = report.addr() + record_offset(proc, th);
            // SAFETY: the report mapping is ours and no other thread writes it any more.
            let (calls, surprises, touches) = unsafe {
                (
                    core::ptr::read_volatile(at as usize as *const u64),
                    core::ptr::read_volatile((at + 8) as usize as *const u64),
                    core::ptr::read_volatile((at + 16) as usize as *const u64),
                )
            };
            if proc == 0 && (th as usize) < config.cthreads {
                // SAFETY: as above.
                let last = unsafe { core::ptr::read_volatile((at + 24) as usize as *const u64) };
                if last >> 63 == 0 {
                    println!(
                        "cfuzz: round {r}: controller fuzz thread {th} did not finish; its last call: {:#x}",
                        last
                    );
                }
            }
            // A record whose per-status or per-number counts do not add up to its calls
            // (give or take the call under way when a thread died) was written by
            // something else: a store through a stale translation?
            let by_status: u64 = (REC_STATUS..=REC_OTHER_STATUS).map(|w| record_word(at, w)).sum();
            let by_nr: u64 = (0..65).map(|nr| record_word(at, REC_CALLS + nr)).sum();
            if th < 15 && (by_nr < calls || by_nr > calls + 1 || by_status > by_nr) {
                totals.corrupted += 1;
                println!(
                    "cfuzz: CORRUPTED: round {r}: the report record of process {proc} thread {th} does not add up: {calls} calls, {by_nr} by number, {by_status} by status"
                );
            }
            for w in 0..=REC_OTHER_STATUS - REC_STATUS {
                totals.statuses[w] += record_word(at, REC_STATUS + w);
            }
            for nr in 0..65 {
                totals.per_nr[nr] += record_word(at, REC_CALLS + nr);
                totals.oks[nr] += record_word(at, REC_OKS + nr);
            }
            round_calls += calls;
            round_surprises += surprises;
            totals.touches += touches;
        }
    }
    let mut ends_line = TextBuf::<200>::new();
    for (i, copy) in copies.iter().enumerate().take(w) {
        let Some(copy) = copy else { continue };
        let mut info = [0u8; 16];
        let code = match object_get_info(&copy.process, INFO_PROCESS, &mut info) {
            Ok(_) => u64_at(&info, 0) as i64,
            Err(_) => i64::MIN,
        };
        let _ = write!(ends_line, " {}:{code}", i + 1);
        match code {
            EXIT_OK => totals.exits[0] += 1,
            RETCODE_KILLED => totals.exits[1] += 1,
            RETCODE_FAULT => totals.exits[2] += 1,
            EXIT_FUZZ_EXIT => totals.exits[3] += 1,
            EXIT_HANG => {
                totals.hangs += 1;
                println!("cfuzz: HANG: round {r}: a fuzz thread of worker {} did not end within 300 s", i + 1);
            }
            _ => {
                totals.odd_exits += 1;
                println!("cfuzz: round {r}: worker {} ended with return code {code}", i + 1);
            }
        }
    }
    totals.calls += round_calls;
    totals.surprises += round_surprises;
    totals.kills += kills.load(Ordering::Relaxed);
    totals.corrupted += corrupted.load(Ordering::Relaxed);
    println!(
        "cfuzz: round {r}: {round_calls} calls, {round_surprises} surprises, workers' return codes:{}, {} kills",
        ends_line.as_str(),
        kills.load(Ordering::Relaxed)
    );
    drop(copies);
    Ok(())
}

/// A channel pair: one end into `ends[i]` (for the echo thread), the other returned
/// (for fuzz thread `i`); 0 when it cannot be made.
fn echo_pair(ends: &mut [u32; MAX_THREADS], i: usize) -> u32 {
    match ipc::channel_create() {
        Ok((mine, theirs)) => {
            ends[i] = mine.into_raw();
            theirs.into_raw()
        }
        Err(_) => 0,
    }
}

/// Answers every message arriving on `ends` with the same bytes and handles (so the
/// fuzz's `zx_channel_call`s through the other ends, wherever those ends travelled, get
/// their replies), until `stop`; then closes the ends.
fn echo_server(ends: &[u32], stop: &AtomicU32) {
    let mut live = [0u32; MAX_THREADS];
    live[..ends.len()].copy_from_slice(ends);
    let mut bytes = [0u8; 4096];
    let mut handles = [0u32; 64];
    while stop.load(Ordering::Relaxed) == 0 {
        let mut items = [WaitItem::default(); MAX_THREADS];
        let mut n = 0;
        for &end in live.iter().filter(|&&e| e != 0) {
            items[n] = WaitItem { handle: end, waitfor: ipc::CHANNEL_READABLE | ipc::PEER_CLOSED, pending: 0 };
            n += 1;
        }
        if n == 0 {
            break;
        }
        ipc::wait_many(&mut items[..n], ipc::deadline_after(5 * ipc::MSEC));
        for item in &items[..n] {
            if item.pending & ipc::CHANNEL_READABLE != 0 {
                let (status, nb, nh) =
                    ipc::channel_read_opts(item.handle, ipc::CHANNEL_READ_MAY_DISCARD, &mut bytes, &mut handles);
                if status == OK {
                    let _ = ipc::channel_write(item.handle, &bytes[..nb as usize], &handles[..nh as usize]);
                }
            } else if item.pending & ipc::PEER_CLOSED != 0
                && let Some(slot) = live.iter_mut().find(|e| **e == item.handle)
            {
                let _ = handle_close(*slot);
                *slot = 0;
            }
        }
    }
    for &end in live.iter().filter(|&&e| e != 0) {
        let _ = handle_close(end);
    }
}

/// Word `word` of the report record at `at` (a mapping of the controller's).
fn record_word(at: u64, word: usize) -> u64 {
    // SAFETY: the report mapping is the controller's and stays for the round.
    unsafe { core::ptr::read_volatile((at + 8 * word as u64) as usize as *const u64) }
}

/// Kills worker threads (their handles arrive on the bootstrap channels) and, now and
/// then, a whole worker, at random moments until the round is over.
///
/// Meanwhile it keeps a canary: a 16-page VMO of this process filled with a pattern,
/// checked and replaced every step. Frames the workers free are soon reused (the frame
/// allocator hands out the most recently freed first), so a store through a translation
/// that outlived its page (unmap, protect, shrink, decommit, a dead process) would likely
/// land in a canary: each changed byte counts in `corrupted`.
fn reaper(mut r: Rng, procs: &[u32], chans: &[u32], done: &AtomicU32, kills: &AtomicU64, corrupted: &AtomicU64) {
    let mut threads = [0u32; MAX_THREADS * MAX_WORKERS];
    let mut n = 0;
    let mut canary: Option<Handle> = None;
    let mut page = [0u8; PAGE_SIZE as usize];
    let check = |vmo: &Handle, page: &mut [u8; PAGE_SIZE as usize]| {
        for i in 0..CANARY_PAGES {
            if vmo_read(vmo, page, i * PAGE_SIZE).is_err() {
                corrupted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(at) = page.iter().position(|&b| b != CANARY) {
                say(format_args!(
                    "cfuzz: CORRUPTED: byte {} of canary page {i} reads {:#04x}, not {CANARY:#04x} (a store through a stale translation?)",
                    at, page[at]
                ));
                corrupted.fetch_add(page.iter().filter(|&&b| b != CANARY).count() as u64, Ordering::Relaxed);
            }
        }
    };
    while done.load(Ordering::Relaxed) == 0 {
        ipc::nanosleep(ipc::deadline_after((1 + r.below(40)) as i64 * ipc::MSEC));
        if let Some(vmo) = canary.take() {
            check(&vmo, &mut page);
        }
        if let Ok(vmo) = vmo_create(CANARY_PAGES * PAGE_SIZE, 0) {
            let fill = [CANARY; PAGE_SIZE as usize];
            if (0..CANARY_PAGES).all(|i| vmo_write(&vmo, &fill, i * PAGE_SIZE).is_ok()) {
                canary = Some(vmo);
            }
        }
        for &ch in chans {
            let mut bytes = [0u8; 16];
            let mut handles = [0u32; MAX_THREADS];
            let (status, _, nh) = ipc::channel_read(ch, &mut bytes, &mut handles);
            if status == OK {
                for &h in &handles[..nh as usize] {
                    if n < threads.len() {
                        threads[n] = h;
                        n += 1;
                    } else {
                        let _ = handle_close(h);
                    }
                }
            }
        }
        match r.below(10) {
            0..=3 if n > 0 => {
                let victim = threads[r.below(n as u64) as usize];
                if ipc::task_kill(victim).is_ok() {
                    kills.fetch_add(1, Ordering::Relaxed);
                }
            }
            4 if !procs.is_empty() && r.one_in(30) => {
                let victim = procs[r.below(procs.len() as u64) as usize];
                if ipc::task_kill(victim).is_ok() {
                    kills.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
    if let Some(vmo) = canary.take() {
        check(&vmo, &mut page);
    }
    for &h in &threads[..n] {
        let _ = handle_close(h);
    }
}

/// Pages of the reaper's canary, and their byte.
const CANARY_PAGES: u64 = 16;
const CANARY: u8 = 0xA5;
