"""The plain kdump ("diskdump") file's layout: its header, sub-header, notes and page descriptors.

This module decodes those structures from bytes and checks the header fields a
reader depends on; it reads no file (the plain file's bytes come from
:mod:`efitables.memory.kdump_flat`).

Layout of the plain file, in blocks of ``block_size`` bytes (the page size)::

    block 0                  struct disk_dump_header   ("KDUMP   " or "DISKDUMP")
    block 1 .. sub_hdr_size  struct kdump_sub_header, then notes, VMCOREINFO, eraseinfo
    next bitmap_blocks       1st bitmap (pages that exist), 2nd bitmap (pages dumped),
                             each bitmap_blocks * block_size / 2 bytes, bit N = PFN N
                             (LSB first in each byte)
    then                     page_desc_t[one per set bit of the 2nd bitmap, in PFN order]
    then                     page data, each page zlib/lzo/snappy/zstd-compressed or raw

``struct disk_dump_header`` (x86-64 offsets): signature[8] @0, header_version
i32 @8, utsname (6 x 65 chars) @12, struct timeval @408, status u32 @424,
block_size i32 @428, sub_hdr_size i32 @432, bitmap_blocks u32 @436, max_mapnr
u32 @440, total_ram_blocks, device_blocks, written_blocks, current_cpu u32
@444..@456, nr_cpus i32 @460. ``struct kdump_sub_header`` (at block 1):
phys_base u64 @0, dump_level i32 @8, split i32 @12, start_pfn @16, end_pfn @24
(32-bit, obsolete), offset_vmcoreinfo @32, size_vmcoreinfo @40 (version >= 3),
offset_note @48, size_note @56 (>= 4), offset_eraseinfo @64, size_eraseinfo @72
(>= 5), start_pfn_64 @80, end_pfn_64 @88, max_mapnr_64 @96 (>= 6).
``page_desc_t``: offset i64 (file offset of the page data), size u32, flags u32
(``DUMP_DH_COMPRESSED_ZLIB`` 0x1, ``_LZO`` 0x2, ``_SNAPPY`` 0x4, ``_ZSTD`` 0x20;
none = the page is stored raw), page_flags u64. Both makedumpfile and QEMU
store every all-zero page once and point all zero pages' descriptors at it.
The notes at ``offset_note`` are ELF notes (``Elf64_Nhdr``: namesz, descsz,
type, then the name and the descriptor, each padded to 4 bytes).

Sources: makedumpfile/makedumpfile diskdump_mod.h@1.7.9 (``disk_dump_header``,
``new_utsname``, ``kdump_sub_header``, ``page_desc_t``, ``DUMP_DH_*``) and
makedumpfile.c@1.7.9 (``write_kdump_header``; ``write_kdump_pages_cyclic``
and its shared zero page ``pd_zero``); qemu/qemu include/sysemu/dump.h@v7.2.0
(``DiskDumpHeader64``, ``KdumpSubHeader64``, ``PageDescriptor``: the same
layout, packed) and dump/dump.c@v7.2.0 (``create_header64``,
``write_dump_pages``); torvalds/linux include/uapi/linux/elf.h@v6.12.117
(``Elf64_Nhdr``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from efitables.errors import DumpFormatError

KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
COMPRESSION_MASK = (
    DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD
)
COMPRESSION_NAMES = {
    DUMP_DH_COMPRESSED_ZLIB: "zlib",
    DUMP_DH_COMPRESSED_LZO: "lzo",
    DUMP_DH_COMPRESSED_SNAPPY: "snappy",
    DUMP_DH_COMPRESSED_ZSTD: "zstd",
}

_HDR = struct.Struct("<8si390s6xqqIiiIIIIIIi")  # disk_dump_header up to nr_cpus
HEADER_SIZE = 464  # sizeof(struct disk_dump_header) on x86-64, tasks[] included
_SUB = struct.Struct("<QiiQQqQqQqQQQQ")  # kdump_sub_header, version 6
SUB_HEADER_SIZE = _SUB.size  # 104
PAGE_DESC = struct.Struct("<qIIQ")
PAGE_DESC_SIZE = PAGE_DESC.size  # 24
_NHDR = struct.Struct("<III")  # Elf64_Nhdr: n_namesz, n_descsz, n_type

#: Largest page a kdump may declare.
MAX_BLOCK_SIZE = 1 << 16


@dataclass(frozen=True)
class DiskDumpHeader:
    """The fields of ``struct disk_dump_header`` a reader uses, checked by :func:`parse_header`."""

    signature: bytes
    header_version: int
    utsname: tuple[str, ...]  # sysname, nodename, release, version, machine, domainname
    tv_sec: int
    tv_usec: int
    status: int
    block_size: int
    sub_hdr_size: int
    bitmap_blocks: int
    max_mapnr: int  # the 32-bit field; header version 6 has the full value in the sub-header
    nr_cpus: int


@dataclass(frozen=True)
class KdumpSubHeader:
    """``struct kdump_sub_header`` (version 6 layout); fields newer than the header version are zero or stale."""

    phys_base: int
    dump_level: int
    split: int
    start_pfn: int
    end_pfn: int
    offset_vmcoreinfo: int
    size_vmcoreinfo: int
    offset_note: int
    size_note: int
    offset_eraseinfo: int
    size_eraseinfo: int
    start_pfn_64: int
    end_pfn_64: int
    max_mapnr_64: int


@dataclass(frozen=True)
class PageDesc:
    """One ``page_desc_t``."""

    offset: int
    size: int
    flags: int
    page_flags: int

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES.get(self.flags & COMPRESSION_MASK, "none")


def parse_header(path: str, data: bytes) -> DiskDumpHeader:
    """Decode block 0; raises :class:`DumpFormatError` for a header no page can be read through."""
    if len(data) < _HDR.size:
        raise DumpFormatError(path, f"kdump header is cut short ({len(data)} of {_HDR.size} bytes)")
    (sig, version, utsname, tv_sec, tv_usec, status, block_size, sub_hdr_size, bitmap_blocks,
     max_mapnr32, _total_ram, _device_blocks, _written, _cur_cpu, nr_cpus) = _HDR.unpack_from(data)
    if sig not in (KDUMP_SIGNATURE, DISKDUMP_SIGNATURE):
        raise DumpFormatError(path, f"no kdump signature (found {sig!r})")
    if block_size <= 0 or block_size > MAX_BLOCK_SIZE or block_size & (block_size - 1) or block_size < 512:
        raise DumpFormatError(
            path, f"kdump block_size {block_size} is not a power of two in 512..{MAX_BLOCK_SIZE}")
    if sub_hdr_size < 0 or bitmap_blocks == 0:
        raise DumpFormatError(
            path, f"kdump sub_hdr_size {sub_hdr_size} / bitmap_blocks {bitmap_blocks} is impossible")
    uts = tuple(utsname[i * 65 : (i + 1) * 65].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
                for i in range(6))
    return DiskDumpHeader(sig, version, uts, tv_sec, tv_usec, status, block_size, sub_hdr_size,
                          bitmap_blocks, max_mapnr32, nr_cpus)


def parse_sub_header(data: bytes) -> KdumpSubHeader:
    """Decode the sub-header from up to :data:`SUB_HEADER_SIZE` bytes; missing bytes read as zeros."""
    return KdumpSubHeader(*_SUB.unpack(data[: _SUB.size].ljust(_SUB.size, b"\0")))


def parse_notes(data: bytes) -> tuple[list[str], bytes | None]:
    """The notes' ``name/type`` list and the first ``VMCOREINFO`` note's text (None if there is none).

    Stops at an all-zero note header or at a note that does not fit in ``data``.
    """
    names: list[str] = []
    vmcoreinfo: bytes | None = None
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = _NHDR.unpack_from(data, pos)
        if namesz == 0 and descsz == 0 and ntype == 0:
            break
        desc_off = pos + 12 + ((namesz + 3) & ~3)
        if desc_off + descsz > len(data):
            break
        name = data[pos + 12 : pos + 12 + namesz].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
        names.append(f"{name}/{ntype}")
        if name == "VMCOREINFO" and vmcoreinfo is None:
            vmcoreinfo = data[desc_off : desc_off + descsz]
        pos = desc_off + ((descsz + 3) & ~3)
    return names, vmcoreinfo
