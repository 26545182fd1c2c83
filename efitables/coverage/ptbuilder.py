"""Build x86-64 identity-map page tables the way Linux does, for fixtures and samples.

:meth:`PageTableBuilder.ident_map` follows ``kernel_ident_mapping_init``
(torvalds/linux arch/x86/mm/ident_map.c@v6.12.117 ``ident_pud_init`` /
``ident_pmd_init``, and the PUD code before upstream commit cc31744a2945 of
v6.12-rc1, which stable 6.1 kept until 6.1.188): 2 MiB leaves over
the 2 MiB-rounded range, never overwriting a present entry; with ``gbpages``
either the old rule (every touched GiB becomes a 1 GiB leaf) or the new one
(1 GiB leaves only for fully requested GiBs). Entry flags default to the kexec
ones (leaf 0x1E3, table 0x063) plus the C-bit when given.

:meth:`set_entry` writes raw entries for hostile fixtures (self-references,
garbage tables).
"""

from __future__ import annotations

import struct

from efitables.coverage.models import GBPAGE_FULL, GBPAGE_WHOLE
from efitables.schemas.paging import (
    ADDR_MASK_4K,
    ENTRIES_PER_TABLE,
    KEXEC_LEAF_FLAGS,
    KEXEC_TABLE_FLAGS,
    LEVEL_SHIFTS,
    PAGE_PRESENT,
    PAGE_PSE,
    TABLE_SIZE,
)

_PMD, _PUD = 21, 30


class PageTableBuilder:
    """Tables allocated from ``table_base`` upwards, one 4 KiB page each."""

    def __init__(
        self,
        levels: int = 4,
        table_base: int = 0x100000,
        *,
        cbit: int | None = None,
        leaf_flags: int = KEXEC_LEAF_FLAGS,
        table_flags: int = KEXEC_TABLE_FLAGS,
        top_extra: int = 0,
    ) -> None:
        if levels not in LEVEL_SHIFTS:
            raise ValueError("levels must be 4 or 5")
        self.levels = levels
        self.shifts = LEVEL_SHIFTS[levels]
        self.next_free = table_base
        self.cmask = (1 << cbit) if cbit else 0
        self.leaf_flags = leaf_flags | self.cmask
        self.table_flags = table_flags | self.cmask
        self.top_extra = top_extra
        self.tables: dict[int, list[int]] = {}
        self.root = self.alloc()

    @property
    def cr3(self) -> int:
        return self.root | self.cmask

    def alloc(self) -> int:
        pa = self.next_free
        self.next_free += TABLE_SIZE
        self.tables[pa] = [0] * ENTRIES_PER_TABLE
        return pa

    def set_entry(self, table: int, index: int, value: int) -> None:
        self.tables[table][index] = value

    def entry(self, table: int, index: int) -> int:
        return self.tables[table][index]

    def _child(self, table: int, idx: int, depth: int) -> int:
        e = self.tables[table][idx]
        if e & PAGE_PRESENT:
            return e & ADDR_MASK_4K & ~self.cmask
        child = self.alloc()
        extra = self.top_extra if depth == 0 else 0
        self.tables[table][idx] = child | self.table_flags | extra
        return child

    def ident_map(self, start: int, end: int, *, gbpages: bool = False, gbrule: str = GBPAGE_FULL) -> None:
        """``kernel_ident_mapping_init(info, pgd, start, end)`` with offset 0."""
        if gbrule not in (GBPAGE_FULL, GBPAGE_WHOLE):
            raise ValueError(gbrule)
        self._upper(self.root, 0, start, end, gbpages, gbrule)

    def _upper(self, table: int, depth: int, addr: int, end: int, gbpages: bool, gbrule: str) -> None:
        shift = self.shifts[depth]
        if shift == _PUD:
            self._pud(table, addr, end, gbpages, gbrule)
            return
        span = 1 << shift
        while addr < end:
            nxt = min((addr & ~(span - 1)) + span, end)
            idx = (addr >> shift) & 511
            child = self._child(table, idx, depth)
            self._upper(child, depth + 1, addr, nxt, gbpages, gbrule)
            addr = nxt

    def _pud(self, table: int, addr: int, end: int, gbpages: bool, gbrule: str) -> None:
        span = 1 << _PUD
        while addr < end:
            nxt = min((addr & ~(span - 1)) + span, end)
            idx = (addr >> _PUD) & 511
            e = self.tables[table][idx]
            present, leaf = bool(e & PAGE_PRESENT), bool(e & PAGE_PRESENT and e & PAGE_PSE)
            if gbpages and gbrule == GBPAGE_WHOLE:
                if not present:
                    self.tables[table][idx] = (addr & ~(span - 1)) | self.leaf_flags
                addr = nxt
                continue
            if leaf:
                addr = nxt
                continue
            if gbpages and addr % span == 0 and nxt % span == 0 and not present:
                self.tables[table][idx] = addr | self.leaf_flags
                addr = nxt
                continue
            pmd = self._child(table, idx, -1)
            self._pmd(pmd, addr, nxt)
            addr = nxt

    def _pmd(self, table: int, addr: int, end: int) -> None:
        span = 1 << _PMD
        addr &= ~(span - 1)
        while addr < end:
            idx = (addr >> _PMD) & 511
            if not self.tables[table][idx] & PAGE_PRESENT:
                self.tables[table][idx] = addr | self.leaf_flags
            addr += span

    def map_4k(self, va: int, pa: int, flags: int = 0x63) -> None:
        """One 4 KiB leaf (allocating tables), for fixtures with PT-level leaves."""
        table = self.root
        for depth, shift in enumerate(self.shifts[:-1]):
            idx = (va >> shift) & 511
            table = self._child(table, idx, depth)
        self.tables[table][(va >> 12) & 511] = pa | flags | self.cmask

    def pages(self) -> dict[int, bytes]:
        """``{table pa: 4096 bytes}``, ready for an Image or BytesMemory."""
        return {pa: struct.pack("<512Q", *ents) for pa, ents in self.tables.items()}

    def blob(self) -> tuple[int, bytes]:
        """All tables as one contiguous region ``(start, bytes)``."""
        start = min(self.tables)
        out = bytearray(self.next_free - start)
        for pa, data in self.pages().items():
            out[pa - start : pa - start + TABLE_SIZE] = data
        return start, bytes(out)
