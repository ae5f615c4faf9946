//! `ferrite-rt`: the runtime of Ferrite's EL0 programs.
//!
//! - Program entry: `_start` takes the registers the kernel (the first process, ABI.md
//!   §2: x0–x7) or a launcher (x0 = bootstrap channel, x1 = argument block) left, sets up
//!   the heap and the startup handles, and calls the function named by [`main!`]; its
//!   return value is the exit code.
//! - [`startup`]: the handles the program was given (root VMAR, its process and thread,
//!   its job, the root resource, the boot archive), [`args`], the kernel command line.
//! - A heap (`alloc`), [`print!`]/[`println!`] over `zx_debug_write`, a panic handler that
//!   prints the message and exits with code 1.
//! - [`thread::spawn`]/[`thread::JoinHandle::join`], [`sync::Mutex`], [`sync::Condvar`].
//! - [`process`]: the launcher (start a program of the boot archive or of any VMO).
#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod heap;
pub mod print;
pub mod process;
pub mod sync;
pub mod thread;

pub use pure;
pub use zx;

use alloc::vec::Vec;
use pure::bootstrap;
use zx::{AsHandleRef, Channel, Handle, Job, Process, Resource, Thread, Vmar, VmarFlags, Vmo};

/// The handles and words a program starts with.
pub struct Startup {
    /// This process's root VMAR.
    pub root_vmar: Vmar,
    /// This process.
    pub process: Process,
    /// The first thread.
    pub thread: Thread,
    /// The job this program may start processes in (the root job for the first process).
    pub job: Option<Job>,
    /// The root job (the first process, and programs it trusts with it).
    pub root_job: Option<Job>,
    /// The root resource (the first process, and programs it trusts with it).
    pub resource: Option<Resource>,
    /// The kernel command line (the first process only; else empty).
    pub cmdline: &'static str,
    /// The arguments, `args[0]` being the program's name.
    pub args: Vec<&'static str>,
    /// The bootstrap channel (a launched program: the launcher holds the other end).
    pub channel: Option<Channel>,
    /// This is the first process, started by the kernel.
    pub is_first_process: bool,
    archive: Option<(Vmo, u64)>,
    extra: sync::Mutex<Vec<(u32, Handle)>>,
}

/// The boot archive, mapped read-only.
pub struct BootArchive {
    /// Its VMO.
    pub vmo: Vmo,
    /// Its bytes.
    pub bytes: &'static [u8],
}

struct Cell<T>(core::cell::UnsafeCell<Option<T>>);
// SAFETY: written once by the first thread before `main` (no other thread exists yet),
// read-only afterwards.
unsafe impl<T> Sync for Cell<T> {}

static STARTUP: Cell<Startup> = Cell(core::cell::UnsafeCell::new(None));
static ARCHIVE: sync::Mutex<Option<&'static BootArchive>> = sync::Mutex::new(None);
static MAIN_THREAD: thread::ThreadData = thread::ThreadData { id: 0, handle: 0 };

/// The startup handles and arguments.
pub fn startup() -> &'static Startup {
    // SAFETY: set before main runs and never changed afterwards.
    unsafe { (*STARTUP.0.get()).as_ref() }.expect("ferrite-rt: startup not done")
}

/// The program's arguments (`args()[0]` is its name).
pub fn args() -> &'static [&'static str] {
    &startup().args
}

/// Takes a handle the launcher passed under `tag` (`pure::bootstrap::USER + n`).
pub fn take_handle(tag: u32) -> Option<Handle> {
    let mut extra = startup().extra.lock();
    let at = extra.iter().position(|(t, _)| *t == tag)?;
    Some(extra.remove(at).1)
}

