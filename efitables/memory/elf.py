"""ELF core files (QEMU ``dump-guest-memory``, kdump ``/proc/vmcore`` copies).

The ELF header is read with pyelftools (``elftools.elf.elffile.ELFFile``); the
program header table with ``struct``, in batches (a core may have tens of
thousands of them: ``e_phnum`` is ``PN_XNUM`` and section 0's ``sh_info`` holds
the count past 65,534). Physical memory comes from the ``PT_LOAD`` program
headers: ``p_paddr`` is the physical address,
``p_offset`` the file offset, and bytes between ``p_filesz`` and ``p_memsz`` are
zero. ``PT_NOTE`` segments carry the VMCOREINFO note (name ``VMCOREINFO``,
type 0) and per-CPU state.

Every count the file gives is capped (:data:`MAX_LOAD_SEGMENTS` program
headers, :data:`MAX_NOTE_SEGMENTS` note segments, :data:`MAX_NOTES` notes), and a
problem the file can repeat once per program header (a bad ``PT_LOAD``, two
``PT_LOAD`` s describing the same bytes, a segment past the end of the file) is
listed at most :data:`~efitables.memory.base.MAX_FINDINGS_PER_CODE` times, then
counted in one finding. Overlaps are found by sorting the segments once.

Sources: the System V ABI (ELF program headers and notes; "Program Header":
``PN_XNUM`` and section 0's ``sh_info``) and torvalds/linux
include/uapi/linux/elf.h@v6.12.117 (``Elf64_Phdr``, ``Elf32_Phdr``, ``Elf64_Nhdr``,
``PN_XNUM``), fs/binfmt_elf.c@v6.12.117 (``fill_extnum_info``: how a core with
``PN_XNUM`` program headers stores the count); qemu/qemu
dump/dump.c@v7.2.0 (``dump-guest-memory`` writes ``p_paddr`` as guest physical
addresses); torvalds/linux fs/proc/vmcore.c@v6.12.117 (vmcore segments, whose
kernel-text ``PT_LOAD`` duplicates a part of the direct-map ones).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, register
from efitables.memory.base import MAX_PHYS_ADDR, FileMemory, PhysRange
from efitables.memory.raw import shrank_reason
from efitables.memory.vmcoreinfo import MAX_VMCOREINFO, parse_vmcoreinfo

ELF_TRUNCATED = register(
    "ELF-TRUNCATED",
    Severity.WARNING,
    "ELF core is shorter than its program headers say",
    "A PT_LOAD segment's file bytes run past the end of the file; the part still in the file stays readable.",
)
ELF_SEGMENT_OVERLAP = register(
    "ELF-SEGMENT-OVERLAP",
    Severity.INFO,
    "Two PT_LOAD segments describe the same physical bytes",
    "vmcore files map the kernel image twice; the first segment is used.",
)
ELF_BAD_SEGMENT = register(
    "ELF-BAD-SEGMENT",
    Severity.WARNING,
    "A PT_LOAD segment has impossible values and is ignored",
)
ELF_BAD_NOTES = register("ELF-BAD-NOTES", Severity.WARNING, "A PT_NOTE segment could not be parsed")
ELF_BAD_PHDRS = register(
    "ELF-BAD-PHDRS",
    Severity.WARNING,
    "The ELF program header table cannot be read whole",
    "e_phentsize is smaller than a program header, the table runs past the end of the file, e_phnum is "
    "PN_XNUM without a readable section 0, or there are more program headers than efitables indexes "
    "(MAX_LOAD_SEGMENTS); the program headers that can be read are used.",
)

#: Notes are small (VMCOREINFO is one page, CPU notes a few hundred bytes).
MAX_NOTE_SEGMENT = 16 * 1024 * 1024
#: PT_NOTE segments read (QEMU and /proc/vmcore write one).
MAX_NOTE_SEGMENTS = 64
#: Notes kept (one per CPU and kind: a few thousand on the largest machines).
MAX_NOTES = 1 << 14
#: Program headers indexed (a vmcore has one PT_LOAD per RAM range: hundreds at most).
MAX_LOAD_SEGMENTS = 1 << 20
#: Program headers read per batch.
PHDR_BATCH = 4096

PT_LOAD, PT_NOTE = 1, 4
PN_XNUM = 0xFFFF
#: ``Elf64_Phdr``: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
_PHDR64 = "IIQQQQQQ"
#: ``Elf32_Phdr``: p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align.
_PHDR32 = "IIIIIIII"


@dataclass(frozen=True)
class ElfNote:
    name: str
    type: int
    desc: bytes
    offset: int


class ElfMemory(FileMemory):
    format = "elf"

    def _init(self) -> None:
        size = self.info.file_size
        try:
            elf = ELFFile(cast(IO[bytes], self._fh))  # a read-only, seekable file over the source
            ehdr = elf.header
        except (ELFError, Exception) as e:  # construct errors from pyelftools' vendored copy
            raise DumpFormatError(self.path, f"not a valid ELF file: {e}") from e
        if ehdr["e_type"] != "ET_CORE":
            raise DumpFormatError(self.path, f"ELF type is {ehdr['e_type']}, not ET_CORE")
        self.elfclass = elf.elfclass
        self.notes: list[ElfNote] = []
        self._note_segments = 0
        phnum = self._phnum(elf, ehdr["e_phnum"])
        self.info.details.update({"elfclass": elf.elfclass, "machine": ehdr["e_machine"], "phnum": phnum})
        # PT_LOAD pieces: physical start, end, file offset (-1: zero fill)
        pa_a, end_a, off_a = array("q"), array("q"), array("q")
        loads = 0
        for idx, (p_type, off, pa, filesz, memsz) in self._phdrs(elf, ehdr["e_phoff"], ehdr["e_phentsize"], phnum):
            if p_type == PT_LOAD:
                loads += 1
                self._load_segment(idx, pa, off, filesz, memsz, size, pa_a, end_a, off_a)
            elif p_type == PT_NOTE:
                self._read_notes(idx, off, filesz, size)
        self.info.details["pt_load"] = loads
        starts, ends, self._seg_off = self._dedupe(pa_a, end_a, off_a)
        self._set_range_arrays(starts, ends)

    # -- the program header table -------------------------------------------------------
    def _phnum(self, elf: ELFFile, e_phnum: int) -> int:
        """The number of program headers: ``e_phnum``, or section 0's ``sh_info`` when it is PN_XNUM."""
        if e_phnum != PN_XNUM:
            return e_phnum
        try:
            n = int(elf.num_segments())
        except Exception as e:  # noqa: BLE001 (pyelftools: ELFError, construct errors, OSError)
            self.capped.add(ELF_BAD_PHDRS, "ELF header", None,
                            f"e_phnum is PN_XNUM ({PN_XNUM:#x}) but section 0, which holds the count, "
                            f"cannot be read ({e}); no program header is used")
            return 0
        return n

    def _phdrs(
        self, elf: ELFFile, phoff: int, phentsize: int, phnum: int
    ) -> Iterator[tuple[int, tuple[int, int, int, int, int]]]:
        """(index, (p_type, p_offset, p_paddr, p_filesz, p_memsz)) of each readable program header."""
        fmt = struct.Struct(("<" if elf.little_endian else ">") + (_PHDR64 if elf.elfclass == 64 else _PHDR32))
        is64 = elf.elfclass == 64
        size = self.info.file_size
        if phnum and phentsize < fmt.size:
            self.capped.add(ELF_BAD_PHDRS, "ELF header", None,
                            f"e_phentsize {phentsize} is smaller than a {fmt.size}-byte program header: "
                            f"none of the {phnum} program headers can be read")
            return
        if phnum > MAX_LOAD_SEGMENTS:
            self.capped.add(ELF_BAD_PHDRS, "ELF header", None,
                            f"{phnum} program headers; the first {MAX_LOAD_SEGMENTS} are used, "
                            f"{phnum - MAX_LOAD_SEGMENTS} more omitted")
            phnum = MAX_LOAD_SEGMENTS
        fit = max(0, (size - phoff) // phentsize) if phentsize else 0
        if phnum > fit:
            self.capped.add(ELF_BAD_PHDRS, "ELF header", None,
                            f"the program header table (e_phoff {phoff:#x}, {phnum} x {phentsize} bytes) runs "
                            f"past the end of the file; {fit} program headers are in it")
            phnum = fit
        src = self._src
        for first in range(0, phnum, PHDR_BATCH):
            count = min(PHDR_BATCH, phnum - first)
            raw = src.pread(count * phentsize, phoff + first * phentsize)
            for k in range(min(count, len(raw) // phentsize)):
                v = fmt.unpack_from(raw, k * phentsize)
                if is64:  # p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align
                    yield first + k, (v[0], v[2], v[4], v[5], v[6])
                else:  # p_type p_offset p_vaddr p_paddr p_filesz p_memsz p_flags p_align
                    yield first + k, (v[0], v[1], v[3], v[4], v[5])

    def _load_segment(
        self, idx: int, pa: int, off: int, filesz: int, memsz: int, file_size: int,
        pa_a: array, end_a: array, off_a: array,
    ) -> None:
        where = f"PT_LOAD[{idx}] p_paddr={pa:#x}"
        if memsz < filesz or pa + memsz > MAX_PHYS_ADDR:
            self.capped.add(ELF_BAD_SEGMENT, "ELF PT_LOAD", pa,
                            f"{where}: p_filesz={filesz:#x} p_memsz={memsz:#x} is impossible")
            return
        avail = max(0, min(filesz, file_size - off))
        if avail < filesz:
            self.capped.add(ELF_TRUNCATED, "ELF PT_LOAD", pa + avail,
                            f"{where}: file ends {filesz - avail:#x} bytes into the segment; "
                            f"physical {pa + avail:#x}-{pa + filesz:#x} is missing")
        if avail:
            pa_a.append(pa)
            end_a.append(pa + avail)
            off_a.append(off)
        if memsz > filesz:
            pa_a.append(pa + filesz)
            end_a.append(pa + memsz)
            off_a.append(-1)

    def _dedupe(self, pa_a: array, end_a: array, off_a: array) -> tuple[array, array, array]:
        """The pieces sorted by address (longest first at one address), each byte kept from the first
        piece that covers it: one sort, then one pass."""
        order = sorted(range(len(pa_a)), key=lambda i: (pa_a[i], pa_a[i] - end_a[i]))
        starts, ends, offs = array("q"), array("q"), array("q")
        for i in order:
            s, e, off = pa_a[i], end_a[i], off_a[i]
            if ends and s < ends[-1]:
                prev_s, prev_e = starts[-1], ends[-1]
                if e <= prev_e:
                    self.capped.add(ELF_SEGMENT_OVERLAP, "ELF PT_LOAD", s,
                                    f"physical {s:#x}-{e:#x} already covered by {prev_s:#x}-{prev_e:#x}")
                    continue
                self.capped.add(ELF_SEGMENT_OVERLAP, "ELF PT_LOAD", s, f"physical {s:#x}-{prev_e:#x} described twice")
                cut = prev_e - s
                s, off = prev_e, (off if off < 0 else off + cut)
            starts.append(s)
            ends.append(e)
            offs.append(off)
        return starts, ends, offs

    def _read_notes(self, idx: int, off: int, filesz: int, file_size: int) -> None:
        self._note_segments += 1
        if self._note_segments > MAX_NOTE_SEGMENTS:
            self.capped.add(ELF_BAD_NOTES, "ELF PT_NOTE", None,
                            f"PT_NOTE[{idx}]: more than {MAX_NOTE_SEGMENTS} PT_NOTE segments; the rest are ignored")
            return
        if filesz > MAX_NOTE_SEGMENT or off + filesz > file_size:
            self.capped.add(ELF_BAD_NOTES, "ELF PT_NOTE", None,
                            f"PT_NOTE[{idx}] at file offset {off:#x} size {filesz:#x} is too large or truncated")
            filesz = max(0, min(filesz, MAX_NOTE_SEGMENT, file_size - off))
        data = self._src.pread(filesz, off) if filesz > 0 and 0 <= off < file_size else b""
        pos = 0
        while pos + 12 <= len(data):
            namesz = int.from_bytes(data[pos : pos + 4], "little")
            descsz = int.from_bytes(data[pos + 4 : pos + 8], "little")
            ntype = int.from_bytes(data[pos + 8 : pos + 12], "little")
            if namesz == 0 and descsz == 0 and ntype == 0:
                break
            name_off = pos + 12
            desc_off = name_off + ((namesz + 3) & ~3)
            end = desc_off + ((descsz + 3) & ~3)
            if desc_off + descsz > len(data):
                self.capped.add(ELF_BAD_NOTES, "ELF note", None,
                                f"note at file offset {off + pos:#x} runs past its PT_NOTE segment")
                break
            if len(self.notes) >= MAX_NOTES:
                self.capped.add(ELF_BAD_NOTES, "ELF note", None,
                                f"more than {MAX_NOTES} notes; the rest (from file offset {off + pos:#x}) are ignored")
                break
            name = data[name_off : name_off + namesz].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
            desc = data[desc_off : desc_off + descsz]
            self.notes.append(ElfNote(name, ntype, desc, off + pos))
            if name == "VMCOREINFO" and self.info.vmcoreinfo is None:
                self.info.vmcoreinfo = parse_vmcoreinfo(desc[:MAX_VMCOREINFO])
            pos = end
        self.info.details["notes"] = [f"{n.name}/{n.type}" for n in self.notes]

    # -- PhysicalMemory -------------------------------------------------------------------
    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Scan windows; zero-fill parts (``p_memsz`` beyond ``p_filesz``) are skipped, as raw
        images skip sparse holes: they hold no signature, and their size comes from the dump
        (a hostile ``p_memsz`` of 2**50 would otherwise be a scan of a petabyte of zeros)."""
        i = self._range_index(lo)
        if i is not None and self._seg_off[i] < 0:
            return
        yield from super()._range_chunks(lo, hi, chunk_size, overlap)

    def _load_ranges(self) -> list[PhysRange]:
        return []  # never called: the ranges are set at open

    def _read(self, pa: int, size: int) -> bytes:
        i = self._range_index(pa)
        assert i is not None
        file_off = self._seg_off[i]
        if file_off < 0:
            return bytes(size)
        data = self._src.pread(size, file_off + (pa - self._starts[i]))
        if len(data) < size:  # pread, not a mapping: a file that shrank must not be a SIGBUS
            raise MemoryReadError(pa, size, reason=shrank_reason(self._src, self.info.file_size))
        return data
