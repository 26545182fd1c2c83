"""Walking the ``setup_data`` list and decoding each node's payload.

Layouts: :mod:`efitables.schemas.setup_data` (torvalds/linux
arch/x86/include/uapi/asm/setup_data.h@v6.12.117, asm/setup_data.h). The walk
starts at ``boot_params.hdr.setup_data`` and follows ``next`` with a visited set
(cycles are reported and stop the walk), a node cap (:data:`MAX_NODES`), and
every ``len`` checked against the bytes the dump holds. A SETUP_INDIRECT node
is followed once to its out-of-line payload and decoded by its inner type; an
indirect node naming SETUP_INDIRECT again is reported and not followed. Unknown
types are kept with a bounded raw preview. SETUP_RNG_SEED bytes are redacted
unless asked for (length and a short SHA-256 prefix are shown).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from efitables.boot.e820 import E820Entry, decode_entries
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR, PhysicalMemory
from efitables.model import Parsed
from efitables.schemas.boot_params import BOOT_E820_ENTRY_SIZE
from efitables.schemas.setup_data import (
    APPLE_PROPERTIES_HEADER,
    CC_SETUP_DATA,
    EFI_SETUP_DATA,
    EFI_SETUP_DATA_SIZE,
    FDT_HEADER,
    FDT_HEADER_SIZE,
    FDT_MAGIC,
    IMA_SETUP_DATA,
    JAILHOUSE_SETUP_DATA,
    JAILHOUSE_SETUP_DATA_V1,
    JAILHOUSE_SETUP_REQUIRED_VERSION,
    KHO_DATA,
    PCI_SETUP_ROM_DATA,
    SETUP_APPLE_PROPERTIES,
    SETUP_CC_BLOB,
    SETUP_DATA,
    SETUP_DATA_HEADER_SIZE,
    SETUP_DATA_STRUCT,
    SETUP_DTB,
    SETUP_E820_EXT,
    SETUP_EFI,
    SETUP_IMA,
    SETUP_INDIRECT,
    SETUP_INDIRECT_SIZE,
    SETUP_JAILHOUSE,
    SETUP_KEXEC_KHO,
    SETUP_PCI,
    SETUP_RNG_SEED,
    SETUP_TYPES,
    STRUCT_SETUP_INDIRECT,
    setup_type_name,
)
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC

#: Real lists hold 0-5 nodes; anything past this is a loop or garbage.
MAX_NODES = 256
#: SETUP_E820_EXT entries decoded per node (firmware maps have tens to hundreds).
MAX_E820_EXT_ENTRIES = 8192
#: Bytes of an unknown payload kept for display.
MAX_PREVIEW = 256
#: Bytes of an RNG seed read (kexec passes 32).
MAX_SEED = 4096
#: Apple properties: bytes, devices and properties per device decoded.
MAX_APPLE_BYTES = 1 << 20
MAX_APPLE_DEVICES = 64
MAX_APPLE_PROPS = 256
MAX_DEVPATH_NODES = 64

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
SETUP_UNKNOWN = register(
    "SETUP-DATA-UNKNOWN-TYPE", Severity.WARNING, "A setup_data node has a type no header defines (shown raw)"
)
SETUP_SHORT = register("SETUP-DATA-SHORT", Severity.WARNING, "A setup_data payload is shorter than its structure")
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
SETUP_E820_EXT_LEN = register(
    "SETUP-E820-EXT-LEN", Severity.WARNING, "SETUP_E820_EXT len is not a multiple of 20 (or too many entries)"
)
SETUP_DTB_BAD = register("SETUP-DTB-HEADER", Severity.WARNING, "SETUP_DTB payload is not a valid FDT header")
SETUP_PCI_BAD = register(
    "SETUP-PCI-ROM", Severity.WARNING, "SETUP_PCI option ROM is inconsistent (pcilen or 55 AA signature)"
)
SETUP_EFI_BAD = register(
    "SETUP-EFI-DATA",
    Severity.WARNING,
    "SETUP_EFI data is unusable (tables is 0, or a pointer is not physical)",
    "The decompressor ignores a SETUP_EFI node whose tables field is 0.",
)
SETUP_APPLE_BAD = register(
    "SETUP-APPLE-PROPERTIES", Severity.WARNING, "SETUP_APPLE_PROPERTIES blob is malformed (Linux would reject it)"
)
SETUP_JAILHOUSE_BAD = register(
    "SETUP-JAILHOUSE", Severity.WARNING, "SETUP_JAILHOUSE data has an unsupported version or is too short"
)
SETUP_CC_BAD = register(
    "SETUP-CC-BLOB", Severity.WARNING, "SETUP_CC_BLOB names no readable CC blob with the 'AMDE' magic"
)

_HDR = struct.Struct(SETUP_DATA_STRUCT)
_INDIRECT = struct.Struct("<IIQQ")


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class SetupPayload(Parsed):
    """A decoded payload; subclasses add the typed fields of each SETUP_* type."""

    kind = "setup_payload"

    setup_type: int
    type_name: str
    length: int  # the payload length the node (or setup_indirect) declares

    @property
    def title(self) -> str:
        return f"{self.type_name} payload ({self.length} bytes)"


@dataclass(kw_only=True)
class RawPayload(SetupPayload):
    """An unknown (or undecodable) payload: a bounded preview."""

    kind = "setup_payload_raw"
    preview: str  # hex of the first MAX_PREVIEW bytes


@dataclass(kw_only=True)
class E820ExtPayload(SetupPayload):
    kind = "SETUP_E820_EXT"
    entries: list[E820Entry] = field(default_factory=list)

    def children(self) -> list[Parsed]:
        return list(self.entries)


@dataclass(kw_only=True)
class FdtPayload(SetupPayload):
    kind = "SETUP_DTB"
    magic: int
    totalsize: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    valid: bool


@dataclass(kw_only=True)
class PciRomPayload(SetupPayload):
    kind = "SETUP_PCI"
    vendor: int
    devid: int
    pcilen: int
    segment: int
    bus: int
    device: int
    function: int
    rom_address: int
    rom_signature: int | None  # first two ROM bytes as u16 (0xAA55 expected)

    @property
    def title(self) -> str:
        return (
            f"PCI option ROM {self.vendor:04x}:{self.devid:04x} at "
            f"{self.segment:04x}:{self.bus:02x}:{self.device:02x}.{self.function} ({self.pcilen} bytes)"
        )


@dataclass(kw_only=True)
class EfiSetupPayload(SetupPayload):
    kind = "SETUP_EFI"
    fw_vendor: int
    runtime: int  # "__unused" in the kernel, "runtime" in kexec-tools
    tables: int
    smbios: int
    fw_vendor_text: str | None


@dataclass(kw_only=True)
class AppleDevice:
    offset: int
    length: int
    prop_count: int
    device_path: list[str]
    properties: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "length": self.length,
            "prop_count": self.prop_count,
            "device_path": self.device_path,
            "properties": self.properties,
        }


@dataclass(kw_only=True)
class ApplePropertiesPayload(SetupPayload):
    kind = "SETUP_APPLE_PROPERTIES"
    properties_len: int
    version: int
    dev_count: int
    devices: list[AppleDevice] = field(default_factory=list)


@dataclass(kw_only=True)
class JailhousePayload(SetupPayload):
    kind = "SETUP_JAILHOUSE"
    version: int
    compatible_version: int
    pm_timer_address: int
    num_cpus: int
    pci_mmconfig_base: int
    tsc_khz: int
    apic_khz: int
    standard_ioapic: int
    cpu_ids: list[int]
    flags: int | None  # v2 only


@dataclass(kw_only=True)
class CcBlobPayload(SetupPayload):
    kind = "SETUP_CC_BLOB"
    cc_blob_address: int
    magic_ok: bool | None


@dataclass(kw_only=True)
class ImaPayload(SetupPayload):
    kind = "SETUP_IMA"
    addr: int
    buffer_size: int  # ima_setup_data.size


@dataclass(kw_only=True)
class KhoPayload(SetupPayload):
    kind = "SETUP_KEXEC_KHO"
    fdt_addr: int
    fdt_size: int
    scratch_addr: int
    scratch_size: int


@dataclass(kw_only=True)
class RngSeedPayload(SetupPayload):
    """Secret: ``seed`` (hex) is None and ``raw`` empty unless the dump was opened with show_secrets."""

    kind = "SETUP_RNG_SEED"
    sha256_prefix: str | None
    redacted: bool
    seed: str | None
    all_zero: bool

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical bytes a viewer must hide while redacted (the whole declared seed)."""
        if not self.redacted or self.address is None or self.length == 0:
            return []
        return [(self.address, self.address + self.length)]


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


