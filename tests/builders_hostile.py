"""Builders of hostile containers: ELF cores and LiME files with very many ranges, kdumps with bad pages.

ELF headers come from the construct schemas of :mod:`dumps.builder` (``Elf64_Ehdr``,
``Elf64_Phdr``) plus ``Elf64_Shdr`` here (section 0 carries the real program header count
when ``e_phnum`` is ``PN_XNUM``: the System V gABI, "Program Header", and torvalds/linux
include/uapi/linux/elf.h@v6.12.117 ``PN_XNUM``; fs/binfmt_elf.c ``fill_extnum_info`` writes
it that way in cores). Tens of thousands of program headers are packed with a ``struct``
format that is checked, once per call, against the construct schema's build of the first one.

LiME headers follow 504ensicsLabs/LiME src/lime.h@v1.12.0 (``lime_mem_range_header``), as in
tests/test_lime.py. kdumps are built by tests/test_kdump.py's independent builder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import construct as cs

from dumps.builder import EM_X86_64, ET_CORE, PT_LOAD, _elf_schemas
from tests.test_kdump import PAGE, build_kdump

PN_XNUM = 0xFFFF
EHDR64, PHDR64 = _elf_schemas(64)
SHDR64 = cs.Struct(
    "sh_name" / cs.Int32ul,
    "sh_type" / cs.Int32ul,
    "sh_flags" / cs.Int64ul,
    "sh_addr" / cs.Int64ul,
    "sh_offset" / cs.Int64ul,
    "sh_size" / cs.Int64ul,
    "sh_link" / cs.Int32ul,
    "sh_info" / cs.Int32ul,
    "sh_addralign" / cs.Int64ul,
    "sh_entsize" / cs.Int64ul,
)
_PHDR64 = struct.Struct("<IIQQQQQQ")  # p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align
LIME_MAGIC = 0x4C694D45
_LIME_HDR = struct.Struct("<IIQQ8x")


def _phdr(p_type: int, p_offset: int, p_paddr: int, p_filesz: int, p_memsz: int) -> bytes:
    return _PHDR64.pack(p_type, 7, p_offset, 0, p_paddr, p_filesz, p_memsz, PAGE)


def write_elf_core(
    path: str | Path,
    phdrs: Sequence[tuple[int, int, int, int, int]],
    blobs: Iterable[tuple[int, bytes]] = (),
    *,
    phentsize: int | None = None,
    phnum: int | None = None,
) -> None:
    """An ELF64 core: ``phdrs`` are (p_type, p_offset, p_paddr, p_filesz, p_memsz), written as
    given (hostile values welcome); ``blobs`` (file offset, bytes) are written after them.

    ``e_phnum`` is ``len(phdrs)``, or ``PN_XNUM`` with the count in section 0's ``sh_info``
    when there are 0xffff or more; ``phentsize``/``phnum`` override the header fields."""
    n = len(phdrs)
    xnum = n >= PN_XNUM
    phoff = EHDR64.sizeof()
    shoff = phoff + n * PHDR64.sizeof() if xnum else 0
    first = dict(zip(("p_type", "p_offset", "p_paddr", "p_filesz", "p_memsz"), phdrs[0], strict=True)) if n else None
    if first is not None:  # the struct packing is the schema's
        assert PHDR64.build(dict(first, p_flags=7, p_vaddr=0, p_align=PAGE)) == _phdr(*phdrs[0])
    head = EHDR64.build(
        dict(
            e_ident=b"\x7fELF\x02\x01\x01" + bytes(9),
            e_type=ET_CORE,
            e_machine=EM_X86_64,
            e_version=1,
            e_entry=0,
            e_phoff=phoff,
            e_shoff=shoff,
            e_flags=0,
            e_ehsize=EHDR64.sizeof(),
            e_phentsize=PHDR64.sizeof() if phentsize is None else phentsize,
            e_phnum=(PN_XNUM if xnum else n) if phnum is None else phnum,
            e_shentsize=SHDR64.sizeof() if xnum else 0,
            e_shnum=1 if xnum else 0,
            e_shstrndx=0,
        )
    )
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(b"".join(_phdr(*p) for p in phdrs))
        if xnum:
            fh.write(
                SHDR64.build(
                    dict(sh_name=0, sh_type=0, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0, sh_link=0, sh_info=n,
                         sh_addralign=0, sh_entsize=0)
                )
            )
        for off, data in blobs:
            fh.seek(off)
            fh.write(data)


def elf_of_ranges(path: str | Path, ranges: Sequence[tuple[int, bytes]], align: int = PAGE) -> None:
    """One PT_LOAD per (physical address, bytes), each segment's data ``align``-aligned after the headers."""
    n = len(ranges)
    off = EHDR64.sizeof() + n * PHDR64.sizeof() + (SHDR64.sizeof() if n >= PN_XNUM else 0)
    phdrs, blobs = [], []
    for pa, data in ranges:
        off += -off % align
        phdrs.append((PT_LOAD, off, pa, len(data), len(data)))
        blobs.append((off, data))
        off += len(data)
    write_elf_core(path, phdrs, blobs)


def lime_of_ranges(path: str | Path, ranges: Iterable[tuple[int, bytes]]) -> None:
    """A LiME file: one version-1 header (e_addr inclusive) and the bytes, per range."""
    with open(path, "wb") as fh:
        for pa, data in ranges:
            fh.write(_LIME_HDR.pack(LIME_MAGIC, 1, pa, pa + len(data) - 1))
            fh.write(data)


def kdump_of_raw(raw: bytes, compression: int) -> bytes:
    """A plain kdump holding every page of a raw image (zero pages share one descriptor target)."""
    pages = {i // PAGE: raw[i : i + PAGE] for i in range(0, len(raw), PAGE)}
    return build_kdump(pages, max_mapnr=len(pages), compression=compression)


def desc_offset(pfn_index: int, max_mapnr: int) -> int:
    """File offset of the ``page_desc_t`` of the ``pfn_index``-th dumped page of a dump from
    :func:`tests.test_kdump.build_kdump` (header, one sub-header block, the two bitmaps)."""
    bitmap_len = -(-max_mapnr // 8)
    bitmap_len = -(-bitmap_len // PAGE) * PAGE or PAGE
    return PAGE * 2 + 2 * bitmap_len + 24 * pfn_index
