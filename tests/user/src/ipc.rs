//! ABI v2 for the IPC tests: channels, ports, timers, events, waits, threads and
//! processes (ABI.md 4.2), one safe wrapper per call, plus two helpers: [`Thread`] runs
//! a closure on a new thread of this process, and [`spawn_copy`] starts a copy of this
//! very program in a new process (its segments copied into fresh VMOs and mapped at the
//! same addresses), entered at a function of the program with a channel end in x0, so
//! one ELF initrd can test IPC between processes.

use crate::rt::Ctx;
use crate::sys::{call, call_status};
use crate::zx::{self, AsRaw, Handle, Mapping, PAGE_SIZE, Status, ZxResult, addr_of, ok};

/// Syscall numbers (ABI.md section 4, v2).
pub mod nr {
    pub const PROCESS_CREATE: u64 = 26;
    pub const PROCESS_START: u64 = 27;
    pub const THREAD_CREATE: u64 = 30;
    pub const THREAD_START: u64 = 31;
    pub const THREAD_EXIT: u64 = 32;
    pub const TASK_KILL: u64 = 33;
    pub const JOB_CREATE: u64 = 34;
    pub const HANDLE_CLOSE_MANY: u64 = 35;
    pub const OBJECT_WAIT_MANY: u64 = 36;
    pub const OBJECT_WAIT_ASYNC: u64 = 37;
    pub const OBJECT_SIGNAL_PEER: u64 = 38;
    pub const EVENT_CREATE: u64 = 39;
    pub const EVENTPAIR_CREATE: u64 = 40;
    pub const CHANNEL_CREATE: u64 = 41;
    pub const CHANNEL_READ: u64 = 42;
    pub const CHANNEL_WRITE: u64 = 43;
    pub const CHANNEL_CALL: u64 = 44;
    pub const PORT_CREATE: u64 = 45;
    pub const PORT_QUEUE: u64 = 46;
    pub const PORT_WAIT: u64 = 47;
    pub const PORT_CANCEL: u64 = 48;
    pub const TIMER_CREATE: u64 = 52;
    pub const TIMER_SET: u64 = 53;
    pub const TIMER_CANCEL: u64 = 54;
    pub const NANOSLEEP: u64 = 55;
    pub const DEADLINE_AFTER: u64 = 56;
    pub const SYSTEM_GET_NUM_CPUS: u64 = 59;
    pub const DEBUG_READ: u64 = 61;
}

/// Signals.
pub const CHANNEL_READABLE: u32 = 1 << 0;
pub const CHANNEL_WRITABLE: u32 = 1 << 1;
pub const PEER_CLOSED: u32 = 1 << 2;
pub const SIGNALED: u32 = 1 << 3;
pub const TASK_TERMINATED: u32 = 1 << 3;
pub const SIGNAL_HANDLE_CLOSED: u32 = 1 << 23;

/// Limits and options.
pub const CHANNEL_MAX_MSG_BYTES: usize = 65536;
pub const CHANNEL_MAX_MSG_HANDLES: usize = 64;
pub const CHANNEL_MAX_PENDING: usize = 3500;
pub const CHANNEL_READ_MAY_DISCARD: u32 = 1;
pub const PORT_MAX_USER_PACKETS: usize = 2049;
pub const PKT_TYPE_USER: u32 = 0;
pub const PKT_TYPE_SIGNAL_ONE: u32 = 1;
pub const WAIT_ASYNC_TIMESTAMP: u32 = 1;
pub const INFO_TIMER: u32 = 25;
pub const INFO_HANDLE_COUNT: u32 = 19;
pub const INFO_THREAD: u32 = 10;

/// Thread states (ZX_INFO_THREAD.state).
pub const THREAD_STATE_BLOCKED_PORT: u32 = 0x403;
pub const THREAD_STATE_BLOCKED_CHANNEL: u32 = 0x503;
pub const THREAD_STATE_BLOCKED_WAIT_ONE: u32 = 0x603;

/// Durations.
pub const MSEC: i64 = 1_000_000;
pub const SEC: i64 = 1_000_000_000;

fn status_of(raw: u64) -> Status {
    raw as i64 as i32
}

/// `zx_deadline_after`.
pub fn deadline_after(ns: i64) -> i64 {
    // SAFETY: no pointer arguments.
    unsafe { call(nr::DEADLINE_AFTER, [ns as u64]) as i64 }
}

/// `zx_nanosleep`.
pub fn nanosleep(deadline: i64) {
    // SAFETY: no pointer arguments.
    unsafe { call(nr::NANOSLEEP, [deadline as u64]) };
}

