"""Walking the ``setup_data`` list, SETUP_INDIRECT included.

Layout: ``struct setup_data`` and ``struct setup_indirect`` from torvalds/linux
arch/x86/include/uapi/asm/setup_data.h@v6.12.117 (in
arch/x86/include/uapi/asm/bootparam.h@v6.1.192 before the split); the list and
SETUP_INDIRECT (boot protocol 2.15) as Documentation/arch/x86/boot.rst@v6.12.117
describes them; the kernel's own walk is ``parse_setup_data`` in
arch/x86/kernel/setup.c@v6.12.117.

The walk starts at ``boot_params.hdr.setup_data`` and follows ``next`` with a
visited set (cycles are reported and stop the walk), a node cap
(:data:`MAX_NODES`), and every ``len`` checked against the bytes the dump holds.
Caps that span the list are shared by its nodes (the SETUP_E820_EXT entries of all
nodes together: :data:`MAX_E820_EXT_ENTRIES`), and the nodes and their payloads carry
at most :data:`efitables.caps.MAX_FINDINGS_PER_KIND` findings of each code between
them (:func:`efitables.caps.cap_findings`).
A SETUP_INDIRECT node is followed once to its out-of-line payload and decoded by
its inner type; an indirect node naming SETUP_INDIRECT again is reported and not
followed (boot.rst forbids nesting). Each payload is decoded by
:func:`efitables.boot.setup_payloads.decode_plain` (unknown types are kept with a
bounded raw preview; SETUP_RNG_SEED bytes stay redacted unless asked for).

The payload classes are importable from here as before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from efitables.boot.setup_payload_base import (
    MAX_PREVIEW,
    SETUP_SHORT,
    DecodeCtx,
    RawPayload,
    SetupPayload,
    common,
    gap_finding,
    read_prefix,
    short_payload,
)
from efitables.boot.setup_payloads import (
    DECODERS,
    MAX_E820_EXT_ENTRIES,
    SETUP_DTB_BAD,
    SETUP_E820_EXT_LEN,
    SETUP_PCI_BAD,
    SETUP_UNKNOWN,
    E820ExtPayload,
    FdtPayload,
    PciRomPayload,
    decode_plain,
)
from efitables.boot.setup_payloads_kexec import (
    MAX_SEED,
    SETUP_CC_BAD,
    SETUP_EFI_BAD,
    CcBlobPayload,
    EfiSetupPayload,
    ImaPayload,
    KhoPayload,
    RngSeedPayload,
)
from efitables.boot.setup_payloads_vendor import (
    MAX_APPLE_BYTES,
    MAX_APPLE_DEVICES,
    MAX_APPLE_PROPS,
    MAX_DEVPATH_NODES,
    SETUP_APPLE_BAD,
    SETUP_JAILHOUSE_BAD,
    AppleDevice,
    ApplePropertiesPayload,
    JailhousePayload,
)
from efitables.caps import cap_findings
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed, Rows
from efitables.schemas.setup_data import (
    SETUP_APPLE_PROPERTIES,
    SETUP_DATA,
    SETUP_DATA_HEADER_SIZE,
    SETUP_DATA_STRUCT,
    SETUP_E820_EXT,
    SETUP_EFI,
    SETUP_INDIRECT,
    SETUP_INDIRECT_SIZE,
    SETUP_RNG_SEED,
    STRUCT_SETUP_INDIRECT,
    setup_type_name,
)

__all__ = [
    "MAX_APPLE_BYTES",
    "MAX_APPLE_DEVICES",
    "MAX_APPLE_PROPS",
    "MAX_DEVPATH_NODES",
    "MAX_E820_EXT_ENTRIES",
    "MAX_NODES",
    "MAX_PREVIEW",
    "MAX_SEED",
    "SETUP_APPLE_BAD",
    "SETUP_CC_BAD",
    "SETUP_DTB_BAD",
    "SETUP_E820_EXT",
    "SETUP_E820_EXT_LEN",
    "SETUP_EFI",
    "SETUP_EFI_BAD",
    "SETUP_INDIRECT",
    "SETUP_JAILHOUSE_BAD",
    "SETUP_PCI_BAD",
    "SETUP_RNG_SEED",
    "SETUP_SHORT",
    "SETUP_UNKNOWN",
    "AppleDevice",
    "ApplePropertiesPayload",
    "CcBlobPayload",
    "DECODERS",
    "E820ExtPayload",
    "EfiSetupPayload",
    "FdtPayload",
    "ImaPayload",
    "IndirectPayload",
    "JailhousePayload",
    "KhoPayload",
    "PciRomPayload",
    "RawPayload",
    "RngSeedPayload",
    "SetupDataList",
    "SetupDataNode",
    "SetupPayload",
    "decode_payload",
    "walk_setup_data",
]

#: Real lists hold 0-5 nodes (a kexec'd kernel's: SETUP_EFI, SETUP_E820_EXT, SETUP_RNG_SEED, SETUP_IMA,
#: SETUP_CC_BLOB; kexec-tools and the kernel's kexec_file loader add one of each at most); anything past
#: this is a loop or garbage.
MAX_NODES = 256

SETUP_CYCLE = register(
    "SETUP-DATA-CYCLE", Severity.ERROR, "The setup_data list loops back on itself", "The walk stops at the repeat."
)
SETUP_TOO_MANY = register("SETUP-DATA-TOO-MANY", Severity.ERROR, "The setup_data list is longer than efitables follows")
SETUP_DANGLING = register(
    "SETUP-DATA-DANGLING",
    Severity.ERROR,
    "A setup_data pointer names memory the dump does not hold",
    "boot_params.hdr.setup_data or a node's next points into a hole, past the dump's end, or "
    "beyond physical address space; the walk stops there.",
)
SETUP_LEN = register("SETUP-DATA-LEN", Severity.ERROR, "A setup_data node's len runs past the bytes the dump holds")
SETUP_ALIGN = register("SETUP-DATA-ALIGN", Severity.INFO, "A setup_data node is not 8-byte aligned")
SETUP_CONSUMED = register(
    "SETUP-DATA-CONSUMED",
    Severity.INFO,
    "A setup_data node has len 0: the kernel consumed and wiped it",
    "Linux zeroes SETUP_RNG_SEED bytes and len after use, and sets len 0 on SETUP_APPLE_PROPERTIES.",
)
SETUP_INDIRECT_NESTED = register(
    "SETUP-INDIRECT-NESTED",
    Severity.ERROR,
    "A setup_indirect names SETUP_INDIRECT again (nesting is not allowed); not followed",
)
SETUP_INDIRECT_LEN = register(
    "SETUP-INDIRECT-LEN", Severity.WARNING, "A SETUP_INDIRECT node's len is not sizeof(struct setup_indirect) (24)"
)
SETUP_INDIRECT_BIT = register(
    "SETUP-INDIRECT-TYPE",
    Severity.WARNING,
    "A setup_indirect type lacks the SETUP_INDIRECT bit or has reserved bits set",
)

_HDR = struct.Struct(SETUP_DATA_STRUCT)
_INDIRECT = struct.Struct("<IIQQ")


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class IndirectPayload(SetupPayload):
    kind = "SETUP_INDIRECT"
    indirect_type: int
    indirect_type_name: str
    reserved: int
    target_len: int
    target_addr: int
    followed: bool
    target: SetupPayload | None = None

    def children(self) -> list[Parsed]:
        return [self.target] if self.target is not None else []

    def summary(self) -> str:
        head = f"-> {self.indirect_type_name} at {self.target_addr:#x}, {self.target_len} bytes"
        if not self.followed:
            return head + " (not followed)"
        return f"{head}: {self.target.summary() if self.target is not None else ''}"

    def payload_rows(self) -> Rows:
        return [
            ("indirect type", f"{self.indirect_type:#x} ({self.indirect_type_name})"),
            ("reserved", f"{self.reserved:#x}"),
            ("target", f"{self.target_addr:#x}, {self.target_len} bytes"),
            ("followed", str(self.followed)),
        ]


@dataclass(kw_only=True)
class SetupDataNode(Parsed):
    kind = "setup_data"

    index: int
    next: int
    type: int
    type_name: str
    len: int
    data_address: int
    payload: SetupPayload | None = None

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.type_name} ({self.len} bytes)"

    @property
    def effective_payload(self) -> SetupPayload | None:
        """The payload, through a SETUP_INDIRECT node to its target."""
        p = self.payload
        if isinstance(p, IndirectPayload):
            return p.target
        return p

    def children(self) -> list[Parsed]:
        return [self.payload] if self.payload is not None else []


@dataclass(kw_only=True)
class SetupDataList(Parsed):
    """The walked list; iterates, indexes and measures like a list of :class:`SetupDataNode`."""

    kind = "setup_data_list"

    head: int
    nodes: list[SetupDataNode] = field(default_factory=list)
    complete: bool = True  # False when the walk stopped early (cycle, cap, hole)

    @property
    def title(self) -> str:
        return f"setup_data ({len(self.nodes)} nodes)"

    def children(self) -> list[Parsed]:
        return list(self.nodes)

    def __iter__(self) -> Iterator[SetupDataNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, i: int) -> SetupDataNode:
        return self.nodes[i]

    def of_type(self, setup_type: int) -> list[SetupDataNode]:
        """Nodes of a plain type, including SETUP_INDIRECT nodes whose inner type it is."""
        out = []
        for n in self.nodes:
            p = n.effective_payload
            if n.type == setup_type or (p is not None and p.setup_type == setup_type):
                out.append(n)
        return out


# -- payloads: plain types through the registry, SETUP_INDIRECT followed once ---------------
def decode_payload(
    mem: PhysicalMemory,
    setup_type: int,
    pa: int,
    length: int,
    *,
    show_secrets: bool = False,
    structure: str = "setup_data payload",
    indirect_depth: int = 0,
    budget: dict[str, int] | None = None,
) -> SetupPayload:
    """Decode the payload of type ``setup_type`` at ``pa`` (``length`` bytes declared).

    Reads only what the decoder needs, bounded; a short or unreadable payload
    gives a finding, never an exception. ``budget``: the caps one walk's nodes share
    (:class:`~efitables.boot.setup_payload_base.DecodeCtx`).
    """
    name = f"{structure} ({setup_type_name(setup_type)})"
    if setup_type == SETUP_INDIRECT:
        return _decode_indirect(DecodeCtx(mem, show_secrets, budget), setup_type, pa, length, name, indirect_depth)
    return decode_plain(mem, setup_type, pa, length, show_secrets=show_secrets, name=name, budget=budget)


def _decode_indirect(ctx: DecodeCtx, t: int, pa: int, length: int, name: str, depth: int) -> SetupPayload:
    findings: list[Finding] = []
    if length != SETUP_INDIRECT_SIZE:
        findings.append(make(SETUP_INDIRECT_LEN, name, pa, f"len {length}, expected {SETUP_INDIRECT_SIZE}"))
    data, gap = read_prefix(ctx.mem, pa, min(max(length, 0), SETUP_INDIRECT_SIZE), name)
    if gap is not None:
        findings.append(gap_finding(name, pa, gap))
    if len(data) < SETUP_INDIRECT_SIZE:
        return short_payload(t, pa, length, data, findings)
    itype, reserved, ilen, iaddr = _INDIRECT.unpack(data)
    p = IndirectPayload(
        **common(t, pa, length, data, findings, STRUCT_SETUP_INDIRECT, STRUCT_SETUP_INDIRECT.parse(data)),
        indirect_type=itype,
        indirect_type_name=setup_type_name(itype),
        reserved=reserved,
        target_len=ilen,
        target_addr=iaddr,
        followed=False,
    )
    if reserved:
        findings.append(make(SETUP_INDIRECT_BIT, name, pa, f"reserved is {reserved:#x}, must be 0"))
    if itype == SETUP_INDIRECT:
        findings.append(
            make(SETUP_INDIRECT_NESTED, name, pa, f"setup_indirect.type is SETUP_INDIRECT alone (-> {iaddr:#x})")
        )
        return p
    if not itype & SETUP_INDIRECT:
        findings.append(
            make(
                SETUP_INDIRECT_BIT,
                name,
                pa,
                f"type {itype:#x} lacks SETUP_INDIRECT; decoded as {setup_type_name(itype)}",
            )
        )
    inner = itype & ~SETUP_INDIRECT
    if iaddr == 0 or iaddr >= MAX_PHYS_ADDR:
        findings.append(make(READ_ERROR, name, pa, f"addr {iaddr:#x} is not a physical address"))
        return p
    target_len = min(ilen, 1 << 32)  # decoders read bounded prefixes; len is only compared
    gap2 = ctx.mem.first_gap(iaddr, max(1, min(ilen, 1 << 32)))
    if gap2 is not None:
        findings.append(
            make(
                SETUP_LEN,
                name,
                iaddr,
                f"indirect payload {iaddr:#x}+{ilen:#x}: {gap2[0]:#x}-{gap2[1]:#x} not in the dump",
            )
        )
    p.followed = True
    p.target = decode_payload(
        ctx.mem,
        inner,
        iaddr,
        target_len,
        show_secrets=ctx.show_secrets,
        structure=f"{name} -> payload",
        indirect_depth=depth + 1,
        budget=ctx.budget,
    )
    return p


# -- the walk -----------------------------------------------------------------------
def walk_setup_data(
    mem: PhysicalMemory,
    head: int,
    *,
    show_secrets: bool = False,
    max_nodes: int = MAX_NODES,
    source: str = "boot_params.hdr.setup_data",
) -> SetupDataList:
    """Follow the list from ``head`` (0: empty) with cycle, count, hole and length bounds."""
    lst = SetupDataList(address=head or None, size=0, head=head)
    budget: dict[str, int] = {}  # caps the nodes share (DecodeCtx.budget)
    visited: dict[int, int] = {}
    pa = head
    came_from = source
    i = 0
    while pa:
        if pa in visited:
            lst.findings.append(
                make(
                    SETUP_CYCLE,
                    "setup_data list",
                    pa,
                    f"{came_from} points back to node [{visited[pa]}] at {pa:#x}; walk stopped after {i} nodes",
                )
            )
            lst.complete = False
            break
        if i >= max_nodes:
            lst.findings.append(
                make(SETUP_TOO_MANY, "setup_data list", pa, f"more than {max_nodes} nodes; walk stopped at {pa:#x}")
            )
            lst.complete = False
            break
        visited[pa] = i
        node_name = f"setup_data node [{i}]"
        if pa + SETUP_DATA_HEADER_SIZE > MAX_PHYS_ADDR or not mem.is_readable(pa, SETUP_DATA_HEADER_SIZE):
            gap = mem.first_gap(pa, SETUP_DATA_HEADER_SIZE) if pa < MAX_PHYS_ADDR else None
            where = f" ({gap[0]:#x}-{gap[1]:#x} missing)" if gap else ""
            lst.findings.append(
                make(SETUP_DANGLING, node_name, pa, f"{came_from} = {pa:#x} is not in the dump{where}; walk stopped")
            )
            lst.complete = False
            break
        hdr = mem.read(pa, SETUP_DATA_HEADER_SIZE, structure=node_name)
        nxt, typ, ln = _HDR.unpack(hdr)
        node = SetupDataNode(
            address=pa,
            size=SETUP_DATA_HEADER_SIZE + ln,
            raw=hdr,
            fields=SETUP_DATA.parse(hdr),
            schema=SETUP_DATA,
            index=i,
            next=nxt,
            type=typ,
            type_name=setup_type_name(typ),
            len=ln,
            data_address=pa + SETUP_DATA_HEADER_SIZE,
        )
        if pa % 8:
            node.findings.append(make(SETUP_ALIGN, node_name, pa, f"node at {pa:#x}"))
        data_pa = pa + SETUP_DATA_HEADER_SIZE
        if ln:
            gap = mem.first_gap(data_pa, ln) if data_pa + ln <= MAX_PHYS_ADDR else (data_pa, data_pa + ln)
            if gap is not None:
                node.findings.append(
                    make(
                        SETUP_LEN,
                        node_name,
                        pa,
                        f"len {ln:#x} runs to {data_pa + ln:#x} but {gap[0]:#x}-{gap[1]:#x} is not in the dump",
                    )
                )
        elif typ in (SETUP_RNG_SEED, SETUP_APPLE_PROPERTIES):
            node.findings.append(make(SETUP_CONSUMED, node_name, pa, f"{node.type_name} with len 0"))
        node.payload = decode_payload(
            mem, typ, data_pa, ln, show_secrets=show_secrets, structure=node_name, budget=budget
        )
        lst.nodes.append(node)
        came_from = f"node [{i}].next"
        pa = nxt
        i += 1
    lst.size = sum(n.size for n in lst.nodes)
    lst.findings.extend(cap_findings(_finding_lists(lst.nodes), "setup_data list", head or None))
    return lst


def _finding_lists(nodes: list[SetupDataNode]) -> Iterator[list[Finding]]:
    """The findings lists of every node and of its payload (and a SETUP_INDIRECT target), in list order."""
    for n in nodes:
        yield n.findings
        p = n.payload
        if p is not None:
            yield p.findings
            if isinstance(p, IndirectPayload) and p.target is not None:
                yield p.target.findings
