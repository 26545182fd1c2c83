"""A bounded walk of x86-64 4- and 5-level page tables held in a dump.

Facts as the Linux headers encode them (torvalds/linux
arch/x86/include/asm/pgtable_types.h, arch/x86/include/asm/page_64_types.h,
arch/x86/include/asm/processor-flags.h at v6.12.117; the C-bit masking as in
arch/x86/boot/compressed/ident_map_64.c and
Documentation/arch/x86/amd-memory-encryption.rst): 512 u64 entries per 4 KiB table; PS makes a
PDPTE a 1 GiB leaf and a PDE a 2 MiB leaf, and is invalid in PML4E/PML5E;
P = 0 is "not mapped"; RW is ANDed and NX ORed down the walk; the SME/SEV C-bit
lies inside the address field and is masked from CR3 and from every entry
before the address is used.

The walk only descends into entries whose virtual range meets a *window*
(by default the part of the lower canonical half that physical addresses can
have, since only VA == PA matters here), reads each table with one
``mem.read`` and numpy, and is bounded: :data:`MAX_TABLES` tables, a table on
its own path (a self-reference) or reused at another level is not entered,
and a table whose present entries are mostly malformed is rejected as absurd.
Every such event is a finding.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from efitables.coverage.intervals import Range, normalize, overlaps
from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.schemas.paging import (
    ADDR_MASK_1G,
    ADDR_MASK_2M,
    ADDR_MASK_4K,
    CR3_ADDR_MASK,
    LEVEL_NAMES,
    LEVEL_SHIFTS,
    PAGE_NX,
    PAGE_PRESENT,
    PAGE_PSE,
    PAGE_RW,
    RESERVED_1G,
    RESERVED_2M,
    TABLE_SIZE,
    flag_names,
)

if TYPE_CHECKING:
    import numpy as np

#: Tables read per walk (each one 4 KiB read). A kexec identity map of 1 TiB with
#: 2 MiB leaves is about 520 tables.
MAX_TABLES = 4096
#: Identity-mapped leaves kept individually for explanations (ranges are always kept).
MAX_LEAF_RECORDS = 65536
#: Findings about single entries, per walk; further ones are counted only.
MAX_ENTRY_FINDINGS = 32
#: A table with at least this many present entries, more than half of them
#: malformed, is rejected (random data looks like that).
ABSURD_MIN_PRESENT = 8

PGW_ROOT = register("PGWALK-ROOT", Severity.ERROR, "The page-table root is not in the dump or not a valid address")
PGW_MISSING = register(
    "PGWALK-TABLE-MISSING", Severity.WARNING, "A page-table entry points to a table that is not in the dump"
)
PGW_SELF = register(
    "PGWALK-SELF-REFERENCE",
    Severity.ERROR,
    "A page-table entry points back to a table on its own walk path",
    "The entry names its own table or an ancestor (a recursive or corrupted table); the walk does not enter it.",
)
PGW_ALIAS = register(
    "PGWALK-LEVEL-ALIAS",
    Severity.WARNING,
    "A page table is referenced at two different levels",
    "The same 4 KiB page is used as, e.g., a PML4 and a PD; the second use is not entered.",
)
PGW_BAD_ENTRY = register(
    "PGWALK-BAD-ENTRY",
    Severity.WARNING,
    "A page-table entry is malformed (PS in a PML4E/PML5E, or reserved bits set in a large leaf)",
)
PGW_ABSURD = register(
    "PGWALK-ABSURD-TABLE",
    Severity.ERROR,
    "A page table is rejected: most of its present entries are malformed",
    "Most likely not a page table (random data, or a wrong root or C-bit); nothing below it is used.",
)
PGW_CAP = register(
    "PGWALK-TOO-MANY-TABLES", Severity.ERROR, "The page-table walk stopped at its table cap; the result is partial"
)
PGW_CBIT = register(
    "PGWALK-CBIT-SUSPECTED",
    Severity.WARNING,
    "Page-table entries carry a high address bit like an SME/SEV C-bit, and no C-bit was given",
)
PGW_NO_IDENTITY = register(
    "PGWALK-NO-IDENTITY",
    Severity.INFO,
    "The page table maps nothing with virtual == physical address",
    "Expected for a running kernel's CR3 (kernel page tables have no identity map); a kexec or "
    "decompressor identity map maps its ranges VA == PA.",
)


@dataclass(frozen=True)
class Leaf:
    va: int
    pa: int
    size: int
    entry: int
    writable: bool
    nx: bool
    encrypted: bool

    @property
    def identity(self) -> bool:
        return self.va == self.pa

    @property
    def size_text(self) -> str:
        return {1 << 30: "1G", 1 << 21: "2M", 1 << 12: "4K"}.get(self.size, hex(self.size))

    def describe(self) -> str:
        enc = ", C-bit" if self.encrypted else ""
        return f"{self.size_text} leaf {self.va:#x}-{self.va + self.size:#x} [{' '.join(flag_names(self.entry))}{enc}]"

    def to_dict(self) -> dict:
        return {
            "va": self.va,
            "pa": self.pa,
            "size": self.size,
            "entry": self.entry,
            "writable": self.writable,
            "nx": self.nx,
            "encrypted": self.encrypted,
        }


@dataclass
class WalkResult:
    root: int
    levels: int
    cbit: int | None
    root_source: str = ""
    identity: list[Range] = field(default_factory=list)
    identity_leaves: list[Leaf] = field(default_factory=list)
    leaves_seen: int = 0
    non_identity_leaves: int = 0
    tables_read: int = 0
    complete: bool = True
    findings: list[Finding] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list, repr=False)

    def leaves_for(self, r: Range, limit: int = 4) -> list[Leaf]:
        """Identity leaves overlapping ``r`` (for explanations)."""
        if len(self._starts) != len(self.identity_leaves):
            self.identity_leaves.sort(key=lambda x: x.va)
            self._starts = [x.va for x in self.identity_leaves]
        i = max(0, bisect.bisect_right(self._starts, r[0]) - 1)
        out: list[Leaf] = []
        while i < len(self.identity_leaves) and len(out) < limit:
            lf = self.identity_leaves[i]
            if lf.va >= r[1]:
                break
            if overlaps((lf.va, lf.va + lf.size), r):
                out.append(lf)
            i += 1
        return out

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "root_source": self.root_source,
            "levels": self.levels,
            "cbit": self.cbit,
            "identity": [list(r) for r in self.identity],
            "leaves_seen": self.leaves_seen,
            "identity_leaves": len(self.identity_leaves),
            "non_identity_leaves": self.non_identity_leaves,
            "tables_read": self.tables_read,
            "complete": self.complete,
            "findings": [f.to_dict() for f in self.findings],
        }


def default_windows(levels: int) -> list[Range]:
    """Virtual ranges where VA == PA is possible: the low canonical half below 2**52."""
    half = 1 << (47 if levels == 4 else 56)
    return [(0, min(half, MAX_PHYS_ADDR))]


class _Walker:
    def __init__(
        self,
        mem: PhysicalMemory,
        levels: int,
        cbit: int | None,
        windows: list[Range],
        res: WalkResult,
        shared_bit: int | None = None,
    ):
        self.mem = mem
        self.levels = levels
        self.shifts = LEVEL_SHIFTS[levels]
        self.names = LEVEL_NAMES[levels]
        self.sme = (1 << cbit) if cbit else 0
        strip = self.sme | ((1 << shared_bit) if shared_bit else 0)
        self.m4k = ADDR_MASK_4K & ~strip
        self.m2m = ADDR_MASK_2M & ~strip
        self.m1g = ADDR_MASK_1G & ~strip
        self.windows = normalize(windows)
        self.res = res
        self.level_of: dict[int, int] = {}
        self.entry_findings = 0
        self.identity: list[Range] = []
        import numpy as np  # imported on use: numpy is not needed to import efitables

        rs = mem.ranges()
        self.r_starts = np.array([r.start for r in rs], dtype=np.uint64)
        self.r_ends = np.array([r.end for r in rs], dtype=np.uint64)

    def outside_dump(self, addrs: np.ndarray) -> np.ndarray:
        import numpy as np

        """Which table addresses name no byte of the dump (vectorized)."""
        if len(self.r_starts) == 0:
            return np.ones(addrs.shape, dtype=bool)
        i = np.searchsorted(self.r_starts, addrs, side="right").astype(np.int64) - 1
        ok = (i >= 0) & (addrs < self.r_ends[np.maximum(i, 0)])
        return ~ok

    def finding(self, code: str, structure: str, address: int | None, message: str, entry: bool = True) -> None:
        if entry:
            self.entry_findings += 1
            if self.entry_findings > MAX_ENTRY_FINDINGS:
                return
        self.res.findings.append(make(code, structure, address, message))

    def in_windows(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.windows, (lo, 1 << 64)) - 1
        if i >= 0 and self.windows[i][1] > lo:
            return True
        return i + 1 < len(self.windows) and self.windows[i + 1][0] < hi

    def read_table(self, pa: int, structure: str, where: int | None) -> np.ndarray | None:
        import numpy as np

        if self.res.tables_read >= MAX_TABLES:
            if self.res.complete:
                self.res.complete = False
                self.finding(PGW_CAP, structure, pa, f"more than {MAX_TABLES} tables", entry=False)
            return None
        try:
            raw = self.mem.read(pa, TABLE_SIZE, structure=structure)
        except MemoryReadError as e:
            self.finding(PGW_MISSING, structure, where, f"table {pa:#x}: {e.reason}")
            return None
        self.res.tables_read += 1
        return np.frombuffer(raw, dtype="<u8")

    def walk(self, root: int) -> None:
        # Breadth-first, so a table is first met at its shallowest use:
        # (table pa, depth, va base, ancestors, writable, nx)
        import numpy as np

        queue: deque[tuple[int, int, int, tuple[int, ...], bool, bool]] = deque([(root, 0, 0, (), True, False)])
        while queue:
            pa, depth, base, path, rw, nx = queue.popleft()
            name = self.names[depth]
            seen_level = self.level_of.get(pa)
            if seen_level is not None and seen_level != depth:
                self.finding(
                    PGW_ALIAS, name, pa, f"table {pa:#x} was used as {self.names[seen_level]}, now as {name}; skipped"
                )
                continue
            arr = self.read_table(pa, f"{name} table", path[-1] if path else None)
            if arr is None:
                if not self.res.complete:
                    return
                continue
            self.level_of[pa] = depth
            shift = self.shifts[depth]
            last = depth == self.levels - 1
            present = (arr & PAGE_PRESENT) != 0
            ps = (arr & PAGE_PSE) != 0
            if depth < self.levels - 3:  # PML5E / PML4E: PS is reserved
                bad = present & ps
            elif depth == self.levels - 3:  # PDPTE: 1 GiB leaf reserved bits 29:13
                bad = present & ps & ((arr & RESERVED_1G) != 0)
            elif depth == self.levels - 2:  # PDE: 2 MiB leaf reserved bits 20:13
                bad = present & ps & ((arr & RESERVED_2M) != 0)
            else:
                bad = np.zeros(arr.shape, dtype=bool)
            if not last:  # table pointers naming no byte of the dump count as malformed here
                leaves = ps if depth >= self.levels - 3 else np.zeros(arr.shape, dtype=bool)
                pointers = present & ~bad & ~leaves
                bad_ptr = pointers & self.outside_dump(arr & np.uint64(self.m4k))
            else:
                bad_ptr = np.zeros(arr.shape, dtype=bool)
            n_present, n_bad = int(present.sum()), int(bad.sum()) + int(bad_ptr.sum())
            if n_present >= ABSURD_MIN_PRESENT and n_bad * 2 > n_present:
                self.finding(
                    PGW_ABSURD,
                    f"{name} table",
                    pa,
                    f"{n_bad} of {n_present} present entries are malformed; table rejected",
                    entry=False,
                )
                continue
            for idx in np.nonzero(present)[0].tolist():
                lo = base + (idx << shift)
                hi = lo + (1 << shift)
                if not self.in_windows(lo, hi):
                    continue
                e = int(arr[idx])
                eaddr = pa + idx * 8
                if bad[idx]:
                    why = (
                        "PS set in a top-level entry" if depth < self.levels - 3 else "reserved bits set in large leaf"
                    )
                    self.finding(PGW_BAD_ENTRY, f"{name}E", eaddr, f"entry {e:#018x} ({why}); skipped")
                    continue
                c_rw = rw and bool(e & PAGE_RW)
                c_nx = nx or bool(e & PAGE_NX)
                if last or (ps[idx] and depth >= self.levels - 3):
                    mask = self.m4k if last else (self.m2m if shift == 21 else self.m1g)
                    self.leaf(Leaf(lo, e & mask, 1 << shift, e, c_rw, c_nx, bool(e & self.sme)))
                    continue
                child = e & self.m4k
                if child == pa or child in path:
                    self.finding(
                        PGW_SELF,
                        f"{name}E",
                        eaddr,
                        f"entry {e:#018x} points back to table {child:#x} on its own path; not entered",
                    )
                    continue
                queue.append((child, depth + 1, lo, (*path, pa), c_rw, c_nx))

    def leaf(self, lf: Leaf) -> None:
        self.res.leaves_seen += 1
        if not lf.identity:
            self.res.non_identity_leaves += 1
            return
        self.identity.append((lf.va, lf.va + lf.size))
        if len(self.res.identity_leaves) < MAX_LEAF_RECORDS:
            self.res.identity_leaves.append(lf)


def walk(
    mem: PhysicalMemory,
    root: int,
    *,
    levels: int = 4,
    cbit: int | None = None,
    windows: list[Range] | None = None,
    root_source: str = "",
    shared_bit: int | None = None,
) -> WalkResult:
    """Walk the tables under ``root`` (a CR3 value or a table address); never raises on dump data.

    ``cbit``: the SME/SEV C-bit (set in an entry: private); ``shared_bit``: TDX's shared bit (set:
    shared). Either is cleared from CR3 and from every entry before its address is used
    (:func:`efitables.analysis.encryption.encryption_of` gives both from the dump).
    """
    if levels not in LEVEL_SHIFTS:
        raise ValueError(f"levels must be 4 or 5, not {levels}")
    sme = ((1 << cbit) if cbit else 0) | ((1 << shared_bit) if shared_bit else 0)
    root_pa = root & CR3_ADDR_MASK & ~sme
    res = WalkResult(root=root_pa, levels=levels, cbit=cbit, root_source=root_source)
    top = LEVEL_NAMES[levels][0]
    if not 0 <= root < 1 << 64:
        res.findings.append(make(PGW_ROOT, top, None, f"{root:#x} is not a 64-bit value"))
        res.complete = False
        return res
    if not mem.is_readable(root_pa, TABLE_SIZE):
        res.findings.append(
            make(PGW_ROOT, top, root_pa, f"root table {root_pa:#x} (from {root:#x}) is not in the dump")
        )
        res.complete = False
        return res
    if not cbit and not shared_bit:
        _suspect_cbit(mem, root_pa, top, res)
    w = _Walker(mem, levels, cbit, windows if windows is not None else default_windows(levels), res, shared_bit)
    w.walk(root_pa)
    if w.entry_findings > MAX_ENTRY_FINDINGS:
        res.findings.append(
            make(
                PGW_BAD_ENTRY,
                "page table",
                root_pa,
                f"{w.entry_findings - MAX_ENTRY_FINDINGS} more entry findings not listed",
            )
        )
    res.identity = normalize(w.identity)
    if not res.identity and res.complete:
        res.findings.append(
            make(PGW_NO_IDENTITY, top, root_pa, f"{res.leaves_seen} leaves in the walked windows, none with VA == PA")
        )
    return res


def _suspect_cbit(mem: PhysicalMemory, root_pa: int, top: str, res: WalkResult) -> None:
    import numpy as np

    arr = np.frombuffer(mem.read(root_pa, TABLE_SIZE), dtype="<u8")
    present = arr[(arr & PAGE_PRESENT) != 0]
    if len(present) == 0:
        return
    for bit in (51, 47):
        n = int(((present >> np.uint64(bit)) & np.uint64(1)).sum())
        if n * 2 > len(present) and not mem.is_readable(int(present[0]) & ADDR_MASK_4K, 1):
            res.findings.append(
                make(
                    PGW_CBIT,
                    top,
                    root_pa,
                    f"{n} of {len(present)} present root entries have bit {bit} set; try --cbit {bit}",
                )
            )
            return
