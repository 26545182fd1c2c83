"""Kernel symbols from the kallsyms tables, located through VMCOREINFO.

Source: torvalds/linux kernel/kallsyms.c (``kallsyms_expand_symbol``,
``kallsyms_sym_address``) and kernel/vmcore_info.c, which exports
``SYMBOL(kallsyms_names)``, ``_token_table``, ``_token_index``, ``_offsets``,
``_relative_base`` and ``_num_syms`` (Linux 6.x; Debian's 6.1 has them).

``kallsyms_names`` holds per symbol a length (one byte; two when bit 7 of the
first is set, v6.1+) and that many token indices; ``kallsyms_token_index[t]``
is the offset of token ``t`` (NUL-terminated) in ``kallsyms_token_table``;
the first expanded character is the symbol type. The address is
``kallsyms_relative_base + (u32)offset`` for a non-negative offset and
``relative_base - 1 - offset`` for a negative one
(CONFIG_KALLSYMS_ABSOLUTE_PERCPU, kernels before v6.13). Kernel-image
addresses become physical as ``virt - __START_KERNEL_map + phys_base``.
The tables' element types and the length encoding are
:mod:`efitables.schemas.kallsyms`.

The whole table is decoded once per dump, in one bounded pass (the names table
is read in a single window of at most :data:`MAX_NAMES_BYTES`), and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.errors import MemoryReadError
from efitables.memory.base import PhysicalMemory
from efitables.memory.vmcoreinfo import KERNEL_MAP_BASE, symbol_to_phys, vmcoreinfo_int
from efitables.schemas.kallsyms import (
    KALLSYMS_NAME_LEN_BIG,
    KALLSYMS_NAME_LEN_HIGH_SHIFT,
    KALLSYMS_NAME_LEN_LOW_MASK,
    KALLSYMS_OFFSET_SIZE,
    KALLSYMS_TOKEN_INDEX_FAST,
    KALLSYMS_TOKEN_INDEX_SIZE,
    KSYM_NAME_LEN,
    kallsyms_offsets_fast,
)

KEYS = (
    "kallsyms_names",
    "kallsyms_num_syms",
    "kallsyms_token_table",
    "kallsyms_token_index",
    "kallsyms_offsets",
    "kallsyms_relative_base",
)
#: A v6.x kernel has ~100k-250k symbols; names take ~12 bytes each.
MAX_SYMBOLS = 1 << 20
MAX_NAMES_BYTES = 32 << 20


@dataclass
class Kallsyms:
    """Decoded symbol table, or the reason there is none (``error``)."""

    error: str | None = None
    count: int = 0
    phys_base: int = 0
    _addr: dict[bytes, tuple[int, str, int]] = field(default_factory=dict, repr=False)

    @property
    def available(self) -> bool:
        return self.error is None

    def virtual(self, name: str) -> int | None:
        hit = self._addr.get(name.encode())
        return hit[0] if hit else None

    def kind(self, name: str) -> str | None:
        hit = self._addr.get(name.encode())
        return hit[1] if hit else None

    def index(self, name: str) -> int | None:
        """The symbol's position in the kallsyms tables."""
        hit = self._addr.get(name.encode())
        return hit[2] if hit else None

    def physical(self, name: str) -> int | None:
        """Physical address of a kernel-image symbol, or None."""
        virt = self.virtual(name)
        if virt is None or virt < KERNEL_MAP_BASE:
            return None
        return (virt - KERNEL_MAP_BASE + self.phys_base) & 0xFFFFFFFFFFFFFFFF


def load(mem: PhysicalMemory, info: dict[str, str] | None) -> Kallsyms:
    """Decode the kallsyms tables (cached on ``mem`` per set of table addresses); never raises."""
    key = tuple((info or {}).get(k) for k in (*(f"SYMBOL({k})" for k in KEYS), "NUMBER(phys_base)"))
    cache: dict[tuple[str | None, ...], Kallsyms] = mem.__dict__.setdefault("_efitables_kallsyms", {})
    if key not in cache:
        cache[key] = _load(mem, info)
    return cache[key]