# -- reading helpers -------------------------------------------------------------
def _read_prefix(mem: PhysicalMemory, pa: int, want: int, structure: str) -> tuple[bytes, tuple[int, int] | None]:
    """Up to ``want`` bytes at ``pa``: all of them, or the readable prefix and the first gap."""
    if want <= 0:
        return b"", None
    if pa < 0 or pa + want > MAX_PHYS_ADDR:
        return b"", (pa, pa + want)
    gap = mem.first_gap(pa, want)
    if gap is None:
        return mem.read(pa, want, structure=structure), None
    n = gap[0] - pa
    return (mem.read(pa, n, structure=structure) if n > 0 else b""), gap


class _Ctx:
    def __init__(self, mem: PhysicalMemory, show_secrets: bool) -> None:
        self.mem = mem
        self.show_secrets = show_secrets


# -- payload decoders ------------------------------------------------------------
def decode_payload(
    mem: PhysicalMemory,
    setup_type: int,
    pa: int,
    length: int,
    *,
    show_secrets: bool = False,
    structure: str = "setup_data payload",
    indirect_depth: int = 0,
) -> SetupPayload:
    """Decode the payload of type ``setup_type`` at ``pa`` (``length`` bytes declared).

    Reads only what the decoder needs, bounded; a short or unreadable payload
    gives a finding, never an exception.
    """
    ctx = _Ctx(mem, show_secrets)
    name = f"{structure} ({setup_type_name(setup_type)})"
    if setup_type == SETUP_INDIRECT:
        return _decode_indirect(ctx, setup_type, pa, length, name, indirect_depth)
    decoder = _DECODERS.get(setup_type)
    if decoder is None:
        p = _raw(ctx, setup_type, pa, length, name)
        if setup_type not in SETUP_TYPES:
            p.findings.append(make(SETUP_UNKNOWN, name, pa, f"type {setup_type:#x}; {length} bytes shown raw"))
        return p
    return decoder(ctx, setup_type, pa, length, name)


