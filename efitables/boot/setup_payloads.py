"""Decoders of the memory-map and device SETUP_* payloads, and the registry of every payload decoder.

* SETUP_E820_EXT: ``struct boot_e820_entry`` records (20 bytes, packed;
  torvalds/linux arch/x86/include/uapi/asm/bootparam.h@v6.12.117) beyond the
  zero page's 128, as the EFI stub writes them (``setup_e820`` in
  drivers/firmware/efi/libstub/x86-stub.c@v6.12.117) and
  ``e820__memory_setup_extended`` in arch/x86/kernel/e820.c@v6.12.117 reads
  them; ``len`` must be a multiple of 20.
* SETUP_DTB: a flattened device tree; its header (``struct fdt_header``,
  big-endian, magic 0xd00dfeed; torvalds/linux scripts/dtc/libfdt/fdt.h@v6.12.117)
  must be valid and ``totalsize`` fit the node.
* SETUP_PCI: ``struct pci_setup_rom`` (torvalds/linux
  arch/x86/include/asm/setup_data.h@v6.12.117), written by ``setup_efi_pci`` in
  drivers/firmware/efi/libstub/x86-stub.c@v6.12.117; ``pcilen`` must fit the
  node and the ROM image start with the expansion-ROM signature 55 AA.

The kexec and direct-boot types are in :mod:`efitables.boot.setup_payloads_kexec`,
the platform-specific ones in :mod:`efitables.boot.setup_payloads_vendor`.
:data:`DECODERS` maps every plain SETUP_* type efitables decodes to its
decoder; :func:`decode_plain` applies it and keeps any other type raw.
SETUP_INDIRECT is followed by the walk (:mod:`efitables.boot.setup_data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from efitables.boot.e820 import E820Entry, cap_entry_findings, decode_entries
from efitables.boot.setup_payload_base import (
    MAX_PREVIEW,
    DecodeCtx,
    Decoder,
    RawPayload,
    SetupPayload,
    common,
    gap_finding,
    raw_payload,
    read_need,
    read_prefix,
    short_payload,
)
from efitables.boot.setup_payloads_kexec import (
    MAX_SEED,
    CcBlobPayload,
    EfiSetupPayload,
    ImaPayload,
    KhoPayload,
    RngSeedPayload,
    decode_cc_blob,
    decode_efi,
    decode_ima,
    decode_kho,
    decode_rng_seed,
)
from efitables.boot.setup_payloads_vendor import decode_apple_properties, decode_jailhouse
from efitables.caps import count_cap
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed, Rows, TableView
from efitables.schemas.boot_params import BOOT_E820_ENTRY_SIZE
from efitables.schemas.setup_data import (
    FDT_HEADER,
    FDT_HEADER_SIZE,
    FDT_MAGIC,
    PCI_SETUP_ROM_DATA,
    SETUP_APPLE_PROPERTIES,
    SETUP_CC_BLOB,
    SETUP_DTB,
    SETUP_E820_EXT,
    SETUP_EFI,
    SETUP_IMA,
    SETUP_JAILHOUSE,
    SETUP_KEXEC_KHO,
    SETUP_PCI,
    SETUP_RNG_SEED,
    SETUP_TYPES,
    setup_type_name,
)
from efitables.text import hexa

#: SETUP_E820_EXT entries decoded, in all the nodes of one list together. The kernel appends them to
#: its own table, which holds E820_MAX_ENTRIES = 128 + 3 * MAX_NUMNODES entries in all
#: (arch/x86/include/asm/e820/types.h@v6.12.117): 320 with x86-64's default NODES_SHIFT 6, 3200 with
#: the largest (10); ``__e820__range_add`` in arch/x86/kernel/e820.c@v6.12.117 drops what does not fit.
#: The EFI stub writes one entry per run of EFI descriptors of one E820 type: real tables have tens.
MAX_E820_EXT_ENTRIES = 1024

#: The DecodeCtx budget key of :data:`MAX_E820_EXT_ENTRIES`.
SETUP_E820_EXT_BUDGET = "SETUP_E820_EXT entries"

SETUP_UNKNOWN = register(
    "SETUP-DATA-UNKNOWN-TYPE", Severity.WARNING, "A setup_data node has a type no header defines (shown raw)"
)
SETUP_E820_EXT_LEN = register(
    "SETUP-E820-EXT-LEN", Severity.WARNING, "SETUP_E820_EXT len is not a multiple of 20 (or too many entries)"
)
SETUP_DTB_BAD = register("SETUP-DTB-HEADER", Severity.WARNING, "SETUP_DTB payload is not a valid FDT header")
SETUP_PCI_BAD = register(
    "SETUP-PCI-ROM", Severity.WARNING, "SETUP_PCI option ROM is inconsistent (pcilen or 55 AA signature)"
)


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class E820ExtPayload(SetupPayload):
    kind = "SETUP_E820_EXT"
    entries: list[E820Entry] = field(default_factory=list)

    def children(self) -> list[Parsed]:
        return list(self.entries)

    def summary(self) -> str:
        return f"{len(self.entries)} E820 entries"

    def payload_rows(self) -> Rows:
        return [("entries", str(len(self.entries)))]

    def table_views(self) -> list[TableView]:
        # no "#" column: e820_of numbers these entries again once it has merged the whole table
        rows: list[tuple[str, ...]] = [(f"{e.addr:#x}-{e.end:#x}", f"{e.length:#x}", e.type_name) for e in self.entries]
        return [TableView("E820 entries", ("range", "size", "type"), rows)] if rows else []


@dataclass(kw_only=True)
class FdtPayload(SetupPayload):
    kind = "SETUP_DTB"
    magic: int
    totalsize: int
    version: int
    last_comp_version: int
    boot_cpuid_phys: int
    valid: bool

    def summary(self) -> str:
        ok = "" if self.valid else " (invalid)"
        return (
            f"FDT magic {self.magic:#010x}, totalsize {self.totalsize}, "
            f"version {self.version}/{self.last_comp_version}{ok}"
        )

    def payload_rows(self) -> Rows:
        return [
            ("magic", f"{self.magic:#010x}"),
            ("totalsize", str(self.totalsize)),
            ("version", f"{self.version} (last compatible {self.last_comp_version})"),
            ("boot_cpuid_phys", str(self.boot_cpuid_phys)),
            ("valid", str(self.valid)),
        ]


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
    def _bdf(self) -> str:
        return f"{self.segment:04x}:{self.bus:02x}:{self.device:02x}.{self.function}"

    @property
    def _signature(self) -> str:
        return "55aa" if self.rom_signature == 0xAA55 else hexa(self.rom_signature)

    @property
    def title(self) -> str:
        return f"PCI option ROM {self.vendor:04x}:{self.devid:04x} at {self._bdf} ({self.pcilen} bytes)"

    def summary(self) -> str:
        return (
            f"PCI {self.vendor:04x}:{self.devid:04x} at {self._bdf}, "
            f"ROM {self.pcilen} bytes at {self.rom_address:#x} (signature {self._signature})"
        )

    def payload_rows(self) -> Rows:
        return [
            ("device", f"{self.vendor:04x}:{self.devid:04x} at {self._bdf}"),
            ("ROM", f"{self.pcilen} bytes at {self.rom_address:#x}"),
            ("ROM signature", self._signature),
        ]


# -- decoders ----------------------------------------------------------------------
def _e820_ext(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    findings: list[Finding] = []
    if length % BOOT_E820_ENTRY_SIZE:
        findings.append(
            make(SETUP_E820_EXT_LEN, name, pa, f"len {length} is not a multiple of 20; {length % 20} bytes ignored")
        )
    left = ctx.budget.get(SETUP_E820_EXT_BUDGET, MAX_E820_EXT_ENTRIES)
    if left == 0:  # an earlier node of the list used the cap up; its one finding says so
        count = 0
    else:
        what = f"len {length:#x} (one cap of {MAX_E820_EXT_ENTRIES} entries for all the list's SETUP_E820_EXT nodes)"
        count, too_many = count_cap(length // BOOT_E820_ENTRY_SIZE, left, SETUP_E820_EXT_LEN, name, pa, what)
        if too_many is not None:
            findings.append(too_many)
    ctx.budget[SETUP_E820_EXT_BUDGET] = left - count
    data, gap = read_prefix(ctx.mem, pa, count * BOOT_E820_ENTRY_SIZE, name)
    if gap is not None:
        findings.append(gap_finding(name, pa, gap))
    entries = decode_entries(data, pa, count, f"SETUP_E820_EXT@{pa:#x}")
    findings.extend(cap_entry_findings(entries, name, pa))
    return E820ExtPayload(
        **common(t, pa, length, data, findings),
        entries=entries,
    )


def _dtb(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, FDT_HEADER_SIZE, name)
    if len(data) < FDT_HEADER_SIZE:
        return short_payload(t, pa, length, data, findings)
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
        **common(t, pa, length, data, findings, FDT_HEADER, f),
        magic=f.magic,
        totalsize=f.totalsize,
        version=f.version,
        last_comp_version=f.last_comp_version,
        boot_cpuid_phys=f.boot_cpuid_phys,
        valid=not problems,
    )


def _pci(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    need = PCI_SETUP_ROM_DATA.sizeof()
    data, findings = read_need(ctx, t, pa, length, need, name)
    if len(data) < need:
        return short_payload(t, pa, length, data, findings)
    f = PCI_SETUP_ROM_DATA.parse(data)
    rom = pa + need
    sig: int | None = None
    if f.pcilen > length - need:
        findings.append(
            make(SETUP_PCI_BAD, name, pa, f"pcilen {f.pcilen} exceeds the {length - need} bytes after the header")
        )
    if f.pcilen >= 2 and length >= need + 2:
        head, _gap = read_prefix(ctx.mem, rom, 2, name)
        if len(head) == 2:
            sig = int.from_bytes(head, "little")
            if sig != 0xAA55:
                findings.append(make(SETUP_PCI_BAD, name, rom, f"ROM starts with {head.hex()}, not 55aa"))
    return PciRomPayload(
        **common(t, pa, length, data, findings, PCI_SETUP_ROM_DATA, f),
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


# -- the registry --------------------------------------------------------------------
#: Every plain SETUP_* type efitables decodes; others are kept raw (:func:`decode_plain`).
DECODERS: dict[int, Decoder] = {
    SETUP_E820_EXT: _e820_ext,
    SETUP_DTB: _dtb,
    SETUP_PCI: _pci,
    SETUP_EFI: decode_efi,
    SETUP_APPLE_PROPERTIES: decode_apple_properties,
    SETUP_JAILHOUSE: decode_jailhouse,
    SETUP_CC_BLOB: decode_cc_blob,
    SETUP_IMA: decode_ima,
    SETUP_RNG_SEED: decode_rng_seed,
    SETUP_KEXEC_KHO: decode_kho,
}


def decode_plain(
    mem: PhysicalMemory,
    setup_type: int,
    pa: int,
    length: int,
    *,
    show_secrets: bool,
    name: str,
    budget: dict[str, int] | None = None,
) -> SetupPayload:
    """Decode a payload of a plain (not SETUP_INDIRECT) type; a type no decoder handles is kept raw.

    A type no kernel header defines also gives SETUP-DATA-UNKNOWN-TYPE. ``budget`` is the walk's
    shared budgets (:class:`~efitables.boot.setup_payload_base.DecodeCtx`).
    """
    ctx = DecodeCtx(mem, show_secrets, budget)
    decoder = DECODERS.get(setup_type)
    if decoder is None:
        p = raw_payload(ctx, setup_type, pa, length, name)
        if setup_type not in SETUP_TYPES:
            p.findings.append(make(SETUP_UNKNOWN, name, pa, f"type {setup_type:#x}; {length} bytes shown raw"))
        return p
    return decoder(ctx, setup_type, pa, length, name)


__all__ = [
    "DECODERS",
    "MAX_E820_EXT_ENTRIES",
    "MAX_PREVIEW",
    "MAX_SEED",
    "CcBlobPayload",
    "E820ExtPayload",
    "EfiSetupPayload",
    "FdtPayload",
    "ImaPayload",
    "KhoPayload",
    "PciRomPayload",
    "RawPayload",
    "RngSeedPayload",
    "SetupPayload",
    "decode_plain",
    "setup_type_name",
]
