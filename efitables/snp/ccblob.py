"""Where Linux finds the SEV-SNP CC blob, and which route each boot stage takes.

Routes: ``boot_params.cc_blob_address`` (u32 at 0x13C, torvalds/linux
arch/x86/include/uapi/asm/bootparam.h@v6.12.117), the first ``SETUP_CC_BLOB``
setup_data node (``struct cc_setup_data``: u32 at node + 0x10,
arch/x86/coco/sev/shared.c@v6.12.117 ``find_cc_blob_setup_data``), and the EFI
configuration table entry ``EFI_CC_BLOB_GUID`` (installed by OVMF's
tianocore/edk2 OvmfPkg/AmdSevDxe/AmdSevDxe.c). Precedence differs by stage and
both are reported:

* decompressor (torvalds/linux arch/x86/boot/compressed/sev.c@v6.12.117
  ``sev_enable`` -> ``snp_init`` -> ``find_cc_blob``): EFI table
  (``find_cc_blob_efi``), else the first SETUP_CC_BLOB node; ``sev_enable``
  clears ``boot_params.cc_blob_address`` first and ``snp_init`` writes the blob
  address back there, truncated to 32 bits;
* kernel proper (arch/x86/coco/sev/core.c@v6.12.117 ``snp_init`` ->
  ``find_cc_blob``; mainline arch/x86/boot/startup/sev-startup.c):
  ``boot_params``, else the first SETUP_CC_BLOB node; never EFI.

A null pointer counts as absent (Linux's ``if (cc_info)``), except that a first
SETUP_CC_BLOB node holding 0 ends that route (``find_cc_blob_setup_data``
returns the first node's value). Each distinct blob address is then read and
checked by :func:`~efitables.snp.blob.parse_cc_blob` (:mod:`efitables.snp.blob`,
re-exported here with its finding codes); the C-bit of the CPUID table is
compared with VMCOREINFO ``NUMBER(sme_mask)`` (the kernel exports
``sme_me_mask``: torvalds/linux arch/x86/kernel/vmcore_info_64.c@v6.12.117).

:func:`analyze_cc_blob` is a pure function of memory and route values so that
it can be tested with :class:`~efitables.memory.base.BytesMemory` fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from efitables.errors import MemoryReadError
from efitables.findings import Finding, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.regions import RegionMap
from efitables.schemas.snp import BOOT_PARAMS_CC_BLOB_ADDRESS_OFFSET, CC_SETUP_DATA_BLOB_OFFSET
from efitables.snp.blob import (
    BLOB_ABOVE_4G,
    BLOB_MAGIC,
    BLOB_OVERLAP,
    BLOB_RESERVED,
    BLOB_VERSION,
    CPUID_ALIGN,
    CPUID_LEN,
    CPUID_LEN_LARGE,
    CPUID_NULL,
    FREE_RAM,
    SECRETS_ALIGN,
    SECRETS_LEN,
    SECRETS_NULL,
    UNMAPPED,
    CcBlob,
    parse_cc_blob,
)
from efitables.snp.cpuid import SnpCpuidTable
from efitables.snp.secrets import SnpSecretsPage

__all__ = [
    "BLOB_ABOVE_4G",
    "BLOB_MAGIC",
    "BLOB_OVERLAP",
    "BLOB_RESERVED",
    "BLOB_VERSION",
    "CBIT_MISMATCH",
    "CPUID_ALIGN",
    "CPUID_LEN",
    "CPUID_LEN_LARGE",
    "CPUID_NULL",
    "FREE_RAM",
    "KERNEL_NO_BLOB",
    "MAX_SETUP_NODES",
    "PRECEDENCE",
    "ROUTE_BOOT_PARAMS",
    "ROUTE_EFI",
    "ROUTE_LABELS",
    "ROUTE_NULL",
    "ROUTE_SETUP_DATA",
    "ROUTES_DISAGREE",
    "SECRETS_ALIGN",
    "SECRETS_LEN",
    "SECRETS_NULL",
    "SETUP_DUPLICATE",
    "STAGES_DIFFER",
    "UNMAPPED",
    "CcBlob",
    "CcBlobReport",
    "CcBlobRoute",
    "StageChoice",
    "analyze_cc_blob",
    "boot_params_cc_blob_address",
    "cc_setup_data_blob_address",
    "parse_cc_blob",
]

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
#: The order each stage tries the routes in (``find_cc_blob`` of each stage, see the module docstring).
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
