"""The objects the next kernel reads before it has page tables of its own.

Source: shared/spec/kexec-identity-map.md section 4 (the v6.12 decompressor's
``startup_64``: ``sev_enable``, ``configure_5level_paging``, then
``initialize_identity_maps``; the decompressed kernel's ``sme_enable`` /
``snp_init``) and section 5; sev-snp.md 2 for the CC blob routes.

Each :class:`EarlyObject` lists its :class:`Need` per map: the byte range that
must be identity-mapped there, whether a miss is fatal (a triple fault) or
informational, and which code reads it. :func:`early_objects` works on plain
:class:`EarlyInputs`; :func:`collect` fills those from a :class:`~efitables.dump.Dump`,
using the area parsers when the Dump has them and a few bounded ``struct``
reads of boot_params otherwise.
"""

from __future__ import annotations

import struct
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from efitables.coverage.intervals import Range
from efitables.coverage.models import (
    BOOT_PARAMS_SIZE,
    CC_BLOB_SIZE,
    COMMAND_LINE_SIZE,
    EFI_CONFIG_ENTRY_SIZE,
    EFI_SYSTAB_SIZE,
    SETUP_DATA_HEADER,
    MapInputs,
    Region,
    efi_type_to_e820,
)
from efitables.efi.scan import ScanCancelled
from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.schemas.common import guid_to_bytes

KEXEC = "kexec"
DECOMPRESSOR = "decompressor"
MAPS = (KEXEC, DECOMPRESSOR)

#: Caps on what the dump can make us walk (CONTRIBUTING: every count is capped).
MAX_SETUP_NODES = 256
MAX_E820 = 128
MAX_CONFIG_ENTRIES = 1024

SETUP_EFI, SETUP_CC_BLOB, SETUP_INDIRECT = 4, 7, 0x80000000
EFI_CC_BLOB_GUID = "067b1f5f-cf26-44c5-8554-93d777912d42"
CC_BLOB_MAGIC = 0x45444D41  # "AMDE"
SNP_CPUID_TABLE_SIZE = 0xC10  # 16-byte header + 64 x 48-byte entries, copied by setup_cpuid_table
SNP_CPUID_COUNT_MAX = 64
SECRETS_SVSM_OFFSET, SECRETS_SVSM_SIZE = 0x140, 0x20  # svsm_base..reserved (guest area 1)
BDA_RANGE = (0x40E, 0x415)  # EBDA segment word and base memory size word

COLLECT_PROBLEM = register(
    "COVERAGE-INPUT",
    Severity.WARNING,
    "An input of the coverage check could not be read from the dump",
    "A pointer the coverage check follows (setup_data, CC blob, E820) is outside the dump or "
    "malformed; the object is listed with what is known or left out.",
)
SETUP_LOOP = register(
    "COVERAGE-SETUP-LOOP", Severity.WARNING, "The setup_data list loops or exceeds the cap while collecting objects"
)


@dataclass(frozen=True)
class Need:
    """A byte range one map must identity-map for one object."""

    map: str  # KEXEC or DECOMPRESSOR
    start: int
    end: int
    required: bool  # False: reported, but a miss does not fault
    why: str

    @property
    def range(self) -> Range:
        return (self.start, self.end)


@dataclass
class EarlyObject:
    name: str
    kind: str
    start: int
    size: int
    needs: list[Need] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class SetupNode:
    address: int
    type: int
    len: int
    indirect: tuple[int, int, int] | None = None  # (real type, addr, len) of a SETUP_INDIRECT node


@dataclass
class EarlyInputs:
    """Everything the object list needs, as plain values."""

    boot_params: int | None = None
    cmdline: int | None = None
    cmdline_len: int | None = None  # bytes up to and including the NUL, when known
    setup_nodes: list[SetupNode] = field(default_factory=list)
    systab: int | None = None
    systab_bits: int = 64
    config_array: int | None = None
    nr_tables: int = 0
    cc_blob: int | None = None
    cc_blob_route: str = ""
    cpuid: Range | None = None  # [cpuid_phys, cpuid_phys + cpuid_len)
    secrets: int | None = None
    svsm: bool | None = None  # secrets page says an SVSM is present (guest not at VMPL0)
    efi_boot: bool = True


