"""The E820 table the boot loader handed over: ``boot_params.e820_table`` plus SETUP_E820_EXT.

Layout: :data:`efitables.schemas.boot_params.BOOT_E820_ENTRY` (packed, 20 bytes;
torvalds/linux arch/x86/include/uapi/asm/bootparam.h@v6.12.117); type names from
arch/x86/include/asm/e820/types.h@v6.12.117. Checks: size > 0, no 64-bit
overflow, known types, no overlaps. Tables are not required to be sorted:
Linux sorts and merges whatever it is given (``e820__update_table`` in
arch/x86/kernel/e820.c@v6.12.117), and 32-bit, 3 GiB and kexec'd QEMU boots
hand over unsorted tables; unsorted is reported as information only.

Bounds: the entries of one decode, and of the merged table, carry at most
:data:`efitables.caps.MAX_FINDINGS_PER_KIND` findings of each code between them
(overlaps included: one sort, one sweep); :meth:`E820Table.lookup` is a binary search
however the entries overlap.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.caps import cap_findings
from efitables.findings import Finding, Severity, make, register
from efitables.model import Parsed
from efitables.schemas.boot_params import (
    BOOT_E820_ENTRY,
    BOOT_E820_ENTRY_SIZE,
    BOOT_E820_ENTRY_STRUCT,
    E820_TYPES,
    e820_type_name,
)
from efitables.schemas.common import jsonable

E820_EMPTY = register("BOOT-E820-EMPTY", Severity.WARNING, "E820 entry has size 0 or wraps past 2**64")
E820_TYPE = register(
    "BOOT-E820-TYPE",
    Severity.INFO,
    "E820 entry has a type Linux does not name (treated as reserved)",
)
E820_OVERLAP = register("BOOT-E820-OVERLAP", Severity.WARNING, "E820 entries of different types overlap")
E820_OVERLAP_SAME = register(
    "BOOT-E820-OVERLAP-SAME",
    Severity.INFO,
    "E820 entries of one type overlap",
    "Harmless: e820__update_table (arch/x86/kernel/e820.c) merges them. Linux's own PVH entry does it "
    "(init_pvh_bootparams appends the ISA range 0xa0000-0xfffff over the firmware's reserved 0xf0000 entry).",
)
E820_UNSORTED = register(
    "BOOT-E820-UNSORTED",
    Severity.INFO,
    "E820 table is not sorted by address",
    "Firmware and loaders need not sort it (seen on 32-bit, 3 GiB and kexec'd boots); Linux sanitizes it.",
)
E820_NONE = register("BOOT-E820-NONE", Severity.WARNING, "boot_params carries no E820 entries")

_ENTRY = struct.Struct(BOOT_E820_ENTRY_STRUCT)


@dataclass(kw_only=True)
class E820Entry(Parsed):
    kind = "boot_e820_entry"

    index: int
    addr: int
    length: int  # the entry's ``size`` field (``size`` is the record size, 20)
    type: int
    type_name: str
    source: str  # "boot_params" or "SETUP_E820_EXT@0x..."

    @property
    def end(self) -> int:
        return self.addr + self.length

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.type_name} {self.addr:#x}-{self.end:#x}"

    def to_dict(self, raw: bool = False) -> dict[str, Any]:
        """:meth:`Parsed.to_dict`'s keys and values, written out: a table holds up to a thousand of these."""
        d: dict[str, Any] = {
            "kind": self.kind,
            "address": self.address,
            "size": self.size,
            "index": self.index,
            "addr": self.addr,
            "length": self.length,
            "type": self.type,
            "type_name": self.type_name,
            "source": self.source,
        }
        if self.fields is not None:
            d["fields"] = jsonable(self.fields)
        d["findings"] = [f.to_dict() for f in self.findings]
        if raw:
            d["raw"] = self.raw.hex()
        return d