/// The boot archive, mapped read-only on first use (`None` when the program has none).
pub fn boot_archive() -> Option<&'static BootArchive> {
    let mut slot = ARCHIVE.lock();
    if let Some(a) = *slot {
        return Some(a);
    }
    let (vmo, len) = startup().archive.as_ref()?;
    let vmo = zx::HandleBased::duplicate_handle(vmo, zx::Rights::SAME_RIGHTS).ok()?;
    let size = (*len as usize).next_multiple_of(zx::PAGE_SIZE);
    let addr = startup().root_vmar.map(0, &vmo, 0, size, VmarFlags::PERM_READ).ok()?;
    // SAFETY: a read-only mapping of `len` bytes that stays mapped for the program's life.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, *len as usize) };
    let archive: &'static BootArchive = alloc::boxed::Box::leak(alloc::boxed::Box::new(BootArchive { vmo, bytes }));
    *slot = Some(archive);
    Some(archive)
}

/// Names the program's main function: `ferrite_rt::main!(main);` with `fn main() -> i32`.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn ferrite_rt_main() -> i32 {
            $main()
        }
    };
}

unsafe extern "Rust" {
    /// The program's main, defined by [`main!`].
    safe fn ferrite_rt_main() -> i32;
}

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".section .text.entry, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x8, sp",
    "    sub sp, sp, #80",
    "    stp x0, x1, [sp]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    str x8, [sp, #64]",
    "    mov x0, sp",
    "    bl {start}",
    "    brk #0xbad",
    ".size _start, . - _start",
    start = sym rt_start,
);

/// Reads the NUL-terminated string at `ptr` (at most 4096 bytes).
///
/// # Safety
/// `ptr` must point at readable memory up to a NUL or 4096 bytes, never changed again.
unsafe fn c_string(ptr: u64) -> &'static str {
    if ptr == 0 {
        return "";
    }
    let base = ptr as usize as *const u8;
    let mut len = 0;
    // SAFETY: the caller's promise.
    unsafe {
        while len < 4096 && core::ptr::read(base.add(len)) != 0 {
            len += 1;
        }
        core::str::from_utf8(core::slice::from_raw_parts(base, len)).unwrap_or("")
    }
}

/// Reads the bootstrap message of a launched program: its tags and handles (runs before
/// the heap exists, so everything is on the stack).
fn read_bootstrap(channel: &Channel) -> ([u32; 64], [Handle; 64]) {
    let mut bytes = [0u8; 8 + 4 * 64];
    let mut handles: [Handle; 64] = core::array::from_fn(|_| Handle::invalid());
    let mut tags = [0u32; 64];
    let Ok((nb, nh)) = channel.read(&mut bytes, &mut handles) else {
        return (tags, handles);
    };
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if nb == 8 + 4 * nh && word(0) == bootstrap::MAGIC && word(4) as usize == nh {
        for (i, tag) in tags.iter_mut().enumerate().take(nh) {
            *tag = word(8 + 4 * i);
        }
    }
    (tags, handles)
}

