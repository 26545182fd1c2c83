"""Where a member of a kernel structure is: from the kernel's BTF, else from the offsets of its release.

:class:`Layouts` answers ``field("efi", "memmap.phys_map")`` with a :class:`Field`
(byte offset, size, and for a bit-field its bit and width) and ``sizeof("kimage")``,
for the handful of structures :mod:`efitables.kernel.copies` reads. With a
:class:`~efitables.kernel.btf.Btf` every answer is BTF's (the layout of the very
kernel in the dump, whatever its configuration); a structure BTF does not describe
(or a query that BTF refuses, for a damaged blob) falls back to the table of the
kernel's release in :mod:`efitables.schemas.kernel`, and every answer says which
source gave it (:meth:`Layouts.source_of`): ``"BTF"`` or ``"offsets for v6.1"``.
A member neither source has (``kimage_arch.pgd`` before v6.14 and 6.12.14) is None, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import construct as cs

from efitables.kernel.btf import BtfError, BtfKind
from efitables.schemas.common import field_offset, field_size
from efitables.schemas.kernel import (
    E820_ENTRY,
    E820_MAX_ENTRIES,
    E820_TABLE_HEADER,
    EFI_MEMORY_MAP,
    KEXEC_SEGMENT,
    KEXEC_SEGMENT_MAX,
    KIMAGE_BITS,
    KIMAGE_V6_1,
    KIMAGE_V6_12_14,
    STRUCT_EFI_V6_1,
    STRUCT_EFI_V6_12,
    STRUCT_EFI_V6_18,
)

if TYPE_CHECKING:
    from efitables.findings import Finding
    from efitables.kernel.btf import Btf
    from efitables.kernel.version import KernelVersion

#: Largest structure size taken from BTF for one read (``struct kimage`` is < 1 KiB; ``struct
#: e820_table`` 64 KiB with the largest NODES_SHIFT, read only as far as its count says).
MAX_STRUCT = 1 << 17


@dataclass(frozen=True)
class Field:
    """A member: ``offset`` and ``size`` in bytes; ``bit``/``bits`` for a bit-field (``bits`` 0: not one);
    ``count`` the element count of an array member (0: not an array)."""

    offset: int
    size: int
    bit: int = 0
    bits: int = 0
    count: int = 0


@dataclass(frozen=True)
class _Table:
    """The fallback layouts of one release."""

    name: str  # "v6.1"
    structs: dict[str, cs.Construct]
    bits: dict[str, dict[str, int]]


_V6_1 = _Table(
    "v6.1",
    {
        "efi": STRUCT_EFI_V6_1,
        "efi_memory_map": EFI_MEMORY_MAP,
        "kimage": KIMAGE_V6_1,
        "kexec_segment": KEXEC_SEGMENT,
        "e820_table": E820_TABLE_HEADER,
        "e820_entry": E820_ENTRY,
    },
    {"kimage": KIMAGE_BITS},
)
#: 6.12 from stable 6.12.14 (``kimage_arch.pgd``); before it ``struct kimage`` is not tabled.
_V6_12 = _Table(
    "v6.12",
    {
        "efi": STRUCT_EFI_V6_12,
        "efi_memory_map": EFI_MEMORY_MAP,
        "kimage": KIMAGE_V6_12_14,
        "kexec_segment": KEXEC_SEGMENT,
        "e820_table": E820_TABLE_HEADER,
        "e820_entry": E820_ENTRY,
    },
    {"kimage": KIMAGE_BITS},
)
_V6_12_BEFORE_14 = _Table("v6.12", {k: v for k, v in _V6_12.structs.items() if k != "kimage"}, {})
_V6_18 = _Table("v6.18", {"efi": STRUCT_EFI_V6_18, "efi_memory_map": EFI_MEMORY_MAP}, {})
#: Releases with verified tables: ``(major, minor)`` -> table (see :mod:`efitables.schemas.kernel`).
TABLES: dict[tuple[int, int], _Table] = {(6, 1): _V6_1, (6, 12): _V6_12, (6, 18): _V6_18}


def table_for(version: KernelVersion) -> _Table | None:
    """The fallback table of ``version``'s release (None: no verified table). 6.12.14 backported
    ``kimage_arch.pgd``: an earlier or unknown 6.12 sublevel gets the table without ``struct kimage``."""
    if version.key == (6, 12) and (version.sublevel or 0) < 14:
        return _V6_12_BEFORE_14
    return TABLES.get(version.key)


#: Array members of the fallback layouts whose length is not in their construct: name -> count.
_ARRAYS = {("kimage", "segment"): KEXEC_SEGMENT_MAX}


@dataclass
class Layouts:
    """The layouts one dump's kernel uses (BTF first, then its release's table)."""

    btf: Btf | None = None
    version: KernelVersion | None = None
    #: BTF queries that failed for a reason other than "no such member" (a damaged blob).
    findings: list[Finding] = field(default_factory=list)
    _used: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def table(self) -> _Table | None:
        return table_for(self.version) if self.version is not None else None

    @property
    def fallback_name(self) -> str:
        t = self.table
        return f"offsets for {t.name}" if t is not None else ""

    def source_of(self, struct: str) -> str:
        """``"BTF"``, ``"offsets for v6.1"`` or ``""`` (no layout): what answered for ``struct``."""
        if struct not in self._used:
            self._used[struct] = self._source(struct)
        return self._used[struct]

    def _source(self, struct: str) -> str:
        if self._btf_struct(struct):
            return "BTF"
        t = self.table
        return self.fallback_name if t is not None and struct in t.structs else ""

    def _btf_struct(self, struct: str) -> bool:
        b = self.btf
        if b is None:
            return False
        try:
            t = b.find(struct)
        except BtfError as e:
            self._keep(e)
            return False
        return t is not None and bool(t.members)

    def _keep(self, e: BtfError) -> None:
        if e.finding not in self.findings and len(self.findings) < 16:
            self.findings.append(e.finding)

    def sizeof(self, struct: str) -> int | None:
        src = self.source_of(struct)
        if src == "BTF":
            assert self.btf is not None
            try:
                n = self.btf.sizeof(f"struct {struct}")
            except BtfError as e:
                self._keep(e)
                return None
            return n if 0 < n <= MAX_STRUCT else None
        t = self.table
        if src and t is not None:
            return int(t.structs[struct].sizeof())
        return None

    def field(self, struct: str, path: str) -> Field | None:
        """Where ``path`` (``"memmap.nr_map"``, ``"arch.pgd"``, ``"type"``) lies in ``struct``; None if absent."""
        src = self.source_of(struct)
        if src == "BTF":
            return self._btf_field(struct, path)
        t = self.table
        if not src or t is None:
            return None
        sc = t.structs[struct]
        bits = t.bits.get(struct, {})
        if path in bits:
            return Field(field_offset(sc, "type"), field_size(sc, "type"), bits[path], 1)
        if (struct, path) == ("e820_table", "entries"):  # the flexible tail after the header
            return Field(E820_TABLE_HEADER.sizeof(), E820_ENTRY.sizeof(), count=E820_MAX_ENTRIES)
        try:
            off, size = field_offset(sc, path), field_size(sc, path)
        except KeyError:
            return None
        count = _ARRAYS.get((struct, path), 0)
        return Field(off, size // count if count else size, count=count)

    def _btf_field(self, struct: str, path: str) -> Field | None:
        b = self.btf
        assert b is not None
        try:
            m = b.member(f"struct {struct}", path)
        except BtfError as e:
            if e.finding.code != "BTF-NOT-FOUND":
                self._keep(e)
            return None
        try:
            t = b.resolve(m.type)
            count = 0
            if t.btf_kind == BtfKind.ARRAY and t.array is not None:
                count = t.array.nelems
                size = b.sizeof(b.resolve(t.array.type))
            else:
                size = b.sizeof(t) if t.btf_kind != BtfKind.PTR else 8
        except BtfError as e:
            self._keep(e)
            return None
        if m.bitfield_size:
            return Field(m.bit_offset // 8 // 4 * 4, 4, m.bit_offset - m.bit_offset // 32 * 32, m.bitfield_size)
        return Field(m.offset, size, count=count)
