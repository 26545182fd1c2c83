"""The EFI System Table, its runtime services header, and its configuration table array.

Layouts: :mod:`efitables.schemas.efi_tables` (EDK2 MdePkg/Include/Uefi/UefiSpec.h,
Linux include/linux/efi.h). Checks follow shared/spec/efi.md 2-4: signature,
``HeaderSize`` (0x78 / 0x48), revision, ``Reserved``, the CRC32 (a mismatch is
a warning: Linux does not check it). After ``SetVirtualAddressMap`` the
``FirmwareVendor``, ``RuntimeServices`` and ``ConfigurationTable`` pointers
hold EFI *virtual* addresses; they are translated through the EFI memory map,
or replaced by physical copies Linux keeps (SETUP_EFI), and the route is
reported. A virtual address is never presented as a physical one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from efitables import guids
from efitables.efi.memmap import EfiMemoryMap
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.common import NULL_GUID, guid_from_bytes
from efitables.schemas.efi_tables import (
    EFI_CONFIGURATION_TABLE_32,
    EFI_CONFIGURATION_TABLE_64,
    EFI_RUNTIME_SERVICES_32,
    EFI_RUNTIME_SERVICES_64,
    EFI_RUNTIME_SERVICES_SIGNATURE,
    EFI_RUNTIME_SERVICES_SIZE_32,
    EFI_RUNTIME_SERVICES_SIZE_64,
    EFI_SYSTEM_TABLE_32,
    EFI_SYSTEM_TABLE_64,
    EFI_SYSTEM_TABLE_SIGNATURE,
    EFI_SYSTEM_TABLE_SIZE_32,
    EFI_SYSTEM_TABLE_SIZE_64,
    efi_crc32,
    revision_spec_text,
    revision_text,
)

S = "EFI_SYSTEM_TABLE"
SYSTAB_SIGNATURE = register("EFI-SYSTAB-SIGNATURE", Severity.ERROR, "System table signature is not 'IBI SYST'")
SYSTAB_HEADER_SIZE = register(
    "EFI-SYSTAB-HEADER-SIZE", Severity.ERROR, "System table HeaderSize is not 0x78 (64-bit) or 0x48 (32-bit)"
)
SYSTAB_CRC = register(
    "EFI-SYSTAB-CRC",
    Severity.WARNING,
    "System table CRC32 does not match its contents",
    "Linux does not check this CRC, so a mismatch is a warning: a post-boot write or a firmware bug.",
)
SYSTAB_REVISION = register(
    "EFI-SYSTAB-REVISION", Severity.WARNING, "System table revision is not a known UEFI major/minor"
)
SYSTAB_RESERVED = register("EFI-SYSTAB-RESERVED", Severity.WARNING, "Table header Reserved field is not 0")
SYSTAB_VIRTUAL = register(
    "EFI-SYSTAB-VIRTUAL-POINTER",
    Severity.INFO,
    "A system table pointer holds an EFI virtual address (after SetVirtualAddressMap)",
)
SYSTAB_UNTRANSLATED = register(
    "EFI-SYSTAB-UNTRANSLATED",
    Severity.WARNING,
    "A virtual system table pointer could not be translated to a physical address",
)
SYSTAB_BOOT_SERVICES = register(
    "EFI-SYSTAB-BOOT-SERVICES",
    Severity.INFO,
    "BootServices is not NULL: the dump was taken before ExitBootServices",
)
SYSTAB_TOO_MANY = register("EFI-SYSTAB-TOO-MANY-TABLES", Severity.ERROR, "NumberOfTableEntries is absurdly large")
SYSTAB_NO_TABLES = register("EFI-SYSTAB-NO-TABLES", Severity.WARNING, "The system table lists no configuration tables")
FW_VENDOR_UNTERMINATED = register(
    "EFI-FW-VENDOR-UNTERMINATED", Severity.WARNING, "Firmware vendor string has no NUL terminator within the cap"
)
FW_VENDOR_UNREADABLE = register(
    "EFI-FW-VENDOR-UNREADABLE", Severity.WARNING, "Firmware vendor pointer is NULL or not in the dump"
)
RT_SIGNATURE = register("EFI-RUNTIME-SIGNATURE", Severity.WARNING, "Runtime services table signature is not 'RUNTSERV'")
RT_CRC = register("EFI-RUNTIME-CRC", Severity.WARNING, "Runtime services table CRC32 does not match")
RT_UNREADABLE = register("EFI-RUNTIME-UNREADABLE", Severity.WARNING, "Runtime services table is not in the dump")
CFG_ARRAY_UNREADABLE = register(
    "EFI-CFGTAB-ARRAY-UNREADABLE", Severity.ERROR, "The configuration table array is not (fully) in the dump"
)
CFG_NULL = register("EFI-CFGTAB-NULL", Severity.WARNING, "A configuration table's VendorTable is NULL")
CFG_PLACEHOLDER = register(
    "EFI-CFGTAB-PLACEHOLDER",
    Severity.WARNING,
    "A configuration table's VendorTable is all ones (EDK2's not-yet-valid placeholder)",
)
CFG_NULL_GUID = register("EFI-CFGTAB-NULL-GUID", Severity.WARNING, "A configuration table has the all-zero GUID")
CFG_DUPLICATE = register(
    "EFI-CFGTAB-DUPLICATE-GUID", Severity.WARNING, "A GUID appears more than once in the configuration table array"
)
CFG_DANGLING = register(
    "EFI-CFGTAB-NOT-IN-DUMP", Severity.WARNING, "A configuration table's VendorTable points outside the dump"
)
CFG_UNKNOWN = register("EFI-CFGTAB-UNKNOWN-GUID", Severity.INFO, "A configuration table GUID has no known name")

#: Real firmware installs 5-40 tables; EDK2 grows the array 16 at a time.
MAX_CONFIG_TABLES = 1024
#: Linux copies at most 99 characters of the vendor string; allow more, bounded.
MAX_VENDOR_CHARS = 256

EFI_VA_END = 0xFFFFFFEF00000000  # Linux x86-64 EFI runtime window [EFI_VA_END, EFI_VA_START)
EFI_VA_START = 0xFFFFFFFF00000000

_HDR = struct.Struct("<QIIII")


@dataclass(frozen=True)
class ResolvedPointer:
    """A pointer field as stored and, if known, the physical address it names."""

    stored: int
    physical: int | None
    route: str  # "null", "physical", "SETUP_EFI", "kallsyms", "efi-memmap", "efi-va-congruence",
    # "efi-va-page-offset", "untranslated"

    @property
    def is_virtual(self) -> bool:
        return self.route not in ("null", "physical")

    def to_dict(self) -> dict:
        return {"stored": self.stored, "physical": self.physical, "route": self.route}


def is_virtual_address(value: int, bits: int) -> bool:
    """A value no physical address can have (>= 2**52 on x86-64)."""
    return bits == 64 and value >= MAX_PHYS_ADDR


TWO_MIB = 2 << 20
#: Candidates tried per virtual pointer (runtime regions are few).
MAX_CONGRUENT = 64


def congruent_candidates(va: int, memmap: EfiMemoryMap) -> list[int]:
    """Physical addresses in runtime-mapped descriptors congruent to ``va`` modulo 2 MiB.

    Linux x86-64 maps each EFI runtime region at a virtual address with the same
    offset inside a 2 MiB page as its physical one (torvalds/linux
    arch/x86/platform/efi/efi_64.c ``efi_map_region``), so a virtual pointer's
    physical address is one of these.
    """
    low = va & (TWO_MIB - 1)
    out: list[int] = []
    for d in memmap.descriptors:
        if not d.is_runtime:
            continue
        pa = d.physical_start - d.physical_start % TWO_MIB + low
        while pa < d.physical_end and len(out) < MAX_CONGRUENT:
            if pa >= d.physical_start:
                out.append(pa)
            pa += TWO_MIB
    return out


#: Pages tried by the page-offset search (4 MiB around the system table).
MAX_PAGE_OFFSET_CANDIDATES = 1024


def page_offset_candidates(va: int, systab_pa: int, memmap: EfiMemoryMap | None) -> list[int]:
    """Addresses within 2 MiB of the system table with ``va``'s offset inside a 4 KiB page.

    The last resort for a virtual pointer nothing else translates (no memory map, or
    a VA that is not 2 MiB-congruent): EFI maps whole pages, so the page offset
    survives, and firmware keeps its runtime tables close together (OVMF puts the
    array in the system table's own page). Bounded by the system table's descriptor
    when a memory map is known.
    """
    lo, hi = systab_pa - TWO_MIB, systab_pa + TWO_MIB
    d = memmap.lookup(systab_pa) if memmap is not None else None
    if d is not None:
        lo, hi = max(lo, d.physical_start), min(hi, d.physical_end)
    off = va & 0xFFF
    page = max(lo, 0) & ~0xFFF
    out: list[int] = []
    while page + off < hi and len(out) < MAX_PAGE_OFFSET_CANDIDATES:
        if page + off >= lo:
            out.append(page + off)
        page += 0x1000
    return out


def _looks_like_vendor(mem: PhysicalMemory, pa: int) -> bool:
    try:
        text, terminated = read_ucs2(mem, pa, 128)
    except MemoryReadError:
        return False
    return terminated and 0 < len(text) and text.isprintable()


def _looks_like_runtime(mem: PhysicalMemory, pa: int) -> bool:
    try:
        return mem.read_u64(pa) == EFI_RUNTIME_SERVICES_SIGNATURE
    except MemoryReadError:
        return False


def _looks_like_config_array(mem: PhysicalMemory, pa: int, count: int, bits: int) -> bool:
    esize = 24 if bits == 64 else 20
    n = min(count, 64)
    if n == 0:
        return False
    try:
        raw = mem.read(pa, n * esize)
    except MemoryReadError:
        return False
    fmt = "<Q" if bits == 64 else "<I"
    known = 0
    for i in range(n):
        g = raw[i * esize : i * esize + 16]
        table = struct.unpack_from(fmt, raw, i * esize + 16)[0]
        if g in (bytes(16), b"\xff" * 16) or table == 0:
            return False  # zero-filled or erased memory is no configuration table array
        known += guids.lookup(guid_from_bytes(g)) is not None
    return known * 2 >= n  # most GUIDs are known ones


def resolve_pointer(
    value: int,
    bits: int,
    memmap: EfiMemoryMap | None,
    physical_copy: tuple[int, str] | None = None,
) -> ResolvedPointer:
    if value == 0:
        return ResolvedPointer(0, None, "null")
    if not is_virtual_address(value, bits):
        return ResolvedPointer(value, value, "physical")
    if physical_copy is not None:
        return ResolvedPointer(value, physical_copy[0], physical_copy[1])
    if memmap is not None:
        hit = memmap.virt_to_phys(value)
        if hit is not None:
            return ResolvedPointer(value, hit[0], "efi-memmap")
    return ResolvedPointer(value, None, "untranslated")


@dataclass(kw_only=True)
class ConfigTable(Parsed):
    kind = "EFI_CONFIGURATION_TABLE"

    index: int
    guid: str
    name: str | None
    source: str | None
    table_address: int
    readable: bool
    payload: Parsed | None = None

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.name or 'unknown GUID ' + self.guid}"

    def children(self) -> list[Parsed]:
        return [self.payload] if self.payload is not None else []


@dataclass(kw_only=True)
class ConfigTableArray(Parsed):
    kind = "EFI_CONFIGURATION_TABLE_ARRAY"

    entry_size: int
    count: int
    entries: list[ConfigTable] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Configuration tables ({len(self.entries)})"

    def children(self) -> list[Parsed]:
        return list(self.entries)


@dataclass(kw_only=True)
class RuntimeServices(Parsed):
    kind = "EFI_RUNTIME_SERVICES"

    signature_ok: bool
    revision: int
    crc_ok: bool | None


@dataclass(kw_only=True)
class SystemTable(Parsed):
    kind = "EFI_SYSTEM_TABLE"

    bits: int
    revision: int
    revision_text: str
    spec_version: str
    header_size: int
    crc32: int
    crc32_computed: int | None
    crc_ok: bool | None
    firmware_vendor: str | None
    firmware_revision: int
    firmware_vendor_ptr: ResolvedPointer
    runtime_services_ptr: ResolvedPointer
    config_table_ptr: ResolvedPointer
    boot_services: int
    nr_tables: int
    runtime_services: RuntimeServices | None = None
    config_table_array: ConfigTableArray | None = None
    found_by: str = ""

    @property
    def title(self) -> str:
        return f"EFI system table ({self.bits}-bit, UEFI {self.spec_version})"

    @property
    def config_table_address(self) -> int | None:
        return self.config_table_ptr.physical

    @property
    def config_tables(self) -> list[ConfigTable]:
        return self.config_table_array.entries if self.config_table_array else []

    def children(self) -> list[Parsed]:
        out: list[Parsed] = []
        if self.runtime_services is not None:
            out.append(self.runtime_services)
        if self.config_table_array is not None:
            out.append(self.config_table_array)
        return out


def quick_check(head: bytes) -> tuple[bool, str, int | None]:
    """Cheap ``struct`` check of a candidate's first 24 bytes: (accepted, reason, bits)."""
    if len(head) < 24:
        return False, "truncated header", None
    sig, rev, hsize, _crc, reserved = _HDR.unpack_from(head)
    if sig != EFI_SYSTEM_TABLE_SIGNATURE:
        return False, "signature is not 'IBI SYST'", None
    if hsize == EFI_SYSTEM_TABLE_SIZE_64:
        bits = 64
    elif hsize == EFI_SYSTEM_TABLE_SIZE_32:
        bits = 32
    else:
        return False, f"HeaderSize {hsize:#x} is neither 0x78 nor 0x48", None
    major, minor = rev >> 16, rev & 0xFFFF
    if major not in (1, 2) or minor > 199:
        return False, f"revision {rev:#x} is not UEFI 1.x/2.x", bits
    if reserved != 0:
        return False, f"Reserved is {reserved:#x}, not 0", bits
    return True, "signature, HeaderSize and revision valid", bits


def read_ucs2(mem: PhysicalMemory, pa: int, max_chars: int = MAX_VENDOR_CHARS) -> tuple[str, bool]:
    """Read a NUL-terminated UCS-2 string; returns (text, terminated). Reads stop at a hole."""
    r = mem.range_at(pa)
    if r is None:
        raise MemoryReadError(pa, 2, missing=mem.first_gap(pa, 2), structure="UCS-2 string")
    n = min(max_chars * 2, r.end - pa)
    # Ranges can be adjacent: extend across them while readable.
    while n < max_chars * 2 and mem.is_readable(pa + n, 2):
        n = min(max_chars * 2, n + 4096)
    data = mem.read(pa, n - n % 2)
    for i in range(0, len(data), 2):
        if data[i] == 0 and data[i + 1] == 0:
            return data[:i].decode("utf-16-le", "replace"), True
    return data.decode("utf-16-le", "replace"), False


def parse_system_table(
    mem: PhysicalMemory,
    pa: int,
    *,
    bits: int | None = None,
    memmap: EfiMemoryMap | None = None,
    physical_copies: dict[str, tuple[int, str]] | Callable[[], dict[str, tuple[int, str]]] | None = None,
    found_by: str = "",
) -> SystemTable | None:
    """Parse the system table at ``pa``. Returns None if its header cannot be read at all.

    ``bits`` is decided by efi_info (EL64/EL32) when known, else by HeaderSize.
    ``physical_copies`` maps ``FirmwareVendor``/``ConfigurationTable``/``RuntimeServices``
    to ``(physical address, route name)`` from copies Linux kept (SETUP_EFI, the
    kernel's own globals); a callable is only called if a pointer is virtual.

    A virtual pointer is translated, in order, by such a copy, by the memory map's
    ``VirtualStart`` (rejected if the memory there does not hold the structure), by
    the 2 MiB congruence Linux keeps between EFI virtual and physical addresses
    (:func:`congruent_candidates`), or, for ``ConfigurationTable`` and
    ``RuntimeServices``, by the page offset near the system table
    (:func:`page_offset_candidates`); every candidate is checked against the
    structure it must hold.
    """
    try:
        head = mem.read(pa, 24, structure=S)
    except MemoryReadError:
        return None
    sig, rev, hsize, crc, reserved = _HDR.unpack_from(head)
    findings: list[Finding] = []
    if bits is None:
        bits = 32 if hsize == EFI_SYSTEM_TABLE_SIZE_32 else 64
    size = EFI_SYSTEM_TABLE_SIZE_64 if bits == 64 else EFI_SYSTEM_TABLE_SIZE_32
    schema = EFI_SYSTEM_TABLE_64 if bits == 64 else EFI_SYSTEM_TABLE_32
    try:
        raw = mem.read(pa, size, structure=S)
    except MemoryReadError as e:
        st_findings = [make(READ_ERROR, S, pa, f"system table truncated: {e.reason}")]
        raw = head + bytes(size - 24)
        findings.extend(st_findings)
    if sig != EFI_SYSTEM_TABLE_SIGNATURE:
        findings.append(make(SYSTAB_SIGNATURE, S, pa, f"signature {sig.to_bytes(8, 'little')!r}"))
    if hsize != size:
        findings.append(
            make(SYSTAB_HEADER_SIZE, S, pa, f"HeaderSize {hsize:#x}, expected {size:#x} for a {bits}-bit table")
        )
    crc_calc: int | None = None
    if 24 <= hsize <= 4096 and mem.is_readable(pa, hsize):
        crc_calc = efi_crc32(mem.read(pa, hsize), hsize)
        if crc_calc != crc:
            findings.append(make(SYSTAB_CRC, S, pa, f"CRC32 {crc:#010x}, computed {crc_calc:#010x}"))
    major, minor = rev >> 16, rev & 0xFFFF
    if major not in (1, 2) or minor > 199:
        findings.append(make(SYSTAB_REVISION, S, pa, f"revision {rev:#x}"))
    if reserved:
        findings.append(make(SYSTAB_RESERVED, S, pa, f"Reserved {reserved:#x}"))
    f = schema.parse(raw)

    stored = {"FirmwareVendor": f.FirmwareVendor, "RuntimeServices": f.RuntimeServices,
              "ConfigurationTable": f.ConfigurationTable}
    copies: dict[str, tuple[int, str]] = {}
    if physical_copies is not None and any(is_virtual_address(v, bits) for v in stored.values()):
        copies = physical_copies() if callable(physical_copies) else physical_copies
    nr_low = f.NumberOfTableEntries & 0xFFFFFFFF if bits == 64 else f.NumberOfTableEntries
    validators: dict[str, Callable[[int], bool]] = {
        "FirmwareVendor": lambda c: _looks_like_vendor(mem, c),
        "RuntimeServices": lambda c: _looks_like_runtime(mem, c),
        "ConfigurationTable": lambda c: _looks_like_config_array(mem, c, nr_low, bits),
    }
    resolved = {}
    notes: dict[str, str] = {}
    for name, value in stored.items():
        p = resolve_pointer(value, bits, memmap, copies.get(name))
        if p.route == "efi-memmap" and p.physical is not None and name != "FirmwareVendor" and not validators[name](
            p.physical
        ):
            # VirtualStart names memory that holds no such structure (a stale or bogus map): try the others
            notes[name] = f"; the memory map's translation {p.physical:#x} holds none"
            p = ResolvedPointer(value, None, "untranslated")
        if p.route == "untranslated" and memmap is not None:
            hits = [c for c in congruent_candidates(value, memmap) if validators[name](c)]
            if len(hits) == 1:
                p = ResolvedPointer(value, hits[0], "efi-va-congruence")
        if p.route == "untranslated" and name != "FirmwareVendor":  # a UCS-2 string is too weak a check
            hits = [c for c in page_offset_candidates(value, pa, memmap) if validators[name](c)]
            if hits:
                # nearest first: EDK2 leaves stale copies of the array farther away
                best = min(hits, key=lambda c: ((c - value) % TWO_MIB != 0, abs(c - pa)))
                p = ResolvedPointer(value, best, "efi-va-page-offset")
                others = f", {len(hits) - 1} other page(s) hold one too (stale copies?)" if len(hits) > 1 else ""
                notes[name] = notes.get(name, "") + f"; nearest of the pages holding one at that offset{others}"
        resolved[name] = p
    fw_vendor, rt, ct = resolved["FirmwareVendor"], resolved["RuntimeServices"], resolved["ConfigurationTable"]
    for name, p in (("FirmwareVendor", fw_vendor), ("RuntimeServices", rt), ("ConfigurationTable", ct)):
        if p.route == "untranslated":
            findings.append(
                make(
                    SYSTAB_UNTRANSLATED,
                    S,
                    pa,
                    f"{name} {p.stored:#x} is an EFI virtual address and no memory map or physical copy "
                    f"translates it{notes.get(name, '')}",
                )
            )
        elif p.is_virtual:
            findings.append(
                make(
                    SYSTAB_VIRTUAL,
                    S,
                    pa,
                    f"{name} {p.stored:#x} is virtual; physical {p.physical:#x} via {p.route}{notes.get(name, '')}",
                )
            )
    if f.BootServices:
        findings.append(make(SYSTAB_BOOT_SERVICES, S, pa, f"BootServices {f.BootServices:#x}"))

    vendor: str | None = None
    if fw_vendor.physical is not None:
        try:
            vendor, terminated = read_ucs2(mem, fw_vendor.physical)
            if not terminated:
                findings.append(
                    make(
                        FW_VENDOR_UNTERMINATED,
                        "FirmwareVendor",
                        fw_vendor.physical,
                        f"no NUL within {MAX_VENDOR_CHARS} characters (or before a hole); shown truncated",
                    )
                )
        except MemoryReadError as e:
            findings.append(make(FW_VENDOR_UNREADABLE, "FirmwareVendor", fw_vendor.physical, e.reason))
    elif fw_vendor.route == "null":
        findings.append(make(FW_VENDOR_UNREADABLE, "FirmwareVendor", pa, "FirmwareVendor is NULL"))

    nr = f.NumberOfTableEntries & 0xFFFFFFFF if bits == 64 else f.NumberOfTableEntries
    st = SystemTable(
        address=pa,
        size=size,
        raw=raw,
        fields=f,
        schema=schema,
        findings=findings,
        bits=bits,
        revision=rev,
        revision_text=revision_text(rev),
        spec_version=revision_spec_text(rev),
        header_size=hsize,
        crc32=crc,
        crc32_computed=crc_calc,
        crc_ok=None if crc_calc is None else crc_calc == crc,
        firmware_vendor=vendor,
        firmware_revision=f.FirmwareRevision,
        firmware_vendor_ptr=fw_vendor,
        runtime_services_ptr=rt,
        config_table_ptr=ct,
        boot_services=f.BootServices,
        nr_tables=nr,
        found_by=found_by,
    )
    if bits == 64 and f.NumberOfTableEntries >> 32:
        findings.append(
            make(
                SYSTAB_TOO_MANY,
                S,
                pa,
                f"NumberOfTableEntries {f.NumberOfTableEntries:#x} has upper bits set (Linux reads the low 32)",
            )
        )
    if rt.physical is not None:
        st.runtime_services = parse_runtime_services(mem, rt.physical, bits)
    if ct.physical is not None:
        st.config_table_array = parse_config_tables(mem, ct.physical, nr, bits)
    elif nr == 0:
        findings.append(make(SYSTAB_NO_TABLES, S, pa, "NumberOfTableEntries is 0"))
    return st


def parse_runtime_services(mem: PhysicalMemory, pa: int, bits: int) -> RuntimeServices:
    size = EFI_RUNTIME_SERVICES_SIZE_64 if bits == 64 else EFI_RUNTIME_SERVICES_SIZE_32
    schema = EFI_RUNTIME_SERVICES_64 if bits == 64 else EFI_RUNTIME_SERVICES_32
    name = "EFI_RUNTIME_SERVICES"
    try:
        raw = mem.read(pa, size, structure=name)
    except MemoryReadError as e:
        return RuntimeServices(
            address=pa,
            size=size,
            signature_ok=False,
            revision=0,
            crc_ok=None,
            findings=[make(RT_UNREADABLE, name, pa, e.reason)],
        )
    sig, rev, hsize, crc, _ = _HDR.unpack_from(raw)
    findings = []
    ok = sig == EFI_RUNTIME_SERVICES_SIGNATURE
    if not ok:
        findings.append(make(RT_SIGNATURE, name, pa, f"signature {sig.to_bytes(8, 'little')!r}"))
    crc_ok = None
    if ok and hsize == size:
        crc_ok = efi_crc32(raw, hsize) == crc
        if not crc_ok:
            findings.append(make(RT_CRC, name, pa, f"CRC32 {crc:#010x}, computed {efi_crc32(raw, hsize):#010x}"))
    return RuntimeServices(
        address=pa,
        size=size,
        raw=raw,
        fields=schema.parse(raw),
        schema=schema,
        findings=findings,
        signature_ok=ok,
        revision=rev,
        crc_ok=crc_ok,
    )


def parse_config_tables(mem: PhysicalMemory, pa: int, count: int, bits: int) -> ConfigTableArray:
    """Read ``count`` entries at ``pa`` (capped; stops at the first unreadable entry)."""
    esize = 24 if bits == 64 else 20
    schema = EFI_CONFIGURATION_TABLE_64 if bits == 64 else EFI_CONFIGURATION_TABLE_32
    name = "EFI_CONFIGURATION_TABLE array"
    arr = ConfigTableArray(address=pa, size=count * esize, entry_size=esize, count=count)
    n = count
    if n > MAX_CONFIG_TABLES:
        arr.findings.append(
            make(
                SYSTAB_TOO_MANY,
                name,
                pa,
                f"NumberOfTableEntries {count} (> {MAX_CONFIG_TABLES}); reading the first {MAX_CONFIG_TABLES}",
            )
        )
        n = MAX_CONFIG_TABLES
    readable = n
    gap = mem.first_gap(pa, n * esize)
    if gap is not None:
        readable = max(0, (gap[0] - pa) // esize)
        arr.findings.append(
            make(
                CFG_ARRAY_UNREADABLE,
                name,
                pa,
                f"only {readable} of {n} entries are in the dump; {gap[0]:#x}-{gap[1]:#x} is missing",
            )
        )
    raw = mem.read(pa, readable * esize, structure=name) if readable else b""
    arr.raw = raw
    seen: dict[str, int] = {}
    fmt = "<Q" if bits == 64 else "<I"
    for i in range(readable):
        off = i * esize
        g = guid_from_bytes(raw[off : off + 16])
        table = struct.unpack_from(fmt, raw, off + 16)[0]
        known = guids.lookup(g)
        ent = ConfigTable(
            address=pa + off,
            size=esize,
            raw=raw[off : off + esize],
            schema=schema,
            fields={"VendorGuid": g, "VendorTable": table},
            index=i,
            guid=g,
            name=known.name if known else None,
            source=known.source if known else None,
            table_address=table,
            readable=mem.is_readable(table, 1) if table else False,
        )
        ename = f"configuration table [{i}] {ent.name or g}"
        if g == NULL_GUID:
            ent.findings.append(make(CFG_NULL_GUID, ename, ent.address, "VendorGuid is all zeros"))
        elif known is None:
            ent.findings.append(make(CFG_UNKNOWN, ename, ent.address, f"GUID {g} is not in the GUID registry"))
        if g in seen:
            ent.findings.append(make(CFG_DUPLICATE, ename, ent.address, f"same GUID as entry [{seen[g]}]"))
        else:
            seen[g] = i
        all_ones = (1 << bits) - 1
        if table == 0:
            ent.findings.append(make(CFG_NULL, ename, ent.address, "VendorTable is NULL"))
        elif table == all_ones:
            ent.findings.append(make(CFG_PLACEHOLDER, ename, ent.address, "VendorTable is all ones"))
        elif not ent.readable:
            ent.findings.append(
                make(
                    CFG_DANGLING,
                    ename,
                    ent.address,
                    f"VendorTable {table:#x} is not in the dump (hole or beyond its end)",
                )
            )
        arr.entries.append(ent)
    return arr
