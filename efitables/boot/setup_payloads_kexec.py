"""Decoders of the SETUP_* payloads kexec and direct-boot loaders hand over: EFI, CC blob, IMA, RNG seed, KHO.

Layouts: :mod:`efitables.schemas.setup_data` (``efi_setup_data`` from torvalds/linux
arch/x86/include/asm/setup_data.h@v6.12.117; ``ima_setup_data`` from
arch/x86/include/uapi/asm/setup_data.h@v6.12.117; ``kho_data`` from
arch/x86/include/uapi/asm/setup_data.h@512a93a93dbe; ``cc_setup_data`` from
arch/x86/include/asm/sev.h). Producers: ``setup_efi_data`` in horms/kexec-tools
kexec/arch/i386/x86-linux-setup.c@b071fc08, and ``prepare_add_efi_setup_data``,
``setup_ima_state`` and ``setup_rng_seed`` in torvalds/linux
arch/x86/kernel/kexec-bzimage64.c@v6.12.117; consumer: ``parse_setup_data`` in
arch/x86/kernel/setup.c@v6.12.117.

Checks: SETUP_EFI ``tables`` is non-zero (the decompressor ignores the node
otherwise: ``get_kexec_setup_data`` in arch/x86/boot/compressed/efi.c@v6.12.117)
and its pointers are physical; SETUP_CC_BLOB names a blob with the ``AMDE``
magic (``struct cc_blob_sev_info``, arch/x86/include/asm/sev.h@v6.12.117).
SETUP_RNG_SEED bytes are a :class:`~efitables.secret.Secret` (length and a short
SHA-256 unless revealed): ``parse_setup_data`` feeds them to the RNG, then zeroes
the bytes and ``len``. Registered in :data:`efitables.boot.setup_payloads.DECODERS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from efitables.boot.setup_payload_base import (
    DecodeCtx,
    SetupPayload,
    common,
    gap_finding,
    pad_to,
    read_need,
    read_prefix,
    short_payload,
)
from efitables.errors import MemoryReadError
from efitables.findings import READ_ERROR, Finding, Severity, make, register
from efitables.memory.base import MAX_PHYS_ADDR
from efitables.model import Rows
from efitables.schemas.setup_data import (
    CC_SETUP_DATA,
    EFI_SETUP_DATA,
    EFI_SETUP_DATA_SIZE,
    IMA_SETUP_DATA,
    KHO_DATA,
)
from efitables.schemas.snp import CC_BLOB_SEV_HDR_MAGIC
from efitables.secret import Secret
from efitables.text import printable

#: Bytes of an RNG seed read (kexec passes 32).
MAX_SEED = 4096

SETUP_EFI_BAD = register(
    "SETUP-EFI-DATA",
    Severity.WARNING,
    "SETUP_EFI data is unusable (tables is 0, or a pointer is not physical)",
    "The decompressor ignores a SETUP_EFI node whose tables field is 0.",
)
SETUP_CC_BAD = register(
    "SETUP-CC-BLOB", Severity.WARNING, "SETUP_CC_BLOB names no readable CC blob with the 'AMDE' magic"
)


# -- results -------------------------------------------------------------------
@dataclass(kw_only=True)
class EfiSetupPayload(SetupPayload):
    kind = "SETUP_EFI"
    fw_vendor: int
    runtime: int  # "__unused" in the kernel, "runtime" in kexec-tools
    tables: int  # the kernel's name (struct efi_setup_data); Parsed's views are facts()/table_views()
    smbios: int
    fw_vendor_text: str | None

    def summary(self) -> str:
        vendor = f" ({printable(self.fw_vendor_text)})" if self.fw_vendor_text else ""
        return (
            f"fw_vendor {self.fw_vendor:#x}{vendor}, runtime {self.runtime:#x}, "
            f"tables {self.tables:#x}, smbios {self.smbios:#x}"
        )

    def payload_rows(self) -> Rows:
        vendor = f" ({printable(self.fw_vendor_text)})" if self.fw_vendor_text else ""
        return [
            ("fw_vendor", f"{self.fw_vendor:#x}{vendor}"),
            ("runtime", f"{self.runtime:#x}"),
            ("tables", f"{self.tables:#x}"),
            ("smbios", f"{self.smbios:#x}"),
        ]


@dataclass(kw_only=True)
class CcBlobPayload(SetupPayload):
    kind = "SETUP_CC_BLOB"
    cc_blob_address: int
    magic_ok: bool | None

    @property
    def _magic(self) -> str:
        return {True: "AMDE magic ok", False: "no AMDE magic", None: "not checked"}[self.magic_ok]

    def summary(self) -> str:
        return f"cc_blob_address {self.cc_blob_address:#x} ({self._magic})"

    def payload_rows(self) -> Rows:
        return [("cc_blob_address", f"{self.cc_blob_address:#x}"), ("magic", self._magic)]


@dataclass(kw_only=True)
class ImaPayload(SetupPayload):
    kind = "SETUP_IMA"
    addr: int
    buffer_size: int  # ima_setup_data.size

    def summary(self) -> str:
        return f"IMA buffer {self.addr:#x}, {self.buffer_size} bytes"

    def payload_rows(self) -> Rows:
        return [("addr", f"{self.addr:#x}"), ("size", str(self.buffer_size))]


@dataclass(kw_only=True)
class KhoPayload(SetupPayload):
    kind = "SETUP_KEXEC_KHO"
    fdt_addr: int
    fdt_size: int
    scratch_addr: int
    scratch_size: int

    def summary(self) -> str:
        return (
            f"KHO FDT {self.fdt_addr:#x} ({self.fdt_size} bytes), "
            f"scratch {self.scratch_addr:#x} ({self.scratch_size} bytes)"
        )

    def payload_rows(self) -> Rows:
        return [
            ("fdt", f"{self.fdt_addr:#x}, {self.fdt_size} bytes"),
            ("scratch", f"{self.scratch_addr:#x}, {self.scratch_size} bytes"),
        ]


@dataclass(kw_only=True)
class RngSeedPayload(SetupPayload):
    """Secret: ``seed.value`` is None and ``raw`` empty unless the dump was opened with show_secrets.

    ``seed`` summarises the bytes read (at most :data:`MAX_SEED`); None when none
    could be read (``len`` 0 after the kernel wiped it, or a hole).
    """

    kind = "SETUP_RNG_SEED"
    seed: Secret | None = None
    redacted: bool = True

    def secret_ranges(self) -> list[tuple[int, int]]:
        """Physical bytes a viewer must hide while redacted (the whole declared seed)."""
        if not self.redacted or self.address is None or self.length == 0:
            return []
        return [(self.address, self.address + self.length)]

    def summary(self) -> str:
        if self.length == 0:
            return "seed wiped by the kernel (len 0)"
        s = self.seed
        digest = f", sha256 {s.sha256_prefix}..." if s is not None else ""
        if s is not None and s.value is not None:
            shown = f" seed {s.value.hex()}"
        elif self.redacted:
            shown = " (redacted; --show-secrets to show)"
        else:
            shown = " (not in the dump)"
        return f"{self.length} bytes{digest}{shown}"

    def payload_rows(self) -> Rows:
        if self.length == 0:
            return [("seed", "wiped by the kernel (len 0)")]
        return [("seed", str(self.seed) if self.seed is not None else "not in the dump")]


# -- decoders
def decode_efi(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, EFI_SETUP_DATA_SIZE, name)
    if len(data) < 0x20:
        return short_payload(t, pa, length, data, findings)
    f = EFI_SETUP_DATA.parse(pad_to(data, EFI_SETUP_DATA_SIZE))
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
        **common(t, pa, length, data, findings, EFI_SETUP_DATA, f),
        fw_vendor=f.fw_vendor,
        runtime=f["__unused"],
        tables=f.tables,
        smbios=f.smbios,
        fw_vendor_text=vendor,
    )


def decode_cc_blob(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, 4, name)
    if len(data) < 4:
        return short_payload(t, pa, length, data, findings)
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
        **common(t, pa, length, data, findings, CC_SETUP_DATA, f),
        cc_blob_address=addr,
        magic_ok=ok,
    )


def decode_ima(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, 16, name)
    if len(data) < 16:
        return short_payload(t, pa, length, data, findings)
    f = IMA_SETUP_DATA.parse(data)
    return ImaPayload(
        **common(t, pa, length, data, findings, IMA_SETUP_DATA, f),
        addr=f.addr,
        buffer_size=f.size,
    )


def decode_kho(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    data, findings = read_need(ctx, t, pa, length, 32, name)
    if len(data) < 32:
        return short_payload(t, pa, length, data, findings)
    f = KHO_DATA.parse(data)
    return KhoPayload(
        **common(t, pa, length, data, findings, KHO_DATA, f),
        fdt_addr=f.fdt_addr,
        fdt_size=f.fdt_size,
        scratch_addr=f.scratch_addr,
        scratch_size=f.scratch_size,
    )


def decode_rng_seed(ctx: DecodeCtx, t: int, pa: int, length: int, name: str) -> SetupPayload:
    findings: list[Finding] = []
    data, gap = read_prefix(ctx.mem, pa, min(length, MAX_SEED), name)
    if gap is not None:
        findings.append(gap_finding(name, pa, gap))
    secret = ctx.show_secrets
    return RngSeedPayload(
        **common(t, pa, length, data if secret else b"", findings),
        seed=Secret.of(data, secret) if data else None,
        redacted=not secret,
    )
