//! Channels, ports, async waits, timers and console input (ABI.md 4.2, calls 37, 41–48,
//! 52–54, 61), each in its check order.
//!
//! Handles a write or call names leave the caller's table whatever the result (ABI.md
//! 43): those that pass their checks move into the message under the table lock; on a
//! failure before the message is handed over, every entry still naming a handle is
//! closed too ([`consume_handles`]). Everything is closed before the call returns.

use super::{Caller, ensure_heap_headroom, give, user};
use crate::abi::{ZX_HANDLE_INVALID, rights};
use crate::error::{ZxError, ZxResult};
use crate::ipc::channel_queue::MAX_PENDING_MESSAGES;
use crate::kernel::ipc::channel::{
    Channel, Copied, CopyOut, FillBytes, MAX_MSG_BYTES, MAX_MSG_HANDLES, Message, READ_MAY_DISCARD, ReadOutcome,
};
use crate::kernel::ipc::console_input;
use crate::kernel::ipc::port::{PACKET_SIZE, Packet, Port, WAIT_ASYNC_TIMESTAMP};
use crate::kernel::ipc::timer::{MAX_SLACK_MODE, Timer};
use crate::kernel::object::{KHandle, KernelObject};
use crate::kernel::vm_object::{VmoObject, vmo_signals};
use crate::object::handle_table::Handle;
use crate::object::rights::check_rights;
use crate::syscall::user_ptr;
use alloc::sync::Arc;
use alloc::vec::Vec;

const _: () = assert!(MAX_PENDING_MESSAGES == 3500);

/// Creates two connected objects and writes both handle values, or leaves neither.
fn give_pair(c: &Caller, a: KHandle, b: KHandle, rights: u32, out0: u64, out1: u64) -> ZxResult {
    let h0 = c.process().add_khandle(a, rights)?;
    let h1 = match c.process().add_khandle(b, rights) {
        Ok(h) => h,
        Err(e) => {
            drop(c.process().remove_handle(h0));
            return Err(e);
        }
    };
    let written = user::put(out0, &h0.to_le_bytes()).and_then(|_| user::put(out1, &h1.to_le_bytes()));
    if let Err(e) = written {
        drop(c.process().remove_handle(h0));
        drop(c.process().remove_handle(h1));
        return Err(e);
    }
    Ok(())
}

/// `zx_channel_create`: options must be 0; rights 0xF00E on both ends.
pub fn channel_create(c: &Caller, options: u32, out0: u64, out1: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    ensure_heap_headroom()?;
    let (a, b) = Channel::create();
    give_pair(c, a, b, rights::DEFAULT_CHANNEL, out0, out1)
}

/// Closes every handle the user array `handles[..count]` still names, reading it in
/// chunks of 64 and stopping at a chunk that cannot be read (Zircon's cleanup of a
/// failed write).
fn consume_handles(c: &Caller, handles: u64, count: u64) {
    let mut done = 0u64;
    while done < count {
        let n = (count - done).min(64) as usize;
        let mut raw = [0u8; 64 * 4];
        let Some(at) = done.checked_mul(4).and_then(|o| handles.checked_add(o)) else { return };
        if user::get(at, &mut raw[..n * 4]).is_err() {
            return;
        }
        for i in 0..n {
            let value = u32::from_le_bytes([raw[i * 4], raw[i * 4 + 1], raw[i * 4 + 2], raw[i * 4 + 3]]);
            if value != ZX_HANDLE_INVALID
                && let Ok(h) = c.process().remove_handle(value)
            {
                drop(h);
            }
        }
        done += n as u64;
    }
}

