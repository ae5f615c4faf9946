#!/usr/bin/env python3
"""Turns the BENCH lines of tests/user/src/bin/bench.rs into Ferrite's benchmark report.

    bench-report.py BENCH_LINES --image KERNEL_IMG --qemu-version TEXT
                    [--markdown FILE] [--svg FILE] [--host HOSTBENCH_LINES]

Prints the table (Ferrite, Linux 6.1 on the same emulator, the ratio, the target and
whether it is met), the release image size and the memory overhead per committed page;
writes the same as Markdown (docs/BENCHMARKS.md) and a log-scale SVG bar chart, Ferrite
against Linux per figure. Standard library only.

The Linux figures are copied from the project's peer measurement (Debian's
linux-image-6.1.0-56-arm64 6.1.192-2 on qemu-system-aarch64 10.0.2, -M virt -cpu
cortex-a72 -icount shift=0,sleep=off, timed by a static EL0 program as PID 1).
"""

import argparse
import datetime
import os
import sys

CPU_MODEL = "cortex-a72"
MACHINE = "qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1G -icount shift=0,sleep=off"
BYTES_64K = 64 * 1024

# Linux 6.1 guest instructions per operation (bytes/insn where the figure is a rate).
LINUX_FIRST_USER_INSN = 913_916_928
LINUX_NULL_SYSCALL = 457.1  # getppid
LINUX_WRITE_4K_PRESENT = 3_303.4  # 4 KiB pwrite to a memfd, page present
LINUX_WRITE_64K_BYTES_PER_INSN = 1.74  # 64 KiB pwrite over 16 MiB: 37,667.2 insns
LINUX_WRITE_4K_FIRST_TOUCH = 6_039.1
LINUX_FAULT_FIRST_TOUCH = 3_046.2  # anonymous mapping, first touch
LINUX_COPY_64K_Q_BYTES_PER_INSN = 10.64  # ldp/stp of q registers: 6,158.2 insns

# (key in the BENCH lines, label, kind, Linux figure, target, note)
# kind "insns": instructions per op, lower is better; "rate": bytes per instruction,
# higher is better.
FIGURES = [
    ("null_syscall", "null syscall (`zx_handle_close(0)`; Linux `getppid`)", "insns",
     LINUX_NULL_SYSCALL, 60),
    ("vmo_write_4k_committed", "`zx_vmo_write` 4 KiB into a committed page", "insns",
     LINUX_WRITE_4K_PRESENT, 600),
    ("vmo_write_64k", "`zx_vmo_write` 64 KiB over a committed 16 MiB VMO (bytes/insn)", "rate",
     LINUX_WRITE_64K_BYTES_PER_INSN, 9.0),
    ("vmo_first_touch_4k", "`zx_vmo_write` 4 KiB that commits a fresh page", "insns",
     LINUX_WRITE_4K_FIRST_TOUCH, 1000),
    ("vmar_map_touch", "first touch of a page through a `zx_vmar_map` mapping", "insns",
     LINUX_FAULT_FIRST_TOUCH, 700),
    ("first_user_insn", "reset to the first EL0 instruction", "insns",
     LINUX_FIRST_USER_INSN, 2_000_000),
    ("vmo_create_close", "`zx_vmo_create` (4 KiB) + `zx_handle_close`", "insns", None, 800),
    ("memcpy_64k_q", "user-space 64 KiB copy, `ldp`/`stp` of q registers (bytes/insn; the ceiling)",
     "rate", LINUX_COPY_64K_Q_BYTES_PER_INSN, None),
]


def parse_fields(words):
    fields = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            fields[key] = int(value)
    return fields


def read_bench(path):
    """{name: {field: int}} from `BENCH <name> key=value...` lines."""
    results = {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0] == "BENCH":
                results[words[1]] = parse_fields(words[2:])
    return results


