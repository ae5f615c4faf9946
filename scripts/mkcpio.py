#!/usr/bin/env python3
"""Writes a cpio "newc" archive (ABI.md section 2) for use as Ferrite's initrd.

    mkcpio.py [--crc] OUTPUT NAME=FILE [NAME=FILE ...]

Each NAME=FILE stores the bytes of FILE as the regular file NAME (a relative path such
as bin/init), with FILE's permission bits. Every directory above a NAME (bin for
bin/init) gets its own directory member first, once. The archive ends with the
TRAILER!!! member and is padded with zeros to a multiple of 512 bytes, as GNU cpio
does. --page-align puts every regular file's data on a 4096-byte boundary of the
archive (by a padding member named .pad/N before it, when needed), so that a program's
segments can be mapped straight from the archive's pages. --crc writes the "crc" variant (magic 070702, c_check = the sum of the data
bytes); the default is "newc" (070701, c_check 0).

Owners are 0, times are 0 and inode numbers count up from 0, so the same arguments
always give the same bytes. For the tree of tests/fixtures/cpio/README.md these are the
bytes GNU cpio 2.13 writes with `cpio -o -H newc --reproducible -R 0:0` (or -H crc).
Standard library only.
"""

import argparse
import os
import stat
import sys

BLOCK = 512
PAGE = 4096


def header(magic, ino, mode, nlink, filesize, namesize, check):
    """The 110-byte header: magic and 13 fields of 8 hex digits."""
    fields = [
        ino,  # c_ino
        mode,  # c_mode
        0,  # c_uid
        0,  # c_gid
        nlink,  # c_nlink
        0,  # c_mtime
        filesize,  # c_filesize
        0,  # c_devmajor
        0,  # c_devminor
        0,  # c_rdevmajor
        0,  # c_rdevminor
        namesize,  # c_namesize
        check,  # c_check
    ]
    return magic + b"".join(b"%08X" % value for value in fields)


def pad4(out):
    out.extend(b"\0" * (-len(out) % 4))


def member(out, magic, ino, mode, nlink, name, data, crc):
    encoded = name.encode() + b"\0"
    check = sum(data) & 0xFFFFFFFF if crc else 0
    out.extend(header(magic, ino, mode, nlink, len(data), len(encoded), check))
    out.extend(encoded)
    pad4(out)
    out.extend(data)
    pad4(out)


def align4(value):
    return (value + 3) & ~3


def pad_to_page(out, magic, ino, name, crc):
    """Adds a padding member (.pad/N) when needed so that the data of the member named
    `name`, written next, starts at a multiple of 4096. Returns the next inode number."""
    name_part = align4(110 + len(name.encode()) + 1)
    if (len(out) + name_part) % PAGE == 0:
        return ino
    pad_name = f".pad/{ino}"
    pad_data_at = align4(len(out) + 110 + len(pad_name) + 1)
    # The smallest page boundary T with T - name_part >= pad_data_at.
    target = -(-(pad_data_at + name_part) // PAGE) * PAGE
    member(out, magic, ino, stat.S_IFREG | 0o644, 1, pad_name, b"\0" * (target - name_part - pad_data_at), crc)
    return ino + 1


def parse_entry(text):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise SystemExit(f"mkcpio.py: expected NAME=FILE, got {text!r}")
    parts = name.split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise SystemExit(f"mkcpio.py: NAME must be a plain relative path like bin/init, got {name!r}")
    return name, path


def main():
    parser = argparse.ArgumentParser(description="Write a cpio newc archive from NAME=FILE pairs.")
    parser.add_argument("--crc", action="store_true", help="write the 070702 variant with checksums")
    parser.add_argument("--page-align", action="store_true", help="start each file's data on a 4096-byte boundary")
    parser.add_argument("output")
    parser.add_argument("entries", nargs="+", metavar="NAME=FILE")
    args = parser.parse_args()

    magic = b"070702" if args.crc else b"070701"
    out = bytearray()
    ino = 0
    directories = set()
    names = set()
    for name, path in map(parse_entry, args.entries):
        if name in names:
            raise SystemExit(f"mkcpio.py: {name} given twice")
        names.add(name)
        parts = name.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in directories:
                directories.add(directory)
                member(out, magic, ino, stat.S_IFDIR | 0o755, 2, directory, b"", args.crc)
                ino += 1
        with open(path, "rb") as source:
            data = source.read()
        if args.page_align:
            ino = pad_to_page(out, magic, ino, name, args.crc)
        permissions = stat.S_IMODE(os.stat(path).st_mode)
        member(out, magic, ino, stat.S_IFREG | permissions, 1, name, data, args.crc)
        ino += 1
    member(out, magic, 0, 0, 1, "TRAILER!!!", b"", args.crc)
    out.extend(b"\0" * (-len(out) % BLOCK))

    with open(args.output, "wb") as sink:
        sink.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
