"""The real-dump corpus (dumps/real/corpus), unpacked once per test session into one directory.

Every test module that reads a real dump asks the session's :class:`RealFiles` (the ``real_files``
fixture in conftest.py) for it, so each ``.xz`` is decompressed once however many modules read it, and
the containers derived from a dump (a LiME of its PT_LOADs, a System-RAM-only LiME, a flattened kdump
made plain) are written once too. The files are written sparse: a 4 KiB block of zeros becomes a hole
(a guest of 256 MiB leaves about three quarters of its RAM zero), so the session needs about a quarter
of the disk the dumps' sizes say. CI machines can be short of disk: a run that wrote every dump in full
in every module that read it filled one (``No space left on device``).
"""

from __future__ import annotations

import lzma
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

CORPUS = Path(
    os.environ.get("EFITABLES_REAL_CORPUS", Path(__file__).resolve().parent.parent / "dumps" / "real" / "corpus")
)

BLOCK = 4096
CHUNK = 1 << 20
_ZERO_CHUNK = bytes(CHUNK)
_ZERO_BLOCK = bytes(BLOCK)


def write_sparse(fo: BinaryIO, buf: bytes) -> None:
    """Write ``buf`` at ``fo``'s position, seeking over its 4 KiB blocks of zeros instead of writing them.

    The caller ends the file with ``fo.truncate()`` at its final position, so trailing holes count.
    """
    if buf == _ZERO_CHUNK[: len(buf)]:
        fo.seek(len(buf), os.SEEK_CUR)
        return
    view = memoryview(buf)
    run = 0  # start of the pending run of non-zero blocks
    for i in range(0, len(buf), BLOCK):
        if view[i : i + BLOCK] == _ZERO_BLOCK[: min(BLOCK, len(buf) - i)]:
            if run < i:
                fo.write(view[run:i])
            fo.seek(min(BLOCK, len(buf) - i), os.SEEK_CUR)
            run = i + BLOCK
    if run < len(buf):
        fo.write(view[run:])


def copy_sparse(fi: BinaryIO, fo: BinaryIO, left: int | None = None) -> int:
    """Copy ``left`` bytes (all, when None) from ``fi`` to ``fo`` sparsely; return how many were copied."""
    done = 0
    while left is None or done < left:
        buf = fi.read(CHUNK if left is None else min(CHUNK, left - done))
        if not buf:
            if left is not None:
                raise EOFError(f"{fi.name}: ends {left - done} bytes early")
            break
        write_sparse(fo, buf)
        done += len(buf)
    return done


class _Atomic:
    """Open ``dst`` + ``.part`` for writing; rename it to ``dst`` when the block ends without an error."""

    def __init__(self, dst: Path) -> None:
        self.dst = dst
        self.part = dst.with_name(dst.name + ".part")

    def __enter__(self) -> BinaryIO:
        self.fo = open(self.part, "wb")
        return self.fo

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.fo.truncate()  # holes at the end count
        self.fo.close()
        if exc_type is None:
            self.part.replace(self.dst)
        else:
            self.part.unlink(missing_ok=True)


def unxz(src: Path, dst: Path) -> Path:
    if not dst.exists():
        with lzma.open(src) as fi, _Atomic(dst) as fo:
            copy_sparse(fi, fo)
    return dst


def unflatten(src: Path, dst: Path) -> Path:
    """makedumpfile -R: apply the flattened records (big-endian offset, size) to a plain file."""
    if dst.exists():
        return dst
    with open(src, "rb") as fi, _Atomic(dst) as fo:
        head = fi.read(4096)
        assert head.startswith(b"makedumpfile\0")
        end = 0
        while True:
            off, size = struct.unpack(">qq", fi.read(16))
            if off == -1 and size == -1:
                break
            fo.seek(off)
            copy_sparse(fi, fo, size)
            end = max(end, off + size)
        fo.seek(end)
    return dst


