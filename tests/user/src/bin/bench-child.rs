//! The other process of the benchmark program's cross-process figures (`bin/bench-child`
//! in the benchmark initrd; `tests/user/src/bin/bench.rs` loads and starts it).
//!
//! `zx_process_start` hands it a channel in x0 (its arg1) and 0 in x1. The runtime reads
//! those two registers as the root VMAR and root resource of a first process, so here
//! `ctx.root_vmar` is the channel. It answers each message with the message's first
//! 64 bytes (all of a 64-byte ping, an acknowledgement of a 64 KiB message), and exits
//! with 0 when the channel's peer closes: wait for READABLE, read, write, again.

#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use user::Ctx;
use user::ipc::{self, CHANNEL_MAX_MSG_BYTES, CHANNEL_READABLE, PEER_CLOSED};
use user::zx::{self, ZX_ERR_PEER_CLOSED, ZX_ERR_SHOULD_WAIT, ZX_OK};

user::entry!(main);

/// The receive buffer: room for the largest message.
struct Buffer(UnsafeCell<[u8; CHANNEL_MAX_MSG_BYTES]>);
// SAFETY: the process has one thread.
unsafe impl Sync for Buffer {}
static BUF: Buffer = Buffer(UnsafeCell::new([0; CHANNEL_MAX_MSG_BYTES]));

/// Bytes of each reply at most.
const REPLY: usize = 64;

fn main(ctx: &Ctx) -> i64 {
    let channel = ctx.root_vmar;
    // SAFETY: the process has one thread and this is the only reference.
    let buf = unsafe { &mut *BUF.0.get() };
    loop {
        let (status, _) = zx::object_wait_one(channel, CHANNEL_READABLE | PEER_CLOSED, zx::TIME_INFINITE);
        if status != ZX_OK {
            return 2;
        }
        let (status, len, _) = ipc::channel_read(channel, buf, &mut []);
        match status {
            ZX_OK => {}
            ZX_ERR_SHOULD_WAIT => continue,
            ZX_ERR_PEER_CLOSED => return 0,
            _ => return 3,
        }
        let n = (len as usize).min(REPLY);
        if ipc::channel_write(channel, &buf[..n], &[]).is_err() {
            return 4;
        }
    }
}
