#!/usr/bin/env python3
"""Counts the guest instructions of a QEMU `-d in_asm,exec,nochain` log per function.

    bench-profile.py LOG_A LOG_B OPS --elf FILE [--elf FILE ...] [--top N]

LOG_A and LOG_B are traces of two boots that differ only in the number of operations
(`ops=N` and `ops=N+OPS` on the benchmark program's command line); the difference,
divided by OPS, is the cost of one operation per function, with every set-up and
shut-down instruction cancelled out. Symbols come from the ELF files (the kernel and
the EL0 programs), read with llvm-nm. Standard library only (and llvm-nm).
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys

TB_HEAD = re.compile(r"^IN:")
INSN = re.compile(r"^0x([0-9a-f]+):\s")
TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def llvm_nm():
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
    host = re.search(r"host: (\S+)", subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout)
    path = os.path.join(sysroot, "lib", "rustlib", host.group(1) if host else "", "bin", "llvm-nm")
    return path if os.path.exists(path) else "llvm-nm"


def symbols(elfs):
    table = []
    nm = llvm_nm()
    for elf in elfs:
        out = subprocess.run([nm, "-n", "-C", "--defined-only", elf], capture_output=True, text=True).stdout
        tag = os.path.basename(elf)
        for line in out.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[1].lower() in "tw":
                table.append((int(parts[0], 16), f"{tag}: {parts[2]}"))
    table.sort()
    return [a for a, _ in table], [n for _, n in table]


def shorten(name):
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return name if len(name) <= 110 else name[:107] + "..."


def per_pc(log):
    """{pc: executions x instructions} attributed to each instruction's own pc."""
    blocks = {}
    counts = collections.Counter()
    current = None
    with open(log, errors="replace") as f:
        for line in f:
            if TB_HEAD.match(line):
                current = []
                continue
            if current is not None:
                m = INSN.match(line)
                if m:
                    current.append(int(m.group(1), 16))
                    continue
                if current:
                    blocks[current[0]] = current
                current = None
            m = TRACE.match(line)
            if m:
                counts[int(m.group(1), 16)] += 1
    insns = collections.Counter()
    for pc, n in counts.items():
        for ipc in blocks.get(pc, [pc]):
            insns[ipc] += n
    return insns


def by_function(insns, addrs, names):
    out = collections.Counter()
    for pc, n in insns.items():
        i = bisect.bisect_right(addrs, pc) - 1
        out[shorten(names[i]) if i >= 0 else f"?{pc:#x}"] += n
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log_a")
    ap.add_argument("log_b")
    ap.add_argument("ops", type=int)
    ap.add_argument("--elf", action="append", default=[])
    ap.add_argument("--top", type=int, default=60)
    args = ap.parse_args()
    addrs, names = symbols(args.elf)
    a = by_function(per_pc(args.log_a), addrs, names)
    b = by_function(per_pc(args.log_b), addrs, names)
    diff = {k: (b.get(k, 0) - a.get(k, 0)) / args.ops for k in set(a) | set(b)}
    total = sum(diff.values())
    print(f"{total:10.1f}  instructions per operation in all")
    for name, n in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[: args.top]:
        if abs(n) >= 0.05:
            print(f"{n:10.1f}  {name}")


if __name__ == "__main__":
    sys.exit(main())
