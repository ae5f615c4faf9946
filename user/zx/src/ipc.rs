//! Channels, events, eventpairs, ports, timers and waiting on many objects.

use crate::handle::handle_type;
use crate::nr;
use crate::sys::{addr, call_ok};
use crate::{AsHandleRef, Handle, Result, Signals, Status, Time};

handle_type!(
    /// One end of a channel: messages of bytes and handles.
    Channel
);
handle_type!(
    /// An event: SIGNALED and user signals.
    Event
);
handle_type!(
    /// One end of an eventpair: signals on the peer.
    EventPair
);
handle_type!(
    /// A port: a queue of packets (user packets and async-wait signal packets).
    Port
);
handle_type!(
    /// A timer: SIGNALED at its deadline.
    Timer
);

fn create_pair(nr: u64, options: u32) -> Result<(Handle, Handle)> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: the kernel writes two u32s.
    unsafe { call_ok(nr, [options as u64, addr(&raw mut a), addr(&raw mut b)])? };
    Ok((Handle::from_raw(a), Handle::from_raw(b)))
}

/// Runs a create call that writes one handle through its last argument: `call` gets the
/// address to pass there.
fn create_one(call: impl FnOnce(u64) -> Result) -> Result<Handle> {
    let mut out = 0u32;
    call(addr(&raw mut out))?;
    Ok(Handle::from_raw(out))
}

/// Turns owned handles into the raw values a message carries; each is consumed.
fn take_raw(handles: &mut [Handle], raw: &mut [u32; 64]) -> Result<usize> {
    if handles.len() > raw.len() {
        return Err(Status::OutOfRange);
    }
    for (slot, h) in raw.iter_mut().zip(handles.iter_mut()) {
        *slot = core::mem::take(h).into_raw();
    }
    Ok(handles.len())
}

impl Channel {
    /// `zx_channel_create`: two connected ends.
    pub fn create() -> Result<(Channel, Channel)> {
        create_pair(nr::CHANNEL_CREATE, 0).map(|(a, b)| (Channel(a), Channel(b)))
    }

    /// `zx_channel_write`: sends `bytes` and `handles`. Every handle is consumed (left
    /// invalid in the slice), even when the write fails.
    pub fn write(&self, bytes: &[u8], handles: &mut [Handle]) -> Result {
        let mut raw = [0u32; 64];
        let n = take_raw(handles, &mut raw)?;
        // SAFETY: the kernel reads the bytes and n handle values.
        unsafe {
            call_ok(
                nr::CHANNEL_WRITE,
                [self.raw() as u64, 0, addr(bytes.as_ptr()), bytes.len() as u64, addr(raw.as_ptr()), n as u64],
            )
        }
    }

    /// `zx_channel_read`: the next message into `bytes` and `handles`; returns (bytes,
    /// handles) read. SHOULD_WAIT when empty; BUFFER_TOO_SMALL leaves the message queued.
    pub fn read(&self, bytes: &mut [u8], handles: &mut [Handle]) -> Result<(usize, usize)> {
        let mut raw = [0u32; 64];
        let (mut nb, mut nh) = (0u32, 0u32);
        let cap = handles.len().min(64);
        // SAFETY: the kernel writes at most bytes.len() bytes, `cap` handle values and two u32s.
        unsafe {
            call_ok(
                nr::CHANNEL_READ,
                [
                    self.raw() as u64,
                    0,
                    addr(bytes.as_mut_ptr()),
                    addr(raw.as_mut_ptr()),
                    bytes.len() as u64,
                    cap as u64,
                    addr(&raw mut nb),
                    addr(&raw mut nh),
                ],
            )?
        };
        for (slot, value) in handles.iter_mut().zip(&raw[..nh as usize]) {
            *slot = Handle::from_raw(*value);
        }
        Ok((nb as usize, nh as usize))
    }

    /// Waits (until `deadline`) for a message or the peer's closing, then reads it.
    pub fn read_wait(&self, bytes: &mut [u8], handles: &mut [Handle], deadline: Time) -> Result<(usize, usize)> {
        loop {
            match self.read(bytes, handles) {
                Err(Status::ShouldWait) => {
                    self.wait_handle(Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED, deadline)?;
                }
                other => return other,
            }
        }
    }