/// Builds a message for `channel` from the caller's bytes and handles (steps 3–6 of
/// ABI.md 43; `min_bytes` is call's 4-byte minimum, checked after the copy). Handles
/// that pass move out of the table; on an error those are closed here, and the caller
/// still has to consume the entries left.
#[inline(always)]
fn take_message(
    c: &Caller,
    channel: &Channel,
    bytes: u64,
    num_bytes: u32,
    handles: u64,
    num_handles: u32,
    min_bytes: u32,
) -> ZxResult<Message> {
    let (nb, nh) = (num_bytes as usize, num_handles as usize);
    if nb > MAX_MSG_BYTES || nh > MAX_MSG_HANDLES {
        return Err(ZxError::OutOfRange);
    }
    ensure_heap_headroom()?;
    let mut buf = channel.buffer(nb)?;
    if nb > 0 {
        user::get_inline(bytes, &mut buf)?;
    }
    if num_bytes < min_bytes {
        return Err(ZxError::InvalidArgs);
    }
    // No handles (most messages): nothing to read, reserve or move, so neither the
    // 256-byte array nor the handle-table lock is needed.
    let moved = if nh == 0 { Vec::new() } else { take_handles(c, channel, handles, nh)? };
    Ok(Message::new(buf, moved))
}

/// The `nh` (1 to 64) handles of a message being written to `channel`, read from the
/// user array `handles` and moved out of the caller's table (see [`take_message`]).
fn take_handles(c: &Caller, channel: &Channel, handles: u64, nh: usize) -> ZxResult<Vec<Handle<KHandle>>> {
    let mut raw = [0u8; MAX_MSG_HANDLES * 4];
    user::get(handles, &mut raw[..nh * 4])?;
    let mut moved: Vec<Handle<KHandle>> = Vec::new();
    moved.try_reserve_exact(nh).map_err(|_| ZxError::NoMemory)?;
    let me = channel as *const Channel as *const ();
    let failed = c.process().with_handles(|table| {
        let mut first_error = None;
        for i in 0..nh {
            let value = u32::from_le_bytes([raw[i * 4], raw[i * 4 + 1], raw[i * 4 + 2], raw[i * 4 + 3]]);
            let check = match table.get(value) {
                Err(e) => Err(e),
                Ok(h) if h.rights & rights::TRANSFER == 0 => Err(ZxError::AccessDenied),
                Ok(h) if h.object.is_at(me) => Err(ZxError::NotSupported),
                Ok(_) => Ok(()),
            };
            match check {
                Ok(()) => {
                    if let Ok(h) = table.remove(value) {
                        moved.push(h);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error
    });
    if let Some(e) = failed {
        // The handles that moved are closed with no lock held; the rest are consumed by
        // the caller's cleanup.
        drop(moved);
        return Err(e);
    }
    Ok(moved)
}

/// A message's bytes from user address `.0`: the lock-free attempt of the copy.
struct FromUser(u64);

impl FillBytes for FromUser {
    #[inline(always)]
    fn fill(self, buf: &mut [u8]) -> bool {
        buf.is_empty() || user::get_attempt(self.0, buf)
    }
}

/// A received message without handles to the user: its size to `actual_bytes`, 0 to
/// `actual_handles` (each if not 0), then its bytes to `bytes`, in the order of the
/// general path, each only the lock-free attempt of the copy.
struct ToUser {
    bytes: u64,
    actual_bytes: u64,
    actual_handles: u64,
}

impl CopyOut for ToUser {
    #[inline(always)]
    fn copy_out(self, data: &[u8]) -> bool {
        user::put_read_attempt(self.bytes, data, self.actual_bytes, self.actual_handles)
    }
}

/// `zx_channel_write` (ABI.md 43). Inlined into its entry, which then calls the
/// write's body directly.
#[inline(always)]
pub fn channel_write(
    c: &Caller,
    handle: u32,
    options: u32,
    bytes: u64,
    num_bytes: u32,
    handles: u64,
    num_handles: u32,
) -> ZxResult {
    let result = write_inner(c, handle, options, bytes, num_bytes, handles, num_handles);
    match result {
        Ok(()) => Ok(()),
        Err((e, handed_over)) => {
            if !handed_over {
                consume_handles(c, handles, num_handles as u64);
            }
            Err(e)
        }
    }
}

/// The option and handle-count tests of `zx_channel_write`, in line in its entry (with
/// [`channel_write`]), which then calls the write's body itself: a call of its own cost
/// a frame and the arguments' moves on every write.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_inner(
    c: &Caller,
    handle: u32,
    options: u32,
    bytes: u64,
    num_bytes: u32,
    handles: u64,
    num_handles: u32,
) -> Result<(), (ZxError, bool)> {
    if options != 0 {
        return Err((ZxError::InvalidArgs, false));
    }
    if num_handles == 0 {
        return write_bytes_only(c, handle, bytes, num_bytes);
    }
    write_with_handles(c, handle, bytes, num_bytes, handles, num_handles)
}

/// [`write_inner`] for a message with handles: on a counted reference, since the
/// handles move out of the table, which must not stay locked meanwhile.
#[inline(never)]
fn write_with_handles(
    c: &Caller,
    handle: u32,
    bytes: u64,
    num_bytes: u32,
    handles: u64,
    num_handles: u32,
) -> Result<(), (ZxError, bool)> {
    let channel = c.process().get_object_with_rights::<Channel>(handle, rights::WRITE).map_err(|e| (e, false))?;
    let msg = take_message(c, &channel, bytes, num_bytes, handles, num_handles, 0).map_err(|e| (e, false))?;
    // Refused (peer closed, queue full): its handles are closed before returning, with
    // no lock held.
    channel.write(msg).map_err(|e| (e, true))
}

/// [`write_inner`] for a message without handles (most messages): the whole write runs
/// on the channel borrowed under the handle-table lock, with no reference count and no
/// downcast. Sound under [`Process::lookup`]'s rules: the message takes no handle out of
/// the table, the channel's locks (pair, then signals, then the scheduler's through a
/// woken waiter) rank above the table's, a user copy may fault under it, the peer it
/// signals is borrowed from the pair under the pair lock (no count to drop), and what it
/// may free (a refused message) holds no handle, so it ends no object.
///
/// In line in `zx_channel_write`'s entry (its general path and the write with handles
/// are calls), so that a write sets up one frame, not two.
///
/// [`Process::lookup`]: crate::kernel::task::Process::lookup
#[inline(always)]
fn write_bytes_only(c: &Caller, handle: u32, bytes: u64, num_bytes: u32) -> Result<(), (ZxError, bool)> {
    let table = c.process().lookup();
    let (object, have, _) = table.get(handle).map_err(|e| (e, false))?;
    let channel = object.as_channel().ok_or((ZxError::WrongType, false))?;
    check_rights(have, rights::WRITE).map_err(|e| (e, false))?;
    // Fast path: the bytes are copied from the user straight into a spare buffer and
    // delivered in one pair-lock critical section. The copy runs under the pair lock and
    // so must not resolve a fault: it is the lock-free attempt that `user::get` makes
    // first (see there why that is sound), and any failure (a fault, a bad range, no
    // spare of that size) changes nothing but the spare's garbage bytes and takes the
    // general path below, which reports errors in the order of ABI.md 43.
    // (A message above `MAX_MSG_BYTES` is also above what `write_filled` copies under
    // the lock, which it tests first: so it needs no test of its own here.)
    let nb = num_bytes as usize;
    if crate::arch::aarch64::heap::has_headroom() && channel.write_filled(nb, FromUser(bytes)) {
        return Ok(());
    }
    write_bytes_general(c, channel, bytes, num_bytes)
}

/// [`write_bytes_only`] when its fast path did not take the message (a fault, a size
/// above the spares', no heap headroom), still under the table lock: the message taken
/// with faults resolved, then written. Out of line, so that the fast path's frame holds
/// none of it.
#[inline(never)]
fn write_bytes_general(c: &Caller, channel: &Channel, bytes: u64, num_bytes: u32) -> Result<(), (ZxError, bool)> {
    let msg = match take_message(c, channel, bytes, num_bytes, 0, 0, 0) {
        Ok(msg) => msg,
        Err(e) => return Err((e, false)),
    };
    // Refused (peer closed, queue full), it is freed under the table lock: it holds no
    // handle, so that ends no object.
    channel.write(msg).map_err(|e| (e, true))
}

/// Copies a received message out: `bytes` (the caller checked it fits), then its
/// handles, installed in the caller's table with fresh serials (waits through the
/// handles as they were in the sender's table end now, ABI.md section 4), their values
/// written to `handles`. A fault loses the message and its handles. The message is
/// borrowed, not moved (a move of it is a `memcpy` call on this target); the caller
/// drops what is left of it.
#[inline(always)]
fn copy_out(c: &Caller, channel: Option<&Channel>, msg: &mut Message, bytes: u64, handles: u64) -> ZxResult {
    if !msg.bytes.is_empty() {
        user::put_bytes(bytes, &msg.bytes)?;
    }
    if let Some(channel) = channel {
        channel.recycle(core::mem::take(&mut msg.bytes));
    }
    let n = msg.handles.len();
    if n == 0 {
        return Ok(());
    }
    let received = core::mem::take(&mut msg.handles);
    let mut raw = [0u8; MAX_MSG_HANDLES * 4];
    let mut installed = [0u32; MAX_MSG_HANDLES];
    let mut count = 0;
    let mut result = Ok(());
    for h in received {
        // A new handle (new serial) to the same object, then the old one dropped: waits
        // and async registrations made through the old one end.
        let fresh = h.object.clone();
        let rights = h.rights;
        drop(h);
        if result.is_err() {
            continue;
        }
        match c.process().add_khandle(fresh, rights) {
            Ok(value) => {
                installed[count] = value;
                raw[count * 4..count * 4 + 4].copy_from_slice(&value.to_le_bytes());
                count += 1;
            }
            Err(e) => result = Err(e),
        }
    }
    let result = result.and_then(|()| user::put_bytes(handles, &raw[..n * 4]));
    if result.is_err() {
        for value in &installed[..count] {
            drop(c.process().remove_handle(*value));
        }
    }
    result
}

/// `zx_channel_read` (ABI.md 42). In line in its entry, whose frame takes it: a call
/// of its own moved all eight argument registers and passed a ninth on the stack.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn channel_read(
    c: &Caller,
    handle: u32,
    options: u32,
    bytes: u64,
    handles: u64,
    num_bytes: u32,
    num_handles: u32,
    actual_bytes: u64,
    actual_handles: u64,
) -> ZxResult {
    // The checks and the dequeue run on the channel borrowed under the handle-table
    // lock (no reference count, no downcast), as in `write_bytes_only`; so does the
    // copy-out of a message without handles. A message with handles (installed in this
    // very table), or one that does not fit (dropped, perhaps with handles), is finished
    // on a counted reference after the unlock.
    let table = c.process().lookup();
    let (object, have, _) = table.get(handle)?;
    let channel = object.as_channel().ok_or(ZxError::WrongType)?;
    check_rights(have, rights::READ)?;
    if options & !READ_MAY_DISCARD != 0 {
        return Err(ZxError::NotSupported);
    }
    // Fast path: a message that fits and holds no handle is copied out (the actual sizes,
    // then the bytes) and taken, its buffer kept as a spare, in one pair-lock critical
    // section. The copies run under the pair lock and so are only the lock-free attempts
    // of `user::put` and `user::put_bytes` (see there why those are sound); when one
    // fails the message is taken all the same and the copies are made again below, in
    // the same order, resolving faults, so the errors are those of the general path.
    let copy = ToUser { bytes, actual_bytes, actual_handles };
    let copied = channel.read_copied(num_bytes, copy);
    if let Copied::Done = copied {
        // `Done` holds nothing: forgotten, since its drop would be an out-of-line call
        // (the type's drop glue, for the message `Failed` holds).
        core::mem::forget(copied);
        return Ok(());
    }
    let args = ReadArgs { num_bytes, num_handles, options, bytes, handles, actual_bytes, actual_handles };
    match read_general(c, channel, copied, &args) {
        ReadRest::Finished(result) => result,
        ReadRest::Unlocked(outcome) => {
            // A channel (checked above): the tag compare cannot fail here.
            let channel = object.downcast_arc::<Channel>()?.clone();
            drop(table);
            finish_read(c, &channel, outcome, bytes, handles, actual_bytes, actual_handles)
        }
    }
}

/// The arguments of `zx_channel_read` that [`read_general`] needs, by reference: on the
/// fast path nothing but their addresses moves.
struct ReadArgs {
    num_bytes: u32,
    num_handles: u32,
    options: u32,
    bytes: u64,
    handles: u64,
    actual_bytes: u64,
    actual_handles: u64,
}

/// What [`read_general`] leaves to its caller.
enum ReadRest {
    /// The read is over (under the table lock): its result.
    Finished(ZxResult),
    /// To be finished on a counted reference after the table's unlock ([`finish_read`]).
    Unlocked(ReadOutcome),
}

/// [`channel_read`] after its fast path did not finish the read, still under the
/// handle-table lock: the message the fast path took when its copy failed, or a read
/// with [`Channel::read`]; a message without handles that fits is copied out here (the
/// sizes, then the bytes, resolving faults). Out of line, so that the fast path's frame
/// holds none of this.
#[inline(never)]
fn read_general(c: &Caller, channel: &Channel, copied: Copied, args: &ReadArgs) -> ReadRest {
    let outcome = match copied {
        Copied::Failed(msg) => ReadOutcome::Message(msg),
        _ => match channel.read(args.num_bytes, args.num_handles, args.options & READ_MAY_DISCARD != 0) {
            Ok(outcome) => outcome,
            Err(e) => return ReadRest::Finished(Err(e)),
        },
    };
    match outcome {
        ReadOutcome::Message(mut msg) if msg.handles.is_empty() => {
            ReadRest::Finished(copy_out_without_handles(c, channel, &mut msg, args))
        }
        outcome => ReadRest::Unlocked(outcome),
    }
}

/// A message without handles to the user, resolving faults: its size to `actual_bytes`
/// and 0 to `actual_handles` (each if not 0), then its bytes.
fn copy_out_without_handles(c: &Caller, channel: &Channel, msg: &mut Message, args: &ReadArgs) -> ZxResult {
    if args.actual_bytes != 0 {
        user::put(args.actual_bytes, &(msg.bytes.len() as u32).to_le_bytes())?;
    }
    if args.actual_handles != 0 {
        user::put(args.actual_handles, &0u32.to_le_bytes())?;
    }
    copy_out(c, Some(channel), msg, args.bytes, args.handles)
}

/// The rest of [`channel_read`] on a counted reference with no lock held: a message
/// with handles, or one that did not fit.
#[inline(never)]
fn finish_read(
    c: &Caller,
    channel: &Arc<Channel>,
    outcome: ReadOutcome,
    bytes: u64,
    handles: u64,
    actual_bytes: u64,
    actual_handles: u64,
) -> ZxResult {
    let channel = Some(&**channel);
    let write_actuals = |nb: u32, nh: u32| -> ZxResult {
        if actual_bytes != 0 {
            user::put(actual_bytes, &nb.to_le_bytes())?;
        }
        if actual_handles != 0 {
            user::put(actual_handles, &nh.to_le_bytes())?;
        }
        Ok(())
    };
    match outcome {
        ReadOutcome::TooSmall(nb, nh, discarded) => {
            drop(discarded);
            write_actuals(nb, nh)?;
            Err(ZxError::BufferTooSmall)
        }
        ReadOutcome::Message(mut msg) => {
            write_actuals(msg.bytes.len() as u32, msg.handles.len() as u32)?;
            copy_out(c, channel, &mut msg, bytes, handles)
        }
    }
}

/// `zx_channel_call_args_t` (ABI.md section 5).
struct CallArgs {
    wr_bytes: u64,
    wr_handles: u64,
    rd_bytes: u64,
    rd_handles: u64,
    wr_num_bytes: u32,
    wr_num_handles: u32,
    rd_num_bytes: u32,
    rd_num_handles: u32,
}

impl CallArgs {
    fn parse(raw: &[u8; 48]) -> CallArgs {
        let u64_at = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap_or([0; 4]));
        CallArgs {
            wr_bytes: u64_at(0),
            wr_handles: u64_at(8),
            rd_bytes: u64_at(16),
            rd_handles: u64_at(24),
            wr_num_bytes: u32_at(32),
            wr_num_handles: u32_at(36),
            rd_num_bytes: u32_at(40),
            rd_num_handles: u32_at(44),
        }
    }
}

/// `zx_channel_call` (ABI.md 44).
pub fn channel_call(
    c: &Caller,
    handle: u32,
    options: u32,
    deadline: i64,
    args: u64,
    actual_bytes: u64,
    actual_handles: u64,
) -> ZxResult {
    let mut raw = [0u8; 48];
    user::get(args, &mut raw)?;
    let args = CallArgs::parse(&raw);
    let (reply, channel) = match call_send(c, handle, options, deadline, &args) {
        Ok(done) => done,
        Err((e, handed_over)) => {
            if !handed_over {
                consume_handles(c, args.wr_handles, args.wr_num_handles as u64);
            }
            return Err(e);
        }
    };
    if reply.bytes.len() > args.rd_num_bytes as usize || reply.handles.len() > args.rd_num_handles as usize {
        drop(reply);
        return Err(ZxError::BufferTooSmall);
    }
    let sizes = user::put(actual_bytes, &(reply.bytes.len() as u32).to_le_bytes())
        .and_then(|()| user::put(actual_handles, &(reply.handles.len() as u32).to_le_bytes()));
    if let Err(e) = sizes {
        drop(reply);
        return Err(e);
    }
    // Its buffer goes back to the channel it came through.
    let mut reply = reply;
    copy_out(c, Some(&channel), &mut reply, args.rd_bytes, args.rd_handles)
}

/// Steps 2–10 of `zx_channel_call`: the reply, or the error and whether the handles
/// were already handed to the kernel (then nothing is left to consume).
fn call_send(
    c: &Caller,
    handle: u32,
    options: u32,
    deadline: i64,
    args: &CallArgs,
) -> Result<(Message, Arc<Channel>), (ZxError, bool)> {
    if options != 0 {
        return Err((ZxError::InvalidArgs, false));
    }
    let channel =
        c.process().get_object_with_rights::<Channel>(handle, rights::READ | rights::WRITE).map_err(|e| (e, false))?;
    let msg = take_message(c, &channel, args.wr_bytes, args.wr_num_bytes, args.wr_handles, args.wr_num_handles, 4)
        .map_err(|e| (e, false))?;
    ensure_heap_headroom().map_err(|e| (e, false))?;
    let deadline = if deadline == crate::abi::ZX_TIME_INFINITE { i64::MAX } else { deadline };
    let reply = channel.call(&c.thread, msg, deadline).map_err(|e| (e, true))?;
    Ok((reply, channel))
}

/// `zx_port_create`: options must be 0 (no interrupts to bind); rights 0x800F.
pub fn port_create(c: &Caller, options: u32, out: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    ensure_heap_headroom()?;
    give(c, Port::new(), rights::DEFAULT_PORT, out)
}

/// `zx_port_queue`: WRITE, then the packet is copied (a fault is INVALID_ARGS), then
/// the port may refuse it (BAD_STATE, SHOULD_WAIT, NO_MEMORY). Inlined into its entry.
/// `CHECKED`: whether the lock-order check is on (its entry's table, `SYSCALL_TABLE_IN_USE`).
#[inline(always)]
pub fn port_queue<const CHECKED: bool>(c: &Caller, port: u32, packet: u64) -> ZxResult {
    // Fast path: the packet is copied from the user straight into a free FIFO slot, on
    // the port borrowed under the handle-table lock (no reference count), with no copy
    // through the stack, no allocation and no call: each lock is only tried, the copy
    // does not resolve a fault (that needs the VM lock and may take long; it is the
    // lock-free attempt that `user::get` makes first, see there why that is sound), and
    // anything out of the ordinary leaves everything as it was and makes the whole call
    // again on the general path. So the common path keeps nothing across a call and
    // needs no saved registers. Its errors are the general path's, in the same order.
    if let Some(handles) = c.process().try_lookup_checked::<CHECKED>() {
        let (object, have, _) = handles.get(port)?;
        let port = object.as_port().ok_or(ZxError::WrongType)?;
        check_rights(have, rights::WRITE)?;
        if user_ptr::check_range(packet, PACKET_SIZE as u64, false).is_ok()
            && port.try_queue_user_copied::<CHECKED>(packet)
        {
            return Ok(());
        }
    }
    queue_general(port, packet)
}

/// [`port_queue`]'s general path, the whole call: the handle looked up (for a counted
/// reference to the port), the packet copied with faults resolved, then queued.
///
/// Sound after a fast path that gave up because that changed nothing: the call takes
/// effect from this lookup on, as if it had started here (a handle closed in between
/// gives BAD_HANDLE, as a close just before the call would).
#[inline(never)]
fn queue_general(port: u32, packet: u64) -> ZxResult {
    let c = Caller::current()?;
    let port = c.process().get_object_with_rights::<Port>(port, rights::WRITE)?;
    let mut bytes = Packet([0u8; PACKET_SIZE]);
    user::get(packet, &mut bytes.0)?;
    ensure_heap_headroom()?;
    port.queue_user(bytes)
}

/// `zx_port_wait`: READ, then the oldest packet (a faulting out-pointer loses it).
/// Inlined into its entry. `CHECKED` as for [`port_queue`].
#[inline(always)]
pub fn port_wait<const CHECKED: bool>(c: &Caller, handle: u32, deadline: i64, packet: u64) -> ZxResult {
    // Fast path: a packet is queued and no other thread waits. It is copied out of its
    // FIFO slot straight to the user and taken, on the port borrowed under the
    // handle-table lock, as in `port_queue`: locks only tried, a copy that does not
    // resolve a fault, no call. Anything else (nothing queued, a bad or faulting
    // out-pointer, a lock held elsewhere) changed nothing and takes the general path.
    if let Some(handles) = c.process().try_lookup_checked::<CHECKED>() {
        let (object, have, _) = handles.get(handle)?;
        let port = object.as_port().ok_or(ZxError::WrongType)?;
        check_rights(have, rights::READ)?;
        let out = user_ptr::check_out(packet, PACKET_SIZE as u64).ok().map(|()| packet);
        if port.try_take_copied::<CHECKED>(out) {
            return Ok(());
        }
    }
    wait_for_packet(handle, deadline, packet)
}

/// [`port_wait`]'s general path, the whole call: waits for a packet (none may be
/// queued), then copies it out resolving faults; a bad out-pointer loses the packet, as
/// ABI.md says.
///
/// The handle is looked up again, now for a counted reference to the port, with the
/// same checks in the same order (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED), and the caller
/// read again: so that `port_wait`'s common path keeps neither the object nor the caller
/// in registers for this one. Sound because the fast path that gave up changed nothing
/// (no packet taken, nothing copied): the call takes effect from this lookup on, as if
/// it had started here; a handle closed in between gives BAD_HANDLE, as a close just
/// before the call would, a packet another thread took in between is one it took
/// first, and `Port::wait` looks at the queue again, under the port lock, before it
/// blocks.
#[inline(never)]
fn wait_for_packet(handle: u32, deadline: i64, packet: u64) -> ZxResult {
    let c = Caller::current()?;
    let port = c.process().get_object_with_rights::<Port>(handle, rights::READ)?;
    let waited = port.wait(&c.thread, deadline);
    drop(port);
    let result = waited.and_then(|bytes| user::put(packet, &bytes.0));
    // Nothing is held any more (the port is dropped, the caller a borrow): a thread
    // killed while it waited ends here (`Syscall::may_end_caller` leaves this call out).
    super::end_if_killed();
    result
}

/// Looks up the object of a wait: BAD_HANDLE, WAIT, waitable. Returns it, the handle's
/// serial and the signals kept outside its base (a VMO's ZERO_CHILDREN).
fn waitable(c: &Caller, handle: u32) -> ZxResult<(Arc<dyn KernelObject>, u64, u32)> {
    let (object, have, serial) = c.process().get_handle(handle)?;
    check_rights(have, rights::WAIT)?;
    if !object.waitable() {
        return Err(ZxError::NotSupported);
    }
    let extra = match object.get::<VmoObject>() {
        Ok(vmo) => vmo_signals(vmo),
        Err(_) => 0,
    };
    Ok((object.into_dyn(), serial, extra))
}

/// `zx_port_cancel`: the port (WRITE), the source (WAIT, waitable), then NOT_FOUND when
/// nothing was removed.
pub fn port_cancel(c: &Caller, port: u32, source: u32, key: u64) -> ZxResult {
    let port = c.process().get_object_with_rights::<Port>(port, rights::WRITE)?;
    let (object, serial, _) = waitable(c, source)?;
    drop(object);
    port.cancel(serial, key)
}

/// `zx_object_wait_async`: options, the port (WRITE), the object (WAIT, waitable).
pub fn wait_async(c: &Caller, handle: u32, port: u32, key: u64, signals: u32, options: u32) -> ZxResult {
    if options & !WAIT_ASYNC_TIMESTAMP != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let port = c.process().get_object_with_rights::<Port>(port, rights::WRITE)?;
    let (object, serial, extra) = waitable(c, handle)?;
    ensure_heap_headroom()?;
    let result = port.register(&object, serial, key, signals, options, extra);
    drop((object, port));
    result
}

/// `zx_timer_create`: the clock (monotonic only), then the slack mode.
pub fn timer_create(c: &Caller, options: u32, clock_id: u32, out: u64) -> ZxResult {
    if clock_id != 0 || options > MAX_SLACK_MODE {
        return Err(ZxError::InvalidArgs);
    }
    ensure_heap_headroom()?;
    give(c, Timer::new(options), rights::DEFAULT_TIMER, out)
}

/// `zx_timer_set`: slack ≥ 0 (before the handle), WRITE; then disarm and set.
pub fn timer_set(c: &Caller, handle: u32, deadline: i64, slack: i64) -> ZxResult {
    if slack < 0 {
        return Err(ZxError::OutOfRange);
    }
    c.process().get_object_with_rights::<Timer>(handle, rights::WRITE)?.set(deadline, slack)
}

/// `zx_timer_cancel`: WRITE; disarms and clears SIGNALED.
pub fn timer_cancel(c: &Caller, handle: u32) -> ZxResult {
    c.process().get_object_with_rights::<Timer>(handle, rights::WRITE)?.cancel();
    Ok(())
}

/// `zx_debug_read`: the root resource (no right needed), then at least one byte of
/// console input (waiting for the first only), `\r` read as `\n`.
pub fn debug_read(c: &Caller, resource: u32, buf: u64, len: u64, actual: u64) -> ZxResult {
    super::lookup_resource(c, resource)?;
    if len == 0 {
        return user::put(actual, &0u64.to_le_bytes());
    }
    let mut bytes = [0u8; console_input::RING_BYTES];
    let want = (len as usize).min(bytes.len());
    let n = console_input::read(&c.thread, &mut bytes[..want])?;
    user::put_bytes(buf, &bytes[..n])?;
    user::put(actual, &(n as u64).to_le_bytes())
}