def early_objects(inp: EarlyInputs) -> list[EarlyObject]:
    """The object list with the range each map must cover (kexec-identity-map.md 4)."""
    out: list[EarlyObject] = []
    sev = "sev_enable (SEV-capable CPUs)"
    if inp.boot_params is not None:
        bp = inp.boot_params
        out.append(
            EarlyObject(
                "boot_params",
                "boot_params",
                bp,
                BOOT_PARAMS_SIZE,
                [
                    Need(KEXEC, bp, bp + BOOT_PARAMS_SIZE, True, "startup_64, sev_enable, sanitize_boot_params"),
                    Need(DECOMPRESSOR, bp, bp + BOOT_PARAMS_SIZE, True, "decompressed kernel: sme_enable/snp_init"),
                ],
            )
        )
    if inp.cmdline:
        n = min(inp.cmdline_len or COMMAND_LINE_SIZE, COMMAND_LINE_SIZE)
        c = inp.cmdline
        out.append(
            EarlyObject(
                "command line",
                "cmdline",
                c,
                n,
                [
                    Need(KEXEC, c, c + n, True, "configure_5level_paging (no5lvl)"),
                    Need(DECOMPRESSOR, c, c + n, True, "decompressed kernel: sme_enable (mem_encrypt=)"),
                ],
            )
        )
    for i, nd in enumerate(inp.setup_nodes):
        full = SETUP_DATA_HEADER + nd.len
        if nd.type == SETUP_EFI:
            kexec_len, why = min(full, SETUP_DATA_HEADER + 0x18), f"{sev}: SETUP_EFI tables"
        elif nd.type == SETUP_CC_BLOB:
            kexec_len, why = min(full, SETUP_DATA_HEADER + 4), f"{sev}: SETUP_CC_BLOB"
        else:
            kexec_len, why = SETUP_DATA_HEADER, f"{sev}: setup_data walk (header)"
        a = nd.address
        out.append(
            EarlyObject(
                f"setup_data[{i}] type {nd.type:#x}",
                "setup_data",
                a,
                full,
                [
                    Need(KEXEC, a, a + kexec_len, True, why),
                    Need(DECOMPRESSOR, a, a + full, True, "decompressed kernel: snp_init setup_data walk"),
                ],
            )
        )
        if nd.indirect is not None:
            rtype, taddr, tlen = nd.indirect
            if tlen > 0 and taddr + tlen <= MAX_PHYS_ADDR:
                out.append(
                    EarlyObject(
                        f"setup_data[{i}] indirect payload type {rtype:#x}",
                        "setup_indirect",
                        taddr,
                        tlen,
                        [
                            Need(
                                DECOMPRESSOR,
                                taddr,
                                taddr + tlen,
                                False,
                                "not mapped by the decompressor (only the node); read later via early_memremap",
                            )
                        ],
                    )
                )
    if inp.systab is not None:
        size = EFI_SYSTAB_SIZE.get(inp.systab_bits, 120)
        s = inp.systab
        out.append(
            EarlyObject(
                "EFI system table",
                "efi_systab",
                s,
                size,
                [Need(KEXEC, s, s + size, True, f"{sev}: efi_get_conf_table")],
            )
        )
    if inp.config_array is not None and inp.nr_tables > 0:
        size = min(inp.nr_tables, MAX_CONFIG_ENTRIES) * EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        a = inp.config_array
        out.append(
            EarlyObject(
                "EFI configuration table array",
                "efi_config_array",
                a,
                size,
                [Need(KEXEC, a, a + size, True, f"{sev}: scan for EFI_CC_BLOB_GUID")],
            )
        )
    if inp.cc_blob:
        a = inp.cc_blob
        out.append(
            EarlyObject(
                f"SEV-SNP CC blob ({inp.cc_blob_route})" if inp.cc_blob_route else "SEV-SNP CC blob",
                "cc_blob",
                a,
                CC_BLOB_SIZE,
                [
                    Need(KEXEC, a, a + CC_BLOB_SIZE, True, f"{sev}: find_cc_blob"),
                    Need(DECOMPRESSOR, a, a + CC_BLOB_SIZE, True, "decompressed kernel: snp_init"),
                ],
            )
        )
    if inp.cpuid is not None:
        a = inp.cpuid[0]
        n = SNP_CPUID_TABLE_SIZE
        out.append(
            EarlyObject(
                "SNP CPUID page",
                "snp_cpuid",
                a,
                inp.cpuid[1] - a,
                [
                    Need(KEXEC, a, a + n, True, f"{sev}: setup_cpuid_table copies 0xc10 bytes"),
                    Need(DECOMPRESSOR, a, a + n, True, "decompressed kernel: snp_init setup_cpuid_table"),
                ],
            )
        )
    if inp.secrets is not None:
        a = inp.secrets + SECRETS_SVSM_OFFSET
        req = bool(inp.svsm)
        note = "" if inp.svsm else (" (only below VMPL0; no SVSM seen)" if inp.svsm is False else " (if not VMPL0)")
        out.append(
            EarlyObject(
                "SNP secrets page (SVSM fields)",
                "snp_secrets",
                inp.secrets,
                4096,
                [
                    Need(KEXEC, a, a + SECRETS_SVSM_SIZE, req, f"{sev}: svsm_setup_ca{note}"),
                    Need(DECOMPRESSOR, a, a + SECRETS_SVSM_SIZE, req, f"decompressed kernel: svsm_setup_ca{note}"),
                ],
            )
        )
    if not inp.efi_boot:
        s, e = BDA_RANGE
        out.append(
            EarlyObject(
                "BIOS data area words",
                "bda",
                s,
                e - s,
                [Need(KEXEC, s, e, False, "configure_5level_paging on non-EFI boots (paging-mode switch only)")],
            )
        )
    return out