def read_host(path):
    """[(name, ns_per_op)] from `HOSTBENCH <name> ns_per_op=<f>` lines."""
    rows = []
    if not path:
        return rows
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) == 3 and words[0] == "HOSTBENCH" and words[2].startswith("ns_per_op="):
                rows.append((words[1], float(words[2].split("=", 1)[1])))
    return rows


def measured(results, key, kind):
    """The Ferrite figure: insns per op, or bytes per insn for a rate."""
    r = results.get(key)
    if r is None:
        sys.exit(f"bench-report.py: no BENCH line for {key}")
    if key == "first_user_insn":
        return float(r["insns"])
    if kind == "rate":
        return r["bytes"] / r["insns"]
    return r["insns"] / r["ops"]


def fmt(value, kind):
    if value is None:
        return "–"
    if kind == "rate":
        return f"{value:.2f} B/insn"
    if value >= 100_000:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def ratio(ferrite, linux, kind):
    """How many times better Ferrite is than Linux (> 1 means better)."""
    if linux is None or ferrite == 0:
        return None
    return ferrite / linux if kind == "rate" else linux / ferrite


def met(ferrite, target, kind):
    if target is None:
        return "reference"
    ok = ferrite >= target if kind == "rate" else ferrite <= target
    return "met" if ok else "NOT met"


def target_text(target, kind):
    if target is None:
        return "(reference)"
    return f"≥ {target}" if kind == "rate" else f"≤ {target:,}"


def build_rows(results):
    rows = []
    for key, label, kind, linux, target in FIGURES:
        value = measured(results, key, kind)
        rows.append({
            "key": key, "label": label, "kind": kind, "ferrite": value, "linux": linux,
            "target": target, "ratio": ratio(value, linux, kind), "met": met(value, target, kind),
        })
    return rows


def memory_overhead(results):
    """Kernel bytes per committed page beyond the page itself."""
    k = results.get("kmem")
    if k is None:
        return None
    frames_for_other_things = k["used_delta"] - k["vmo_delta"] - k["heap_total_delta"]
    overhead = frames_for_other_things + k["heap_used_delta"]
    return overhead / k["pages"], k