@dataclass(kw_only=True)
class E820Table(Parsed):
    """All entries, in table order: the zero page's first, then each SETUP_E820_EXT node's."""

    kind = "e820_table"

    entries: list[E820Entry] = field(default_factory=list)
    from_boot_params: int = 0
    from_setup_data: int = 0
    _sorted: list[E820Entry] = field(default_factory=list, repr=False)
    _starts: list[int] = field(default_factory=list, repr=False)
    _reach: list[int] = field(default_factory=list, repr=False)  # the largest end among _sorted[: i + 1]
    _indexed: int = field(default=-1, repr=False)  # len(entries) when the index was built

    @property
    def title(self) -> str:
        return f"E820 table ({len(self.entries)} entries)"

    def children(self) -> list[Parsed]:
        return list(self.entries)

    def _index(self) -> None:
        if self._indexed != len(self.entries):
            self._indexed = len(self.entries)
            self._sorted = sorted((e for e in self.entries if e.length), key=lambda e: e.addr)
            self._starts = [e.addr for e in self._sorted]
            self._reach = []
            reach = 0
            for e in self._sorted:
                reach = max(reach, e.end)
                self._reach.append(reach)

    def lookup(self, pa: int) -> E820Entry | None:
        """The entry holding ``pa`` (the lowest-starting one if entries overlap); two binary searches.

        Among the entries starting at or below ``pa``, the first whose running largest end passes
        ``pa`` is that entry itself (its end raised the maximum), so it holds ``pa``.
        """
        self._index()
        stop = bisect.bisect_right(self._starts, pa)
        i = bisect.bisect_right(self._reach, pa, 0, stop)
        return self._sorted[i] if i < stop else None

    def ram_bytes(self) -> int:
        return sum(e.length for e in self.entries if e.type == 1)


def decode_entries(raw: bytes, address: int, count: int, source: str, first_index: int = 0) -> list[E820Entry]:
    """Decode ``count`` packed entries from ``raw`` (``struct`` fast path) with per-entry checks."""
    out: list[E820Entry] = []
    for i in range(min(count, len(raw) // BOOT_E820_ENTRY_SIZE)):
        off = i * BOOT_E820_ENTRY_SIZE
        addr, size, typ = _ENTRY.unpack_from(raw, off)
        e = E820Entry(
            address=address + off,
            size=BOOT_E820_ENTRY_SIZE,
            raw=raw[off : off + BOOT_E820_ENTRY_SIZE],
            schema=BOOT_E820_ENTRY,
            fields={"addr": addr, "size": size, "type": typ},
            index=first_index + i,
            addr=addr,
            length=size,
            type=typ,
            type_name=e820_type_name(typ),
            source=source,
        )
        name = f"E820 entry [{e.index}] ({source})"
        if size == 0 or addr + size > 1 << 64:
            e.findings.append(make(E820_EMPTY, name, e.address, f"addr {addr:#x} size {size:#x}"))
        if typ not in E820_TYPES:
            e.findings.append(make(E820_TYPE, name, e.address, f"type {typ:#x}"))
        out.append(e)
    return out


def cap_entry_findings(entries: list[E820Entry], structure: str, address: int | None) -> list[Finding]:
    """Trim the findings of ``entries`` to the per-code cap; the summaries for their owner (:mod:`efitables.caps`)."""
    return cap_findings((e.findings for e in entries), structure, address)


def build_table(address: int | None, entries: list[E820Entry], from_bp: int, from_ext: int) -> E820Table:
    """Assemble the table and run the table-wide checks (order, overlap)."""
    t = E820Table(
        address=address,
        size=len(entries) * BOOT_E820_ENTRY_SIZE,
        entries=entries,
        from_boot_params=from_bp,
        from_setup_data=from_ext,
    )
    name = "E820 table"
    if not entries:
        t.findings.append(make(E820_NONE, name, address, "e820_entries is 0 and no SETUP_E820_EXT node"))
        return t
    starts = [e.addr for e in entries]
    if starts != sorted(starts):
        t.findings.append(make(E820_UNSORTED, name, address, "entries are not in address order"))
    overlaps: list[Finding] = []
    prev: E820Entry | None = None
    for e in sorted((e for e in entries if e.length), key=lambda e: e.addr):
        if prev is not None and e.addr < prev.end:
            overlaps.append(
                make(
                    E820_OVERLAP if e.type != prev.type else E820_OVERLAP_SAME,
                    name,
                    e.address,
                    f"[{e.index}] {e.addr:#x}-{e.end:#x} ({e.type_name}) overlaps "
                    f"[{prev.index}] {prev.addr:#x}-{prev.end:#x} ({prev.type_name})",
                )
            )
        if prev is None or e.end > prev.end:
            prev = e
    summaries = cap_findings([*(e.findings for e in entries), overlaps], name, address)
    t.findings.extend(overlaps)
    t.findings.extend(summaries)
    return t
