"""The EFI System Table and its runtime services header: parsed, checked, pointers resolved.

Layouts: :mod:`efitables.schemas.efi_tables` (``EFI_TABLE_HEADER``,
``EFI_SYSTEM_TABLE``, ``EFI_RUNTIME_SERVICES``: UEFI 2.10 §4.2, §4.3, §4.5;
tianocore/edk2 MdePkg/Include/Uefi/UefiSpec.h and UefiMultiPhase.h@c5aa7e7d94c0;
``efi_system_table_64_t`` / ``_32_t`` in torvalds/linux include/linux/efi.h@v6.12.117).

Checks: the ``IBI SYST`` signature, ``HeaderSize`` (0x78 on 64-bit firmware,
0x48 on 32-bit), a UEFI 1.x/2.x revision, ``Reserved`` 0, and the CRC32 over
``HeaderSize`` bytes with the CRC field zeroed (EDK2's ``CalculateEfiHdrCrc``,
MdeModulePkg/Core/Dxe/DxeMain/DxeMain.c@c5aa7e7d94c0). A CRC mismatch is a
warning: Linux checks only the signature (``efi_systab_check_header`` in
drivers/firmware/efi/efi.c@v6.12.117). ``BootServices`` is NULL after
ExitBootServices (``CoreExitBootServices``, same DxeMain.c).

After SetVirtualAddressMap the ``FirmwareVendor``, ``RuntimeServices`` and
``ConfigurationTable`` pointers hold EFI *virtual* addresses; they are resolved
by :mod:`efitables.efi.pointers` (physical copies Linux keeps, the memory map,
2 MiB congruence, page offset), each candidate checked against the structure it
must hold, and the route is reported. A virtual address is never presented as
a physical one. The configuration table array is parsed by
:mod:`efitables.efi.config_tables`.

The names those modules define are importable from here as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from efitables.efi.config_tables import (
    CFG_ARRAY_UNREADABLE,
    CFG_DANGLING,
    CFG_DUPLICATE,
    CFG_NULL,
    CFG_NULL_GUID,
    CFG_PLACEHOLDER,
    CFG_UNKNOWN,
    MAX_CONFIG_TABLES,
    MAX_DECODED_TABLES,
    SYSTAB_TOO_MANY,
    ConfigTable,
    ConfigTableArray,
    looks_like_config_array,
    parse_config_tables,
)
from efitables.efi.memmap import EfiMemoryMap
from efitables.efi.pointers import (
    EFI_VA_END,
    EFI_VA_START,
    MAX_CONGRUENT,
    MAX_PAGE_OFFSET_CANDIDATES,
    SYSTAB_UNTRANSLATED,
    SYSTAB_VIRTUAL,
    TWO_MIB,
    PointerCheck,
    ResolvedPointer,
    congruent_candidates,
    is_virtual_address,
    page_offset_candidates,
    pointer_findings,
    resolve_pointer,
    translate_pointers,
)
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.efi_tables import (
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

__all__ = [
    "CFG_ARRAY_UNREADABLE",
    "CFG_DANGLING",
    "CFG_DUPLICATE",
    "CFG_NULL",
    "CFG_NULL_GUID",
    "CFG_PLACEHOLDER",
    "CFG_UNKNOWN",
    "EFI_VA_END",
    "EFI_VA_START",
    "MAX_CONFIG_TABLES",
    "MAX_DECODED_TABLES",
    "MAX_CONGRUENT",
    "MAX_PAGE_OFFSET_CANDIDATES",
    "MAX_VENDOR_CHARS",
    "SYSTAB_TOO_MANY",
    "SYSTAB_UNTRANSLATED",
    "SYSTAB_VIRTUAL",
    "TWO_MIB",
    "ConfigTable",
    "ConfigTableArray",
    "ResolvedPointer",
    "RuntimeServices",
    "SystemTable",
    "congruent_candidates",
    "is_virtual_address",
    "page_offset_candidates",
    "parse_config_tables",
    "parse_runtime_services",
    "parse_system_table",
    "quick_check",
    "read_ucs2",
    "resolve_pointer",
]

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
SYSTAB_BOOT_SERVICES = register(
    "EFI-SYSTAB-BOOT-SERVICES",
    Severity.INFO,
    "BootServices is not NULL: the dump was taken before ExitBootServices",
)
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

#: Linux copies at most 99 characters of the vendor string; allow more, bounded.
MAX_VENDOR_CHARS = 256

_HDR = struct.Struct("<QIIII")


@dataclass(kw_only=True)
class RuntimeServices(Parsed):
    kind = "EFI_RUNTIME_SERVICES"

    signature_ok: bool
    revision: int
    crc_ok: bool | None


@dataclass(kw_only=True)
class SystemTable(Parsed):
    kind = "EFI_SYSTEM_TABLE"
    _repr_fields = ("revision=revision_text", "vendor=firmware_vendor", "tables=nr_tables")

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

    stored = {
        "FirmwareVendor": f.FirmwareVendor,
        "RuntimeServices": f.RuntimeServices,
        "ConfigurationTable": f.ConfigurationTable,
    }
    copies: dict[str, tuple[int, str]] = {}
    if physical_copies is not None and any(is_virtual_address(v, bits) for v in stored.values()):
        copies = physical_copies() if callable(physical_copies) else physical_copies
    nr = f.NumberOfTableEntries & 0xFFFFFFFF if bits == 64 else f.NumberOfTableEntries  # Linux reads a u32
    checks = {
        "FirmwareVendor": PointerCheck(lambda c: _looks_like_vendor(mem, c), strong=False),
        "RuntimeServices": PointerCheck(lambda c: _looks_like_runtime(mem, c)),
        "ConfigurationTable": PointerCheck(lambda c: looks_like_config_array(mem, c, nr, bits)),
    }
    resolved, notes = translate_pointers(stored, bits, memmap, copies, checks, pa)
    fw_vendor, rt, ct = resolved["FirmwareVendor"], resolved["RuntimeServices"], resolved["ConfigurationTable"]
    findings.extend(pointer_findings(resolved, notes, S, pa))
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
