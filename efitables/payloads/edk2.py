"""EDK2/PI tables that carry little a Linux user needs: decoded to the header
the spec gives (UEFI PI Specification vol. 2 DXE Services Table and vol. 3 HOBs;
tianocore/edk2 MdePkg/Include/Pi/PiHob.h, MdePkg/Include/Pi/PiDxeCis.h,
MdePkg/Include/Guid/DebugImageInfoTable.h, MdePkg/Include/Guid/ImageAuthentication.h,
MdeModulePkg/Include/Guid/MemoryTypeInformation.h, all @c5aa7e7d94c0).

HOB list: the PHIT head plus a bounded walk counting HOB types; debug image
info: header and the count of non-NULL entries; DXE services: its
EFI_TABLE_HEADER (signature, CRC32); memory type information: the bins up
to the Type-16 terminator; guided-section extraction GUIDs: the 16-byte copy
of the GUID itself. Most of these live in boot-services memory and are
reported as possibly stale.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

from efitables.caps import count_cap
from efitables.findings import Severity, make, register
from efitables.model import Parsed, Rows, TableView
from efitables.payloads import register_decoder
from efitables.payloads.base import BS_DATA, RT_DATA, DecodeContext, GuidCopy, Payload
from efitables.schemas.common import guid_from_bytes, guid_to_bytes
from efitables.schemas.efi_memmap import type_name
from efitables.schemas.efi_tables import EFI_DXE_SERVICES_SIGNATURE, EFI_TABLE_HEADER, efi_crc32
from efitables.schemas.payloads.edk2 import (
    EFI_DEBUG_IMAGE_INFO_TABLE_HEADER,
    EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32,
    EFI_HOB_GENERIC_HEADER_SIZE,
    EFI_HOB_HANDOFF_INFO_TABLE,
    EFI_HOB_HANDOFF_INFO_TABLE_SIZE,
    EFI_HOB_HANDOFF_TABLE_VERSION,
    EFI_HOB_TYPE_END_OF_HOB_LIST,
    EFI_HOB_TYPE_HANDOFF,
    EFI_HOB_TYPE_NAMES,
    EFI_IMAGE_EXECUTION_ACTION_NAMES,
    EFI_IMAGE_EXECUTION_INFO,
    EFI_IMAGE_EXECUTION_INFO_HEAD_SIZE,
    EFI_IMAGE_EXECUTION_INFO_TABLE_32,
    EFI_IMAGE_EXECUTION_INFO_TABLE_64,
    EFI_IMAGE_EXECUTION_INITIALIZED,
    EFI_MAX_MEMORY_TYPE,
    EFI_MEMORY_TYPE_INFORMATION_SIZE,
)
from efitables.text import printable

EFI_HOB_LIST_GUID = "7739f24c-93d7-11d4-9a3a-0090273fc14d"
EFI_DEBUG_IMAGE_INFO_TABLE_GUID = "49152e77-1ada-4764-b7a2-7afefed95e8b"
EFI_DXE_SERVICES_TABLE_GUID = "05ad34ba-6f02-4214-952e-4da0398e2bb9"
EFI_MEMORY_TYPE_INFORMATION_GUID = "4c19049f-4137-4dd3-9c10-8b97a83ffdfa"
EFI_IMAGE_SECURITY_DATABASE_GUID = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"  # image execution info table
GUIDED_SECTION_GUIDS = (
    "ee4e5898-3914-4259-9d6e-dc7bd79403cf",  # gLzmaCustomDecompressGuid
    "d42ae6bd-1352-4bfb-909a-ca72a6eae889",  # gLzmaF86CustomDecompressGuid
    "a31280ad-481e-41b6-95e8-127f4c984779",  # gTianoCustomDecompressGuid
    "fc1bcdb0-7d31-49aa-936a-a4600d9dd083",  # gEfiCrc32GuidedSectionExtractionGuid
)

#: HOB walk bounds: most HOBs, most bytes (a firmware's list holds tens to a few hundred HOBs), and
#: distinct HOB types counted by name (the PI spec defines about 15; others share one count).
MAX_HOBS = 16384
MAX_HOB_LIST = 16 * 1024 * 1024
MAX_HOB_TYPE_NAMES = 32
OTHER_HOB_TYPES = "other types"
#: DXE services table: largest HeaderSize believed.
MAX_DXE_SERVICES_SIZE = 4096
#: Memory type information: most bins before the terminator.
MAX_MEMORY_TYPE_BINS = 64
#: Debug image info: most pointer-array entries read.
MAX_DEBUG_IMAGES = 4096
#: Image execution info: most records, largest record, largest table read. EDK2 records the images
#: whose Secure Boot verification failed or was deferred (``AddImageExeInfo`` in
#: SecurityPkg/Library/DxeImageVerificationLib/DxeImageVerificationLib.c@c5aa7e7d94c0): none to tens.
MAX_EXEC_IMAGES = 256
MAX_EXEC_INFO_SIZE = 64 * 1024
MAX_EXEC_TABLE = 4 * 1024 * 1024
#: Bytes of the image execution table read at a time.
EXEC_READ_WINDOW = 64 * 1024
#: Characters of an image name kept.
MAX_NAME_CHARS = 512

EDK2_GUID_COPY = register(
    "EDK2-GUID-COPY",
    Severity.WARNING,
    "Guided-section table does not hold a copy of its GUID",
    "DxeExtractGuidedSectionLib installs a 16-byte copy of the section GUID; other bytes mean the "
    "memory was reused or the table is something else.",
)
HOB_PHIT = register(
    "EDK2-HOB-PHIT", Severity.INFO, "HOB list does not start with a valid PHIT HOB (may be overwritten)"
)
HOB_WALK = register("EDK2-HOB-WALK", Severity.INFO, "HOB list walk stopped before END_OF_HOB_LIST")
DXE_SIG = register("EDK2-DXE-SERVICES-SIGNATURE", Severity.WARNING, "DXE services table signature is not DXE_SERV")
DXE_CRC = register("EDK2-DXE-SERVICES-CRC", Severity.INFO, "DXE services table CRC32 does not match")
MTI_END = register(
    "EDK2-MEMORY-TYPE-INFO", Severity.INFO, "Memory type information has no Type-16 terminator or an invalid type"
)
EXEC_RECORD = register(
    "EDK2-IMAGE-EXEC-RECORD",
    Severity.WARNING,
    "Image execution info record is malformed; the walk stopped",
    "InfoSize is below the 8-byte head, runs past the table or efitables' caps, or NumberOfImages is implausible.",
)
DBG_SIZE = register("EDK2-DEBUG-IMAGE-INFO-SIZE", Severity.INFO, "Debug image info TableSize is implausible")


@dataclass(kw_only=True)
class HobList(Payload):
    kind = "EDK2_HOB_LIST"

    phit_valid: bool
    version: int | None = None
    boot_mode: int | None = None
    memory_top: int | None = None
    memory_bottom: int | None = None
    free_memory_top: int | None = None
    free_memory_bottom: int | None = None
    end_of_hob_list: int | None = None
    hob_count: int = 0
    type_counts: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        if not self.phit_valid:
            return "HOB list (no valid PHIT: overwritten?)"
        return f"HOB list ({self.hob_count} HOBs, PHIT version {self.version})"


def decode_hob_list(ctx: DecodeContext) -> HobList:
    pa, name = ctx.address, "HOB list"
    findings: list = []
    raw = ctx.read(pa, EFI_HOB_HANDOFF_INFO_TABLE_SIZE, name, findings)
    if raw is None:
        h = HobList(address=pa, size=0, phit_valid=False)
        h.findings.extend(findings)
        return h
    f = EFI_HOB_HANDOFF_INFO_TABLE.parse(raw)
    ok = f["Header"]["HobType"] == EFI_HOB_TYPE_HANDOFF and f["Header"]["HobLength"] == EFI_HOB_HANDOFF_INFO_TABLE_SIZE
    h = HobList(
        address=pa,
        size=EFI_HOB_HANDOFF_INFO_TABLE_SIZE,
        raw=raw,
        fields=f,
        schema=EFI_HOB_HANDOFF_INFO_TABLE,
        phit_valid=ok,
    )
    if not ok:
        h.findings.append(
            make(HOB_PHIT, name, pa, f"first HOB type {f['Header']['HobType']:#x} length {f['Header']['HobLength']:#x}")
        )
        return h
    h.version, h.boot_mode = f["Version"], f["BootMode"]
    h.memory_top, h.memory_bottom = f["EfiMemoryTop"], f["EfiMemoryBottom"]
    h.free_memory_top, h.free_memory_bottom = f["EfiFreeMemoryTop"], f["EfiFreeMemoryBottom"]
    h.end_of_hob_list = f["EfiEndOfHobList"]
    if h.version != EFI_HOB_HANDOFF_TABLE_VERSION:
        h.findings.append(make(HOB_PHIT, name, pa, f"PHIT version {h.version:#x}", severity=Severity.INFO))
    # Walk: the list is contiguous from the PHIT to EfiEndOfHobList (+ the end HOB).
    end = h.end_of_hob_list + EFI_HOB_GENERIC_HEADER_SIZE if h.end_of_hob_list > pa else pa + MAX_HOB_LIST
    length = min(end - pa, MAX_HOB_LIST)
    gap = ctx.mem.first_gap(pa, length)
    if gap is not None:
        length = gap[0] - pa
    data = ctx.read(pa, length, name, h.findings) if length > 0 else b""
    counts: Counter[str] = Counter()
    off, n, done = 0, 0, False
    while data is not None and off + EFI_HOB_GENERIC_HEADER_SIZE <= len(data) and n < MAX_HOBS:
        typ, ln = struct.unpack_from("<HH", data, off)
        key = EFI_HOB_TYPE_NAMES.get(typ, f"{typ:#06x}")
        counts[key if key in counts or len(counts) < MAX_HOB_TYPE_NAMES else OTHER_HOB_TYPES] += 1
        n += 1
        if typ == EFI_HOB_TYPE_END_OF_HOB_LIST:
            done = True
            off += EFI_HOB_GENERIC_HEADER_SIZE
            break
        if ln < EFI_HOB_GENERIC_HEADER_SIZE or ln % 8:
            break
        off += ln
    h.hob_count, h.type_counts = n, dict(counts)
    if done:
        h.size = off
    else:
        h.findings.append(make(HOB_WALK, name, pa + off, f"after {n} HOBs"))
    return h


@dataclass(kw_only=True)
class DebugImageInfoTable(Payload):
    kind = "EFI_DEBUG_IMAGE_INFO_TABLE_HEADER"

    update_status: int
    table_size: int
    table_address: int
    non_null_entries: int | None = None

    @property
    def title(self) -> str:
        n = "?" if self.non_null_entries is None else self.non_null_entries
        return f"debug image info table ({self.table_size} slots, {n} images)"


def decode_debug_image_info(ctx: DecodeContext) -> DebugImageInfoTable:
    pa, name = ctx.address, "debug image info table"
    findings: list = []
    schema = EFI_DEBUG_IMAGE_INFO_TABLE_HEADER if ctx.bits == 64 else EFI_DEBUG_IMAGE_INFO_TABLE_HEADER_32
    psize = 8 if ctx.bits == 64 else 4
    raw = ctx.read(pa, schema.sizeof(), name, findings)
    if raw is None:
        d = DebugImageInfoTable(address=pa, size=0, update_status=0, table_size=0, table_address=0)
        d.findings.extend(findings)
        return d
    f = schema.parse(raw)
    d = DebugImageInfoTable(
        address=pa,
        size=len(raw),
        raw=raw,
        fields=f,
        schema=schema,
        update_status=f["UpdateStatus"],
        table_size=f["TableSize"],
        table_address=f["EfiDebugImageInfoTable"],
    )
    if d.table_size > MAX_DEBUG_IMAGES:
        d.findings.append(make(DBG_SIZE, name, pa, f"TableSize {d.table_size}"))
        return d
    if d.table_address and d.table_size:
        arr = ctx.read(d.table_address, psize * d.table_size, "debug image info array", d.findings)
        if arr is not None:
            d.non_null_entries = sum(1 for (p,) in struct.iter_unpack("<Q" if psize == 8 else "<I", arr) if p)
    return d


@dataclass(kw_only=True)
class DxeServicesTable(Payload):
    kind = "EFI_DXE_SERVICES_TABLE"

    signature_ok: bool
    revision: int
    header_size: int
    crc32_ok: bool | None = None

    @property
    def title(self) -> str:
        if not self.signature_ok:
            return "DXE services table (bad signature)"
        crc = {None: "CRC32 not checked", True: "CRC32 ok", False: "CRC32 MISMATCH"}[self.crc32_ok]
        return f"DXE services table rev {self.revision >> 16}.{self.revision & 0xFFFF} ({crc})"


def decode_dxe_services(ctx: DecodeContext) -> DxeServicesTable:
    pa, name = ctx.address, "DXE services table"
    findings: list = []
    raw = ctx.read(pa, EFI_TABLE_HEADER.sizeof(), name, findings)
    if raw is None:
        d = DxeServicesTable(address=pa, size=0, signature_ok=False, revision=0, header_size=0)
        d.findings.extend(findings)
        return d
    f = EFI_TABLE_HEADER.parse(raw)
    d = DxeServicesTable(
        address=pa,
        size=len(raw),
        raw=raw,
        fields=f,
        schema=EFI_TABLE_HEADER,
        signature_ok=f["Signature"] == EFI_DXE_SERVICES_SIGNATURE,
        revision=f["Revision"],
        header_size=f["HeaderSize"],
    )
    if not d.signature_ok:
        d.findings.append(make(DXE_SIG, name, pa, f"signature {f['Signature']:#018x}"))
        return d
    if len(raw) <= d.header_size <= MAX_DXE_SERVICES_SIZE:
        whole = ctx.read(pa, d.header_size, name, d.findings)
        if whole is not None:
            d.size = d.header_size
            d.crc32_ok = efi_crc32(whole) == f["CRC32"]
            if not d.crc32_ok:
                d.findings.append(
                    make(DXE_CRC, name, pa, f"stored {f['CRC32']:#010x}, computed {efi_crc32(whole):#010x}")
                )
    return d


@dataclass(kw_only=True)
class MemoryTypeInformation(Payload):
    kind = "EFI_MEMORY_TYPE_INFORMATION"

    bins: list[dict] = field(default_factory=list)
    terminated: bool = False

    @property
    def title(self) -> str:
        if not self.terminated:
            return f"memory type information ({len(self.bins)} records, no terminator: stale?)"
        return f"memory type information ({len(self.bins)} bins)"

    def facts(self) -> Rows:
        """Nothing beyond the bins table, unless the records lack a terminator (then they are likely not bins)."""
        if self.terminated:
            return []
        return [("records", f"{len(self.bins)} without a Type-16 terminator (not listed)")]

    def table_views(self) -> list[TableView]:
        """The bins up to the terminator; none when there is no terminator (the records are likely reused memory)."""
        if not self.terminated:
            return []
        bins: list[tuple[str, ...]] = [
            (str(b["type"]), printable(b["type_name"]), f"{b['number_of_pages']:#x}") for b in self.bins
        ]
        return [TableView(f"Memory type bins ({len(bins)})", ("type", "name", "pages"), bins)]


def decode_memory_type_info(ctx: DecodeContext) -> MemoryTypeInformation:
    pa, name = ctx.address, "memory type information"
    m = MemoryTypeInformation(address=pa, size=0)
    data = ctx.read(pa, MAX_MEMORY_TYPE_BINS * EFI_MEMORY_TYPE_INFORMATION_SIZE, name, [])
    if data is None:
        # The array may end right before a hole: read record by record.
        data = b""
        for i in range(MAX_MEMORY_TYPE_BINS):
            rec = ctx.read(pa + 8 * i, 8, name, m.findings if i == 0 else [])
            if rec is None:
                break
            data += rec
            if struct.unpack_from("<I", rec)[0] == EFI_MAX_MEMORY_TYPE:
                break
    for i, (typ, pages) in enumerate(struct.iter_unpack("<II", data[: len(data) // 8 * 8])):
        if typ == EFI_MAX_MEMORY_TYPE:
            m.terminated = True
            m.size = 8 * (i + 1)
            m.raw = data[: m.size]
            return m
        if 16 <= typ <= 0x6FFFFFFF:
            m.findings.append(make(MTI_END, name, pa + 8 * i, f"record [{i}] type {typ:#x}"))
            break
        m.bins.append({"type": typ, "type_name": type_name(typ), "number_of_pages": pages})
    if not any(f.code == MTI_END for f in m.findings) and data:
        m.findings.append(make(MTI_END, name, pa, f"no terminator in {len(data) // 8} records"))
    m.size = 8 * len(m.bins)
    m.raw = data[: m.size]
    return m


@dataclass(kw_only=True)
class ImageExecutionInfo(Parsed):
    """One image Secure Boot verification deferred or rejected (or passed, when recorded)."""

    kind = "EFI_IMAGE_EXECUTION_INFO"

    index: int
    action: int
    action_name: str
    initialized: bool
    info_size: int
    name: str
    device_path_size: int | None
    signature_list_size: int | None

    @property
    def title(self) -> str:
        return f"[{self.index}] {self.action_name} {self.name or '(no name)'}"


@dataclass(kw_only=True)
class ImageExecutionInfoTable(Payload):
    kind = "EFI_IMAGE_EXECUTION_INFO_TABLE"

    number_of_images: int
    images: list[ImageExecutionInfo] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"image execution info ({self.number_of_images} images)"

    def children(self) -> list[Parsed]:
        return list(self.images)

    def facts(self) -> Rows:
        return [("NumberOfImages", str(self.number_of_images))]

    def table_views(self) -> list[TableView]:
        """One row per record walked: its action, image name and the sizes of its device path and signature list."""
        images: list[tuple[str, ...]] = [
            (
                str(i.index),
                i.action_name + ("" if i.initialized else " (uninit)"),
                printable(i.name),
                "-" if i.device_path_size is None else str(i.device_path_size),
                "-" if i.signature_list_size is None else str(i.signature_list_size),
            )
            for i in self.images
        ]
        if not images:
            return []
        cols = ("#", "action", "name", "device path", "signature list")
        return [TableView(f"Images ({len(images)})", cols, images)]


def _device_path_size(data: bytes | bytearray, off: int, end: int) -> int | None:
    """Bytes of the EFI device path at ``off`` up to and including its End node, or None."""
    p = off
    for _ in range(256):
        if p + 4 > end:
            return None
        typ, sub, ln = struct.unpack_from("<BBH", data, p)
        if ln < 4 or p + ln > end:
            return None
        p += ln
        if typ == 0x7F and sub == 0xFF:
            return p - off
    return None


def decode_image_execution_info(ctx: DecodeContext) -> ImageExecutionInfoTable:
    pa, name = ctx.address, "image execution info table"
    head = EFI_IMAGE_EXECUTION_INFO_TABLE_64 if ctx.bits == 64 else EFI_IMAGE_EXECUTION_INFO_TABLE_32
    findings: list = []
    raw = ctx.read(pa, head.sizeof(), name, findings)
    if raw is None:
        t = ImageExecutionInfoTable(address=pa, size=0, number_of_images=0)
        t.findings.extend(findings)
        return t
    f = head.parse(raw)
    t = ImageExecutionInfoTable(address=pa, size=len(raw), raw=raw, fields=f, schema=head,
                                number_of_images=f["NumberOfImages"])  # fmt: skip
    n, too_many = count_cap(t.number_of_images, MAX_EXEC_IMAGES, EXEC_RECORD, name, pa,
                            f"NumberOfImages {t.number_of_images:#x}", "records")  # fmt: skip
    if too_many is not None:
        t.findings.append(too_many)
    # Read what the dump holds of the table, up to the cap, then walk it.
    start = pa + len(raw)
    gap = ctx.mem.first_gap(start, MAX_EXEC_TABLE)
    avail = MAX_EXEC_TABLE if gap is None else gap[0] - start
    # Read in windows as the records need them (a remote dump pays for what is read, not for the cap).
    data = bytearray()

    def have(end: int) -> bool:
        while len(data) < min(end, avail):
            chunk = ctx.read(start + len(data), min(EXEC_READ_WINDOW, avail - len(data)), name, t.findings)
            if chunk is None:
                return False
            data.extend(chunk)
        return end <= len(data)

    off = 0
    for i in range(n):
        if not have(off + EFI_IMAGE_EXECUTION_INFO_HEAD_SIZE):
            t.findings.append(make(EXEC_RECORD, name, start + off, f"record [{i}] is not in the dump"))
            break
        action, info_size = struct.unpack_from("<II", data, off)
        h = {"Action": action, "InfoSize": info_size}
        size = h["InfoSize"]
        if size < EFI_IMAGE_EXECUTION_INFO_HEAD_SIZE or size > MAX_EXEC_INFO_SIZE or not have(off + size):
            t.findings.append(make(EXEC_RECORD, name, start + off, f"record [{i}] InfoSize {size:#x}"))
            break
        body_end = off + size
        q = off + EFI_IMAGE_EXECUTION_INFO_HEAD_SIZE
        chars: list[str] = []
        while q + 2 <= body_end and len(chars) < MAX_NAME_CHARS:
            c = struct.unpack_from("<H", data, q)[0]
            q += 2
            if c == 0:
                break
            chars.append(chr(c))
        dp = _device_path_size(data, q, body_end)
        a = h["Action"]
        t.images.append(ImageExecutionInfo(
            address=start + off, size=size, raw=bytes(data[off:body_end]), fields=h, schema=EFI_IMAGE_EXECUTION_INFO,
            index=i, action=a, action_name=EFI_IMAGE_EXECUTION_ACTION_NAMES.get(a & 7, f"ACTION_{a & 7}"),
            initialized=bool(a & EFI_IMAGE_EXECUTION_INITIALIZED), info_size=size,
            name="".join(chars).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace"),
            device_path_size=dp, signature_list_size=None if dp is None else body_end - q - dp,
        ))  # fmt: skip
        off = body_end
    t.size = len(raw) + off
    return t


def decode_guid_copy(ctx: DecodeContext) -> GuidCopy:
    """The 16-byte copy of the GUID that tianocore/edk2 MdePkg/Library/DxeExtractGuidedSectionLib
    installs: ``read(ptr, 16) == guid``."""
    findings: list = []
    raw = ctx.read(ctx.address, 16, f"{ctx.name} GUID copy", findings)
    if raw is None:
        g = GuidCopy(address=ctx.address, size=0, copied_guid="", matches=False)
        g.findings.extend(findings)
        return g
    g = GuidCopy(
        address=ctx.address, size=16, raw=raw, copied_guid=guid_from_bytes(raw), matches=raw == guid_to_bytes(ctx.guid)
    )
    if not g.matches:
        g.findings.append(make(EDK2_GUID_COPY, ctx.name, ctx.address, f"holds {g.copied_guid}, not {ctx.guid}"))
    return g


_DXE_TYPES = frozenset({BS_DATA})
register_decoder(EFI_HOB_LIST_GUID, decode_hob_list, expected_types=_DXE_TYPES)
register_decoder(EFI_DEBUG_IMAGE_INFO_TABLE_GUID, decode_debug_image_info, expected_types=_DXE_TYPES)
register_decoder(EFI_DXE_SERVICES_TABLE_GUID, decode_dxe_services, expected_types=frozenset({BS_DATA, RT_DATA}))
register_decoder(
    EFI_IMAGE_SECURITY_DATABASE_GUID, decode_image_execution_info, expected_types=frozenset({RT_DATA, BS_DATA})
)
register_decoder(EFI_MEMORY_TYPE_INFORMATION_GUID, decode_memory_type_info, expected_types=_DXE_TYPES)
for _g in GUIDED_SECTION_GUIDS:
    register_decoder(_g, decode_guid_copy, expected_types=_DXE_TYPES)
