"""The SNP secrets page (named by the CC blob's ``secrets_phys``) and secret redaction.

Layout: :mod:`efitables.schemas.snp`: the AMD SEV-SNP Firmware ABI specification
(publication 56860) section "PAGE_TYPE_SECRETS" (8.17.2.5 in revision 1.51), as
torvalds/linux arch/x86/include/asm/sev.h declares it (@v6.12.117 version 3,
@v6.1.192 version 2). The OS area is Linux's ``struct secrets_os_area``; EDK2's
variant with the high halves of the sequence numbers follows the GHCB
specification (publication 56421) revision 2.01 section 2.7 (tianocore/edk2
MdePkg/Include/Register/Amd/SnpSecretsPage.h). The SVSM fields (0x140-0x15F,
"guest area 1") are defined by the SVSM specification, with the offsets of
tianocore/edk2 MdePkg/Include/Register/Amd/Svsm.h ``SVSM_INFORMATION``. Versions 2 and
3 are decoded in full; any other version only as far as the common prefix
(0x000-0x0FF: header, VMPCKs, OS area). The SVSM fields (0x140-0x15F) are read
for version 3 only: on a version-2 page those bytes are reserved.

The four VMPCKs are secret: unless ``show_secrets`` they are replaced, in the
typed result, in ``fields`` and in ``raw``, by a :class:`Secret` that
gives their length, whether they are all zero (the sev-guest driver zeroes a
key it disables) and a short SHA-256 prefix that lets two dumps be compared
without revealing the key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from efitables.findings import Severity, make, register
from efitables.model import Parsed
from efitables.schemas.snp import (
    PAGE_SIZE,
    SECRETS_OS_AREA_EDK2,
    SECRETS_OS_AREA_OFFSET,
    SECRETS_OS_AREA_SIZE,
    SNP_SECRETS_COMMON_SIZE,
    SNP_SECRETS_PAGE_COMMON,
    SNP_SECRETS_PAGE_SIZE,
    SNP_SECRETS_PAGE_V2,
    SNP_SECRETS_PAGE_V3,
    SNP_SECRETS_SECRET_FIELDS,
    SNP_SECRETS_VERSIONS,
    VMPCK_KEY_LEN,
    VMPCK_MAX_NUM,
    VMPCK_OFFSET,
)
from efitables.secret import Secret
from efitables.snp.cpuid import decode_fms

SECRETS_VERSION = register(
    "SNP-SECRETS-VERSION",
    Severity.WARNING,
    "SNP secrets page has an unknown version",
    "Versions 2 and 3 are known; other pages are decoded as far as the common prefix (0x000-0x0FF). "
    "A host-side dump sees a private page as ciphertext, which also reads as an unknown version.",
)
SECRETS_RESERVED = register(
    "SNP-SECRETS-RESERVED", Severity.INFO, "SNP secrets page has non-zero bytes where its version reserves them"
)
SVSM_VMPL = register(
    "SNP-SVSM-VMPL",
    Severity.ERROR,
    "Secrets page names an SVSM but svsm_guest_vmpl is 0",
    "Linux terminates the guest (GHCB_TERM_SVSM_VMPL0) when an SVSM is present and claims the OS runs at VMPL0.",
)
SVSM_CAA = register(
    "SNP-SVSM-CAA",
    Severity.ERROR,
    "Secrets page names an SVSM whose calling area is null or not page-aligned",
    "Linux terminates the guest (GHCB_TERM_SVSM_CAA) for an unaligned CAA.",
)
VMPCK_ZERO = register(
    "SNP-VMPCK-ZERO",
    Severity.INFO,
    "A VMPCK in the secrets page is all zero (disabled)",
    "The sev-guest driver wipes a VMPCK after a sequence-number or authentication failure; an SVSM "
    "wipes the keys of VMPLs more privileged than the guest's.",
)


def redact_ranges(raw: bytes, ranges: list[tuple[int, int]]) -> bytes:
    """``raw`` with ``[start, end)`` ranges zero-filled (what ``raw`` holds when secrets are hidden)."""
    out = bytearray(raw)
    for start, end in ranges:
        end = min(end, len(out))
        if start < end:
            out[start:end] = bytes(end - start)
    return bytes(out)


#: Where the VMPCKs are inside the page.
VMPCK_RANGE = (VMPCK_OFFSET, VMPCK_OFFSET + VMPCK_MAX_NUM * VMPCK_KEY_LEN)


@dataclass(kw_only=True)
class SnpSecretsPage(Parsed):
    """``struct snp_secrets_page``."""

    kind = "snp_secrets_page"

    version: int
    #: The layout used to decode: 2, 3, or None (unknown version: common prefix only).
    layout_version: int | None
    imi_enabled: bool
    fms: int
    family_model_stepping: dict[str, int]
    gosvw: bytes
    vmpck: list[Secret]
    msg_seqno: list[int]
    ap_jump_table_pa: int
    #: EDK2's reading of OS-area bytes Linux reserves (high sequence halves, a u16 version).
    os_area_edk2: dict[str, Any]
    guest_usage: bytes
    vmsa_tweak_bitmap: bytes | None = None
    svsm_base: int | None = None
    svsm_size: int | None = None
    svsm_caa: int | None = None
    svsm_max_version: int | None = None
    svsm_guest_vmpl: int | None = None
    tsc_factor: int | None = None
    #: True when the keys are hidden (in ``vmpck``, ``fields`` and ``raw``).
    redacted: bool = True

    @property
    def svsm_present(self) -> bool:
        return bool(self.svsm_size)

    @property
    def title(self) -> str:
        svsm = ", SVSM" if self.svsm_present else ""
        return f"SNP secrets page (version {self.version}{svsm})"

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical ``[start, end)`` ranges a viewer of the dump must hide (empty when shown)."""
        if not self.redacted or self.address is None:
            return []
        return [(self.address + VMPCK_RANGE[0], self.address + VMPCK_RANGE[1])]

    @property
    def vmsa_tweaked_quadwords(self) -> list[int] | None:
        """Indexes of the VMSA quadwords the tweak bitmap marks."""
        if self.vmsa_tweak_bitmap is None:
            return None
        bits = int.from_bytes(self.vmsa_tweak_bitmap, "little")
        return [i for i in range(len(self.vmsa_tweak_bitmap) * 8) if bits >> i & 1]


