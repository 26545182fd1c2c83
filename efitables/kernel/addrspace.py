"""Kernel virtual addresses to physical ones, as far as a dump allows: the image, the direct map, the page tables.

x86-64 Linux (torvalds/linux arch/x86/include/asm/page_64_types.h@v6.1,
arch/x86/include/asm/page_64.h@v6.1 ``__phys_addr_nodebug``, Documentation/x86/x86_64/mm.rst@v6.1):

* the kernel image is mapped at ``__START_KERNEL_map``: ``pa = va - __START_KERNEL_map + phys_base``
  (``NUMBER(phys_base)`` in VMCOREINFO);
* every physical byte is mapped once more in the *direct map* at ``page_offset_base``:
  ``pa = va - page_offset_base``. ``page_offset_base`` is a variable
  (arch/x86/kernel/head64.c@v6.1, ``CONFIG_DYNAMIC_MEMORY_LAYOUT``) that KASLR
  randomizes (arch/x86/mm/kaslr.c@v6.1); x86 VMCOREINFO does not export it
  (arch/x86/kernel/crash_core_64.c@v6.1), but kallsyms locates the variable;
* anything else (vmalloc, or the direct map when the variable cannot be read) is
  translated by walking the kernel's page tables from ``SYMBOL(init_top_pgt)``
  (4 or 5 levels per ``NUMBER(pgtable_l5_enabled)``, the SME mask
  ``NUMBER(sme_mask)`` cleared from every entry), with the entry layout of
  :mod:`efitables.schemas.paging`.

Memory the kernel allocates with memblock (the printk ring when ``log_buf_len=``
is given) is in the direct map, so an array is physically contiguous when its
first byte is; :meth:`KernelAddressSpace.range_to_phys` checks the last byte
too when the page tables had to translate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.errors import MemoryReadError
from efitables.memory.base import PhysicalMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE, symbol_to_phys, vmcoreinfo_int
from efitables.schemas.paging import (
    ADDR_MASK_1G,
    ADDR_MASK_2M,
    ADDR_MASK_4K,
    ENTRIES_PER_TABLE,
    ENTRY_SIZE,
    LEVEL_SHIFTS,
    PAGE_4K,
    PAGE_PRESENT,
    PAGE_PSE,
)

_MASK64 = (1 << 64) - 1
#: Leaf sizes a PS bit makes at each shift (PDPTE: 1 GiB, PDE: 2 MiB).
_LARGE_LEAF_MASKS = {30: ADDR_MASK_1G, 21: ADDR_MASK_2M}
#: The direct map spans 2**MAX_PHYSMEM_BITS bytes (VMCOREINFO ``NUMBER(MAX_PHYSMEM_BITS)``; by default
#: 46 with 4-level paging, 52 with 5: arch/x86/include/asm/sparsemem.h@v6.1); vmalloc space follows it.
MAX_PHYSMEM_BITS = {4: 46, 5: 52}


@dataclass
class KernelAddressSpace:
    """How one dump's kernel virtual addresses become physical ones (see the module docstring)."""

    mem: PhysicalMemory
    phys_base: int | None = None
    page_offset_base: int | None = None
    page_offset_source: str = ""
    pgd: int | None = None  # physical address of init_top_pgt
    levels: int = 4
    sme_mask: int = 0
    direct_map_span: int = 1 << MAX_PHYSMEM_BITS[4]
    #: How each translation so far was made: "image", "direct map", "page tables".
    routes: set[str] = field(default_factory=set)

    def to_phys(self, va: int) -> int | None:
        """The physical address of ``va``, or None when nothing the dump offers translates it."""
        va &= _MASK64
        if va >= KERNEL_MAP_BASE and self.phys_base is not None:
            self.routes.add("image")
            return (va - KERNEL_MAP_BASE + self.phys_base) & _MASK64
        pob = self.page_offset_base
        if pob is not None and pob <= va < pob + self.direct_map_span:
            self.routes.add("direct map")
            return va - pob
        pa = self._walk(va)
        if pa is not None:
            self.routes.add("page tables")
        return pa

    def range_to_phys(self, va: int, size: int) -> int | None:
        """The physical start of ``[va, va+size)`` if it translates to one contiguous physical range."""
        start = self.to_phys(va)
        if start is None or size <= 1:
            return start
        last = (va + size - 1) & _MASK64
        if va & _MASK64 >= KERNEL_MAP_BASE and self.phys_base is not None:
            return start  # the image is mapped linearly
        if self._in_direct_map(va) and self._in_direct_map(last):
            return start
        end = self._walk(last)
        return start if end == start + size - 1 else None

    def _in_direct_map(self, va: int) -> bool:
        pob = self.page_offset_base
        return pob is not None and pob <= va < pob + self.direct_map_span

    def _walk(self, va: int) -> int | None:
        """One translation through ``init_top_pgt`` (None: no tables, not present, or not in the dump)."""
        if self.pgd is None or self.levels not in LEVEL_SHIFTS:
            return None
        table = self.pgd
        shifts = LEVEL_SHIFTS[self.levels]
        for shift in shifts:
            index = (va >> shift) & (ENTRIES_PER_TABLE - 1)
            try:
                raw = self.mem.read(table + index * ENTRY_SIZE, ENTRY_SIZE, structure="kernel page table")
            except MemoryReadError:
                return None
            entry = int.from_bytes(raw, "little") & ~self.sme_mask
            if not entry & PAGE_PRESENT:
                return None
            large = _LARGE_LEAF_MASKS.get(shift)
            if large is not None and entry & PAGE_PSE:
                return (entry & large) | (va & ((1 << shift) - 1))
            if shift == shifts[-1]:
                return (entry & ADDR_MASK_4K) | (va & ((1 << shift) - 1))
            table = entry & ADDR_MASK_4K
        return None

    def describe(self) -> str:
        """How translations were made, for a report (``image, direct map (page_offset_base from kallsyms)``)."""
        parts = []
        for route in ("image", "direct map", "page tables"):
            if route in self.routes:
                if route == "direct map" and self.page_offset_source:
                    parts.append(
                        f"direct map (page_offset_base {self.page_offset_base:#x} from {self.page_offset_source})"
                    )
                else:
                    parts.append(route)
        return ", ".join(parts)