def _raw(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> RawPayload:
    data, gap = _read_prefix(ctx.mem, pa, min(length, MAX_PREVIEW), name)
    p = RawPayload(
        **_common(t, pa, length, data, []),
        preview=data.hex(),
    )
    if gap is not None:
        p.findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    return p


def _need(ctx: _Ctx, t: int, pa: int, length: int, need: int, name: str) -> tuple[bytes, list[Finding]]:
    """Read ``min(length, need)`` bytes; findings when the payload is short or unreadable."""
    findings: list[Finding] = []
    want = min(length, need)
    data, gap = _read_prefix(ctx.mem, pa, want, name)
    if gap is not None:
        findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    if length < need:
        findings.append(make(SETUP_SHORT, name, pa, f"len {length} < {need} bytes of {setup_type_name(t)}"))
    return data, findings


def _common(
    t: int,
    pa: int,
    length: int,
    raw: bytes,
    findings: list[Finding],
    schema: Any = None,
    fields: Any = None,
) -> dict[str, Any]:
    """The keyword arguments every :class:`SetupPayload` shares."""
    return dict(
        address=pa,
        size=length,
        raw=raw,
        fields=fields,
        schema=schema,
        findings=findings,
        setup_type=t,
        type_name=setup_type_name(t),
        length=length,
    )


def _pad_to(data: bytes, n: int) -> bytes:
    return data + bytes(n - len(data)) if len(data) < n else data[:n]


def _short_payload(t: int, pa: int, length: int, data: bytes, findings: list[Finding]) -> RawPayload:
    return RawPayload(
        **_common(t, pa, length, data, findings),
        preview=data[:MAX_PREVIEW].hex(),
    )


def _e820_ext(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    findings: list[Finding] = []
    count = length // BOOT_E820_ENTRY_SIZE
    if length % BOOT_E820_ENTRY_SIZE:
        findings.append(
            make(SETUP_E820_EXT_LEN, name, pa, f"len {length} is not a multiple of 20; {length % 20} bytes ignored")
        )
    if count > MAX_E820_EXT_ENTRIES:
        findings.append(
            make(SETUP_E820_EXT_LEN, name, pa, f"{count} entries; decoding the first {MAX_E820_EXT_ENTRIES}")
        )
        count = MAX_E820_EXT_ENTRIES
    data, gap = _read_prefix(ctx.mem, pa, count * BOOT_E820_ENTRY_SIZE, name)
    if gap is not None:
        findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    entries = decode_entries(data, pa, count, f"SETUP_E820_EXT@{pa:#x}")
    return E820ExtPayload(
        **_common(t, pa, length, data, findings),
        entries=entries,
    )


def _dtb(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, FDT_HEADER_SIZE, name)
    if len(data) < FDT_HEADER_SIZE:
        return _short_payload(t, pa, length, data, findings)
    f = FDT_HEADER.parse(data)
    problems = []
    if f.magic != FDT_MAGIC:
        problems.append(f"magic {f.magic:#010x}, expected 0xd00dfeed")
    if f.totalsize > length:
        problems.append(f"totalsize {f.totalsize} exceeds len {length}")
    if f.last_comp_version > f.version:
        problems.append(f"last_comp_version {f.last_comp_version} > version {f.version}")
    for p in problems:
        findings.append(make(SETUP_DTB_BAD, name, pa, p))
    return FdtPayload(
        **_common(t, pa, length, data, findings, FDT_HEADER, f),
        magic=f.magic,
        totalsize=f.totalsize,
        version=f.version,
        last_comp_version=f.last_comp_version,
        boot_cpuid_phys=f.boot_cpuid_phys,
        valid=not problems,
    )


def _pci(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    need = PCI_SETUP_ROM_DATA.sizeof()
    data, findings = _need(ctx, t, pa, length, need, name)
    if len(data) < need:
        return _short_payload(t, pa, length, data, findings)
    f = PCI_SETUP_ROM_DATA.parse(data)
    rom = pa + need
    sig: int | None = None
    if f.pcilen > length - need:
        findings.append(
            make(SETUP_PCI_BAD, name, pa, f"pcilen {f.pcilen} exceeds the {length - need} bytes after the header")
        )
    if f.pcilen >= 2 and length >= need + 2:
        head, _gap = _read_prefix(ctx.mem, rom, 2, name)
        if len(head) == 2:
            sig = int.from_bytes(head, "little")
            if sig != 0xAA55:
                findings.append(make(SETUP_PCI_BAD, name, rom, f"ROM starts with {head.hex()}, not 55aa"))
    return PciRomPayload(
        **_common(t, pa, length, data, findings, PCI_SETUP_ROM_DATA, f),
        vendor=f.vendor,
        devid=f.devid,
        pcilen=f.pcilen,
        segment=f.segment,
        bus=f.bus,
        device=f.device,
        function=f.function,
        rom_address=rom,
        rom_signature=sig,
    )


def _efi(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, EFI_SETUP_DATA_SIZE, name)
    if len(data) < 0x20:
        return _short_payload(t, pa, length, data, findings)
    f = EFI_SETUP_DATA.parse(_pad_to(data, EFI_SETUP_DATA_SIZE))
    if f.tables == 0:
        findings.append(make(SETUP_EFI_BAD, name, pa, "tables is 0: the decompressor ignores this node"))
    for fld in ("fw_vendor", "tables", "smbios"):
        v = f[fld]
        if v >= MAX_PHYS_ADDR:
            findings.append(make(SETUP_EFI_BAD, name, pa, f"{fld} {v:#x} is not a physical address"))
    vendor: str | None = None
    if 0 < f.fw_vendor < MAX_PHYS_ADDR:
        from efitables.efi.systab import read_ucs2

        try:
            vendor, _term = read_ucs2(ctx.mem, f.fw_vendor)
        except MemoryReadError as e:
            findings.append(make(READ_ERROR, f"{name} fw_vendor", f.fw_vendor, e.reason))
    return EfiSetupPayload(
        **_common(t, pa, length, data, findings, EFI_SETUP_DATA, f),
        fw_vendor=f.fw_vendor,
        runtime=f["__unused"],
        tables=f.tables,
        smbios=f.smbios,
        fw_vendor_text=vendor,
    )


def _apple(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, min(length, MAX_APPLE_BYTES), name)
    if length < 12 or len(data) < 12:
        if length < 12:
            findings.append(make(SETUP_SHORT, name, pa, f"len {length} < 12-byte properties header"))
        return _short_payload(t, pa, length, data, findings)
    plen, version, dev_count = struct.unpack_from("<III", data)
    if version != 1:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"version {version}, Linux accepts only 1"))
    if plen != length:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"properties len {plen} != setup_data len {length}"))
    devices: list[AppleDevice] = []
    end = min(plen, len(data))
    off = 12
    while off + 8 < end and len(devices) < MAX_APPLE_DEVICES:
        dlen, nprops = struct.unpack_from("<II", data, off)
        if dlen <= 8 or off + dlen > end:
            findings.append(make(SETUP_APPLE_BAD, name, pa + off, f"device header len {dlen} at +{off:#x} is invalid"))
            break
        dev_end = off + dlen
        ptr = off + 8
        path: list[str] = []
        while ptr + 4 <= dev_end and len(path) < MAX_DEVPATH_NODES:
            ntype, nsub, nlen = struct.unpack_from("<BBH", data, ptr)
            if nlen < 4 or ptr + nlen > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"device path node length {nlen} is invalid"))
                ptr = dev_end
                break
            ptr += nlen
            if ntype == 0x7F and nsub == 0xFF:
                break
            path.append(f"{ntype:02x}/{nsub:02x}")
        props: list[dict[str, Any]] = []
        for _ in range(min(nprops, MAX_APPLE_PROPS)):
            if ptr + 4 > dev_end:
                break
            klen = struct.unpack_from("<I", data, ptr)[0]
            if klen < 6 or ptr + klen + 4 > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"property name len {klen} is invalid"))
                break
            key = data[ptr + 4 : ptr + klen].decode("utf-16-le", "replace").rstrip("\0")
            vlen = struct.unpack_from("<I", data, ptr + klen)[0]
            if vlen < 4 or ptr + klen + vlen > dev_end:
                findings.append(make(SETUP_APPLE_BAD, name, pa + ptr, f"property value len {vlen} is invalid"))
                break
            props.append({"name": key, "value_length": vlen - 4})
            ptr += klen + vlen
        if len(props) != nprops and nprops <= MAX_APPLE_PROPS:
            findings.append(
                make(SETUP_APPLE_BAD, name, pa + off, f"device at +{off:#x}: {len(props)} of {nprops} properties read")
            )
        devices.append(AppleDevice(offset=off, length=dlen, prop_count=nprops, device_path=path, properties=props))
        off = dev_end
    if len(devices) != dev_count:
        findings.append(make(SETUP_APPLE_BAD, name, pa, f"dev_count {dev_count}, {len(devices)} devices decoded"))
    return ApplePropertiesPayload(
        **_common(
            t, pa, length, data[:12], findings, APPLE_PROPERTIES_HEADER, APPLE_PROPERTIES_HEADER.parse(data[:12])
        ),
        properties_len=plen,
        version=version,
        dev_count=dev_count,
        devices=devices,
    )


