//! Demo: a channel ping-pong between two processes.
//!
//! `demo-pingpong [ROUNDS]` starts a second copy of itself (with the argument `--pong`)
//! from the boot archive. The launcher hands the copy one end of a channel (its bootstrap
//! channel, `startup().channel`) and gives us the other (`Launched::channel`). We send a
//! counter, the copy sends it back plus one, ROUNDS times; then we report the average
//! round trip. Copy this to write a client and a server in two processes.
#![no_std]
#![no_main]

extern crate alloc;

use ferrite_rt::process::{self, wait_exit};
use ferrite_rt::{println, startup, zx};
use zx::{AsHandleRef, Channel, Time};

ferrite_rt::main!(main);

/// The copy: answers every number with the number plus one until the channel closes.
fn pong(channel: &Channel) -> i32 {
    let mut buf = [0u8; 8];
    while let Ok((n, _)) = channel.read_wait(&mut buf, &mut [], Time::INFINITE) {
        if n != 8 {
            return 1;
        }
        let value = u64::from_le_bytes(buf) + 1;
        if channel.write(&value.to_le_bytes(), &mut []).is_err() {
            return 1;
        }
    }
    0 // PEER_CLOSED: the ping side is done.
}

fn main() -> i32 {
    let args = ferrite_rt::args();
    if args.get(1) == Some(&"--pong") {
        return startup().channel.as_ref().map_or(1, pong);
    }
    let rounds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let (_job, child) = match process::spawn("demo-pingpong", &["--pong"]) {
        Ok(c) => c,
        Err(e) => {
            println!("demo-pingpong: cannot start the other process: {e}");
            return 1;
        }
    };
    println!(
        "ping (pid {}) <-> pong (pid {}): {rounds} round trips",
        startup().process.get_koid().unwrap_or(0),
        child.process.get_koid().unwrap_or(0)
    );
    let start = Time::get_monotonic();
    let mut buf = [0u8; 8];
    let mut value = 0u64;
    for _ in 0..rounds {
        if child.channel.write(&value.to_le_bytes(), &mut []).is_err() {
            println!("demo-pingpong: pong went away");
            return 1;
        }
        match child.channel.read_wait(&mut buf, &mut [], Time::INFINITE) {
            Ok((8, _)) => value = u64::from_le_bytes(buf),
            _ => {
                println!("demo-pingpong: no answer");
                return 1;
            }
        }
    }
    let elapsed = Time::get_monotonic() - start;
    drop(child.channel); // pong sees PEER_CLOSED and exits
    let code = wait_exit(&child.process).unwrap_or(-1);
    let per = elapsed.into_nanos() / rounds.max(1) as i64;
    println!(
        "pong counted to {value}; {rounds} round trips in {} ms, {} us each; pong exited with {code}",
        elapsed.into_millis(),
        per / 1000
    );
    if value == rounds && code == 0 { 0 } else { 1 }
}
