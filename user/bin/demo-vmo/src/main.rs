//! Demo: memory shared between processes through a VMO.
//!
//! `demo-vmo` creates a one-page VMO, writes a greeting into it, and starts a second copy
//! of itself (argument `--child`) with a handle to the VMO (bootstrap tag `USER`) and an
//! eventpair end (`USER + 1`). Both processes map the same VMO: the child reads the
//! greeting straight from memory, writes its answer beside it, and signals the
//! eventpair; the parent then reads the answer from its own mapping. Finally a
//! copy-on-write child of the VMO shows that writes to a snapshot stay private.
#![no_std]
#![no_main]

extern crate alloc;

use ferrite_rt::process::{ProcessBuilder, program_path, wait_exit};
use ferrite_rt::pure::bootstrap;
use ferrite_rt::{println, startup, take_handle, zx};
use zx::{AsHandleRef, EventPair, HandleBased, Job, Rights, Signals, Time, VmarFlags, Vmo, VmoChildOptions};

ferrite_rt::main!(main);

const SIZE: usize = 4096;
const ANSWER_AT: usize = 1024;

/// Maps `vmo` read-write and returns its bytes.
fn map(vmo: &Vmo) -> zx::Result<&'static mut [u8]> {
    let addr = startup().root_vmar.map(0, vmo, 0, SIZE, VmarFlags::PERM_READ | VmarFlags::PERM_WRITE)?;
    // SAFETY: a fresh RW mapping of SIZE bytes that stays mapped until the process ends;
    // the other process writes only while we wait for its signal.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, SIZE) })
}

fn text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("?")
}

fn child() -> i32 {
    let (Some(vmo), Some(event)) = (take_handle(bootstrap::USER), take_handle(bootstrap::USER + 1)) else {
        println!("demo-vmo child: missing handles");
        return 1;
    };
    let (vmo, event) = (Vmo::from(vmo), EventPair::from(event));
    let Ok(mem) = map(&vmo) else { return 1 };
    println!("  child (pid {}) reads from shared memory: \"{}\"", startup().process.get_koid().unwrap_or(0), text(mem));
    let answer = b"hello back from the child process";
    mem[ANSWER_AT..ANSWER_AT + answer.len()].copy_from_slice(answer);
    let _ = event.signal_peer(Signals::NONE, Signals::USER_0);
    0
}

fn run() -> zx::Result<i32> {
    let vmo = Vmo::create(SIZE as u64)?;
    let mem = map(&vmo)?;
    let greeting = b"hello from the parent process";
    mem[..greeting.len()].copy_from_slice(greeting);
    let (ours, theirs) = EventPair::create()?;
    let job = Job::create(startup().job.as_ref().ok_or(zx::Status::BadHandle)?)?;
    let launched = ProcessBuilder::new("demo-vmo")
        .arg("--child")
        .handle(
            bootstrap::BOOT_ARCHIVE,
            ferrite_rt::boot_archive()
                .ok_or(zx::Status::NotFound)?
                .vmo
                .duplicate_handle(Rights::SAME_RIGHTS)?
                .into_handle(),
        )
        .handle(bootstrap::USER, vmo.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle())
        .handle(bootstrap::USER + 1, theirs.into_handle())
        .spawn_from_archive(&job, &program_path("demo-vmo"))
        .map_err(|e| match e {
            ferrite_rt::process::LaunchError::Zx(s) => s,
            _ => zx::Status::NotFound,
        })?;
    println!("parent wrote \"{}\" into VMO koid {}", text(mem), vmo.get_koid()?);
    ours.wait_handle(Signals::USER_0 | Signals::EVENTPAIR_PEER_CLOSED, Time::after(zx::Duration::from_seconds(10)))?;
    println!("parent reads the child's answer from the same memory: \"{}\"", text(&mem[ANSWER_AT..]));
    let code = wait_exit(&launched.process)?;

    // Copy-on-write: the snapshot sees the parent's bytes until someone writes.
    let snapshot = vmo.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, 0, SIZE as u64)?;
    snapshot.write(b"SNAPSHOT", 0)?;
    let mut head = [0u8; 8];
    snapshot.read(&mut head, 0)?;
    println!(
        "a snapshot written at offset 0 reads \"{}\"; the original still reads \"{}\" ({} KiB committed to the snapshot)",
        text(&head),
        text(&mem[..8]),
        snapshot.info()?.committed_bytes / 1024
    );
    Ok(if code == 0 { 0 } else { 1 })
}

fn main() -> i32 {
    if ferrite_rt::args().get(1) == Some(&"--child") {
        return child();
    }
    match run() {
        Ok(code) => code,
        Err(e) => {
            println!("demo-vmo: {e}");
            1
        }
    }
}
