"""ELF core files (QEMU ``dump-guest-memory``, kdump ``/proc/vmcore`` copies).

Read with pyelftools (``elftools.elf.elffile.ELFFile``). Physical memory comes
from the ``PT_LOAD`` program headers: ``p_paddr`` is the physical address,
``p_offset`` the file offset, and bytes between ``p_filesz`` and ``p_memsz`` are
zero. ``PT_NOTE`` segments carry the VMCOREINFO note (name ``VMCOREINFO``,
type 0) and per-CPU state.

Sources: the System V ABI (ELF program headers and notes) and torvalds/linux
include/uapi/linux/elf.h@v6.12.117 (``Elf64_Phdr``, ``Elf64_Nhdr``); qemu/qemu
dump/dump.c@v7.2.0 (``dump-guest-memory`` writes ``p_paddr`` as guest physical
addresses); torvalds/linux fs/proc/vmcore.c@v6.12.117 (vmcore segments, whose
kernel-text ``PT_LOAD`` duplicates a part of the direct-map ones).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from efitables.errors import DumpFormatError, MemoryReadError
from efitables.findings import Severity, make, register
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

#: Notes are small (VMCOREINFO is one page, CPU notes a few hundred bytes).
MAX_NOTE_SEGMENT = 16 * 1024 * 1024
MAX_LOAD_SEGMENTS = 1 << 16


@dataclass(frozen=True)
class _Seg:
    pa: int
    end: int  # exclusive, of the part backed by file bytes or zero fill
    file_off: int | None  # None: zero fill


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
            elf = ELFFile(self._fh)
            ehdr = elf.header
        except (ELFError, Exception) as e:  # construct errors from pyelftools' vendored copy
            raise DumpFormatError(self.path, f"not a valid ELF file: {e}") from e
        if ehdr["e_type"] != "ET_CORE":
            raise DumpFormatError(self.path, f"ELF type is {ehdr['e_type']}, not ET_CORE")
        if ehdr["e_phnum"] > MAX_LOAD_SEGMENTS:
            raise DumpFormatError(self.path, f"absurd e_phnum {ehdr['e_phnum']}")
        self.elfclass = elf.elfclass
        self.info.details.update({"elfclass": elf.elfclass, "machine": ehdr["e_machine"], "phnum": ehdr["e_phnum"]})
        self.notes: list[ElfNote] = []
        segs: list[_Seg] = []
        loads = 0
        for idx in range(ehdr["e_phnum"]):
            try:
                ph = elf.get_segment(idx).header  # data is not read here
            except Exception as e:
                self.info.findings.append(
                    make(ELF_BAD_SEGMENT, "ELF program header", None, f"header {idx} unreadable: {e}")
                )
                continue
            if ph["p_type"] == "PT_LOAD":
                loads += 1
                segs.extend(self._load_segment(idx, ph, size))
            elif ph["p_type"] == "PT_NOTE":
                self._read_notes(idx, ph, size)
        self.info.details["pt_load"] = loads
        self._segs = self._dedupe(segs)
        self._set_ranges([PhysRange(s.pa, s.end) for s in self._segs])
        self._seg_by_start = {s.pa: s for s in self._segs}

    def _load_segment(self, idx: int, ph: Mapping[str, Any], file_size: int) -> list[_Seg]:
        pa, off, filesz, memsz = ph["p_paddr"], ph["p_offset"], ph["p_filesz"], ph["p_memsz"]
        where = f"PT_LOAD[{idx}] p_paddr={pa:#x}"
        if memsz < filesz or pa + memsz > MAX_PHYS_ADDR:
            self.info.findings.append(
                make(
                    ELF_BAD_SEGMENT,
                    "ELF PT_LOAD",
                    pa,
                    f"{where}: p_filesz={filesz:#x} p_memsz={memsz:#x} is impossible",
                )
            )
            return []
        out: list[_Seg] = []
        avail = max(0, min(filesz, file_size - off))
        if avail < filesz:
            self.info.findings.append(
                make(
                    ELF_TRUNCATED,
                    "ELF PT_LOAD",
                    pa + avail,
                    f"{where}: file ends {filesz - avail:#x} bytes into the segment; "
                    f"physical {pa + avail:#x}-{pa + filesz:#x} is missing",
                )
            )
        if avail:
            out.append(_Seg(pa, pa + avail, off))
        if memsz > filesz:
            out.append(_Seg(pa + filesz, pa + memsz, None))
        return out

    def _dedupe(self, segs: list[_Seg]) -> list[_Seg]:
        out: list[_Seg] = []
        for s in sorted(segs, key=lambda s: (s.pa, -(s.end - s.pa))):
            if out and s.pa < out[-1].end:
                prev = out[-1]
                if s.end <= prev.end:
                    self.info.findings.append(
                        make(
                            ELF_SEGMENT_OVERLAP,
                            "ELF PT_LOAD",
                            s.pa,
                            f"physical {s.pa:#x}-{s.end:#x} already covered by {prev.pa:#x}-{prev.end:#x}",
                        )
                    )
                    continue
                cut = prev.end - s.pa
                self.info.findings.append(
                    make(ELF_SEGMENT_OVERLAP, "ELF PT_LOAD", s.pa, f"physical {s.pa:#x}-{prev.end:#x} described twice")
                )
                s = _Seg(prev.end, s.end, None if s.file_off is None else s.file_off + cut)
            out.append(s)
        return out

    def _read_notes(self, idx: int, ph: Mapping[str, Any], file_size: int) -> None:
        off, filesz = ph["p_offset"], ph["p_filesz"]
        if filesz > MAX_NOTE_SEGMENT or off + filesz > file_size:
            self.info.findings.append(
                make(
                    ELF_BAD_NOTES,
                    "ELF PT_NOTE",
                    None,
                    f"PT_NOTE[{idx}] at file offset {off:#x} size {filesz:#x} is too large or truncated",
                )
            )
            filesz = max(0, min(filesz, MAX_NOTE_SEGMENT, file_size - off))
        data = os.pread(self._fh.fileno(), filesz, off) if filesz > 0 and 0 <= off < file_size else b""
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
                self.info.findings.append(
                    make(
                        ELF_BAD_NOTES,
                        "ELF note",
                        None,
                        f"note at file offset {off + pos:#x} runs past its PT_NOTE segment",
                    )
                )
                break
            name = data[name_off : name_off + namesz].split(b"\0", 1)[0].decode("ascii", "backslashreplace")
            desc = data[desc_off : desc_off + descsz]
            self.notes.append(ElfNote(name, ntype, desc, off + pos))
            if name == "VMCOREINFO" and self.info.vmcoreinfo is None:
                self.info.vmcoreinfo = parse_vmcoreinfo(desc[:MAX_VMCOREINFO])
            pos = end
        self.info.details["notes"] = [f"{n.name}/{n.type}" for n in self.notes]

    def _range_chunks(
        self, lo: int, hi: int, chunk_size: int, overlap: int
    ) -> Iterator[tuple[int, bytes | memoryview]]:
        """Scan windows; zero-fill parts (``p_memsz`` beyond ``p_filesz``) are skipped, as raw
        images skip sparse holes: they hold no signature, and their size comes from the dump
        (a hostile ``p_memsz`` of 2**50 would otherwise be a scan of a petabyte of zeros)."""
        i = self._range_index(lo)
        if i is not None and self._seg_by_start[self._ranges[i].start].file_off is None:
            return
        yield from super()._range_chunks(lo, hi, chunk_size, overlap)

    def _load_ranges(self) -> list[PhysRange]:
        return [PhysRange(s.pa, s.end) for s in self._segs]

    def _read(self, pa: int, size: int) -> bytes:
        i = self._range_index(pa)
        assert i is not None
        seg = self._seg_by_start[self._ranges[i].start]
        if seg.file_off is None:
            return bytes(size)
        off = seg.file_off + (pa - seg.pa)
        data = os.pread(self._fh.fileno(), size, off)
        if len(data) < size:  # pread, not a mapping: a file that shrank must not be a SIGBUS
            raise MemoryReadError(pa, size, reason=shrank_reason(self._fh.fileno(), self.info.file_size))
        return data