def _pt_loads(fi: BinaryIO) -> list[tuple[int, int, int]]:
    """(p_paddr, p_filesz, p_offset) of each ELF64 PT_LOAD with file bytes. The corpus is trusted: unchecked."""
    fi.seek(0)
    eh = fi.read(64)
    (phoff,) = struct.unpack_from("<Q", eh, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
    out = []
    for i in range(phnum):
        fi.seek(phoff + i * phentsize)
        p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, _memsz = struct.unpack("<IIQQQQQ", fi.read(48))
        if p_type == 1 and p_filesz:
            out.append((p_paddr, p_filesz, p_offset))
    return out


LIME_HEADER = struct.Struct("<IIQQ8x")  # lime_mem_range_header: magic, version, s_addr, e_addr (inclusive)
LIME_MAGIC = 0x4C694D45


def elf_to_lime(src: Path, dst: Path, ram: list[tuple[int, int]] | None = None) -> Path:
    """A LiME with one range per ELF64 PT_LOAD (p_paddr, p_filesz); with ``ram`` ([start, end) ranges),
    only each PT_LOAD's intersection with them: what LiME or AVML, which acquire System RAM, would hold."""
    if dst.exists():
        return dst
    with open(src, "rb") as fi, _Atomic(dst) as fo:
        loads = _pt_loads(fi)
        windows = ram if ram is not None else [(pa, pa + size) for pa, size, _ in loads]
        for start, end in windows:
            for pa, size, off in loads:
                a, b = max(start, pa), min(end, pa + size)
                if a >= b:
                    continue
                fo.write(LIME_HEADER.pack(LIME_MAGIC, 1, a, b - 1))
                fi.seek(off + a - pa)
                copy_sparse(fi, fo, b - a)
    return dst


def system_ram(truth: dict[str, Any]) -> list[tuple[int, int]]:
    """The top-level "System RAM" lines of the guest's /proc/iomem (``truth["iomem"]``), as [start, end)."""
    return [(r["start"], r["end"] + 1) for r in truth["iomem"] if r["name"] == "System RAM" and r["depth"] == 0]


class RealFiles:
    """The corpus's files by name, each unpacked or derived on first use into ``root`` and kept there."""

    def __init__(self, root: Path, corpus: Path = CORPUS) -> None:
        self.root = root
        self.corpus = corpus

    def get(self, name: str) -> Path:
        """``<variant>.<container>``: the corpus file, decompressed when the corpus holds it as ``.xz``."""
        plain = self.corpus / name
        if plain.exists():
            return plain
        return unxz(self.corpus / f"{name}.xz", self.root / name)

    def mapping(self, names: Iterable[str]) -> Mapping[str, Path]:
        """``{name: path}`` for ``names``, each file unpacked when first looked up."""
        return _LazyFiles(self, list(names))

    def elf(self, variant: str) -> Path:
        return self.get(f"{variant}.elf")

    def lime(self, variant: str) -> Path:
        """A LiME holding what the variant's ELF holds, one range per PT_LOAD."""
        return elf_to_lime(self.elf(variant), self.root / f"{variant}.lime")

    def ram_lime(self, variant: str, truth: dict[str, Any]) -> Path:
        """A LiME of the guest's System RAM only, cut out of the variant's ELF."""
        return elf_to_lime(self.elf(variant), self.root / f"{variant}.ram.lime", system_ram(truth))

    def kdump_plain(self, variant: str) -> Path:
        """The variant's flattened kdump (``makedumpfile -F``) made plain, as ``makedumpfile -R`` would."""
        return unflatten(self.get(f"{variant}.kdump-zlib"), self.root / f"{variant}.kdump-zlib-plain")


class _LazyFiles(Mapping[str, Path]):
    def __init__(self, files: RealFiles, names: list[str]) -> None:
        self.files = files
        self.names = names

    def __getitem__(self, name: str) -> Path:
        if name not in self.names:
            raise KeyError(name)
        return self.files.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)