/// `zx_system_get_num_cpus`.
pub fn num_cpus() -> u32 {
    // SAFETY: no pointer arguments.
    unsafe { call(nr::SYSTEM_GET_NUM_CPUS, []) as u32 }
}

fn out_pair(nr: u64, options: u32) -> ZxResult<(Handle, Handle)> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: both out-pointers are ours.
    ok(unsafe { call_status(nr, [options as u64, addr_of(&raw mut a), addr_of(&raw mut b)]) })?;
    Ok((Handle::from_raw(a), Handle::from_raw(b)))
}

/// `zx_event_create`.
pub fn event_create() -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours.
    ok(unsafe { call_status(nr::EVENT_CREATE, [0, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// `zx_eventpair_create`.
pub fn eventpair_create() -> ZxResult<(Handle, Handle)> {
    out_pair(nr::EVENTPAIR_CREATE, 0)
}

/// `zx_channel_create`.
pub fn channel_create() -> ZxResult<(Handle, Handle)> {
    out_pair(nr::CHANNEL_CREATE, 0)
}

/// `zx_channel_write` of `bytes` and `handles` (consumed whatever the result).
pub fn channel_write(channel: impl AsRaw, bytes: &[u8], handles: &[u32]) -> ZxResult {
    let args = [
        channel.raw() as u64,
        0,
        addr_of(bytes.as_ptr()),
        bytes.len() as u64,
        addr_of(handles.as_ptr()),
        handles.len() as u64,
    ];
    // SAFETY: the kernel only reads both buffers.
    ok(unsafe { call_status(nr::CHANNEL_WRITE, args) })
}

/// `zx_channel_read` into `bytes` and `handles`: (status, actual bytes, actual handles).
pub fn channel_read_opts(
    channel: impl AsRaw,
    options: u32,
    bytes: &mut [u8],
    handles: &mut [u32],
) -> (Status, u32, u32) {
    let (mut nb, mut nh) = (0u32, 0u32);
    let args = [
        channel.raw() as u64,
        options as u64,
        addr_of(bytes.as_mut_ptr()),
        addr_of(handles.as_mut_ptr()),
        bytes.len() as u64,
        handles.len() as u64,
        addr_of(&raw mut nb),
        addr_of(&raw mut nh),
    ];
    // SAFETY: every pointer is to a buffer of ours with the length passed.
    let status = unsafe { call_status(nr::CHANNEL_READ, args) };
    (status, nb, nh)
}

/// [`channel_read_opts`] without options.
pub fn channel_read(channel: impl AsRaw, bytes: &mut [u8], handles: &mut [u32]) -> (Status, u32, u32) {
    channel_read_opts(channel, 0, bytes, handles)
}

/// `zx_channel_call`: (status, reply bytes, reply handles).
pub fn channel_call(
    channel: impl AsRaw,
    deadline: i64,
    wr: &[u8],
    wr_handles: &[u32],
    rd: &mut [u8],
    rd_handles: &mut [u32],
) -> (Status, u32, u32) {
    let mut args = [0u64; 6];
    args[0] = addr_of(wr.as_ptr());
    args[1] = addr_of(wr_handles.as_ptr());
    args[2] = addr_of(rd.as_mut_ptr());
    args[3] = addr_of(rd_handles.as_mut_ptr());
    args[4] = wr.len() as u64 | (wr_handles.len() as u64) << 32;
    args[5] = rd.len() as u64 | (rd_handles.len() as u64) << 32;
    let (mut nb, mut nh) = (0u32, 0u32);
    let regs =
        [channel.raw() as u64, 0, deadline as u64, addr_of(args.as_ptr()), addr_of(&raw mut nb), addr_of(&raw mut nh)];
    // SAFETY: the args block names our buffers with their lengths; the out-pointers are ours.
    let status = unsafe { call_status(nr::CHANNEL_CALL, regs) };
    (status, nb, nh)
}

/// `zx_port_packet_t`, 48 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Packet {
    pub key: u64,
    pub type_: u32,
    pub status: i32,
    pub payload: [u64; 4],
}

impl Packet {
    /// A user packet.
    pub fn user(key: u64, payload: [u64; 4]) -> Packet {
        Packet { key, type_: PKT_TYPE_USER, status: 0, payload }
    }
    /// A signal packet's (trigger, observed, count, timestamp).
    pub fn signal(&self) -> (u32, u32, u64, u64) {
        (self.payload[0] as u32, (self.payload[0] >> 32) as u32, self.payload[1], self.payload[2])
    }
}

/// `zx_port_create`.
pub fn port_create() -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours.
    ok(unsafe { call_status(nr::PORT_CREATE, [0, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// `zx_port_queue`.
pub fn port_queue(port: impl AsRaw, packet: &Packet) -> ZxResult {
    // SAFETY: the kernel reads the 48 bytes.
    ok(unsafe { call_status(nr::PORT_QUEUE, [port.raw() as u64, addr_of(packet)]) })
}

/// `zx_port_wait`.
pub fn port_wait(port: impl AsRaw, deadline: i64) -> ZxResult<Packet> {
    let mut packet = Packet::default();
    // SAFETY: the kernel writes the 48 bytes.
    ok(unsafe { call_status(nr::PORT_WAIT, [port.raw() as u64, deadline as u64, addr_of(&raw mut packet)]) })?;
    Ok(packet)
}

/// `zx_port_cancel`.
pub fn port_cancel(port: impl AsRaw, source: impl AsRaw, key: u64) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::PORT_CANCEL, [port.raw() as u64, source.raw() as u64, key]) })
}

/// `zx_object_wait_async`.
pub fn wait_async(object: impl AsRaw, port: impl AsRaw, key: u64, signals: u32, options: u32) -> ZxResult {
    let args = [object.raw() as u64, port.raw() as u64, key, signals as u64, options as u64];
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::OBJECT_WAIT_ASYNC, args) })
}