def _load(mem: PhysicalMemory, info: dict[str, str] | None) -> Kallsyms:
    if not info:
        return Kallsyms("no VMCOREINFO in the dump")
    missing = [k for k in KEYS if f"SYMBOL({k})" not in info]
    if missing:
        return Kallsyms("VMCOREINFO lacks " + ", ".join(f"SYMBOL({k})" for k in missing))
    phys_base = vmcoreinfo_int(info, "NUMBER(phys_base)")
    if phys_base is None:
        return Kallsyms("VMCOREINFO lacks NUMBER(phys_base)")
    found = {k: symbol_to_phys(info, k) for k in KEYS}
    pa = {k: v for k, v in found.items() if v is not None}
    if len(pa) != len(KEYS):
        return Kallsyms("a kallsyms SYMBOL() is not a kernel-image address")
    try:
        num = mem.read_u32(pa["kallsyms_num_syms"], "kallsyms_num_syms")
        if not 0 < num <= MAX_SYMBOLS:
            return Kallsyms(f"kallsyms_num_syms {num} is implausible")
        rel_base = mem.read_u64(pa["kallsyms_relative_base"], "kallsyms_relative_base")
        token_index = KALLSYMS_TOKEN_INDEX_FAST.unpack(
            mem.read(pa["kallsyms_token_index"], KALLSYMS_TOKEN_INDEX_SIZE, "kallsyms_token_index")
        )
        table = mem.read(pa["kallsyms_token_table"], max(token_index) + KSYM_NAME_LEN, "kallsyms_token_table")
        offsets = kallsyms_offsets_fast(num).unpack(
            mem.read(pa["kallsyms_offsets"], KALLSYMS_OFFSET_SIZE * num, "kallsyms_offsets")
        )
        names_pa = pa["kallsyms_names"]
        # the names end before the next kallsyms table the linker placed after them (scripts/kallsyms.c)
        after = [v for v in pa.values() if v > names_pa]
        want = min([MAX_NAMES_BYTES, *(v - names_pa for v in after)])
        gap = mem.first_gap(names_pa, want)
        names = mem.read(names_pa, want if gap is None else gap[0] - names_pa, "kallsyms_names")
    except MemoryReadError as e:
        return Kallsyms(f"kallsyms tables not in the dump: {e.reason}")
    tokens = []
    for off in token_index:
        end = table.find(b"\0", off)
        tokens.append(table[off : end if end >= 0 else len(table)])
    addr: dict[bytes, tuple[int, str, int]] = {}
    off, n_names = 0, len(names)
    for i in range(num):
        if off >= n_names:
            return Kallsyms(f"kallsyms_names ends after {i} of {num} symbols")
        n = names[off]
        off += 1
        if n & KALLSYMS_NAME_LEN_BIG:
            if off >= n_names:
                return Kallsyms(f"kallsyms_names ends after {i} of {num} symbols")
            n = (n & KALLSYMS_NAME_LEN_LOW_MASK) | names[off] << KALLSYMS_NAME_LEN_HIGH_SHIFT
            off += 1
        if n > KSYM_NAME_LEN or off + n > n_names:
            return Kallsyms(f"kallsyms_names entry {i} has length {n}: not a kallsyms table")
        sym = b"".join([tokens[t] for t in names[off : off + n]])
        off += n
        rel = offsets[i]
        virt = (rel_base + rel if rel >= 0 else rel_base - 1 - rel) & 0xFFFFFFFFFFFFFFFF
        if sym[1:] not in addr:  # the first of duplicate static names wins
            addr[sym[1:]] = (virt, chr(sym[0]) if sym else "?", i)
    return Kallsyms(None, num, phys_base, addr)