extern "C" fn rt_start(regs: &[u64; 9]) -> ! {
    thread::set_current(&MAIN_THREAD);
    let first = regs[2] != 0 && regs[1] & 3 == 3;
    let startup = if first {
        // The first process (ABI.md §2): x0 root VMAR, x1 root resource, x2 command line,
        // x3 process, x4 thread, x5 root job, x6 initrd VMO, x7 its length.
        heap::init(regs[0] as u32);
        let h = |i: usize| Handle::from_raw(regs[i] as u32);
        let root_job = Job::from(h(5));
        let job = zx::HandleBased::duplicate_handle(&root_job, zx::Rights::SAME_RIGHTS).ok();
        // SAFETY: ABI.md §2: x2 points at the NUL-terminated command line the kernel
        // copied into our memory.
        let cmdline = unsafe { c_string(regs[2]) };
        Startup {
            root_vmar: Vmar::from(h(0)),
            process: Process::from(h(3)),
            thread: Thread::from(h(4)),
            job,
            root_job: Some(root_job),
            resource: Some(Resource::from(h(1))),
            cmdline,
            args: alloc::vec!["init"],
            channel: None,
            is_first_process: true,
            archive: (regs[6] != 0).then(|| (Vmo::from(h(6)), regs[7])),
            extra: sync::Mutex::new(Vec::new()),
        }
    } else {
        let channel = Channel::from(Handle::from_raw(regs[0] as u32));
        let (tags, mut handles) = read_bootstrap(&channel);
        let mut take = |tag: u32| {
            let i = tags.iter().position(|t| *t == tag)?;
            let h = core::mem::take(&mut handles[i]);
            (!h.is_invalid()).then_some(h)
        };
        let root_vmar = Vmar::from(take(bootstrap::ROOT_VMAR).unwrap_or_default());
        heap::init(root_vmar.raw());
        let process = Process::from(take(bootstrap::PROCESS_SELF).unwrap_or_default());
        let thread = Thread::from(take(bootstrap::THREAD_SELF).unwrap_or_default());
        let job = take(bootstrap::JOB).map(Job::from);
        let root_job = take(bootstrap::ROOT_JOB).map(Job::from);
        let resource = take(bootstrap::RESOURCE).map(Resource::from);
        let archive = take(bootstrap::BOOT_ARCHIVE).map(Vmo::from).map(|v| {
            let len = v.get_content_size().unwrap_or(0);
            (v, len)
        });
        let extra: Vec<(u32, Handle)> =
            tags.iter().copied().zip(handles).filter(|(t, h)| *t != 0 && !h.is_invalid()).collect();
        let args = read_args(regs[1]);
        Startup {
            root_vmar,
            process,
            thread,
            job,
            root_job,
            resource,
            cmdline: "",
            args,
            channel: Some(channel),
            is_first_process: false,
            archive,
            extra: sync::Mutex::new(extra),
        }
    };
    // SAFETY: the only thread; nothing has read STARTUP yet.
    unsafe { *STARTUP.0.get() = Some(startup) };
    let code = ferrite_rt_main();
    zx::process_exit(code as i64)
}

/// The arguments in the block at `addr` (x1 of a launched program).
fn read_args(addr: u64) -> Vec<&'static str> {
    if addr == 0 || !addr.is_multiple_of(16) {
        return Vec::new();
    }
    let mut header = [0u8; pure::args::HEADER_LEN];
    // SAFETY: the launcher put the block at the top of our stack, above our SP, and
    // nothing writes there: the header's bytes are readable.
    unsafe { core::ptr::copy_nonoverlapping(addr as usize as *const u8, header.as_mut_ptr(), header.len()) };
    let Ok(total) = pure::args::total_len(&header) else {
        return Vec::new();
    };
    // SAFETY: the block is `total` bytes long (its header says so, checked to be at most
    // 64 KiB), inside the stack mapping, and never changed again.
    let block = unsafe { core::slice::from_raw_parts(addr as usize as *const u8, total) };
    pure::args::parse(block, addr).unwrap_or_default()
}

/// Maps a stack of `size` bytes (a fresh VMO) in `vmar` inside a sub-region one page
/// larger, whose lowest page stays unmapped: a guard page that turns an overflow into a
/// fault. Returns the region (destroy it to free the stack) and the stack's lowest address.
pub fn map_stack(vmar: &Vmar, size: usize) -> zx::Result<(Vmar, usize)> {
    let vmo = Vmo::create(size as u64)?;
    let (region, base) = vmar.allocate(
        0,
        size + zx::PAGE_SIZE,
        VmarFlags::CAN_MAP_READ | VmarFlags::CAN_MAP_WRITE | VmarFlags::CAN_MAP_SPECIFIC,
    )?;
    region.map(zx::PAGE_SIZE, &vmo, 0, size, VmarFlags::PERM_READ | VmarFlags::PERM_WRITE | VmarFlags::SPECIFIC)?;
    Ok((region, base + zx::PAGE_SIZE))
}

/// Whether a handle value is valid in this process.
pub fn handle_valid(h: &impl AsHandleRef) -> bool {
    h.get_info_raw(zx::abi::info::HANDLE_VALID, &mut []).is_ok()
}

/// The program's name for messages (before startup: "?").
fn startup_name() -> &'static str {
    // SAFETY: set once before main; a panic before that reads None.
    unsafe { (*STARTUP.0.get()).as_ref() }.and_then(|s| s.args.first().copied()).unwrap_or("?")
}