/// `zx_wait_item_t`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct WaitItem {
    pub handle: u32,
    pub waitfor: u32,
    pub pending: u32,
}

/// `zx_object_wait_many`.
pub fn wait_many(items: &mut [WaitItem], deadline: i64) -> Status {
    // SAFETY: the kernel reads and writes the items.
    unsafe { call_status(nr::OBJECT_WAIT_MANY, [addr_of(items.as_mut_ptr()), items.len() as u64, deadline as u64]) }
}

/// `zx_timer_create`.
pub fn timer_create(options: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours.
    ok(unsafe { call_status(nr::TIMER_CREATE, [options as u64, 0, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// `zx_timer_set`.
pub fn timer_set(timer: impl AsRaw, deadline: i64, slack: i64) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::TIMER_SET, [timer.raw() as u64, deadline as u64, slack as u64]) })
}

/// `zx_timer_cancel`.
pub fn timer_cancel(timer: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::TIMER_CANCEL, [timer.raw() as u64]) })
}

/// ZX_INFO_TIMER: (options, deadline, slack).
pub fn timer_info(timer: impl AsRaw) -> ZxResult<(u32, i64, i64)> {
    let mut buf = [0u8; 24];
    zx::object_get_info(timer, INFO_TIMER, &mut buf)?;
    let u64_at = |o: usize| {
        u64::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3], buf[o + 4], buf[o + 5], buf[o + 6], buf[o + 7]])
    };
    Ok((u64_at(0) as u32, u64_at(8) as i64, u64_at(16) as i64))
}

/// ZX_INFO_HANDLE_COUNT.
pub fn handle_count(handle: impl AsRaw) -> ZxResult<u32> {
    let mut buf = [0u8; 4];
    zx::object_get_info(handle, INFO_HANDLE_COUNT, &mut buf)?;
    Ok(u32::from_le_bytes(buf))
}

/// ZX_INFO_THREAD.state.
pub fn thread_state(thread: impl AsRaw) -> ZxResult<u32> {
    let mut buf = [0u8; 72];
    zx::object_get_info(thread, INFO_THREAD, &mut buf)?;
    Ok(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]))
}

/// Waits (up to 10 s) until `thread` reports `state`.
pub fn wait_thread_state(thread: impl AsRaw, state: u32) -> ZxResult {
    let end = deadline_after(10 * SEC);
    let raw = thread.raw();
    while zx::clock_get_monotonic() < end {
        if thread_state(raw)? == state {
            return Ok(());
        }
        nanosleep(deadline_after(MSEC / 2));
    }
    Err(zx::ZX_ERR_TIMED_OUT)
}

/// The signals of `handle` now.
pub fn signals_of(handle: impl AsRaw) -> u32 {
    zx::object_wait_one(handle, 0, 0).1
}

/// `zx_object_signal_peer`.
pub fn object_signal_peer(handle: impl AsRaw, clear: u32, set: u32) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::OBJECT_SIGNAL_PEER, [handle.raw() as u64, clear as u64, set as u64]) })
}

/// `zx_task_kill`.
pub fn task_kill(task: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::TASK_KILL, [task.raw() as u64]) })
}

