#!/usr/bin/env python3
"""Writes small hand-made AArch64 ELF programs for the system tests (standard library only).

    scripts/mk-test-elf.py top-segment OUT     a valid program with a PT_LOAD in the top
                                               256 KiB of user space, where the kernel's
                                               fixed stack used to go; it writes that
                                               segment and its stack and exits with 0
    scripts/mk-test-elf.py many-loads N OUT    a program with N one-page PT_LOAD segments
                                               (the first holds the code, which exits 0)
    scripts/mk-test-elf.py exit0 OUT           3 instructions in one R+X PT_LOAD: x0 = 0,
                                               zx_process_exit (the benchmarks' process-
                                               creation figure, like Linux's peer /exit0)

Issue 13, defects 4 and 2: the first must run (status 0), the second must be refused
with one line (status 2) or run, never panic the kernel.
"""
import struct
import sys

PAGE = 0x1000
TEXT = 0x40_0000
TOP_SEGMENT = 0x7FFF_FFFC_0000  # inside [2^47 - 264 KiB - 4 KiB, 2^47 - 4 KiB)
PROCESS_EXIT = 2
PF_X, PF_W, PF_R = 1, 2, 4


def movz(rd, imm16, shift=0):
    return 0xD2800000 | (shift // 16) << 21 | imm16 << 5 | rd


def movk(rd, imm16, shift):
    return 0xF2800000 | (shift // 16) << 21 | imm16 << 5 | rd


SVC0 = 0xD4000001


def exit_code(status_reg_value_from_x0=True):
    return [movz(16, PROCESS_EXIT), SVC0]


def top_segment_code():
    code = [
        movz(1, 42),                          # x1 = 42
        movz(2, 0x7FFF, 32),                  # x2 = TOP_SEGMENT
        movk(2, 0xFFFC, 16),
        0xF9000041,                           # str x1, [x2]
        0xF81F0FE1,                           # str x1, [sp, #-16]!
        0xF84107E3,                           # ldr x3, [sp], #16
        0xF9400044,                           # ldr x4, [x2]
        0xCB040060,                           # sub x0, x3, x4  (0 when both read 42)
    ]
    return code + exit_code()


def elf(segments, entry):
    """segments: (vaddr, flags, data bytes, memsz); data placed page-aligned in the file."""
    phoff = 64
    phnum = len(segments)
    data_start = (phoff + 56 * phnum + PAGE - 1) // PAGE * PAGE
    headers, blobs, offset = [], [], data_start
    for vaddr, flags, data, memsz in segments:
        file_offset = offset + (vaddr % PAGE) if data else vaddr % PAGE
        headers.append(struct.pack("<IIQQQQQQ", 1, flags, file_offset, vaddr, vaddr, len(data), memsz, PAGE))
        if data:
            blobs.append((file_offset, data))
            offset = (file_offset + len(data) + PAGE - 1) // PAGE * PAGE
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, entry, phoff, 0, 0, 64, 56, phnum, 0, 0, 0)
    out = bytearray(header + b"".join(headers))
    for file_offset, data in blobs:
        out.extend(bytes(file_offset - len(out)))
        out.extend(data)
    return bytes(out)


def code_bytes(words):
    return b"".join(struct.pack("<I", w) for w in words)


def main(argv):
    if len(argv) == 3 and argv[1] == "top-segment":
        text = code_bytes(top_segment_code())
        image = elf([(TEXT, PF_R | PF_X, text, len(text)), (TOP_SEGMENT, PF_R | PF_W, b"", PAGE)], TEXT)
        out = argv[2]
    elif len(argv) == 4 and argv[1] == "many-loads":
        count = int(argv[2])
        text = code_bytes([movz(0, 0)] + exit_code())
        segments = [(TEXT, PF_R | PF_X, text, len(text))]
        segments += [(TEXT + PAGE * (i + 1), PF_R, b"", PAGE) for i in range(count - 1)]
        image = elf(segments, TEXT)
        out = argv[3]
    elif len(argv) == 3 and argv[1] == "exit0":
        text = code_bytes([movz(0, 0)] + exit_code())
        image = elf([(TEXT, PF_R | PF_X, text, len(text))], TEXT)
        out = argv[2]
    else:
        sys.stderr.write(__doc__)
        return 2
    with open(out, "wb") as f:
        f.write(image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