# -- from a Dump -------------------------------------------------------------------


def _attr(obj: Any, *names: str) -> Any:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v
    return None


#: Where :func:`_safe` reports, while :func:`collect` runs.
_SINK: ContextVar[list[Finding] | None] = ContextVar("efitables_coverage_sink", default=None)


def _safe(fn: Any, what: str, default: Any = None) -> Any:
    """Call a Dump property that another area owns; a failure there must not stop coverage.

    The failure is not silent: it becomes a ``COVERAGE-INPUT`` finding naming ``what``,
    since an object left out for it may make a verdict look better than it is.
    """
    try:
        return fn()
    except ScanCancelled:
        raise
    except Exception as e:  # noqa: BLE001 (an area parser's bug: reported here, coverage goes on)
        sink = _SINK.get()
        if sink is not None:
            sink.append(make(COLLECT_PROBLEM, what, None, f"its parser failed ({type(e).__name__}: {e}); left out"))
        return default


def _u(fmt: str, mem: PhysicalMemory, pa: int, what: str) -> tuple[int, ...]:
    return struct.unpack(fmt, mem.read(pa, struct.calcsize(fmt), structure=what))


@dataclass
class Collected:
    inputs: EarlyInputs
    map_inputs: MapInputs
    objects: list[EarlyObject]
    findings: list[Finding]
    sme_mask_bit: int | None = None  # C-bit from VMCOREINFO / SNP CPUID, when seen


def _boot_params_address(dump: Any) -> int | None:
    bp = _safe(lambda: dump.boot_params, "boot_params")
    a = _attr(bp, "address") if bp is not None else None
    if a is not None:
        return int(a)
    info = _safe(lambda: dump.systab_discovery.efi_info, "boot_params.efi_info")
    if info is not None:
        return int(info.boot_params)
    return getattr(dump, "user_boot_params", None)


def _walk_setup(mem: PhysicalMemory, head: int, findings: list[Finding]) -> list[SetupNode]:
    nodes: list[SetupNode] = []
    seen: set[int] = set()
    pa = head
    while pa:
        if pa in seen or len(nodes) >= MAX_SETUP_NODES:
            findings.append(
                make(SETUP_LOOP, "setup_data", pa, f"stopped after {len(nodes)} nodes (cycle or cap {MAX_SETUP_NODES})")
            )
            break
        seen.add(pa)
        try:
            nxt, typ, ln = _u("<QII", mem, pa, "setup_data")
        except MemoryReadError as e:
            findings.append(make(COLLECT_PROBLEM, "setup_data", pa, e.reason))
            break
        ind = None
        if typ == SETUP_INDIRECT and ln >= 24:
            try:
                rtype, _res, tlen, taddr = _u("<IIQQ", mem, pa + 16, "setup_indirect")
                ind = (rtype, taddr, tlen)
            except MemoryReadError as e:
                findings.append(make(COLLECT_PROBLEM, "setup_indirect", pa + 16, e.reason))
        nodes.append(SetupNode(pa, typ, ln, ind))
        pa = nxt
    return nodes


