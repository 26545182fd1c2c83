"""Where Linux finds the SEV-SNP CC blob, what it holds, and the pages it names.

Routes (shared/spec/sev-snp.md 2): ``boot_params.cc_blob_address`` (u32 at
0x13C), the first ``SETUP_CC_BLOB`` setup_data node (u32 at node + 0x10), and
the EFI configuration table entry ``EFI_CC_BLOB_GUID``. Precedence differs by
stage and both are reported:

* decompressor (arch/x86/boot/compressed/sev.c): EFI table, else the first
  SETUP_CC_BLOB node (it clears ``boot_params.cc_blob_address`` first);
* kernel proper (arch/x86/coco/sev/core.c ``snp_init``): ``boot_params``, else
  the first SETUP_CC_BLOB node; never EFI.

A null pointer counts as absent (Linux's ``if (cc_info)``), except that a first
SETUP_CC_BLOB node holding 0 ends that route. The blob (40 bytes) is checked
(magic ``AMDE``, version 1, reserved zero), then ``secrets_phys`` (one 4 KiB
page, ``secrets_len == 4096``) and ``cpuid_phys`` (``cpuid_len >= 4096``) are
followed: alignment, readability, overlap with each other and with the blob,
and the memory type the EFI memory map and E820 give them (the pages must be
kept from the kernel, never free RAM).

:func:`analyze_cc_blob` is a pure function of memory and route values so that
it can be tested with :class:`~efitables.memory.base.BytesMemory` fixtures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.regions import Region, RegionMap
from efitables.schemas.snp import (
    BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET,
    CC_BLOB_SEV_HDR_MAGIC,
    CC_BLOB_SEV_INFO,
    CC_BLOB_SEV_INFO_SIZE,
    CC_BLOB_SEV_INFO_STRUCT,
    CC_BLOB_SEV_INFO_VERSION,
    CC_SETUP_DATA_BLOB_OFFSET,
    PAGE_SIZE,
    SNP_CPUID_TABLE_SIZE,
    SNP_SECRETS_PAGE_SIZE,
)
from efitables.snp.cpuid import SnpCpuidTable, parse_cpuid_table
from efitables.snp.secrets import SnpSecretsPage, parse_secrets_page

BLOB_MAGIC = register(
    "SNP-BLOB-MAGIC",
    Severity.ERROR,
    "CC blob magic is not AMDE (0x45444d41)",
    "Linux terminates the guest on a wrong magic. efitables does not follow the pointers of such a blob.",
)
BLOB_VERSION = register(
    "SNP-BLOB-VERSION", Severity.WARNING, "CC blob version is not 1", "OVMF writes 1; Linux does not check it."
)
BLOB_RESERVED = register("SNP-BLOB-RESERVED", Severity.INFO, "CC blob reserved fields are not zero")
BLOB_ABOVE_4G = register(
    "SNP-BLOB-ABOVE-4G",
    Severity.WARNING,
    "CC blob lies above 4 GiB",
    "The decompressor hands the blob to the kernel through the u32 boot_params.cc_blob_address, "
    "which truncates such an address.",
)
BLOB_OVERLAP = register(
    "SNP-BLOB-OVERLAP",
    Severity.ERROR,
    "CC blob points to itself, or its secrets and CPUID pages overlap",
)
SECRETS_NULL = register(
    "SNP-SECRETS-NULL",
    Severity.ERROR,
    "CC blob has no secrets page address",
    "Mainline snp_init treats the guest as not SNP, v6.12 cannot find the secrets page.",
)
SECRETS_LEN = register(
    "SNP-SECRETS-LEN",
    Severity.ERROR,
    "CC blob secrets_len is not 4096",
    "Linux (get_secrets_page, svsm_setup_ca, mainline snp_init) rejects any other length.",
)
SECRETS_ALIGN = register("SNP-SECRETS-ALIGN", Severity.ERROR, "SNP secrets page address is not page-aligned")
CPUID_NULL = register(
    "SNP-CPUID-NULL", Severity.ERROR, "CC blob has no CPUID table address", "Linux terminates the guest."
)
CPUID_LEN = register(
    "SNP-CPUID-LEN", Severity.ERROR, "CC blob cpuid_len is below 4096", "Linux terminates the guest (GHCB_TERM_CPUID)."
)
CPUID_LEN_LARGE = register(
    "SNP-CPUID-LEN-LARGE",
    Severity.INFO,
    "CC blob cpuid_len is above 4096",
    "Accepted by Linux; the table itself is 0xc10 bytes inside one page.",
)
CPUID_ALIGN = register("SNP-CPUID-ALIGN", Severity.ERROR, "SNP CPUID table address is not page-aligned")
FREE_RAM = register(
    "SNP-FREE-RAM",
    Severity.WARNING,
    "An SNP page or the CC blob lies in memory the kernel may reuse",
    "The secrets and CPUID pages (and the blob) must be in memory the EFI memory map or E820 keeps from "
    "the kernel (OVMF reports the pages as EfiReservedMemoryType and the blob as EfiACPIReclaimMemory).",
)
UNMAPPED = register(
    "SNP-UNMAPPED",
    Severity.INFO,
    "An SNP page or the CC blob is in no region of the memory maps",
)
ROUTES_DISAGREE = register(
    "SNP-ROUTES-DISAGREE",
    Severity.WARNING,
    "The routes to the CC blob name different addresses",
    "boot_params.cc_blob_address, SETUP_CC_BLOB and the EFI configuration table should name the same blob.",
)
STAGES_DIFFER = register(
    "SNP-STAGES-DIFFER",
    Severity.WARNING,
    "The decompressor and the kernel proper would use different CC blobs",
)
ROUTE_NULL = register(
    "SNP-ROUTE-NULL",
    Severity.WARNING,
    "A CC blob route carries a null address",
    "An EFI_CC_BLOB_GUID entry with a null VendorTable is skipped; a first SETUP_CC_BLOB node holding 0 "
    "ends the setup_data route.",
)
KERNEL_NO_BLOB = register(
    "SNP-KERNEL-NO-BLOB",
    Severity.INFO,
    "The decompressor would find a CC blob but boot_params.cc_blob_address is 0",
    "The decompressor writes the blob address into boot_params for the kernel proper, which stores it "
    "back after snp_init. A zero in the kernel's boot_params means the kernel did not run as an SNP guest, "
    "or the zero page found is another copy (the loader's, a kexec'd kernel's).",
)
CBIT_MISMATCH = register(
    "SNP-CBIT-MISMATCH",
    Severity.WARNING,
    "VMCOREINFO sme_mask does not match the C-bit of the SNP CPUID table",
    "The kernel exports sme_me_mask (1 << C-bit) as NUMBER(sme_mask); leaf 0x8000001F of the CPUID table "
    "gives the C-bit the firmware validated.",
)
SETUP_DUPLICATE = register(
    "SNP-SETUP-DUPLICATE",
    Severity.INFO,
    "More than one SETUP_CC_BLOB setup_data node",
    "Linux uses the first node of the list only.",
)

ROUTE_BOOT_PARAMS = "boot_params"
ROUTE_SETUP_DATA = "setup_data"
ROUTE_EFI = "efi_config_table"
ROUTE_LABELS = {
    ROUTE_BOOT_PARAMS: "boot_params.cc_blob_address",
    ROUTE_SETUP_DATA: "setup_data SETUP_CC_BLOB",
    ROUTE_EFI: "EFI configuration table EFI_CC_BLOB_GUID",
}
#: The order each stage tries the routes in (sev-snp.md 2.1, 2.2).
PRECEDENCE = {
    "decompressor": (ROUTE_EFI, ROUTE_SETUP_DATA),
    "kernel": (ROUTE_BOOT_PARAMS, ROUTE_SETUP_DATA),
}

#: More SETUP_CC_BLOB nodes than this are not examined (Linux reads the first).
MAX_SETUP_NODES = 16

# -- results -------------------------------------------------------------------


@dataclass
class CcBlobRoute:
    """One carrier of the CC blob address."""

    route: str  # ROUTE_BOOT_PARAMS, ROUTE_SETUP_DATA, ROUTE_EFI
    blob_address: int
    carrier_address: int | None = None  # where the pointer itself lives
    index: int = 0  # n-th SETUP_CC_BLOB node
    #: False for SETUP_CC_BLOB nodes after the first (Linux never reads them).
    effective: bool = True

    @property
    def label(self) -> str:
        base = ROUTE_LABELS[self.route]
        return f"{base} [{self.index}]" if self.route == ROUTE_SETUP_DATA and self.index else base

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "label": self.label,
            "blob_address": self.blob_address,
            "carrier_address": self.carrier_address,
            "index": self.index,
            "effective": self.effective,
        }


@dataclass
class StageChoice:
    """The route a boot stage would take and the blob address it would get (None: no blob)."""

    stage: str  # "decompressor" or "kernel"
    route: str | None
    blob_address: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "route": self.route, "blob_address": self.blob_address}


@dataclass(kw_only=True)
class CcBlob(Parsed):
    """``struct cc_blob_sev_info`` at one address, with the pages it names."""

    kind = "cc_blob_sev_info"

    routes: list[str]
    readable: bool
    magic: int | None = None
    version: int | None = None
    secrets_phys: int | None = None
    secrets_len: int | None = None
    cpuid_phys: int | None = None
    cpuid_len: int | None = None
    blob_regions: list[Region] = field(default_factory=list)
    secrets_regions: list[Region] = field(default_factory=list)
    cpuid_regions: list[Region] = field(default_factory=list)
    secrets_page: SnpSecretsPage | None = field(default=None, repr=False)
    cpuid_table: SnpCpuidTable | None = field(default=None, repr=False)

    @property
    def magic_ok(self) -> bool:
        return self.magic == CC_BLOB_SEV_HDR_MAGIC

    @property
    def title(self) -> str:
        if not self.readable:
            return f"CC blob @ {self.address:#x} (unreadable)"
        return f"CC blob @ {self.address:#x} (version {self.version})"

    def children(self) -> list[Parsed]:
        return [p for p in (self.secrets_page, self.cpuid_table) if p is not None]

    def to_dict(self, raw: bool = False) -> dict:
        d = super().to_dict(raw)
        d["magic_ok"] = self.magic_ok
        d["secrets_page"] = self.secrets_page.to_dict(raw) if self.secrets_page else None
        d["cpuid_table"] = self.cpuid_table.to_dict(raw) if self.cpuid_table else None
        return d


@dataclass(kw_only=True)
class CcBlobReport(Parsed):
    """Every route to the CC blob, which one each boot stage would use, and the blob(s) found.

    ``present`` is False for a dump that is not an SNP guest (no route names a
    blob); such a report has no findings.
    """

    kind = "snp_cc_blob_report"

    routes: list[CcBlobRoute] = field(default_factory=list)
    decompressor: StageChoice | None = None
    kernel: StageChoice | None = None
    #: True when every non-null route names the same address (also when only one does).
    routes_agree: bool = True
    blobs: list[CcBlob] = field(default_factory=list, repr=False)
    show_secrets: bool = False

    @property
    def present(self) -> bool:
        return any(r.blob_address for r in self.routes)

    @property
    def blob(self) -> CcBlob | None:
        """The blob the running kernel uses (kernel choice, else the decompressor's, else the first)."""
        for choice in (self.kernel, self.decompressor):
            if choice is not None and choice.blob_address:
                b = self.blob_at(choice.blob_address)
                if b is not None:
                    return b
        return self.blobs[0] if self.blobs else None

    @property
    def readable(self) -> bool:
        """Whether the blob the kernel uses could be read (False without one)."""
        b = self.blob
        return b is not None and b.readable

    def blob_at(self, pa: int) -> CcBlob | None:
        return next((b for b in self.blobs if b.address == pa), None)

    @property
    def secrets_page(self) -> SnpSecretsPage | None:
        b = self.blob
        return b.secrets_page if b is not None else None

    @property
    def cpuid_table(self) -> SnpCpuidTable | None:
        b = self.blob
        return b.cpuid_table if b is not None else None

    @property
    def title(self) -> str:
        if not self.present:
            return "no CC blob"
        b = self.blob
        return f"CC blob @ {b.address:#x}" if b is not None else "CC blob"

    def children(self) -> list[Parsed]:
        return list(self.blobs)

    def to_dict(self, raw: bool = False) -> dict:
        return {
            "kind": self.kind,
            "present": self.present,
            "routes": [r.to_dict() for r in self.routes],
            "decompressor": self.decompressor.to_dict() if self.decompressor else None,
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "routes_agree": self.routes_agree,
            "blob_address": self.blob.address if self.blob is not None else None,
            "blobs": [b.to_dict(raw) for b in self.blobs],
            "secrets_redacted": not self.show_secrets,
            "findings": [f.to_dict() for f in self.findings],
        }


# -- analysis ------------------------------------------------------------------


def cc_setup_data_blob_address(mem: PhysicalMemory, node_pa: int) -> int | None:
    """The u32 blob address of a SETUP_CC_BLOB node at ``node_pa`` (None if unreadable)."""
    try:
        return mem.read_u32(node_pa + CC_SETUP_DATA_BLOB_OFFSET, structure="cc_setup_data")
    except MemoryReadError:
        return None


def boot_params_cc_blob_address(mem: PhysicalMemory, boot_params_pa: int) -> int | None:
    """``boot_params.cc_blob_address`` of the zero page at ``boot_params_pa`` (None if unreadable)."""
    try:
        return mem.read_u32(boot_params_pa + BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET, structure="boot_params")
    except MemoryReadError:
        return None


def _choose(stage: str, routes: list[CcBlobRoute]) -> StageChoice:
    for key in PRECEDENCE[stage]:
        r = next((r for r in routes if r.route == key and r.effective), None)
        if r is None:
            continue
        if key == ROUTE_SETUP_DATA:
            # find_cc_blob_setup_data returns the first node's value, even 0.
            return StageChoice(stage, key if r.blob_address else None, r.blob_address or None)
        if r.blob_address:
            return StageChoice(stage, key, r.blob_address)
    return StageChoice(stage, None, None)


def _check_regions(blob: CcBlob, what: str, pa: int, regions: list[Region], have_maps: bool) -> None:
    name = f"CC blob @ {blob.address:#x}"
    free = [r for r in regions if r.reused]
    if free:
        blob.findings.append(make(FREE_RAM, name, pa, f"{what} at {pa:#x} is in " + ", ".join(str(r) for r in free)))
    elif have_maps and not regions:
        blob.findings.append(make(UNMAPPED, name, pa, f"{what} at {pa:#x}"))


def _overlaps(a: int, alen: int, b: int, blen: int) -> bool:
    return a < b + blen and b < a + alen


def parse_cc_blob(
    mem: PhysicalMemory,
    address: int,
    *,
    routes: list[str] | None = None,
    regions: RegionMap | None = None,
    show_secrets: bool = False,
) -> CcBlob:
    """Read and check the blob at ``address`` and follow its secrets and CPUID pointers.

    ``regions`` (the EFI memory map and E820) places the blob and its pages: in memory the kernel
    reuses they are SNP-FREE-RAM, outside every map entry SNP-UNMAPPED.
    """
    rmap = regions or RegionMap()
    have_maps = rmap.has_efi or rmap.has_e820
    name = f"CC blob @ {address:#x}"
    blob = CcBlob(address=address, size=CC_BLOB_SEV_INFO_SIZE, routes=list(routes or []), readable=False)
    try:
        raw = mem.read(address, CC_BLOB_SEV_INFO_SIZE, structure="cc_blob_sev_info")
    except MemoryReadError as e:
        blob.findings.append(make(READ_ERROR, name, address, f"cc_blob_sev_info: {e.reason}"))
        return blob
    magic, version, reserved, sphys, slen, rsvd1, cphys, clen, rsvd2 = struct.unpack(CC_BLOB_SEV_INFO_STRUCT, raw)
    blob.raw, blob.readable = raw, True
    blob.fields, blob.schema = CC_BLOB_SEV_INFO.parse(raw), CC_BLOB_SEV_INFO
    blob.magic, blob.version = magic, version
    blob.secrets_phys, blob.secrets_len, blob.cpuid_phys, blob.cpuid_len = sphys, slen, cphys, clen
    f = blob.findings
    if address + CC_BLOB_SEV_INFO_SIZE > 1 << 32:
        f.append(make(BLOB_ABOVE_4G, name, address, "boot_params.cc_blob_address (u32) cannot carry it"))
    blob.blob_regions = rmap.at(address)
    _check_regions(blob, "the CC blob", address, blob.blob_regions, have_maps)
    if magic != CC_BLOB_SEV_HDR_MAGIC:
        f.append(make(BLOB_MAGIC, name, address, f"magic {magic:#010x} ({raw[:4]!r}); pointers not followed"))
        return blob
    if version != CC_BLOB_SEV_INFO_VERSION:
        f.append(make(BLOB_VERSION, name, address, f"version {version}"))
    if reserved or rsvd1 or rsvd2:
        f.append(make(BLOB_RESERVED, name, address, f"reserved={reserved:#x} rsvd1={rsvd1:#x} rsvd2={rsvd2:#x}"))

    # Lengths and alignment.
    if sphys == 0:
        f.append(make(SECRETS_NULL, name, address, "secrets_phys is 0"))
    elif sphys % PAGE_SIZE:
        f.append(make(SECRETS_ALIGN, name, address, f"secrets_phys {sphys:#x}"))
    if slen != SNP_SECRETS_PAGE_SIZE:
        f.append(make(SECRETS_LEN, name, address, f"secrets_len {slen:#x}"))
    if cphys == 0:
        f.append(make(CPUID_NULL, name, address, "cpuid_phys is 0"))
    elif cphys % PAGE_SIZE:
        f.append(make(CPUID_ALIGN, name, address, f"cpuid_phys {cphys:#x}"))
    if clen < PAGE_SIZE:
        f.append(make(CPUID_LEN, name, address, f"cpuid_len {clen:#x}"))
    elif clen > PAGE_SIZE:
        f.append(make(CPUID_LEN_LARGE, name, address, f"cpuid_len {clen:#x}"))

    # Overlaps: each page is one 4 KiB page whatever the lengths say.
    spans = [("the CC blob", address, CC_BLOB_SEV_INFO_SIZE)]
    if sphys:
        spans.append(("the secrets page", sphys, PAGE_SIZE))
    if cphys:
        spans.append(("the CPUID page", cphys, PAGE_SIZE))
    for i in range(len(spans)):
        for j in range(i + 1, len(spans)):
            (na, a, al), (nb, b, bl) = spans[i], spans[j]
            if _overlaps(a, al, b, bl):
                f.append(make(BLOB_OVERLAP, name, address, f"{na} {a:#x}+{al:#x} overlaps {nb} {b:#x}+{bl:#x}"))

    # Follow the pointers.
    if sphys:
        blob.secrets_regions = rmap.at(sphys)
        _check_regions(blob, "the secrets page", sphys, blob.secrets_regions, have_maps)
        try:
            data = mem.read(sphys, SNP_SECRETS_PAGE_SIZE, structure="snp_secrets_page")
        except MemoryReadError as e:
            f.append(make(READ_ERROR, name, sphys, f"secrets page: {e.reason}"))
        else:
            blob.secrets_page = parse_secrets_page(data, sphys, show_secrets=show_secrets)
    if cphys:
        blob.cpuid_regions = rmap.at(cphys)
        _check_regions(blob, "the CPUID page", cphys, blob.cpuid_regions, have_maps)
        try:
            data = mem.read(cphys, SNP_CPUID_TABLE_SIZE, structure="snp_cpuid_table")
        except MemoryReadError as e:
            f.append(make(READ_ERROR, name, cphys, f"CPUID table: {e.reason}"))
        else:
            blob.cpuid_table = parse_cpuid_table(data, cphys)
    return blob


def analyze_cc_blob(
    mem: PhysicalMemory,
    *,
    boot_params_cc_blob_address: int | None = None,
    boot_params_address: int | None = None,
    setup_cc_blob_addresses: list[tuple[int | None, int]] | None = None,
    efi_cc_blob_address: int | None = None,
    efi_entry_address: int | None = None,
    regions: RegionMap | None = None,
    sme_mask: int | None = None,
    show_secrets: bool = False,
) -> CcBlobReport:
    """Report every route to the CC blob and follow the blob(s) they name.

    ``boot_params_cc_blob_address``: the u32 at boot_params + 0x13C (None: no
    zero page; 0: no blob there); ``boot_params_address`` only says where it was read.
    ``setup_cc_blob_addresses``: ``(node pa, blob pa)`` per SETUP_CC_BLOB node,
    in list order. ``efi_cc_blob_address``: the EFI_CC_BLOB_GUID entry's
    VendorTable (None: no entry; 0: an entry with a null pointer).
    ``regions``: the EFI memory map and E820 table as a :class:`~efitables.regions.RegionMap` (None: no maps).
    ``sme_mask``: VMCOREINFO ``NUMBER(sme_mask)``, checked against the C-bit.
    """
    report = CcBlobReport(address=None, size=0, show_secrets=show_secrets)
    routes = report.routes
    if boot_params_cc_blob_address:
        carrier = None if boot_params_address is None else boot_params_address + BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET
        routes.append(CcBlobRoute(ROUTE_BOOT_PARAMS, boot_params_cc_blob_address, carrier))
    nodes = list(setup_cc_blob_addresses or [])
    for i, (node_pa, blob_pa) in enumerate(nodes[:MAX_SETUP_NODES]):
        routes.append(CcBlobRoute(ROUTE_SETUP_DATA, blob_pa, node_pa, index=i, effective=i == 0))
    if efi_cc_blob_address is not None:
        routes.append(CcBlobRoute(ROUTE_EFI, efi_cc_blob_address, efi_entry_address))

    findings: list[Finding] = report.findings
    if len(nodes) > 1:
        extra = ", ".join(f"{pa:#x}" if pa is not None else "?" for pa, _ in nodes[1:MAX_SETUP_NODES])
        more = f" (+{len(nodes) - MAX_SETUP_NODES} not examined)" if len(nodes) > MAX_SETUP_NODES else ""
        findings.append(
            make(
                SETUP_DUPLICATE, "setup_data", nodes[0][0], f"{len(nodes)} SETUP_CC_BLOB nodes; ignored: {extra}{more}"
            )
        )
    for r in routes:
        if r.blob_address == 0:
            why = "ends the setup_data route" if r.route == ROUTE_SETUP_DATA and r.effective else "is skipped"
            findings.append(make(ROUTE_NULL, r.label, r.carrier_address, f"null CC blob address; {why}"))
    if not report.present:
        return report

    report.decompressor = _choose("decompressor", routes)
    report.kernel = _choose("kernel", routes)
    distinct: dict[int, list[str]] = {}
    for r in routes:
        if r.blob_address:
            distinct.setdefault(r.blob_address, []).append(r.label)
    report.routes_agree = len(distinct) <= 1
    if not report.routes_agree:
        findings.append(
            make(
                ROUTES_DISAGREE,
                "CC blob routes",
                None,
                "; ".join(f"{', '.join(labels)} -> {pa:#x}" for pa, labels in distinct.items()),
            )
        )
    d, k = report.decompressor, report.kernel
    if d.blob_address and k.blob_address and d.blob_address != k.blob_address:
        hint = ""
        if d.blob_address & 0xFFFFFFFF == k.blob_address:
            hint = " (the boot_params value is the decompressor's address truncated to 32 bits)"
        findings.append(
            make(
                STAGES_DIFFER,
                "CC blob routes",
                None,
                f"decompressor: {ROUTE_LABELS[d.route or ROUTE_EFI]} -> {d.blob_address:#x}; "
                f"kernel: {ROUTE_LABELS[k.route or ROUTE_BOOT_PARAMS]} -> {k.blob_address:#x}{hint}",
            )
        )

    if boot_params_cc_blob_address == 0 and d.blob_address and not k.blob_address:
        carrier = None if boot_params_address is None else boot_params_address + BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET
        findings.append(
            make(
                KERNEL_NO_BLOB,
                ROUTE_LABELS[ROUTE_BOOT_PARAMS],
                carrier,
                f"0, while the decompressor would use {ROUTE_LABELS[d.route or ROUTE_EFI]} -> {d.blob_address:#x}",
            )
        )
    for pa, labels in distinct.items():
        report.blobs.append(parse_cc_blob(mem, pa, routes=labels, regions=regions, show_secrets=show_secrets))
    chosen = report.blob
    if chosen is not None:
        report.address, report.size = chosen.address, chosen.size
        t = chosen.cpuid_table
        if sme_mask is not None and t is not None and t.c_bit is not None and sme_mask != 1 << t.c_bit:
            findings.append(
                make(CBIT_MISMATCH, "VMCOREINFO", None, f"sme_mask {sme_mask:#x}, CPUID table C-bit {t.c_bit}")
            )
    return report
