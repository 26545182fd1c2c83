"""Linux configuration tables that describe physical memory: the persistent
MEMRESERVE list, the boot memory map the stub hands over, and the
unaccepted-memory bitmap of a confidential guest.

Layouts: :mod:`efitables.schemas.payloads.linux_tables` (torvalds/linux
include/linux/efi.h@v6.12.117 ``struct linux_efi_memreserve``, ``struct
efi_boot_memmap``, ``struct efi_unaccepted_memory``). Writers and readers the
checks follow (all torvalds/linux @v6.12.117): MEMRESERVE is installed by
drivers/firmware/efi/libstub/efi-stub.c ``install_memreserve_table()`` and
extended by drivers/firmware/efi/efi.c ``efi_mem_reserve_persistent()`` (nodes
that do not cross a page, ``count <= size``, ``next`` 0 terminates); the boot
memory map by drivers/firmware/efi/libstub/mem.c ``efi_get_memory_map()`` (in
EfiACPIReclaimMemory); the unaccepted bitmap by
drivers/firmware/efi/libstub/unaccepted_memory.c (version 1, one bit a unit,
x86 unit 2 MiB from arch/x86/include/asm/efi.h) and read by
drivers/firmware/efi/unaccepted_memory.c. Re-exported by
:mod:`efitables.payloads.linux_tables`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from efitables.caps import cap_findings, count_cap
from efitables.efi.memmap import EfiMemoryMap, parse_memmap
from efitables.findings import Severity, make, register
from efitables.model import Parsed, Rows, TableView
from efitables.payloads import register_decoder
from efitables.payloads.base import ACPI_RECLAIM, PAGE_SIZE, DecodeContext, Extent, Payload
from efitables.schemas.payloads.linux_tables import (
    EFI_BOOT_MEMMAP,
    EFI_BOOT_MEMMAP_HEADER_SIZE,
    EFI_UNACCEPTED_MEMORY,
    EFI_UNACCEPTED_MEMORY_HEADER_SIZE,
    EFI_UNACCEPTED_MEMORY_VERSION,
    EFI_UNACCEPTED_UNIT_SIZE_X86,
    LINUX_EFI_MEMRESERVE,
    LINUX_EFI_MEMRESERVE_ENTRY_SIZE,
    LINUX_EFI_MEMRESERVE_HEADER_SIZE,
)
from efitables.text import hexa

LINUX_EFI_MEMRESERVE_TABLE_GUID = "888eb0c6-8ede-4ff5-a8f0-9aee5cb977c2"
LINUX_EFI_BOOT_MEMMAP_GUID = "800f683f-d08b-423a-a293-965c3c6fe2b4"
LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID = "d5d1de3c-105c-44f9-9ea9-bcef98120031"

#: MEMRESERVE: most nodes followed; most entries read per node, which is one page
#: (``efi_mem_reserve_persistent`` allocates a page and sets ``size`` to EFI_MEMRESERVE_COUNT(PAGE_SIZE),
#: 255); most ranges read in all nodes together (real lists hold a handful).
MAX_MEMRESERVE_NODES = 256
MAX_MEMRESERVE_ENTRIES = (PAGE_SIZE - LINUX_EFI_MEMRESERVE_HEADER_SIZE) // LINUX_EFI_MEMRESERVE_ENTRY_SIZE
MAX_MEMRESERVE_RANGES = 1024
#: Unaccepted bitmap: most bytes read (16 MiB covers 256 TiB at 2 MiB units); runs listed.
MAX_BITMAP_SIZE = 16 * 1024 * 1024
MAX_UNACCEPTED_RUNS = 64
EFI_UNACCEPTED_MEMORY_TYPE = 15  # EfiUnacceptedMemoryType

MR_CYCLE = register("LINUX-MEMRESERVE-CYCLE", Severity.ERROR, "LINUX_EFI_MEMRESERVE list loops back on itself")
MR_TOO_MANY = register(
    "LINUX-MEMRESERVE-TOO-MANY", Severity.ERROR, "LINUX_EFI_MEMRESERVE list is longer than efitables follows"
)
MR_COUNT = register(
    "LINUX-MEMRESERVE-COUNT", Severity.ERROR, "LINUX_EFI_MEMRESERVE node count/size is negative or count > size"
)
MR_PAGE = register("LINUX-MEMRESERVE-PAGE", Severity.WARNING, "LINUX_EFI_MEMRESERVE node crosses a page boundary")
MR_RANGE = register("LINUX-MEMRESERVE-RANGE", Severity.WARNING, "LINUX_EFI_MEMRESERVE range is empty or overflows")
BMM_BUFF = register("LINUX-BOOT-MEMMAP-SIZE", Severity.WARNING, "LINUX_EFI_BOOT_MEMMAP map_size exceeds buff_size")
UA_VERSION = register(
    "LINUX-UNACCEPTED-VERSION", Severity.ERROR, "Unaccepted memory table version is not 1 (Linux ignores it)"
)
UA_UNIT = register(
    "LINUX-UNACCEPTED-UNIT", Severity.WARNING, "Unaccepted memory unit size is not a power of two (x86: 2 MiB)"
)
UA_ALIGN = register("LINUX-UNACCEPTED-ALIGN", Severity.WARNING, "Unaccepted memory phys_base is not unit-aligned")
UA_SIZE = register("LINUX-UNACCEPTED-SIZE", Severity.WARNING, "Unaccepted memory bitmap is larger than efitables reads")
UA_COVER = register(
    "LINUX-UNACCEPTED-COVER",
    Severity.WARNING,
    "EFI_UNACCEPTED_MEMORY region outside the unaccepted-memory bitmap",
    "The stub sizes the bitmap to span every EFI_UNACCEPTED_MEMORY descriptor of the memory map; a "
    "descriptor outside [phys_base, phys_base + size*8*unit_size) could never be accepted.",
)


# -- MEMRESERVE ------------------------------------------------------------------
@dataclass(kw_only=True)
class MemreserveNode(Parsed):
    kind = "LINUX_EFI_MEMRESERVE_NODE"

    index: int
    capacity: int
    count: int
    next: int
    ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"node [{self.index}] {self.count}/{self.capacity} ranges, next {self.next:#x}"


@dataclass(kw_only=True)
class Memreserve(Payload):
    kind = "LINUX_EFI_MEMRESERVE"

    nodes: list[MemreserveNode] = field(default_factory=list)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return [r for n in self.nodes for r in n.ranges]

    @property
    def title(self) -> str:
        return f"Linux MEMRESERVE ({len(self.nodes)} nodes, {len(self.ranges)} ranges)"

    def children(self) -> list[Parsed]:
        return list(self.nodes)

    def extents(self) -> list[Extent]:
        return [Extent(f"MEMRESERVE node [{n.index}]", n.address, n.size) for n in self.nodes if n.address is not None]

    def facts(self) -> Rows:
        """The first 8 nodes of the list, the number of ranges and the bytes they reserve."""
        chain = " -> ".join(hexa(n.address) for n in self.nodes[:8]) + (" ..." if len(self.nodes) > 8 else "")
        return [
            ("nodes", chain),
            ("ranges", str(len(self.ranges))),
            ("reserved bytes", f"{sum(s for _, s in self.ranges):#x}"),
        ]

    def table_views(self) -> list[TableView]:
        ranges: list[tuple[str, ...]] = [
            (str(i), f"{b:#x}-{b + s:#x}", f"{s:#x}") for i, (b, s) in enumerate(self.ranges)
        ]
        if not ranges:
            return []
        return [TableView(f"Reserved ranges ({len(ranges)})", ("#", "physical", "size"), ranges)]

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["reserved_bytes"] = sum(s for _, s in self.ranges)
        return d


def decode_memreserve(ctx: DecodeContext) -> Memreserve:
    name = "LINUX_EFI_MEMRESERVE"
    m = Memreserve(address=ctx.address, size=LINUX_EFI_MEMRESERVE_HEADER_SIZE)
    visited: set[int] = set()
    ranges_left, ranges_cut = MAX_MEMRESERVE_RANGES, 0  # ranges the caps leave out
    pa = ctx.address
    while pa:
        if pa in visited:
            m.findings.append(make(MR_CYCLE, name, pa, f"node {pa:#x} was already visited after {len(m.nodes)} nodes"))
            break
        if len(m.nodes) >= MAX_MEMRESERVE_NODES:
            m.findings.append(make(MR_TOO_MANY, name, pa, f"stopped after {MAX_MEMRESERVE_NODES} nodes"))
            break
        visited.add(pa)
        raw = ctx.read(pa, LINUX_EFI_MEMRESERVE_HEADER_SIZE, f"{name} node [{len(m.nodes)}]", m.findings)
        if raw is None:
            break
        h = LINUX_EFI_MEMRESERVE.parse(raw)
        i = len(m.nodes)
        node = MemreserveNode(
            address=pa,
            size=LINUX_EFI_MEMRESERVE_HEADER_SIZE,
            raw=raw,
            fields=h,
            schema=LINUX_EFI_MEMRESERVE,
            index=i,
            capacity=h["size"],
            count=h["count"],
            next=h["next"],
        )
        m.nodes.append(node)
        nn = f"{name} node [{i}]"
        cap, cnt = node.capacity, node.count
        if cap < 0 or cnt < 0 or cnt > cap:
            node.findings.append(make(MR_COUNT, nn, pa, f"size {cap}, count {cnt}"))
        full = LINUX_EFI_MEMRESERVE_HEADER_SIZE + LINUX_EFI_MEMRESERVE_ENTRY_SIZE * max(cap, 0)
        if pa // PAGE_SIZE != (pa + full - 1) // PAGE_SIZE:
            node.findings.append(make(MR_PAGE, nn, pa, f"{full:#x} bytes from {pa:#x}"))
        claimed = max(0, min(cnt, cap))
        n = min(claimed, MAX_MEMRESERVE_ENTRIES, ranges_left)
        ranges_left -= n
        ranges_cut += claimed - n
        node.size = min(full, PAGE_SIZE - pa % PAGE_SIZE) if full > 0 else LINUX_EFI_MEMRESERVE_HEADER_SIZE
        body = ctx.read(
            pa + LINUX_EFI_MEMRESERVE_HEADER_SIZE, n * LINUX_EFI_MEMRESERVE_ENTRY_SIZE, f"{nn} entries", node.findings
        )
        if body is not None:
            node.raw = raw + body
            vals = struct.unpack_from(f"<{2 * n}Q", body)
            for j in range(n):
                base, size = vals[2 * j], vals[2 * j + 1]
                if size == 0 or base + size > 1 << 64:
                    node.findings.append(make(MR_RANGE, nn, pa + 16 + 16 * j, f"entry [{j}] {base:#x} +{size:#x}"))
                node.ranges.append((base, size))
        pa = node.next
    m.size = m.nodes[0].size if m.nodes else 0
    taken = MAX_MEMRESERVE_RANGES - ranges_left
    _n, capped = count_cap(taken + ranges_cut, taken, MR_TOO_MANY, name, ctx.address,
                           f"count of {len(m.nodes)} nodes (at most {MAX_MEMRESERVE_ENTRIES} a node, "
                           f"{MAX_MEMRESERVE_RANGES} in all)", "ranges")  # fmt: skip
    if capped is not None:
        m.findings.append(capped)
    m.findings.extend(cap_findings((n.findings for n in m.nodes), name, ctx.address))
    return m


# -- boot memory map ---------------------------------------------------------------
@dataclass(kw_only=True)
class BootMemmap(Payload):
    kind = "LINUX_EFI_BOOT_MEMMAP"

    map_size: int
    desc_size: int
    desc_ver: int
    map_key: int
    buff_size: int
    memmap: EfiMemoryMap | None = None

    @property
    def title(self) -> str:
        n = len(self.memmap.descriptors) if self.memmap else 0
        return f"Linux boot memory map ({n} descriptors)"

    def children(self) -> list[Parsed]:
        return [self.memmap] if self.memmap is not None else []

    def facts(self) -> Rows:
        n = len(self.memmap.descriptors) if self.memmap is not None else 0
        return [
            ("map_size", f"{self.map_size:#x}"),
            ("desc_size", str(self.desc_size)),
            ("desc_ver", str(self.desc_ver)),
            ("map_key", f"{self.map_key:#x}"),
            ("buff_size", f"{self.buff_size:#x}"),
            ("descriptors", str(n)),
        ]


def decode_boot_memmap(ctx: DecodeContext) -> BootMemmap:
    pa, name = ctx.address, "LINUX_EFI_BOOT_MEMMAP"
    findings: list = []
    raw = ctx.read(pa, EFI_BOOT_MEMMAP_HEADER_SIZE, name, findings)
    if raw is None:
        b = BootMemmap(address=pa, size=0, map_size=0, desc_size=0, desc_ver=0, map_key=0, buff_size=0)
        b.findings.extend(findings)
        return b
    f = EFI_BOOT_MEMMAP.parse(raw)
    b = BootMemmap(
        address=pa,
        size=EFI_BOOT_MEMMAP_HEADER_SIZE,
        raw=raw,
        fields=f,
        schema=EFI_BOOT_MEMMAP,
        map_size=f["map_size"],
        desc_size=f["desc_size"],
        desc_ver=f["desc_ver"],
        map_key=f["map_key"],
        buff_size=f["buff_size"],
    )
    if b.map_size > b.buff_size:
        b.findings.append(make(BMM_BUFF, name, pa, f"map_size {b.map_size:#x} > buff_size {b.buff_size:#x}"))
    b.memmap = parse_memmap(ctx.mem, pa + EFI_BOOT_MEMMAP_HEADER_SIZE, b.map_size, b.desc_size, b.desc_ver, source=name)
    if b.memmap.raw:
        b.size = EFI_BOOT_MEMMAP_HEADER_SIZE + len(b.memmap.raw)
    return b


# -- unaccepted memory -----------------------------------------------------------
@dataclass(kw_only=True)
class UnacceptedMemory(Payload):
    kind = "LINUX_EFI_UNACCEPTED_MEMORY"

    version: int
    unit_size: int
    phys_base: int
    bitmap_size: int
    covered_start: int = 0
    covered_end: int = 0
    units: int = 0
    unaccepted_units: int | None = None
    unaccepted_runs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def accepted_units(self) -> int | None:
        return None if self.unaccepted_units is None else self.units - self.unaccepted_units

    @property
    def unaccepted_bytes(self) -> int | None:
        return None if self.unaccepted_units is None else self.unaccepted_units * self.unit_size

    @property
    def accepted_bytes(self) -> int | None:
        a = self.accepted_units
        return None if a is None else a * self.unit_size

    @property
    def title(self) -> str:
        if self.unaccepted_units is None:
            return f"unaccepted memory table ({self.units} units)"
        return f"unaccepted memory: {self.unaccepted_units}/{self.units} units still unaccepted"

    def facts(self) -> Rows:
        out = [
            ("version", str(self.version)),
            ("unit size", f"{self.unit_size:#x}"),
            ("phys_base", hexa(self.phys_base)),
            ("bitmap", f"{self.bitmap_size:#x} bytes = {self.units} units"),
            ("covers", f"{self.covered_start:#x}-{self.covered_end:#x}"),
        ]
        if self.unaccepted_units is not None:
            out.append(("accepted", f"{self.accepted_units} units ({self.accepted_bytes:#x} bytes)"))
            out.append(("unaccepted", f"{self.unaccepted_units} units ({self.unaccepted_bytes:#x} bytes)"))
        return out

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d.update(
            accepted_units=self.accepted_units,
            accepted_bytes=self.accepted_bytes,
            unaccepted_bytes=self.unaccepted_bytes,
        )
        return d


def decode_unaccepted(ctx: DecodeContext) -> UnacceptedMemory:
    pa, name = ctx.address, "LINUX_EFI_UNACCEPTED_MEM_TABLE"
    findings: list = []
    raw = ctx.read(pa, EFI_UNACCEPTED_MEMORY_HEADER_SIZE, name, findings)
    if raw is None:
        u = UnacceptedMemory(address=pa, size=0, version=0, unit_size=0, phys_base=0, bitmap_size=0)
        u.findings.extend(findings)
        return u
    f = EFI_UNACCEPTED_MEMORY.parse(raw)
    u = UnacceptedMemory(
        address=pa,
        size=EFI_UNACCEPTED_MEMORY_HEADER_SIZE,
        raw=raw,
        fields=f,
        schema=EFI_UNACCEPTED_MEMORY,
        version=f["version"],
        unit_size=f["unit_size"],
        phys_base=f["phys_base"],
        bitmap_size=f["size"],
    )
    if u.version != EFI_UNACCEPTED_MEMORY_VERSION:
        u.findings.append(make(UA_VERSION, name, pa, f"version {u.version}"))
        return u
    unit = u.unit_size
    if unit == 0 or unit & (unit - 1):
        u.findings.append(make(UA_UNIT, name, pa, f"unit_size {unit:#x}"))
        return u
    if unit != EFI_UNACCEPTED_UNIT_SIZE_X86:
        u.findings.append(
            make(
                UA_UNIT,
                name,
                pa,
                f"unit_size {unit:#x}, x86 uses {EFI_UNACCEPTED_UNIT_SIZE_X86:#x}",
                severity=Severity.INFO,
            )
        )
    if u.phys_base % unit:
        u.findings.append(make(UA_ALIGN, name, pa, f"phys_base {u.phys_base:#x}"))
    nbytes = u.bitmap_size
    if nbytes > MAX_BITMAP_SIZE:
        u.findings.append(make(UA_SIZE, name, pa, f"bitmap {nbytes:#x} bytes; reading {MAX_BITMAP_SIZE:#x}"))
        nbytes = MAX_BITMAP_SIZE
    u.units = nbytes * 8
    u.covered_start = u.phys_base
    u.covered_end = u.phys_base + u.units * unit
    if ctx.memmap is not None:
        for d in ctx.memmap.descriptors:
            if (
                d.type == EFI_UNACCEPTED_MEMORY_TYPE
                and d.number_of_pages
                and (d.physical_start < u.covered_start or d.physical_end > u.covered_end)
            ):
                u.findings.append(
                    make(
                        UA_COVER,
                        name,
                        pa,
                        f"[{d.index}] {d.physical_start:#x}-{d.physical_end:#x} is not covered "
                        f"by {u.covered_start:#x}-{u.covered_end:#x}",
                    )  # fmt: skip
                )
        u.findings.extend(cap_findings([u.findings], name, pa))
    bitmap = ctx.read(pa + EFI_UNACCEPTED_MEMORY_HEADER_SIZE, nbytes, f"{name} bitmap", u.findings)
    if bitmap is None:
        return u
    u.size = EFI_UNACCEPTED_MEMORY_HEADER_SIZE + nbytes
    import numpy as np  # here, not at import: most dumps have no unaccepted memory

    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    u.unaccepted_units = int(bits.sum())
    if u.unaccepted_units:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], bits.astype(np.int8), [0]))))
        for s, e in zip(edges[0::2][:MAX_UNACCEPTED_RUNS], edges[1::2][:MAX_UNACCEPTED_RUNS], strict=True):
            u.unaccepted_runs.append((u.phys_base + int(s) * unit, int(e - s) * unit))
    return u


_RECLAIM = frozenset({ACPI_RECLAIM})
register_decoder(LINUX_EFI_MEMRESERVE_TABLE_GUID, decode_memreserve, kept=True)
register_decoder(LINUX_EFI_BOOT_MEMMAP_GUID, decode_boot_memmap, expected_types=_RECLAIM, kept=True)
register_decoder(LINUX_EFI_UNACCEPTED_MEM_TABLE_GUID, decode_unaccepted, expected_types=_RECLAIM, kept=True)
