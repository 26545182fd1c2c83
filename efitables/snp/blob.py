"""``struct cc_blob_sev_info`` at one address: read it, check it, follow the pages it names.

Layout: :mod:`efitables.schemas.snp` (torvalds/linux arch/x86/include/asm/sev.h@v6.12.117;
tianocore/edk2 OvmfPkg/Include/Guid/ConfidentialComputingSevSnpBlob.h). The blob
(40 bytes) is checked (magic ``AMDE``, version 1, reserved zero), then ``secrets_phys``
(one 4 KiB page, ``secrets_len == 4096``) and ``cpuid_phys`` (``cpuid_len >= 4096``)
are followed: alignment, readability, overlap with each other and with the blob,
and the memory type the EFI memory map and E820 give them (the pages must be
kept from the kernel, never free RAM).

Where each check comes from:

* magic: both stages' ``find_cc_blob`` terminate the guest on a wrong magic
  (torvalds/linux arch/x86/boot/compressed/sev.c@v6.12.117 and
  arch/x86/coco/sev/core.c@v6.12.117); version: OVMF writes 1
  (tianocore/edk2 OvmfPkg/AmdSevDxe/AmdSevDxe.c), Linux does not check it;
* ``cpuid_phys`` non-zero and ``cpuid_len >= 4096``: ``setup_cpuid_table``
  (torvalds/linux arch/x86/coco/sev/shared.c@v6.12.117), which terminates the guest;
* ``secrets_len == 4096``: ``get_secrets_page`` (arch/x86/coco/sev/core.c@v6.12.117)
  and ``svsm_setup_ca`` (arch/x86/coco/sev/shared.c@v6.12.117); mainline ``snp_init``
  (arch/x86/boot/startup/sev-startup.c) also refuses SNP without a secrets page;
* above 4 GiB: the decompressor's ``snp_init`` hands the blob on as
  ``bp->cc_blob_address = (u32)(unsigned long)cc_info`` (arch/x86/boot/compressed/sev.c);
* memory type: OVMF allocates the blob as EfiACPIReclaimMemory
  (``AllocateConfidentialComputingBlob`` in tianocore/edk2
  OvmfPkg/AmdSevDxe/AmdSevDxe.c) and reserves the secrets and CPUID pages as
  EfiReservedMemoryType so that they persist across kexec (``SevInitializeRam``
  in OvmfPkg/PlatformPei/AmdSev.c); which memory the kernel may reuse is
  :mod:`efitables.regions`.

The pages themselves are decoded by :mod:`efitables.snp.secrets` and
:mod:`efitables.snp.cpuid`. The routes that lead to a blob, and which one each
boot stage takes, are :mod:`efitables.snp.ccblob`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Severity, make, register
from efitables.memory.base import PhysicalMemory
from efitables.model import Parsed
from efitables.regions import Region, RegionMap
from efitables.schemas.snp import (
    CC_BLOB_SEV_HDR_MAGIC,
    CC_BLOB_SEV_INFO,
    CC_BLOB_SEV_INFO_SIZE,
    CC_BLOB_SEV_INFO_STRUCT,
    CC_BLOB_SEV_INFO_VERSION,
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