def parse_secrets_page(
    raw: bytes, address: int | None, *, show_secrets: bool = False, name: str = "SNP secrets page"
) -> SnpSecretsPage:
    """Decode a secrets page from its bytes (4096, or at least the 256-byte common prefix)."""
    raw = bytes(raw[:SNP_SECRETS_PAGE_SIZE])
    if len(raw) < SNP_SECRETS_COMMON_SIZE:
        raise ValueError(f"a secrets page needs at least {SNP_SECRETS_COMMON_SIZE:#x} bytes, got {len(raw):#x}")
    version = struct.unpack_from("<I", raw, 0)[0]
    full = len(raw) >= SNP_SECRETS_PAGE_SIZE
    if version == 3 and full:
        schema, layout = SNP_SECRETS_PAGE_V3, 3
    elif version == 2 and full:
        schema, layout = SNP_SECRETS_PAGE_V2, 2
    else:
        schema, layout = SNP_SECRETS_PAGE_COMMON, None
    fields = schema.parse(raw[: schema.sizeof()])
    keys = [Secret.of(fields[n], show_secrets) for n in SNP_SECRETS_SECRET_FIELDS]
    for n, k in zip(SNP_SECRETS_SECRET_FIELDS, keys, strict=True):
        fields[n] = k
    os_area = fields.os_area
    edk2 = SECRETS_OS_AREA_EDK2.parse(raw[SECRETS_OS_AREA_OFFSET : SECRETS_OS_AREA_OFFSET + SECRETS_OS_AREA_SIZE])
    page = SnpSecretsPage(
        address=address,
        size=len(raw),
        raw=raw if show_secrets else redact_ranges(raw, [VMPCK_RANGE]),
        fields=fields,
        schema=schema,
        version=version,
        layout_version=layout,
        imi_enabled=bool(fields.imien & 1),
        fms=fields.fms,
        family_model_stepping=decode_fms(fields.fms),
        gosvw=fields.gosvw,
        vmpck=keys,
        msg_seqno=[os_area[f"msg_seqno_{i}"] for i in range(VMPCK_MAX_NUM)],
        ap_jump_table_pa=os_area.ap_jump_table_pa,
        os_area_edk2={
            "msg_seqno_hi": [edk2[f"Vmpl{i}MsgSeqNumHi"] for i in range(VMPCK_MAX_NUM)],
            "version": edk2.Version,
        },
        guest_usage=os_area.guest_usage,
        redacted=not show_secrets,
    )
    if layout == 3:
        page.vmsa_tweak_bitmap = fields.vmsa_tweak_bitmap
        page.svsm_base = fields.svsm_base
        page.svsm_size = fields.svsm_size
        page.svsm_caa = fields.svsm_caa
        page.svsm_max_version = fields.svsm_max_version
        page.svsm_guest_vmpl = fields.svsm_guest_vmpl
        page.tsc_factor = fields.tsc_factor
    _check(page, raw, name)
    return page