def _jailhouse(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    v1size = JAILHOUSE_SETUP_DATA_V1.sizeof()
    findings: list[Finding] = []
    data, gap = _read_prefix(ctx.mem, pa, min(length, JAILHOUSE_SETUP_DATA.sizeof()), name)
    if gap is not None:
        findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    if length < v1size:
        findings.append(make(SETUP_JAILHOUSE_BAD, name, pa, f"len {length} < {v1size} (v1 layout)"))
    if len(data) < v1size:
        return _short_payload(t, pa, length, data, findings)
    v2 = len(data) >= JAILHOUSE_SETUP_DATA.sizeof()
    schema = JAILHOUSE_SETUP_DATA if v2 else JAILHOUSE_SETUP_DATA_V1
    f = schema.parse(data[: schema.sizeof()])
    if f.hdr.version < JAILHOUSE_SETUP_REQUIRED_VERSION:
        findings.append(make(SETUP_JAILHOUSE_BAD, name, pa, f"version {f.hdr.version} < 1"))
    ncpu = min(f.v1.num_cpus, 255)
    return JailhousePayload(
        **_common(t, pa, length, data, findings, schema, f),
        version=f.hdr.version,
        compatible_version=f.hdr.compatible_version,
        pm_timer_address=f.v1.pm_timer_address,
        num_cpus=f.v1.num_cpus,
        pci_mmconfig_base=f.v1.pci_mmconfig_base,
        tsc_khz=f.v1.tsc_khz,
        apic_khz=f.v1.apic_khz,
        standard_ioapic=f.v1.standard_ioapic,
        cpu_ids=list(f.v1.cpu_ids[:ncpu]),
        flags=f.v2.flags if v2 else None,
    )


def _cc_blob(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, 4, name)
    if len(data) < 4:
        return _short_payload(t, pa, length, data, findings)
    f = CC_SETUP_DATA.parse(data)
    ok: bool | None = None
    addr = f.cc_blob_address
    if addr == 0:
        findings.append(make(SETUP_CC_BAD, name, pa, "cc_blob_address is 0"))
    else:
        try:
            ok = ctx.mem.read_u32(addr, structure="cc_blob_sev_info") == CC_BLOB_SEV_HDR_MAGIC
            if not ok:
                findings.append(make(SETUP_CC_BAD, name, addr, "no 'AMDE' magic at cc_blob_address"))
        except MemoryReadError as e:
            findings.append(make(SETUP_CC_BAD, name, addr, e.reason))
    return CcBlobPayload(
        **_common(t, pa, length, data, findings, CC_SETUP_DATA, f),
        cc_blob_address=addr,
        magic_ok=ok,
    )


def _ima(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, 16, name)
    if len(data) < 16:
        return _short_payload(t, pa, length, data, findings)
    f = IMA_SETUP_DATA.parse(data)
    return ImaPayload(
        **_common(t, pa, length, data, findings, IMA_SETUP_DATA, f),
        addr=f.addr,
        buffer_size=f.size,
    )


def _kho(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = _need(ctx, t, pa, length, 32, name)
    if len(data) < 32:
        return _short_payload(t, pa, length, data, findings)
    f = KHO_DATA.parse(data)
    return KhoPayload(
        **_common(t, pa, length, data, findings, KHO_DATA, f),
        fdt_addr=f.fdt_addr,
        fdt_size=f.fdt_size,
        scratch_addr=f.scratch_addr,
        scratch_size=f.scratch_size,
    )


def _rng_seed(ctx: _Ctx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    findings: list[Finding] = []
    data, gap = _read_prefix(ctx.mem, pa, min(length, MAX_SEED), name)
    if gap is not None:
        findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    digest = hashlib.sha256(data).hexdigest()[:16] if data else None
    secret = ctx.show_secrets
    return RngSeedPayload(
        **_common(t, pa, length, data if secret else b"", findings),
        sha256_prefix=digest,
        redacted=not secret,
        seed=data.hex() if secret else None,
        all_zero=bool(data) and not any(data),
    )


_DECODERS = {
    SETUP_E820_EXT: _e820_ext,
    SETUP_DTB: _dtb,
    SETUP_PCI: _pci,
    SETUP_EFI: _efi,
    SETUP_APPLE_PROPERTIES: _apple,
    SETUP_JAILHOUSE: _jailhouse,
    SETUP_CC_BLOB: _cc_blob,
    SETUP_IMA: _ima,
    SETUP_RNG_SEED: _rng_seed,
    SETUP_KEXEC_KHO: _kho,
}


def _decode_indirect(ctx: _Ctx, t: int, pa: int, length: int, name: str, depth: int) -> SetupPayload:
    findings: list[Finding] = []
    if length != SETUP_INDIRECT_SIZE:
        findings.append(make(SETUP_INDIRECT_LEN, name, pa, f"len {length}, expected {SETUP_INDIRECT_SIZE}"))
    data, gap = _read_prefix(ctx.mem, pa, min(max(length, 0), SETUP_INDIRECT_SIZE), name)
    if gap is not None:
        findings.append(make(READ_ERROR, name, pa, f"{gap[0]:#x}-{gap[1]:#x} is not in the dump"))
    if len(data) < SETUP_INDIRECT_SIZE:
        return _short_payload(t, pa, length, data, findings)
    itype, reserved, ilen, iaddr = _INDIRECT.unpack(data)
    p = IndirectPayload(
        **_common(t, pa, length, data, findings, STRUCT_SETUP_INDIRECT, STRUCT_SETUP_INDIRECT.parse(data)),
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
        node.payload = decode_payload(mem, typ, data_pa, ln, show_secrets=show_secrets, structure=node_name)
        lst.nodes.append(node)
        came_from = f"node [{i}].next"
        pa = nxt
        i += 1
    lst.size = sum(n.size for n in lst.nodes)
    return lst