def _setup_from_dump(dump: Any) -> list[SetupNode] | None:
    """setup_data nodes from the area parser, if the Dump has one."""
    sd = _safe(lambda: dump.setup_data, "setup_data")
    if sd is None:
        return None
    nodes_src = _attr(sd, "nodes")
    if nodes_src is None:
        try:
            nodes_src = list(sd)
        except TypeError:
            return None
    out: list[SetupNode] = []
    for n in nodes_src[:MAX_SETUP_NODES]:
        a, t, ln = _attr(n, "address"), _attr(n, "type"), _attr(n, "len")
        if a is None or t is None or ln is None:
            return None
        ind = None
        p = _attr(n, "payload")
        if p is not None and _attr(p, "target_addr") is not None:
            ind = (int(_attr(p, "indirect_type") or 0), int(p.target_addr), int(_attr(p, "target_len") or 0))
        out.append(SetupNode(int(a), int(t), int(ln), ind))
    return out


def _e820(mem: PhysicalMemory, bp: int, findings: list[Finding]) -> list[Region]:
    try:
        (count,) = _u("<B", mem, bp + 0x1E8, "boot_params.e820_entries")
        raw = mem.read(bp + 0x2D0, min(count, MAX_E820) * 20, structure="boot_params.e820_table")
    except MemoryReadError as e:
        findings.append(make(COLLECT_PROBLEM, "boot_params.e820_table", bp, e.reason))
        return []
    out = []
    for i in range(len(raw) // 20):
        addr, size, typ = struct.unpack_from("<QQI", raw, i * 20)
        if size and addr + size <= 1 << 64:
            out.append(Region(addr, addr + size, typ, "E820"))
    return out


def _e820_from_dump(dump: Any) -> list[Region] | None:
    for getter in (lambda: dump.e820, lambda: dump.boot_params.e820_table):
        t = _safe(getter, "E820 table")
        entries = t if isinstance(t, list) else (_attr(t, "entries") if t is not None else None)
        if entries:
            out = []
            for e in entries:
                a, ln, ty = _attr(e, "addr"), _attr(e, "length"), _attr(e, "type")
                if a is None or ln is None or ty is None:
                    return None
                if ln:
                    out.append(Region(int(a), int(a) + int(ln), int(ty), "E820"))
            return out
    return None


def _efi_regions(dump: Any) -> list[Region]:
    mm = _safe(lambda: dump.efi_memmap, "EFI memory map")
    out = []
    for d in getattr(mm, "descriptors", []) if mm is not None else []:
        t = efi_type_to_e820(d.type, d.attribute)
        if t is not None and d.number_of_pages:
            out.append(Region(d.physical_start, d.physical_end, t, "EFI memory map"))
    return out


def _cstring_len(mem: PhysicalMemory, pa: int) -> int | None:
    r = mem.range_at(pa)
    if r is None:
        return None
    data = mem.read(pa, min(COMMAND_LINE_SIZE, r.end - pa), structure="command line")
    i = data.find(b"\0")
    return i + 1 if i >= 0 else len(data)


def _cbit_from_cpuid(mem: PhysicalMemory, pa: int) -> int | None:
    try:
        (count,) = _u("<I", mem, pa, "SNP CPUID table")
        if not 1 <= count <= SNP_CPUID_COUNT_MAX:
            return None
        raw = mem.read(pa + 0x10, count * 48, structure="SNP CPUID table")
    except MemoryReadError:
        return None
    for i in range(count):
        eax_in, _ecx, _x, _s, _eax, ebx = struct.unpack_from("<IIQQII", raw, i * 48)
        if eax_in == 0x8000001F:
            return ebx & 0x3F or None
    return None


def _cc_blob(dump: Any, mem: PhysicalMemory, inp: EarlyInputs, bp: int | None) -> None:
    """Find the CC blob the way the decompressor does (EFI table, SETUP_CC_BLOB), then boot_params."""
    cands: list[tuple[int, str]] = []
    # The array the decompressor scans: SETUP_EFI's or the System Table's (physical, or located).
    if inp.config_array is not None and inp.nr_tables:
        esize = EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        n = min(inp.nr_tables, MAX_CONFIG_ENTRIES)
        gap = mem.first_gap(inp.config_array, n * esize)
        n = n if gap is None else max(0, (gap[0] - inp.config_array) // esize)
        raw = mem.read(inp.config_array, n * esize, structure="EFI_CONFIGURATION_TABLE array") if n else b""
        want = guid_to_bytes(EFI_CC_BLOB_GUID)
        for i in range(n):
            e = raw[i * esize : (i + 1) * esize]
            if e[:16] == want:
                table = int.from_bytes(e[16:], "little")
                if table:
                    cands.append((table, "EFI_CC_BLOB_GUID"))
                break
    for nd in inp.setup_nodes:
        if nd.type == SETUP_CC_BLOB and nd.len >= 4:
            try:
                cands.append((_u("<I", mem, nd.address + 16, "SETUP_CC_BLOB")[0], "SETUP_CC_BLOB"))
            except MemoryReadError:
                pass
    if bp is not None:
        try:
            (v,) = _u("<I", mem, bp + 0x13C, "boot_params.cc_blob_address")
            if v:
                cands.append((v, "boot_params.cc_blob_address"))
        except MemoryReadError:
            pass
    for addr, route in cands:
        if addr:
            inp.cc_blob, inp.cc_blob_route = addr, route
            break
    if not inp.cc_blob:
        return
    try:
        magic, _v, _r, sphys, slen, _r1, cphys, clen, _r2 = _u("<IHHQIIQII", mem, inp.cc_blob, "CC blob")
    except MemoryReadError:
        return
    if magic != CC_BLOB_MAGIC:
        return
    if cphys and clen and cphys + clen <= MAX_PHYS_ADDR:
        inp.cpuid = (cphys, cphys + clen)
    if sphys and sphys + 4096 <= MAX_PHYS_ADDR:
        inp.secrets = sphys
        try:
            svsm_size = _u("<Q", mem, sphys + 0x148, "SNP secrets page svsm_size")[0]
            inp.svsm = svsm_size != 0
        except MemoryReadError:
            inp.svsm = None


def collect(dump: Any) -> Collected:
    """Gather objects and map inputs from a Dump; every failure becomes a finding."""
    findings: list[Finding] = []
    token = _SINK.set(findings)
    try:
        return _collect(dump, findings)
    finally:
        _SINK.reset(token)


def _collect(dump: Any, findings: list[Finding]) -> Collected:
    mem: PhysicalMemory = dump.memory
    inp = EarlyInputs()
    bp = _boot_params_address(dump)
    inp.boot_params = bp
    st = _safe(lambda: dump.systab, "EFI system table")
    inp.efi_boot = st is not None
    if bp is not None:
        try:
            lo, hi = _u("<I", mem, bp + 0x228, "cmd_line_ptr")[0], _u("<I", mem, bp + 0xC8, "ext_cmd_line_ptr")[0]
            c = lo | hi << 32
            if c:
                inp.cmdline = c
                inp.cmdline_len = _cstring_len(mem, c)
                if inp.cmdline_len is None:
                    findings.append(make(COLLECT_PROBLEM, "command line", c, "not in the dump"))
        except MemoryReadError as e:
            findings.append(make(COLLECT_PROBLEM, "boot_params", bp, e.reason))
        nodes = _setup_from_dump(dump)
        if nodes is None:
            try:
                head = _u("<Q", mem, bp + 0x250, "hdr.setup_data")[0]
                nodes = _walk_setup(mem, head, findings) if head else []
            except MemoryReadError as e:
                findings.append(make(COLLECT_PROBLEM, "boot_params.hdr.setup_data", bp, e.reason))
                nodes = []
        inp.setup_nodes = nodes
    if st is not None:
        inp.systab = st.address
        inp.systab_bits = st.bits
        inp.nr_tables = st.nr_tables & 0xFFFFFFFF
        inp.config_array = st.config_table_address
    # A SETUP_EFI node's physical ``tables`` is what the (kexec'd) decompressor uses.
    for nd in inp.setup_nodes:
        if nd.type == SETUP_EFI and nd.len >= 0x18:
            try:
                tables = _u("<Q", mem, nd.address + 16 + 0x10, "SETUP_EFI.tables")[0]
                if tables:
                    inp.config_array = tables
            except MemoryReadError:
                pass
            break
    _cc_blob(dump, mem, inp, bp)

    regions = _e820_from_dump(dump)
    if regions is None:
        regions = _e820(mem, bp, findings) if bp is not None else []
    if not regions:
        regions = _efi_regions(dump)
    mi = MapInputs(regions=regions)
    if inp.systab is not None:
        mi.systab = (inp.systab, inp.systab + EFI_SYSTAB_SIZE.get(inp.systab_bits, 120))
    if inp.config_array is not None and inp.nr_tables:
        n = min(inp.nr_tables, MAX_CONFIG_ENTRIES) * EFI_CONFIG_ENTRY_SIZE.get(inp.systab_bits, 24)
        mi.config_array = (inp.config_array, inp.config_array + n)

    cbit = None
    if inp.cpuid is not None:
        cbit = _cbit_from_cpuid(mem, inp.cpuid[0])
    return Collected(inp, mi, early_objects(inp), findings, cbit)
