//! `bin/sh`: the shell on the serial console.
//!
//! A reader thread blocks in `zx_debug_read` and forwards the bytes over a channel; the
//! main thread waits on that channel and on the foreground program at once
//! (`zx_object_wait_many`), so Ctrl-C can kill a program while it runs. Each program runs
//! in its own job (`kill` and Ctrl-C kill the job: the program and everything it started).
//! Type `help` for the commands.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use ferrite_rt::process::{self, Launched};
use ferrite_rt::pure::line::{self, Event, LineEditor};
use ferrite_rt::{print, println, startup, zx};
use zx::{AsHandleRef, Channel, Job, Koid, Signals, Task, Time, WaitItem, abi::retcode};

ferrite_rt::main!(main);

const PROMPT: &str = "ferrite> ";

/// A program the shell started.
struct Running {
    /// `[N]` in messages.
    number: u32,
    name: String,
    job: Job,
    launched: Launched,
    started: Time,
}

struct Shell {
    input: Channel,
    editor: LineEditor,
    background: Vec<Running>,
    next_number: u32,
    /// Bytes received but not yet fed to the editor.
    pending: Vec<u8>,
}

/// The reader thread: console bytes into the channel, forever.
fn reader(out: Channel) {
    let Some(resource) = startup().resource.as_ref() else {
        println!("sh: no console resource; input is unavailable");
        return;
    };
    let mut buf = [0u8; 64];
    loop {
        match zx::debug_read(resource, &mut buf) {
            Ok(n) => {
                if out.write(&buf[..n], &mut []).is_err() {
                    return;
                }
            }
            Err(e) => {
                println!("sh: console read failed: {e}");
                return;
            }
        }
    }
}

fn describe(code: i64) -> String {
    match code {
        retcode::EXCEPTION_KILL => "killed by a fault".into(),
        retcode::SYSCALL_KILL => "killed".into(),
        c => alloc::format!("exited with code {c}"),
    }
}

fn koid_of(h: &impl AsHandleRef) -> Koid {
    h.get_koid().unwrap_or(0)
}

