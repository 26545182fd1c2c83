"""Find identity-map page tables in a dump without knowing their root.

A dump may hold a prepared-but-unused kexec image with its identity map, or
stale decompressor tables: ``machine_kexec_prepare`` builds the kexec map with
``init_pgtable`` when the image is loaded, not when it is run (torvalds/linux
arch/x86/kernel/machine_kexec_64.c@v6.12.117); the decompressor builds its own
in arch/x86/boot/compressed/ident_map_64.c. Both go through
``kernel_ident_mapping_init`` (arch/x86/mm/ident_map.c): leaves
``__PAGE_KERNEL_LARGE_EXEC`` (low flags 0x1E3, no NX), tables
``_KERNPG_TABLE_NOENC`` (0x063), plus the C-bit (``_PAGE_ENC``) in SEV guests
and ``_PAGE_NOPTISHADOW`` (bit 58) on top-level entries of newer kernels
(v6.13-rc, stable 6.12.5). The flag values are those of
arch/x86/include/asm/pgtable_types.h@v6.12.117.

Bottom-up, one streaming numpy pass per level:

1. PDs whose 2 MiB leaves map ``base + i * 2 MiB`` for one 1 GiB-aligned base,
   and PDPTs whose 1 GiB leaves do the same at 512 GiB alignment;
2. PDPTs pointing (flags 0x063) to those PDs at the matching index;
3. PML4s pointing to those PDPTs so that VA == PA (base 0);
4. PML5s pointing to such a PML4 from entry 0.

The direct map's PDs look alike except for NX, which identity maps do not set.
Every level is capped at :data:`MAX_CANDIDATES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.schemas.paging import (
    ADDR_MASK_4K,
    KEXEC_LEAF_FLAGS,
    KEXEC_TABLE_FLAGS,
    PAGE_NX,
    PAGE_PRESENT,
    TABLE_SIZE,
)

#: Candidate tables kept per level.
MAX_CANDIDATES = 4096
#: Identity leaves a PD/PDPT needs to be a candidate (a GiB-page map may have just one; parents filter).
MIN_LEAVES = 1
CHUNK = 16 << 20
_LOW_FLAGS = 0xFFF
_SPAN = {"PD": 1 << 30, "PDPT": 1 << 39, "PML4": 1 << 48, "PML5": 1 << 57}
_CHILD_SPAN = {"PDPT": 1 << 30, "PML4": 1 << 39, "PML5": 1 << 48}

PTSCAN_CAP = register(
    "PGWALK-SCAN-CAP", Severity.WARNING, "The identity-table scan found more candidate tables than it keeps"
)


@dataclass
class ScanRoot:
    address: int
    levels: int
    leaves: int  # identity leaf entries reachable (2 MiB and 1 GiB)

    def to_dict(self) -> dict:
        return {"address": self.address, "levels": self.levels, "leaves": self.leaves}


@dataclass
class IdentityScan:
    roots: list[ScanRoot] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # level -> candidates found
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "roots": [r.to_dict() for r in self.roots],
            "tables": dict(self.tables),
            "findings": [f.to_dict() for f in self.findings],
        }


def _pages(mem: PhysicalMemory):  # type: ignore[no-untyped-def]
    """Yield ``(pa of first page, uint64 array [n, 512])`` for every whole page in the dump."""
    import numpy as np

    for pa, data in mem.chunks(CHUNK):
        head = -pa % TABLE_SIZE
        n = (len(data) - head) // TABLE_SIZE
        if n <= 0:
            continue
        arr = np.frombuffer(data, dtype="<u8", count=n * 512, offset=head).reshape(n, 512)
        yield pa + head, arr


def scan_identity_tables(mem: PhysicalMemory, cbit: int | None = None) -> IdentityScan:
    """Roots of identity-map page tables found anywhere in ``mem``, most leaves first."""
    import numpy as np  # imported on use: numpy is not needed to import efitables

    # Without a known C-bit, clear the two usual positions from addresses (47 and 51).
    sme = (1 << cbit) if cbit else (1 << 47) | (1 << 51)
    amask = np.uint64(ADDR_MASK_4K & ~sme)
    idx = np.arange(512, dtype=np.uint64)
    res = IdentityScan()
    # level -> {table pa: (base va, identity leaves below)}
    found: dict[str, dict[int, tuple[int, int]]] = {"PD": {}, "PDPT": {}, "PML4": {}, "PML5": {}}

    def keep(level: str, pa: int, base: int, leaves: int) -> None:
        d = found[level]
        if pa in d:
            b, n = d[pa]
            if b == base:
                d[pa] = (b, n + leaves)
            return
        if len(d) >= MAX_CANDIDATES:
            if len(d) == MAX_CANDIDATES:
                res.findings.append(make(PTSCAN_CAP, f"{level} candidates", pa, f"more than {MAX_CANDIDATES}"))
                d[-1] = (0, 0)  # marker: reported once
            return
        d[pa] = (base, leaves)

    # Pass 1: leaf tables.
    for pa, arr in _pages(mem):
        leaf = ((arr & np.uint64(_LOW_FLAGS)) == np.uint64(KEXEC_LEAF_FLAGS)) & ((arr & np.uint64(PAGE_NX)) == 0)
        cnt = leaf.sum(axis=1)
        for p in np.nonzero(cnt >= MIN_LEAVES)[0].tolist():
            ents = arr[p][leaf[p]]
            ii = idx[leaf[p]]
            addr = ents & amask
            for level, shift in (("PD", 21), ("PDPT", 30)):
                base = addr - (ii << np.uint64(shift))
                b0 = int(base[0])
                if b0 % _SPAN[level] == 0 and bool((base == base[0]).all()):
                    keep(level, pa + p * TABLE_SIZE, b0, int(len(ents)))
    # Passes 2-4: parents pointing at the level below at the matching index.
    for level, child in (("PDPT", "PD"), ("PML4", "PDPT"), ("PML5", "PML4")):
        kids = {k: v for k, v in found[child].items() if k >= 0}
        if not kids:
            continue
        kid_pas = np.array(sorted(kids), dtype=np.uint64)
        span = _CHILD_SPAN[level]
        for pa, arr in _pages(mem):
            tbl = ((arr & np.uint64(0xFF)) == np.uint64(KEXEC_TABLE_FLAGS & 0xFF)) & (
                (arr & np.uint64(PAGE_PRESENT)) != 0
            )
            if not tbl.any():
                continue
            hit = tbl & np.isin(arr & amask, kid_pas)
            for p in np.nonzero(hit.any(axis=1))[0].tolist():
                tpa = pa + p * TABLE_SIZE
                for i in np.nonzero(hit[p])[0].tolist():
                    kbase, kleaves = kids[int(arr[p, i]) & int(amask)]
                    base = kbase - i * span
                    if base >= 0 and base % _SPAN[level] == 0:
                        keep(level, tpa, base, kleaves)
    for level in found:
        res.tables[level] = len([k for k in found[level] if k >= 0])
    for level, levels in (("PML4", 4), ("PML5", 5)):
        for pa, (base, leaves) in found[level].items():
            if pa >= 0 and base == 0:
                res.roots.append(ScanRoot(pa, levels, leaves))
    res.roots.sort(key=lambda r: (-r.leaves, -r.levels, r.address))
    return res