def table_lines(rows):
    head = "| figure | Ferrite | Linux 6.1 | Linux ÷ Ferrite | target | |"
    lines = [head, "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio_text = "–" if r["ratio"] is None else f"{r['ratio']:,.1f}×"
        lines.append(
            f"| {r['label']} | {fmt(r['ferrite'], r['kind'])} | {fmt(r['linux'], r['kind'])} "
            f"| {ratio_text} | {target_text(r['target'], r['kind'])} | {r['met']} |")
    return lines


def svg_chart(rows):
    """Horizontal bars on a log scale: instructions per operation, Ferrite and Linux.
    Rates are drawn as instructions per 64 KiB so every bar reads the same way."""
    def per_op(value, kind):
        if value is None:
            return None
        return BYTES_64K / value if kind == "rate" else value

    items = [(r["label"].replace("`", ""), per_op(r["ferrite"], r["kind"]), per_op(r["linux"], r["kind"]))
             for r in rows]
    lo_exp, hi_exp = 1, 9  # 10 .. 1e9 instructions
    left, width, bar, gap, top = 330, 560, 12, 14, 50
    height = top + len(items) * (2 * bar + gap) + 50

    def x(v):
        import math
        v = min(max(v, 10 ** lo_exp), 10 ** hi_exp)
        return left + (math.log10(v) - lo_exp) / (hi_exp - lo_exp) * width

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="10" y="20" font-size="14" font-weight="bold">Ferrite vs Linux 6.1: guest '
        f'instructions per operation (log scale, fewer is better)</text>',
        f'<text x="10" y="36" fill="#555">{MACHINE}; 64 KiB copies shown as '
        'instructions per 64 KiB</text>',
    ]
    for e in range(lo_exp, hi_exp + 1):
        gx = x(10 ** e)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 26}" text-anchor="middle" fill="#555">1e{e}</text>')
    y = top
    for label, ferrite, linux in items:
        out.append(f'<text x="{left - 6}" y="{y + bar + 4}" text-anchor="end">{escape(label[:52])}</text>')
        for value, colour, who in ((ferrite, "#d9480f", "Ferrite"), (linux, "#1c7ed6", "Linux")):
            if value is not None:
                out.append(f'<rect x="{left}" y="{y}" width="{x(value) - left:.1f}" height="{bar}" fill="{colour}">'
                           f'<title>{who}: {value:,.1f}</title></rect>')
                out.append(f'<text x="{x(value) + 4:.1f}" y="{y + bar - 2}" fill="#333">{value:,.0f}</text>')
            else:
                out.append(f'<text x="{left + 4}" y="{y + bar - 2}" fill="#999">{who}: no figure</text>')
            y += bar
        y += gap
    ly = height - 12
    out.append(f'<rect x="{left}" y="{ly - 9}" width="10" height="10" fill="#d9480f"/>'
               f'<text x="{left + 14}" y="{ly}">Ferrite</text>')
    out.append(f'<rect x="{left + 80}" y="{ly - 9}" width="10" height="10" fill="#1c7ed6"/>'
               f'<text x="{left + 94}" y="{ly}">Linux 6.1</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def host_cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown host CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench")
    ap.add_argument("--image", required=True)
    ap.add_argument("--qemu-version", required=True)
    ap.add_argument("--markdown")
    ap.add_argument("--svg")
    ap.add_argument("--host")
    args = ap.parse_args()

    results = read_bench(args.bench)
    rows = build_rows(results)
    image_bytes = os.path.getsize(args.image)
    mem = memory_overhead(results)
    host = read_host(args.host)
    hz = results.get("cntfrq", {}).get("hz")

    lines = table_lines(rows)
    lines.append("")
    lines.append(f"- release kernel image: {image_bytes:,} bytes ({image_bytes / 1024:.0f} KiB)")
    if mem is not None:
        per_page, k = mem
        lines.append(f"- memory overhead per committed page: {per_page:.1f} bytes "
                     f"(KMEM_STATS before and after committing {k['pages']:,} pages: "
                     f"{k['heap_used_delta']:,} bytes more kernel heap in use, "
                     f"{k['used_delta'] - k['vmo_delta'] - k['heap_total_delta']:,} bytes of other frames)")
    if hz:
        lines.append(f"- counter: CNTFRQ_EL0 = {hz:,} Hz, so one tick = {1_000_000_000 // hz} instructions")
    print("\n".join(lines))
    if host:
        print()
        for name, ns in host:
            print(f"host: {name}: {ns:.2f} ns/op")

    if args.markdown:
        today = datetime.date.today().isoformat()
        md = [
            "# Ferrite benchmarks",
            "",
            f"Measured {today} with `make bench` on {args.qemu_version}, CPU model "
            f"`{CPU_MODEL}` (`{MACHINE}`).",
            "Under `-icount shift=0` every guest instruction takes 1 ns of virtual time, so "
            "`CNTVCT_EL0` ticks give exact instruction counts: two runs printed identical "
            "figures. They are instructions, not cycles.",
            "The Linux 6.1 column is Debian's stock arm64 kernel on the same emulator and "
            "flags (a static PID 1 timing itself the same way); \"Linux ÷ Ferrite\" is how "
            "many times fewer instructions Ferrite needs (or how many more bytes per "
            "instruction it moves).",
            "",
        ] + lines + ["", "![Ferrite vs Linux 6.1, log scale](benchmarks.svg)", ""]
        if host:
            md += [
                "## Host micro-benchmarks of the pure core",
                "",
                f"`make bench-host` (benches/core.rs), wall-clock on the build host ({host_cpu()}); "
                "best of 7 rounds, so these vary slightly between runs.",
                "",
                "| operation | ns/op |",
                "|---|---:|",
            ] + [f"| {name} | {ns:.2f} |" for name, ns in host] + [""]
        with open(args.markdown, "w") as f:
            f.write("\n".join(md))
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg_chart(rows))
        print(f"wrote {args.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()