impl Shell {
    /// Reads whatever input is queued (waiting until `deadline` for some).
    fn read_input(&mut self, deadline: Time) -> bool {
        let mut buf = [0u8; 256];
        match self.input.read_wait(&mut buf, &mut [], deadline) {
            Ok((n, _)) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// The next line typed (`None` on Ctrl-D or when input ends).
    fn read_line(&mut self) -> Option<String> {
        print!("{PROMPT}");
        loop {
            let bytes: Vec<u8> = core::mem::take(&mut self.pending);
            let mut echo = Vec::new();
            for (i, b) in bytes.iter().enumerate() {
                let event = self.editor.feed(*b, &mut echo);
                let done = match event {
                    Event::None => None,
                    Event::Line(l) => Some(Some(l)),
                    Event::Interrupt => {
                        zx::debug_write(&echo);
                        echo.clear();
                        print!("{PROMPT}");
                        None
                    }
                    Event::Eof => Some(None),
                };
                if let Some(result) = done {
                    zx::debug_write(&echo);
                    self.pending.extend_from_slice(&bytes[i + 1..]);
                    return result;
                }
            }
            zx::debug_write(&echo);
            self.reap_background();
            if !self.read_input(Time::INFINITE) {
                return None;
            }
        }
    }

    /// Reports background programs that ended.
    fn reap_background(&mut self) {
        let mut i = 0;
        while i < self.background.len() {
            let r = &self.background[i];
            if r.launched.process.signals().is_ok_and(|s| s.contains(Signals::PROCESS_TERMINATED)) {
                let code = r.launched.process.info().map_or(-1, |i| i.return_code);
                println!("[{}] {} {}", r.number, r.name, describe(code));
                let r = self.background.remove(i);
                let _ = r.job.kill();
            } else {
                i += 1;
            }
        }
    }

    fn start(&mut self, words: &[&str], background: bool) -> Option<Running> {
        let name = words[0];
        match process::spawn(name, &words[1..]) {
            Ok((job, launched)) => {
                // Background programs get a number for `kill N`.
                let number = if background { self.next_number } else { 0 };
                self.next_number += background as u32;
                Some(Running { number, name: name.into(), job, launched, started: Time::get_monotonic() })
            }
            Err(process::LaunchError::NotFound) => {
                println!("sh: {name}: command not found (try `help` or `ls`)");
                None
            }
            Err(e) => {
                println!("sh: {name}: {e}");
                None
            }
        }
    }

    /// Runs a program in the foreground: waits for it, or kills it on Ctrl-C.
    fn foreground(&mut self, running: Running) {
        loop {
            let mut items = [
                WaitItem::new(&running.launched.process, Signals::PROCESS_TERMINATED),
                WaitItem::new(&self.input, Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED),
            ];
            if zx::object_wait_many(&mut items, Time::INFINITE).is_err() {
                break;
            }
            if items[0].pending.contains(Signals::PROCESS_TERMINATED) {
                break;
            }
            if items[1].pending.contains(Signals::CHANNEL_READABLE) && self.read_input(Time::INFINITE_PAST) {
                // Only Ctrl-C counts while a program runs; other input is dropped.
                if self.pending.contains(&line::CTRL_C) {
                    println!("^C");
                    let _ = running.job.kill();
                    let _ = running.launched.process.wait_handle(Signals::PROCESS_TERMINATED, Time::INFINITE);
                }
                self.pending.clear();
            }
        }
        let code = running.launched.process.info().map_or(-1, |i| i.return_code);
        let _ = running.job.kill();
        if code != 0 {
            println!("sh: {} {}", running.name, describe(code));
        }
    }

    fn run(&mut self, words: &[&str], background: bool) -> bool {
        match words[0] {
            "help" => help(),
            "ls" => ls(),
            "echo" => println!("{}", words[1..].join(" ")),
            "uptime" => uptime(),
            "cpus" => cpus(),
            "mem" => mem(),
            "ps" => self.ps(),
            "kill" => self.kill(&words[1..]),
            "poweroff" | "exit" => return false,
            _ => {
                if let Some(running) = self.start(words, background) {
                    if background {
                        println!("[{}] {} pid {}", running.number, running.name, koid_of(&running.launched.process));
                        self.background.push(running);
                    } else {
                        self.foreground(running);
                    }
                }
            }
        }
        true
    }

    fn kill(&mut self, args: &[&str]) {
        if args.is_empty() {
            println!("usage: kill N|PID   (N from `ps`, as in [N])");
            return;
        }
        for arg in args {
            let want: u64 = arg.trim_start_matches(['[', '%']).trim_end_matches(']').parse().unwrap_or(u64::MAX);
            let found =
                self.background.iter().position(|r| r.number as u64 == want || koid_of(&r.launched.process) == want);
            match found {
                Some(i) => {
                    let r = &self.background[i];
                    match r.job.kill() {
                        Ok(()) => {
                            let _ = r.launched.process.wait_handle(Signals::PROCESS_TERMINATED, Time::INFINITE);
                            println!("[{}] {} killed", r.number, r.name);
                            self.background.remove(i);
                        }
                        Err(e) => println!("kill: {arg}: {e}"),
                    }
                }
                None => println!("kill: {arg}: no such program (see `ps`)"),
            }
        }
    }

    fn ps(&self) {
        let s = startup();
        if let Some(root) = &s.root_job {
            let (jobs, procs) = count_children(root);
            println!("root job: {jobs} child job(s), {procs} process(es) directly below it");
        }
        println!(
            "{:>4} {:>6} {:<16} {:<9} {:>4} {:<10} {:>4} {:>9} {:>9}",
            "N", "PID", "NAME", "STATE", "THR", "MAIN", "CPU", "CPU-MS", "MEM-KIB"
        );
        let me = (0u32, "sh", &s.process, &s.thread, Time::ZERO);
        let rows = core::iter::once(me).chain(
            self.background
                .iter()
                .map(|r| (r.number, r.name.as_str(), &r.launched.process, &r.launched.thread, r.started)),
        );
        for (number, name, process, thread, _) in rows {
            let state = match process.info() {
                Ok(i) if i.exited => "exited",
                Ok(i) if i.started => "running",
                Ok(_) => "new",
                Err(_) => "?",
            };
            let mut koids = [0u64; 64];
            let threads = process.threads(&mut koids).map_or(0, |(_, avail)| avail);
            let (tstate, cpu, ms) = match (thread.info(), thread.stats()) {
                (Ok(i), Ok(st)) => (
                    i.state.name(),
                    st.last_scheduled_cpu.map_or(String::from("-"), |c| alloc::format!("{c}")),
                    st.total_runtime / 1_000_000,
                ),
                _ => ("?", String::from("-"), 0),
            };
            let mem = process.task_stats().map_or(0, |t| t.mem_private_bytes / 1024);
            let n = if number == 0 { String::from("-") } else { alloc::format!("[{number}]") };
            println!(
                "{:>4} {:>6} {:<16} {:<9} {:>4} {:<10} {:>4} {:>9} {:>9}",
                n,
                koid_of(process),
                name,
                state,
                threads,
                tstate,
                cpu,
                ms,
                mem
            );
        }
    }
}

/// Child jobs and processes of `job`. Deeper levels cannot be listed: enumeration gives
/// koids only, and ABI v2 has no zx_object_get_child to turn a koid into a handle.
fn count_children(job: &Job) -> (usize, usize) {
    let mut koids = [0u64; 256];
    let procs = job.processes(&mut koids).map_or(0, |(_, avail)| avail);
    let jobs = job.children(&mut koids).map_or(0, |(_, avail)| avail);
    (jobs, procs)
}

fn help() {
    println!("Commands:");
    println!("  help              this list");
    println!("  ls                programs in the boot archive");
    println!("  NAME [ARGS] [&]   run a program (in the background with &); Ctrl-C stops it");
    println!("  ps                programs started here, with state, CPU and memory");
    println!("  kill N|PID        stop a background program");
    println!("  mem               kernel memory (KMEM_STATS)");
    println!("  cpus              CPUs online");
    println!("  uptime            time since boot");
    println!("  echo TEXT         print TEXT");
    println!("  poweroff          end the shell and init: the machine stops (also Ctrl-D)");
    println!("Try: demo-pingpong, demo-primes, demo-vmo, hello.");
}

fn ls() {
    let Some(archive) = ferrite_rt::boot_archive() else {
        println!("ls: no boot archive");
        return;
    };
    for entry in ferrite_rt::pure::cpio::entries(archive.bytes) {
        match entry {
            Ok(e) if e.is_file() => {
                if let Some(name) = ferrite_rt::pure::cpio::normalize(e.name).strip_prefix("bin/") {
                    println!("{name:<16} {:>8} bytes", e.data_len);
                }
            }
            Ok(_) => {}
            Err(e) => {
                println!("ls: bad archive: {e:?}");
                return;
            }
        }
    }
}

fn uptime() {
    let ns = Time::get_monotonic().into_nanos();
    let s = ns / 1_000_000_000;
    println!("up {}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, ns / 1_000_000 % 1000);
}

fn cpus() {
    println!("{} CPU(s) online; counter at {} Hz", zx::system_get_num_cpus(), zx::ticks_per_second());
}

fn mem() {
    let Some(r) = startup().resource.as_ref() else {
        println!("mem: no resource");
        return;
    };
    match r.kmem_stats() {
        Ok(k) => {
            let kib = |b: u64| b / 1024;
            println!("total      {:>9} KiB", kib(k.total_bytes));
            println!("free       {:>9} KiB", kib(k.free_bytes));
            println!("vmo        {:>9} KiB", kib(k.vmo_bytes));
            println!("page tbls  {:>9} KiB", kib(k.mmu_overhead_bytes));
            println!("heap       {:>9} KiB ({} KiB free)", kib(k.total_heap_bytes), kib(k.free_heap_bytes));
            println!("ipc        {:>9} KiB", kib(k.ipc_bytes));
            println!("wired      {:>9} KiB", kib(k.wired_bytes));
        }
        Err(e) => println!("mem: {e}"),
    }
}

fn main() -> i32 {
    let (ours, theirs) = match Channel::create() {
        Ok(pair) => pair,
        Err(e) => {
            println!("sh: {e}");
            return 1;
        }
    };
    if let Err(e) = ferrite_rt::thread::spawn_named("sh-input", move || reader(theirs)) {
        println!("sh: cannot start the input thread: {e}");
        return 1;
    }
    let mut shell =
        Shell { input: ours, editor: LineEditor::new(), background: Vec::new(), next_number: 1, pending: Vec::new() };
    while let Some(text) = shell.read_line() {
        let cmd = line::split(&text);
        if cmd.words.is_empty() {
            continue;
        }
        if !shell.run(&cmd.words, cmd.background) {
            break;
        }
    }
    println!("sh: bye");
    for r in &shell.background {
        let _ = r.job.kill();
    }
    0
}
