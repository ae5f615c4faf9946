//! `bin/init`: the first process (the kernel starts it from the boot archive).
//!
//! - With `run=a,b,...` on the kernel command line it starts those programs one after
//!   another (each in its own job, `name:arg:arg` passes arguments), reports how each
//!   ended, and exits with 0 when all exited with 0 (else 1).
//! - Otherwise it prints the banner and starts `bin/sh` with the console (the root
//!   resource) and the root job, and exits when the shell does.
//!
//! The machine shuts down when init exits (ABI v2 §3): `poweroff` in the shell ends it.
#![no_std]
#![no_main]

extern crate alloc;

use ferrite_rt::process::{LaunchError, Launched, ProcessBuilder, program_path, wait_exit};
use ferrite_rt::pure::bootstrap;
use ferrite_rt::{println, startup, zx};
use zx::{AsHandleRef, HandleBased, Job, Rights, Task, abi::retcode};

ferrite_rt::main!(main);

/// How a child ended, in words.
fn describe(code: i64) -> alloc::string::String {
    match code {
        retcode::EXCEPTION_KILL => "was killed by a fault".into(),
        retcode::SYSCALL_KILL => "was killed".into(),
        c => alloc::format!("exited with code {c}"),
    }
}

fn launch(name: &str, args: &[&str], trusted: bool) -> Result<(Job, Launched), LaunchError> {
    let s = startup();
    let root = s.root_job.as_ref().ok_or(LaunchError::NotFound)?;
    let job = Job::create(root)?;
    let _ = job.set_name(name);
    let archive = ferrite_rt::boot_archive().ok_or(LaunchError::NotFound)?;
    let mut b = ProcessBuilder::new(name)
        .args(args.iter().copied())
        .handle(bootstrap::JOB, job.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle())
        .handle(bootstrap::BOOT_ARCHIVE, archive.vmo.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    if trusted {
        if let Some(r) = &s.resource {
            b = b.handle(bootstrap::RESOURCE, r.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
        }
        b = b.handle(bootstrap::ROOT_JOB, root.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    }
    let launched = b.spawn_from_archive(&job, &program_path(name))?;
    Ok((job, launched))
}

/// Starts one program, waits for it, reports how it ended; true when it exited with 0.
fn run_one(spec: &str) -> bool {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or("");
    let args: alloc::vec::Vec<&str> = parts.collect();
    println!("init: starting {name}");
    match launch(name, &args, false) {
        Err(e) => {
            println!("init: cannot start {name}: {e}");
            false
        }
        Ok((job, child)) => {
            let code = wait_exit(&child.process).unwrap_or(-1);
            let _ = job.kill();
            println!("init: {name} {}", describe(code));
            code == 0
        }
    }
}

fn main() -> i32 {
    let s = startup();
    let run = s.cmdline.split_ascii_whitespace().filter_map(|w| w.strip_prefix("run=")).next_back();
    if let Some(list) = run {
        let mut all_ok = true;
        for spec in list.split(',').filter(|p| !p.is_empty()) {
            all_ok &= run_one(spec);
        }
        println!("init: done; shutting down");
        return if all_ok { 0 } else { 1 };
    }
    println!();
    println!(
        "Ferrite {} on {} CPU(s). Type `help` for commands.",
        env!("CARGO_PKG_VERSION"),
        zx::system_get_num_cpus()
    );
    println!("To quit: `poweroff` (or Ctrl-D at the prompt); in QEMU, Ctrl-A X.");
    println!();
    match launch("sh", &[], true) {
        Err(e) => {
            println!("init: cannot start the shell: {e}");
            1
        }
        Ok((job, sh)) => {
            let code = wait_exit(&sh.process).unwrap_or(-1);
            if code != 0 {
                println!("init: the shell {}", describe(code));
            }
            // Everything the shell started goes with it.
            let _ = job.kill();
            println!("init: powering off");
            if code == 0 { 0 } else { 1 }
        }
    }
}
