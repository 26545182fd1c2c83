"""VMCOREINFO for a dump whose container has none: the kernel's own copy, found in its RAM.

A kdump vmcore and makedumpfile's output carry VMCOREINFO as an ELF note or in
the kdump header; LiME, AVML and raw captures carry nothing. Yet the running
kernel keeps the text in its memory from boot on (torvalds/linux
kernel/crash_core.c@v6.1.192 ``crash_save_vmcoreinfo_init``: a zeroed page,
``vmcoreinfo_data``, that starts with ``OSRELEASE=``, and the ELF note
``vmcoreinfo_note`` whose descriptor holds the same text after its 12-byte header
and ``"VMCOREINFO\\0"`` name), including the x86-64 keys
(arch/x86/kernel/crash_core_64.c@v6.1.192: ``NUMBER(phys_base)``,
``SYMBOL(init_top_pgt)``, ``KERNELOFFSET``) and the kallsyms table symbols.

:func:`find_vmcoreinfo` sweeps the dump for ``OSRELEASE=`` at the start of a page
or of such a note, parses the text (at most ``VMCOREINFO_BYTES``, a page) and
accepts a candidate only if it locates the kernel: its kallsyms tables resolve the
``vmcoreinfo_data`` pointer back to that very page (through ``page_offset_base``),
or at least ``init_uts_ns``'s release equals its ``OSRELEASE``. A RAM dump taken
after a kexec can hold the previous kernel's page too; the check keeps the running
kernel's. The sweep stops at the first page that passes and at :data:`MAX_CANDIDATES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from efitables.errors import MemoryReadError
from efitables.memory.base import PhysicalMemory
from efitables.memory.vmcoreinfo import MAX_VMCOREINFO, parse_vmcoreinfo, vmcoreinfo_int
from efitables.schemas.paging import PAGE_4K

#: Text of one VMCOREINFO (``VMCOREINFO_BYTES`` = PAGE_SIZE).
VMCOREINFO_BYTES = PAGE_4K
#: Bytes before the text in ``vmcoreinfo_note``: ``Elf64_Nhdr`` (12) and ``"VMCOREINFO\0"`` padded to 12.
NOTE_TEXT_OFFSET = 24
NOTE_NAME = b"VMCOREINFO\0"
#: Candidate pages checked before the sweep gives up.
MAX_CANDIDATES = 32
CHUNK = 16 << 20
_NEEDLE = b"OSRELEASE="
_PATTERN = re.compile(re.escape(_NEEDLE))
#: ``struct new_utsname`` (include/uapi/linux/utsname.h): sysname, nodename, release, ... of 65 bytes.
UTS_FIELD_LEN = 65
UTS_RELEASE_INDEX = 2
#: Keys a VMCOREINFO must have to locate an x86-64 kernel.
REQUIRED = ("OSRELEASE", "NUMBER(phys_base)", "SYMBOL(kallsyms_names)")


@dataclass(frozen=True)
class Located:
    """A VMCOREINFO found in memory: its text, where, and how it was confirmed."""

    info: dict[str, str]
    address: int
    confirmed_by: str

    @property
    def source(self) -> str:
        return f"found in memory @ {self.address:#x} ({self.confirmed_by})"


def _text_at(mem: PhysicalMemory, pa: int) -> dict[str, str] | None:
    n = min(VMCOREINFO_BYTES, MAX_VMCOREINFO)
    raw = b""
    try:
        raw = mem.read(pa, n, structure="VMCOREINFO")
    except MemoryReadError:
        first = mem.first_gap(pa, n)
        if first is None or first[0] <= pa:
            return None
        raw = mem.read(pa, first[0] - pa, structure="VMCOREINFO")
    info = parse_vmcoreinfo(raw)
    return info if all(k in info for k in REQUIRED) else None


def _is_candidate(mem: PhysicalMemory, pa: int) -> bool:
    if pa % PAGE_4K == 0:
        return True
    if pa % PAGE_4K != NOTE_TEXT_OFFSET:
        return False
    try:
        head = mem.read(pa - NOTE_TEXT_OFFSET + 12, len(NOTE_NAME), structure="VMCOREINFO note")
    except MemoryReadError:
        return False
    return head == NOTE_NAME


def _confirm(mem: PhysicalMemory, info: dict[str, str], pa: int) -> str | None:
    """How ``info`` (found at ``pa``) proves to be the running kernel's, or None."""
    from efitables.kernel import kallsyms
    from efitables.kernel.addrspace import kernel_address_space

    ks = kallsyms.load(mem, info, ("vmcoreinfo_data", "vmcoreinfo_note", "init_uts_ns"))
    space = kernel_address_space(mem, info)
    page = pa - pa % PAGE_4K
    for sym in ("vmcoreinfo_data", "vmcoreinfo_note"):
        spa = ks.physical(sym)
        if spa is None:
            continue
        try:
            ptr = mem.read_u64(spa, structure=sym)
        except MemoryReadError:
            continue
        if ptr and space.to_phys(ptr) == page:
            return f"the kernel's {sym} points to it"
    upa = ks.physical("init_uts_ns")
    name_off = vmcoreinfo_int(info, "OFFSET(uts_namespace.name)")
    if upa is not None and name_off is not None and 0 <= name_off < PAGE_4K:
        try:
            raw = mem.read(upa + name_off + UTS_RELEASE_INDEX * UTS_FIELD_LEN, UTS_FIELD_LEN, "init_uts_ns")
        except MemoryReadError:
            return None
        if raw.split(b"\0", 1)[0].decode("ascii", "replace") == info.get("OSRELEASE"):
            return "init_uts_ns names its release"
    return None


def find_vmcoreinfo(mem: PhysicalMemory) -> Located | None:
    """The running kernel's VMCOREINFO text in ``mem`` (see the module docstring), or None; never raises."""
    tried = 0
    seen: set[int] = set()
    for base, data in mem.chunks(CHUNK, overlap=len(_NEEDLE) - 1):
        for m in _PATTERN.finditer(data):
            pa = base + m.start()
            if pa in seen or not _is_candidate(mem, pa):
                continue
            seen.add(pa)
            tried += 1
            info = _text_at(mem, pa)
            if info is not None:
                how = _confirm(mem, info, pa)
                if how is not None:
                    return Located(info, pa, how)
            if tried >= MAX_CANDIDATES:
                return None
    return None