/// `zx_job_create`.
pub fn job_create(parent: impl AsRaw) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours.
    ok(unsafe { call_status(nr::JOB_CREATE, [parent.raw() as u64, 0, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// `zx_debug_read` into `buf`: the byte count.
pub fn debug_read(resource: impl AsRaw, buf: &mut [u8]) -> ZxResult<usize> {
    let mut actual = 0u64;
    let args = [resource.raw() as u64, addr_of(buf.as_mut_ptr()), buf.len() as u64, addr_of(&raw mut actual)];
    // SAFETY: the kernel writes at most `buf.len()` bytes and `actual`.
    ok(unsafe { call_status(nr::DEBUG_READ, args) })?;
    Ok(actual as usize)
}

/// Waits up to `timeout` for TERMINATED.
pub fn wait_terminated(task: impl AsRaw, timeout: i64) -> ZxResult {
    let (status, _) = zx::object_wait_one(task, TASK_TERMINATED, deadline_after(timeout));
    ok(status)
}

/// Ends the calling thread.
pub fn thread_exit() -> ! {
    // SAFETY: no pointer arguments.
    unsafe { call(nr::THREAD_EXIT, []) };
    zx::process_exit(99)
}

fn thread_create(process: impl AsRaw, name: &[u8]) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [process.raw() as u64, addr_of(name.as_ptr()), name.len() as u64, 0, addr_of(&raw mut out)];
    // SAFETY: the kernel reads the name and writes `out`.
    ok(unsafe { call_status(nr::THREAD_CREATE, args) })?;
    Ok(Handle::from_raw(out))
}

/// Bytes of stack each helper thread and each copied process gets.
pub const STACK_BYTES: u64 = 64 * 1024;

/// A thread of this process running a borrowed closure; killed (and waited for) when
/// dropped unjoined, before its stack goes.
pub struct Thread<'a> {
    handle: Option<Handle>,
    _stack: Mapping,
    _closure: core::marker::PhantomData<&'a ()>,
}

extern "C" fn thread_trampoline(slot: u64) -> ! {
    // SAFETY: `slot` holds the fat pointer `Thread::spawn` wrote, to a closure that
    // outlives the thread (the `Thread` kills and waits for it before the borrow ends).
    let f = unsafe { core::ptr::read(slot as usize as *const *const (dyn Fn() + Sync)) };
    // SAFETY: as above.
    unsafe { (*f)() };
    thread_exit()
}

impl<'a> Thread<'a> {
    /// Starts `f` on a new thread with its own 64 KiB stack.
    pub fn spawn(ctx: &Ctx, f: &'a (dyn Fn() + Sync)) -> ZxResult<Thread<'a>> {
        let vmo = zx::vmo_create(STACK_BYTES, 0)?;
        let stack = Mapping::new(ctx.root_vmar, zx::VM_RW, 0, &vmo, 0, STACK_BYTES)?;
        let slot = stack.addr() + STACK_BYTES - 16;
        let ptr: *const (dyn Fn() + Sync + 'a) = f;
        // SAFETY: the slot is the top 16 bytes of a fresh RW mapping of ours; the fat
        // pointer's lifetime is erased and upheld by `Thread` (see the trampoline).
        unsafe {
            core::ptr::write(slot as usize as *mut *const (dyn Fn() + Sync + 'a), ptr);
        }
        let handle = thread_create(ctx.process(), b"ipc-test")?;
        let args = [handle.raw() as u64, thread_trampoline as *const () as usize as u64, slot, slot, 0];
        // SAFETY: entry and stack are ours; the kernel touches no pointer here.
        ok(unsafe { call_status(nr::THREAD_START, args) })?;
        Ok(Thread { handle: Some(handle), _stack: stack, _closure: core::marker::PhantomData })
    }

    /// The thread's handle.
    pub fn handle(&self) -> u32 {
        self.handle.as_ref().map_or(0, |h| h.raw())
    }

    /// Waits up to `timeout` for the thread to end.
    pub fn join(mut self, timeout: i64) -> ZxResult {
        let result = wait_terminated(self.handle(), timeout);
        if result.is_ok() {
            self.handle = None;
        }
        result
    }
}

impl Drop for Thread<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = task_kill(&h);
            let _ = wait_terminated(&h, 10 * SEC);
        }
    }
}

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __bss_end: u8;
}

fn page_down(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

fn page_up(a: u64) -> u64 {
    (a + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// A copy of this program in another process (in its own job, killed when dropped).
pub struct Child {
    /// The child process.
    pub process: Handle,
    /// Our end of the channel whose other end the child got in x0.
    pub channel: Handle,
    /// The child's root VMAR (to send it, when the child must map something).
    pub vmar: Handle,
    /// The job the child runs in.
    pub job: Handle,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = task_kill(&self.job);
        let _ = wait_terminated(&self.process, 10 * SEC);
    }
}

/// Starts a copy of this program in a new process of a new job under the root job:
/// text, rodata and data/bss copied into new VMOs mapped at the same addresses, a
/// 64 KiB stack, and `entry(channel, arg)` as its first code.
pub fn spawn_copy(ctx: &Ctx, entry: extern "C" fn(u64, u64) -> !, arg: u64) -> ZxResult<Child> {
    let job = job_create(ctx.root_job())?;
    match spawn_copy_in(ctx, job.raw(), b"ipc-child", entry, arg) {
        Ok(copy) => Ok(Child { process: copy.process, channel: copy.channel, vmar: copy.vmar, job }),
        Err(status) => {
            let _ = task_kill(&job);
            Err(status)
        }
    }
}

/// A copy of this program started by [`spawn_copy_in`].
pub struct Spawned {
    /// The new process.
    pub process: Handle,
    /// Our end of the channel whose other end the copy got in x0.
    pub channel: Handle,
    /// The copy's root VMAR.
    pub vmar: Handle,
}

/// As [`spawn_copy`], in the job `job` and with the process and thread named `name`;
/// nothing is killed when the result is dropped (killing `job` ends the copy).
pub fn spawn_copy_in(
    ctx: &Ctx,
    job: u32,
    name: &[u8],
    entry: extern "C" fn(u64, u64) -> !,
    arg: u64,
) -> ZxResult<Spawned> {
    const ROOT_BASE: u64 = zx::USER_BASE;
    let (mut proc_out, mut vmar_out) = (0u32, 0u32);
    let args = [
        job as u64,
        addr_of(name.as_ptr()),
        name.len() as u64,
        0,
        addr_of(&raw mut proc_out),
        addr_of(&raw mut vmar_out),
    ];
    // SAFETY: the kernel reads the name and writes both out-pointers.
    ok(unsafe { call_status(nr::PROCESS_CREATE, args) })?;
    let (process, vmar) = (Handle::from_raw(proc_out), Handle::from_raw(vmar_out));
    // Linker symbols: only their addresses are taken.
    let bounds = {
        [
            (addr_of(&raw const __image_start), addr_of(&raw const __text_end), zx::VM_PERM_READ | zx::VM_PERM_EXECUTE),
            (addr_of(&raw const __rodata_start), addr_of(&raw const __rodata_end), zx::VM_PERM_READ),
            (addr_of(&raw const __data_start), addr_of(&raw const __bss_end), zx::VM_RW),
        ]
    };
    for (start, end, perms) in bounds {
        let (lo, hi) = (page_down(start), page_up(end));
        if hi == lo {
            continue;
        }
        let vmo = zx::vmo_create(hi - lo, 0)?;
        // SAFETY: [lo, hi) is mapped and readable in this process (our own image).
        let bytes = unsafe { core::slice::from_raw_parts(lo as usize as *const u8, (hi - lo) as usize) };
        zx::vmo_write(&vmo, bytes, 0)?;
        let vmo = if perms & zx::VM_PERM_EXECUTE != 0 {
            zx::cache_flush(lo, hi - lo, zx::CACHE_FLUSH_DATA | zx::CACHE_FLUSH_INSN)?;
            zx::vmo_replace_as_executable(vmo.into_raw(), ctx.root_resource)?
        } else {
            vmo
        };
        zx::vmar_map(&vmar, perms | zx::VM_SPECIFIC, lo - ROOT_BASE, &vmo, 0, hi - lo)?;
    }
    let stack_vmo = zx::vmo_create(STACK_BYTES, 0)?;
    let stack = zx::vmar_map(&vmar, zx::VM_RW, 0, &stack_vmo, 0, STACK_BYTES)?;
    let thread = thread_create(&process, name)?;
    let (mine, theirs) = channel_create()?;
    let args = [
        process.raw() as u64,
        thread.raw() as u64,
        entry as *const () as usize as u64,
        stack + STACK_BYTES,
        theirs.into_raw() as u64,
        arg,
    ];
    // SAFETY: no pointer the kernel writes.
    ok(unsafe { call_status(nr::PROCESS_START, args) })?;
    Ok(Spawned { process, channel: mine, vmar })
}

/// Sum of the status of a raw call (for the rare calls with no wrapper).
pub fn raw_status<const N: usize>(nr: u64, args: [u64; N]) -> Status {
    // SAFETY: callers pass only arguments the kernel refuses or that point at their
    // own buffers.
    status_of(unsafe { call(nr, args) })
}
