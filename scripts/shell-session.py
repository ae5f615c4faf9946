#!/usr/bin/env python3
"""A scripted session of the real shell, typed over the serial console (QEMU's stdin).

    shell-session.py KERNEL_IMAGE INITRD [QEMU ARGS...]

Boots Ferrite with the boot archive (init starts bin/sh), then plays SESSION: each step
types a line (or a control byte) and waits for the output it must produce, and for the
prompt where one follows. It checks ls, running a demo, a background program in ps,
kill, Ctrl-C of a foreground program, echo/cpus/mem/uptime, and that `poweroff` ends
QEMU with status 0. Prints one `test shell/<step> ... ok|FAILED` line per step and
`N passed, M failed`; on a failure (or with SHOW_CONSOLE=1), the console output.
Standard library only.
"""

import os
import re
import subprocess
import sys
import threading
import time

PROMPT = "ferrite> "
STEP_TIMEOUT = float(os.environ.get("STEP_TIMEOUT", "30"))

# (name, bytes to type, regexes that must appear in order, whether a prompt follows)
SESSION = [
    ("banner-and-prompt", None, [r"Type `help`", r"poweroff", re.escape(PROMPT)], False),
    ("help", "help\r", [r"ps +programs started here"], True),
    ("ls", "ls\r", [r"demo-pingpong +\d+ bytes", r"sh +\d+ bytes"], True),
    ("run-demo", "demo-pingpong 50\r", [r"pong counted to 50; 50 round trips"], True),
    ("echo-with-backspace", "echo helloX\x7f world\r", [r"\nhello world\n"], True),
    ("unknown-command", "nosuch\r", [r"nosuch: command not found"], True),
    ("background", "demo-primes 20000000 loop &\r", [r"\[1\] demo-primes pid \d+"], True),
    ("ps-shows-it", "ps\r", [r"\[1\] +\d+ demo-primes +running +\d+"], True),
    ("cpus", "cpus\r", [r"(\d+) CPU\(s\) online"], True),
    ("kill", "kill 1\r", [r"\[1\] demo-primes killed"], True),
    ("ps-after-kill", "ps\r", [r"NAME"], True),
    ("foreground-ctrl-c-start", "demo-primes 200000000 loop\r", [r"counting primes below 200000000"], False),
    ("ctrl-c", "\x03", [r"\^C", r"sh: demo-primes killed"], True),
    ("mem", "mem\r", [r"free +\d+ KiB"], True),
    ("uptime", "uptime\r", [r"up \d+:\d\d:\d\d"], True),
    ("poweroff", "poweroff\r", [r"sh: bye", r"shutting down \(status 0\)"], False),
]


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    kernel, initrd, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    qemu = os.environ.get("QEMU", "qemu-system-aarch64")
    cmd = [qemu, *extra, "-nographic", "-nic", "none", "-semihosting", "-kernel", kernel, "-initrd", initrd]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = []
    lock = threading.Lock()

    def pump():
        while True:
            chunk = proc.stdout.read1(4096)
            if not chunk:
                return
            with lock:
                output.append(chunk.decode("utf-8", "replace").replace("\r", ""))

    threading.Thread(target=pump, daemon=True).start()

    def text():
        with lock:
            return "".join(output)

    def expect(pattern, start, deadline):
        while time.time() < deadline:
            m = re.compile(pattern).search(text(), start)
            if m:
                return m.end()
            if proc.poll() is not None:
                m = re.compile(pattern).search(text(), start)
                return m.end() if m else None
            time.sleep(0.05)
        return None

    passed = failed = 0
    pos = 0
    broken = False
    for name, typed, patterns, prompt in SESSION:
        if broken:
            print(f"test shell/{name} ... skipped")
            continue
        if typed is not None:
            try:
                proc.stdin.write(typed.encode())
                proc.stdin.flush()
            except BrokenPipeError:
                pass
        deadline = time.time() + STEP_TIMEOUT
        why = None
        for pattern in patterns + ([re.escape(PROMPT)] if prompt else []):
            end = expect(pattern, pos, deadline)
            if end is None:
                why = f"no output matching /{pattern}/"
                break
            pos = end
        if why is None:
            passed += 1
            print(f"test shell/{name} ... ok")
        else:
            failed += 1
            broken = True
            print(f"test shell/{name} ... FAILED: {why}")
    try:
        status = proc.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    if not broken:
        if status == 0:
            passed += 1
            print("test shell/qemu-exit-status-0 ... ok")
        else:
            failed += 1
            print(f"test shell/qemu-exit-status-0 ... FAILED: status {status}")
    if failed or os.environ.get("SHOW_CONSOLE"):
        print("---- console ----")
        print(text())
        print("----")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