    /// `zx_channel_call`: writes a message (whose first 4 bytes the kernel replaces with
    /// a transaction id) and waits for the reply with the same id.
    pub fn call(
        &self,
        deadline: Time,
        wr_bytes: &[u8],
        wr_handles: &mut [Handle],
        rd_bytes: &mut [u8],
        rd_handles: &mut [Handle],
    ) -> Result<(usize, usize)> {
        let mut wr_raw = [0u32; 64];
        let mut rd_raw = [0u32; 64];
        let n = take_raw(wr_handles, &mut wr_raw)?;
        let mut args = [0u8; 48];
        let words =
            [addr(wr_bytes.as_ptr()), addr(wr_raw.as_ptr()), addr(rd_bytes.as_mut_ptr()), addr(rd_raw.as_mut_ptr())];
        for (i, w) in words.iter().enumerate() {
            args[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        let counts = [wr_bytes.len() as u32, n as u32, rd_bytes.len() as u32, rd_handles.len().min(64) as u32];
        for (i, c) in counts.iter().enumerate() {
            args[32 + i * 4..36 + i * 4].copy_from_slice(&c.to_le_bytes());
        }
        let (mut nb, mut nh) = (0u32, 0u32);
        // SAFETY: the kernel reads the 48-byte args and what they name, writes the read
        // buffers within their lengths and two u32s.
        unsafe {
            call_ok(
                nr::CHANNEL_CALL,
                [
                    self.raw() as u64,
                    0,
                    deadline.into_nanos() as u64,
                    addr(args.as_ptr()),
                    addr(&raw mut nb),
                    addr(&raw mut nh),
                ],
            )?
        };
        for (slot, value) in rd_handles.iter_mut().zip(&rd_raw[..nh as usize]) {
            *slot = Handle::from_raw(*value);
        }
        Ok((nb as usize, nh as usize))
    }
}

impl Event {
    /// `zx_event_create`.
    pub fn create() -> Result<Event> {
        // SAFETY: the kernel writes one u32 through `out`, a local of create_one.
        create_one(|out| unsafe { call_ok(nr::EVENT_CREATE, [0, out]) }).map(Event)
    }
}

impl EventPair {
    /// `zx_eventpair_create`: two connected ends.
    pub fn create() -> Result<(EventPair, EventPair)> {
        create_pair(nr::EVENTPAIR_CREATE, 0).map(|(a, b)| (EventPair(a), EventPair(b)))
    }

    /// `zx_object_signal_peer`: clears then sets signals on the other end.
    pub fn signal_peer(&self, clear: Signals, set: Signals) -> Result {
        signal_peer(self.raw(), clear, set)
    }
}

impl Channel {
    /// `zx_object_signal_peer`: user signals on the other end.
    pub fn signal_peer(&self, clear: Signals, set: Signals) -> Result {
        signal_peer(self.raw(), clear, set)
    }
}

fn signal_peer(raw: u32, clear: Signals, set: Signals) -> Result {
    // SAFETY: no pointers.
    unsafe { call_ok(nr::OBJECT_SIGNAL_PEER, [raw as u64, clear.bits() as u64, set.bits() as u64]) }
}

/// A port packet (`zx_port_packet_t`, 48 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Packet {
    /// The key given to queue or wait_async.
    pub key: u64,
    /// 0 user, 1 signal.
    pub packet_type: u32,
    /// A status the sender chose.
    pub status: i32,
    /// User payload, or for signal packets: trigger u32, observed u32, count u64,
    /// timestamp u64, reserved u64.
    pub payload: [u8; 32],
}

impl Packet {
    /// A user packet.
    pub fn user(key: u64, payload: [u8; 32]) -> Packet {
        Packet { key, packet_type: 0, status: 0, payload }
    }

    /// For a signal packet: the signals observed.
    pub fn observed(&self) -> Signals {
        Signals::from_bits_truncate(crate::le_u32(&self.payload, 4))
    }
}

impl Port {
    /// `zx_port_create`.
    pub fn create() -> Result<Port> {
        // SAFETY: the kernel writes one u32 through `out`, a local of create_one.
        create_one(|out| unsafe { call_ok(nr::PORT_CREATE, [0, out]) }).map(Port)
    }

    /// `zx_port_queue`: a user packet.
    pub fn queue(&self, packet: &Packet) -> Result {
        // SAFETY: the kernel reads 48 bytes.
        unsafe { call_ok(nr::PORT_QUEUE, [self.raw() as u64, addr(packet)]) }
    }

    /// `zx_port_wait`: the oldest packet, waiting until `deadline`.
    pub fn wait(&self, deadline: Time) -> Result<Packet> {
        let mut packet = Packet::default();
        // SAFETY: the kernel writes 48 bytes.
        unsafe { call_ok(nr::PORT_WAIT, [self.raw() as u64, deadline.into_nanos() as u64, addr(&raw mut packet)])? };
        Ok(packet)
    }

    /// `zx_port_cancel`: removes the registrations of `source` with `key`.
    pub fn cancel(&self, source: &impl AsHandleRef, key: u64) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::PORT_CANCEL, [self.raw() as u64, source.raw_handle() as u64, key]) }
    }
}

impl Timer {
    /// `zx_timer_create` on the monotonic clock (`slack_mode` 0 center, 1 early, 2 late).
    pub fn create(slack_mode: u32) -> Result<Timer> {
        // SAFETY: the kernel writes one u32 through `out`, a local of create_one.
        create_one(|out| unsafe { call_ok(nr::TIMER_CREATE, [slack_mode as u64, 0, out]) }).map(Timer)
    }

    /// `zx_timer_set`: SIGNALED at `deadline`.
    pub fn set(&self, deadline: Time, slack: crate::Duration) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::TIMER_SET, [self.raw() as u64, deadline.into_nanos() as u64, slack.into_nanos() as u64]) }
    }

    /// `zx_timer_cancel`.
    pub fn cancel(&self) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::TIMER_CANCEL, [self.raw() as u64]) }
    }
}

/// One entry of [`object_wait_many`] (`zx_wait_item_t`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct WaitItem {
    /// The raw handle to wait on (borrowed).
    pub handle: u32,
    /// The signals to wait for.
    pub waitfor: Signals,
    /// Out: the signals observed.
    pub pending: Signals,
}

impl WaitItem {
    /// An item for `object`.
    pub fn new(object: &impl AsHandleRef, waitfor: Signals) -> WaitItem {
        WaitItem { handle: object.raw_handle(), waitfor, pending: Signals::NONE }
    }
}

/// `zx_object_wait_many`: waits until any item's signals are met or `deadline`; fills
/// each item's `pending` (at most 64 items).
pub fn object_wait_many(items: &mut [WaitItem], deadline: Time) -> Result {
    // SAFETY: WaitItem is repr(C) 12 bytes (u32, Signals(u32), Signals(u32)); the kernel
    // reads and writes items.len() of them.
    unsafe {
        call_ok(nr::OBJECT_WAIT_MANY, [addr(items.as_mut_ptr()), items.len() as u64, deadline.into_nanos() as u64])
    }
}