def kernel_address_space(
    mem: PhysicalMemory, info: dict[str, str] | None, *, kallsyms: bool = True
) -> KernelAddressSpace:
    """The translations ``mem``'s VMCOREINFO (and, with ``kallsyms``, its symbol table) allow; never raises.

    ``page_offset_base`` comes from VMCOREINFO ``NUMBER(page_offset_base)`` if a
    kernel exports it, else from the kernel's own variable through kallsyms; the
    page-table walk needs only ``SYMBOL(init_top_pgt)``.
    """
    info = info or {}
    space = KernelAddressSpace(mem)
    space.phys_base = vmcoreinfo_int(info, "NUMBER(phys_base)")
    space.levels = 5 if vmcoreinfo_int(info, "NUMBER(pgtable_l5_enabled)") == 1 else 4
    space.sme_mask = (vmcoreinfo_int(info, "NUMBER(sme_mask)") or 0) & _MASK64
    bits = vmcoreinfo_int(info, "NUMBER(MAX_PHYSMEM_BITS)")
    if bits is None or not 32 <= bits <= MAX_PHYSMEM_BITS[5]:
        bits = MAX_PHYSMEM_BITS[space.levels]
    space.direct_map_span = 1 << bits
    space.pgd = symbol_to_phys(info, "init_top_pgt")
    pob = vmcoreinfo_int(info, "NUMBER(page_offset_base)")
    if pob is not None and pob & _MASK64 >= 1 << 63:
        space.page_offset_base, space.page_offset_source = pob & _MASK64, "VMCOREINFO"
    elif kallsyms and space.phys_base is not None:
        space.page_offset_base = _page_offset_base_variable(mem, info)
        if space.page_offset_base is not None:
            space.page_offset_source = "kallsyms"
    return space


def _page_offset_base_variable(mem: PhysicalMemory, info: dict[str, str]) -> int | None:
    """The kernel's ``page_offset_base`` variable, if kallsyms locates it and it holds a kernel-half address."""
    from efitables.kernel import kallsyms

    ks = kallsyms.load(mem, info, ("page_offset_base",))
    pa = ks.physical("page_offset_base")
    if pa is None:
        return None
    try:
        value = mem.read_u64(pa, structure="page_offset_base")
    except MemoryReadError:
        return None
    # a direct map base is in the kernel half, below the image, and page-aligned
    if not (1 << 63) <= value < KERNEL_MAP_BASE or value % PAGE_4K:
        return None
    return value