def _nonzero(raw: bytes, start: int, end: int) -> int:
    """How many bytes of ``raw[start:end]`` are non-zero."""
    part = raw[start:end]
    return len(part) - part.count(0)


def _check(page: SnpSecretsPage, raw: bytes, name: str) -> None:
    a = page.address
    if page.layout_version is None:
        if page.version in SNP_SECRETS_VERSIONS:
            why = f"version {page.version} but only {len(raw)} bytes"
        elif not any(raw):
            why = "the page is all zero (version 0)"
        else:
            why = f"version {page.version:#x}"
        page.findings.append(make(SECRETS_VERSION, name, a, f"{why}; decoded 0x000-0x0ff only"))
    reserved: list[str] = []
    if page.fields.imien >> 1:
        reserved.append(f"imien bits 31:1 = {page.fields.imien >> 1:#x}")
    if page.fields.rsvd2:
        reserved.append(f"0x00c = {page.fields.rsvd2:#x}")
    if page.layout_version == 2 and (n := _nonzero(raw, SNP_SECRETS_COMMON_SIZE, PAGE_SIZE)):
        reserved.append(f"{n} non-zero bytes in 0x100-0xfff (reserved in version 2)")
    if page.layout_version == 3:
        if n := _nonzero(raw, 0x15D, 0x160):
            reserved.append(f"{n} non-zero bytes in 0x15d-0x15f")
        if n := _nonzero(raw, 0x164, PAGE_SIZE):
            reserved.append(f"{n} non-zero bytes in 0x164-0xfff")
    if reserved:
        page.findings.append(make(SECRETS_RESERVED, name, a, "; ".join(reserved)))
    zero = [f"vmpck{i}" for i, k in enumerate(page.vmpck) if k.all_zero]
    if zero and any(raw):
        why = ", ".join(zero) + " all zero"
        vmpl = page.svsm_guest_vmpl if page.svsm_present else None
        if vmpl and zero == [f"vmpck{i}" for i in range(min(vmpl, len(page.vmpck)))]:
            # coconut-svsm/svsm kernel/src/sev/secrets_page.rs SecretsPage::copy_for_vmpl clears 0..vmpl
            why += f": the keys of the VMPLs more privileged than the guest's VMPL{vmpl}, zeroed by the SVSM"
        page.findings.append(make(VMPCK_ZERO, name, a, why))
    if page.svsm_present:
        if page.svsm_guest_vmpl == 0:
            page.findings.append(make(SVSM_VMPL, name, a, f"svsm_size {page.svsm_size:#x} but svsm_guest_vmpl 0"))
        caa = page.svsm_caa or 0
        if caa == 0 or caa % PAGE_SIZE:
            page.findings.append(make(SVSM_CAA, name, a, f"svsm_caa {caa:#x}"))
